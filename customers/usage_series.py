"""The pieces of synthetic daily usage that the demo portfolio (`customers/demo.py`) and the
benchmark corpus (`bench/corpus.py`) share. Pure numpy: no Django, no clock.

Both model a series as level x growth x weekday profile x holidays x slow drift x daily
noise, drawn through a Poisson. Each draws its own random numbers, in its own order, and
passes them in: moving a draw would change every later value of a seeded stream, and with
it a demo people know or a corpus whose figures are on record.
"""

import numpy as np


def ar1(start, shocks: np.ndarray, *, phi: float) -> np.ndarray:
    """The AR(1) recurrence along the last axis (days), vectorised over the leading ones
    (series): x[0] = start, x[t] = phi * x[t-1] + shocks[t]. shocks[..., 0] is not used."""
    out = np.empty(np.shape(shocks))
    out[..., 0] = start
    for t in range(1, out.shape[-1]):  # a recurrence: each day needs the one before
        out[..., t] = phi * out[..., t - 1] + shocks[..., t]
    return out


def stationary_ar1(rng: np.random.Generator, shape, *, step_sd: float, phi: float) -> np.ndarray:
    """A slow drift (a busy quarter, a reorg): AR(1) with innovations of sd `step_sd`, its
    first day drawn from the stationary state (sd step_sd / sqrt(1 - phi**2)) so it needs no
    warm-up. One block of draws, `shape` with days last."""
    shocks = rng.normal(0.0, step_sd, shape)
    return ar1(shocks[..., 0] / np.sqrt(1 - phi**2), shocks, phi=phi)
