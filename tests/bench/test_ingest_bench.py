"""A smoke test of bench/ingest.py's CSV figures: one run prints the import before and after
issue 15 and the raw COPY floor, with the ratios, on a small file."""

import pytest

from bench import ingest as bench
from customers.models import Customer, UsageMetric

CUSTOMERS = 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_run_prints_before_after_and_the_floor(tmp_path, capsys):
    Customer.objects.bulk_create(
        Customer(external_id=f"acct-{c:05}", name=f"Account {c}") for c in range(CUSTOMERS)
    )
    records = bench.generate(3_000, CUSTOMERS)
    path = tmp_path / "usage.csv"
    bench.write_csv(path, records)

    figures = bench.csv_figures(path, len(records), "", memory=False)

    assert {"before", "after", "floor", "reference_parse", "bulk_parse"} <= set(figures)
    assert all(rate > 0 for rate in figures.values())
    out = capsys.readouterr().out
    for label in (
        "before: reference parser + usage_ingest (insert)",
        "after: import_usage end to end (insert)",
        "floor: binary COPY of the same rows",
        "end to end, after / before:",
        "end to end, after / floor:",
    ):
        assert label in out
    # The floor's COPY stored the very rows the import did.
    assert UsageMetric.objects.count() == len(records)
