"""Entries and exits (realistic profile): what the departments hold of a firm while it is
registered, and the meter history before the window."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from data_samples.city.common import entity_column
from data_samples.city.history import warmup_utilities
from data_samples.city.realism import WAGE_UTILITY_MISSING, Realism
from data_samples.city.wage_arrears.draws import Employers, MonthlyRecords, StressEvents
from data_samples.city.wage_arrears.panel import Calendar


def while_registered(
    cal: Calendar,
    firms: Employers,
    proj: dict[str, pd.DataFrame | np.ndarray],
    records: MonthlyRecords,
    events: StressEvents,
) -> tuple[dict[str, pd.DataFrame | np.ndarray], MonthlyRecords, StressEvents]:
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
    events = StressEvents(
        tuple(column[keep] for column in cases),
        tuple(column[keep_listing] for column in listings),
        events.bg_firm[keep_bg],
        events.bg_time[keep_bg],
        events.bg_avail[keep_bg],
        events.bg_channel[keep_bg],
        events.bg_topic[keep_bg],
    )
    return proj, records, events


def with_warmup(
    realism: Realism,
    cal: Calendar,
    firms: Employers,
    records: MonthlyRecords,
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


def registered_rows(
    tables: dict[str, pd.DataFrame], firms: Employers, cal: Calendar
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
