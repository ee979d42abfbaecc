"""The ops admin: finding anomalies, dismissing them in bulk, and the computed read-only
fields on the anomaly and customer pages."""

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from anomalies.models import AnomalyAction, UsageAnomaly
from customers.models import UsageMetric

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:anomalies_usageanomaly_changelist")


@pytest.fixture
def portfolio(make_customer, make_anomaly, csm, other_csm):
    mine = make_customer(name="Alice Account", external_id="ext-alice", csm=csm)
    theirs = make_customer(name="Bob Account", external_id="ext-bob", csm=other_csm)
    return {
        "critical": make_anomaly(mine, start_date=dt.date(2025, 5, 1)),
        "spike": make_anomaly(
            mine, metric_type="logins", positive=True, severity="warning", deviation_percent=150
        ),
        "theirs": make_anomaly(theirs, severity="info"),
    }


def listed(response) -> set:
    return {str(a.pk) for a in response.context["cl"].result_list}


def test_changelist_filters_by_csm_and_severity(client, superuser, portfolio, csm):
    client.force_login(superuser)
    response = client.get(CHANGELIST, {"customer__csm__id__exact": csm.pk})
    assert response.status_code == 200
    assert listed(response) == {str(portfolio["critical"].pk), str(portfolio["spike"].pk)}
    assert b"By csm" in response.content or b"By CSM" in response.content

    response = client.get(CHANGELIST, {"severity__exact": "critical"})
    assert listed(response) == {str(portfolio["critical"].pk)}
    assert b"CRITICAL" in response.content


def test_changelist_search_by_customer_name_and_external_id(client, superuser, portfolio):
    client.force_login(superuser)
    assert listed(client.get(CHANGELIST, {"q": "Bob Acc"})) == {str(portfolio["theirs"].pk)}
    assert listed(client.get(CHANGELIST, {"q": "ext-alice"})) == {
        str(portfolio["critical"].pk),
        str(portfolio["spike"].pk),
    }


def test_bulk_dismiss_asks_for_a_reason_then_dismisses(client, superuser, portfolio):
    client.force_login(superuser)
    selected = [str(portfolio["critical"].pk), str(portfolio["theirs"].pk)]
    action = {"action": "bulk_dismiss", ACTION_CHECKBOX_NAME: selected}

    response = client.post(CHANGELIST, action)
    assert response.status_code == 200
    assert b"Dismiss these 2 anomalies" in response.content
    assert not UsageAnomaly.objects.filter(status="dismissed").exists()

    response = client.post(
        CHANGELIST,
        {**action, "apply": "1", "reason": "false_positive", "note": "noisy metric"},
        follow=True,
    )
    assert b"Dismissed 2 anomalies." in response.content
    dismissed = UsageAnomaly.objects.filter(status="dismissed")
    assert {str(a.pk) for a in dismissed} == set(selected)
    for anomaly in dismissed:
        assert anomaly.dismiss_reason == "false_positive"
        assert anomaly.dismiss_note == "noisy metric"
        assert anomaly.dismissed_by == superuser
    actions = AnomalyAction.objects.filter(kind="dismiss")
    assert {str(a.anomaly_id) for a in actions} == set(selected)
    assert {a.user for a in actions} == {superuser}
    assert UsageAnomaly.objects.get(pk=portfolio["spike"].pk).status == "open"


def test_bulk_dismiss_skips_already_dismissed(client, superuser, portfolio):
    client.force_login(superuser)
    action = {"action": "bulk_dismiss", ACTION_CHECKBOX_NAME: [str(portfolio["spike"].pk)]}
    form = {**action, "apply": "1", "reason": "new_normal"}
    client.post(CHANGELIST, form)
    response = client.post(CHANGELIST, form, follow=True)
    assert b"Dismissed 0 anomalies." in response.content
    assert AnomalyAction.objects.filter(kind="dismiss").count() == 1


def test_bulk_dismiss_rejects_until_without_expected(client, superuser, portfolio):
    client.force_login(superuser)
    response = client.post(
        CHANGELIST,
        {
            "action": "bulk_dismiss",
            ACTION_CHECKBOX_NAME: [str(portfolio["critical"].pk)],
            "apply": "1",
            "reason": "false_positive",
            "until": "2030-01-01",
        },
    )
    assert response.status_code == 200
    assert b"Only an &#x27;expected&#x27; dismissal" in response.content
    assert not UsageAnomaly.objects.filter(status="dismissed").exists()


def test_csm_cannot_reach_admin(client, csm, portfolio):
    client.force_login(csm)
    for url in (
        CHANGELIST,
        reverse("admin:anomalies_usageanomaly_change", args=[portfolio["critical"].pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "login" in response["Location"]
    response = client.post(
        CHANGELIST,
        {
            "action": "bulk_dismiss",
            ACTION_CHECKBOX_NAME: [str(portfolio["critical"].pk)],
            "apply": "1",
            "reason": "false_positive",
        },
    )
    assert response.status_code == 302
    assert not UsageAnomaly.objects.filter(status="dismissed").exists()


def test_anomaly_page_shows_computed_fields_and_actions(client, superuser, portfolio, csm):
    from anomalies.services.anomalies import anomaly_action_record

    anomaly = portfolio["critical"]
    anomaly_action_record(anomaly=anomaly, user=csm, kind="contact_customer", note="called Ann")
    client.force_login(superuser)
    response = client.get(reverse("admin:anomalies_usageanomaly_change", args=[anomaly.pk]))
    assert response.status_code == 200
    assert b"67% drop in API calls" in response.content
    assert b"ongoing since 2025-05-01" in response.content
    assert b"Contact customer" in response.content
    assert b"called Ann" in response.content


def test_customer_page_shows_usage_summary_and_anomalies(
    client, superuser, make_customer, make_anomaly
):
    customer = make_customer(name="Summed Co")
    UsageMetric.objects.bulk_create(
        [
            UsageMetric(customer=customer, metric="api_calls", date=dt.date(2025, 5, d), value=1)
            for d in range(1, 4)
        ]
        + [UsageMetric(customer=customer, metric="logins", date=dt.date(2025, 4, 9), value=1)]
    )
    make_anomaly(customer, metric_type="logins", severity="critical")
    client.force_login(superuser)
    response = client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "<td>api_calls</td><td>3</td><td>2025-05-03</td>" in text
    assert "<td>logins</td><td>1</td><td>2025-04-09</td>" in text
    assert "anomalies (latest 20)" in text.lower()
    assert "Critical" in text


def test_customer_page_lists_only_the_latest_anomalies(
    client, superuser, make_customer, make_anomaly
):
    customer = make_customer(name="Busy Co")
    for i in range(25):
        make_anomaly(
            customer,
            status="resolved",
            start_date=dt.date(2025, 1, 1) + dt.timedelta(days=i),
            end_date=dt.date(2025, 1, 1) + dt.timedelta(days=i),
            detected_at=timezone.now() - dt.timedelta(days=30 - i),
        )
    client.force_login(superuser)
    response = client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert response.status_code == 200
    (formset,) = [
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is UsageAnomaly
    ]
    assert len(formset.forms) == 20


@pytest.mark.parametrize("model", ["customers/customer"])
def test_add_pages_render(client, superuser, model):
    client.force_login(superuser)
    app, name = model.split("/")
    assert client.get(reverse(f"admin:{app}_{name}_add")).status_code == 200


def test_admin_refuses_usage_out_of_bounds_naming_the_field(client, superuser, make_customer):
    customer = make_customer()
    client.force_login(superuser)
    url = reverse("admin:customers_usagemetric_add")
    form = {"customer": customer.pk, "metric": "logins", "date": "2024-03-01", "value": "1e15"}
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, with its errors
    assert "USAGE_VALUE_MAX" in response.context["adminform"].form.errors["value"][0]
    response = client.post(url, form | {"value": "5", "date": "0001-01-05"})
    assert "before 2000-01-01" in response.context["adminform"].form.errors["date"][0]
    assert not UsageMetric.objects.exists()
    response = client.post(url, form | {"value": "5"})
    assert response.status_code == 302
    assert UsageMetric.objects.get().value == 5


def test_the_admin_refuses_a_note_over_the_limit(client, superuser):
    from anomalies.models import DataQualityEvent

    client.force_login(superuser)
    form = {"kind": "data_issue", "start_date": "2025-05-01", "end_date": "2025-05-02"}
    url = reverse("admin:anomalies_dataqualityevent_add")

    response = client.post(url, {**form, "note": "x" * 2001})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "note": ["Ensure this value has at most 2000 characters (it has 2001)."]
    }
    assert not DataQualityEvent.objects.exists()
    assert client.post(url, {**form, "note": "x" * 2000}).status_code == 302
    assert DataQualityEvent.objects.get().note == "x" * 2000


def test_customer_changelist_filters_by_region_and_segment(client, superuser, make_customer):
    munich = make_customer(name="Munich Co", region="emea", segment="smb", holiday_calendar="DE-BY")
    make_customer(name="Leeds Co", region="emea", segment="enterprise", holiday_calendar="GB")
    make_customer(name="Austin Co", region="us-central", segment="smb")
    client.force_login(superuser)
    url = reverse("admin:customers_customer_changelist")

    def names(**query):
        response = client.get(url, query)
        assert response.status_code == 200
        return sorted(c.name for c in response.context["cl"].result_list)

    assert names(region="emea") == ["Leeds Co", "Munich Co"]
    assert names(segment="smb") == ["Austin Co", "Munich Co"]
    assert names(region="emea", segment="smb") == ["Munich Co"]
    assert names(holiday_calendar="DE-BY") == ["Munich Co"]
    page = client.get(url).content.decode()
    # The columns, and a filter per cohort dimension with the values in use.
    assert "DE-BY" in page and "us-central" in page
    assert "By region" in page and "By segment" in page
    assert munich.region in page


def _customer_form(customer, **changes) -> dict:
    form = {
        "name": customer.name,
        "external_id": customer.external_id,
        "csm": "",
        "tier": customer.tier,
        "arr": str(customer.arr),
        "contact_email": "",
        "holiday_calendar": customer.holiday_calendar,
        "region": customer.region,
        "segment": customer.segment,
        "status": customer.status,
        "status_changed_on": "",
        # The read-only anomalies inline still posts its (empty) management form, and so
        # does the lifecycle changes inline.
        "anomalies-TOTAL_FORMS": "0",
        "anomalies-INITIAL_FORMS": "0",
        "lifecycle_events-TOTAL_FORMS": "0",
        "lifecycle_events-INITIAL_FORMS": "0",
    }
    return form | changes


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("holiday_calendar", "XX", "not a country the holidays package knows"),
        ("holiday_calendar", "gb", "codes are upper case: GB"),
        ("holiday_calendar", "DE-ZZ", "no subdivision 'ZZ' of DE"),
        ("region", "emea|apac", '"|"'),
        ("segment", "smb|retail", '"|"'),
    ],
)
def test_the_customer_admin_refuses_a_bad_calendar_or_cohort_naming_the_field(
    client, superuser, make_customer, field, value, message
):
    customer = make_customer(name="Checked Co")
    client.force_login(superuser)
    url = reverse("admin:customers_customer_change", args=[customer.pk])

    response = client.post(url, _customer_form(customer, **{field: value}))

    assert response.status_code == 200  # the form again, with its errors
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    customer.refresh_from_db()
    assert getattr(customer, field) == ""


def test_the_customer_admin_sets_calendar_region_and_segment(client, superuser, make_customer):
    customer = make_customer(name="Set Co")
    client.force_login(superuser)
    url = reverse("admin:customers_customer_change", args=[customer.pk])

    response = client.post(
        url, _customer_form(customer, holiday_calendar="DE-BY", region="emea", segment="smb")
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert (customer.holiday_calendar, customer.region, customer.segment) == (
        "DE-BY",
        "emea",
        "smb",
    )
