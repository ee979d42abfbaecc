"""Follow-ups: the services that open, move, close and reopen them, their constraints and who
sees them; and the "Contact customer" email text."""

import datetime as dt
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from anomalies.models import AnomalyAction, FollowUp, Outcome
from anomalies.selectors import followup_get_visible, followup_list_mine, followup_list_visible
from anomalies.services.followups import (
    DUE_IN_DAYS,
    MAX_DUE_DAYS_AHEAD,
    FollowUpAlreadyOpen,
    FollowUpClosed,
    followup_close,
    followup_create,
    followup_reopen,
    followup_reschedule,
)
from anomalies.text import contact_email, mailto_url, overdue_text
from tests.factories import FollowUpFactory, make_anomaly_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def drop(make_customer, csm):
    return make_anomaly_of(make_customer(name="CloudFirst Inc", csm=csm))


def test_create_from_an_anomaly_is_due_by_its_kind_and_records_the_action(drop, csm):
    today = timezone.localdate()
    followup, created = followup_create(
        customer=drop.customer, anomaly=drop, user=csm, kind="explore_expansion", today=today
    )
    assert created
    assert followup.due_date == today + dt.timedelta(days=DUE_IN_DAYS["explore_expansion"])
    assert (followup.owner, followup.status, followup.anomaly) == (csm, "open", drop)
    assert followup.title == "Explore expansion: CloudFirst Inc (67% drop in API calls)"
    action = AnomalyAction.objects.get()
    assert (action.anomaly, action.kind, action.user) == (drop, "explore_expansion", csm)


def test_a_second_click_returns_the_open_follow_up(drop, csm):
    first, _ = followup_create(
        customer=drop.customer, anomaly=drop, user=csm, kind="schedule_training"
    )
    again, created = followup_create(
        customer=drop.customer, anomaly=drop, user=csm, kind="schedule_training"
    )
    assert not created
    assert again.pk == first.pk
    assert FollowUp.objects.count() == 1
    assert AnomalyAction.objects.count() == 1


@pytest.mark.parametrize(
    ("days", "message"),
    [(-1, "in the past"), (MAX_DUE_DAYS_AHEAD + 1, f"within {MAX_DUE_DAYS_AHEAD} days")],
)
def test_create_refuses_a_bad_due_date(drop, csm, days, message):
    today = timezone.localdate()
    with pytest.raises(ValueError, match=message):
        followup_create(
            customer=drop.customer,
            user=csm,
            kind="other",
            due_date=today + dt.timedelta(days=days),
            today=today,
        )


def test_create_refuses_an_anomaly_of_another_account(drop, csm, make_customer):
    with pytest.raises(ValueError, match="another customer"):
        followup_create(customer=make_customer(csm=csm), anomaly=drop, user=csm, kind="other")


def test_closing_done_sets_the_anomalys_outcome(drop, csm):
    followup = FollowUpFactory(anomaly=drop)
    followup_close(followup=followup, user=csm, outcome="expanded", note="Bought 20 seats")
    followup.refresh_from_db()
    drop.refresh_from_db()
    assert (followup.status, followup.closing_outcome, followup.closed_by) == (
        "done",
        "expanded",
        csm,
    )
    assert followup.closed_at is not None
    assert (drop.outcome, drop.outcome_note, drop.outcome_set_by) == (
        Outcome.EXPANDED,
        "Bought 20 seats",
        csm,
    )


def test_closing_with_no_change_leaves_the_anomalys_outcome(drop, csm):
    drop.outcome = Outcome.RENEWED
    drop.save()
    followup_close(followup=FollowUpFactory(anomaly=drop), user=csm, outcome="no_change")
    drop.refresh_from_db()
    assert (drop.outcome, drop.outcome_set_by) == (Outcome.RENEWED, None)


def test_cancelling_asks_no_outcome_and_changes_no_anomaly(drop, csm):
    followup = followup_close(followup=FollowUpFactory(anomaly=drop), user=csm, cancel=True)
    drop.refresh_from_db()
    assert (followup.status, followup.closing_outcome) == ("cancelled", "")
    assert drop.outcome == Outcome.UNKNOWN
    with pytest.raises(ValueError, match="no outcome"):
        followup_close(
            followup=FollowUpFactory(anomaly=drop), user=csm, outcome="churned", cancel=True
        )


def test_closing_twice_is_refused_and_the_first_outcome_stands(drop, csm):
    followup = FollowUpFactory(anomaly=drop)
    followup_close(followup=followup, user=csm, outcome="churned")
    with pytest.raises(FollowUpClosed, match="already done"):
        followup_close(followup=followup, user=csm, outcome="expanded")
    drop.refresh_from_db()
    assert drop.outcome == Outcome.CHURNED
    with pytest.raises(FollowUpClosed):
        followup_reschedule(followup=followup, due_date=timezone.localdate())


def test_closing_refuses_an_unknown_outcome(drop, csm):
    with pytest.raises(ValueError, match="unknown outcome"):
        followup_close(followup=FollowUpFactory(anomaly=drop), user=csm, outcome="unknown")


def test_reopen_clears_the_closing_but_keeps_the_anomalys_outcome(drop, csm):
    followup = FollowUpFactory(anomaly=drop)
    followup_close(followup=followup, user=csm, outcome="churned", note="gone")
    followup = followup_reopen(followup=followup)
    drop.refresh_from_db()
    assert (followup.status, followup.closed_at, followup.closing_outcome) == ("open", None, "")
    assert drop.outcome == Outcome.CHURNED


def test_reopen_refuses_when_another_open_one_covers_the_same_thing(drop, csm):
    closed = FollowUpFactory(anomaly=drop, done=True)
    FollowUpFactory(anomaly=drop)
    with pytest.raises(FollowUpAlreadyOpen):
        followup_reopen(followup=closed)
    closed.refresh_from_db()
    assert closed.status == "done"


def test_reschedule_moves_the_due_date(drop):
    followup = FollowUpFactory(anomaly=drop)
    day = timezone.localdate() + dt.timedelta(days=30)
    assert followup_reschedule(followup=followup, due_date=day).due_date == day
    followup.refresh_from_db()
    assert followup.due_date == day


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "done", "closed_at": None, "closing_outcome": "expanded"},
        {"status": "done", "closing_outcome": ""},
        {"status": "open", "closing_outcome": "expanded"},
        {"status": "cancelled", "closed_at": None},
        {"status": "cancelled", "closing_outcome": "churned"},
        {"status": "open", "closed_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        {"status": "late"},
        {"kind": "investigate"},
        {"closing_outcome": "unknown", "status": "done"},
    ],
)
def test_the_database_refuses_an_inconsistent_follow_up(drop, fields):
    values = {"closed_at": timezone.now()} if fields.get("status") in {"done", "cancelled"} else {}
    with pytest.raises(IntegrityError), transaction.atomic():
        FollowUpFactory(anomaly=drop, **{**values, **fields})


def test_the_database_allows_one_open_follow_up_per_anomaly_and_kind(drop):
    FollowUpFactory(anomaly=drop)
    FollowUpFactory(anomaly=drop, done=True)
    FollowUpFactory(anomaly=drop, kind="explore_expansion")
    with pytest.raises(IntegrityError), transaction.atomic():
        FollowUpFactory(anomaly=drop)


def test_deleting_the_anomaly_keeps_the_follow_up(drop):
    followup = FollowUpFactory(anomaly=drop)
    drop.delete()
    followup.refresh_from_db()
    assert followup.anomaly is None


def test_visibility_own_accounts_only_staff_all(drop, csm, other_csm, staff, make_customer):
    mine = FollowUpFactory(anomaly=drop)
    theirs = FollowUpFactory(anomaly=make_anomaly_of(make_customer(csm=other_csm)))
    assert list(followup_list_visible(user=csm)) == [mine]
    assert list(followup_list_visible(user=other_csm)) == [theirs]
    assert set(followup_list_visible(user=staff)) == {mine, theirs}
    with pytest.raises(Http404):
        followup_get_visible(user=csm, followup_id=theirs.pk)
    # Staff's own page lists theirs (none here) unless they ask for everyone's.
    assert list(followup_list_mine(user=staff)) == []
    assert set(followup_list_mine(user=staff, everyone=True)) == {mine, theirs}


def test_overdue_is_open_and_past_due_and_open_ones_come_first(drop, make_anomaly):
    late = FollowUpFactory(anomaly=drop, overdue=True)
    later = FollowUpFactory(anomaly=drop, kind="explore_expansion")
    closed_late = FollowUpFactory(anomaly=drop, overdue=True, done=True)
    rows = list(followup_list_visible(user=drop.customer.csm))
    assert rows == [late, later, closed_late]
    assert [r.overdue for r in rows] == [True, False, False]


# --- The "Contact customer" email -------------------------------------------------------


def _email(**overrides):
    values = {
        "customer_name": "DataFlow Systems",
        "anomaly_type": "drop",
        "metric": "api_calls",
        "deviation_percent": -66.7,
        "start_date": dt.date(2026, 11, 26),
        "end_date": None,
        "baseline": 45000.0,
        "actual": 15000.0,
        "holiday": "Thanksgiving Day",
        "sender": "Alice Smith",
    }
    return contact_email(**{**values, **overrides})


def test_contact_email_says_what_since_when_and_baseline_to_now():
    subject, body = _email()
    assert subject == "Your DataFlow Systems account: 67% drop in API calls"
    assert "we noticed a change: 67% drop in API calls." in body
    assert (
        "Since November 26, 2026 (Thanksgiving Day), API calls went from a usual 45,000 per day "
        "to 15,000 per day." in body
    )
    assert body.endswith("Best regards,\nAlice Smith")


def test_contact_email_of_an_ended_anomaly_gives_its_period():
    _, body = _email(holiday="", end_date=dt.date(2026, 11, 30), metric="logins")
    assert "From November 26, 2026 to November 30, 2026, logins went from" in body


def test_mailto_is_percent_encoded_and_round_trips():
    subject, body = _email(customer_name="Smith & Sons?")
    url = mailto_url(to="ops+cs@dataflow.test", subject=subject, body=body)
    parts = urlsplit(url)
    assert parts.scheme == "mailto"
    assert unquote(parts.path) == "ops+cs@dataflow.test"
    assert " " not in url and "\n" not in url and "+" not in parts.query
    assert "%0D%0A" in parts.query
    query = parse_qs(parts.query)
    assert query["subject"] == [subject]
    assert query["body"] == [body.replace("\n", "\r\n")]


def test_mailto_without_an_address_leaves_the_recipient_empty():
    assert mailto_url(to="", subject="Hi", body="x").startswith("mailto:?subject=Hi&body=x")


@pytest.mark.parametrize(
    ("days_late", "text"),
    [(-2, ""), (0, ""), (1, "Overdue by 1 day"), (12, "Overdue by 12 days")],
)
def test_overdue_text(days_late, text):
    today = dt.date(2026, 11, 30)
    assert overdue_text(due_date=today - dt.timedelta(days=days_late), today=today) == text
