"""Driver observables recomputed straight from a city's raw tables, and the labels.

The simulator's tests compare these with the truth files, and the crude baseline of the
quality figures (a logistic regression on these yes/no observables, `bench/quality.py` and
tests/data_samples) uses them as its only inputs: what a careful analyst could write down from
the tables without any modelling. No simulator internals are used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TASKS = ("wage_arrears", "telecom_fraud", "dispute_escalation")

#: (high, low) boolean masks over the truth rows, per driver name.
Split = tuple[np.ndarray, np.ndarray]


WINDOWS = {
    "wage_arrears": ("arrears_events", "employer_id", pd.DateOffset(months=3)),
    "telecom_fraud": ("fraud_cases", "resident_id", pd.DateOffset(days=30)),
    "dispute_escalation": ("escalation_events", "dispute_id", pd.DateOffset(days=90)),
}


def labels(task: str, tables: dict[str, pd.DataFrame], units: pd.DataFrame) -> np.ndarray:
    """1 where the label table has an event in (as_of, as_of + horizon] for the unit."""
    table, key, horizon = WINDOWS[task]
    events = tables[table][[key, "event_time"]].rename(columns={key: "entity_id"})
    rows = units[["entity_id", "as_of"]].reset_index(names="row")
    hits = rows.merge(events, on="entity_id")
    inside = (hits["event_time"] > hits["as_of"]) & (hits["event_time"] <= hits["as_of"] + horizon)
    out = np.zeros(len(units), dtype=int)
    out[hits.loc[inside, "row"].unique()] = 1
    return out


def on_record(
    units: pd.DataFrame, events: pd.DataFrame, key: str, days: int | None, value: str | None = None
) -> np.ndarray:
    """Per unit: count (or sum of `value`) of events on record at as_of within the last `days`."""
    cols = [key, "event_time", "available_at"] + ([value] if value else [])
    rows = units[["entity_id", "as_of"]].reset_index(names="row")
    hits = rows.merge(events[cols].rename(columns={key: "entity_id"}), on="entity_id")
    ok = (hits["available_at"] <= hits["as_of"]) & (hits["event_time"] < hits["as_of"])
    if days is not None:
        ok &= hits["event_time"] >= hits["as_of"] - pd.Timedelta(days=days)
    weights = hits.loc[ok, value].to_numpy(dtype=float) if value else None
    return np.bincount(hits.loc[ok, "row"].to_numpy(), weights=weights, minlength=len(units))


def latest_monthly(units: pd.DataFrame, monthly: pd.DataFrame) -> pd.DataFrame:
    """Per unit, the latest month on record at as_of, as its latest row on record shows it (a
    later row for the same month is a revision); NaN when no month is on record."""
    rows = monthly.rename(columns={"employer_id": "entity_id"}).sort_values("available_at")
    left = units[["entity_id", "as_of"]].reset_index(names="row").sort_values("as_of")
    first = rows.drop_duplicates(["entity_id", "month"], keep="first")
    months = pd.merge_asof(
        left,
        first[["entity_id", "month", "available_at"]],
        left_on="as_of",
        right_on="available_at",
        by="entity_id",
    )
    known = months.dropna(subset=["month"]).drop(columns="available_at")
    latest = pd.merge_asof(
        known.sort_values("as_of"),
        rows,
        left_on="as_of",
        right_on="available_at",
        by=["entity_id", "month"],
    )
    return (
        months[["row", "entity_id", "as_of"]]
        .merge(latest.drop(columns=["entity_id", "as_of"]), on="row", how="left")
        .sort_values("row")
        .reset_index(drop=True)
    )


def wage_splits(tables: dict[str, pd.DataFrame], units: pd.DataFrame) -> dict[str, Split]:
    """Observable high/low groups for every wage-arrears driver."""
    employers = tables["employers"].set_index("employer_id")
    firm = employers.loc[units["entity_id"]].reset_index(drop=True)
    construction = (firm["sector"] == "construction").to_numpy()

    projects = tables["construction_projects"][["project_id", "employer_id"]]
    instalments = tables["project_instalments"].merge(projects, on="project_id")
    payments = tables["project_payments"]
    rows = units[["entity_id", "as_of"]].reset_index(names="row")
    due = rows.merge(instalments.rename(columns={"employer_id": "entity_id"}), on="entity_id")
    due = due[
        (due["event_time"] <= due["as_of"] - pd.Timedelta(days=15))
        & (due["event_time"] > due["as_of"] - pd.Timedelta(days=180))
    ]
    paid = due[["row", "as_of", "project_id", "instalment_no"]].merge(
        payments[["project_id", "instalment_no", "amount", "available_at"]],
        on=["project_id", "instalment_no"],
        how="left",
    )
    paid_sums = (
        paid[paid["available_at"] <= paid["as_of"]]
        .groupby(["row", "project_id", "instalment_no"])["amount"]
        .sum()
    )
    due = due.set_index(["row", "project_id", "instalment_no"])
    shortfall = (due["scheduled_amount"] - paid_sums.reindex(due.index, fill_value=0.0)).clip(
        lower=0
    )
    overdue_share = (
        shortfall.groupby(level="row").sum() / due["scheduled_amount"].groupby(level="row").sum()
    ).reindex(range(len(units)), fill_value=0.0)
    owner = overdue_share.to_numpy()

    si = latest_monthly(units, tables["social_insurance"])
    si_arrears = (si["amount_paid"] < si["amount_due"]).to_numpy()
    head_now = si["insured_headcount"].to_numpy(dtype=float)
    head_then = _months_before(units, tables["social_insurance"], si, "insured_headcount", 6)
    util = latest_monthly(units, tables["utilities"])
    kwh_then = _months_before(units, tables["utilities"], util, "electricity_kwh", 4)
    tax = latest_monthly(units, tables["tax"])
    sales_then = _months_before(units, tables["tax"], tax, "declared_sales", 4)

    complaints = tables["labour_complaints"]
    not_wages = complaints[complaints["topic"] != "wages"]
    age = (units["as_of"] - firm["founded_on"]).dt.days.to_numpy() / 365.0
    month = units["as_of"].dt.month.to_numpy()
    # Skip the first half-year, when little history is on record and every risk looks lower.
    settled = (units["as_of"] >= units["as_of"].min() + pd.DateOffset(months=6)).to_numpy()
    kwh_ratio = util["electricity_kwh"].to_numpy() / kwh_then
    sales_ratio = tax["declared_sales"].to_numpy() / sales_then
    head_ratio = head_now / head_then
    return {
        "construction_sector": (construction, ~construction),
        "owner_payment_delay": (construction & (owner > 0.3), construction & (owner == 0)),
        "si_arrears": (si_arrears, si["amount_paid"].notna().to_numpy() & ~si_arrears),
        "headcount_drop": (head_ratio < 0.85, head_ratio >= 1.0),
        "electricity_drop": (kwh_ratio < 0.8, kwh_ratio >= 1.0),
        "tax_overdue": ((tax["tax_overdue"] > 0).to_numpy(), (tax["tax_overdue"] == 0).to_numpy()),
        "sales_decline": (sales_ratio < 0.8, sales_ratio >= 1.0),
        "creditor_suits": _any_vs_none(on_record(units, tables["court_cases"], "employer_id", 365)),
        "abnormal_listing": _any_vs_none(
            on_record(units, tables["abnormal_listings"], "employer_id", 730)
        ),
        "prior_complaints": _any_vs_none(on_record(units, not_wages, "employer_id", 365)),
        "young_firm": (age < 1.5, age > 5),
        # The lunar new year falls between 21 January and 20 February.
        "spring_festival": (
            settled & np.isin(month, [11, 12, 1]),
            settled & np.isin(month, [4, 5, 6, 7]),
        ),
    }


def _months_before(
    units: pd.DataFrame, monthly: pd.DataFrame, latest: pd.DataFrame, column: str, months: int
) -> np.ndarray:
    """`column` of the record `months` before each unit's latest record on record."""
    # Revisions change what was paid, not headcounts, meter readings or sales: the first row.
    first = monthly.sort_values("available_at").drop_duplicates(["employer_id", "month"])
    keyed = first.set_index(["employer_id", "month"])[column]
    target = pd.MultiIndex.from_arrays(
        [units["entity_id"], latest["month"] - pd.DateOffset(months=months)]
    )
    return keyed.reindex(target).to_numpy(dtype=float)


def _any_vs_none(counts: np.ndarray) -> Split:
    return counts > 0, counts == 0


def telecom_splits(tables: dict[str, pd.DataFrame], units: pd.DataFrame) -> dict[str, Split]:
    """Observable high/low groups for every telecom-fraud driver."""
    residents = (
        tables["residents"].set_index("resident_id").loc[units["entity_id"]].reset_index(drop=True)
    )
    age = units["as_of"].dt.year.to_numpy() - residents["birth_year"].to_numpy()
    alone = residents["lives_alone"].to_numpy()
    contacts = on_record(units, tables["flagged_contacts"], "resident_id", 30)
    alerts = on_record(units, tables["app_alerts"], "resident_id", 30)
    outflows = tables["bank_outflows"]
    payees = on_record(units, outflows, "resident_id", 30, value="new_payees")
    usual = outflows.groupby("resident_id")["amount_out"].median()
    big = outflows[outflows["amount_out"] > 8 * usual.reindex(outflows["resident_id"]).to_numpy()]
    spikes = on_record(units, big, "resident_id", 30)
    victim = on_record(units, tables["fraud_cases"], "resident_id", None)
    warnings = tables["antifraud_warnings"]
    warned = on_record(units, warnings, "resident_id", 30)
    answered = on_record(units, warnings[warnings["answered"]], "resident_id", 30)
    installs = tables["app_installs"]
    installed = on_record(units, installs, "resident_id", None)
    return {
        "flagged_contacts": (contacts >= 3, contacts == 0),
        "risky_app_alerts": _any_vs_none(alerts),
        "new_payees": (payees >= 2, payees == 0),
        "outflow_spike": _any_vs_none(spikes),
        "prior_victimisation": _any_vs_none(victim),
        # Warnings go to exposed residents: compare answered with unanswered among the warned.
        "warning_answered": ((warned > 0) & (answered > 0), (warned > 0) & (answered == 0)),
        "app_installed": (installed > 0, installed == 0),
        "young_adult": ((age >= 18) & (age <= 30), (age >= 31) & (age <= 59)),
        "elderly_alone": ((age >= 65) & alone, (age >= 65) & ~alone),
    }


def dispute_splits(tables: dict[str, pd.DataFrame], units: pd.DataFrame) -> dict[str, Split]:
    """Observable high/low groups for every dispute-escalation driver."""
    disputes = (
        tables["disputes"].set_index("dispute_id").loc[units["entity_id"]].reset_index(drop=True)
    )
    parties = tables["dispute_parties"][["dispute_id", "party_id"]]
    party_rows = units[["entity_id", "as_of"]].merge(
        parties, left_on="entity_id", right_on="dispute_id"
    )
    party_units = party_rows[["party_id", "as_of", "entity_id"]].rename(
        columns={"entity_id": "unit", "party_id": "entity_id"}
    )
    index = pd.Index(units["entity_id"])

    def by_party(table: pd.DataFrame) -> np.ndarray:
        counts = on_record(party_units, table, "party_id", 365)
        summed = pd.Series(counts).groupby(party_units["unit"].to_numpy()).sum()
        return summed.reindex(index, fill_value=0).to_numpy()

    sessions = tables["mediation_sessions"]
    failed = on_record(
        units, sessions[sessions["outcome"].isin(["failed", "no_show"])], "dispute_id", None
    )
    visits = tables["grid_visits"]
    flagged = on_record(
        units, visits[visits["threat_flag"] | visits["emotion_flag"]], "dispute_id", None
    )
    high_type = (
        disputes["dispute_type"]
        .isin(["labour", "land", "property_management", "lending"])
        .to_numpy()
    )
    n_parties = disputes["n_parties"].to_numpy()
    group = disputes["group_flag"].to_numpy()
    amount = disputes["amount"].to_numpy()
    county = (disputes["handling_level"] == "county").to_numpy()
    return {
        "high_risk_type": (high_type, ~high_type),
        "many_parties": (n_parties >= 4, n_parties == 2),
        "group_dispute": (group, ~group),
        "large_amount": (amount >= 100_000, amount < 10_000),
        "prior_police_calls": _any_vs_none(by_party(tables["police_calls"])),
        "prior_petitions": _any_vs_none(by_party(tables["petitions"])),
        "failed_mediation": _any_vs_none(failed),
        "threat_emotion": _any_vs_none(flagged),
        "county_handling": (county, ~county),
    }


SPLITS = {
    "wage_arrears": wage_splits,
    "telecom_fraud": telecom_splits,
    "dispute_escalation": dispute_splits,
}
