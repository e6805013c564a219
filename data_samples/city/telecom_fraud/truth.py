"""The frauds month by month from the drivers on record, and the unit truth they give."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_samples.city.common import (
    DAY,
    add_days,
    entity_column,
    repeat_index,
    sigmoid,
    uniform_times,
)
from data_samples.city.history import Tenure, registered_units
from data_samples.city.realism import (
    BASE_SHIFT,
    Realism,
    fraud_alert_weight,
    fraud_contact_weight,
    fraud_detection,
    fraud_drift_months,
    fraud_effects,
)
from data_samples.city.telecom_fraud.draws import Residents, Signals, Warnings, fraud_losses
from data_samples.city.telecom_fraud.drivers import (
    BASE_LOG_ODDS,
    DRIVER_INDEX,
    DRIVERS,
    HIDDEN_BETA,
    HORIZON_DAYS,
    SLUG,
    SPIKE_FACTOR,
)
from data_samples.city.telecom_fraud.panel import (
    FraudCalendar,
    fraud_rows,
    merge_days,
    window_max,
    window_sum,
)
from data_samples.city.truth import dominant_driver


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


def fraud_month_by_month(
    rng: np.random.Generator,
    cal: FraudCalendar,
    people: Residents,
    signals: Signals,
    warned: Warnings,
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
        d_res, d_day, d_amt, d_payees, _ = merge_days(
            (bo_res, bo_day_ns, bo_amount, bo_payees, bo_night),
            fraud_rows(fr_res, fr_time, fr_loss),
            t0,
        )
        recent_max = window_max(d_res, d_day, d_amt, t, n_res)
        base_sum = window_sum(d_res, d_day, d_amt, t, n_res, HORIZON_DAYS, HORIZON_DAYS + 90)
        base_cnt = window_sum(
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
                np.log1p(window_sum(fc_res, fc_day, fc_weight, t, n_res, 0, HORIZON_DAYS)),
                np.log1p(
                    np.bincount(
                        al_res[(al_avail <= t) & (al_time > t - window)],
                        weights=None
                        if al_weight is None
                        else al_weight[(al_avail <= t) & (al_time > t - window)],
                        minlength=n_res,
                    )
                ),
                np.log1p(window_sum(d_res, d_day, d_payees, t, n_res, 0, HORIZON_DAYS)),
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
        fr_loss = np.concatenate([fr_loss, fraud_losses(rng, age0[new_res])])
    return _Frauds(rate, contributions, detect, fr_res, fr_time, fr_report, fr_reported, fr_loss)


def fraud_truth(
    cal: FraudCalendar, people: Residents, frauds: _Frauds, realism: Realism | None
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
    registered = registered_units(people, as_of[complete])
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


def _present(cal: FraudCalendar, tenure: Tenure | None, n_res: int) -> np.ndarray:
    """(residents, months) 1.0 where month j's fraud rate applies: the resident lives in the
    city over the whole of (seg[j], seg[j + 1]] (all of them in the clean profile)."""
    if tenure is None:
        return np.ones((n_res, cal.n))
    entered = np.isnat(tenure.entry)[:, None] | (cal.seg[None, :-1] >= tenure.entry[:, None])
    left = ~np.isnat(tenure.exit)[:, None] & (cal.seg[None, 1:] > tenure.exit[:, None])
    return (entered & ~left).astype(float)
