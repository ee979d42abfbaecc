"""The test-data kit: users, customers and anomalies with valid defaults, one declaration
each (factory_boy).

An anomaly's defaults are the product brief's example ("67% drop in API calls, baseline
45,000/day, now 15,000/day", started four days ago, detected now), and every default agrees
with the model's CHECK constraints whatever a test overrides: the direction follows the
type, a spike's figures go up, a dismissed anomaly carries a dismissal time and reason, a
resolved one an end. A test names only what it is about:

    UsageAnomalyFactory(customer=acme, severity="warning")
    UsageAnomalyFactory(customer=acme, dismissed=True, dismissed_by=csm)
    UsageAnomalyFactory(customer=acme, positive=True, metric_type="logins")

A constraint test that wants a broken row passes the fields that break it explicitly
(`status="dismissed", dismissed_at=None`): explicit values always win.
"""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory, Password

from anomalies.detection.vocabulary import API_CALLS, AnomalyType, Direction, Severity

DISMISSED = "dismissed"
RESOLVED = "resolved"
# The brief's example: 45,000/day down to a third; a spike goes to two and a half times.
BASELINE = Decimal("45000")
CHANGE = {Direction.NEGATIVE: Decimal(1) / 3, Direction.POSITIVE: Decimal("2.5")}
STARTED_DAYS_AGO = 4
# How long a resolved anomaly lasted, unless the test says.
RESOLVED_AFTER_DAYS = 2


class UserFactory(DjangoModelFactory):
    class Meta:
        model = "auth.User"
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    password = Password("user-pass-123")

    class Params:
        staff = factory.Trait(is_staff=True)
        superuser = factory.Trait(is_staff=True, is_superuser=True)


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = "customers.Customer"

    name = factory.Sequence(lambda n: f"Account {n}")
    external_id = factory.Sequence(lambda n: f"acct-{n}")


def _direction(anomaly_type: str) -> str:
    """The type's fixed direction; a loss for a type that goes either way (and for a made-up
    type a constraint test sends, which the database then refuses for its type)."""
    try:
        fixed = AnomalyType(anomaly_type).direction
    except ValueError:
        fixed = None
    return fixed or Direction.NEGATIVE


def _figure(value: Decimal) -> Decimal:
    """Four places as the column stores them, none for a whole number (15000, not 15000.0000)."""
    value = value.quantize(Decimal("0.0001"))
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def _deviation(baseline, actual) -> Decimal:
    baseline, actual = Decimal(str(baseline)), Decimal(str(actual))
    if not baseline:
        return Decimal(0)
    return ((actual - baseline) / baseline * 100).quantize(Decimal("0.01"))


class UsageAnomalyFactory(DjangoModelFactory):
    class Meta:
        model = "anomalies.UsageAnomaly"

    customer = factory.SubFactory(CustomerFactory)
    metric_type = API_CALLS
    anomaly_type = AnomalyType.DROP
    severity = Severity.CRITICAL
    status = "open"
    direction = factory.LazyAttribute(lambda o: _direction(o.anomaly_type))
    baseline_value = BASELINE
    actual_value = factory.LazyAttribute(
        lambda o: _figure(Decimal(str(o.baseline_value)) * CHANGE[Direction(o.direction)])
    )
    deviation_percent = factory.LazyAttribute(
        lambda o: _deviation(o.baseline_value, o.actual_value)
    )
    start_date = factory.LazyFunction(
        lambda: timezone.localdate() - dt.timedelta(days=STARTED_DAYS_AGO)
    )
    end_date = factory.LazyAttribute(
        lambda o: (
            o.start_date + dt.timedelta(days=RESOLVED_AFTER_DAYS) if o.status == RESOLVED else None
        )
    )
    detected_at = factory.LazyFunction(timezone.now)
    dismissed_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == DISMISSED else None
    )
    dismiss_reason = factory.LazyAttribute(
        lambda o: "false_positive" if o.status == DISMISSED else ""
    )

    class Params:
        dismissed = factory.Trait(status=DISMISSED)
        resolved = factory.Trait(status=RESOLVED)
        positive = factory.Trait(anomaly_type=AnomalyType.SPIKE)


def make_anomaly_of(customer, **fields):
    """An anomaly of `customer`: the call most tests make, with the customer first."""
    return UsageAnomalyFactory(customer=customer, **fields)


# A follow-up opened from a card is due in days; overdue ones are made by passing a past date.
FOLLOWUP_DUE_IN_DAYS = 7


class FollowUpFactory(DjangoModelFactory):
    """An open follow-up of an anomaly, owned by the account's CSM, due in a week.
    `FollowUpFactory(anomaly=drop, overdue=True)`; `done=True` closes it with an outcome."""

    class Meta:
        model = "anomalies.FollowUp"

    anomaly = factory.SubFactory(UsageAnomalyFactory)
    customer = factory.LazyAttribute(lambda o: o.anomaly.customer if o.anomaly else None)
    owner = factory.LazyAttribute(lambda o: o.customer.csm)
    kind = "schedule_training"
    title = factory.LazyAttribute(lambda o: f"Schedule training: {o.customer.name}")
    due_date = factory.LazyFunction(
        lambda: timezone.localdate() + dt.timedelta(days=FOLLOWUP_DUE_IN_DAYS)
    )

    class Params:
        overdue = factory.Trait(
            due_date=factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=3))
        )
        done = factory.Trait(
            status="done", closed_at=factory.LazyFunction(timezone.now), closing_outcome="no_change"
        )
