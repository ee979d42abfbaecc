"""The demo portfolio: made-up accounts with daily usage ending on `as_of`, and the three
stories of the product brief (PRD-084) playing out in the last days.

Pure numbers, no database and no clock: `manage.py seed_demo` writes what `generate_demo`
returns. Everything is drawn from one seeded numpy generator, so the same seed, account count,
day count and as-of date give the same values on every run (with one numpy version: numpy does
not promise identical streams across releases).

The model of one series, all factors multiplicative:

    level (the weekly-average daily value on as_of)
    x growth trend x weekday pattern x holidays x slow drift x daily noise x story effect

then a Poisson draw, so every value is a non-negative integer count and small counts scatter
the way real small counts do. Missing days are NaN (the seed command writes no row for them),
never zero: a zero is a real day without usage.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import holidays
import numpy as np
import pandas as pd

from anomalies.detection import health
from anomalies.detection.calendar import holiday_masks
from anomalies.detection.vocabulary import ACTIVE_USERS, API_CALLS, LOGINS, feature_metric

from .usage_series import stationary_ar1

DEFAULT_SEED = 84  # the brief's number; any fixed value would do
DEFAULT_ACCOUNTS = 60
DEFAULT_DAYS = 730
EXTERNAL_ID_PREFIX = "demo-"
# The longest story (CloudFirst, 14 days) plus four weeks of baseline before it.
MIN_DAYS = 42
# Company names are prefix x core pairs: 40 x 25 of them.
MAX_ACCOUNTS = 1000
HEALTH_DAYS = 90
# The story accounts' next renewal, in days after as_of: DataFlow's drop comes 45 days before
# its renewal. The other accounts renew on their anniversaries (demo_history).
STORY_RENEWAL_DAYS = {"demo-0001": 45, "demo-0002": 130, "demo-0003": 75}


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    password: str
    is_staff: bool = False


# Published demo passwords: these accounts exist only in demo databases.
DEMO_USERS = (
    DemoUser("maya", "Maya", "Patel", "maya-tremor-demo"),
    DemoUser("leo", "Leo", "Martins", "leo-tremor-demo"),
    DemoUser("sara", "Sara", "Lindqvist", "sara-tremor-demo"),
    DemoUser("ops", "Olu", "Okafor", "ops-tremor-demo", is_staff=True),
)
CSM_USERNAMES = tuple(u.username for u in DEMO_USERS if not u.is_staff)

FEATURES = ("reports", "dashboards", "exports", "alerts", "integrations")
# Integrations are syncs run by machines, so they follow API traffic, not office hours.
MACHINE_METRICS = frozenset({API_CALLS, feature_metric("integrations")})


@dataclass(frozen=True)
class AccountSpec:
    external_id: str
    name: str
    csm: str
    tier: str
    arr: int
    contact_email: str
    # Metric -> weekly-average daily value on as_of, before noise and story effects.
    levels: dict[str, float]
    growth: float  # per year: 0.3 is +30 %/year, -0.2 a slow decline
    # The non-usage part of health (support, NPS): out of Tremor's scope, not scored; kept so
    # the generator draws what it always drew.
    health_base: float
    # Where the account works: the public holidays it keeps (its usage dips on them) and the
    # cohorts it moves with (its region, and its segment by size).
    holiday_calendar: str = "US"
    region: str = "us-east"
    segment: str = "mid-market"

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.levels)


@dataclass(frozen=True)
class Effect:
    """A multiplier on one series from `start_back` to `end_back` days before as_of (0 is
    as_of itself), both included."""

    external_id: str
    metric: str
    start_back: int
    end_back: int
    factor: float


DATAFLOW, CLOUDFIRST, NEXUS = "demo-0001", "demo-0002", "demo-0003"

STORY_ACCOUNTS = (
    AccountSpec(
        external_id=DATAFLOW,
        name="DataFlow Systems",
        csm="maya",
        tier="enterprise",
        arr=240_000,
        contact_email="priya@dataflowsystems.example",
        levels={
            API_CALLS: 45_000.0,
            LOGINS: 130.0,
            ACTIVE_USERS: 85.0,
            feature_metric("dashboards"): 120.0,
            feature_metric("reports"): 40.0,
            feature_metric("alerts"): 65.0,
            feature_metric("integrations"): 48.0,
        },
        growth=0.08,
        health_base=82.0,
        region="us-east",
        segment="enterprise",
    ),
    AccountSpec(
        external_id=CLOUDFIRST,
        name="CloudFirst Inc",
        csm="maya",
        tier="business",
        arr=96_000,
        contact_email="marcus@cloudfirst.example",
        levels={
            API_CALLS: 8_200.0,
            LOGINS: 210.0,
            ACTIVE_USERS: 140.0,
            feature_metric("reports"): 90.0,
            feature_metric("dashboards"): 230.0,
            feature_metric("exports"): 35.0,
            feature_metric("alerts"): 70.0,
        },
        growth=0.15,
        health_base=78.0,
        region="us-west",
    ),
    AccountSpec(
        external_id=NEXUS,
        name="Nexus Corp",
        csm="maya",
        tier="business",
        arr=150_000,
        contact_email="hana@nexuscorp.example",
        levels={
            API_CALLS: 22_000.0,
            LOGINS: 180.0,
            ACTIVE_USERS: 120.0,
            feature_metric("reports"): 50.0,
            feature_metric("dashboards"): 190.0,
            feature_metric("integrations"): 45.0,
        },
        growth=0.25,
        health_base=85.0,
        region="us-central",
    ),
)

EFFECTS = (
    # "67% drop in API calls, 5 days, 45,000/day -> 15,000/day"; logins stay steady.
    Effect(DATAFLOW, API_CALLS, 4, 0, 1 / 3),
    # "Reports module: -80% usage, started 2 weeks ago"; the rest of the account is steady.
    Effect(CLOUDFIRST, feature_metric("reports"), 13, 0, 0.2),
    # "150% increase in user logins, 10 days"; a new team means new active users too.
    Effect(NEXUS, LOGINS, 9, 0, 2.5),
    Effect(NEXUS, ACTIVE_USERS, 9, 0, 2.2),
    # A past, resolved integration incident: history a scan can look back on, not a story.
    Effect("demo-0008", API_CALLS, 42, 40, 0.5),
)

# Monday first, each normalised to mean 1 below so `levels` stay weekly averages. People
# barely work weekends; machines keep calling the API.
_PEOPLE_WEEK = np.array([1.08, 1.13, 1.12, 1.10, 0.98, 0.22, 0.17])
_MACHINE_WEEK = np.array([1.03, 1.05, 1.05, 1.04, 0.99, 0.78, 0.74])
PEOPLE_WEEK = _PEOPLE_WEEK / _PEOPLE_WEEK.mean()
MACHINE_WEEK = _MACHINE_WEEK / _MACHINE_WEEK.mean()
# Holidays hit machine traffic by this share of the people dip (in log terms): scheduled
# syncs run on Christmas Day, dashboards are not opened.
MACHINE_HOLIDAY_SHARE = 0.4

# Factor on people-driven metrics by (month, day): the year-end season, everyone's.
SEASON = {
    (1, 1): 0.15,
    (1, 2): 0.70,
    (12, 24): 0.45,
    (12, 25): 0.12,
    (12, 26): 0.30,
    (12, 27): 0.55,
    (12, 28): 0.55,
    (12, 29): 0.55,
    (12, 30): 0.55,
    (12, 31): 0.40,
}
# American accounts' own days.
US_FIXED_HOLIDAYS = {(7, 4): 0.35}
THANKSGIVING = 0.20
THANKSGIVING_FRIDAY = 0.45
# Elsewhere, each public holiday of the account's calendar (the `holidays` package), and the
# Friday after a Thursday one, which many take off.
PUBLIC_HOLIDAY = 0.20
BRIDGE_DAY = 0.45
SUMMER_PEAK_DAY_OF_YEAR = 226  # mid-August
SUMMER_HALF_WIDTH_DAYS = 28
SUMMER_DEPTH = 0.15

# A slow account-wide drift (AR(1)): a busy quarter, a reorg. Stationary sd about 2.5 %.
DRIFT_PHI = 0.95
DRIFT_SIGMA = 0.008
# Day-to-day scatter: shared by an account's metrics, then per series, larger when small.
ACCOUNT_DAY_SIGMA = 0.03
SERIES_SIGMA_FLOOR = 0.04
SERIES_SIGMA_SMALL = 0.2  # divided by sqrt(level)

# (region, holiday calendar, share of the generated accounts): mostly American, a few in
# Bavaria and Britain.
PLACES = (
    ("us-east", "US", 0.35),
    ("us-west", "US", 0.25),
    ("us-central", "US", 0.2),
    ("emea", "DE-BY", 0.1),
    ("emea", "GB", 0.1),
)
SEGMENTS = {"starter": "smb", "growth": "smb", "business": "mid-market", "enterprise": "enterprise"}
# Streams of their own, derived from the seed, for the accounts' places and for the values of
# accounts outside the US: every other draw (the stories' values and missing days among them)
# stays the same whatever the other accounts' calendars.
PLACES_STREAM = 1
LOCAL_VALUES_STREAM = 2

# Missing days stay out of the last week so "today's" scan of the stories sees full data.
RECENT_COMPLETE_DAYS = 7

# API calls/day on as_of for generated accounts: log-uniform across this range.
MIN_API_CALLS = 4.0
MAX_API_CALLS = 250_000.0
# (upper bound of API calls/day, tier, ARR per active user per year)
TIERS = (
    (300.0, "starter", 1_100),
    (5_000.0, "growth", 900),
    (40_000.0, "business", 800),
    (float("inf"), "enterprise", 750),
)

_NAME_PREFIXES = (
    "Apex", "Atlas", "Beacon", "Birch", "Blue Harbor", "Brightline", "Cascade", "Cedar",
    "Cobalt", "Copper", "Crescent", "Evergreen", "Falcon", "Granite", "Harbor", "Helix",
    "Horizon", "Ironwood", "Juniper", "Keystone", "Lighthouse", "Lumen", "Maple", "Meridian",
    "Northwind", "Oakridge", "Orion", "Pinnacle", "Polaris", "Quarry", "Redwood", "Riverbend",
    "Sierra", "Silverline", "Skyline", "Summit", "Tidewater", "Vantage", "Willow", "Zenith",
)  # fmt: skip
_NAME_CORES = (
    "Analytics", "Logistics", "Health", "Labs", "Software", "Dynamics", "Networks", "Retail",
    "Foods", "Media", "Energy", "Capital", "Robotics", "Learning", "Travel", "Insurance",
    "Manufacturing", "Security", "Bio", "Design", "Payments", "Freight", "Clinics", "Studios",
    "Consulting",
)  # fmt: skip
_NAME_SUFFIXES = ("Inc", "LLC", "Ltd", "Group", "Co", "Corp", "")
_CONTACT_NAMES = (
    "alex", "ana", "ben", "chloe", "david", "elena", "farid", "grace", "hugo", "ines", "jamal",
    "kim", "lena", "mateo", "nora", "omar", "paula", "quinn", "rosa", "sam", "tariq", "vera",
)  # fmt: skip
# (lower, upper) uses per active user per day, by feature, in FEATURES order.
_FEATURE_RATES = np.array([(0.2, 0.6), (0.8, 2.0), (0.1, 0.4), (0.3, 1.0), (0.2, 0.8)])


@dataclass(frozen=True)
class DemoData:
    as_of: date
    dates: np.ndarray  # datetime64[D], oldest first, the last one is as_of
    accounts: tuple[AccountSpec, ...]
    keys: tuple[tuple[str, str], ...]  # (external_id, metric) of each row of `values`
    values: np.ndarray  # float, shape (len(keys), len(dates)); NaN is a missing day

    def series(self, external_id: str, metric: str) -> np.ndarray:
        return self.values[self.keys.index((external_id, metric))]

    def usage_frame(self) -> pd.DataFrame:
        """One row per present day: external_id, metric, date (datetime64), value."""
        rows, cols = np.nonzero(~np.isnan(self.values))
        keys = np.array(self.keys, dtype=object).reshape(len(self.keys), 2)
        return pd.DataFrame(
            {
                "external_id": keys[rows, 0],
                "metric": keys[rows, 1],
                "date": self.dates[cols],
                "value": self.values[rows, cols],
            }
        )


def generate_demo(
    *,
    as_of: date,
    seed: int = DEFAULT_SEED,
    accounts: int = DEFAULT_ACCOUNTS,
    days: int = DEFAULT_DAYS,
) -> DemoData:
    """`accounts` accounts (the three story accounts first) with `days` days of usage each,
    the last day being `as_of`. Raises ValueError naming a bad argument."""
    if not 3 <= accounts <= MAX_ACCOUNTS:
        raise ValueError(
            f"accounts must be between 3 (the story accounts) and {MAX_ACCOUNTS}, got {accounts}"
        )
    if days < MIN_DAYS:
        raise ValueError(f"days must be at least {MIN_DAYS} to hold the stories, got {days}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")

    rng = np.random.default_rng(seed)
    places = np.random.default_rng([seed, PLACES_STREAM])
    specs = STORY_ACCOUNTS + _generated_accounts(rng, accounts - len(STORY_ACCOUNTS), places)
    start = np.datetime64(as_of - timedelta(days=days - 1), "D")
    dates = start + np.arange(days)

    keys = tuple((a.external_id, m) for a in specs for m in a.metrics)
    account_of = np.array([i for i, a in enumerate(specs) for _ in a.metrics])
    level = np.array([a.levels[m] for a in specs for m in a.metrics])
    machine = np.array([m in MACHINE_METRICS for _, m in keys])
    growth = np.array([a.growth for a in specs])

    years_to_as_of = (np.arange(days) - (days - 1)) / 365.25
    trend = np.exp(np.log1p(growth)[:, None] * years_to_as_of[None, :])[account_of]

    weekday = pd.DatetimeIndex(dates).day_of_week.to_numpy()
    week = np.where(machine[:, None], MACHINE_WEEK[weekday], PEOPLE_WEEK[weekday])
    calendar = np.array([a.holiday_calendar for a in specs])[account_of]

    drift = stationary_ar1(rng, (len(specs), days), step_sd=DRIFT_SIGMA, phi=DRIFT_PHI)
    drift = drift[account_of]
    account_day = rng.normal(0.0, ACCOUNT_DAY_SIGMA, (len(specs), days))[account_of]
    sigma = SERIES_SIGMA_FLOOR + SERIES_SIGMA_SMALL / np.sqrt(level)
    series_day = rng.normal(0.0, 1.0, (len(keys), days)) * sigma[:, None]

    def expected_with(calendars: np.ndarray) -> np.ndarray:
        depth = {c: np.log(holiday_factor(dates, calendar=c)) for c in set(calendars.tolist())}
        holiday_depth = np.array([depth[c] for c in calendars.tolist()]).reshape(-1, days)
        holidays = np.exp(np.where(machine[:, None], MACHINE_HOLIDAY_SHARE, 1.0) * holiday_depth)
        out = level[:, None] * trend * week * holidays * np.exp(drift + account_day + series_day)
        return out * _effects(keys, days)

    # The shared stream draws every series as if it were American: how many numbers a Poisson
    # draw takes depends on its mean, so local holidays would shift every later draw.
    values = rng.poisson(expected_with(np.full(len(keys), "US"))).astype(float)
    local = np.flatnonzero(calendar != "US")
    if local.size:
        local_rng = np.random.default_rng([seed, LOCAL_VALUES_STREAM])
        values[local] = local_rng.poisson(expected_with(calendar)[local])
    values[_missing_days(rng, account_of, len(specs), days)] = np.nan
    return DemoData(as_of=as_of, dates=dates, accounts=specs, keys=keys, values=values)


def holiday_factor(dates: np.ndarray, *, calendar: str = "US") -> np.ndarray:
    """The factor on people-driven usage for each date (1.0 on an ordinary day): Christmas to
    New Year and a gentle August dip everywhere; in the US, Thanksgiving and the Friday after
    and July 4th; elsewhere the public holidays of `calendar` ("DE-BY", "GB") and the Friday
    after a Thursday one."""
    idx = pd.DatetimeIndex(dates)
    month, day = idx.month.to_numpy(), idx.day.to_numpy()
    weekday, day_of_year = idx.day_of_week.to_numpy(), idx.day_of_year.to_numpy()
    factor = np.ones(len(idx))
    if calendar == "US":
        for (m, d), f in US_FIXED_HOLIDAYS.items():
            factor[(month == m) & (day == d)] = f
        # The fourth Thursday of November falls on the 22nd to the 28th.
        factor[(month == 11) & (weekday == 3) & (day >= 22) & (day <= 28)] = THANKSGIVING
        factor[(month == 11) & (weekday == 4) & (day >= 23) & (day <= 29)] = THANKSGIVING_FRIDAY
    elif len(idx):
        code, _, subdivision = calendar.partition("-")
        years = range(idx.year.min(), idx.year.max() + 1)
        public = holidays.country_holidays(code, subdiv=subdivision or None, years=years)
        days = idx.date
        thursdays = {d for d in public if d.weekday() == 3}
        factor[[d in public for d in days]] = PUBLIC_HOLIDAY
        factor[[d - timedelta(days=1) in thursdays for d in days]] = BRIDGE_DAY
    for (m, d), f in SEASON.items():
        factor[(month == m) & (day == d)] = f
    distance = np.abs(day_of_year - SUMMER_PEAK_DAY_OF_YEAR)
    summer = np.cos(np.pi / 2 * np.minimum(distance / SUMMER_HALF_WIDTH_DAYS, 1.0)) ** 2
    return factor * (1.0 - SUMMER_DEPTH * summer)


def health_history(data: DemoData, *, days: int = HEALTH_DAYS) -> pd.DataFrame:
    """Daily usage health for the last `days` days (fewer if the data is shorter), one row per
    account and day: external_id, date, score (int 0-100), usage_component (0-100).

    The scan's formula (anomalies.detection.health) on the generated usage, without the
    anomalies a scan would have open on those days (the demo has none to give): the trend
    part only. The demo's first scan then writes its day's score with its open anomalies.
    """
    keep = min(days, len(data.dates))
    span = keep - 1 + health.RECENT_DAYS + health.BASELINE_DAYS
    values = data.values[:, -span:]
    first = data.dates[-values.shape[1]].astype(date)
    calendars = {a.external_id: a.holiday_calendar for a in data.accounts}
    off = holiday_masks([calendars[e] for e, _ in data.keys], None, first, values.shape[1]).T
    ratios = health.series_trend_ratio_history(values, days=keep, holidays=off)
    accounts, ratio = health.account_trend_ratios(
        ratios, groups=[e for e, _ in data.keys], metrics=[m for _, m in data.keys]
    )
    order = [accounts.index(a.external_id) for a in data.accounts if a.external_id in accounts]
    ids = [accounts[i] for i in order]
    zeros = np.zeros(ratio.shape[1])
    usage = health.usage_component(ratio[order], penalty=zeros, bonus=zeros)
    score = health.score_of(usage)
    return pd.DataFrame(
        {
            "external_id": np.repeat(ids, keep),
            "date": np.tile(data.dates[-keep:], len(ids)),
            "score": score.ravel(),
            "usage_component": usage.ravel(),
        }
    )


def _generated_accounts(
    rng: np.random.Generator, n: int, places: np.random.Generator
) -> tuple[AccountSpec, ...]:
    names = _company_names(rng, n)
    # Stratified log-uniform sizes: even 5 accounts span tiny to huge.
    u = (rng.permutation(n) + rng.random(n)) / max(n, 1)
    api = np.exp(np.log(MIN_API_CALLS) + u * np.log(MAX_API_CALLS / MIN_API_CALLS))
    # Bigger accounts have more people, but far fewer than calls: machines do the calling.
    users = np.maximum(1.0, 1.2 * np.sqrt(api) * rng.lognormal(0.0, 0.25, n))
    logins_per_user = rng.uniform(1.2, 1.8, n)
    lo, hi = _FEATURE_RATES[:, 0], _FEATURE_RATES[:, 1]
    feature_rates = lo + (hi - lo) * rng.random((n, len(FEATURES)))
    # Reports and dashboards everyone uses; each of the rest about half the accounts, and
    # every account at least one of them.
    has_feature = np.concatenate([np.ones((n, 2), bool), rng.random((n, 3)) < 0.5], axis=1)
    lacking = np.flatnonzero(~has_feature[:, 2:].any(axis=1))
    has_feature[lacking, 2 + rng.integers(0, 3, len(lacking))] = True
    kind = rng.choice(3, size=n, p=[0.35, 0.5, 0.15])  # flat, growing, declining
    growth = np.select(
        [kind == 0, kind == 1],
        [rng.normal(0.0, 0.03, n), rng.uniform(0.1, 0.6, n)],
        rng.uniform(-0.3, -0.1, n),
    )
    health_base = rng.uniform(60.0, 92.0, n)
    arr_noise = rng.lognormal(0.0, 0.2, n)
    contacts = rng.choice(_CONTACT_NAMES, size=n)
    shares = np.array([share for _, _, share in PLACES])
    place = places.choice(len(PLACES), size=n, p=shares / shares.sum())

    specs = []
    for i in range(n):
        _, tier, arr_per_user = next(t for t in TIERS if api[i] < t[0])
        levels = {
            API_CALLS: float(api[i]),
            LOGINS: float(users[i] * logins_per_user[i]),
            ACTIVE_USERS: float(users[i]),
        }
        for j, feature in enumerate(FEATURES):
            if has_feature[i, j]:
                levels[feature_metric(feature)] = float(users[i] * feature_rates[i, j])
        number = len(STORY_ACCOUNTS) + i + 1
        domain = "".join(c for c in names[i].rsplit(" ", 1)[0].lower() if c.isalnum())
        specs.append(
            AccountSpec(
                external_id=f"{EXTERNAL_ID_PREFIX}{number:04d}",
                name=names[i],
                # The story accounts are the first CSM's; the rest go round the team.
                csm=CSM_USERNAMES[number % len(CSM_USERNAMES)],
                tier=tier,
                arr=int(max(1_200, round(users[i] * arr_per_user * arr_noise[i], -2))),
                contact_email=f"{contacts[i]}@{domain}.example",
                levels=levels,
                growth=float(growth[i]),
                health_base=float(health_base[i]),
                holiday_calendar=PLACES[place[i]][1],
                region=PLACES[place[i]][0],
                segment=SEGMENTS[tier],
            )
        )
    return tuple(specs)


def _company_names(rng: np.random.Generator, n: int) -> list[str]:
    pairs = rng.permutation(len(_NAME_PREFIXES) * len(_NAME_CORES))[:n]
    suffixes = rng.choice(_NAME_SUFFIXES, size=n)
    names = []
    for pair, suffix in zip(pairs, suffixes, strict=True):
        prefix, core = divmod(int(pair), len(_NAME_CORES))
        names.append(f"{_NAME_PREFIXES[prefix]} {_NAME_CORES[core]} {suffix}".strip())
    return names


def _effects(keys: tuple[tuple[str, str], ...], days: int) -> np.ndarray:
    factor = np.ones((len(keys), days))
    row = {key: i for i, key in enumerate(keys)}
    for e in EFFECTS:
        i = row.get((e.external_id, e.metric))
        if i is not None:  # a small run may not include demo-0008
            factor[i, days - 1 - e.start_back : days - e.end_back] *= e.factor
    return factor


def _missing_days(
    rng: np.random.Generator, account_of: np.ndarray, n_accounts: int, days: int
) -> np.ndarray:
    """Where the pipeline lost a day: one or two whole-account outage days per account, plus
    a few single lost rows per series."""
    eligible = days - RECENT_COMPLETE_DAYS
    account_missing = np.zeros((n_accounts, days), bool)
    outage_day = rng.integers(0, eligible, (n_accounts, 2))
    second_outage = rng.random(n_accounts) < 0.4
    account_missing[np.arange(n_accounts), outage_day[:, 0]] = True
    account_missing[np.flatnonzero(second_outage), outage_day[second_outage, 1]] = True

    missing = account_missing[account_of]
    per_series = np.minimum(rng.poisson(1.0, len(account_of)), 3)
    rows = np.repeat(np.arange(len(account_of)), per_series)
    missing[rows, rng.integers(0, eligible, len(rows))] = True
    return missing
