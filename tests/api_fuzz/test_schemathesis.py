"""Schemathesis against a live server: every operation of /api/schema/, fuzzed as a CSM and
as staff with real tokens, must never answer 5xx and must answer what the schema says
(documented status code, content type and body).

Bounded: at most MAX_EXAMPLES generated cases per operation, persona and generation mode,
derandomized (the same cases every run), no shrinking (the first failing case is reported
as it was sent). All failures are collected and reported together, each with the operation
and a curl line to replay it.

The live server (pytest-django's `live_server`) runs in this process and shares the
transactional test database, which is flushed after the test: whatever the fuzzer writes
(dismissals, settings, usage rows, scan runs) does not reach other tests.
"""

import datetime as dt
import os
from decimal import Decimal

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_create
from tests.factories import FollowUpFactory, UsageAnomalyFactory

pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
USAGE_DAYS = 70
METRICS = ("api_calls", "logins")
REPORT_CHARS = 1500
# Fuzz only the operations whose path contains this (e.g. "followups"), to try one endpoint
# without the whole run; CI leaves it unset.
ONLY_PATHS = os.environ.get("API_FUZZ_ONLY", "")


@pytest.fixture
def portfolio(csm, other_csm, staff, make_customer):
    """The CSM's accounts (with usage, open, dismissed and resolved anomalies), another CSM's
    account with an anomaly, and a finished scan run of each CSM. Returns the ids a path
    parameter can take, by kind, for the fuzzer to hit real objects as well as missing ones."""
    from anomalies.models import ScanRun
    from customers.models import UsageMetric

    today = timezone.localdate()
    now = timezone.now()
    mine = [
        make_customer(name="Dataflow Inc", csm=csm, tier="enterprise", arr=Decimal("120000")),
        make_customer(name="Initech", csm=csm),
        make_customer(name="Hooli", csm=csm, status="trial"),
    ]
    theirs = make_customer(name="Globex", csm=other_csm)
    UsageMetric.objects.bulk_create(
        UsageMetric(
            customer=customer,
            metric=metric,
            date=today - dt.timedelta(days=day),
            # A steady series that fell to a third over the last five days.
            value=(15_000.0 if day < 5 else 45_000.0) + 100 * (day % 7),
        )
        for customer in [*mine, theirs]
        for metric in METRICS
        for day in range(USAGE_DAYS)
    )

    anomalies = [
        UsageAnomalyFactory(customer=mine[0]),
        UsageAnomalyFactory(
            customer=mine[0], metric_type="logins", positive=True, severity="warning"
        ),
        UsageAnomalyFactory(customer=mine[1], dismissed=True, dismissed_by=csm),
        UsageAnomalyFactory(
            customer=mine[2],
            resolved=True,
            severity="info",
            start_date=today - dt.timedelta(days=40),
            end_date=today - dt.timedelta(days=30),
        ),
        UsageAnomalyFactory(customer=theirs),
    ]
    followups = [
        FollowUpFactory(anomaly=anomalies[0]),
        FollowUpFactory(anomaly=anomalies[1], done=True, kind="explore_expansion"),
        FollowUpFactory(anomaly=anomalies[4]),
    ]
    runs = [
        ScanRun.objects.create(
            trigger=ScanRun.Trigger.API,
            triggered_by=user,
            scope_key=f"done-{user.pk}",
            status=ScanRun.Status.SUCCEEDED,
            as_of=today,
            finished_at=now,
        )
        for user in (csm, other_csm)
    ]
    return {
        "customer": [str(c.pk) for c in [*mine, theirs]],
        "anomaly": [str(a.pk) for a in anomalies],
        "run": [str(r.pk) for r in runs],
        "followup": [str(f.pk) for f in followups],
    }


def _known_values(path: str, name: str, portfolio: dict) -> list[str]:
    """Real ids for a path parameter: by its name (`customer_id`), or for a bare `id`/`pk`
    by the path segment before it (`/anomalies/{id}`)."""
    key = name
    if name in {"id", "pk"}:
        segments = path.split("/")
        key = segments[segments.index("{" + name + "}") - 1]
    for kind, values in portfolio.items():
        if kind in key or (kind == "run" and "scan" in key):
            return values
    return []


def _strategy(operation, mode, portfolio):
    """Generated cases, plus (in the positive mode) cases on real objects: a random UUID
    only ever reaches the 404 branch."""
    strategies = [operation.as_strategy(generation_mode=mode)]
    if mode == GenerationMode.POSITIVE:
        for parameter in operation.path_parameters:
            values = _known_values(operation.path, parameter.name, portfolio)
            if values:
                strategies.append(
                    st.sampled_from(values).flatmap(
                        lambda value, name=parameter.name: operation.as_strategy(
                            generation_mode=mode, path_parameters={name: value}
                        )
                    )
                )
    return st.one_of(strategies)


def _fuzz(operation, mode, strategy, *, base_url: str, headers: dict) -> str | None:
    """Run one operation's cases; the first failure's report, or None."""

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=strategy)
    def run(case):
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)

    try:
        run()
    except hypothesis.errors.Unsatisfiable as exc:
        # An operation without parameters or body (GET /api/analytics/settings) has nothing
        # to make invalid: no negative case exists. A positive one always does.
        if mode == GenerationMode.NEGATIVE:
            return None
        return f"Unsatisfiable: {exc}"
    # A check's failures come as a group (BaseExceptionGroup); a client error (timeout,
    # connection reset) as an exception: both are findings.
    except (Exception, BaseExceptionGroup) as exc:
        report = _short(f"{type(exc).__name__}: {exc}")
        # Where in the body a schema violation is: the report's excerpt may cut before it.
        for failure in getattr(exc, "exceptions", [exc]):
            if getattr(failure, "instance_path", None) is not None:
                where = "/".join(map(str, failure.instance_path))
                report += f"\n    at /{where}: {failure.instance!r}"
        return report
    return None


def _short(report: str, limit: int = REPORT_CHARS) -> str:
    """The head of a failure's report, and always its curl line."""
    head, _, replay = report.partition("Reproduce with:")
    if len(head) > limit:
        head = head[:limit] + "\n    [...]\n"
    return head + ("Reproduce with:" + replay if replay else "")


@pytest.mark.usefixtures("tasks_run_eagerly")
def test_the_live_api_conforms_to_its_schema(live_server, csm, staff, portfolio):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    operations, failures = [], []
    for result in schema.get_all_operations():
        if isinstance(result, Ok):
            if ONLY_PATHS in result.ok().path:
                operations.append(result.ok())
        else:  # an operation schemathesis cannot read is a schema bug too
            failures.append(f"--- unreadable operation\n{result.err()}")
    assert operations, "the schema describes no operation"

    for user in (csm, staff):
        _, token = api_token_create(user=user)
        headers = {"Authorization": f"Token {token}"}
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                found = _fuzz(
                    operation,
                    mode,
                    _strategy(operation, mode, portfolio),
                    base_url=live_server.url,
                    headers=headers,
                )
                if found:
                    failures.append(
                        f"--- {operation.label} as {user.username}, {mode.value} data\n{found}"
                    )
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
