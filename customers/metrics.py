"""What a metric name may look like.

Metrics arrive from the product-analytics pipeline as short slugs: `api_calls`, `logins`,
`active_users`, or `feature:<name>` for per-feature usage. Keeping them to a strict shape lets
URLs, CSV exports and the detection CLI's `account/metric` series ids carry them unescaped.
"""

import re

from anomalies.detection.vocabulary import (
    CORE_METRICS,
    FEATURE_PREFIX,
    feature_name,
    is_feature_metric,
)

METRIC_MAX_LENGTH = 50
# Any valid slug is accepted: the core metrics and features are just the ones the rules know.
_METRIC_RE = re.compile(r"^[a-z][a-z0-9_]*(:[a-z0-9][a-z0-9_-]*)?$")


def metric_error(metric: str) -> str | None:
    """Why `metric` is not a valid metric slug, or None when it is."""
    if not metric:
        return "metric is empty"
    if len(metric) > METRIC_MAX_LENGTH:
        return f"metric is longer than {METRIC_MAX_LENGTH} characters"
    if not _METRIC_RE.match(metric):
        return (
            f"metric {metric!r} is not a slug: use lowercase letters, digits and underscores, "
            f"optionally '{FEATURE_PREFIX}<name>'"
        )
    return None


def metric_label(metric: str) -> str:
    """A human label: `api_calls` -> `API calls`, `feature:reports` -> `Reports feature`."""
    if is_feature_metric(metric):
        return f"{feature_name(metric)} feature"
    words = metric.replace("_", " ")
    return words[:1].upper() + words[1:] if not words.startswith("api") else "API" + words[3:]


def metric_importance(metric: str) -> tuple[int, str]:
    """Sorts metrics as the pages list them: the core metrics, then any other slug, then the
    features, each group alphabetically by its label."""
    group = 0 if metric in CORE_METRICS else 2 if is_feature_metric(metric) else 1
    return group, metric_label(metric).lower()
