"""Each dismissal reason changes what the next scans do (the learning loop), and reopening
undoes a dismissal."""

import numpy as np
import pytest

from anomalies import scan_inputs
from anomalies.models import DataQualityEvent, UsageAnomaly
from anomalies.services.anomalies import AnomalyAlreadyDismissed, anomaly_dismiss, anomaly_reopen
from tests.factories import UsageAnomalyFactory

from .scan_data import AS_OF, FIRST, day, scaled, scan, usage, usage_store

pytestmark = pytest.mark.django_db


def _customer_with(make_customer, values, metric="api_calls"):
    customer = make_customer()
    usage_store(customer, metric, values)
    return customer


def _history(customer, as_of=AS_OF, metric="api_calls"):
    """What the next scan of this customer would tell the engine, and the series' row."""
    frame = scan_inputs.usage_frame(customer_ids=[customer.pk], start=FIRST, end=as_of)
    batch = scan_inputs.series_batch(frame, customer_ids=[customer.pk], start=FIRST, end=as_of)
    return scan_inputs.reviewed_history(batch=batch, as_of=as_of), batch.series_ids.index(
        f"{customer.pk}/{metric}"
    )


def test_expected_suppresses_the_series_and_type_until_its_date(make_customer, csm):
    # A drop on days 174..179, six normal days, then a second, separate drop from day 186.
    values = scaled(usage(191, seed=7), [*range(174, 180), *range(186, 191)], 0.35)
    customer = _customer_with(make_customer, values)
    scan()
    first = UsageAnomaly.objects.get()
    anomaly_dismiss(anomaly=first, user=csm, reason="expected", until=day(189))

    run = scan(as_of=day(189))

    assert run.anomalies_new == 0
    assert list(UsageAnomaly.objects.values_list("pk", "status")) == [(first.pk, "dismissed")]
    history, _ = _history(customer, as_of=day(189))
    assert history.suppressed == {(str(customer.pk), "api_calls", "drop")}

    # The day after `until` the second drop is news again.
    run = scan(as_of=day(190))

    assert run.anomalies_new == 1
    second = UsageAnomaly.objects.exclude(pk=first.pk).get()
    assert (second.anomaly_type, second.status, second.start_date) == ("drop", "open", day(186))
    first.refresh_from_db()
    assert (first.status, first.end_date) == ("dismissed", day(179))


def test_an_expected_event_keeps_its_days_tracked_while_suppressed(make_customer, csm):
    # A drop on days 174..184, dismissed as expected while still going on.
    values = scaled(usage(191, seed=1), slice(174, 185), 0.35)
    _customer_with(make_customer, values)
    scan()
    anomaly = UsageAnomaly.objects.get()
    anomaly_dismiss(anomaly=anomaly, user=csm, reason="expected", until=day(200))

    scan(as_of=day(183))

    anomaly.refresh_from_db()
    assert (anomaly.status, anomaly.end_date) == ("dismissed", None)  # still going on

    scan(as_of=day(188))

    anomaly.refresh_from_db()
    assert (anomaly.status, anomaly.end_date) == ("dismissed", day(184))
    assert UsageAnomaly.objects.count() == 1


def test_a_dismissed_ongoing_event_does_not_come_back(make_customer, csm):
    values = scaled(usage(185, seed=1), slice(174, None), 0.35)
    customer = make_customer()
    usage_store(customer, "api_calls", values[:180])
    scan()
    anomaly = UsageAnomaly.objects.get()
    anomaly_dismiss(anomaly=anomaly, user=csm, reason="false_positive")
    usage_store(customer, "api_calls", values[180:], first_index=180)

    run = scan(as_of=day(184))

    assert run.anomalies_new == 0
    still = UsageAnomaly.objects.get()
    assert (still.pk, still.status, still.dismiss_reason) == (
        anomaly.pk,
        "dismissed",
        "false_positive",
    )
    assert still.end_date is None  # the event is still going on


def test_new_normal_rebaselines_the_series(make_customer, csm):
    # Two customers whose api_calls fall 65 % for good from day 150. Past the pattern horizon
    # (28 days) a lasting shift is its pattern change, unless the first drop was dismissed as
    # the new normal: then the engine no longer sees a change at all.
    values = scaled(usage(186, seed=4), slice(150, None), 0.35)
    renormed = _customer_with(make_customer, values)
    control = _customer_with(make_customer, values)
    scan(as_of=day(160))
    drops = {a.customer_id: a for a in UsageAnomaly.objects.all()}
    assert {a.start_date for a in drops.values()} == {day(150)}
    anomaly_dismiss(anomaly=drops[renormed.pk], user=csm, reason="new_normal")
    anomaly_dismiss(anomaly=drops[control.pk], user=csm, reason="false_positive")
    history, row = _history(renormed, as_of=day(185))
    assert history.hints.rebaseline_from[row] == 150

    scan(as_of=day(185))

    renormed_row = UsageAnomaly.objects.get(customer=renormed)
    control_row = UsageAnomaly.objects.get(customer=control)
    assert renormed_row.status == control_row.status == "dismissed"
    # The new normal: nothing since, so its days are no longer tracked (ended the day before
    # the scan). Without it, the same data is still that event, now lasting past the horizon:
    # one change, one report, and the dismissal stands for all of it.
    assert renormed_row.end_date == day(184)
    assert control_row.end_date == day(150 + 27)
    assert not UsageAnomaly.objects.filter(status="open").exists()


def test_data_issue_is_shown_to_ops_and_kept_out_of_later_scans(make_customer, csm):
    # A fake spike (an import counted twice, say) on days 160..163, then a real drop.
    values = scaled(scaled(usage(180, seed=6), slice(160, 164), 3.0), slice(174, 180), 0.35)
    customer = _customer_with(make_customer, values)
    scan(as_of=day(166))
    spike = UsageAnomaly.objects.get()
    assert (spike.anomaly_type, spike.severity, spike.end_date) == ("spike", "info", day(163))

    anomaly_dismiss(anomaly=spike, user=csm, reason="data_issue", note="double import")

    event = DataQualityEvent.objects.get()
    assert (event.kind, event.customer_id, event.metric, event.anomaly_id) == (
        "data_issue",
        customer.pk,
        "api_calls",
        spike.pk,
    )
    assert (event.start_date, event.end_date, event.note) == (day(160), day(163), "double import")
    history, row = _history(customer)
    assert np.flatnonzero(history.hints.exclude[row]).tolist() == [160, 161, 162, 163]

    run = scan()

    assert run.anomalies_new == 1
    assert UsageAnomaly.objects.filter(anomaly_type="spike").count() == 1
    drop = UsageAnomaly.objects.get(anomaly_type="drop")
    assert (drop.status, drop.start_date) == ("open", day(174))
    # Measured against the normal level, not one lifted by the spike.
    normal = usage(180, seed=6)[174:180].mean()
    assert float(drop.baseline_value) == pytest.approx(normal, rel=0.1)
    assert -70 < float(drop.deviation_percent) < -60


def test_false_positive_raises_the_evidence_for_that_direction(make_customer, csm):
    # A clear drop on days 150..153, then a mild two-day drop on days 170..171, for two
    # customers with the same data. Only one of them called the first drop a false positive.
    values = scaled(scaled(usage(180, seed=5), slice(150, 154), 0.35), slice(170, 172), 0.5)
    doubted = _customer_with(make_customer, values)
    trusted = _customer_with(make_customer, values)
    scan(as_of=day(160))
    first = UsageAnomaly.objects.get(customer=doubted)
    assert (first.start_date, first.end_date) == (day(150), day(153))
    anomaly_dismiss(anomaly=first, user=csm, reason="false_positive")

    history, row = _history(doubted, as_of=day(175))
    assert history.hints.evidence[row].tolist() == [1.5, 1.0]
    history, row = _history(trusted, as_of=day(175))
    assert history.hints.evidence[row].tolist() == [1.0, 1.0]

    scan(as_of=day(175))

    mild = UsageAnomaly.objects.filter(start_date=day(170))
    assert list(mild.values_list("customer_id", "anomaly_type")) == [(trusted.pk, "drop")]


def test_false_positive_evidence_grows_per_dismissal_up_to_the_cap(make_customer, csm):
    customer = _customer_with(make_customer, usage(180, seed=8))
    for k in range(5):
        UsageAnomalyFactory(
            customer=customer,
            positive=True,
            resolved=True,
            severity="info",
            baseline_value=100,
            actual_value=200,
            detected_at=customer.created_at,
            start_date=day(100 + 10 * k),
            end_date=day(101 + 10 * k),
        )
    for k, anomaly in enumerate(UsageAnomaly.objects.order_by("start_date")):
        anomaly_dismiss(anomaly=anomaly, user=csm, reason="false_positive")
        history, row = _history(customer)
        assert history.hints.evidence[row].tolist() == [1.0, min(1.0 + 0.5 * (k + 1), 3.0)]


def test_reopen_undoes_a_dismissal(make_customer, csm):
    values = scaled(usage(180, seed=1), slice(174, 180), 0.35)
    customer = _customer_with(make_customer, values)
    scan()
    anomaly = UsageAnomaly.objects.get()
    anomaly_dismiss(anomaly=anomaly, user=csm, reason="data_issue", note="n")
    assert DataQualityEvent.objects.count() == 1

    reopened = anomaly_reopen(anomaly=anomaly, user=csm)

    assert (reopened.status, reopened.end_date) == ("open", None)
    assert (reopened.dismissed_at, reopened.dismissed_by, reopened.dismiss_reason) == (
        None,
        None,
        "",
    )
    assert (reopened.dismiss_note, reopened.dismissed_until) == ("", None)
    assert not DataQualityEvent.objects.exists()
    history, row = _history(customer)
    assert not history.hints.exclude[row].any()

    run = scan()  # the scan takes it up again as the same event

    assert (run.anomalies_new, UsageAnomaly.objects.get().pk) == (0, anomaly.pk)
    assert UsageAnomaly.objects.get().status == "open"


def test_reopen_keeps_an_older_event_in_the_past_when_a_newer_one_is_open(make_customer, csm):
    customer = _customer_with(make_customer, usage(180, seed=9))
    common = dict(
        customer=customer,
        severity="warning",
        baseline_value=100,
        actual_value=50,
        detected_at=customer.created_at,
    )
    old = UsageAnomalyFactory(start_date=day(120), **common)
    anomaly_dismiss(anomaly=old, user=csm, reason="false_positive")
    UsageAnomalyFactory(start_date=day(170), **common)

    reopened = anomaly_reopen(anomaly=old, user=csm)

    assert (reopened.status, reopened.end_date) == ("resolved", day(120))


def test_dismissing_twice_changes_nothing_and_unknown_reasons_are_refused(make_customer, csm):
    _customer_with(make_customer, scaled(usage(180, seed=1), slice(174, 180), 0.35))
    scan()
    anomaly = UsageAnomaly.objects.get()
    first = anomaly_dismiss(anomaly=anomaly, user=csm, reason="new_normal")

    # The same dismissal again is a no-op; another one is refused with the one in force.
    same = anomaly_dismiss(anomaly=anomaly, user=None, reason="new_normal")
    with pytest.raises(AnomalyAlreadyDismissed) as refused:
        anomaly_dismiss(anomaly=anomaly, user=None, reason="data_issue")

    for again in (same, refused.value.anomaly, UsageAnomaly.objects.get()):
        assert (again.dismiss_reason, again.dismissed_at, again.dismissed_by_id) == (
            "new_normal",
            first.dismissed_at,
            csm.pk,
        )
    assert not DataQualityEvent.objects.exists()
    with pytest.raises(ValueError, match="unknown dismiss reason 'bored'"):
        anomaly_dismiss(anomaly=anomaly, user=csm, reason="bored")
