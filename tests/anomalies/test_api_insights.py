"""GET /api/analytics/effectiveness and /api/analytics/precision: a CSM's own portfolio,
staff all or one CSM's, bad parameters a 400 naming the field."""

import pytest

from tests.anomalies.insights_data import WINDOW_DAYS, insights_history

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EFFECTIVENESS = "/api/analytics/effectiveness"
PRECISION = "/api/analytics/precision"
PERIOD = {"start": "2025-01-01", "end": "2025-02-28"}


@pytest.fixture
def history(settings, csm, other_csm, make_customer):
    settings.ANOMALY_OUTCOME_WINDOW_DAYS = WINDOW_DAYS
    return insights_history(csm=csm, other_csm=other_csm, make_customer=make_customer)


def _get(api, url, **params):
    response = api.get(url, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_csm_gets_the_effectiveness_of_their_own_portfolio(history, csm_api):
    body = _get(csm_api, EFFECTIVENESS, **PERIOD)

    assert (body["start"], body["end"], body["window_days"]) == ("2025-01-01", "2025-02-28", 30)
    assert (body["accounts"], body["min_anomalies"], body["min_events"]) == (5, 20, 5)
    critical = body["rows"][0]
    assert (critical["anomaly_type"], critical["severity"], critical["family"]) == (
        "drop",
        "critical",
        "api_calls",
    )
    assert (critical["count"], critical["accounts"]) == (4, 3)
    assert critical["dismissed"]["false_positive"] == {"count": 1, "share": 0.25}
    assert critical["dismissed"]["data_issue"] == {"count": 1, "share": 0.25}
    loss = critical["churn_or_contraction"]
    assert (loss["rate"]["events"], loss["rate"]["total"], loss["rate"]["value"]) == (2, 4, 0.5)
    assert (loss["base_rate"]["events"], loss["base_rate"]["total"]) == (1, 4)
    assert loss["lift"]["value"] == pytest.approx(2.0)
    assert loss["lift"]["small_sample"] is True
    assert 0 < loss["lift"]["low"] < 2.0 < loss["lift"]["high"]
    spikes = body["rows"][2]
    assert spikes["expansion"]["lift"]["value"] is None  # no base events to divide by
    assert critical["small_sample"] is True


def test_staff_see_everyone_or_filter_by_csm(history, staff_api, csm, other_csm):
    everyone = _get(staff_api, EFFECTIVENESS, **PERIOD)
    assert everyone["accounts"] == 6
    assert everyone["rows"][0]["count"] == 5

    bobs = _get(staff_api, EFFECTIVENESS, csm=other_csm.pk, **PERIOD)
    assert bobs["accounts"] == 1
    assert [(r["anomaly_type"], r["count"]) for r in bobs["rows"]] == [("drop", 1)]


def test_a_csm_cannot_ask_for_another_csms_portfolio(history, csm_api, csm, other_csm):
    response = csm_api.get(EFFECTIVENESS, {"csm": other_csm.pk, **PERIOD})
    assert response.status_code == 400
    assert "csm" in response.json()
    # Their own id is fine.
    assert _get(csm_api, EFFECTIVENESS, csm=csm.pk, **PERIOD)["accounts"] == 5


def test_another_csm_sees_none_of_alices_anomalies(history, other_api):
    body = _get(other_api, EFFECTIVENESS, **PERIOD)
    assert body["accounts"] == 1
    assert sum(r["count"] for r in body["rows"]) == 1
    precision = _get(other_api, PRECISION, by="csm", **PERIOD)
    assert [(s["label"], s["overall"]["total"]) for s in precision["series"]] == [("Bob Other", 1)]


@pytest.mark.parametrize("url", [EFFECTIVENESS, PRECISION])
def test_anonymous_callers_are_refused(anon_api, url):
    assert anon_api.get(url).status_code == 401


@pytest.mark.parametrize(
    "params, field",
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2025-02-30"}, "end"),
        ({"start": "2025-03-01", "end": "2025-02-01"}, "end"),
        ({"start": "1999-12-31", "end": "2000-01-31"}, "start"),
        ({"end": "9999-12-31"}, "end"),
        ({"start": "2001-01-01", "end": "2010-01-01"}, "start"),  # over five years
        ({"csm": "abc"}, "csm"),
        ({"csm": "99999999999999999999"}, "csm"),
        ({"by": "colour"}, "by"),
        ({"period": "month"}, "period"),
    ],
)
@pytest.mark.parametrize("url", [EFFECTIVENESS, PRECISION])
def test_bad_parameters_are_a_400_naming_the_field(csm_api, url, params, field):
    response = csm_api.get(url, params)
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_the_default_period_is_a_year_ending_one_window_ago(csm_api, settings):
    import datetime as dt

    from django.utils import timezone

    settings.ANOMALY_OUTCOME_WINDOW_DAYS = 90
    body = _get(csm_api, EFFECTIVENESS)
    end = timezone.localdate() - dt.timedelta(days=90)
    assert body["end"] == end.isoformat()
    assert body["start"] == (end - dt.timedelta(days=364)).isoformat()
    assert body["window_complete"] is True
    assert body["rows"] == []


def test_weekly_precision_by_type(history, csm_api):
    body = _get(csm_api, PRECISION, by="type", period="week", **PERIOD)

    assert (body["by"], body["period"]) == ("type", "week")
    drop, spike = body["series"]
    assert (drop["key"], drop["label"]) == ("drop", "Drop")
    overall = drop["overall"]
    assert (overall["total"], overall["judged"], overall["mattered"]) == (5, 5, 2)
    assert overall["dismissed"] == {
        "false_positive": 1,
        "expected": 0,
        "new_normal": 1,
        "data_issue": 1,
    }
    assert overall["precision"]["value"] == pytest.approx(0.8)
    assert len(drop["weeks"]) == 9
    assert drop["weeks"][3]["week"] == "2025-01-20"
    assert drop["weeks"][3]["precision"]["value"] == 0.0
    assert spike["overall"]["judged"] == 1


def test_precision_by_csm_for_staff(history, staff_api, csm, other_csm):
    body = _get(staff_api, PRECISION, by="csm", **PERIOD)
    assert [(s["label"], s["overall"]["total"]) for s in body["series"]] == [
        ("Alice Owner", 7),
        ("Bob Other", 1),
    ]


def test_precision_by_sensitivity(history, csm_api):
    body = _get(csm_api, PRECISION, by="sensitivity", **PERIOD)
    assert [(s["key"], s["overall"]["total"]) for s in body["series"]] == [
        ("medium", 5),
        ("high", 2),
    ]
