"""Cold start from cohorts: a young series borrows the weekly profile and the spread of its
peers until its own history can tell them.

On its own, a series with a week of history knows nothing of its weekends (a weekday's
effect needs two sightings, baseline.weekday_profile), so a new B2B account's first quiet
Saturday looks like a drop; and its spread is a guess, so the engine raises the z bar and
answers with low confidence for its first `min_history_days`. Its peers know both.

A series is young while it has under PRIOR_FADE_DAYS days of history. Its peers are the
series of the same metric, of other accounts, that had data on at least PEER_MIN_OBSERVED of
the PEER_HISTORY_DAYS before the young series' first day (only days before it: a backtest
stays causal). The pool is its given cohort (the series with exactly its cohort labels,
`SeriesBatch.cohorts`) when that holds at least COHORT_MIN_PEERS peers, else every peer; from
the pool the NEAREST_PEERS whose weekly profile is closest to the young series' first
`min_points` days (their shape: each day against their median) lend their median weekday
profile and spread. The prior is chosen once, on the day the series has `min_points` days of
history, from those days only.

From then on, with h days of its own history, the prior weighs w = 1 - h / PRIOR_FADE_DAYS:
- the weekday profile that fills the window's days without data (the days before the series
  began) is w x the peers' + (1 - w) x its own;
- the residual spread is the pooled one, the peers' counting as w x PRIOR_SIGMA_DAYS
  residuals next to the series' own: sqrt((k w s_p^2 + c s^2) / (k w + c));
- the Tukey fences move the same share w towards the peers' spread's;
- the series is mature (normal confidence, the configured z bar) after COHORT_MATURE_DAYS
  days of history instead of `min_history_days`.
At PRIOR_FADE_DAYS days of history (8 weeks) nothing is borrowed any more.

A series without peers (the first accounts of a metric, a batch of one) starts as before.
The prior makes a series depend on the others of its batch, as the portfolio guard does:
`DetectionConfig.cohort_cold_start=False` turns it off.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .cohorts import COHORT_SEPARATOR
from .robust import MAD_TO_SIGMA
from .stl_operator import WEEK

# Under this many days of its own history a series borrows (8 weeks); the borrowed weight
# falls linearly from 1 to 0 over them.
PRIOR_FADE_DAYS = 8 * WEEK
# A peer's profile and spread come from this many days before the young series' first day,
# of which it must have data on this many (six of eight weeks).
PEER_HISTORY_DAYS = 8 * WEEK
PEER_MIN_OBSERVED = 6 * WEEK
# A given cohort lends its profile when it holds at least this many peers; otherwise the
# most similar series of the whole batch do.
COHORT_MIN_PEERS = 3
# How many of the closest peers (by the shape of the young series' first days) lend: their
# median per weekday is one of theirs, so two alike outvote one odd peer.
NEAREST_PEERS = 3
# The peers' spread counts as this many residuals (fading with w) next to the series' own.
PRIOR_SIGMA_DAYS = 4 * WEEK
# With a prior, a series is mature after two weeks of history.
COHORT_MATURE_DAYS = 2 * WEEK
# Tukey's lower quartile and IQR in sigmas of a normal residual: the fences a spread implies.
NORMAL_Q1_SIGMAS = 0.6745
NORMAL_IQR_SIGMAS = 1.349

# Where the prior came from, for reports and benchmarks.
SOURCE_NONE, SOURCE_COHORT, SOURCE_NEAREST = 0, 1, 2


@dataclass
class ColdStartPrior:
    """Each series' borrowed weekday profile and spread, and from which day it applies."""

    profile: np.ndarray  # (n, 7) log1p effect per calendar weekday (Monday = 0)
    sigma: np.ndarray  # (n,) log1p residual spread
    since: np.ndarray  # (n,) first day the prior applies; beyond the data where none
    source: np.ndarray  # (n,) SOURCE_*

    @property
    def present(self) -> np.ndarray:
        return self.source != SOURCE_NONE

    def weights(self, t: int, history: np.ndarray) -> np.ndarray:
        """(n,) the prior's weight on day t, from each series' days of history before it."""
        w = np.clip(1.0 - history / PRIOR_FADE_DAYS, 0.0, 1.0)
        return np.where(self.present & (t >= self.since), w, 0.0)

    def mature_days(self, min_history_days: int) -> np.ndarray:
        """(n,) days of history after which each series is mature."""
        return np.where(self.present, COHORT_MATURE_DAYS, min_history_days)

    def blend_profile(
        self, own: np.ndarray, rows: np.ndarray, weights: np.ndarray, dow: np.ndarray
    ) -> np.ndarray:
        """`own` (len(rows), days) weekday effects blended with the prior's for the days'
        weekdays `dow`."""
        w = weights[rows][:, None]
        return (1.0 - w) * own + w * self.profile[rows][:, dow]

    def blend_sigma(self, own: np.ndarray, count: np.ndarray, weights: np.ndarray) -> np.ndarray:
        if not weights.any():  # most days of most batches: nobody is young
            return own
        k = PRIOR_SIGMA_DAYS * weights
        total = k + count
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = np.sqrt((k * self.sigma**2 + count * own**2) / total)
        return np.where(k > 0, pooled, own)

    def blend_fences(
        self,
        lo: np.ndarray,
        hi: np.ndarray,
        weights: np.ndarray,
        *,
        iqr_k: float,
        inflation: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        reach = (NORMAL_Q1_SIGMAS + iqr_k * NORMAL_IQR_SIGMAS) * self.sigma * inflation
        return (1 - weights) * lo - weights * reach, (1 - weights) * hi + weights * reach


def no_prior(n: int, n_days: int) -> ColdStartPrior:
    return ColdStartPrior(
        profile=np.zeros((n, WEEK)),
        sigma=np.zeros(n),
        since=np.full(n, n_days, dtype=np.int64),
        source=np.full(n, SOURCE_NONE, dtype=np.int8),
    )


def cold_start_prior(
    yt: np.ndarray,
    *,
    first_weekday: int,
    metrics: Sequence[str],
    groups: Sequence[str],
    cohorts: Sequence[str] | None,
    min_points: int,
    t0: int,
) -> ColdStartPrior:
    """The prior of every series that is young on some replayed day (t0 on) and has peers.
    `yt` is (days, series) log1p values, NaN where missing; day 0 is a `first_weekday`."""
    T, n = yt.shape
    prior = no_prior(n, T)
    observed = ~np.isnan(yt)
    if not n or not observed.any():
        return prior
    seen = observed.any(axis=0)
    first = np.where(seen, np.argmax(observed, axis=0), T)
    history = np.cumsum(observed, axis=0)  # observed days up to and including each day
    # The day a series has `min_points` days of history before it (its first decidable day).
    decided = np.where(history[-1] >= min_points, np.argmax(history >= min_points, axis=0) + 1, T)
    young = np.flatnonzero(
        (first >= PEER_MIN_OBSERVED) & (decided < T) & (first + PRIOR_FADE_DAYS > t0)
    )
    if not young.size:
        return prior
    dow = (first_weekday + np.arange(T)) % WEEK
    metric_ids = np.unique(np.asarray(metrics, dtype=object), return_inverse=True)[1]
    account_ids = np.unique(np.asarray(groups, dtype=object), return_inverse=True)[1]
    labels = np.array(
        [_label_key(c) for c in cohorts] if cohorts is not None else [""] * n, dtype=object
    )
    peer_stats: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for row in young.tolist():
        s, d = int(first[row]), int(decided[row])
        if s not in peer_stats:
            peer_stats[s] = _peer_stats(yt[max(s - PEER_HISTORY_DAYS, 0) : s], dow, s)
        profiles, sigmas, mature = peer_stats[s]
        peers = np.flatnonzero(
            mature
            & (metric_ids == metric_ids[row])
            & (account_ids != account_ids[row])
            & np.isfinite(sigmas)
        )
        if not peers.size:
            continue
        source = SOURCE_NEAREST
        if labels[row]:
            cohort = peers[labels[peers] == labels[row]]
            if cohort.size >= COHORT_MIN_PEERS:
                peers, source = cohort, SOURCE_COHORT
        days = np.arange(s, d)
        own = yt[days, row]
        keep = ~np.isnan(own)
        chosen = _nearest(own[keep], dow[days[keep]], profiles[peers], peers)
        prior.profile[row] = np.median(profiles[chosen], axis=0)
        prior.sigma[row] = float(np.median(sigmas[chosen]))
        prior.since[row] = d
        prior.source[row] = source
    return prior


def _label_key(label: str | None) -> str:
    """One cohort key from a series' labels, whatever their order ("a|b" is "b|a")."""
    if not label:
        return ""
    return COHORT_SEPARATOR.join(sorted(filter(None, label.split(COHORT_SEPARATOR))))


def _peer_stats(window: np.ndarray, dow: np.ndarray, end: int):
    """For every series, from `window` (the days before day `end`, (days, n)): its weekday
    profile (7, per calendar weekday: the weekday's median against its week's median), its
    spread around level and profile, and whether it had enough data to be a peer."""
    W, n = window.shape
    days_dow = dow[end - W : end]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        # Weeks counted back from `end`, so every block is a whole week where it can be.
        block = (W - 1 - np.arange(W)) // WEEK
        level = np.full((W, n), np.nan)
        for b in np.unique(block):
            rows = block == b
            level[rows] = np.nanmedian(window[rows], axis=0)
        resid = window - level
        profiles = np.zeros((n, WEEK))
        for k in range(WEEK):
            rows = days_dow == k
            if rows.any():
                profiles[:, k] = np.nan_to_num(np.nanmedian(resid[rows], axis=0))
        noise = resid - profiles[:, days_dow].T
        centre = np.nanmedian(noise, axis=0)
        sigmas = MAD_TO_SIGMA * np.nanmedian(np.abs(noise - centre), axis=0)
    mature = (~np.isnan(window)).sum(axis=0) >= PEER_MIN_OBSERVED
    return profiles, sigmas, mature


def _nearest(own: np.ndarray, own_dow: np.ndarray, profiles: np.ndarray, peers: np.ndarray):
    """The NEAREST_PEERS of `peers` whose profile on the young series' days is closest to
    their shape (each day against the days' median), mean absolute distance in log space."""
    if peers.size <= NEAREST_PEERS or not own.size:
        return peers
    shape = own - np.median(own)
    theirs = profiles[:, own_dow]
    theirs = theirs - np.median(theirs, axis=1, keepdims=True)
    distance = np.mean(np.abs(theirs - shape[None, :]), axis=1)
    return peers[np.argsort(distance, kind="stable")[:NEAREST_PEERS]]
