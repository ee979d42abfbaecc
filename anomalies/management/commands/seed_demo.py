"""Load the demo portfolio: three CSMs and an ops user, demo accounts with two years of daily
usage, and the three stories of the product brief ending on --as-of; before them, two years
of past anomalies with the lifecycle changes that followed (customers.demo_history), the
actions CSMs took and the outcomes, for the learning loop (/insights/).

Repeatable: the same arguments leave the same rows. Only accounts whose external_id starts
with `demo-` are touched; their usage, health history, anomalies and risk signals are
replaced, so a reseed is a clean slate for the demo and never a merge with an older one.

It lives in anomalies, not beside the generator in customers: clearing the accounts' anomalies
is part of a reseed, and customers import nothing of anomalies.
"""

from argparse import ArgumentTypeError
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from time import monotonic

import numpy as np
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from anomalies.models import (
    CLOSING_NO_CHANGE,
    AnomalyAction,
    ClosingOutcome,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    UsageAnomaly,
)
from anomalies.services.followups import DUE_IN_DAYS, followup_default_title
from anomalies.services.outcomes import outcomes_derive
from anomalies.services.tuning import proposals_create
from config.progress import ProgressLines, progress_output
from customers import demo, demo_history
from customers.models import (
    Customer,
    HealthScoreHistory,
    LifecycleEvent,
    RiskSignal,
    UsageMetric,
)
from customers.services import usage_series_insert

BATCH_SIZE = 5000
DEMO_URL = "http://127.0.0.1:8000/"
_CUSTOMER_FIELDS = [
    "name",
    "csm",
    "tier",
    "arr",
    "contact_email",
    "holiday_calendar",
    "region",
    "segment",
    "status",
    "status_changed_on",
    "renewal_date",
]
# Past anomalies are detected this many days after they start (the default minimum duration)
# and judged (dismissed, outcome set) a few days after that.
DETECTED_AFTER_DAYS = 2
JUDGED_AFTER_DAYS = 3


def _as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ArgumentTypeError(f"must be a date as YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = "Create or reset the demo users and accounts with generated usage (demo- accounts only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed", type=int, default=demo.DEFAULT_SEED, help="random seed (%(default)s)"
        )
        parser.add_argument(
            "--accounts",
            type=int,
            default=demo.DEFAULT_ACCOUNTS,
            help="accounts, the three story accounts included (%(default)s)",
        )
        parser.add_argument(
            "--days", type=int, default=demo.DEFAULT_DAYS, help="days of usage (%(default)s)"
        )
        parser.add_argument(
            "--as-of", type=_as_of, default=None, help="last day of data, YYYY-MM-DD (today)"
        )
        parser.add_argument(
            "--if-stale",
            action="store_true",
            help="do nothing when the demo data already ends on --as-of (used by `make run`, "
            "so restarting the app keeps what was done in the demo that day)",
        )

    def handle(self, *args, seed, accounts, days, as_of, if_stale, verbosity, **options):
        as_of = as_of or timezone.localdate()
        if if_stale and _demo_is_current(accounts=accounts, as_of=as_of):
            self.stdout.write(f"Demo data is current (ends {as_of}); not reseeding.")
            self._print_logins()
            return
        started = monotonic()
        write = progress_output(self.stderr, verbosity=verbosity)
        write(f"seeding demo: generating {accounts} accounts x {days} days of usage")
        try:
            data = demo.generate_demo(seed=seed, accounts=accounts, days=days, as_of=as_of)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        history = demo_history.generate_history(data, seed=seed)
        data = demo_history.with_history_usage(data, history, seed=seed)
        health = demo.health_history(data)

        with transaction.atomic():
            users = _users_upsert()
            customer_ids = _customers_upsert(data.accounts, users, history)
            _demo_history_clear(customer_ids.values())
            usage_rows = _usage_insert(data, customer_ids, write=write)
            past = _past_insert(history, data.accounts, customer_ids, users)
            HealthScoreHistory.objects.bulk_create(
                (
                    HealthScoreHistory(
                        customer_id=customer_ids[external_id],
                        date=day,
                        score=score,
                        usage_component=usage,
                    )
                    for external_id, day, score, usage in zip(
                        health["external_id"],
                        health["date"].dt.date,
                        health["score"].tolist(),
                        health["usage_component"].tolist(),
                        strict=True,
                    )
                ),
                batch_size=BATCH_SIZE,
            )

        first, last = data.dates[0].astype(date), data.dates[-1].astype(date)
        self.stdout.write(
            f"Seeded {len(data.accounts)} demo accounts: {usage_rows:,} usage rows from "
            f"{first} to {last}, {len(health):,} health scores, {past} past anomalies with "
            f"{len(history.changes)} lifecycle changes ({len(history.churned_on)} churns) "
            f"in {monotonic() - started:.1f} s."
        )
        # The weekly tuning run over the demo's judgements: a proposal waits for the ops user.
        self.stdout.write(f"Tuning proposals: {len(proposals_create(as_of=as_of))}.")
        stories = ", ".join(a.name for a in demo.STORY_ACCOUNTS)
        self.stdout.write(f"Stories ({demo.CSM_USERNAMES[0]}'s accounts): {stories}.")
        self._print_logins()

    def _print_logins(self):
        self.stdout.write(f"\nDemo logins at {DEMO_URL}")
        for user in demo.DEMO_USERS:
            role = "staff" if user.is_staff else "CSM"
            self.stdout.write(f"  {user.username} / {user.password}  ({role})")


def _demo_is_current(*, accounts: int, as_of: date) -> bool:
    demo_customers = Customer.objects.filter(external_id__startswith=demo.EXTERNAL_ID_PREFIX)
    last_day = UsageMetric.objects.filter(customer__in=demo_customers).aggregate(last=Max("date"))[
        "last"
    ]
    return demo_customers.count() == accounts and last_day == as_of


def _users_upsert() -> dict:
    User = get_user_model()
    users = {}
    for spec in demo.DEMO_USERS:
        user, _ = User.objects.get_or_create(username=spec.username)
        user.first_name, user.last_name = spec.first_name, spec.last_name
        user.email = f"{spec.username}@tremor.example"
        user.is_active = True
        user.is_staff = user.is_superuser = spec.is_staff
        user.set_password(spec.password)
        user.save()
        users[spec.username] = user
    return users


def _customers_upsert(accounts, users, history: demo_history.DemoHistory) -> dict[str, object]:
    """Create or update one Customer per account, keeping existing ids so bookmarked account
    pages survive a reseed; remove the demo accounts this run does not generate (left by an
    earlier run with a larger --accounts)."""
    wanted = {a.external_id: a for a in accounts}
    demo_customers = Customer.objects.filter(external_id__startswith=demo.EXTERNAL_ID_PREFIX)
    demo_customers.exclude(external_id__in=wanted).delete()
    existing = {c.external_id: c for c in demo_customers.filter(external_id__in=wanted)}

    to_create, to_update = [], []
    for external_id, account in wanted.items():
        customer = existing.get(external_id) or Customer(external_id=external_id)
        customer.name = account.name
        customer.csm = users[account.csm]
        customer.tier = account.tier
        customer.arr = account.arr
        customer.contact_email = account.contact_email
        customer.holiday_calendar = account.holiday_calendar
        customer.region = account.region
        customer.segment = account.segment
        churned_on = history.churned_on.get(external_id)
        customer.status = Customer.Status.CHURNED if churned_on else Customer.Status.ACTIVE
        customer.status_changed_on = churned_on
        customer.renewal_date = history.renewal_dates.get(external_id)
        (to_update if external_id in existing else to_create).append(customer)
    Customer.objects.bulk_create(to_create)
    Customer.objects.bulk_update(to_update, _CUSTOMER_FIELDS)
    return {c.external_id: c.id for c in to_create + to_update}


def _demo_history_clear(customer_ids) -> None:
    # Anomalies and their risk signals were computed from the usage being replaced: left in
    # place they would point at values that no longer exist.
    ids = list(customer_ids)
    # Their follow-ups were about those anomalies: without this they would outlive them
    # (the anomaly link is SET_NULL) and pile up with every reseed.
    FollowUp.objects.filter(customer_id__in=ids).delete()
    RiskSignal.objects.filter(customer_id__in=ids).delete()
    UsageAnomaly.objects.filter(customer_id__in=ids).delete()
    LifecycleEvent.objects.filter(customer_id__in=ids).delete()
    UsageMetric.objects.filter(customer_id__in=ids).delete()
    HealthScoreHistory.objects.filter(customer_id__in=ids).delete()


def _usage_insert(data: demo.DemoData, customer_ids: dict, *, write) -> int:
    total = int(np.count_nonzero(~np.isnan(data.values)))
    progress = ProgressLines(write, "seeding demo", total=total, unit="usage rows")
    return usage_series_insert(
        dates=data.dates,
        series=(
            (customer_ids[external_id], metric, values)
            for (external_id, metric), values in zip(data.keys, data.values, strict=True)
        ),
        progress=progress.update,
    )


def _past_insert(history: demo_history.DemoHistory, accounts, customer_ids, users) -> int:
    """The past anomalies, their actions and the lifecycle changes, in bulk; then the
    outcomes are derived from the changes as for any recorded change. Returns how many
    anomalies were written."""
    csm_of = {a.external_id: users[a.csm] for a in accounts}
    name_of = {a.external_id: a.name for a in accounts}
    anomalies, actions, followups = [], [], []
    for past in history.anomalies:
        csm = csm_of[past.external_id]
        detected = _at(past.start + timedelta(days=DETECTED_AFTER_DAYS))
        judged = detected + timedelta(days=JUDGED_AFTER_DAYS)
        baseline = past.baseline if past.baseline == past.baseline else 0.0  # NaN: no data
        anomaly = UsageAnomaly(
            customer_id=customer_ids[past.external_id],
            metric_type=past.metric,
            anomaly_type=past.anomaly_type,
            severity=past.severity,
            direction=past.direction,
            baseline_value=_amount(baseline),
            actual_value=_amount(baseline * (1 + past.deviation_percent / 100)),
            deviation_percent=Decimal(str(past.deviation_percent)),
            detected_at=detected,
            last_evaluated_at=_at(past.end),
            start_date=past.start,
            end_date=past.end,
            status=past.status,
            score=round(abs(past.deviation_percent) / 8, 2),
            expected_low=_amount(baseline * 0.8),
            expected_high=_amount(baseline * 1.2),
            dismissed_at=judged if past.status == "dismissed" else None,
            dismissed_by=csm if past.status == "dismissed" else None,
            dismiss_reason=past.dismiss_reason,
            dismiss_note=past.dismiss_note,
            outcome=past.outcome or "unknown",
            outcome_note=past.outcome_note,
            outcome_set_at=_at(past.end) + timedelta(days=JUDGED_AFTER_DAYS)
            if past.outcome
            else None,
            outcome_set_by=csm if past.outcome else None,
        )
        anomalies.append(anomaly)
        for kind, after_days, note in past.actions:
            actions.append((AnomalyAction(anomaly=anomaly, user=csm, kind=kind, note=note),
                            detected + timedelta(days=after_days)))  # fmt: skip
            if kind in FollowUpKind.values and kind != FollowUpKind.CONTACT_CUSTOMER:
                opened = detected + timedelta(days=after_days)
                followups.append(
                    (_past_followup(anomaly, name_of[past.external_id], csm, kind, note,
                                    opened_at=opened), opened)
                )  # fmt: skip
        if past.status == "dismissed":
            actions.append(
                (AnomalyAction(anomaly=anomaly, user=csm, kind="dismiss", note=past.dismiss_note),
                 judged)
            )  # fmt: skip
    UsageAnomaly.objects.bulk_create(anomalies, batch_size=BATCH_SIZE)
    rows = AnomalyAction.objects.bulk_create([a for a, _ in actions], batch_size=BATCH_SIZE)
    # created_at is auto_now_add: the past dates go in with a second statement.
    for row, (_, when) in zip(rows, actions, strict=True):
        row.created_at = when
    AnomalyAction.objects.bulk_update(rows, ["created_at"], batch_size=BATCH_SIZE)
    followup_rows = FollowUp.objects.bulk_create([f for f, _ in followups], batch_size=BATCH_SIZE)
    for row, (_, when) in zip(followup_rows, followups, strict=True):
        row.created_at = when
    FollowUp.objects.bulk_update(followup_rows, ["created_at"], batch_size=BATCH_SIZE)
    LifecycleEvent.objects.bulk_create(
        (
            LifecycleEvent(
                customer_id=customer_ids[change.external_id],
                kind=change.kind,
                date=change.date,
                arr_before=Decimal(change.arr_before),
                arr_after=Decimal(change.arr_after),
                note=change.note,
                source=LifecycleEvent.Source.DEMO,
            )
            for change in history.changes
        ),
        batch_size=BATCH_SIZE,
    )
    outcomes_derive(customer_ids=list(customer_ids.values()))
    return len(anomalies)


def _past_followup(anomaly, customer_name, csm, kind, note, *, opened_at: datetime) -> FollowUp:
    """The follow-up a card action opened in the past, done by now with what the anomaly
    led to (as the CSM would have closed it), so "My follow-ups" has a history."""
    outcome = anomaly.outcome if anomaly.outcome in ClosingOutcome.values else CLOSING_NO_CHANGE
    return FollowUp(
        customer_id=anomaly.customer_id,
        anomaly=anomaly,
        owner=csm,
        kind=kind,
        title=followup_default_title(
            kind=kind, customer=Customer(name=customer_name), anomaly=anomaly
        ),
        due_date=opened_at.date() + timedelta(days=DUE_IN_DAYS[FollowUpKind(kind)]),
        status=FollowUpStatus.DONE,
        closed_at=opened_at + timedelta(days=JUDGED_AFTER_DAYS),
        closed_by=csm,
        closing_outcome=outcome,
        closing_note=note,
    )


def _at(day: date) -> datetime:
    # Mid-morning UTC: the nightly scan's results, read at the start of the working day.
    return datetime.combine(day, time(9, 0), tzinfo=UTC)


def _amount(value: float) -> Decimal:
    return Decimal(f"{value:.4f}")
