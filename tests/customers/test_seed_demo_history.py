"""seed_demo writes the demo's past: anomalies with derived and CSM-set outcomes, the actions
taken, lifecycle changes with ARR, churned accounts and renewal dates; a reseed replaces it
(one test: each seed takes a while)."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from anomalies.models import AnomalyAction, FollowUp, UsageAnomaly
from customers import demo, demo_history
from customers.models import Customer, LifecycleEvent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

AS_OF = date(2025, 10, 29)
ARGS = ["--accounts", "30", "--days", "400", "--as-of", AS_OF.isoformat()]


@pytest.fixture(scope="module")
def expected():
    data = demo.generate_demo(accounts=30, days=400, as_of=AS_OF)
    return demo_history.generate_history(data, seed=demo.DEFAULT_SEED)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", *ARGS, stdout=out, verbosity=0)
    return out.getvalue()


def test_it_writes_the_past_with_outcomes_actions_and_lifecycle_and_reseeds_it(expected):
    output = seed()

    assert f"{len(expected.anomalies)} past anomalies" in output
    assert UsageAnomaly.objects.count() == len(expected.anomalies)
    assert LifecycleEvent.objects.count() == len(expected.changes)
    assert set(LifecycleEvent.objects.values_list("source", flat=True)) == {"demo"}
    churned = LifecycleEvent.objects.get(
        kind="churned", customer__external_id=next(iter(expected.churned_on))
    )
    assert churned.arr_after == 0 < churned.arr_before

    outcomes = dict(
        UsageAnomaly.objects.values_list("outcome_derived").annotate(n=Count("id")).order_by()
    )
    assert outcomes[True] > 0  # derived from the changes
    assert UsageAnomaly.objects.filter(outcome_derived=False, outcome_set_by__isnull=False).exists()
    derived = UsageAnomaly.objects.filter(outcome_derived=True).select_related("outcome_event")
    for anomaly in derived:
        assert anomaly.outcome == anomaly.outcome_event.kind
        assert 0 <= (anomaly.outcome_event.date - anomaly.start_date).days <= 90
    assert UsageAnomaly.objects.filter(status="dismissed", dismiss_reason="false_positive").exists()

    actions = AnomalyAction.objects.all()
    assert actions.exists()
    assert all(a.created_at.date() < AS_OF for a in actions)
    dismissed = UsageAnomaly.objects.filter(status="dismissed").count()
    assert actions.filter(kind="dismiss").count() == dismissed
    # The card actions that leave work to do opened follow-ups, done by now.
    followup_kinds = ["schedule_training", "explore_expansion", "send_congratulations"]
    followups = FollowUp.objects.all()
    assert followups.count() == actions.filter(kind__in=followup_kinds).count() > 0
    assert set(followups.values_list("status", flat=True)) == {"done"}
    assert all(f.created_at < f.closed_at and f.created_at.date() < AS_OF for f in followups)

    customers = Customer.objects.in_bulk(field_name="external_id")
    for external_id, day in expected.churned_on.items():
        assert (customers[external_id].status, customers[external_id].status_changed_on) == (
            "churned",
            day,
        )
        assert not customers[external_id].usage.filter(date__gt=day).exists()
    assert {e: c.renewal_date for e, c in customers.items() if c.renewal_date} == (
        expected.renewal_dates
    )
    for customer in customers.values():
        customer.full_clean()

    # A reseed replaces the past with the same past.
    def past():
        return sorted(
            UsageAnomaly.objects.values_list(
                "customer__external_id", "metric_type", "start_date", "outcome"
            )
        )

    before = past()
    followups_before = FollowUp.objects.count()
    seed()
    assert past() == before
    assert FollowUp.objects.count() == followups_before
    assert LifecycleEvent.objects.count() == len(expected.changes)
