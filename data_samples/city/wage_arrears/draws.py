"""The random draws of the employers and of what their stress leaves in the departments'
monthly records and events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_samples.city.common import add_days, credit_codes, draw_districts, lag_days, sigmoid
from data_samples.city.config import DISTRICTS
from data_samples.city.history import (
    WAGE_ENTRY_SHARE,
    WAGE_EXIT_SHARE,
    Tenure,
    draw_tenure,
    newly_founded,
)
from data_samples.city.realism import Realism
from data_samples.city.wage_arrears.drivers import (
    CAPITAL_LOG_MEAN,
    HEADCOUNT_LOG_MEAN,
    MONTHLY_WAGE,
    SECTOR_SHARES,
    SECTORS,
    SIZE_BANDS,
    SIZE_SHARES,
)
from data_samples.city.wage_arrears.panel import (
    Calendar,
    monotone_available,
    persistent_uniforms,
    poisson_events,
)


@dataclass(frozen=True)
class Employers:
    """The registry of one chunk and the firm attributes the simulation reads."""

    ids: np.ndarray
    frame: pd.DataFrame
    sector: np.ndarray
    size_band: np.ndarray
    is_construction: np.ndarray
    young: np.ndarray
    tenure: Tenure | None = None


@dataclass(frozen=True)
class MonthlyRecords:
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
class StressEvents:
    """Court cases, abnormal listings and background complaints driven by stress."""

    cases: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    listings: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    bg_firm: np.ndarray
    bg_time: np.ndarray
    bg_avail: np.ndarray
    bg_channel: np.ndarray
    bg_topic: np.ndarray


def draw_employers(
    rng: np.random.Generator,
    cal: Calendar,
    n_firms: int,
    id_start: int,
    salt: int,
    realism: Realism | None = None,
) -> Employers:
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
    capital = np.round(np.exp(CAPITAL_LOG_MEAN[size_band] + rng.normal(0, 0.8, n_firms)), -4)
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
    return Employers(employer_ids, employers, sector, size_band, is_construction, young, tenure)


def draw_monthly_records(
    rng: np.random.Generator, cal: Calendar, firms: Employers, stress: np.ndarray
) -> MonthlyRecords:
    """Social insurance, tax declarations and meter readings, month by month."""
    n = cal.n
    n_firms, sector, size_band = len(firms.ids), firms.sector, firms.size_band
    high = np.clip(stress - 0.3, 0.0, None)
    month_end = cal.month_ends
    headcount0 = np.exp(HEADCOUNT_LOG_MEAN[size_band] + rng.normal(0, 0.4, n_firms))
    log_change = 0.004 - 0.06 * high + rng.normal(0, 0.025, (n_firms, n))
    headcount = np.maximum(np.round(headcount0[:, None] * np.exp(np.cumsum(log_change, axis=1))), 1)
    wage = MONTHLY_WAGE[sector] * np.exp(rng.normal(0, 0.15, n_firms))
    amount_due = np.round(headcount * wage[:, None] * 0.295, 2)
    si_short = persistent_uniforms(rng, n_firms, n) < sigmoid(-3.6 + 2.3 * stress)
    amount_paid = np.round(
        np.where(si_short, amount_due * rng.uniform(0.0, 0.8, (n_firms, n)), amount_due), 2
    )
    si_avail = monotone_available(month_end, lag_days(rng, 15, 45, n_firms * n).reshape(n_firms, n))

    sales0 = headcount0 * wage * np.exp(rng.normal(1.2, 0.4, n_firms))
    sales = np.round(
        sales0[:, None] * np.exp(-0.18 * stress + rng.normal(0, 0.08, (n_firms, n))),
        2,
    )
    tax_due = 0.035 * sales
    tax_late = persistent_uniforms(rng, n_firms, n) < sigmoid(-4.2 + 1.9 * stress)
    tax_paid = np.round(
        np.where(tax_late, tax_due * rng.uniform(0.0, 0.6, (n_firms, n)), tax_due), 2
    )
    tax_overdue = np.round(tax_due - tax_paid, 2)
    tax_avail = monotone_available(
        month_end, lag_days(rng, 15, 30, n_firms * n).reshape(n_firms, n)
    )

    kwh0 = headcount0 * np.exp(rng.normal(np.log(900), 0.5, n_firms))
    kwh = np.round(kwh0[:, None] * np.exp(-0.2 * high + rng.normal(0, 0.06, (n_firms, n))), 1)
    water0 = np.exp(rng.normal(4.0, 1.0, n_firms))
    water = np.round(water0[:, None] * np.exp(rng.normal(0, 0.2, (n_firms, n))), 1)
    util_avail = monotone_available(
        month_end, lag_days(rng, 5, 10, n_firms * n).reshape(n_firms, n)
    )
    return MonthlyRecords(
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


def draw_stress_events(
    rng: np.random.Generator, cal: Calendar, stress: np.ndarray, headcount0: np.ndarray
) -> StressEvents:
    """Creditor suits (and their enforcements), abnormal listings, background complaints."""
    suit_firm, suit_time = poisson_events(rng, np.exp(-4.4 + 1.1 * stress), cal)
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

    list_firm, list_time = poisson_events(rng, sigmoid(-6.8 + 1.3 * stress), cal)
    list_avail = add_days(list_time, lag_days(rng, 0, 5, len(list_time)))
    list_reason = rng.choice(
        ["unreachable_address", "missing_annual_report", "other"],
        size=len(list_firm),
        p=[0.45, 0.4, 0.15],
    )

    size_factor = np.log1p(headcount0) / 3.0
    bg_firm, bg_time = poisson_events(rng, np.exp(-4.3 + 0.85 * stress) * size_factor[:, None], cal)
    bg_channel = rng.choice(
        ["hotline_12345", "hotline_12333", "inspection"], size=len(bg_firm), p=[0.5, 0.35, 0.15]
    )
    bg_topic = rng.choice(
        ["social_insurance", "hours", "other"], size=len(bg_firm), p=[0.4, 0.35, 0.25]
    )
    bg_avail = add_days(
        bg_time, np.where(bg_channel == "inspection", lag_days(rng, 0, 3, len(bg_firm)), 0.0)
    )
    return StressEvents(
        (case_firm, case_type, case_amount, case_time, case_avail),
        (list_firm, list_reason, list_time, list_avail),
        bg_firm,
        bg_time,
        bg_avail,
        bg_channel,
        bg_topic,
    )
