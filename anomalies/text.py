"""How an anomaly reads to a person: one sentence, the same in risk signals, notifications,
the API summary and the pages."""

from __future__ import annotations

from customers.metrics import FEATURE_PREFIX, metric_label

from .detection.patterns import TREND_PROJECTION_DAYS


def anomaly_sentence(*, anomaly_type: str, metric: str, deviation_percent: float) -> str:
    """'67% drop in API calls', 'Feature abandonment: Reports module -80%',
    '150% increase in logins'."""
    pct = abs(round(float(deviation_percent)))
    label = metric_label(metric)
    lower = label[:1].lower() + label[1:] if not label.startswith("API") else label
    if anomaly_type == "feature_abandonment":
        module = metric[len(FEATURE_PREFIX) :].replace("_", " ").replace("-", " ").title()
        return f"Feature abandonment: {module} module -{pct}%"
    if anomaly_type == "drop":
        return f"{pct}% drop in {lower}"
    if anomaly_type == "spike":
        return f"{pct}% increase in {lower}"
    direction = "down" if deviation_percent < 0 else "up"
    if anomaly_type == "gradual_decline":
        return f"Gradual decline in {lower}: down {pct}% so far"
    if anomaly_type == "pattern_change":
        return f"Pattern change in {lower}: {direction} {pct}%"
    return f"Seasonal deviation in {lower}: {direction} {pct}%"


def projection_text(*, anomaly_type: str, projected_value) -> str:
    """'about 1,234/day in 4 weeks': where a gradual decline is heading at its current pace
    (the engine projects it TREND_PROJECTION_DAYS ahead); "" for anything else."""
    if anomaly_type != "gradual_decline" or projected_value is None:
        return ""
    weeks = TREND_PROJECTION_DAYS // 7
    return f"about {float(projected_value):,.0f}/day in {weeks} week{'s' if weeks != 1 else ''}"
