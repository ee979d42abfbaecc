"""Outcomes derived from lifecycle changes: the window after an anomaly's start (both ends
included), the earliest change winning, CSM-set outcomes kept, and every entry point (the
services behind admin, API and import) reaching the anomalies."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from anomalies.models import Outcome, UsageAnomaly
from anomalies.services.outcomes import anomaly_outcome_set, outcomes_derive
from customers.models import Customer, LifecycleEvent
from customers.services import lifecycle_events_delete, lifecycle_record
from tests.factories import make_anomaly_of as make_anomaly

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

START = dt.date(2025, 3, 3)


def record(customer, kind, day, **fields):
    event, _ = lifecycle_record(customer=customer, kind=kind, date=day, **fields)
    return event


def state(anomaly):
    anomaly.refresh_from_db()
    return (anomaly.outcome, anomaly.outcome_derived, anomaly.outcome_event_id)


@pytest.fixture
def account(make_customer, csm):
    return make_customer(csm=csm)


@pytest.fixture
def anomaly(account):
    return make_anomaly(account, start_date=START, status="resolved", end_date=START)


@pytest.mark.parametrize(
    ("days_after", "derived"),
    [(0, True), (1, True), (89, True), (90, True), (91, False), (-1, False)],
)
def test_a_change_within_90_days_after_the_start_becomes_the_outcome(
    account, anomaly, days_after, derived
):
    event = record(account, "churned", START + dt.timedelta(days=days_after))

    if derived:
        assert state(anomaly) == ("churned", True, event.pk)
    else:
        assert state(anomaly) == ("unknown", False, None)


@pytest.mark.parametrize("kind", ["churned", "contracted", "expanded", "renewed"])
def test_each_kind_gives_its_outcome(account, anomaly, kind):
    event = record(account, kind, START + dt.timedelta(days=30))
    assert state(anomaly) == (kind, True, event.pk)


def test_the_window_is_a_setting(settings, account, anomaly):
    settings.ANOMALY_OUTCOME_WINDOW_DAYS = 30
    record(account, "churned", START + dt.timedelta(days=31))
    assert state(anomaly) == ("unknown", False, None)

    settings.ANOMALY_OUTCOME_WINDOW_DAYS = 31
    outcomes_derive()
    assert state(anomaly)[:2] == ("churned", True)


def test_the_earliest_change_after_the_start_wins(account, anomaly):
    churn = record(account, "churned", START + dt.timedelta(days=80))
    assert state(anomaly) == ("churned", True, churn.pk)

    # Recorded later, but it happened first.
    renewal = record(account, "renewed", START + dt.timedelta(days=20))
    assert state(anomaly) == ("renewed", True, renewal.pk)

    # Before the anomaly: not its outcome, whatever its date.
    record(account, "contracted", START - dt.timedelta(days=5))
    assert state(anomaly) == ("renewed", True, renewal.pk)


def test_on_one_day_a_churn_wins_over_a_renewal(account, anomaly):
    day = START + dt.timedelta(days=10)
    record(account, "renewed", day)
    churn = record(account, "churned", day)
    assert state(anomaly) == ("churned", True, churn.pk)


def test_a_csm_set_outcome_is_never_overwritten(account, anomaly, csm):
    anomaly_outcome_set(anomaly=anomaly, user=csm, outcome="no_impact", note="seasonal")

    record(account, "churned", START + dt.timedelta(days=10))
    outcomes_derive()

    anomaly.refresh_from_db()
    assert (anomaly.outcome, anomaly.outcome_derived, anomaly.outcome_event_id) == (
        "no_impact",
        False,
        None,
    )
    assert anomaly.outcome_note == "seasonal"
    assert anomaly.outcome_set_by == csm


def test_a_csm_overrides_a_derived_outcome_and_unknown_hands_it_back(account, anomaly, csm):
    churn = record(account, "churned", START + dt.timedelta(days=10))

    anomaly_outcome_set(anomaly=anomaly, user=csm, outcome="contracted")
    assert state(anomaly) == ("contracted", False, None)

    anomaly_outcome_set(anomaly=anomaly, user=csm, outcome="unknown")
    assert state(anomaly) == ("churned", True, churn.pk)
    assert anomaly.outcome_set_at is None and anomaly.outcome_set_by is None


def test_deleting_the_change_takes_its_derived_outcome_back(account, anomaly):
    record(account, "contracted", START + dt.timedelta(days=5))
    churn = record(account, "churned", START + dt.timedelta(days=40))

    lifecycle_events_delete(events=LifecycleEvent.objects.filter(kind="contracted"))
    assert state(anomaly) == ("churned", True, churn.pk)

    lifecycle_events_delete(events=LifecycleEvent.objects.all())
    assert state(anomaly) == ("unknown", False, None)


def test_moving_a_change_out_of_the_window_clears_the_outcome(account, anomaly):
    record(account, "expanded", START + dt.timedelta(days=10))
    LifecycleEvent.objects.update(date=START + dt.timedelta(days=120))
    outcomes_derive(customer_ids=[account.pk])
    assert state(anomaly) == ("unknown", False, None)


def test_only_the_accounts_own_anomalies_are_touched(account, anomaly, make_customer):
    other = make_customer()
    theirs = make_anomaly(other, start_date=START)
    record(account, "churned", START + dt.timedelta(days=3))
    assert state(theirs) == ("unknown", False, None)


def test_a_churn_marks_the_account_churned_unless_its_status_changed_later(account, make_customer):
    record(account, "churned", START)
    account.refresh_from_db()
    assert (account.status, account.status_changed_on) == ("churned", START)

    back = make_customer(status="active", status_changed_on=START + dt.timedelta(days=100))
    record(back, "churned", START)
    back.refresh_from_db()
    assert back.status == "active"

    record(account, "renewed", START + dt.timedelta(days=10))
    account.refresh_from_db()
    assert account.status == "churned"  # a renewal after a churn is a person's call


def test_recording_the_same_change_again_updates_it(account, anomaly, csm):
    first, created = lifecycle_record(
        customer=account, kind="contracted", date=START, arr_before=Decimal("1000")
    )
    again, created_again = lifecycle_record(
        customer=account,
        kind="contracted",
        date=START,
        arr_before=Decimal("1000"),
        arr_after=Decimal("600"),
        note="dropped a team",
        user=csm,
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert LifecycleEvent.objects.get().arr_after == Decimal("600.00")
    assert state(anomaly) == ("contracted", True, first.pk)


def test_bulk_derivation_costs_a_bounded_number_of_queries(
    make_customer, django_assert_max_num_queries
):
    customers = [make_customer() for _ in range(5)]
    for customer in customers:
        for i in range(10):
            make_anomaly(
                customer,
                metric_type=f"feature:f{i}",
                start_date=START + dt.timedelta(days=i),
                status="resolved",
                end_date=START + dt.timedelta(days=i),
            )
        LifecycleEvent.objects.create(customer=customer, kind="churned", date=START)
        LifecycleEvent.objects.create(
            customer=customer, kind="expanded", date=START + dt.timedelta(days=5)
        )

    # A savepoint, the customers, the events, the anomalies and one UPDATE.
    with django_assert_max_num_queries(8):
        changed = outcomes_derive()

    # Per account: day 0 is the churn's own day, days 1-5 end in the expansion on day 5,
    # days 6-9 have nothing after them.
    assert changed == 30
    counts = {o: UsageAnomaly.objects.filter(outcome=o).count() for o in Outcome.values}
    assert (counts["churned"], counts["expanded"], counts["unknown"]) == (5, 25, 20)
    assert outcomes_derive() == 0  # nothing left to change


def test_derive_outcomes_command_reports_changes(account, anomaly):
    LifecycleEvent.objects.create(customer=account, kind="expanded", date=START)
    out = StringIO()
    call_command("derive_outcomes", stdout=out)
    assert "1 outcome(s) changed (window 90 days)" in out.getvalue()
    assert state(anomaly)[:2] == ("expanded", True)


def test_deleting_a_customer_with_derived_outcomes_works(account, anomaly):
    record(account, "churned", START)
    Customer.objects.filter(pk=account.pk).delete()
    assert not UsageAnomaly.objects.exists()


def test_outcome_values_are_the_models(account, anomaly, csm):
    with pytest.raises(ValueError, match="unknown outcome 'lost'"):
        anomaly_outcome_set(anomaly=anomaly, user=csm, outcome="lost")
    assert set(Outcome.values) == {
        "churned",
        "contracted",
        "expanded",
        "renewed",
        "no_impact",
        "unknown",
    }


def test_deleting_a_change_outside_the_services_leaves_the_outcome_unknown(account, anomaly):
    event = record(account, "churned", START)
    LifecycleEvent.objects.filter(pk=event.pk).delete()
    assert state(anomaly) == ("unknown", False, None)
