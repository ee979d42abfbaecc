"""The /insights/ page and its CSV: a CSM's own portfolio, staff all or one CSM's; bad query
strings give a message, never a 500."""

import csv
import io

import pytest
from django.urls import reverse

from tests.anomalies.insights_data import WINDOW_DAYS, insights_history

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PERIOD = {"start": "2025-01-01", "end": "2025-02-28"}


@pytest.fixture
def history(settings, csm, other_csm, make_customer):
    settings.ANOMALY_OUTCOME_WINDOW_DAYS = WINDOW_DAYS
    return insights_history(csm=csm, other_csm=other_csm, make_customer=make_customer)


def _page(client, **params):
    response = client.get(reverse("insights"), params)
    assert response.status_code == 200
    return response


def test_a_csm_sees_the_effectiveness_of_their_portfolio(
    client, csm, history, django_assert_max_num_queries
):
    client.force_login(csm)
    # Session and user, then the report (4) and the precision (1).
    with django_assert_max_num_queries(8):
        response = _page(client, **PERIOD)

    html = response.content.decode()
    report = response.context["report"]
    assert report.accounts == 5
    assert [t["label"] for t in response.context["types"]] == ["Drop", "Spike"]
    assert 'data-type="drop" data-severity="critical" data-family="api_calls"' in html
    assert "All features" in html  # feature:* reads as a family
    assert html.count('class="insights-chart"') == 2  # one chart per type
    assert 'id="small-note"' in html
    assert 'class="small"' in html  # every row here is too small to mean anything
    assert "2.0×" in html  # the critical API drops' lift
    assert 'href="/insights/tuning/"' not in html  # staff decide tuning proposals (403)
    assert 'id="q-csm"' not in html  # a CSM has no portfolio chooser
    assert response.context["precision"][0]["series"].label == "Drop"
    assert "<svg" in str(response.context["precision"][0]["sparkline"])


def test_staff_see_everyone_and_choose_a_portfolio(client, staff, csm, other_csm, history):
    client.force_login(staff)
    everyone = _page(client, **PERIOD)
    assert everyone.context["report"].accounts == 6
    assert b'id="q-csm"' in everyone.content
    bobs = _page(client, csm=other_csm.pk, **PERIOD)
    assert bobs.context["report"].accounts == 1
    assert [r.count for r in bobs.context["report"].rows] == [1]


def test_precision_grouping_is_chosen_on_the_page(client, staff, history):
    client.force_login(staff)
    response = _page(client, by="csm", **PERIOD)
    assert [p["series"].label for p in response.context["precision"]] == [
        "Alice Owner",
        "Bob Other",
    ]


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("insights"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert client.get(reverse("insights-effectiveness-csv")).status_code == 302


@pytest.mark.parametrize(
    "params, field",
    [
        ({"start": "soon"}, "start"),
        ({"start": "2025-03-01", "end": "2025-01-01"}, "end"),
        ({"end": "9999-12-31"}, "end"),
        ({"by": "colour"}, "by"),
        ({"csm": "not-a-number"}, "csm"),
    ],
)
def test_bad_query_strings_give_a_message(client, csm, other_csm, params, field):
    client.force_login(csm)
    response = _page(client, **params)
    assert field in response.context["errors"]
    assert b'id="query-errors"' in response.content
    assert "report" not in response.context
    csv_response = client.get(reverse("insights-effectiveness-csv"), params)
    assert csv_response.status_code == 400
    assert field in csv_response.content.decode()


def test_a_csm_cannot_choose_another_csms_portfolio(client, csm, other_csm, history):
    client.force_login(csm)
    response = _page(client, csm=other_csm.pk, **PERIOD)
    assert "csm" in response.context["errors"]
    assert b"Bob" not in response.content


def test_the_default_page_renders_without_data(client, csm):
    client.force_login(csm)
    response = _page(client)
    assert b"No anomalies started in this period." in response.content


def test_the_csv_holds_the_effectiveness_table(client, csm, history):
    client.force_login(csm)
    response = client.get(reverse("insights-effectiveness-csv"), PERIOD)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "effectiveness_2025-01-01_2025-02-28.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["anomaly_type"], r["severity"], r["metric_family"]) for r in rows] == [
        ("drop", "critical", "api_calls"),
        ("drop", "warning", "logins"),
        ("spike", "info", "feature:*"),
    ]
    critical = rows[0]
    assert critical["anomalies"] == "4" and critical["accounts"] == "3"
    assert critical["dismissed_false_positive"] == "1"
    assert critical["dismissed_data_issue"] == "1"
    assert critical["churn_or_contraction_events"] == "2"
    assert critical["churn_or_contraction_rate"] == "0.5000"
    assert critical["churn_or_contraction_base_events"] == "1"
    assert critical["churn_or_contraction_base_cases"] == "4"
    assert critical["churn_or_contraction_base_rate"] == "0.2500"
    assert critical["churn_or_contraction_lift"] == "2.000"
    assert critical["expansion_lift"] == "0.000"
    assert critical["expansion_lift_low"] == ""
    assert critical["small_sample"] == "yes"
    assert rows[2]["expansion_lift"] == ""  # no base events


def test_the_nav_links_to_insights(client, csm):
    client.force_login(csm)
    response = client.get(reverse("home"))
    assert f'href="{reverse("insights")}"'.encode() in response.content
