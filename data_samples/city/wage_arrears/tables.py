"""The simulated arrays laid out as the department tables of the raw-table contract."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_samples.city.common import entity_column, sequential_ids
from data_samples.city.wage_arrears.panel import Calendar


def drop_missing(
    tables: dict[str, pd.DataFrame],
    ids: np.ndarray,
    cal: Calendar,
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
    ids: np.ndarray, cal: Calendar, available: np.ndarray, **columns: np.ndarray
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


def assemble(
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
