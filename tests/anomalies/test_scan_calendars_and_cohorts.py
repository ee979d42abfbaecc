"""What a scan makes of an account's own calendar and cohorts, end to end on stored usage: a
dip on the account's public holiday is no anomaly, a fall its whole region shares is one
cohort event for ops, a slow slide is a gradual decline with where it is heading, and a drop
that begins on a holiday is reported from the holiday."""

import datetime as dt

import numpy as np
import pytest
from django.urls import reverse

from anomalies.models import DataQualityEvent, UsageAnomaly

from .scan_data import N_DAYS, day, index_of, scaled, scan, usage, usage_store

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _anomalies(customer):
    return list(UsageAnomaly.objects.filter(customer=customer).order_by("start_date"))


# --- the account's own public holidays ----------------------------------------------------

# Corpus Christi 2026 (a Thursday) is a public holiday in Bavaria, not in all of Germany and
# not in the US; the Friday after it is a bridge day. (In 2025 it fell on Juneteenth.)
CORPUS_CHRISTI = dt.date(2026, 6, 4)
BRIDGE_DAY = CORPUS_CHRISTI + dt.timedelta(days=1)


def test_a_dip_on_the_accounts_own_holiday_is_no_anomaly(make_customer, csm):
    dip = [index_of(CORPUS_CHRISTI), index_of(BRIDGE_DAY)]
    values = scaled(usage(index_of(BRIDGE_DAY) + 1, seed=11), dip, 0.35)
    bavarian = make_customer(name="Munich Metrics", csm=csm, holiday_calendar="DE-BY")
    american = make_customer(name="Austin Analytics", csm=csm, holiday_calendar="US")
    # The same days, value for value: only the calendar tells them apart.
    usage_store(bavarian, "api_calls", values)
    usage_store(american, "api_calls", values)

    scan(as_of=BRIDGE_DAY)

    assert _anomalies(bavarian) == []
    [drop] = _anomalies(american)
    assert (drop.anomaly_type, drop.direction, drop.start_date) == (
        "drop",
        "negative",
        CORPUS_CHRISTI,
    )
    assert float(drop.deviation_percent) < -50


# --- a region that falls together ---------------------------------------------------------

EMEA_FALL = slice(176, None)  # days 176..179 (AS_OF): the whole region, from one day
LONE_FALL = slice(174, None)  # days 174..179: one account on its own, from another day


@pytest.fixture
def regions(make_customer, csm):
    """Five EMEA accounts that fall 65 % together, one US-East account that falls alone two
    days earlier, and steady accounts in three regions: enough that the EMEA fall is a sixth
    of the portfolio, a cohort's move and not a portfolio-wide outage."""
    emea = []
    for n in range(5):
        customer = make_customer(name=f"EMEA {n}", csm=csm, region="emea", segment="smb")
        usage_store(customer, "api_calls", scaled(usage(seed=100 + n), EMEA_FALL, 0.35))
        emea.append(customer)
    lone = make_customer(name="Lone Star", csm=csm, region="us-east", segment="smb")
    usage_store(lone, "api_calls", scaled(usage(seed=200), LONE_FALL, 0.35))
    steady = []
    for n, region in enumerate(["us-east"] * 8 + ["us-west"] * 8 + ["apac"] * 8):
        customer = make_customer(name=f"Steady {n}", csm=csm, region=region, segment="mid-market")
        usage_store(customer, "api_calls", usage(seed=300 + n))
        steady.append(customer)
    return {"emea": emea, "lone": lone, "steady": steady}


def test_a_fall_the_whole_region_shares_is_one_cohort_event(regions, admin_client):
    scan()

    for customer in regions["emea"]:
        assert _anomalies(customer) == [], customer.name
    [event] = DataQualityEvent.objects.filter(kind="cohort_move")
    assert event.start_date == day(176)
    assert "region:emea" in event.metric
    assert "region:emea" in event.note
    for customer in regions["emea"]:
        assert customer.name in event.note
    assert regions["lone"].name not in event.note
    assert not DataQualityEvent.objects.filter(kind="portfolio_outage").exists()
    # The account that fell on its own is the customer's news.
    [drop] = _anomalies(regions["lone"])
    assert (drop.anomaly_type, drop.start_date) == ("drop", day(174))
    assert UsageAnomaly.objects.count() == 1
    # Ops see it in admin's data-quality list, filtered by kind, with its note.
    response = admin_client.get(
        reverse("admin:anomalies_dataqualityevent_changelist"), {"kind__exact": "cohort_move"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "region:emea" in page
    for customer in regions["emea"]:
        assert customer.name in page


# --- a slow slide -------------------------------------------------------------------------

SLIDE_DAYS = 42  # six weeks, ending on AS_OF
SLIDE_TO = 0.4  # of the level before it


def test_a_slow_slide_is_a_gradual_decline_with_its_projected_level(client, make_customer, csm):
    customer = make_customer(name="Slow Fade", csm=csm)
    values = usage(seed=21)
    # Log-linear: the same share lost every day, down to 40 % after six weeks.
    values[-SLIDE_DAYS:] *= SLIDE_TO ** (np.arange(1, SLIDE_DAYS + 1) / SLIDE_DAYS)
    usage_store(customer, "api_calls", values)

    scan()

    [decline] = _anomalies(customer)
    assert (decline.anomaly_type, decline.direction, decline.status) == (
        "gradual_decline",
        "negative",
        "open",
    )
    assert day(N_DAYS - SLIDE_DAYS - 2) <= decline.start_date <= day(N_DAYS - SLIDE_DAYS + 7)
    assert decline.actual_value < decline.baseline_value
    assert decline.projected_value is not None
    assert 0 < decline.projected_value < decline.actual_value
    down = round(-float(decline.deviation_percent))
    projected = f"{float(decline.projected_value):,.0f}"

    # The customer page's card, the portfolio's card and the API all tell it.
    client.force_login(csm)
    page = client.get(reverse("customer-detail", args=[customer.pk])).content.decode()
    assert f"Gradual decline in API calls: down {down}% so far" in page
    assert f"<dt>At this pace</dt><dd>about {projected}/day in 4 weeks</dd>" in page
    portfolio = client.get(reverse("home")).content.decode()
    assert f"Gradual decline in API calls: down {down}% so far" in portfolio
    assert f"<dt>At this pace</dt><dd>about {projected}/day in 4 weeks</dd>" in portfolio
    detail = client.get(f"/api/analytics/anomalies/{decline.pk}").json()
    assert detail["anomaly_type"] == "gradual_decline"
    assert detail["projected_value"] == pytest.approx(float(decline.projected_value))
    assert detail["projected_value"] < detail["actual_value"]
    assert detail["summary"] == f"Gradual decline in API calls: down {down}% so far"
    answer = client.get("/api/analytics/anomalies/summary", {"customer": "Slow Fade"}).json()
    assert f"at this pace about {projected}/day in 4 weeks" in answer["text"]


# --- a drop that begins on a holiday ------------------------------------------------------

THANKSGIVING = dt.date(2025, 11, 27)
# Thanksgiving, the Friday after it (a bridge day), the weekend and Monday: DataFlow's story.
DROP_DAYS = 5
LAST_LOW = THANKSGIVING + dt.timedelta(days=DROP_DAYS - 1)


def test_a_drop_that_begins_on_thanksgiving_is_reported_from_thanksgiving(
    client, make_customer, csm
):
    customer = make_customer(name="Turkey Trot", csm=csm, holiday_calendar="US")
    # Two more (recovered) days after the drop, stored later.
    values = usage(index_of(LAST_LOW) + 3, seed=31)
    values[index_of(THANKSGIVING) : index_of(LAST_LOW) + 1] /= 3
    usage_store(customer, "api_calls", values[: index_of(LAST_LOW) + 1])

    scan(as_of=LAST_LOW)

    [drop] = _anomalies(customer)
    assert (drop.anomaly_type, drop.severity, drop.status) == ("drop", "critical", "open")
    assert (drop.start_date, drop.end_date) == (THANKSGIVING, None)
    assert float(drop.deviation_percent) == pytest.approx(-66.7, abs=5)

    # Usage recovers: the drop is over, Thanksgiving to Monday, five days in all.
    usage_store(customer, "api_calls", values[-2:], first_index=index_of(LAST_LOW) + 1)
    scan(as_of=LAST_LOW + dt.timedelta(days=2))

    [drop] = _anomalies(customer)
    assert (drop.start_date, drop.end_date, drop.status) == (THANKSGIVING, LAST_LOW, "resolved")
    client.force_login(csm)
    row = client.get(f"/api/analytics/anomalies/{drop.pk}").json()
    assert (row["start_date"], row["end_date"], row["duration_days"]) == (
        "2025-11-27",
        "2025-12-01",
        DROP_DAYS,
    )
