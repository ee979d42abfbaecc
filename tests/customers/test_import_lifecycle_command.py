"""manage.py import_lifecycle: all or nothing, every bad line named, re-import idempotent,
outcomes derived."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from anomalies.models import UsageAnomaly
from customers.models import LifecycleEvent
from tests.factories import make_anomaly_of as make_anomaly

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HEADER = "customer_external_id,kind,date,arr_before,arr_after,note"


@pytest.fixture
def write_csv(tmp_path):
    def write(*lines: str):
        path = tmp_path / "lifecycle.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


def run(path):
    out, err = StringIO(), StringIO()
    call_command("import_lifecycle", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path):
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_lifecycle", str(path), stdout=StringIO(), stderr=err)
    return str(excinfo.value), err.getvalue()


def test_it_imports_derives_outcomes_and_reimports_as_updates(make_customer, write_csv):
    acme = make_customer(external_id="acme")
    globex = make_customer(external_id="globex")
    anomaly = make_anomaly(acme, start_date=dt.date(2025, 1, 10))
    path = write_csv(
        HEADER,
        "acme,churned,2025-03-01,24000,0,moved to a competitor",
        'globex,expanded,2025-02-01,10000,15000,"new team, new seats"',
        "globex,renewed,2025-06-01,,,",
    )

    out, err = run(path)

    assert "3 created, 0 updated" in out
    assert err == ""
    event = LifecycleEvent.objects.get(customer=acme)
    assert (event.kind, event.arr_before, event.arr_after, event.source) == (
        "churned",
        Decimal("24000.00"),
        Decimal("0.00"),
        "import",
    )
    assert LifecycleEvent.objects.get(kind="expanded").note == "new team, new seats"
    anomaly.refresh_from_db()
    assert (anomaly.outcome, anomaly.outcome_event_id) == ("churned", event.pk)
    acme.refresh_from_db()
    assert acme.status == "churned"
    globex.refresh_from_db()
    assert globex.status == "active"

    out, _ = run(path)
    assert "0 created, 3 updated" in out
    assert LifecycleEvent.objects.count() == 3


def test_one_bad_line_imports_nothing_and_every_error_is_listed(make_customer, write_csv):
    make_customer(external_id="acme")
    path = write_csv(
        HEADER,
        "acme,churned,2025-03-01,24000,0,",
        "acme,lost,2025-03-02,,,",
        "nobody,renewed,2025-03-03,,,",
        "acme,contracted,2025-13-01,100,120,",
        "acme,expanded,2025-04-01,1000,900,",
        "acme,renewed,2025-05-01,1.234,,",
        "acme,renewed,2025-06-01,,,",
        "acme,renewed,2025-06-01,,,",
    )

    message, err = run_failing(path)

    assert "8 bad row(s)" not in message
    assert "7 bad row(s)" in message and "nothing was imported" in message
    lines = err.splitlines()
    assert (
        "line 3 [kind]: kind 'lost' is not one of churned, contracted, renewed, expanded" in lines
    )
    assert "line 4 [customer_external_id]: unknown customer 'nobody'" in lines
    assert "line 5 [date]: date '2025-13-01' is not a real calendar date" in lines
    assert any(line.startswith("line 6 [arr_after]: an expansion raises ARR") for line in lines)
    assert (
        "line 7 [arr_before]: arr_before '1.234' is not an amount like 120000 or 120000.50" in lines
    )
    assert any(line.startswith("line 8: duplicate of line 9") for line in lines)
    assert any(line.startswith("line 9: duplicate of line 8") for line in lines)
    assert not LifecycleEvent.objects.exists()
    assert not UsageAnomaly.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("customer_external_id,date\n", "missing required column(s): kind"),
        ("customer_external_id,kind,date,amount\n", "unknown column(s): 'amount'"),
        (HEADER + "\n", "the file has a header but no data rows"),
    ],
)
def test_unreadable_files_are_refused(tmp_path, content, message):
    path = tmp_path / "lifecycle.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("import_lifecycle", str(path), stdout=StringIO(), stderr=StringIO())


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CommandError, match="cannot read .*nope.csv"):
        call_command("import_lifecycle", str(tmp_path / "nope.csv"))
