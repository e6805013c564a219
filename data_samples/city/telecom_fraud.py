"""Telecom fraud: screened residents whose exposure to scammers shows up in telecom and bank records.

The population is the screened cohort (residents with any exposure signal), as police anti-fraud
centres see it. Each resident has a fixed susceptibility and a monthly exposure state (AR(1)):
exposure drives flagged calls and SMS, risky-app alerts, new payees and outflow spikes; police
send warnings to exposed residents, and an answered warning lowers risk. Fraud occurs as a
Poisson process whose daily rate is fixed at each month's start from what the departments can
see then (rows with `available_at <= as_of`) plus a modest hidden term; a victim reports the
case with a probability that falls with age. A fraud leaves its own trace (a large transfer to
new payees on the day), which is honest data and a leakage trap for careless features.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from data_samples.city.common import (
    DAY,
    SimulatedChunk,
    add_days,
    draw_districts,
    entity_column,
    month_starts,
    pseudonyms,
    repeat_index,
    sequential_ids,
    sigmoid,
    uniform_times,
)
from data_samples.city.config import CITY_END, DISTRICTS
from data_samples.city.history import (
    RESIDENT_MOVE_IN_SHARE,
    RESIDENT_MOVE_OUT_SHARE,
    Tenure,
    draw_tenure,
)
from data_samples.city.realism import (
    BASE_SHIFT,
    Realism,
    fraud_alert_weight,
    fraud_contact_weight,
    fraud_detection,
    fraud_drift_months,
    fraud_effects,
    fraud_extra_alerts,
)
from data_samples.city.truth import Driver, NoiseSignal, dominant_driver

SLUG = "telecom_fraud"
HORIZON_DAYS = 30
BASE_LOG_ODDS = -5.9
HIDDEN_BETA = 0.45
#: An outflow counts as a spike only beyond this multiple of the resident's usual active day.
SPIKE_FACTOR = 3.0

SCAM_TYPES = ("online_shopping", "loan", "fake_order_job", "impersonation", "investment", "other")
_SCAM_MIX_YOUNG = np.array([0.30, 0.18, 0.22, 0.06, 0.06, 0.18])
_SCAM_MIX_OLDER = np.array([0.12, 0.08, 0.05, 0.25, 0.30, 0.20])

DRIVERS: tuple[Driver, ...] = (
    Driver(
        "flagged_contacts",
        "flagged_contacts",
        ("flagged_calls", "flagged_sms", "overseas_calls"),
        1,
        "log(1 + calls, SMS and overseas calls from flagged numbers in the 30 days before the as-of date).",
        0.75,
    ),
    Driver(
        "risky_app_alerts",
        "app_alerts",
        ("alert_type",),
        1,
        "log(1 + flagged-app, screen-sharing and phishing-URL alerts in the last 30 days).",
        0.9,
    ),
    Driver(
        "new_payees",
        "bank_outflows",
        ("new_payees",),
        1,
        "log(1 + new payees in the last 30 days).",
        0.8,
    ),
    Driver(
        "outflow_spike",
        "bank_outflows",
        ("amount_out",),
        1,
        "max(0, log(largest daily outflow in the last 30 days / (3 x mean daily outflow on active days in the 90 days before that))): outflows beyond three usual days.",
        0.45,
    ),
    Driver(
        "prior_victimisation",
        "fraud_cases",
        ("event_time", "available_at"),
        1,
        "Reported fraud cases on record at the as-of date (capped at 2).",
        0.9,
    ),
    Driver(
        "warning_answered",
        "antifraud_warnings",
        ("answered",),
        -1,
        "An anti-fraud warning issued in the last 30 days was answered.",
        -1.1,
    ),
    Driver(
        "app_installed",
        "app_installs",
        ("event_time",),
        -1,
        "The anti-fraud app is installed (on record at the as-of date).",
        -0.6,
    ),
    Driver(
        "young_adult",
        "residents",
        ("birth_year",),
        1,
        "Aged 18-30 at the as-of date (18-35 year-olds were 65.5% of 2021 victims).",
        0.6,
    ),
    Driver(
        "elderly_alone",
        "residents",
        ("birth_year", "lives_alone"),
        1,
        "Aged 65 or more and living alone.",
        0.8,
    ),
)
DRIVER_INDEX = {driver.name: i for i, driver in enumerate(DRIVERS)}
NOISE: tuple[NoiseSignal, ...] = (
    NoiseSignal("education", "residents", ("education_level",)),
    NoiseSignal("card_payments", "bank_outflows", ("card_payment_count",)),
)


def _distinct_days(
    rng: np.random.Generator, counts: np.ndarray, month_len: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(parent row, 0-based day of month) for `counts[r]` distinct days in each parent row's month."""
    counts = np.minimum(counts, month_len)
    rows = np.flatnonzero(counts)
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys = rng.random((len(rows), 31))
    keys[np.arange(31)[None, :] >= month_len[rows][:, None]] = 2.0
    order = np.argsort(keys, axis=1)
    take = np.arange(31)[None, :] < counts[rows][:, None]
    parent = np.repeat(rows, counts[rows])
    return parent, order[take]


def _fraud_rows(
    fr_res: np.ndarray, fr_time: np.ndarray, fr_loss: np.ndarray
) -> tuple[np.ndarray, ...]:
    """The bank trace of each fraud: the loss sent to two new payees that day, at night or not."""
    day = fr_time.astype("datetime64[D]").astype("datetime64[ns]")
    hour = (fr_time - day) / np.timedelta64(1, "h")
    night = ((hour >= 22) | (hour < 6)).astype(np.int64)
    return fr_res, day, fr_loss, np.full(len(fr_res), 2, dtype=np.int64), night


def _merge_days(
    background: tuple[np.ndarray, ...], frauds: tuple[np.ndarray, ...], t0: np.datetime64
) -> tuple[np.ndarray, ...]:
    """One row per (resident, day): background outflows plus fraud transfers on the same day.

    `background` rows are unique per (resident, day) and sorted that way; fraud rows are few,
    so they are added onto matching days and the rest appended (rows come out unsorted).
    """
    bg_key = _day_key(background[0], background[1], t0)
    fraud_key = _day_key(frauds[0], frauds[1], t0)
    pos = np.minimum(np.searchsorted(bg_key, fraud_key), max(len(bg_key) - 1, 0))
    match = bg_key[pos] == fraud_key if len(bg_key) else np.zeros(len(fraud_key), dtype=bool)
    extra_key, inverse = np.unique(fraud_key[~match], return_inverse=True)
    sums = []
    for bg_values, fraud_values in zip(background[2:], frauds[2:], strict=True):
        merged = bg_values.astype(float)
        np.add.at(merged, pos[match], fraud_values[match].astype(float))
        extra = np.bincount(
            inverse, weights=fraud_values[~match].astype(float), minlength=len(extra_key)
        )
        sums.append(np.concatenate([merged, extra]))
    keys = np.concatenate([bg_key, extra_key])
    merged_day = (t0 + (keys % 4096) * DAY).astype("datetime64[ns]")
    return (keys // 4096, merged_day, sums[0], sums[1], sums[2])


def _day_key(res: np.ndarray, day: np.ndarray, t0: np.datetime64) -> np.ndarray:
    """Sortable (resident, day) key: resident * 4096 + days since the window's start."""
    return res.astype(np.int64) * 4096 + ((day - t0) // DAY).astype(np.int64)


def _window_sum(
    entity: np.ndarray,
    day: np.ndarray,
    value: np.ndarray,
    t: np.datetime64,
    n: int,
    lo_days: int,
    hi_days: int,
) -> np.ndarray:
    """Sum of daily values per entity over days in [t - hi_days, t - lo_days) (daily rows, +1 day lag)."""
    mask = (day >= t - np.timedelta64(hi_days, "D")) & (day < t - np.timedelta64(lo_days, "D"))
    return np.bincount(entity[mask], weights=value[mask], minlength=n)


def _window_max(
    entity: np.ndarray, day: np.ndarray, value: np.ndarray, t: np.datetime64, n: int
) -> np.ndarray:
    mask = (day >= t - np.timedelta64(HORIZON_DAYS, "D")) & (day < t)
    out = np.zeros(n)
    np.maximum.at(out, entity[mask], value[mask])
    return out


@dataclass(frozen=True)
class _FraudCalendar:
    """Month starts of the window and the rate segments (`seg`): month j's rate holds on
    (seg[j], seg[j+1]]; a short month's window runs on at its own rate into the next month, so
    every label window uses rates fixed in its past."""

    starts: np.ndarray
    month_len: np.ndarray
    seg: np.ndarray

    @property
    def n(self) -> int:
        return len(self.starts) - 1

    @property
    def as_of(self) -> np.ndarray:
        return self.starts[:-1]


@dataclass(frozen=True)
class _Residents:
    """The screened cohort's registry and hidden state."""

    ids: np.ndarray
    frame: pd.DataFrame
    age0: np.ndarray
    age: np.ndarray
    lives_alone: np.ndarray
    susceptibility: np.ndarray
    exposure: np.ndarray
    tenure: Tenure | None = None


@dataclass(frozen=True)
class _Signals:
    """What exposure leaves in the records: flagged contacts, app alerts, bank outflows."""

    fc_res: np.ndarray
    fc_month: np.ndarray
    fc_day: np.ndarray
    calls: np.ndarray
    sms: np.ndarray
    overseas: np.ndarray
    fc_total: np.ndarray
    n_alerts: np.ndarray
    al_res: np.ndarray
    al_type: np.ndarray
    al_time: np.ndarray
    al_avail: np.ndarray
    bo_res: np.ndarray
    bo_day: np.ndarray
    bo_amount: np.ndarray
    bo_payees: np.ndarray
    bo_night: np.ndarray


@dataclass(frozen=True)
class _Warnings:
    """Police warnings, app installs and the fraud cases from before the window."""

    wa_res: np.ndarray
    wa_channel: np.ndarray
    wa_answered: np.ndarray
    wa_time: np.ndarray
    wa_avail: np.ndarray
    install_time: np.ndarray
    install_avail: np.ndarray
    hist_res: np.ndarray
    hist_time: np.ndarray


@dataclass(frozen=True)
class _Frauds:
    """The frauds simulated month by month, the rates behind them and the drivers' terms."""

    rate: np.ndarray
    contributions: np.ndarray
    detect: np.ndarray
    fr_res: np.ndarray
    fr_time: np.ndarray
    fr_report: np.ndarray
    fr_reported: np.ndarray
    fr_loss: np.ndarray


def simulate(
    rng: np.random.Generator,
    n_res: int,
    n_months: int,
    chunk: int,
    id_start: int,
    salt: int,
    rate_multiplier: float,
    realism: Realism | None = None,
) -> SimulatedChunk:
    """Simulate `n_res` screened residents over the `n_months` months before CITY_END.

    `realism` switches on the realistic profile (thresholds, age interactions, a new fraud
    script in the last months, reporting by household); None gives the clean city of
    generator 1.0.0, draw for draw. The steps draw from `rng` in this order, which fixes the
    bytes for a seed.
    """
    cal = _fraud_calendar(n_months)
    people = _draw_residents(rng, cal, n_res, id_start, salt, realism)
    signals = _signals_while_resident(_draw_signals(rng, cal, people, realism), people.tenure)
    warned = _warnings_while_resident(_draw_warnings(rng, cal, people, signals), people.tenure)
    frauds = _fraud_month_by_month(rng, cal, people, signals, warned, rate_multiplier, realism)
    units = _fraud_truth(cal, people, frauds, realism)
    resident_ids, residents, age0, t0 = people.ids, people.frame, people.age0, cal.starts[0]
    fc_res, fc_day, calls, sms, overseas = (
        signals.fc_res,
        signals.fc_day,
        signals.calls,
        signals.sms,
        signals.overseas,
    )
    al_res, al_type, al_time, al_avail = (
        signals.al_res,
        signals.al_type,
        signals.al_time,
        signals.al_avail,
    )
    bo_res, bo_amount, bo_payees, bo_night = (
        signals.bo_res,
        signals.bo_amount,
        signals.bo_payees,
        signals.bo_night,
    )
    bo_day_ns = signals.bo_day.astype("datetime64[ns]")
    wa_res, wa_channel, wa_answered, wa_time, wa_avail = (
        warned.wa_res,
        warned.wa_channel,
        warned.wa_answered,
        warned.wa_time,
        warned.wa_avail,
    )
    install_time, install_avail = warned.install_time, warned.install_avail
    hist_res, hist_time = warned.hist_res, warned.hist_time
    fr_res, fr_time, fr_report, fr_reported, fr_loss = (
        frauds.fr_res,
        frauds.fr_time,
        frauds.fr_report,
        frauds.fr_reported,
        frauds.fr_loss,
    )
    tables = _assemble(
        rng,
        chunk,
        resident_ids,
        residents,
        age0,
        (fc_res, fc_day, calls, sms, overseas),
        (al_res, al_type, al_time, al_avail),
        (bo_res, bo_day_ns, bo_amount, bo_payees, bo_night, t0),
        (wa_res, wa_channel, wa_answered, wa_time, wa_avail),
        (install_time, install_avail),
        (hist_res, hist_time, fr_res, fr_time, fr_report, fr_reported, fr_loss),
    )
    if people.tenure is not None:
        tables = _resident_rows(tables, people)
    return SimulatedChunk(tables=tables, units=units)


def _fraud_calendar(n_months: int) -> _FraudCalendar:
    """The window's months and rate segments (no draws)."""
    starts = month_starts(CITY_END, n_months)
    month_len = ((starts[1:] - starts[:-1]) // DAY).astype(np.int64)
    window = np.timedelta64(HORIZON_DAYS, "D")
    seg = starts.copy()
    seg[1:-1] = np.maximum(starts[1:-1], starts[:-2] + window)
    return _FraudCalendar(starts, month_len, seg)


def _draw_residents(
    rng: np.random.Generator,
    cal: _FraudCalendar,
    n_res: int,
    id_start: int,
    salt: int,
    realism: Realism | None = None,
) -> _Residents:
    """The registry (age, living alone, district, ...) and the hidden susceptibility and
    monthly exposure (AR(1)); in the realistic profile, moves in and out (city/history.py)."""
    n, t0, as_of = cal.n, cal.starts[0], cal.as_of
    band = rng.choice(3, size=n_res, p=[0.32, 0.45, 0.23])
    age0 = np.where(
        band == 0,
        rng.integers(18, 31, n_res),
        np.where(band == 1, rng.integers(31, 60, n_res), rng.integers(60, 86, n_res)),
    )
    first_year = pd.Timestamp(t0).year
    birth_year = (first_year - age0).astype(np.int64)
    age = (pd.DatetimeIndex(as_of).year.to_numpy()[None, :] - birth_year[:, None]).astype(float)
    lives_alone = rng.random(n_res) < np.where(age0 >= 65, 0.38, np.where(age0 >= 60, 0.2, 0.12))
    district = draw_districts(rng, n_res)
    resident_ids = pseudonyms(id_start, n_res, salt * 4 + 1)
    registered = add_days(np.full(n_res, t0), -rng.uniform(30, 8 * 365, n_res).round())
    tenure = (
        None
        if realism is None
        else draw_tenure(
            realism, n_res, cal.starts, RESIDENT_MOVE_IN_SHARE, RESIDENT_MOVE_OUT_SHARE
        )
    )
    if tenure is not None:
        registered = np.where(np.isnat(tenure.entry), registered, tenure.entry)
    residents = pd.DataFrame(
        {
            "resident_id": resident_ids,
            "birth_year": birth_year,
            "sex": np.where(rng.random(n_res) < 0.5, "f", "m"),
            "district": np.array(DISTRICTS)[district],
            "lives_alone": lives_alone,
            "education_level": rng.choice(
                ["primary", "secondary", "tertiary"], size=n_res, p=[0.25, 0.45, 0.30]
            ),
            "event_time": registered,
            "available_at": registered,
        }
    )
    susceptibility = rng.normal(0, 0.6, n_res)
    exposure_mean = rng.normal(0, 0.6, n_res) + 0.25 * (age0 < 31)
    rho, sigma = 0.7, 0.45
    exposure = np.empty((n_res, n))
    state = exposure_mean + rng.normal(0, sigma / np.sqrt(1 - rho**2), n_res)
    for j in range(n):
        state = exposure_mean + rho * (state - exposure_mean) + sigma * rng.normal(size=n_res)
        exposure[:, j] = state
    if tenure is not None:
        residents.insert(
            6,
            "moved_in_at",
            np.where(np.isnat(tenure.entry), np.datetime64("NaT", "ns"), registered),
        )
        residents.insert(7, "moved_out_at", tenure.exit)
    return _Residents(
        resident_ids, residents, age0, age, lives_alone, susceptibility, exposure, tenure
    )


def _draw_signals(
    rng: np.random.Generator, cal: _FraudCalendar, people: _Residents, realism: Realism | None
) -> _Signals:
    """Daily flagged contacts, risky-app alerts (and the new script's, realistic profile) and
    background bank outflows (fraud transfers are added as the frauds happen)."""
    n, starts, month_len = cal.n, cal.starts, cal.month_len
    n_res = len(people.ids)
    exposure, susceptibility = people.exposure, people.susceptibility
    contact_days = rng.poisson(np.exp(-0.5 + 0.9 * exposure))
    parent, day = _distinct_days(rng, contact_days.reshape(-1), np.tile(month_len, n_res))
    fc_res, fc_month = parent // n, parent % n
    fc_day = starts[fc_month] + day * DAY
    calls = rng.poisson(0.9, len(parent))
    sms = rng.poisson(0.8, len(parent))
    overseas = rng.poisson(0.25, len(parent))
    calls = np.where(calls + sms + overseas == 0, 1, calls)
    fc_total = (calls + sms + overseas).astype(float)

    n_alerts = rng.poisson(np.exp(-2.3 + 1.0 * exposure + 0.3 * susceptibility[:, None]))
    al_parent = repeat_index(n_alerts.reshape(-1))
    al_res, al_month = al_parent // n, al_parent % n
    al_time = uniform_times(rng, starts[al_month], starts[al_month + 1])
    al_type = rng.choice(
        ["flagged_app", "screen_sharing", "phishing_url"], size=len(al_parent), p=[0.4, 0.25, 0.35]
    )
    al_avail = add_days(al_time, rng.uniform(0, 1, len(al_parent)))
    if realism is not None:
        extra = fraud_extra_alerts(realism, exposure)
        ex_parent = repeat_index(extra.reshape(-1))
        ex_time = uniform_times(realism.rng, starts[ex_parent % n], starts[ex_parent % n + 1])
        n_alerts = n_alerts + extra
        al_res = np.concatenate([al_res, ex_parent // n])
        al_type = np.concatenate([al_type, np.full(len(ex_parent), "screen_sharing")])
        al_time = np.concatenate([al_time, ex_time])
        al_avail = np.concatenate(
            [al_avail, add_days(ex_time, realism.rng.uniform(0, 1, len(ex_parent)))]
        )

    base_amount = np.exp(rng.normal(np.log(450), 0.8, n_res))
    out_days = rng.poisson(5.0, (n_res, n)) + 1
    parent, day = _distinct_days(rng, out_days.reshape(-1), np.tile(month_len, n_res))
    bo_res, bo_month = parent // n, parent % n
    bo_day = starts[bo_month] + day * DAY
    bo_amount = base_amount[bo_res] * np.exp(rng.normal(0, 0.6, len(parent)))
    scam_pressure = sigmoid(exposure + susceptibility[:, None] - 1.5)
    bo_payees = rng.poisson(0.05 + 0.35 * scam_pressure[bo_res, bo_month])
    bo_night = rng.poisson(0.03 + 0.15 * scam_pressure[bo_res, bo_month])
    spike_month = rng.random((n_res, n)) < sigmoid(
        -3.2 + 1.1 * exposure + 0.5 * susceptibility[:, None]
    )
    first_of_month = np.r_[True, (parent[1:] != parent[:-1])]
    spike_row = first_of_month & spike_month[bo_res, bo_month]
    bo_amount = np.round(
        np.where(spike_row, bo_amount * rng.uniform(6, 30, len(parent)), bo_amount), 2
    )
    bo_payees = bo_payees + spike_row * rng.integers(0, 3, len(parent))
    by_day = np.lexsort((bo_day, bo_res))
    bo_res, bo_day, bo_amount, bo_payees, bo_night = (
        bo_res[by_day],
        bo_day[by_day],
        bo_amount[by_day],
        bo_payees[by_day],
        bo_night[by_day],
    )
    return _Signals(
        fc_res,
        fc_month,
        fc_day,
        calls,
        sms,
        overseas,
        fc_total,
        n_alerts,
        al_res,
        al_type,
        al_time,
        al_avail,
        bo_res,
        bo_day,
        bo_amount,
        bo_payees,
        bo_night,
    )


def _draw_warnings(
    rng: np.random.Generator, cal: _FraudCalendar, people: _Residents, signals: _Signals
) -> _Warnings:
    """Warnings to exposed residents, app installs, and fraud cases from before the window."""
    n, starts, t0, end = cal.n, cal.starts, cal.starts[0], cal.starts[-1]
    n_res, age0, susceptibility = len(people.ids), people.age0, people.susceptibility
    fc_res, fc_month, fc_total, n_alerts = (
        signals.fc_res,
        signals.fc_month,
        signals.fc_total,
        signals.n_alerts,
    )
    contacts_month = np.zeros((n_res, n))
    np.add.at(contacts_month, (fc_res, fc_month), fc_total)
    alerts_month = n_alerts.astype(float)
    warned = rng.random((n_res, n)) < sigmoid(
        -2.6 + 0.9 * np.log1p(contacts_month) + 0.9 * (alerts_month > 0)
    )
    wa_res, wa_month = np.nonzero(warned)
    wa_time = uniform_times(rng, starts[wa_month], starts[wa_month + 1])
    elderly = age0[wa_res] >= 65
    wa_channel = np.where(
        elderly & (rng.random(len(wa_res)) < 0.6),
        "visit",
        np.where(rng.random(len(wa_res)) < 0.55, "sms_12381", "call_96110"),
    )
    p_answer = np.select([wa_channel == "visit", wa_channel == "call_96110"], [0.9, 0.6], 0.3)
    wa_answered = rng.random(len(wa_res)) < p_answer
    wa_avail = add_days(wa_time, rng.uniform(0, 1, len(wa_res)))

    pre_installed = rng.random(n_res) < 0.3
    install_time = np.where(
        pre_installed,
        add_days(np.full(n_res, t0), -rng.uniform(1, 900, n_res)),
        np.datetime64("NaT", "ns"),
    ).astype("datetime64[ns]")
    after_warning = wa_answered & (rng.random(len(wa_res)) < 0.3)
    later = add_days(wa_time[after_warning], rng.uniform(0, 5, after_warning.sum()))
    cand = np.full(n_res, np.datetime64("NaT", "ns"))
    order = np.argsort(later)[::-1]
    cand[wa_res[after_warning][order]] = later[order]
    install_time = np.where(np.isnat(install_time), cand, install_time)
    install_time = np.where(install_time < end, install_time, np.datetime64("NaT", "ns"))
    install_avail = np.where(
        np.isnat(install_time),
        np.datetime64("NaT", "ns"),
        add_days(install_time, rng.uniform(0, 2, n_res)),
    )

    prior_victim = rng.random(n_res) < sigmoid(-3.4 + 0.8 * susceptibility)
    hist_res = np.flatnonzero(prior_victim)
    hist_time = add_days(np.full(len(hist_res), t0), -rng.uniform(20, 1000, len(hist_res)))
    return _Warnings(
        wa_res,
        wa_channel,
        wa_answered,
        wa_time,
        wa_avail,
        install_time,
        install_avail,
        hist_res,
        hist_time,
    )


def _fraud_month_by_month(
    rng: np.random.Generator,
    cal: _FraudCalendar,
    people: _Residents,
    signals: _Signals,
    warned: _Warnings,
    rate_multiplier: float,
    realism: Realism | None,
) -> _Frauds:
    """Drivers at each month's start from the rows on record, then that month's frauds (whose
    transfers and reports later months see)."""
    n, t0, as_of, seg = cal.n, cal.starts[0], cal.as_of, cal.seg
    window = np.timedelta64(HORIZON_DAYS, "D")
    n_res, age0, age, lives_alone = len(people.ids), people.age0, people.age, people.lives_alone
    susceptibility, exposure = people.susceptibility, people.exposure
    fc_res, fc_day, calls, sms, overseas, fc_total = (
        signals.fc_res,
        signals.fc_day,
        signals.calls,
        signals.sms,
        signals.overseas,
        signals.fc_total,
    )
    al_res, al_type, al_time, al_avail = (
        signals.al_res,
        signals.al_type,
        signals.al_time,
        signals.al_avail,
    )
    bo_res, bo_day, bo_amount, bo_payees, bo_night = (
        signals.bo_res,
        signals.bo_day,
        signals.bo_amount,
        signals.bo_payees,
        signals.bo_night,
    )
    wa_res, wa_answered, wa_time, wa_avail = (
        warned.wa_res,
        warned.wa_answered,
        warned.wa_time,
        warned.wa_avail,
    )
    install_avail, hist_res = warned.install_avail, warned.hist_res
    detect = np.where(age0 >= 65, 0.5, np.where(age0 >= 60, 0.65, 0.82))
    if realism is not None:
        detect = fraud_detection(age0, lives_alone)
    drifted = fraud_drift_months(n)
    # What the scammers' channels weigh: the clean city counts every contact and alert alike.
    fc_weight = fc_total if realism is None else fraud_contact_weight(calls, sms, overseas)
    al_weight = None if realism is None else fraud_alert_weight(al_type)
    beta = np.array([d.beta for d in DRIVERS])
    young = ((age >= 18) & (age <= 30)).astype(float)
    elderly_alone = ((age >= 65) & lives_alone[:, None]).astype(float)
    fr_res = np.zeros(0, dtype=np.int64)
    fr_time = np.zeros(0, dtype="datetime64[ns]")
    fr_report = np.zeros(0, dtype="datetime64[ns]")
    fr_reported = np.zeros(0, dtype=bool)
    fr_loss = np.zeros(0)
    rate = np.zeros((n_res, n))
    contributions = np.zeros((n_res, n, len(DRIVERS)))
    bo_day_ns = bo_day.astype("datetime64[ns]")
    present = _present(cal, people.tenure, n_res)
    for j in range(n):
        t = as_of[j]
        d_res, d_day, d_amt, d_payees, _ = _merge_days(
            (bo_res, bo_day_ns, bo_amount, bo_payees, bo_night),
            _fraud_rows(fr_res, fr_time, fr_loss),
            t0,
        )
        recent_max = _window_max(d_res, d_day, d_amt, t, n_res)
        base_sum = _window_sum(d_res, d_day, d_amt, t, n_res, HORIZON_DAYS, HORIZON_DAYS + 90)
        base_cnt = _window_sum(
            d_res, d_day, np.ones(len(d_amt)), t, n_res, HORIZON_DAYS, HORIZON_DAYS + 90
        )
        baseline = np.divide(base_sum, base_cnt, out=np.zeros(n_res), where=base_cnt > 0)
        spike = np.where(
            (baseline > 0) & (recent_max > 0),
            np.clip(
                np.log(np.maximum(recent_max, 1e-9) / (SPIKE_FACTOR * np.maximum(baseline, 1e-9))),
                0,
                None,
            ),
            0.0,
        )
        x = np.stack(
            [
                np.log1p(_window_sum(fc_res, fc_day, fc_weight, t, n_res, 0, HORIZON_DAYS)),
                np.log1p(
                    np.bincount(
                        al_res[(al_avail <= t) & (al_time > t - window)],
                        weights=None
                        if al_weight is None
                        else al_weight[(al_avail <= t) & (al_time > t - window)],
                        minlength=n_res,
                    )
                ),
                np.log1p(_window_sum(d_res, d_day, d_payees, t, n_res, 0, HORIZON_DAYS)),
                spike,
                np.minimum(
                    np.bincount(hist_res, minlength=n_res)
                    + np.bincount(fr_res[fr_reported & (fr_report <= t)], minlength=n_res),
                    2,
                ).astype(float),
                (
                    np.bincount(
                        wa_res[wa_answered & (wa_avail <= t) & (wa_time > t - window)],
                        minlength=n_res,
                    )
                    > 0
                ).astype(float),
                (install_avail <= t).astype(float),
                young[:, j],
                elderly_alone[:, j],
            ],
            axis=1,
        )
        if realism is None:
            contributions[:, j] = x * beta
        else:
            contributions[:, j] = fraud_effects(x, bool(drifted[j]), DRIVER_INDEX) * beta
        logit = (
            BASE_LOG_ODDS
            + (0.0 if realism is None else BASE_SHIFT[SLUG])
            + np.log(rate_multiplier)
            + contributions[:, j].sum(axis=1)
            + HIDDEN_BETA * (susceptibility + 0.4 * exposure[:, j])
        )
        rate[:, j] = -np.log1p(-sigmoid(logit)) / HORIZON_DAYS * present[:, j]
        seg_days = (seg[j + 1] - seg[j]) / DAY
        count = rng.poisson(rate[:, j] * seg_days)
        new_res = repeat_index(count)
        new_time = uniform_times(
            rng, np.full(len(new_res), seg[j]), np.full(len(new_res), seg[j + 1])
        )
        new_reported = rng.random(len(new_res)) < detect[new_res]
        fr_res = np.concatenate([fr_res, new_res])
        fr_time = np.concatenate([fr_time, new_time])
        fr_report = np.concatenate(
            [fr_report, add_days(new_time, rng.uniform(0, 10, len(new_res)))]
        )
        fr_reported = np.concatenate([fr_reported, new_reported])
        fr_loss = np.concatenate([fr_loss, _fraud_losses(rng, age0[new_res])])
    return _Frauds(rate, contributions, detect, fr_res, fr_time, fr_report, fr_reported, fr_loss)


def _fraud_truth(
    cal: _FraudCalendar, people: _Residents, frauds: _Frauds, realism: Realism | None
) -> pd.DataFrame:
    """P(a reported fraud occurs in (as_of, as_of + 30 days]) per resident and complete month."""
    as_of, seg, end = cal.as_of, cal.seg, cal.starts[-1]
    window = np.timedelta64(HORIZON_DAYS, "D")
    n_res, resident_ids = len(people.ids), people.ids
    rate, contributions, detect = frauds.rate, frauds.contributions, frauds.detect
    complete = np.flatnonzero(as_of + window <= end)
    overlap_days = np.array([(seg[k] - as_of[k]) / DAY for k in complete])
    own_days = HORIZON_DAYS - overlap_days
    prev_rate = np.concatenate([np.zeros((n_res, 1)), rate[:, :-1]], axis=1)[:, complete]
    expected = prev_rate * overlap_days + rate[:, complete] * own_days
    true_prob = 1.0 - np.exp(-detect[:, None] * expected)
    registered = _registered_units(people, as_of[complete])
    # The dominant driver is measured against the average unit of the truth (residents then).
    dominant = np.full(registered.size, "none", dtype=object)
    dominant[registered.reshape(-1)] = dominant_driver(
        contributions[:, complete][registered], [d.name for d in DRIVERS]
    )
    units = pd.DataFrame(
        {
            "entity_id": entity_column(resident_ids, np.repeat(np.arange(n_res), len(complete))),
            "as_of": np.tile(as_of[complete], n_res),
            "true_prob": true_prob.reshape(-1),
            "dominant_driver": pd.Categorical(dominant),
        }
    )
    if realism is not None:
        units["event_prob"] = (1.0 - np.exp(-expected)).reshape(-1)
    if people.tenure is not None:
        units = units[registered.reshape(-1)].reset_index(drop=True)
    return units


def _fraud_losses(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Loss per fraud: older victims lose more per case."""
    median = np.where(age >= 60, 30_000.0, 6_000.0)
    return np.round(median * np.exp(rng.normal(0, 0.9, len(age))), 2)


def _assemble(
    rng, chunk, ids, residents, age0, contacts, alerts, outflows, warnings, installs, frauds
) -> dict[str, pd.DataFrame]:
    """Lay the simulated arrays out as the contract's tables (fixed column and row order)."""
    fc_res, fc_day, calls, sms, overseas = contacts
    order = np.lexsort((fc_day, fc_res))
    flagged = pd.DataFrame(
        {
            "resident_id": entity_column(ids, fc_res[order]),
            "flagged_calls": calls[order].astype(np.int64),
            "flagged_sms": sms[order].astype(np.int64),
            "overseas_calls": overseas[order].astype(np.int64),
            "event_time": fc_day[order].astype("datetime64[ns]"),
            "available_at": (fc_day[order] + DAY).astype("datetime64[ns]"),
        }
    )

    al_res, al_type, al_time, al_avail = alerts
    order = np.lexsort((al_time, al_res))
    app_alerts = pd.DataFrame(
        {
            "alert_id": sequential_ids("AA", chunk, len(order)),
            "resident_id": ids[al_res[order]],
            "alert_type": al_type[order],
            "event_time": al_time[order],
            "available_at": al_avail[order],
        }
    )

    hist_res, hist_time, fr_res, fr_time, fr_report, fr_reported, fr_loss = frauds
    in_window = fr_time < np.datetime64(pd.Timestamp(CITY_END))
    fr_res, fr_time, fr_report, fr_reported, fr_loss = (
        fr_res[in_window],
        fr_time[in_window],
        fr_report[in_window],
        fr_reported[in_window],
        fr_loss[in_window],
    )
    bo_res, bo_day, bo_amount, bo_payees, bo_night, t0 = outflows
    merged = _merge_days(
        (bo_res, bo_day, bo_amount, bo_payees, bo_night), _fraud_rows(fr_res, fr_time, fr_loss), t0
    )
    by_day = np.lexsort((merged[1], merged[0]))
    d_res, d_day, d_amount, d_payees, d_night = (values[by_day] for values in merged)
    bank = pd.DataFrame(
        {
            "resident_id": entity_column(ids, d_res),
            "amount_out": np.round(d_amount, 2),
            "new_payees": d_payees.astype(np.int64),
            "night_transfers": d_night.astype(np.int64),
            "card_payment_count": rng.poisson(3.0, len(d_res)).astype(np.int64),
            "event_time": d_day,
            "available_at": d_day + DAY,
        }
    )

    wa_res, wa_channel, wa_answered, wa_time, wa_avail = warnings
    order = np.lexsort((wa_time, wa_res))
    antifraud = pd.DataFrame(
        {
            "warning_id": sequential_ids("AW", chunk, len(order)),
            "resident_id": ids[wa_res[order]],
            "channel": wa_channel[order],
            "answered": wa_answered[order],
            "event_time": wa_time[order],
            "available_at": wa_avail[order],
        }
    )

    install_time, install_avail = installs
    has = ~np.isnat(install_time)
    app_installs = pd.DataFrame(
        {
            "resident_id": ids[has],
            "event_time": install_time[has],
            "available_at": install_avail[has],
        }
    ).sort_values("resident_id", kind="stable")

    case_res = np.concatenate([hist_res, fr_res[fr_reported]])
    case_time = np.concatenate([hist_time, fr_time[fr_reported]])
    case_report = np.concatenate(
        [add_days(hist_time, rng.uniform(0, 10, len(hist_res))), fr_report[fr_reported]]
    )
    case_loss = np.concatenate([_fraud_losses(rng, age0[hist_res]), fr_loss[fr_reported]])
    order = np.lexsort((case_time, case_res))
    case_res, case_time, case_report, case_loss = (
        case_res[order],
        case_time[order],
        case_report[order],
        case_loss[order],
    )
    older = age0[case_res] >= 60
    scam = np.where(
        older,
        rng.choice(len(SCAM_TYPES), size=len(case_res), p=_SCAM_MIX_OLDER),
        rng.choice(len(SCAM_TYPES), size=len(case_res), p=_SCAM_MIX_YOUNG),
    )
    fraud_cases = pd.DataFrame(
        {
            "case_id": sequential_ids("FC", chunk, len(order)),
            "resident_id": ids[case_res],
            "scam_type": np.array(SCAM_TYPES)[scam],
            "loss_amount": case_loss,
            "event_time": case_time,
            "available_at": case_report,
        }
    )
    return {
        "residents": residents,
        "flagged_contacts": flagged,
        "app_alerts": app_alerts,
        "bank_outflows": bank,
        "antifraud_warnings": antifraud,
        "app_installs": app_installs.reset_index(drop=True),
        "fraud_cases": fraud_cases,
    }


# --- moves in and out (realistic profile) -----------------------------------------------------


def _present(cal: _FraudCalendar, tenure: Tenure | None, n_res: int) -> np.ndarray:
    """(residents, months) 1.0 where month j's fraud rate applies: the resident lives in the
    city over the whole of (seg[j], seg[j + 1]] (all of them in the clean profile)."""
    if tenure is None:
        return np.ones((n_res, cal.n))
    entered = np.isnat(tenure.entry)[:, None] | (cal.seg[None, :-1] >= tenure.entry[:, None])
    left = ~np.isnat(tenure.exit)[:, None] & (cal.seg[None, 1:] > tenure.exit[:, None])
    return (entered & ~left).astype(float)


def _registered_units(people: _Residents, as_of: np.ndarray) -> np.ndarray:
    """(residents, as-of dates) True where the registry shows the resident living in the city:
    the registry row on record (`available_at`) and not moved out yet."""
    if people.tenure is None:
        return np.ones((len(people.ids), len(as_of)), dtype=bool)
    available = people.frame["available_at"].to_numpy(dtype="datetime64[ns]")
    exit_ = people.tenure.exit
    gone = ~np.isnat(exit_)[:, None] & (exit_[:, None] <= as_of[None, :])
    return (available[:, None] <= as_of[None, :]) & ~gone


def _signals_while_resident(signals: _Signals, tenure: Tenure | None) -> _Signals:
    """Contacts, alerts and transfers the city's operators and banks record while the resident
    lives here (the count of alerts per month keeps what the warnings read)."""
    if tenure is None:
        return signals
    fc = tenure.keeps(signals.fc_res, signals.fc_day.astype("datetime64[ns]"))
    al = tenure.keeps(signals.al_res, signals.al_time)
    bo = tenure.keeps(signals.bo_res, signals.bo_day.astype("datetime64[ns]"))
    return replace(
        signals,
        fc_res=signals.fc_res[fc],
        fc_month=signals.fc_month[fc],
        fc_day=signals.fc_day[fc],
        calls=signals.calls[fc],
        sms=signals.sms[fc],
        overseas=signals.overseas[fc],
        fc_total=signals.fc_total[fc],
        al_res=signals.al_res[al],
        al_type=signals.al_type[al],
        al_time=signals.al_time[al],
        al_avail=signals.al_avail[al],
        bo_res=signals.bo_res[bo],
        bo_day=signals.bo_day[bo],
        bo_amount=signals.bo_amount[bo],
        bo_payees=signals.bo_payees[bo],
        bo_night=signals.bo_night[bo],
    )


def _warnings_while_resident(warned: _Warnings, tenure: Tenure | None) -> _Warnings:
    """Warnings, app installs and earlier cases on the city's record: none from before a
    resident moved in (those cases were filed where the resident lived then) or after it left."""
    if tenure is None:
        return warned
    wa = tenure.keeps(warned.wa_res, warned.wa_time)
    n_res = len(warned.install_time)
    installed = ~np.isnat(warned.install_time)
    keep_install = installed & tenure.keeps(np.arange(n_res), warned.install_time)
    hist = tenure.keeps(warned.hist_res, warned.hist_time)
    return replace(
        warned,
        wa_res=warned.wa_res[wa],
        wa_channel=warned.wa_channel[wa],
        wa_answered=warned.wa_answered[wa],
        wa_time=warned.wa_time[wa],
        wa_avail=warned.wa_avail[wa],
        install_time=np.where(keep_install, warned.install_time, np.datetime64("NaT", "ns")),
        install_avail=np.where(keep_install, warned.install_avail, np.datetime64("NaT", "ns")),
        hist_res=warned.hist_res[hist],
        hist_time=warned.hist_time[hist],
    )


def _resident_rows(tables: dict[str, pd.DataFrame], people: _Residents) -> dict[str, pd.DataFrame]:
    """Drop any record left outside a resident's [moved_in_at, moved_out_at) (a fraud whose
    rate segment ran past a move out)."""
    index = pd.Index(people.ids)
    tenure = people.tenure
    assert tenure is not None  # only the realistic profile asks
    out = dict(tables)
    for name, frame in tables.items():
        if name == "residents":
            continue
        resident = index.get_indexer(frame["resident_id"].astype(str))
        keep = tenure.keeps(resident, frame["event_time"].to_numpy(dtype="datetime64[ns]"))
        out[name] = frame[keep].reset_index(drop=True)
    return out
