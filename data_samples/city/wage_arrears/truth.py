"""Driver quantities from the rows on record, onsets in episodes and their detection, the unit
truth, and the label rows (confirmed arrears and the complaints that reveal them)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_samples.city.common import (
    add_days,
    entity_column,
    lag_days,
    repeat_index,
    sigmoid,
    spring_festival_pressure,
    uniform_times,
)
from data_samples.city.history import registered_units
from data_samples.city.realism import BASE_SHIFT, Realism, wage_detection, wage_effects
from data_samples.city.truth import dominant_driver
from data_samples.city.wage_arrears.draws import Employers, MonthlyRecords, StressEvents
from data_samples.city.wage_arrears.drivers import (
    BASE_LOG_ODDS,
    DRIVER_INDEX,
    DRIVERS,
    EPISODE_MONTHS,
    HORIZON_MONTHS,
    SLUG,
    STRESS_BETA,
)
from data_samples.city.wage_arrears.panel import (
    Calendar,
    count_recent,
    latest_on_record,
    window_mean,
)
from data_samples.city.wage_arrears.stress import owner_overdue_share


def driver_quantities(
    cal: Calendar,
    firms: Employers,
    proj: dict[str, pd.DataFrame | np.ndarray],
    records: MonthlyRecords,
    events: StressEvents,
) -> tuple[np.ndarray, np.ndarray]:
    """Each driver's quantity at each as-of date from the rows on record (firms, months,
    drivers), and the complaint term alone (the realistic detection reads it)."""
    n, as_of = cal.n, cal.starts[:-1]
    n_firms, is_construction, young = len(firms.ids), firms.is_construction, firms.young
    si_avail, tax_avail, util_avail = records.si_avail, records.tax_avail, records.util_avail
    amount_due, amount_paid, headcount = records.amount_due, records.amount_paid, records.headcount
    kwh, sales, tax_overdue = records.kwh, records.sales, records.tax_overdue
    case_firm, _, _, case_time, case_avail = events.cases
    list_firm, _, list_time, list_avail = events.listings
    bg_firm, bg_time, bg_avail = events.bg_firm, events.bg_time, events.bg_avail
    si_last = latest_on_record(si_avail, as_of)
    tax_last = latest_on_record(tax_avail, as_of)
    util_last = latest_on_record(util_avail, as_of)
    due3, ok = window_mean(amount_due, si_last, 0, 3)
    paid3, _ = window_mean(amount_paid, si_last, 0, 3)
    si_arrears = np.where(
        ok, 1.0 - np.divide(paid3, due3, out=np.ones_like(due3), where=due3 > 0), 0.0
    )
    hc_now, ok_now = window_mean(headcount, si_last, 0, 1)
    hc_before, ok_before = window_mean(headcount, si_last, 6, 1)
    headcount_drop = np.where(
        ok_now & ok_before, np.clip(1.0 - hc_now / np.maximum(hc_before, 1), 0, None), 0.0
    )
    kwh_now, ok_now = window_mean(kwh, util_last, 0, 3)
    kwh_before, ok_before = window_mean(kwh, util_last, 3, 3)
    electricity_drop = np.where(
        ok_now & ok_before, np.clip(1.0 - kwh_now / np.maximum(kwh_before, 1e-9), 0, None), 0.0
    )
    overdue_flag = np.where(np.isnan(tax_overdue), np.nan, (tax_overdue > 0).astype(float))
    overdue_share, _ = window_mean(overdue_flag, tax_last, 0, 3)
    sales_now, ok_now = window_mean(sales, tax_last, 0, 3)
    sales_before, ok_before = window_mean(sales, tax_last, 3, 3)
    sales_decline = np.where(
        ok_now & ok_before,
        np.clip(np.log(np.maximum(sales_before, 1) / np.maximum(sales_now, 1)), 0, None),
        0.0,
    )
    suits = np.log1p(count_recent(case_firm, case_time, case_avail, as_of, n_firms, 365))
    listed = (count_recent(list_firm, list_time, list_avail, as_of, n_firms, 730) > 0).astype(float)
    complaints = np.log1p(count_recent(bg_firm, bg_time, bg_avail, as_of, n_firms, 365))
    owner_delay = owner_overdue_share(proj, n_firms, as_of, use_available=True)
    festival = np.broadcast_to(spring_festival_pressure(as_of), (n_firms, n))

    x = np.stack(
        [
            np.broadcast_to(is_construction[:, None].astype(float), (n_firms, n)),
            owner_delay,
            si_arrears,
            headcount_drop,
            electricity_drop,
            overdue_share,
            sales_decline,
            suits,
            listed,
            complaints,
            young,
            festival,
        ],
        axis=2,
    )
    return x, complaints


def onsets_and_truth(
    rng: np.random.Generator,
    cal: Calendar,
    firms: Employers,
    x: np.ndarray,
    complaints: np.ndarray,
    stress: np.ndarray,
    rate_multiplier: float,
    realism: Realism | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The monthly onset hazard, onsets in episodes and their detection; the unit truth
    (P(detected onset in months k..k+2 | world up to k and hazards ahead)) and the detected
    onsets."""
    n, as_of = cal.n, cal.starts[:-1]
    n_firms, employer_ids = len(firms.ids), firms.ids
    sector, size_band, is_construction = firms.sector, firms.size_band, firms.is_construction
    beta = np.array([driver.beta for driver in DRIVERS])
    shaped = x if realism is None else wage_effects(x, sector, size_band, DRIVER_INDEX)
    contributions = shaped * beta
    logit = (
        BASE_LOG_ODDS
        + (0.0 if realism is None else BASE_SHIFT[SLUG])
        + np.log(rate_multiplier)
        + contributions.sum(axis=2)
        + STRESS_BETA * stress
    )
    hazard = sigmoid(logit)
    if firms.tenure is not None:
        hazard = np.where(firms.tenure.active_months(cal.starts), hazard, 0.0)
    detect = np.where(is_construction, 0.55, 0.8) * np.where(size_band == 0, 0.9, 1.0)
    detect_m = (
        np.broadcast_to(detect[:, None], (n_firms, n))
        if realism is None
        else wage_detection(sector, size_band, complaints)
    )

    # --- onsets, episodes and detection ----------------------------------------------------
    onset = np.zeros((n_firms, n), dtype=bool)
    blocked_until = np.full(n_firms, -1)
    draws = rng.random((n_firms, n))
    for j in range(n):
        free = blocked_until < j
        onset[:, j] = free & (draws[:, j] < hazard[:, j])
        blocked_until = np.where(onset[:, j], j + EPISODE_MONTHS, blocked_until)
    detected = onset & (rng.random((n_firms, n)) < detect_m)

    # --- truth: P(detected onset in months k..k+2 | world up to k and hazards ahead) ---------
    n_asof = n - HORIZON_MONTHS + 1
    last_onset = np.full(n_firms, -10_000)
    true_prob = np.empty((n_firms, n_asof))
    event_prob = np.empty((n_firms, n_asof))
    for k in range(n_asof):
        no_detect = np.ones(n_firms)
        no_onset = np.ones(n_firms)
        for j in range(k + HORIZON_MONTHS - 1, k - 1, -1):
            free = last_onset + EPISODE_MONTHS < j
            step = (1 - hazard[:, j]) * no_detect + hazard[:, j] * (1 - detect_m[:, j])
            no_detect = np.where(free, step, no_detect)
            no_onset = np.where(free, (1 - hazard[:, j]) * no_onset, no_onset)
        true_prob[:, k] = 1 - no_detect
        event_prob[:, k] = 1 - no_onset
        last_onset = np.where(onset[:, k], k, last_onset)
    registered = (
        np.ones((n_firms, n_asof), dtype=bool)
        if firms.tenure is None
        else registered_units(firms, as_of[:n_asof])
    )
    # The dominant driver is measured against the average unit of the truth (registered ones).
    dominant = np.full(n_firms * n_asof, "none", dtype=object)
    dominant[registered.reshape(-1)] = dominant_driver(
        contributions[:, :n_asof][registered], [driver.name for driver in DRIVERS]
    )
    units = pd.DataFrame(
        {
            "entity_id": entity_column(employer_ids, np.repeat(np.arange(n_firms), n_asof)),
            "as_of": np.tile(as_of[:n_asof], n_firms),
            "true_prob": true_prob.reshape(-1),
            "dominant_driver": pd.Categorical(dominant),
        }
    )
    if realism is not None:
        units["event_prob"] = event_prob.reshape(-1)
    if firms.tenure is not None:
        units = units[registered.reshape(-1)].reset_index(drop=True)
    return units, detected


def label_records(
    rng: np.random.Generator,
    cal: Calendar,
    firms: Employers,
    records: MonthlyRecords,
    events: StressEvents,
    detected: np.ndarray,
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The label rows (confirmed arrears) and every complaint row: background ones, the wage
    complaints that reveal an onset, and inspections."""
    is_construction, headcount, wage = firms.is_construction, records.headcount, records.wage
    bg_firm, bg_time, bg_avail = events.bg_firm, events.bg_time, events.bg_avail
    bg_channel, bg_topic = events.bg_channel, events.bg_topic
    ev_firm, ev_month = np.nonzero(detected)
    ev_time = uniform_times(rng, cal.starts[ev_month], cal.starts[ev_month + 1])
    n_ev = len(ev_firm)
    constr = is_construction[ev_firm]
    route_u = rng.random(n_ev)
    via_complaint = route_u < np.where(constr, 0.45, 0.65)
    via_inspection = ~via_complaint & (route_u < np.where(constr, 0.65, 0.9))
    first_complaint = add_days(ev_time, rng.uniform(2, 30, n_ev))
    inspection_time = add_days(ev_time, rng.uniform(10, 45, n_ev))
    confirmed = np.where(
        via_complaint,
        add_days(first_complaint, rng.uniform(3, 15, n_ev)),
        np.where(
            via_inspection,
            add_days(inspection_time, rng.uniform(2, 10, n_ev)),
            add_days(ev_time, rng.uniform(15, 40, n_ev)),
        ),
    )
    workers = np.maximum(
        rng.binomial(headcount[ev_firm, ev_month].astype(np.int64), rng.uniform(0.2, 1.0, n_ev)), 1
    )
    amount_owed = np.round(workers * wage[ev_firm] * rng.uniform(1.0, 4.0, n_ev), 2)
    detected_by = np.where(
        via_complaint, "complaint", np.where(via_inspection, "inspection", "bank_monitoring")
    )

    extra = np.where(via_complaint, rng.integers(1, 4, n_ev), 0)
    wc_parent = repeat_index(extra)
    wc_time = add_days(
        first_complaint[wc_parent],
        np.where(
            np.arange(len(wc_parent)) == np.r_[0, np.cumsum(extra)[:-1]][wc_parent],
            0.0,
            rng.uniform(0, 20, len(wc_parent)),
        ),
    )
    wc_channel = rng.choice(["hotline_12345", "hotline_12333"], size=len(wc_parent), p=[0.55, 0.45])
    insp_idx = np.flatnonzero(via_inspection)
    comp_firm = np.concatenate([bg_firm, ev_firm[wc_parent], ev_firm[insp_idx]])
    comp_time = np.concatenate([bg_time, wc_time, inspection_time[insp_idx]])
    comp_avail = np.concatenate(
        [bg_avail, wc_time, add_days(inspection_time[insp_idx], lag_days(rng, 0, 3, len(insp_idx)))]
    )
    comp_channel = np.concatenate([bg_channel, wc_channel, np.full(len(insp_idx), "inspection")])
    comp_topic = np.concatenate([bg_topic, np.full(len(wc_parent) + len(insp_idx), "wages")])
    return (
        (ev_firm, workers, amount_owed, detected_by, ev_time, confirmed),
        (comp_firm, comp_channel, comp_topic, comp_time, comp_avail),
    )
