"""The follow-ups pages: "My follow-ups" (open first, overdue said in words), the customer
page's list, and the forms that close (asking the outcome, which becomes the anomaly's), move
and reopen one; CSRF on each, another CSM's follow-up a 404."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anomalies.models import FollowUp, Outcome
from tests.factories import FollowUpFactory, make_anomaly_of

pytestmark = pytest.mark.django_db

LIST = reverse("followup-list")


@pytest.fixture
def drop(make_customer, csm):
    return make_anomaly_of(make_customer(name="CloudFirst Inc", csm=csm))


@pytest.fixture
def theirs(make_customer, other_csm):
    return FollowUpFactory(anomaly=make_anomaly_of(make_customer(name="Theirs Inc", csm=other_csm)))


def _row(html: str, followup) -> str:
    match = re.search(rf'<tr id="followup-{followup.pk}".*?</tr>', html, re.S)
    assert match, f"no row for {followup.title}"
    return match.group(0)


def _close(client, followup, **data):
    prefix = f"close-{followup.pk}"
    return client.post(
        reverse("followup-close", args=[followup.pk]),
        {f"{prefix}-{key}": value for key, value in data.items()},
    )


def test_it_requires_login(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_nav_links_to_my_follow_ups(client, csm):
    client.force_login(csm)
    assert f'<a href="{LIST}">My follow-ups</a>' in client.get(reverse("home")).content.decode()


def test_a_card_action_lands_on_the_list(client, csm, drop):
    client.force_login(csm)
    client.post(reverse("anomaly-action", args=[drop.pk]), {"kind": "schedule_training"})
    followup = FollowUp.objects.get()
    html = client.get(LIST).content.decode()
    row = _row(html, followup)
    due = timezone.localdate() + dt.timedelta(days=7)
    assert "Schedule training: CloudFirst Inc (67% drop in API calls)" in row
    assert f"{due:%b} {due.day}, {due.year}" in row


def test_open_ones_come_first_and_overdue_ones_say_so(client, csm, drop, theirs):
    later = FollowUpFactory(anomaly=drop, kind="explore_expansion", title="Later one")
    late = FollowUpFactory(anomaly=drop, overdue=True, title="Late one")
    client.force_login(csm)

    html = client.get(LIST).content.decode()

    assert html.index("Late one") < html.index("Later one")
    late_row = _row(html, late)
    assert 'class="followup overdue"' in late_row
    assert "Overdue by 3 days" in late_row
    assert "Overdue" not in _row(html, later)
    # Another CSM's follow-up is not listed.
    assert theirs.title not in html


def test_the_status_filter_lists_closed_ones(client, csm, drop):
    FollowUpFactory(anomaly=drop, title="Still open")
    FollowUpFactory(anomaly=drop, done=True, title="Finished", closing_outcome="expanded")
    client.force_login(csm)

    assert "Finished" not in client.get(LIST).content.decode()
    done = client.get(LIST, {"status": "done"}).content.decode()
    assert "Finished" in done and "Still open" not in done
    assert "Expanded" in done
    every = client.get(LIST, {"status": "all"}).content.decode()
    assert "Finished" in every and "Still open" in every


@pytest.mark.parametrize("status", ["nonsense", "x" * 500, "\x00"])
def test_a_bad_status_is_a_400_naming_the_field(client, csm, status):
    client.force_login(csm)
    response = client.get(LIST, {"status": status})
    assert response.status_code == 400
    # A NUL is refused by the middleware before the view, naming the parameter too.
    assert re.search(r"status: unknown value|parameter 'status'", response.content.decode())


def test_the_list_costs_a_bounded_number_of_queries(
    client, csm, drop, make_customer, django_assert_max_num_queries
):
    for n in range(5):
        FollowUpFactory(anomaly=make_anomaly_of(make_customer(csm=csm)), title=f"Task {n}")
    client.force_login(csm)
    with django_assert_max_num_queries(8):
        client.get(LIST)


def test_the_customer_page_lists_its_follow_ups(client, csm, drop, theirs):
    followup = FollowUpFactory(anomaly=drop, overdue=True)
    client.force_login(csm)
    html = client.get(reverse("customer-detail", args=[drop.customer_id])).content.decode()
    assert "Follow-ups (1)" in html
    assert "Overdue by 3 days" in _row(html, followup)
    assert f'action="{reverse("followup-close", args=[followup.pk])}"' in html


def test_closing_with_an_outcome_sets_the_anomalys(client, csm, drop):
    followup = FollowUpFactory(anomaly=drop)
    client.force_login(csm)
    response = _close(client, followup, action="done", outcome="churned", note="Moved to a rival")
    assert response.status_code == 302
    assert response["Location"] == LIST
    followup.refresh_from_db()
    drop.refresh_from_db()
    assert (followup.status, followup.closing_outcome) == ("done", "churned")
    assert (drop.outcome, drop.outcome_note, drop.outcome_set_by) == (
        Outcome.CHURNED,
        "Moved to a rival",
        csm,
    )
    page = client.get(LIST).content.decode()
    assert f"Done: {followup.title}. Outcome: Churned." in page


def test_closing_returns_to_the_customer_page(client, csm, drop):
    followup = FollowUpFactory(anomaly=drop)
    client.force_login(csm)
    back = reverse("customer-detail", args=[drop.customer_id])
    response = client.post(
        reverse("followup-close", args=[followup.pk]),
        {f"close-{followup.pk}-action": "cancel", "next": back},
    )
    assert response["Location"] == back
    followup.refresh_from_db()
    assert followup.status == "cancelled"


def test_done_without_an_outcome_is_refused_naming_the_field(client, csm, drop):
    followup = FollowUpFactory(anomaly=drop)
    client.force_login(csm)
    _close(client, followup, action="done")
    followup.refresh_from_db()
    assert followup.status == "open"
    assert "Outcome: Say what it led to" in client.get(LIST).content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"action": "done", "outcome": "unknown"},
        {"action": "explode"},
        {},
        {"action": "done", "outcome": "churned", "note": "x" * 5000},
        {"action": "done", "outcome": "churned", "note": "a\x00b"},
    ],
)
def test_bad_close_input_changes_nothing_and_never_500s(client, csm, drop, data):
    followup = FollowUpFactory(anomaly=drop)
    client.force_login(csm)
    # A message and back to the list, or (a NUL) the middleware's 400.
    assert _close(client, followup, **data).status_code in {302, 400}
    followup.refresh_from_db()
    assert followup.status == "open"


def test_closing_twice_says_so(client, csm, drop):
    followup = FollowUpFactory(anomaly=drop, done=True)
    client.force_login(csm)
    _close(client, followup, action="done", outcome="expanded")
    drop.refresh_from_db()
    assert drop.outcome == Outcome.UNKNOWN
    assert "This follow-up is already done" in client.get(LIST).content.decode()


def test_the_due_date_can_be_moved_but_not_into_the_past(client, csm, drop):
    followup = FollowUpFactory(anomaly=drop)
    client.force_login(csm)
    url = reverse("followup-due-date", args=[followup.pk])
    day = timezone.localdate() + dt.timedelta(days=20)
    client.post(url, {f"due-{followup.pk}-due_date": day.isoformat()})
    followup.refresh_from_db()
    assert followup.due_date == day
    client.post(url, {f"due-{followup.pk}-due_date": "2001-01-01"})
    client.post(url, {f"due-{followup.pk}-due_date": "not a date"})
    followup.refresh_from_db()
    assert followup.due_date == day
    assert "Due date: The due date cannot be in the past." in client.get(LIST).content.decode()


def test_a_closed_follow_up_can_be_reopened(client, csm, drop):
    followup = FollowUpFactory(anomaly=drop, done=True)
    client.force_login(csm)
    client.post(reverse("followup-reopen", args=[followup.pk]))
    followup.refresh_from_db()
    assert (followup.status, followup.closed_at) == ("open", None)


@pytest.mark.parametrize("name", ["followup-close", "followup-reopen", "followup-due-date"])
def test_another_csms_follow_up_is_404(client, csm, theirs, name):
    client.force_login(csm)
    data = {
        f"close-{theirs.pk}-action": "done",
        f"close-{theirs.pk}-outcome": "churned",
        f"due-{theirs.pk}-due_date": timezone.localdate().isoformat(),
    }
    assert client.post(reverse(name, args=[theirs.pk]), data).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "open"
    assert theirs.anomaly.outcome == Outcome.UNKNOWN


def test_staff_may_close_any_and_see_every_csms_on_request(client, staff, theirs):
    client.force_login(staff)
    assert theirs.title not in client.get(LIST).content.decode()
    assert theirs.title in client.get(LIST, {"everyone": "1"}).content.decode()
    _close(client, theirs, action="done", outcome="expanded")
    theirs.refresh_from_db()
    assert theirs.closing_outcome == "expanded"


@pytest.mark.parametrize("name", ["followup-close", "followup-reopen", "followup-due-date"])
def test_the_forms_require_csrf(csm, drop, name):
    followup = FollowUpFactory(anomaly=drop)
    client = Client(enforce_csrf_checks=True)
    client.force_login(csm)
    data = {f"close-{followup.pk}-action": "cancel"}
    assert client.post(reverse(name, args=[followup.pk]), data).status_code == 403
    followup.refresh_from_db()
    assert followup.status == "open"


def test_the_forms_carry_a_csrf_token(client, csm, drop):
    FollowUpFactory(anomaly=drop)
    client.force_login(csm)
    html = client.get(LIST).content.decode()
    forms = re.findall(r'<form method="post".*?</form>', html, re.S)
    assert len(forms) >= 3
    assert all("csrfmiddlewaretoken" in form for form in forms)


def test_the_portfolio_card_shows_the_open_follow_up(client, csm, drop):
    FollowUpFactory(anomaly=drop, overdue=True)
    FollowUpFactory(anomaly=drop, kind="explore_expansion", done=True)
    client.force_login(csm)
    html = client.get(reverse("home")).content.decode()
    followups = re.findall(r'<p class="card-followup">.*?</p>', html, re.S)
    assert len(followups) == 1
    assert "Follow-up: " in followups[0] and "Schedule training" in followups[0]
    assert "Overdue by 3 days" in followups[0]


def test_a_second_click_names_the_open_follow_up(client, csm, drop):
    client.force_login(csm)
    url = reverse("anomaly-action", args=[drop.pk])
    client.post(url, {"kind": "explore_expansion"})
    client.get(LIST)  # the first message is read
    client.post(url, {"kind": "explore_expansion"})
    assert FollowUp.objects.count() == 1
    html = client.get(LIST).content.decode()
    assert "Already a follow-up: <a href=" in html
