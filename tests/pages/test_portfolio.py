import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anomalies.models import AnomalyAction, FollowUp
from tests.factories import make_anomaly_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def portfolio(csm, other_csm, make_customer):
    """The PRD's three accounts for the CSM, plus one of another CSM."""
    today = timezone.localdate()
    nexus = make_customer(name="Nexus Corp", csm=csm)
    make_anomaly_of(
        nexus,
        metric_type="logins",
        anomaly_type="spike",
        severity="info",
        baseline_value=Decimal("200"),
        actual_value=Decimal("500"),
        deviation_percent=Decimal("150"),
        start_date=today - dt.timedelta(days=9),
        possible_cause="Team expansion or new use case",
    )
    cloud = make_customer(name="CloudFirst Inc", csm=csm)
    make_anomaly_of(
        cloud,
        metric_type="feature:reports",
        anomaly_type="feature_abandonment",
        severity="warning",
        baseline_value=Decimal("100"),
        actual_value=Decimal("20"),
        deviation_percent=Decimal("-80"),
        start_date=today - dt.timedelta(days=15),
        possible_cause="Training gap or competing tool",
    )
    dataflow = make_customer(name="DataFlow Systems", csm=csm, contact_email="ops@dataflow.test")
    drop = make_anomaly_of(dataflow, possible_cause="Integration issue or migration")
    theirs = make_customer(name="Theirs Inc", csm=other_csm)
    their_drop = make_anomaly_of(theirs)
    return {"drop": drop, "their_drop": their_drop, "dataflow": dataflow, "cloud": cloud}


def _positions(content: str, *names):
    return [content.index(name) for name in names]


def test_it_requires_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_counts_accounts_and_orders_cards_worst_first(client, csm, portfolio):
    client.force_login(csm)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Anomalies detected: 3 accounts" in content
    first, second, third = _positions(
        content,
        'data-customer="DataFlow Systems"',
        'data-customer="CloudFirst Inc"',
        'data-customer="Nexus Corp"',
    )
    assert first < second < third


def test_it_shows_badges_sentences_and_numbers(client, csm, portfolio):
    client.force_login(csm)
    content = client.get(reverse("home")).content.decode()
    assert '<span class="badge critical">Critical</span>' in content
    assert '<span class="badge warning">Warning</span>' in content
    assert '<span class="badge positive">Positive</span>' in content
    assert "67% drop in API calls" in content
    assert "Feature abandonment: Reports module -80%" in content
    assert "150% increase in logins" in content
    assert "5 days" in content
    assert "2 weeks ago" in content
    assert "45,000/day &rarr; Actual: 15,000/day" in content
    assert "Integration issue or migration" in content
    assert reverse("customer-detail", args=[portfolio["dataflow"].pk]) in content
    assert reverse("anomaly-dismiss", args=[portfolio["drop"].pk]) in content
    assert reverse("sensitivity") in content


def test_it_offers_actions_that_fit_the_anomaly(client, csm, portfolio):
    client.force_login(csm)
    content = client.get(reverse("home")).content.decode()

    def card(name):
        start = content.index(f'data-customer="{name}"')
        return content[start : content.index("</section>", start)]

    dataflow, cloud, nexus = card("DataFlow Systems"), card("CloudFirst Inc"), card("Nexus Corp")
    assert 'value="investigate"' in dataflow and 'value="contact_customer"' in dataflow
    assert 'value="schedule_training"' in cloud and 'value="investigate"' in cloud
    assert 'value="explore_expansion"' in nexus and 'value="send_congratulations"' in nexus
    assert "Contact customer" not in nexus
    for html in (dataflow, cloud, nexus):
        assert '-reason"' in html and "csrfmiddlewaretoken" in html


def test_dismiss_form_on_a_card_dismisses(client, csm, portfolio):
    """The card's form speaks the customer page's dismiss view (fields prefixed by id)."""
    client.force_login(csm)
    drop = portfolio["drop"]
    content = client.get(reverse("home")).content.decode()
    assert f'name="{drop.pk}-reason"' in content
    response = client.post(
        reverse("anomaly-dismiss", args=[drop.pk]),
        {f"{drop.pk}-reason": "false_positive", f"{drop.pk}-note": "known"},
    )
    assert response.status_code == 302
    drop.refresh_from_db()
    assert (drop.status, drop.dismiss_reason, drop.dismissed_by) == (
        "dismissed",
        "false_positive",
        csm,
    )
    assert "Anomalies detected: 2 accounts" in client.get(reverse("home")).content.decode()


def test_csm_sees_only_their_accounts(client, csm, portfolio):
    client.force_login(csm)
    content = client.get(reverse("home")).content.decode()
    assert "Theirs Inc" not in content


def test_staff_can_switch_to_a_csm_portfolio(client, staff, portfolio):
    client.force_login(staff)
    everyone = client.get(reverse("home")).content.decode()
    assert "Anomalies detected: 4 accounts" in everyone
    bobs = client.get(reverse("home"), {"csm": "bob"}).content.decode()
    assert "Anomalies detected: 1 account" in bobs
    assert "Theirs Inc" in bobs
    assert "DataFlow Systems" not in bobs


def test_staff_switch_to_the_unowned_accounts(client, staff, make_customer, portfolio):
    orphan = make_customer(name="Imported Co", csm=None)
    make_anomaly_of(orphan, severity="critical")
    make_customer(name="Quiet Orphan", csm=None)
    make_customer(name="Gone Orphan", csm=None, status="churned")
    client.force_login(staff)

    everyone = client.get(reverse("home")).content.decode()
    assert '<option value="(none)">Unowned accounts (2)</option>' in everyone

    unowned = client.get(reverse("home"), {"csm": "(none)"}).content.decode()
    assert "Anomalies detected: 1 account" in unowned
    assert "(unowned accounts)" in unowned
    assert "2 accounts have no owner." in unowned
    assert "Quiet Orphan" in unowned  # listed, though it has no anomaly
    assert "Gone Orphan" not in unowned  # churned: nothing for ops to assign
    assert "DataFlow Systems" not in unowned
    assert "?owner=none" in unowned


def test_a_csm_sees_no_unowned_entry(client, csm, make_customer, portfolio):
    make_customer(name="Imported Co", csm=None)
    client.force_login(csm)

    content = client.get(reverse("home"), {"csm": "(none)"}).content.decode()

    assert "Unowned accounts" not in content
    assert "Imported Co" not in content
    assert "Anomalies detected: 3 accounts" in content


def test_csm_cannot_switch_portfolio(client, csm, portfolio):
    client.force_login(csm)
    content = client.get(reverse("home"), {"csm": "bob"}).content.decode()
    assert "Anomalies detected: 3 accounts" in content
    assert "Theirs Inc" not in content


def test_ask_box_answers_with_summary_lines(client, csm, portfolio):
    client.force_login(csm)
    content = client.get(reverse("home"), {"customer": "dataflow"}).content.decode()
    assert "Usage anomalies for DataFlow Systems in the last 30 days:" in content
    assert (
        "67% drop in API calls for 5 days, baseline 45,000/day, now 15,000/day; "
        "possible cause: Integration issue or migration" in content
    )


def test_ask_box_answers_no_anomalies(client, csm, make_customer, portfolio):
    make_customer(name="Quiet Co", csm=csm)
    client.force_login(csm)
    content = client.get(reverse("home"), {"customer": "Quiet Co"}).content.decode()
    assert "No usage anomalies for Quiet Co in the last 30 days." in content


def test_ask_box_leaves_out_dismissed_anomalies(client, csm, portfolio):
    drop = portfolio["drop"]
    drop.status = "dismissed"
    drop.dismissed_at = timezone.now()
    drop.dismiss_reason = "false_positive"
    drop.save()
    client.force_login(csm)
    content = client.get(reverse("home"), {"customer": "DataFlow Systems"}).content.decode()
    assert "No usage anomalies for DataFlow Systems in the last 30 days." in content


def test_ask_box_unknown_account(client, csm, portfolio):
    client.force_login(csm)
    content = client.get(reverse("home"), {"customer": "Nowhere Ltd"}).content.decode()
    assert "No account called Nowhere Ltd in your portfolio." in content


def test_ask_box_treats_another_csms_account_as_unknown(client, csm, portfolio):
    client.force_login(csm)
    content = client.get(reverse("home"), {"customer": "Theirs Inc"}).content.decode()
    assert "No account called Theirs Inc in your portfolio." in content
    assert "Usage anomalies for Theirs Inc" not in content


def _act(client, anomaly, kind, **extra):
    url = reverse("anomaly-action", args=[anomaly.pk])
    return client.post(url, {"kind": kind, **extra})


def test_a_card_action_opens_a_follow_up_and_links_to_it(client, csm, portfolio):
    client.force_login(csm)
    response = _act(client, portfolio["drop"], "send_congratulations")
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    action = AnomalyAction.objects.get()
    assert (action.anomaly, action.user, action.kind) == (
        portfolio["drop"],
        csm,
        "send_congratulations",
    )
    followup = FollowUp.objects.get()
    assert (followup.anomaly, followup.owner, followup.kind) == (
        portfolio["drop"],
        csm,
        "send_congratulations",
    )
    page = client.get(reverse("home")).content.decode()
    link = f'<a href="{reverse("followup-list")}#followup-{followup.pk}">'
    assert f"Follow-up opened: {link}Send congratulations: DataFlow Systems" in page
    assert "Recorded:" not in page


def test_investigate_goes_to_the_customer_page_at_the_metric(client, csm, portfolio):
    client.force_login(csm)
    response = _act(client, portfolio["drop"], "investigate")
    url = reverse("customer-detail", args=[portfolio["dataflow"].pk])
    assert response["Location"] == f"{url}?metric=api_calls"
    assert AnomalyAction.objects.get().kind == "investigate"


def test_contact_customer_opens_mail_with_the_story(client, csm, portfolio):
    client.force_login(csm)
    response = _act(client, portfolio["drop"], "contact_customer")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("mailto:ops@dataflow.test?subject=Your%20DataFlow%20Systems")
    body = parse_qs(urlsplit(location).query)["body"][0]
    assert "67% drop in API calls" in body
    assert "went from a usual 45,000 per day to 15,000 per day" in body
    assert not FollowUp.objects.exists()
    assert AnomalyAction.objects.get().kind == "contact_customer"


def test_contact_customer_without_email_leaves_the_recipient_to_fill_in(client, csm, portfolio):
    client.force_login(csm)
    cloud_anomaly = portfolio["cloud"].anomalies.get()
    response = _act(client, cloud_anomaly, "contact_customer", next="/?csm=x")
    assert response["Location"].startswith("mailto:?subject=Your%20CloudFirst%20Inc%20account")


def test_action_ignores_an_offsite_next(client, csm, portfolio):
    client.force_login(csm)
    response = _act(client, portfolio["drop"], "explore_expansion", next="https://evil.test/")
    assert response["Location"] == reverse("home")


def test_action_requires_csrf(csm, portfolio):
    client = Client(enforce_csrf_checks=True)
    client.force_login(csm)
    response = _act(client, portfolio["drop"], "investigate")
    assert response.status_code == 403
    assert not AnomalyAction.objects.exists()


def test_action_on_another_csms_anomaly_is_404(client, csm, portfolio):
    client.force_login(csm)
    response = _act(client, portfolio["their_drop"], "investigate")
    assert response.status_code == 404
    assert not AnomalyAction.objects.exists()


@pytest.mark.parametrize("kind", ["", "nonsense", "dismiss", "rescan"])
def test_action_with_a_bad_kind_is_400(client, csm, portfolio, kind):
    client.force_login(csm)
    response = _act(client, portfolio["drop"], kind)
    assert response.status_code == 400
    assert not AnomalyAction.objects.exists()


def test_an_action_note_over_the_limit_is_400_and_records_nothing(client, csm, portfolio):
    client.force_login(csm)

    response = _act(client, portfolio["drop"], "investigate", note="x" * 2001)

    assert response.status_code == 400
    assert "note: Ensure this value has at most 2000 characters" in response.content.decode()
    assert not AnomalyAction.objects.exists()
    _act(client, portfolio["drop"], "investigate", note="x" * 2000)
    assert AnomalyAction.objects.get().note == "x" * 2000


def test_an_action_note_with_a_nul_is_400_naming_the_field(client, csm, portfolio):
    client.force_login(csm)

    response = _act(client, portfolio["drop"], "investigate", note="called\x00back")

    assert response.status_code == 400
    assert "form field 'note' contains a NUL character" in response.content.decode()
    assert not AnomalyAction.objects.exists()


def test_action_refuses_get(client, csm, portfolio):
    client.force_login(csm)
    response = client.get(reverse("anomaly-action", args=[portfolio["drop"].pk]))
    assert response.status_code == 405


def test_autocomplete_lists_only_visible_customers(client, csm, portfolio):
    client.force_login(csm)
    response = client.get(reverse("customer-autocomplete"), {"q": "inc"})
    assert response.status_code == 200
    assert [row["name"] for row in response.json()] == ["CloudFirst Inc"]
    assert response.json()[0]["id"] == str(portfolio["cloud"].pk)


def test_autocomplete_caps_results(client, csm, make_customer):
    for n in range(12):
        make_customer(name=f"Acme {n:02}", csm=csm)
    client.force_login(csm)
    rows = client.get(reverse("customer-autocomplete"), {"q": "acme"}).json()
    assert len(rows) == 10
    assert rows[0]["name"] == "Acme 00"


def test_staff_get_a_portfolio_switcher_and_csms_do_not(client, staff, csm, make_customer):
    make_customer(name="Owned Co", csm=csm)
    client.force_login(staff)
    page = client.get(reverse("home")).content.decode()
    assert 'id="csm-switch"' in page
    assert f'<option value="{csm.username}"' in page

    client.force_login(csm)
    assert 'id="csm-switch"' not in client.get(reverse("home")).content.decode()


def _card(content: str, name: str) -> str:
    start = content.index(f'data-customer="{name}"')
    return content[start : content.index("</section>", start)]


def test_a_running_anomaly_says_since_when(client, csm, portfolio):
    today = timezone.localdate()
    client.force_login(csm)
    content = client.get(reverse("home")).content.decode()

    start = today - dt.timedelta(days=4)
    assert f"5 days, since {start:%b} {start.day}" in _card(content, "DataFlow Systems")
    started = today - dt.timedelta(days=15)
    assert f"2 weeks ago, on {started:%b} {started.day}" in _card(content, "CloudFirst Inc")


@pytest.mark.parametrize(
    ("calendar", "start", "holiday"),
    [
        ("", dt.date(2025, 11, 27), "Thanksgiving Day"),  # the default calendar: US
        ("US", dt.date(2025, 11, 27), "Thanksgiving Day"),
        ("DE-BY", dt.date(2025, 11, 27), ""),  # an ordinary Thursday in Munich
        ("DE-BY", dt.date(2026, 6, 4), "Corpus Christi"),
        ("DE-BE", dt.date(2026, 6, 4), ""),  # not a holiday in Berlin
    ],
)
def test_a_drop_that_began_on_a_holiday_names_it(
    client, csm, make_customer, calendar, start, holiday
):
    customer = make_customer(name="Holiday Co", csm=csm, holiday_calendar=calendar)
    make_anomaly_of(customer, start_date=start)
    client.force_login(csm)

    card = _card(client.get(reverse("home")).content.decode(), "Holiday Co")
    page = client.get(reverse("customer-detail", args=[customer.pk])).content.decode()

    year = f", {start.year}" if start.year != timezone.localdate().year else ""
    named = f" ({holiday})" if holiday else "</dd>"
    assert f"weeks ago, on {start:%b} {start.day}{year}{named}" in card
    named = f" ({holiday})" if holiday else ""
    assert f"<dd>{start:%b} {start.day}, {start.year}{named} – ongoing</dd>" in page


# The ask box understands the portfolio and ambiguous names (issue 14, item 2).


def test_ask_box_answers_the_portfolio_question_most_severe_first(client, csm, portfolio):
    client.force_login(csm)
    for question in (
        "Are there any usage anomalies for my accounts?",
        "my portfolio",
        "All accounts",
    ):
        content = client.get(reverse("home"), {"customer": question}).content.decode()
        answer = content[content.index('id="answer"') : content.index("Anomalies detected")]
        assert "No account called" not in answer
        assert "Open usage anomalies in your accounts: 3 accounts" in answer
        # Critical DataFlow, then the warning at CloudFirst, then Nexus's info spike.
        assert _positions(answer, "DataFlow Systems", "CloudFirst Inc", "Nexus Corp") == sorted(
            _positions(answer, "DataFlow Systems", "CloudFirst Inc", "Nexus Corp")
        )
        link = reverse("customer-detail", args=[portfolio["dataflow"].pk])
        assert f'<a href="{link}">DataFlow Systems</a>' in answer
        assert "67% drop in API calls" in answer
        assert "Theirs Inc" not in answer


def test_ask_box_offers_the_matches_of_an_ambiguous_name(client, csm, make_customer, portfolio):
    beacons = [
        make_customer(name=f"Beacon {kind}", csm=csm) for kind in ("Labs", "Health", "Retail")
    ]
    client.force_login(csm)
    content = client.get(reverse("home"), {"customer": "Beacon"}).content.decode()
    assert "No account called" not in content
    assert "3 accounts match “Beacon”. Which one?" in content
    for beacon in beacons:
        assert reverse("customer-detail", args=[beacon.pk]) in content
        assert f'href="?customer={beacon.pk}#answer"' in content
    # Following a choice answers for that account.
    chosen = client.get(reverse("home"), {"customer": str(beacons[0].pk)}).content.decode()
    assert "No usage anomalies for Beacon Labs in the last 30 days." in chosen


def test_ask_box_choices_leave_out_another_csms_accounts(
    client, csm, other_csm, make_customer, portfolio
):
    make_customer(name="Beacon Mine", csm=csm)
    theirs = make_customer(name="Beacon Theirs", csm=other_csm)
    client.force_login(csm)
    # One visible match: answered for it, the other CSM's one never mentioned.
    content = client.get(reverse("home"), {"customer": "Beacon"}).content.decode()
    assert "No usage anomalies for Beacon Mine in the last 30 days." in content
    assert "Beacon Theirs" not in content
    assert str(theirs.pk) not in content
    # Asked by its id, another CSM's account reads exactly as a missing one.
    missing = "00000000-0000-0000-0000-000000000000"
    for query in (str(theirs.pk), missing):
        content = client.get(reverse("home"), {"customer": query}).content.decode()
        assert f"No account called {query} in your portfolio." in content


def test_ask_box_single_account_answer_links_to_it(client, csm, portfolio):
    client.force_login(csm)
    content = client.get(reverse("home"), {"customer": "dataflow"}).content.decode()
    link = reverse("customer-detail", args=[portfolio["dataflow"].pk])
    assert f'<a href="{link}" class="account-link">Open DataFlow Systems</a>' in content


def test_staff_ask_the_portfolio_question_of_the_portfolio_they_look_at(client, staff, portfolio):
    client.force_login(staff)
    question = "my accounts"
    everyone = client.get(reverse("home"), {"customer": question}).content.decode()
    assert "Open usage anomalies in your accounts: 4 accounts" in everyone
    bobs = client.get(reverse("home"), {"customer": question, "csm": "bob"}).content.decode()
    answer = bobs[bobs.index('id="answer"') : bobs.index("Anomalies detected")]
    assert "Open usage anomalies in your accounts: 1 account," in answer
    assert "Theirs Inc" in answer
    assert "DataFlow Systems" not in answer
