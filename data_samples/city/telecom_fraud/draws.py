"""The random draws of the screened residents and of what their exposure leaves in the records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_samples.city.common import (
    DAY,
    add_days,
    draw_districts,
    pseudonyms,
    repeat_index,
    sigmoid,
    uniform_times,
)
from data_samples.city.config import DISTRICTS
from data_samples.city.history import (
    RESIDENT_MOVE_IN_SHARE,
    RESIDENT_MOVE_OUT_SHARE,
    Tenure,
    draw_tenure,
)
from data_samples.city.realism import Realism, fraud_extra_alerts
from data_samples.city.telecom_fraud.panel import FraudCalendar


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


@dataclass(frozen=True)
class Residents:
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
class Signals:
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
class Warnings:
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


def draw_residents(
    rng: np.random.Generator,
    cal: FraudCalendar,
    n_res: int,
    id_start: int,
    salt: int,
    realism: Realism | None = None,
) -> Residents:
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
    return Residents(
        resident_ids, residents, age0, age, lives_alone, susceptibility, exposure, tenure
    )


def draw_signals(
    rng: np.random.Generator, cal: FraudCalendar, people: Residents, realism: Realism | None
) -> Signals:
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
    return Signals(
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


def draw_warnings(
    rng: np.random.Generator, cal: FraudCalendar, people: Residents, signals: Signals
) -> Warnings:
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
    return Warnings(
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


def fraud_losses(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Loss per fraud: older victims lose more per case."""
    median = np.where(age >= 60, 30_000.0, 6_000.0)
    return np.round(median * np.exp(rng.normal(0, 0.9, len(age))), 2)
