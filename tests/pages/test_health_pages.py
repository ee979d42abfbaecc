"""The health dashboard on the pages: the customer page's health panel and risk signals, and
the portfolio's health, renewal dates and orders; as the owner, another CSM and staff."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import HealthScoreHistory, RiskSignal
from tests.factories import make_anomaly_of as make_anomaly

pytestmark = pytest.mark.django_db


def _scores(customer, *pairs):
    """(days ago, score) rows for the account."""
    today = timezone.localdate()
    HealthScoreHistory.objects.bulk_create(
        HealthScoreHistory(
            customer=customer,
            date=today - dt.timedelta(days=ago),
            score=score,
            usage_component=score,
        )
        for ago, score in pairs
    )


@pytest.fixture
def accounts(csm, other_csm, make_customer):
    """Three of the CSM's accounts with an open anomaly each, one of another CSM's."""
    today = timezone.localdate()
    low = make_customer(
        name="Low Health", csm=csm, arr=50_000, renewal_date=today + dt.timedelta(days=200)
    )
    big = make_customer(name="Big Account", csm=csm, arr=900_000)  # no renewal date set
    soon = make_customer(
        name="Renews Soon", csm=csm, arr=10_000, renewal_date=today + dt.timedelta(days=20)
    )
    theirs = make_customer(name="Theirs Inc", csm=other_csm, arr=5_000_000)
    drop = make_anomaly(low)  # critical drop: the default order puts it first
    make_anomaly(big, anomaly_type="spike", severity="info", deviation_percent=Decimal("150"))
    make_anomaly(soon, severity="warning", deviation_percent=Decimal("-40"))
    make_anomaly(theirs)
    _scores(low, (30, 80), (0, 41))  # fell 39
    _scores(big, (31, 70), (0, 88))  # rose 18 (vs the latest on or before 30 days ago)
    _scores(soon, (0, 65))  # no score 30 days ago
    _scores(theirs, (0, 10))
    return {"low": low, "big": big, "soon": soon, "theirs": theirs, "drop": drop}


def _names(body: str) -> list[str]:
    return re.findall(r'<section class="card" data-customer="([^"]+)"', body)


def test_cards_show_health_change_arr_and_renewal(client, csm, accounts):
    client.force_login(csm)
    body = client.get(reverse("home")).content.decode()
    assert _names(body) == ["Low Health", "Renews Soon", "Big Account"]  # worst anomaly first
    low = body[body.index('data-customer="Low Health"') :]
    assert 'data-health="41"' in low
    assert '<strong class="zone-watch">41</strong>' in low
    assert '<span class="change-down" title="change in 30 days">▼ 39</span>' in low
    assert "ARR $50,000" in low
    renewal = (timezone.localdate() + dt.timedelta(days=200)).strftime("%b %-d, %Y")
    assert f"Renews {renewal}" in low
    big = body[body.index('data-customer="Big Account"') :]
    assert '<span class="change-up" title="change in 30 days">▲ 18</span>' in big
    assert "Renews" not in big[: big.index("</p>")]
    soon = body[body.index('data-customer="Renews Soon"') :]
    assert 'data-health="65"' in soon and "▼" not in soon[: soon.index("</p>")]
    assert "Theirs Inc" not in body


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("severity", ["Low Health", "Renews Soon", "Big Account"]),
        ("health", ["Low Health", "Renews Soon", "Big Account"]),  # 41, 65, 88
        ("arr", ["Big Account", "Low Health", "Renews Soon"]),  # 900k, 50k, 10k
        ("renewal", ["Renews Soon", "Low Health", "Big Account"]),  # 20 days, 200, none
    ],
)
def test_the_portfolio_sorts(client, csm, accounts, sort, order):
    client.force_login(csm)
    response = client.get(reverse("home"), {"sort": sort})
    assert response.status_code == 200
    body = response.content.decode()
    assert _names(body) == order
    assert f'sort={sort}" aria-current="true"' in body


def test_a_stale_score_shows_no_change(client, csm, accounts):
    HealthScoreHistory.objects.filter(customer=accounts["big"], date=timezone.localdate()).delete()
    client.force_login(csm)
    body = client.get(reverse("home")).content.decode()
    big = body[body.index('data-customer="Big Account"') :]
    facts = big[: big.index("</p>")]
    assert 'data-health="70"' in facts and "in 30 days" not in facts


def test_health_order_puts_the_lowest_first_and_unscored_last(client, csm, accounts):
    HealthScoreHistory.objects.filter(customer=accounts["soon"]).delete()
    HealthScoreHistory.objects.filter(customer=accounts["big"]).update(score=5)
    client.force_login(csm)
    body = client.get(reverse("home"), {"sort": "health"}).content.decode()
    assert _names(body) == ["Big Account", "Low Health", "Renews Soon"]
    assert "No health score yet" in body


@pytest.mark.parametrize("bad", ["name", "HEALTH", "health;drop", "x" * 500])
def test_an_unknown_sort_is_a_clear_400(client, csm, accounts, bad):
    client.force_login(csm)
    response = client.get(reverse("home"), {"sort": bad})
    assert response.status_code == 400
    body = response.content.decode()
    assert "is not an order of this page; choose one of severity, health, arr, renewal." in body
    assert "sort: " in body
    # The page still answers, in the default order.
    assert _names(body) == ["Low Health", "Renews Soon", "Big Account"]


def test_staff_sort_another_csms_portfolio(client, staff, accounts):
    client.force_login(staff)
    body = client.get(reverse("home"), {"sort": "arr", "csm": "alice"}).content.decode()
    assert _names(body) == ["Big Account", "Low Health", "Renews Soon"]
    assert "csm=alice&amp;sort=health" in body  # the order links keep the portfolio
    everyone = client.get(reverse("home"), {"sort": "health"}).content.decode()
    assert _names(everyone)[0] == "Theirs Inc"  # 10


def test_portfolio_queries_do_not_grow_with_cards(
    client, csm, accounts, make_customer, django_assert_max_num_queries
):
    client.force_login(csm)
    with django_assert_max_num_queries(20) as small:
        client.get(reverse("home"), {"sort": "health"})
    for n in range(10):
        customer = make_customer(name=f"More {n}", csm=csm, arr=n)
        make_anomaly(customer)
        _scores(customer, (30, 70), (0, 60))
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get(reverse("home"), {"sort": "health"}).content.decode()
    assert len(_names(body)) == 13


# The customer page.


def _page(customer):
    return reverse("customer-detail", args=[customer.pk])


def test_the_health_panel_shows_score_change_chart_and_what_moves_it(client, csm, accounts):
    low = accounts["low"]
    make_anomaly(
        low,
        metric_type="logins",
        anomaly_type="spike",
        severity="info",
        deviation_percent=Decimal("80"),
    )
    make_anomaly(
        low,
        metric_type="active_users",
        status="dismissed",
        dismiss_reason="expected",
        dismissed_at=timezone.now(),
        dismissed_by=csm,
    )
    client.force_login(csm)
    response = client.get(_page(low))
    assert response.status_code == 200
    body = response.content.decode()
    panel = body[body.index('id="health"') : body.index("</section>", body.index('id="health"'))]
    assert 'data-score="41"' in panel
    assert "Watch" in panel
    assert '<span class="change-down">▼ 39</span> in 30 days (from 80)' in panel
    assert 'class="health-chart"' in panel and "Usage health, last 90 days" in panel
    # The open anomalies, worst first, with their points; the dismissed one is not there.
    moves = re.findall(
        r'<span class="badge flagged">Flagged</span>\s*<a href="#anomaly-[^"]+">([^<]+)</a>'
        r".*?([+-]\d+) points",
        panel,
        re.S,
    )
    assert moves == [("67% drop in API calls", "-25"), ("80% increase in logins", "+5")]
    assert "Open losses cost 25 points, gains add 5." in panel
    assert (
        "Renewal" in body
        and (timezone.localdate() + dt.timedelta(days=200)).strftime("%b %-d, %Y") in body
    )


def test_risk_signals_show_with_their_status(client, csm, accounts):
    low = accounts["low"]
    RiskSignal.objects.create(
        customer=low,
        kind="usage_drop",
        severity="critical",
        title="67% drop in API calls",
        anomaly=accounts["drop"],
    )
    RiskSignal.objects.create(
        customer=low,
        kind="health_decline",
        severity="warning",
        title="Usage health fell 20 points to 60 (from 80 within 30 days)",
        resolved_at=timezone.now(),
    )
    RiskSignal.objects.create(
        customer=accounts["theirs"], kind="other", severity="info", title="Someone else's signal"
    )
    client.force_login(csm)
    body = client.get(_page(low)).content.decode()
    rows = re.findall(r'<tr data-signal="(\w+)">(.*?)</tr>', body, re.S)
    assert [kind for kind, _ in rows] == ["usage_drop", "health_decline"]  # open first
    assert '<span class="signal-open">Open</span>' in rows[0][1]
    assert f'href="#anomaly-{accounts["drop"].pk}"' in rows[0][1]
    assert "Resolved " in rows[1][1] and "Health score decline" in rows[1][1]
    assert "Someone else" not in body


def test_an_account_without_scores_says_so(client, csm, make_customer):
    customer = make_customer(csm=csm)
    client.force_login(csm)
    body = client.get(_page(customer)).content.decode()
    assert "No health score yet: the next scan of this account computes one." in body
    assert "health-chart" not in body
    assert "No risk signals for this account." in body


def test_another_csms_account_is_a_404_and_staff_see_it(client, other_csm, staff, accounts):
    client.force_login(other_csm)
    assert client.get(_page(accounts["low"])).status_code == 404
    client.force_login(staff)
    body = client.get(_page(accounts["low"])).content.decode()
    assert 'data-score="41"' in body


def test_customer_page_queries_do_not_grow_with_history(
    client, csm, accounts, django_assert_max_num_queries
):
    low = accounts["low"]
    client.force_login(csm)
    with django_assert_max_num_queries(30) as few:
        client.get(_page(low))
    _scores(low, *[(ago, 50 + ago % 7) for ago in range(1, 90) if ago != 30])
    for n in range(5):
        make_anomaly(low, metric_type=f"feature:f{n}", severity="warning")
        RiskSignal.objects.create(customer=low, kind="other", severity="info", title=f"s{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = client.get(_page(low)).content.decode()
    assert body.count(">Flagged</span>") == 2 * 6  # in the panel and on each anomaly
