import datetime as dt
from decimal import Decimal

from django.utils import timezone

from anomalies.models import UsageAnomaly

DIRECTIONS = {"drop": "negative", "feature_abandonment": "negative", "spike": "positive"}


def make_anomaly(customer, **fields):
    """An anomaly row as a scan would write it: a 67% drop in API calls over 5 days."""
    today = timezone.localdate()
    fields.setdefault("metric_type", "api_calls")
    fields.setdefault("anomaly_type", "drop")
    fields.setdefault("direction", DIRECTIONS.get(fields["anomaly_type"], "negative"))
    fields.setdefault("severity", "critical")
    fields.setdefault("baseline_value", Decimal("45000"))
    fields.setdefault("actual_value", Decimal("15000"))
    fields.setdefault("deviation_percent", Decimal("-66.67"))
    fields.setdefault("start_date", today - dt.timedelta(days=4))
    fields.setdefault("detected_at", timezone.now())
    return UsageAnomaly.objects.create(customer=customer, **fields)
