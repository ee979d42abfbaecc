import hashlib
import re
from datetime import date, timedelta
from io import StringIO

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.http import HttpRequest

from anomalies.models import UsageAnomaly
from customers import demo, demo_history
from customers.models import Customer, HealthScoreHistory, UsageMetric
from tests.factories import UsageAnomalyFactory

pytestmark = pytest.mark.django_db

AS_OF = date(2025, 10, 29)
SMALL = ["--accounts", "8", "--days", "60", "--as-of", AS_OF.isoformat()]


def seed(*args: str, verbosity: int = 0) -> str:
    out = StringIO()
    call_command("seed_demo", *(args or SMALL), stdout=out, verbosity=verbosity)
    return out.getvalue()


def checksum() -> str:
    """Every usage and health row and every demo customer, by stable keys, in one hash."""
    usage = UsageMetric.objects.order_by("customer__external_id", "metric", "date").values_list(
        "customer__external_id", "customer_id", "metric", "date", "value"
    )
    health = HealthScoreHistory.objects.order_by("customer__external_id", "date").values_list(
        "customer__external_id", "date", "score", "usage_component"
    )
    customers = Customer.objects.order_by("external_id").values_list(
        "id",
        "external_id",
        "name",
        "csm__username",
        "tier",
        "arr",
        "contact_email",
        "status",
        "holiday_calendar",
        "region",
        "segment",
    )
    return hashlib.sha256(repr((list(usage), list(health), list(customers))).encode()).hexdigest()


def nexus_spike(nexus: Customer) -> UsageAnomaly:
    return UsageAnomalyFactory(
        customer=nexus,
        metric_type="logins",
        positive=True,
        severity="info",
        baseline_value=180,
        actual_value=450,
        start_date=AS_OF,
    )


def printed_logins(output: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\w+) / (\S+)", output, flags=re.MULTILINE))


def test_it_seeds_users_accounts_usage_and_health():
    output = seed(verbosity=1)  # with the progress bar

    users = get_user_model().objects.in_bulk(field_name="username")
    assert set(users) == {"maya", "leo", "sara", "ops"}
    assert not any(users[name].is_staff for name in demo.CSM_USERNAMES)
    assert users["ops"].is_staff and users["ops"].is_superuser
    assert users["maya"].get_full_name() == "Maya Patel"

    customers = Customer.objects.order_by("external_id")
    assert [c.external_id for c in customers] == [f"demo-{n:04d}" for n in range(1, 9)]
    stories = customers.filter(name__in=["DataFlow Systems", "CloudFirst Inc", "Nexus Corp"])
    assert {c.csm.username for c in stories} == {"maya"}
    assert {c.csm.username for c in customers} == set(demo.CSM_USERNAMES)

    expected = demo.generate_demo(accounts=8, days=60, as_of=AS_OF)
    assert UsageMetric.objects.count() == np.count_nonzero(~np.isnan(expected.values))
    assert HealthScoreHistory.objects.count() == 8 * 60  # fewer days than the 90 of history
    renewals = dict(Customer.objects.values_list("external_id", "renewal_date"))
    assert renewals == {
        e: demo_history.generate_history(expected, seed=demo.DEFAULT_SEED).renewal_dates.get(e)
        for e in renewals
    }
    assert renewals[demo.DATAFLOW] == AS_OF + timedelta(days=45)
    assert f"{UsageMetric.objects.count():,} usage rows" in output
    assert "from 2025-08-31 to 2025-10-29" in output
    assert "http://127.0.0.1:8000/" in output


def test_the_stored_usage_is_the_generated_usage_row_for_row():
    # Whatever the insert path: the rows in the database are the generator's values (history
    # included), one per day with a value, in series order, and nothing else.
    err = StringIO()
    call_command("seed_demo", *SMALL, stdout=StringIO(), stderr=err, verbosity=1)

    data = demo.generate_demo(accounts=8, days=60, as_of=AS_OF)
    data = demo_history.with_history_usage(
        data, demo_history.generate_history(data, seed=demo.DEFAULT_SEED), seed=demo.DEFAULT_SEED
    )
    expected = [
        (external_id, metric, day.astype(date), value)
        for (external_id, metric), values in zip(data.keys, data.values, strict=True)
        for day, value in zip(data.dates, values.tolist(), strict=True)
        if value == value  # NaN: no row
    ]
    rows = UsageMetric.objects.order_by("pk").values_list(
        "customer__external_id", "metric", "date", "value"
    )
    assert list(rows) == expected
    # Progress, as plain lines (make run's output is no terminal): the last one says all.
    total = len(expected)
    assert f"seeding demo: {total:,} / {total:,} usage rows (" in err.getvalue()


def test_accounts_get_their_calendar_region_and_segment():
    seed("--accounts", "30", "--days", "60", "--as-of", AS_OF.isoformat())

    expected = {
        a.external_id: (a.holiday_calendar, a.region, a.segment)
        for a in demo.generate_demo(accounts=30, days=60, as_of=AS_OF).accounts
    }
    stored = {
        c.external_id: (c.holiday_calendar, c.region, c.segment) for c in Customer.objects.all()
    }
    assert stored == expected
    assert stored[demo.DATAFLOW] == ("US", "us-east", "enterprise")
    assert {calendar for calendar, _, _ in stored.values()} == {"US", "DE-BY", "GB"}
    for customer in Customer.objects.all():
        customer.full_clean()  # what admin and the API accept


def test_the_dataflow_story_reaches_the_database():
    seed()
    dataflow = Customer.objects.get(external_id=demo.DATAFLOW)
    api_calls = UsageMetric.objects.filter(customer=dataflow, metric="api_calls")
    last_five = [u.value for u in api_calls.filter(date__gt=AS_OF - timedelta(days=5))]
    four_weeks = [
        u.value
        for u in api_calls.filter(
            date__gt=AS_OF - timedelta(days=33), date__lte=AS_OF - timedelta(days=5)
        )
    ]
    assert len(last_five) == 5
    assert np.mean(four_weeks) == pytest.approx(45_000, rel=0.08)
    assert np.mean(last_five) == pytest.approx(15_000, rel=0.12)


def test_running_twice_leaves_identical_rows():
    seed()
    first = checksum()
    seed()
    assert checksum() == first


def test_another_seed_changes_the_rows():
    seed()
    first = checksum()
    seed(*SMALL, "--seed", "7")
    assert checksum() != first


def test_it_never_touches_other_customers(make_customer, csm):
    # "demo" inside an id is not the prefix: only ids starting with demo- are the demo's.
    mine = make_customer(name="Real Customer", external_id="acme-demo-1", csm=csm)
    UsageMetric.objects.create(customer=mine, metric="logins", date=AS_OF, value=7)
    HealthScoreHistory.objects.create(customer=mine, date=AS_OF, score=55, usage_component=40)
    anomaly = UsageAnomalyFactory(
        customer=mine,
        metric_type="logins",
        severity="warning",
        baseline_value=20,
        actual_value=7,
        deviation_percent=-65,
        start_date=AS_OF,
    )

    seed()

    mine.refresh_from_db()
    assert (mine.name, mine.csm, mine.external_id) == ("Real Customer", csm, "acme-demo-1")
    assert list(mine.usage.values_list("metric", "date", "value")) == [("logins", AS_OF, 7.0)]
    assert list(mine.health_scores.values_list("score", flat=True)) == [55]
    assert UsageAnomaly.objects.filter(pk=anomaly.pk).exists()
    assert Customer.objects.count() == 9


def test_reseeding_clears_the_demo_accounts_anomalies():
    seed()
    nexus = Customer.objects.get(external_id=demo.NEXUS)
    nexus_spike(nexus)

    seed()

    assert not UsageAnomaly.objects.exists()
    # The account itself is kept, with its id, so links to it stay valid.
    assert Customer.objects.get(external_id=demo.NEXUS).pk == nexus.pk


def test_a_smaller_run_removes_the_demo_accounts_it_no_longer_generates():
    seed()
    seed("--accounts", "5", "--days", "60", "--as-of", AS_OF.isoformat())
    assert Customer.objects.filter(external_id__startswith="demo-").count() == 5
    assert not UsageMetric.objects.filter(customer__external_id="demo-0008").exists()


def test_demo_users_log_in_with_the_printed_passwords(client, django_user_model):
    # An earlier demo, or someone playing with it, changed a password: a reseed resets it.
    django_user_model.objects.create_user(username="maya", password="changed-by-someone")

    logins = printed_logins(seed())

    assert set(logins) == {"maya", "leo", "sara", "ops"}
    # django-axes checks every authentication against its lockouts, which needs a request.
    for username, password in logins.items():
        assert client.login(request=HttpRequest(), username=username, password=password)
        client.logout()
    assert not client.login(request=HttpRequest(), username="maya", password="changed-by-someone")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accounts", "2"], "accounts must be between 3"),
        (["--days", "10"], "days must be at least"),
        (["--as-of", "29/10/2025"], "--as-of: must be a date as YYYY-MM-DD, got '29/10/2025'"),
    ],
)
def test_it_rejects_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        seed(*args)
    assert not Customer.objects.exists()


def test_if_stale_keeps_current_demo_data_and_its_anomalies():
    seed()
    nexus = Customer.objects.get(external_id=demo.NEXUS)
    nexus_spike(nexus)
    before = checksum()

    output = seed(*SMALL, "--if-stale", verbosity=1)

    assert "not reseeding" in output
    assert printed_logins(output)  # the logins are still shown to the newcomer
    assert checksum() == before
    assert UsageAnomaly.objects.filter(customer=nexus).exists()


def test_if_stale_reseeds_when_the_data_ends_before_as_of():
    seed()
    later = (AS_OF + timedelta(days=3)).isoformat()
    seed("--accounts", "8", "--days", "60", "--as-of", later, "--if-stale")
    assert UsageMetric.objects.latest("date").date == AS_OF + timedelta(days=3)
