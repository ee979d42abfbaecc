"""The replay's parts hold no reference cycle: a scan worker frees one chunk's arrays as soon
as detect() returns, and the next chunk reuses that memory instead of paying for fresh pages
(a cycle made every chunk about twice as slow to set up)."""

import gc

import numpy as np

from anomalies.detection import SeriesBatch, detect
from tests import synth


def test_detect_leaves_no_reference_cycles():
    values = np.stack([synth.usage(400, seed=k) for k in range(4)])
    values[0, 300:] *= 0.3  # events: a drop that becomes a pattern change
    values[1, 200:210] *= 3
    batch = SeriesBatch(
        values,
        synth.START,
        ("a/api_calls", "a/logins", "b/x", "c/feature:y"),
        ("api_calls", "logins", "x", "feature:y"),
        ("a", "a", "b", "c"),
    )
    detect(batch, backtest=True)  # imports and caches first
    gc.collect()
    gc.disable()
    try:
        for backtest in (True, False):
            result = detect(batch, backtest=backtest)
        assert result is not None
        assert gc.collect() == 0
    finally:
        gc.enable()
