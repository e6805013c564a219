"""Construction projects, the owner's instalments and payments, and the hidden monthly cash
stress that late owner payments push up."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_samples.city.common import add_days, lag_days, repeat_index, sequential_ids
from data_samples.city.wage_arrears.draws import Employers
from data_samples.city.wage_arrears.panel import Calendar


def _projects(
    rng: np.random.Generator, contractor: np.ndarray, cal: Calendar, chunk: int
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


def owner_overdue_share(
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


def draw_stress(
    rng: np.random.Generator, cal: Calendar, firms: Employers, chunk: int
) -> tuple[dict[str, pd.DataFrame | np.ndarray], np.ndarray]:
    """Construction projects (the owner's payment behaviour is an outside shock) and the hidden
    monthly cash stress, AR(1) around a firm mean and pushed up by late owner payments."""
    n, as_of = cal.n, cal.starts[:-1]
    n_firms = len(firms.ids)
    is_construction, size_band, young = firms.is_construction, firms.size_band, firms.young
    contractors = np.flatnonzero(is_construction)
    proj = _projects(rng, contractors, cal, chunk)
    owner_gap_real = owner_overdue_share(proj, n_firms, as_of, use_available=False)
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
