"""A small hand-counted history for the insights report: Alice's five accounts and Bob's one,
January and February 2025, an outcome window of 30 days (see test_selectors_insights.py for
the counts)."""

import datetime as dt

from django.utils import timezone

from anomalies.models import AnomalyAction, DetectionSettings
from customers.models import LifecycleEvent
from tests.factories import make_anomaly_of as make_anomaly

START = dt.date(2025, 1, 1)
END = dt.date(2025, 2, 28)
WINDOW_DAYS = 30


def _dismissed(reason):
    return {"status": "dismissed", "dismiss_reason": reason, "dismissed_at": timezone.now()}


def insights_history(*, csm, other_csm, make_customer):
    a, b, c, d, e = (make_customer(name=name, csm=csm) for name in "ABCDE")
    x = make_customer(name="X", csm=other_csm)
    drop = {"anomaly_type": "drop", "severity": "critical", "metric_type": "api_calls"}
    spike = {"anomaly_type": "spike", "severity": "info", "direction": "positive"}
    made = {
        # Followed by A's churn on Feb 5 (26 days later); acted on.
        1: make_anomaly(a, start_date=dt.date(2025, 1, 10), **drop),
        2: make_anomaly(b, start_date=dt.date(2025, 1, 20), **drop, **_dismissed("false_positive")),
        # No lifecycle event: the CSM says it led to a contraction.
        3: make_anomaly(c, start_date=dt.date(2025, 2, 1), outcome="contracted", **drop),
        # D expands on Feb 10: 36 days after this one (outside), 16 after the next (inside).
        4: make_anomaly(d, start_date=dt.date(2025, 1, 5), metric_type="feature:reports", **spike),
        5: make_anomaly(
            d,
            start_date=dt.date(2025, 1, 25),
            metric_type="feature:export",
            **spike,
            **_dismissed("expected"),
        ),
        # Outside the period: not counted.
        6: make_anomaly(e, start_date=dt.date(2025, 3, 5), metric_type="logins"),
        7: make_anomaly(a, start_date=dt.date(2024, 12, 20), **drop | {"metric_type": "logins"}),
        8: make_anomaly(
            e,
            start_date=dt.date(2025, 1, 8),
            anomaly_type="drop",
            severity="warning",
            metric_type="logins",
            **_dismissed("new_normal"),
        ),
        9: make_anomaly(b, start_date=dt.date(2025, 2, 20), **drop, **_dismissed("data_issue")),
        # Bob's account: only staff count it.
        10: make_anomaly(x, start_date=dt.date(2025, 1, 3), **drop),
    }
    AnomalyAction.objects.create(anomaly=made[1], user=csm, kind="contact_customer")
    # Handling the alert is not acting on the account: anomaly 4 stays unjudged.
    AnomalyAction.objects.create(anomaly=made[4], user=csm, kind="rescan")
    for customer, kind, date in [
        (a, "churned", dt.date(2025, 2, 5)),
        (d, "expanded", dt.date(2025, 2, 10)),
        (e, "contracted", dt.date(2025, 1, 15)),
        (x, "churned", dt.date(2025, 1, 20)),
        (b, "renewed", dt.date(2025, 1, 25)),  # renewals are neither a loss nor a gain
    ]:
        LifecycleEvent.objects.create(customer=customer, kind=kind, date=date)
    DetectionSettings.objects.create(customer=d, sensitivity="high")
    return {"customers": {"A": a, "B": b, "C": c, "D": d, "E": e, "X": x}, "anomalies": made}
