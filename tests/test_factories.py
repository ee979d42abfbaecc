"""The test-data kit keeps its promise: whatever type and status a test asks for, the
defaults make a row the database's constraints accept, with figures that agree."""

from decimal import Decimal

import pytest

from anomalies.detection.vocabulary import AnomalyType, Direction
from anomalies.models import UsageAnomaly
from tests.factories import UsageAnomalyFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", ["open", "resolved", "dismissed"])
@pytest.mark.parametrize("anomaly_type", list(AnomalyType))
def test_every_type_and_status_makes_a_valid_row(anomaly_type, status):
    made = UsageAnomalyFactory(anomaly_type=anomaly_type, status=status)

    row = UsageAnomaly.objects.get(pk=made.pk)
    assert row.direction == (anomaly_type.direction or Direction.NEGATIVE)
    assert (row.dismissed_at is not None, row.dismiss_reason != "") == (
        (status == "dismissed",) * 2
    )
    assert (row.end_date is not None) == (status == "resolved")
    rose = row.actual_value > row.baseline_value
    assert rose == (row.direction == Direction.POSITIVE) == (row.deviation_percent > 0)


def test_the_defaults_are_the_briefs_example_and_traits_name_the_rest():
    drop = UsageAnomalyFactory()
    assert (drop.baseline_value, drop.actual_value, drop.deviation_percent) == (
        Decimal("45000"),
        Decimal("15000"),
        Decimal("-66.67"),
    )
    spike = UsageAnomalyFactory(positive=True, customer=drop.customer)
    assert (spike.anomaly_type, spike.direction, spike.deviation_percent) == (
        "spike",
        "positive",
        Decimal("150.00"),
    )
    assert UsageAnomalyFactory(dismissed=True).dismiss_reason == "false_positive"
    resolved = UsageAnomalyFactory(resolved=True)
    assert resolved.end_date > resolved.start_date
