"""Every admin page ops use renders for staff and is closed to CSMs."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

MODELS = [
    "accounts/apitoken",
    "axes/accessattempt",
    "customers/customer",
    "customers/usagemetric",
    "customers/risksignal",
    "customers/healthscorehistory",
    "customers/lifecycleevent",
    "anomalies/usageanomaly",
    "anomalies/detectionsettings",
    "anomalies/scanrun",
    "anomalies/dataqualityevent",
    "notifications/notificationrequest",
    "django_celery_beat/periodictask",
]


@pytest.mark.parametrize("model", MODELS)
def test_changelist_renders_for_staff(client, superuser, make_customer, model):
    make_customer(name="Visible Co")
    client.force_login(superuser)
    app, name = model.split("/")
    response = client.get(reverse(f"admin:{app}_{name}_changelist"))
    assert response.status_code == 200
    if model == "customers/customer":
        assert b"Visible Co" in response.content


def test_csm_cannot_open_admin(client, csm):
    client.force_login(csm)
    response = client.get(reverse("admin:customers_customer_changelist"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_scan_run_page_shows_its_chunks(client, superuser, make_customer):
    from anomalies.services.scans import scan_start

    make_customer(name="Scanned Co")
    run = scan_start(trigger="shell", enqueue=False)
    client.force_login(superuser)
    response = client.get(reverse("admin:anomalies_scanrun_change", args=[run.pk]))
    assert response.status_code == 200
    assert b"0 / 1" in response.content or b"pending" in response.content.lower()


def test_the_customer_list_counts_and_filters_the_unowned_accounts(
    client, superuser, csm, make_customer
):
    make_customer(name="Owned Co", csm=csm)
    make_customer(name="Imported Co", csm=None)
    make_customer(name="Churned Orphan", csm=None, status="churned")
    client.force_login(superuser)
    url = reverse("admin:customers_customer_changelist")

    page = client.get(url).content.decode()
    assert 'data-unowned="1"' in page
    assert "1 account has no owner" in page

    rows = client.get(url, {"owner": "none"}).context["cl"].result_list
    assert [c.name for c in rows] == ["Imported Co"]


def test_no_notice_when_every_account_has_an_owner(client, superuser, csm, make_customer):
    make_customer(name="Owned Co", csm=csm)
    client.force_login(superuser)

    page = client.get(reverse("admin:customers_customer_changelist")).content.decode()

    assert "data-unowned" not in page
