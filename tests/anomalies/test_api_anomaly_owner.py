"""The portfolio list reads a CSM's anomalies by the anomaly's own copy of its account's CSM
(UsageAnomaly.csm, kept by database triggers). These tests hold that copy to the account
whatever writes either: the factories and the scan's bulk writes, a stale instance saved
whole, the importer, the admin, a user's deletion. A CSM's list must follow an account the
moment it changes hands, and never show one that is no longer theirs."""

import datetime as dt
import importlib

import pytest
from django.db import connection
from django.urls import reverse

from anomalies.filters import DEFAULT_SORT, SORTS
from anomalies.models import AnomalyAction, UsageAnomaly
from customers import ingest
from customers.models import Customer
from customers.services import usage_ingest
from tests.api_clients import result_ids

from .scan_data import N_DAYS, scaled, scan, usage, usage_store

pytestmark = pytest.mark.django_db

LIST = "/api/analytics/anomalies"


def owners() -> dict:
    """{anomaly id: its stored csm id}, read back from the database."""
    return dict(UsageAnomaly.objects.values_list("pk", "csm_id"))


def test_an_anomaly_takes_its_accounts_csm_on_insert(mine, theirs, make_anomaly, csm, other_csm):
    a, b = make_anomaly(mine), make_anomaly(theirs)

    assert owners() == {a.pk: csm.pk, b.pk: other_csm.pk}


def test_saving_a_stale_instance_cannot_put_an_old_owner_back(
    mine, make_anomaly, csm, other_csm, csm_api, other_api
):
    anomaly = make_anomaly(mine)
    stale = UsageAnomaly.objects.get(pk=anomaly.pk)  # csm_id == alice in memory
    Customer.objects.filter(pk=mine.pk).update(csm=other_csm)

    # A full save writes every column, csm_id=alice included: the database keeps bob.
    stale.score = 9.5
    stale.save()

    assert owners() == {anomaly.pk: other_csm.pk}
    assert result_ids(csm_api.get(LIST)) == []
    assert result_ids(other_api.get(LIST)) == [str(anomaly.pk)]


def test_an_account_moving_to_another_csm_moves_its_anomalies_at_once(
    mine, theirs, make_anomaly, csm, other_csm, csm_api, other_api
):
    moved = [make_anomaly(mine), make_anomaly(mine, metric_type="logins")]
    kept = make_anomaly(theirs)
    assert sorted(result_ids(csm_api.get(LIST))) == sorted(str(a.pk) for a in moved)

    mine.csm = other_csm
    mine.save()

    assert result_ids(csm_api.get(LIST)) == []
    assert csm_api.get(LIST).json()["count"] == 0
    assert sorted(result_ids(other_api.get(LIST))) == sorted(str(a.pk) for a in [*moved, kept])
    # The other CSM's detail and the old owner's 404 follow the same owner.
    assert csm_api.get(f"{LIST}/{moved[0].pk}").status_code == 404
    assert other_api.get(f"{LIST}/{moved[0].pk}").status_code == 200


def test_the_importer_assigning_an_unowned_account_hands_over_its_anomalies(
    make_customer, make_anomaly, csm, csm_api, staff_api
):
    orphan = make_customer(external_id="orphan-1", csm=None)
    anomaly = make_anomaly(orphan)
    # Unowned: nobody's portfolio but staff's.
    assert result_ids(csm_api.get(LIST)) == []
    assert result_ids(staff_api.get(LIST)) == [str(anomaly.pk)]

    batch = ingest.read_csv(b"customer_external_id,metric,date,value\norphan-1,logins,2024-03-01,1")
    result = usage_ingest(batch=batch, csm=csm.username)

    assert result.csm_assigned == 1
    assert result_ids(csm_api.get(LIST)) == [str(anomaly.pk)]


def test_reassigning_an_account_in_the_admin_moves_its_anomalies(
    client, superuser, mine, make_anomaly, csm, other_csm, csm_api, other_api
):
    anomaly = make_anomaly(mine)
    client.force_login(superuser)
    url = reverse("admin:customers_customer_change", args=[mine.pk])

    response = client.post(url, {**_admin_form_data(client.get(url)), "csm": other_csm.pk})

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Customer.objects.get(pk=mine.pk).csm == other_csm
    assert result_ids(csm_api.get(LIST)) == []
    assert result_ids(other_api.get(LIST)) == [str(anomaly.pk)]


def test_deleting_a_csm_leaves_their_anomalies_to_staff_only(
    mine, make_anomaly, csm, other_api, staff_api
):
    anomaly = make_anomaly(mine)

    csm.delete()

    assert owners() == {anomaly.pk: None}
    assert result_ids(other_api.get(LIST)) == []
    assert result_ids(staff_api.get(LIST)) == [str(anomaly.pk)]


def test_a_scans_bulk_writes_set_the_owner(make_customer, csm, other_csm):
    mine = make_customer(csm=csm)
    theirs = make_customer(csm=other_csm)
    drop = slice(174, 180)
    for k, customer in enumerate((mine, theirs)):
        usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=1 + k), drop, 0.35))
    for k in range(8):  # accounts carrying on as usual: drops, not a portfolio outage
        usage_store(make_customer(csm=csm), "api_calls", usage(N_DAYS, seed=500 + k))

    scan()

    found = UsageAnomaly.objects.filter(customer__in=[mine, theirs]).values_list(
        "customer__csm_id", "csm_id"
    )
    assert {owner for owner, _ in found} == {csm.pk, other_csm.pk}
    assert all(owner == copy for owner, copy in found)


def test_the_list_costs_the_same_queries_whatever_the_page_holds(
    make_customer, make_anomaly, csm, other_csm, api_for, django_assert_num_queries
):
    def portfolio(user, accounts: int, actions: int) -> None:
        for _ in range(accounts):
            customer = make_customer(csm=user)
            for anomaly in (make_anomaly(customer), make_anomaly(customer, resolved=True)):
                AnomalyAction.objects.bulk_create(
                    AnomalyAction(anomaly=anomaly, user=user, kind="contact_customer")
                    for _ in range(actions)
                )

    api = api_for(csm)
    portfolio(csm, accounts=2, actions=1)
    with django_assert_num_queries(3) as small:  # count, page, the page's actions
        assert len(result_ids(api.get(LIST, {"page_size": 50}))) == 4

    portfolio(csm, accounts=30, actions=3)
    portfolio(other_csm, accounts=5, actions=2)
    with django_assert_num_queries(len(small.captured_queries)):
        body = api.get(LIST, {"page_size": 50}).json()
    assert (body["count"], len(body["results"])) == (64, 50)


def _admin_form_data(response) -> dict:
    """What the admin change page would post back unchanged: the form's fields and every
    inline's management form."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is not None:
            data[name] = value.isoformat() if isinstance(value, dt.date) else value
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    return data


def test_the_migration_backfills_the_owner_of_existing_anomalies(mine, theirs, make_anomaly):
    if connection.vendor != "postgresql":
        pytest.skip("ALTER TABLE ... DISABLE TRIGGER is PostgreSQL's")
    a, b = make_anomaly(mine), make_anomaly(theirs)
    migration = importlib.import_module("anomalies.migrations.0014_anomaly_csm_and_ranks")
    with connection.cursor() as cursor:
        # Rows as they were before the column existed (the test's transaction undoes this);
        # the deferred foreign key checks first, or the table cannot be altered.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE anomalies_usageanomaly DISABLE TRIGGER USER")
        cursor.execute("UPDATE anomalies_usageanomaly SET csm_id = NULL")
        cursor.execute("ALTER TABLE anomalies_usageanomaly ENABLE TRIGGER USER")
        assert set(owners().values()) == {None}
        cursor.execute(migration.BACKFILL)

    assert owners() == {a.pk: mine.csm_id, b.pk: theirs.csm_id}


def test_the_owner_index_holds_the_default_order():
    """A CSM's default list is read off anomaly_csm_worst_first_idx, and staff's list of every
    CSM's anomalies off anomaly_worst_first_idx, only while the indexes' columns are the
    sort's terms (and the primary key, the last tie-break)."""
    indexes = {i.name: i.fields for i in UsageAnomaly._meta.indexes}
    terms, _label = SORTS[DEFAULT_SORT]

    assert indexes["anomaly_csm_worst_first_idx"] == ["csm", *terms, "id"]
    assert indexes["anomaly_worst_first_idx"] == [*terms, "id"]
