"""What a metric name may look like.

Metrics arrive from the product-analytics pipeline as short slugs: `api_calls`, `logins`,
`active_users`, or `feature:<name>` for per-feature usage. Keeping them to a strict shape lets
URLs, CSV exports and the detection CLI's `account/metric` series ids carry them unescaped.
"""

import re

METRIC_MAX_LENGTH = 50
FEATURE_PREFIX = "feature:"
_METRIC_RE = re.compile(r"^[a-z][a-z0-9_]*(:[a-z0-9][a-z0-9_-]*)?$")

# The core metrics the product knows by name; any other valid slug is accepted too.
CORE_METRICS = ("api_calls", "logins", "active_users")


def metric_error(metric: str) -> str | None:
    """Why `metric` is not a valid metric slug, or None when it is."""
    if not metric:
        return "metric is empty"
    if len(metric) > METRIC_MAX_LENGTH:
        return f"metric is longer than {METRIC_MAX_LENGTH} characters"
    if not _METRIC_RE.match(metric):
        return (
            f"metric {metric!r} is not a slug: use lowercase letters, digits and underscores, "
            "optionally 'feature:<name>'"
        )
    return None


def is_feature_metric(metric: str) -> bool:
    return metric.startswith(FEATURE_PREFIX)


def metric_label(metric: str) -> str:
    """A human label: `api_calls` -> `API calls`, `feature:reports` -> `Reports feature`."""
    if is_feature_metric(metric):
        return (
            metric[len(FEATURE_PREFIX) :].replace("_", " ").replace("-", " ").title() + " feature"
        )
    words = metric.replace("_", " ")
    return words[:1].upper() + words[1:] if not words.startswith("api") else "API" + words[3:]
