import pytest

from customers.metrics import metric_error, metric_label


@pytest.mark.parametrize(
    "metric", ["api_calls", "logins", "active_users", "feature:reports", "feature:bulk-export"]
)
def test_valid_metric_slugs(metric):
    assert metric_error(metric) is None


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("", "empty"),
        ("API_calls", "not a slug"),
        ("api calls", "not a slug"),
        ("1logins", "not a slug"),
        ("feature:", "not a slug"),
        ("feature:a:b", "not a slug"),
        ("x" * 51, "longer than 50"),
    ],
)
def test_invalid_metric_slugs_say_why(metric, message):
    assert message in metric_error(metric)


@pytest.mark.parametrize(
    ("metric", "label"),
    [
        ("api_calls", "API calls"),
        ("active_users", "Active users"),
        ("feature:reports", "Reports feature"),
        ("feature:bulk_export", "Bulk Export feature"),
    ],
)
def test_metric_labels(metric, label):
    assert metric_label(metric) == label
