"""Wage arrears: employers whose hidden cash stress shows up in departmental records.

Each employer carries a monthly cash-stress state (AR(1) around a firm-specific mean, pushed up
by late owner payments on construction projects). Stress drives what departments record
(social-insurance shortfalls, falling headcount and electricity, tax overdue, creditor suits,
abnormal listings, complaints). The monthly onset hazard is a logistic function of what the
departments can see at the start of the month (rows with `available_at <= as_of`), plus a
modest direct stress term and Spring Festival pressure. An onset starts an episode that blocks
further onsets for `EPISODE_MONTHS`; it is detected (and becomes a label) with a probability
that is lower for construction firms, whose migrant workers complain less.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from data_samples.city.common import (
    DAY,
    SimulatedChunk,
    add_days,
    credit_codes,
    draw_districts,
    entity_column,
    lag_days,
    month_starts,
    repeat_index,
    sequential_ids,
    sigmoid,
    spring_festival_pressure,
    uniform_times,
)
from data_samples.city.config import CITY_END, DISTRICTS
from data_samples.city.history import (
    WAGE_ENTRY_SHARE,
    WAGE_EXIT_SHARE,
    Tenure,
    draw_tenure,
    newly_founded,
    warmup_utilities,
)
from data_samples.city.realism import (
    BASE_SHIFT,
    WAGE_UTILITY_MISSING,
    Realism,
    wage_detection,
    wage_effects,
    wage_missing,
    wage_revisions,
)
from data_samples.city.truth import Driver, NoiseSignal, dominant_driver

SLUG = "wage_arrears"
HORIZON_MONTHS = 3
EPISODE_MONTHS = 2

SECTORS = ("construction", "manufacturing", "retail", "hospitality", "logistics", "services", "it")
SECTOR_SHARES = np.array([0.16, 0.30, 0.14, 0.10, 0.10, 0.14, 0.06])
SIZE_BANDS = ("micro", "small", "medium", "large")
SIZE_SHARES = np.array([0.45, 0.33, 0.16, 0.06])
_HEADCOUNT_LOG_MEAN = np.array([1.7, 3.1, 4.7, 6.3])
_CAPITAL_LOG_MEAN = np.log(np.array([5e5, 2e6, 1e7, 5e7]))
_MONTHLY_WAGE = np.array([6_800, 6_200, 4_600, 4_400, 5_600, 5_200, 9_500])

BASE_LOG_ODDS = -5.8
STRESS_BETA = 0.2

DRIVERS: tuple[Driver, ...] = (
    Driver(
        "construction_sector",
        "employers",
        ("sector",),
        1,
        "Employer is in construction, where arrears concentrate (NBS 2016: 1.8% of construction migrant workers owed wages vs 0.6% in manufacturing).",
        0.7,
    ),
    Driver(
        "owner_payment_delay",
        "project_instalments",
        ("scheduled_amount", "event_time"),
        1,
        "Share of the owner's instalments due in the last 180 days (more than 15 days ago) that the contractor's payment records do not show as paid; uses project_payments.amount and available_at.",
        1.6,
    ),
    Driver(
        "si_arrears",
        "social_insurance",
        ("amount_due", "amount_paid"),
        1,
        "Unpaid share of social-insurance contributions over the latest three months on record.",
        2.6,
    ),
    Driver(
        "headcount_drop",
        "social_insurance",
        ("insured_headcount",),
        1,
        "Relative fall of insured headcount: latest month on record vs six months earlier.",
        3.0,
    ),
    Driver(
        "electricity_drop",
        "utilities",
        ("electricity_kwh",),
        1,
        "Relative fall of electricity use: mean of the latest three months on record vs the three months before them.",
        3.0,
    ),
    Driver(
        "tax_overdue",
        "tax",
        ("tax_overdue",),
        1,
        "Share of the latest three months on record with overdue tax.",
        1.1,
    ),
    Driver(
        "sales_decline",
        "tax",
        ("declared_sales",),
        1,
        "Log fall of declared sales: latest three months on record vs the three before them.",
        2.0,
    ),
    Driver(
        "creditor_suits",
        "court_cases",
        ("case_type", "event_time"),
        1,
        "log(1 + court cases naming the employer filed in the last 365 days and on record).",
        0.9,
    ),
    Driver(
        "abnormal_listing",
        "abnormal_listings",
        ("reason", "event_time"),
        1,
        "Employer is on the abnormal-operation list (listed in the last 2 years, on record).",
        0.9,
    ),
    Driver(
        "prior_complaints",
        "labour_complaints",
        ("topic", "event_time"),
        1,
        "log(1 + labour complaints about social insurance, hours or other matters in the last 365 days). Complaints about wages are the arrears' own trace, not a cause.",
        0.7,
    ),
    Driver(
        "young_firm",
        "employers",
        ("founded_on",),
        1,
        "Firm younger than three years: max(0, 1 - age_years / 3).",
        0.8,
    ),
    Driver(
        "spring_festival",
        None,
        (),
        1,
        "Months before the lunar new year: max(0, 1 - days_to_new_year / 120) at the as-of date (from the calendar, no raw table).",
        1.5,
    ),
)
DRIVER_INDEX = {driver.name: i for i, driver in enumerate(DRIVERS)}
NOISE: tuple[NoiseSignal, ...] = (
    NoiseSignal("water_use", "utilities", ("water_m3",)),
    NoiseSignal("trademarks", "employers", ("trademark_count",)),
)


@dataclass(frozen=True)
class _Calendar:
    """Month starts of the window (`n + 1` values: the last is the window's end)."""

    starts: np.ndarray

    @property
    def n(self) -> int:
        return len(self.starts) - 1

    @property
    def month_ends(self) -> np.ndarray:
        """Last day of each month (midnight): the event time of monthly records."""
        return self.starts[1:] - DAY


def _monotone_available(event_time: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """Availability per employer-month; a department publishes months in order."""
    raw = event_time[None, :] + (lag * 86_400).astype("timedelta64[s]")
    return np.maximum.accumulate(raw.astype("datetime64[ns]"), axis=1)


def _latest_on_record(available: np.ndarray, as_of: np.ndarray) -> np.ndarray:
    """Index of the latest month whose record is visible at each as-of date (-1 if none)."""
    return (available[:, None, :] <= as_of[None, :, None]).sum(axis=2) - 1


def _window_mean(
    values: np.ndarray, last: np.ndarray, back: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of `values[i, last-back-width+1 .. last-back]` per (i, as-of) and whether any was valid."""
    rows = np.arange(values.shape[0])[:, None]
    total = np.zeros(last.shape)
    count = np.zeros(last.shape)
    for offset in range(back, back + width):
        idx = last - offset
        value = values[rows, np.clip(idx, 0, None)]
        valid = (idx >= 0) & ~np.isnan(value)
        total += np.where(valid, value, 0.0)
        count += valid
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0), count > 0


def _count_recent(
    entity: np.ndarray,
    event_time: np.ndarray,
    available: np.ndarray,
    as_of: np.ndarray,
    n: int,
    days: int,
) -> np.ndarray:
    """Events per entity on record at each as-of date that happened in the preceding `days`."""
    out = np.zeros((n, len(as_of)))
    span = np.timedelta64(days, "D")
    for k, t in enumerate(as_of):
        mask = (available <= t) & (event_time > t - span)
        out[:, k] = np.bincount(entity[mask], minlength=n)
    return out


def _poisson_events(
    rng: np.random.Generator, rate: np.ndarray, cal: _Calendar
) -> tuple[np.ndarray, np.ndarray]:
    """Events from a per-(entity, month) Poisson rate: (entity index, event time)."""
    counts = rng.poisson(rate)
    entity, month = np.nonzero(counts)
    reps = counts[entity, month]
    entity = np.repeat(entity, reps)
    month = np.repeat(month, reps)
    times = uniform_times(rng, cal.starts[month], cal.starts[month + 1])
    return entity, times


def _persistent_uniforms(
    rng: np.random.Generator, n_firms: int, n: int, rho: float = 0.8
) -> np.ndarray:
    """Uniform draws correlated month to month: arrears run in streaks, not coin flips."""
    z = np.empty((n_firms, n))
    state = rng.normal(size=n_firms)
    for j in range(n):
        state = rho * state + np.sqrt(1 - rho**2) * rng.normal(size=n_firms)
        z[:, j] = state
    return sigmoid(1.702 * z)


def _projects(
    rng: np.random.Generator, contractor: np.ndarray, cal: _Calendar, chunk: int
) -> dict[str, pd.DataFrame | np.ndarray]:
    """Construction projects, the owner's instalment schedule and the owner's actual payments."""
    n_proj = rng.poisson(1.2, size=len(contractor)) + 1
    owner_of = repeat_index(n_proj)
    firm = contractor[owner_of]
    count = len(firm)
    window_start = cal.starts[0]
    start = add_days(
        np.full(count, window_start), rng.integers(-540, 30 * cal.n - 120, size=count).astype(float)
    )
    duration_months = rng.integers(9, 31, size=count)
    planned_end = add_days(start, duration_months * 30.4)
    value = np.round(np.exp(rng.normal(np.log(1.2e7), 0.9, size=count)), -3)
    reliability = rng.beta(4.0, 1.5, size=count)

    n_inst = np.maximum(duration_months // 3, 2)
    proj_of_inst = repeat_index(n_inst)
    inst_no = np.arange(len(proj_of_inst)) - np.repeat(np.cumsum(n_inst) - n_inst, n_inst) + 1
    due = add_days(start[proj_of_inst], inst_no * 91.0)
    scheduled = np.round(0.95 * value[proj_of_inst] / n_inst[proj_of_inst], 2)

    r = reliability[proj_of_inst]
    paid_in_full = rng.random(len(due)) < r
    first_share = np.where(paid_in_full, 1.0, rng.uniform(0.2, 0.85, size=len(due)))
    first_delay = rng.exponential(5 + 90 * (1 - r)) - 3
    never = rng.random(len(due)) < 0.25 * (1 - r) ** 2
    first_time = add_days(due, first_delay)
    rest_paid = ~paid_in_full & (rng.random(len(due)) < 0.6)
    rest_time = add_days(first_time, rng.uniform(30, 150, size=len(due)))

    pay_inst = np.concatenate([np.flatnonzero(~never), np.flatnonzero(~never & rest_paid)])
    pay_amount = np.concatenate(
        [(scheduled * first_share)[~never], (scheduled * (1 - first_share))[~never & rest_paid]]
    )
    pay_time = np.concatenate([first_time[~never], rest_time[~never & rest_paid]])
    keep = pay_time < cal.starts[-1]
    pay_inst, pay_amount, pay_time = pay_inst[keep], np.round(pay_amount[keep], 2), pay_time[keep]
    pay_avail = add_days(pay_time, lag_days(rng, 1, 5, len(pay_time)))

    project_ids = sequential_ids("PJ", chunk, count)
    projects = pd.DataFrame(
        {
            "project_id": project_ids,
            "employer_firm": firm,
            "contract_value": value,
            "start_date": start.astype("datetime64[D]").astype("datetime64[ns]"),
            "planned_end_date": planned_end.astype("datetime64[D]").astype("datetime64[ns]"),
        }
    )
    projects["event_time"] = projects["start_date"] - pd.to_timedelta(
        rng.integers(5, 60, size=count), unit="D"
    )
    projects["available_at"] = projects["event_time"] + pd.to_timedelta(
        rng.integers(1, 15, size=count), unit="D"
    )
    instalments = pd.DataFrame(
        {
            "project_id": project_ids[proj_of_inst],
            "instalment_no": inst_no.astype(np.int64),
            "scheduled_amount": scheduled,
            "event_time": due.astype("datetime64[D]").astype("datetime64[ns]"),
        }
    )
    instalments["available_at"] = instalments["event_time"]
    instalments = instalments[instalments["event_time"] < cal.starts[-1]]
    order = np.lexsort((pay_time, pay_inst))
    payments = pd.DataFrame(
        {
            "payment_id": sequential_ids("PY", chunk, len(pay_inst)),
            "project_id": project_ids[proj_of_inst[pay_inst[order]]],
            "instalment_no": inst_no[pay_inst[order]].astype(np.int64),
            "amount": pay_amount[order],
            "event_time": pay_time[order],
            "available_at": pay_avail[order],
        }
    )
    due_day = due.astype("datetime64[D]").astype("datetime64[ns]")
    return {
        "projects": projects,
        "instalments": instalments,
        "payments": payments,
        "inst_firm": firm[proj_of_inst],
        "inst_project": proj_of_inst,
        "inst_due": due_day,
        "inst_amount": scheduled,
        "pay_inst": pay_inst[order],
        "pay_amount": pay_amount[order],
        "pay_time": pay_time[order],
        "pay_avail": pay_avail[order],
    }


def _owner_overdue_share(
    p: dict, n_firms: int, as_of: np.ndarray, use_available: bool
) -> np.ndarray:
    """Share of instalments due in the last 180 days (15+ days ago) not shown as paid at each date."""
    out = np.zeros((n_firms, len(as_of)))
    paid_at = p["pay_avail"] if use_available else p["pay_time"]
    n_inst = len(p["inst_due"])
    for k, t in enumerate(as_of):
        due_mask = (p["inst_due"] <= t - np.timedelta64(15, "D")) & (
            p["inst_due"] > t - np.timedelta64(180, "D")
        )
        paid = np.bincount(
            p["pay_inst"][paid_at <= t], weights=p["pay_amount"][paid_at <= t], minlength=n_inst
        )
        unpaid = np.where(due_mask, np.clip(p["inst_amount"] - paid, 0, None), 0.0)
        scheduled = np.bincount(
            p["inst_firm"], weights=np.where(due_mask, p["inst_amount"], 0.0), minlength=n_firms
        )
        overdue = np.bincount(p["inst_firm"], weights=unpaid, minlength=n_firms)
        out[:, k] = np.divide(overdue, scheduled, out=np.zeros(n_firms), where=scheduled > 0)
    return out


@dataclass(frozen=True)
class _Employers:
    """The registry of one chunk and the firm attributes the simulation reads."""

    ids: np.ndarray
    frame: pd.DataFrame
    sector: np.ndarray
    size_band: np.ndarray
    is_construction: np.ndarray
    young: np.ndarray
    tenure: Tenure | None = None


@dataclass(frozen=True)
class _MonthlyRecords:
    """(firms, months) values of the monthly declarations and meter readings."""

    headcount0: np.ndarray
    headcount: np.ndarray
    wage: np.ndarray
    amount_due: np.ndarray
    amount_paid: np.ndarray
    si_avail: np.ndarray
    sales: np.ndarray
    tax_paid: np.ndarray
    tax_overdue: np.ndarray
    tax_avail: np.ndarray
    kwh: np.ndarray
    water: np.ndarray
    util_avail: np.ndarray
    kwh_level: np.ndarray
    water_level: np.ndarray


@dataclass(frozen=True)
class _StressEvents:
    """Court cases, abnormal listings and background complaints driven by stress."""

    cases: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    listings: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    bg_firm: np.ndarray
    bg_time: np.ndarray
    bg_avail: np.ndarray
    bg_channel: np.ndarray
    bg_topic: np.ndarray


def simulate(
    rng: np.random.Generator,
    n_firms: int,
    n_months: int,
    chunk: int,
    id_start: int,
    salt: int,
    rate_multiplier: float,
    realism: Realism | None = None,
) -> SimulatedChunk:
    """Simulate `n_firms` employers over the `n_months` months before CITY_END.

    `realism` switches on the realistic profile (non-additive effects, missing declarations,
    detection by firm); None gives the clean city of generator 1.0.0, draw for draw. The steps
    draw from `rng` in this order, which fixes the bytes for a seed.
    """
    cal = _Calendar(month_starts(CITY_END, n_months))
    firms = _draw_employers(rng, cal, n_firms, id_start, salt, realism)
    proj, stress = _draw_stress(rng, cal, firms, chunk)
    records = _draw_monthly_records(rng, cal, firms, stress)
    events = _draw_stress_events(rng, cal, stress, records.headcount0)
    x, complaints = _driver_quantities(
        cal, firms, *_while_registered(cal, firms, proj, records, events)
    )
    units, detected = _onsets_and_truth(
        rng, cal, firms, x, complaints, stress, rate_multiplier, realism
    )
    label_rows, complaint_rows = _label_records(rng, cal, firms, records, events, detected)
    employer_ids, employers = firms.ids, firms.frame
    headcount, amount_due, amount_paid, si_avail = (
        records.headcount,
        records.amount_due,
        records.amount_paid,
        records.si_avail,
    )
    sales, tax_paid, tax_overdue, tax_avail = (
        records.sales,
        records.tax_paid,
        records.tax_overdue,
        records.tax_avail,
    )
    kwh, water, util_avail = records.kwh, records.water, records.util_avail
    tables = _assemble(
        cal,
        employer_ids,
        employers,
        headcount,
        amount_due,
        amount_paid,
        si_avail,
        sales,
        tax_paid,
        tax_overdue,
        tax_avail,
        kwh,
        water,
        util_avail,
        proj,
        chunk,
        events.cases,
        events.listings,
        complaint_rows,
        label_rows,
    )
    if realism is not None:
        tables = _drop_missing(tables, employer_ids, cal, wage_missing(realism, stress))
        tables["social_insurance"] = wage_revisions(
            realism, tables["social_insurance"], cal.starts[-1]
        )
        tables["utilities"] = _with_warmup(realism, cal, firms, records, tables["utilities"])
        tables = _registered_rows(tables, firms, cal)
    return SimulatedChunk(tables=tables, units=units)


def _draw_employers(
    rng: np.random.Generator,
    cal: _Calendar,
    n_firms: int,
    id_start: int,
    salt: int,
    realism: Realism | None = None,
) -> _Employers:
    """The registry: sector, size, age, capital, district (and the noise trademark count);
    in the realistic profile, entries and exits during the window (city/history.py)."""
    t0, as_of = cal.starts[0], cal.starts[:-1]
    district = draw_districts(rng, n_firms)
    sector = rng.choice(len(SECTORS), size=n_firms, p=SECTOR_SHARES)
    size_band = rng.choice(len(SIZE_BANDS), size=n_firms, p=SIZE_SHARES)
    age_days = np.round(rng.exponential(7.0 * 365, size=n_firms) + 60).clip(60, 30 * 365)
    founded = (t0.astype("datetime64[D]") - age_days.astype("timedelta64[D]")).astype(
        "datetime64[ns]"
    )
    tenure = (
        None
        if realism is None
        else draw_tenure(realism, n_firms, cal.starts, WAGE_ENTRY_SHARE, WAGE_EXIT_SHARE)
    )
    registered = founded
    if tenure is not None:
        assert realism is not None  # a tenure is drawn only for the realistic profile
        founded = np.where(newly_founded(realism, tenure), tenure.entry, founded)
        registered = np.where(np.isnat(tenure.entry), founded, tenure.entry)
    capital = np.round(np.exp(_CAPITAL_LOG_MEAN[size_band] + rng.normal(0, 0.8, n_firms)), -4)
    employer_ids = credit_codes(id_start, n_firms, salt, district)
    is_construction = sector == 0
    employers = pd.DataFrame(
        {
            "employer_id": employer_ids,
            "sector": np.array(SECTORS)[sector],
            "size_band": np.array(SIZE_BANDS)[size_band],
            "registered_capital": capital.astype(float),
            "founded_on": founded,
            "district": np.array(DISTRICTS)[district],
            "trademark_count": rng.poisson(1.3, n_firms).astype(np.int64),
            "event_time": registered,
            "available_at": add_days(registered, lag_days(rng, 1, 10, n_firms)),
        }
    )
    if tenure is not None:
        employers.insert(7, "registered_at", registered)
        employers.insert(8, "deregistered_at", tenure.exit)
    firm_age_years = (as_of[None, :] - founded[:, None]) / np.timedelta64(365, "D")
    young = np.clip(1.0 - firm_age_years / 3.0, 0.0, 1.0)
    return _Employers(employer_ids, employers, sector, size_band, is_construction, young, tenure)


def _draw_stress(
    rng: np.random.Generator, cal: _Calendar, firms: _Employers, chunk: int
) -> tuple[dict[str, pd.DataFrame | np.ndarray], np.ndarray]:
    """Construction projects (the owner's payment behaviour is an outside shock) and the hidden
    monthly cash stress, AR(1) around a firm mean and pushed up by late owner payments."""
    n, as_of = cal.n, cal.starts[:-1]
    n_firms = len(firms.ids)
    is_construction, size_band, young = firms.is_construction, firms.size_band, firms.young
    contractors = np.flatnonzero(is_construction)
    proj = _projects(rng, contractors, cal, chunk)
    owner_gap_real = _owner_overdue_share(proj, n_firms, as_of, use_available=False)
    rho, sigma = 0.9, 0.26
    firm_mean = (
        -0.4
        + 0.35 * is_construction
        + 0.5 * young[:, 0]
        + 0.25 * (size_band == 0)
        + rng.normal(0, 0.45, n_firms)
    )
    stress = np.empty((n_firms, n))
    state = firm_mean + rng.normal(0, sigma / np.sqrt(1 - rho**2), n_firms)
    for j in range(n):
        state = (
            firm_mean
            + rho * (state - firm_mean)
            + sigma * rng.normal(size=n_firms)
            + 0.25 * owner_gap_real[:, j]
        )
        stress[:, j] = state
    return proj, stress


def _draw_monthly_records(
    rng: np.random.Generator, cal: _Calendar, firms: _Employers, stress: np.ndarray
) -> _MonthlyRecords:
    """Social insurance, tax declarations and meter readings, month by month."""
    n = cal.n
    n_firms, sector, size_band = len(firms.ids), firms.sector, firms.size_band
    high = np.clip(stress - 0.3, 0.0, None)
    month_end = cal.month_ends
    headcount0 = np.exp(_HEADCOUNT_LOG_MEAN[size_band] + rng.normal(0, 0.4, n_firms))
    log_change = 0.004 - 0.06 * high + rng.normal(0, 0.025, (n_firms, n))
    headcount = np.maximum(np.round(headcount0[:, None] * np.exp(np.cumsum(log_change, axis=1))), 1)
    wage = _MONTHLY_WAGE[sector] * np.exp(rng.normal(0, 0.15, n_firms))
    amount_due = np.round(headcount * wage[:, None] * 0.295, 2)
    si_short = _persistent_uniforms(rng, n_firms, n) < sigmoid(-3.6 + 2.3 * stress)
    amount_paid = np.round(
        np.where(si_short, amount_due * rng.uniform(0.0, 0.8, (n_firms, n)), amount_due), 2
    )
    si_avail = _monotone_available(
        month_end, lag_days(rng, 15, 45, n_firms * n).reshape(n_firms, n)
    )

    sales0 = headcount0 * wage * np.exp(rng.normal(1.2, 0.4, n_firms))
    sales = np.round(
        sales0[:, None] * np.exp(-0.18 * stress + rng.normal(0, 0.08, (n_firms, n))),
        2,
    )
    tax_due = 0.035 * sales
    tax_late = _persistent_uniforms(rng, n_firms, n) < sigmoid(-4.2 + 1.9 * stress)
    tax_paid = np.round(
        np.where(tax_late, tax_due * rng.uniform(0.0, 0.6, (n_firms, n)), tax_due), 2
    )
    tax_overdue = np.round(tax_due - tax_paid, 2)
    tax_avail = _monotone_available(
        month_end, lag_days(rng, 15, 30, n_firms * n).reshape(n_firms, n)
    )

    kwh0 = headcount0 * np.exp(rng.normal(np.log(900), 0.5, n_firms))
    kwh = np.round(kwh0[:, None] * np.exp(-0.2 * high + rng.normal(0, 0.06, (n_firms, n))), 1)
    water0 = np.exp(rng.normal(4.0, 1.0, n_firms))
    water = np.round(water0[:, None] * np.exp(rng.normal(0, 0.2, (n_firms, n))), 1)
    util_avail = _monotone_available(
        month_end, lag_days(rng, 5, 10, n_firms * n).reshape(n_firms, n)
    )
    return _MonthlyRecords(
        headcount0,
        headcount,
        wage,
        amount_due,
        amount_paid,
        si_avail,
        sales,
        tax_paid,
        tax_overdue,
        tax_avail,
        kwh,
        water,
        util_avail,
        kwh0 * np.exp(-0.2 * high[:, 0]),
        water0,
    )


def _draw_stress_events(
    rng: np.random.Generator, cal: _Calendar, stress: np.ndarray, headcount0: np.ndarray
) -> _StressEvents:
    """Creditor suits (and their enforcements), abnormal listings, background complaints."""
    suit_firm, suit_time = _poisson_events(rng, np.exp(-4.4 + 1.1 * stress), cal)
    enforce = rng.random(len(suit_firm)) < 0.35
    enf_firm = suit_firm[enforce]
    enf_time = add_days(suit_time[enforce], rng.uniform(60, 180, enforce.sum()))
    dishonest = rng.random(len(enf_firm)) < 0.3
    dis_firm = enf_firm[dishonest]
    dis_time = add_days(enf_time[dishonest], rng.uniform(30, 120, dishonest.sum()))
    case_firm = np.concatenate([suit_firm, enf_firm, dis_firm])
    case_time = np.concatenate([suit_time, enf_time, dis_time])
    case_type = np.repeat(
        ["creditor_suit", "enforcement", "dishonest_debtor"],
        [len(suit_firm), len(enf_firm), len(dis_firm)],
    )
    in_window = case_time < cal.starts[-1]
    case_firm, case_time, case_type = (
        case_firm[in_window],
        case_time[in_window],
        case_type[in_window],
    )
    case_avail = add_days(case_time, lag_days(rng, 3, 21, len(case_time)))
    case_amount = np.round(np.exp(rng.normal(np.log(3e5), 1.1, len(case_time))), -2)

    list_firm, list_time = _poisson_events(rng, sigmoid(-6.8 + 1.3 * stress), cal)
    list_avail = add_days(list_time, lag_days(rng, 0, 5, len(list_time)))
    list_reason = rng.choice(
        ["unreachable_address", "missing_annual_report", "other"],
        size=len(list_firm),
        p=[0.45, 0.4, 0.15],
    )

    size_factor = np.log1p(headcount0) / 3.0
    bg_firm, bg_time = _poisson_events(
        rng, np.exp(-4.3 + 0.85 * stress) * size_factor[:, None], cal
    )
    bg_channel = rng.choice(
        ["hotline_12345", "hotline_12333", "inspection"], size=len(bg_firm), p=[0.5, 0.35, 0.15]
    )
    bg_topic = rng.choice(
        ["social_insurance", "hours", "other"], size=len(bg_firm), p=[0.4, 0.35, 0.25]
    )
    bg_avail = add_days(
        bg_time, np.where(bg_channel == "inspection", lag_days(rng, 0, 3, len(bg_firm)), 0.0)
    )
    return _StressEvents(
        (case_firm, case_type, case_amount, case_time, case_avail),
        (list_firm, list_reason, list_time, list_avail),
        bg_firm,
        bg_time,
        bg_avail,
        bg_channel,
        bg_topic,
    )


def _driver_quantities(
    cal: _Calendar,
    firms: _Employers,
    proj: dict[str, pd.DataFrame | np.ndarray],
    records: _MonthlyRecords,
    events: _StressEvents,
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
    si_last = _latest_on_record(si_avail, as_of)
    tax_last = _latest_on_record(tax_avail, as_of)
    util_last = _latest_on_record(util_avail, as_of)
    due3, ok = _window_mean(amount_due, si_last, 0, 3)
    paid3, _ = _window_mean(amount_paid, si_last, 0, 3)
    si_arrears = np.where(
        ok, 1.0 - np.divide(paid3, due3, out=np.ones_like(due3), where=due3 > 0), 0.0
    )
    hc_now, ok_now = _window_mean(headcount, si_last, 0, 1)
    hc_before, ok_before = _window_mean(headcount, si_last, 6, 1)
    headcount_drop = np.where(
        ok_now & ok_before, np.clip(1.0 - hc_now / np.maximum(hc_before, 1), 0, None), 0.0
    )
    kwh_now, ok_now = _window_mean(kwh, util_last, 0, 3)
    kwh_before, ok_before = _window_mean(kwh, util_last, 3, 3)
    electricity_drop = np.where(
        ok_now & ok_before, np.clip(1.0 - kwh_now / np.maximum(kwh_before, 1e-9), 0, None), 0.0
    )
    overdue_flag = np.where(np.isnan(tax_overdue), np.nan, (tax_overdue > 0).astype(float))
    overdue_share, _ = _window_mean(overdue_flag, tax_last, 0, 3)
    sales_now, ok_now = _window_mean(sales, tax_last, 0, 3)
    sales_before, ok_before = _window_mean(sales, tax_last, 3, 3)
    sales_decline = np.where(
        ok_now & ok_before,
        np.clip(np.log(np.maximum(sales_before, 1) / np.maximum(sales_now, 1)), 0, None),
        0.0,
    )
    suits = np.log1p(_count_recent(case_firm, case_time, case_avail, as_of, n_firms, 365))
    listed = (_count_recent(list_firm, list_time, list_avail, as_of, n_firms, 730) > 0).astype(
        float
    )
    complaints = np.log1p(_count_recent(bg_firm, bg_time, bg_avail, as_of, n_firms, 365))
    owner_delay = _owner_overdue_share(proj, n_firms, as_of, use_available=True)
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


def _onsets_and_truth(
    rng: np.random.Generator,
    cal: _Calendar,
    firms: _Employers,
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
        else _registered_units(firms, as_of[:n_asof])
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


def _label_records(
    rng: np.random.Generator,
    cal: _Calendar,
    firms: _Employers,
    records: _MonthlyRecords,
    events: _StressEvents,
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


def _drop_missing(
    tables: dict[str, pd.DataFrame],
    ids: np.ndarray,
    cal: _Calendar,
    missing: dict[str, np.ndarray],
) -> dict[str, pd.DataFrame]:
    """Drop the monthly rows a department never received (realistic profile)."""
    out = dict(tables)
    firms = pd.Index(ids)
    for name, mask in missing.items():
        frame = tables[name]
        rows = firms.get_indexer(frame["employer_id"].astype(str))
        cols = np.searchsorted(cal.starts, frame["month"].to_numpy())
        out[name] = frame[~mask[rows, cols]].reset_index(drop=True)
    return out


def _monthly(
    ids: np.ndarray, cal: _Calendar, available: np.ndarray, **columns: np.ndarray
) -> pd.DataFrame:
    n_firms, n = available.shape
    frame = {
        "employer_id": entity_column(ids, np.repeat(np.arange(n_firms), n)),
        "month": np.tile(cal.starts[:-1], n_firms),
    }
    frame.update({name: values.reshape(-1) for name, values in columns.items()})
    frame["event_time"] = np.tile(cal.month_ends, n_firms)
    frame["available_at"] = available.reshape(-1)
    return pd.DataFrame(frame)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _assemble(
    cal,
    ids,
    employers,
    headcount,
    due,
    paid,
    si_avail,
    sales,
    tax_paid,
    tax_overdue,
    tax_avail,
    kwh,
    water,
    util_avail,
    proj,
    chunk,
    cases,
    listings,
    complaints,
    events,
) -> dict[str, pd.DataFrame]:
    """Lay the simulated arrays out as the contract's tables (fixed column and row order)."""
    case_firm, case_type, case_amount, case_time, case_avail = cases
    order = np.lexsort((case_time, case_firm))
    court = pd.DataFrame(
        {
            "case_id": sequential_ids("CC", chunk, len(order)),
            "employer_id": ids[case_firm[order]],
            "case_type": case_type[order],
            "amount": case_amount[order],
            "event_time": case_time[order],
            "available_at": case_avail[order],
        }
    )
    list_firm, list_reason, list_time, list_avail = listings
    order = np.lexsort((list_time, list_firm))
    abnormal = pd.DataFrame(
        {
            "listing_id": sequential_ids("AL", chunk, len(order)),
            "employer_id": ids[list_firm[order]],
            "reason": list_reason[order],
            "event_time": list_time[order],
            "available_at": list_avail[order],
        }
    )
    comp_firm, comp_channel, comp_topic, comp_time, comp_avail = complaints
    order = np.lexsort((comp_time, comp_firm))
    labour = pd.DataFrame(
        {
            "complaint_id": sequential_ids("LC", chunk, len(order)),
            "employer_id": ids[comp_firm[order]],
            "channel": comp_channel[order],
            "topic": comp_topic[order],
            "event_time": comp_time[order],
            "available_at": comp_avail[order],
        }
    )
    ev_firm, workers, owed, detected_by, ev_time, confirmed = events
    order = np.lexsort((ev_time, ev_firm))
    arrears = pd.DataFrame(
        {
            "event_id": sequential_ids("AE", chunk, len(order)),
            "employer_id": ids[ev_firm[order]],
            "workers_affected": workers[order].astype(np.int64),
            "amount_owed": owed[order],
            "detected_by": detected_by[order],
            "event_time": ev_time[order],
            "available_at": confirmed[order],
        }
    )
    projects = proj["projects"]
    projects = pd.DataFrame(
        {
            "project_id": projects["project_id"],
            "employer_id": ids[projects["employer_firm"].to_numpy()],
            "contract_value": projects["contract_value"],
            "start_date": projects["start_date"],
            "planned_end_date": projects["planned_end_date"],
            "event_time": projects["event_time"],
            "available_at": projects["available_at"],
        }
    )
    return {
        "employers": employers,
        "abnormal_listings": abnormal,
        "social_insurance": _monthly(
            ids,
            cal,
            si_avail,
            insured_headcount=headcount.astype(np.int64),
            amount_due=due,
            amount_paid=paid,
        ),
        "tax": _monthly(
            ids, cal, tax_avail, declared_sales=sales, tax_paid=tax_paid, tax_overdue=tax_overdue
        ),
        "utilities": _monthly(ids, cal, util_avail, electricity_kwh=kwh, water_m3=water),
        "court_cases": court,
        "construction_projects": projects,
        "project_instalments": _sorted(proj["instalments"], ["project_id", "instalment_no"]),
        "project_payments": proj["payments"],
        "labour_complaints": labour,
        "arrears_events": arrears,
    }


# --- entries and exits (realistic profile) ----------------------------------------------------


def _while_registered(
    cal: _Calendar,
    firms: _Employers,
    proj: dict[str, pd.DataFrame | np.ndarray],
    records: _MonthlyRecords,
    events: _StressEvents,
) -> tuple[dict[str, pd.DataFrame | np.ndarray], _MonthlyRecords, _StressEvents]:
    """What the departments hold of each firm: nothing outside its registration (the driver
    quantities read only that; the clean profile has every firm registered throughout)."""
    tenure = firms.tenure
    if tenure is None:
        return proj, records, events
    active = tenure.active_months(cal.starts)

    def held(values: np.ndarray) -> np.ndarray:
        return np.where(active, values, np.nan)

    records = replace(
        records,
        amount_due=held(records.amount_due),
        amount_paid=held(records.amount_paid),
        headcount=held(records.headcount),
        kwh=held(records.kwh),
        sales=held(records.sales),
        tax_overdue=held(records.tax_overdue),
    )
    project_firm = np.asarray(proj["projects"]["employer_firm"])
    signed = tenure.keeps(project_firm, np.asarray(proj["projects"]["event_time"]))
    inst_kept = signed[proj["inst_project"]]
    proj = {**proj, "inst_amount": np.where(inst_kept, proj["inst_amount"], 0.0)}
    cases = events.cases
    keep = tenure.keeps(cases[0], cases[3])
    listings = events.listings
    keep_listing = tenure.keeps(listings[0], listings[2])
    keep_bg = tenure.keeps(events.bg_firm, events.bg_time)
    events = _StressEvents(
        tuple(column[keep] for column in cases),
        tuple(column[keep_listing] for column in listings),
        events.bg_firm[keep_bg],
        events.bg_time[keep_bg],
        events.bg_avail[keep_bg],
        events.bg_channel[keep_bg],
        events.bg_topic[keep_bg],
    )
    return proj, records, events


def _registered_units(firms: _Employers, as_of: np.ndarray) -> np.ndarray:
    """(firms, as-of dates) True where the registry shows the firm registered at the date:
    its registration on record (`available_at`) and not yet deregistered."""
    available = firms.frame["available_at"].to_numpy(dtype="datetime64[ns]")
    assert firms.tenure is not None  # only the realistic profile asks
    exit_ = firms.tenure.exit
    on_record = available[:, None] <= as_of[None, :]
    gone = ~np.isnat(exit_)[:, None] & (exit_[:, None] <= as_of[None, :])
    return on_record & ~gone


def _with_warmup(
    realism: Realism,
    cal: _Calendar,
    firms: _Employers,
    records: _MonthlyRecords,
    utilities: pd.DataFrame,
) -> pd.DataFrame:
    """The utilities table with the meter readings of the year before the window."""
    n_firms = len(firms.ids)
    ids = entity_column(firms.ids, np.arange(n_firms))
    warmup = warmup_utilities(
        realism,
        ids,
        cal.starts,
        records.kwh_level,
        records.water_level,
        WAGE_UTILITY_MISSING,
    )
    both = pd.concat([warmup, utilities], ignore_index=True)
    return both.sort_values(["employer_id", "month"], kind="stable").reset_index(drop=True)


def _registered_rows(
    tables: dict[str, pd.DataFrame], firms: _Employers, cal: _Calendar
) -> dict[str, pd.DataFrame]:
    """Drop every record of a firm outside its registration: monthly declarations and
    readings outside its whole months, events outside [registered_at, deregistered_at)."""
    tenure = firms.tenure
    assert tenure is not None  # only the realistic profile asks
    index = pd.Index(firms.ids)
    out = dict(tables)
    for name, frame in tables.items():
        if name == "employers" or "employer_id" not in frame.columns:
            continue
        firm = index.get_indexer(frame["employer_id"].astype(str))
        if "month" in frame.columns:
            month = frame["month"].to_numpy(dtype="datetime64[ns]")
            end = pd.DatetimeIndex(month).shift(1, freq="MS").to_numpy(dtype="datetime64[ns]")
            entry, exit_ = tenure.entry[firm], tenure.exit[firm]
            keep = (np.isnat(entry) | (month >= entry)) & (np.isnat(exit_) | (end <= exit_))
        else:
            keep = tenure.keeps(firm, frame["event_time"].to_numpy(dtype="datetime64[ns]"))
        out[name] = frame[keep].reset_index(drop=True)
    projects = set(out["construction_projects"]["project_id"])
    firm_of = dict(
        zip(
            tables["construction_projects"]["project_id"],
            tables["construction_projects"]["employer_id"].astype(str),
            strict=True,
        )
    )
    for name in ("project_instalments", "project_payments"):
        frame = tables[name]
        firm = index.get_indexer(frame["project_id"].map(firm_of).astype(str))
        keep = frame["project_id"].isin(projects).to_numpy() & tenure.keeps(
            firm, frame["event_time"].to_numpy(dtype="datetime64[ns]")
        )
        out[name] = frame[keep].reset_index(drop=True)
    return out
