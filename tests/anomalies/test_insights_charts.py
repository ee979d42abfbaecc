"""The insights charts as strings: escaped text, faded small samples, gaps and n/a."""

from anomalies.insights import rate
from anomalies.insights_charts import ChartRow, outcome_rates_svg, sparkline_svg


def _row(label="Critical · API calls", small=False, gain_base=(1, 40)):
    return ChartRow(
        label=label,
        loss=rate(6, 30),
        loss_base=rate(3, 150),
        gain=rate(0, 30),
        gain_base=rate(*gain_base),
        small_sample=small,
    )


def test_the_chart_draws_two_bars_per_outcome_and_row():
    svg = outcome_rates_svg(title="Drop", rows=[_row(), _row("Warning · Logins")], window_days=90)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect x=") == 2 * 2 * 2 + 2  # rows x outcomes x (with, base) + legend
    assert "Churn or contraction within 90 days" in svg
    assert "after the anomaly: 6/30 = 20% (95 % CI 10%–37%)" in svg
    # The scale reaches the largest upper bound (37 %) rounded up to a tenth.
    assert ">40%</text>" in svg and ">50%</text>" not in svg


def test_small_samples_are_faded_and_labelled():
    svg = outcome_rates_svg(title="Drop", rows=[_row(small=True)], window_days=90)
    assert '<g opacity="0.4">' in svg
    assert "(few)" in svg


def test_text_is_escaped_and_a_rate_of_nothing_is_na():
    svg = outcome_rates_svg(
        title="<b>", rows=[_row(label="A & <B>", gain_base=(0, 0))], window_days=30
    )
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "A &amp; &lt;B&gt;" in svg
    assert ">n/a</text>" in svg


def test_sparkline_breaks_at_weeks_without_a_value():
    svg = sparkline_svg(values=[0.5, 1.0, None, 0.2, None, None, 0.8, 0.9], label="Drop")
    assert svg.count("<path") == 2  # weeks 0-1 and 6-7
    assert svg.count("<circle") == 1  # week 3 alone
    assert sparkline_svg(values=[None, None], label="Drop") == ""
