"""The raw-table contract: every table of every task, declared once as a compact column spec.

`TABLE_SPECS[task][table]` names each table's key and columns (kind, allowed category values,
nullability, whether a city may lack the column) in contract order, so the contract reads like
a table here too. `features.validation` builds the pandera schemas from it and checks tables
where they enter the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import pandas as pd

from features.tasks import TASKS

ColumnKind = Literal["id", "str", "category", "timestamp", "int", "float", "bool"]

RawTables = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class ColumnSpec:
    """One raw column: its kind, allowed values (categories), whether it may be null, whether
    a city's table may lack it altogether (`optional`: the features derived from it are then
    left out of the dataset and the model, with a line saying so), and whether each of its
    times must be the first day of a month at 00:00 (`month_start`: a monthly fact's month)."""

    kind: ColumnKind
    values: tuple[str, ...] = ()
    nullable: bool = False
    optional: bool = False
    month_start: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One raw table: key columns and column specs, in contract order."""

    key: tuple[str, ...]
    columns: dict[str, ColumnSpec]
    is_label: bool = False
    entity_column: str = ""


def _id(nullable: bool = False) -> ColumnSpec:
    return ColumnSpec("id", nullable=nullable)


def _cat(*values: str) -> ColumnSpec:
    return ColumnSpec("category", values=values)


def _optional(spec: ColumnSpec) -> ColumnSpec:
    """The same column, which a city's table may lack (a signal no model needs)."""
    return replace(spec, optional=True)


_TS = ColumnSpec("timestamp")
_MONTH = ColumnSpec("timestamp", month_start=True)
_INT = ColumnSpec("int")
_MONEY = ColumnSpec("float", nullable=True)
_BOOL = ColumnSpec("bool")
_STR = ColumnSpec("str")
_TIMES = {"event_time": _TS, "available_at": _TS}

SECTORS = ("construction", "manufacturing", "retail", "hospitality", "logistics", "services", "it")
SIZE_BANDS = ("micro", "small", "medium", "large")
DISPUTE_TYPES = (
    "labour",
    "neighbour",
    "family",
    "land",
    "property_management",
    "lending",
    "consumer",
    "other",
)
HANDLING_LEVELS = ("grid", "township", "county")
REGISTRATION_CHANNELS = ("walk_in", "hotline", "online")

#: Raw tables of wage-arrears, in contract order.
WAGE_ARREARS_TABLES: dict[str, TableSpec] = {
    "employers": TableSpec(
        key=("employer_id",),
        entity_column="employer_id",
        columns={
            "employer_id": _id(),
            "sector": _cat(*SECTORS),
            "size_band": _cat(*SIZE_BANDS),
            "registered_capital": _MONEY,
            "founded_on": _TS,
            "district": _STR,
            "trademark_count": _optional(_INT),
            # Entries and exits during the window: when the firm was registered in the city
            # (founded or moved in; null if unknown) and when it deregistered (closed or moved
            # away; null while it stays). The population reads the registry row's
            # `available_at` and `deregistered_at`; a registry without them holds every firm
            # from its row's `available_at` on.
            "registered_at": _optional(ColumnSpec("timestamp", nullable=True)),
            "deregistered_at": _optional(ColumnSpec("timestamp", nullable=True)),
            **_TIMES,
        },
    ),
    "abnormal_listings": TableSpec(
        key=("listing_id",),
        entity_column="employer_id",
        columns={
            "listing_id": _id(),
            "employer_id": _id(),
            "reason": _cat("unreachable_address", "missing_annual_report", "other"),
            **_TIMES,
        },
    ),
    "social_insurance": TableSpec(
        # A back-payment revises a declaration: a later row for the same month.
        key=("employer_id", "month", "available_at"),
        entity_column="employer_id",
        columns={
            "employer_id": _id(),
            "month": _MONTH,
            "insured_headcount": _INT,
            "amount_due": _MONEY,
            "amount_paid": _MONEY,
            **_TIMES,
        },
    ),
    "tax": TableSpec(
        key=("employer_id", "month"),
        entity_column="employer_id",
        columns={
            "employer_id": _id(),
            "month": _MONTH,
            "declared_sales": _MONEY,
            "tax_paid": _MONEY,
            "tax_overdue": _MONEY,
            **_TIMES,
        },
    ),
    "utilities": TableSpec(
        key=("employer_id", "month"),
        entity_column="employer_id",
        columns={
            "employer_id": _id(),
            "month": _MONTH,
            "electricity_kwh": _MONEY,
            "water_m3": _optional(_MONEY),
            **_TIMES,
        },
    ),
    "court_cases": TableSpec(
        key=("case_id",),
        entity_column="employer_id",
        columns={
            "case_id": _id(),
            "employer_id": _id(),
            "case_type": _cat("creditor_suit", "enforcement", "dishonest_debtor"),
            "amount": _MONEY,
            **_TIMES,
        },
    ),
    "construction_projects": TableSpec(
        key=("project_id",),
        entity_column="employer_id",
        columns={
            "project_id": _id(),
            "employer_id": _id(),
            "contract_value": _MONEY,
            "start_date": _TS,
            "planned_end_date": _TS,
            **_TIMES,
        },
    ),
    "project_instalments": TableSpec(
        key=("project_id", "instalment_no"),
        columns={
            "project_id": _id(),
            "instalment_no": _INT,
            "scheduled_amount": _MONEY,
            **_TIMES,
        },
    ),
    "project_payments": TableSpec(
        key=("payment_id",),
        columns={
            "payment_id": _id(),
            "project_id": _id(),
            "instalment_no": _INT,
            "amount": _MONEY,
            **_TIMES,
        },
    ),
    "labour_complaints": TableSpec(
        key=("complaint_id",),
        entity_column="employer_id",
        columns={
            "complaint_id": _id(),
            "employer_id": _id(),
            "channel": _cat("hotline_12345", "hotline_12333", "inspection"),
            "topic": _cat("wages", "social_insurance", "hours", "other"),
            **_TIMES,
        },
    ),
    "arrears_events": TableSpec(
        key=("event_id",),
        is_label=True,
        entity_column="employer_id",
        columns={
            "event_id": _id(),
            "employer_id": _id(),
            "workers_affected": _INT,
            "amount_owed": _MONEY,
            "detected_by": _cat("complaint", "inspection", "bank_monitoring"),
            **_TIMES,
        },
    ),
}

#: Raw tables of telecom-fraud, in contract order.
TELECOM_FRAUD_TABLES: dict[str, TableSpec] = {
    "residents": TableSpec(
        key=("resident_id",),
        entity_column="resident_id",
        columns={
            "resident_id": _id(),
            "birth_year": _INT,
            "sex": _cat("f", "m"),
            "district": _STR,
            "lives_alone": _BOOL,
            "education_level": _optional(_cat("primary", "secondary", "tertiary")),
            # Moves during the window: when the resident moved in (null for residents who
            # lived here before) and out (null while they stay). The population reads the
            # row's `available_at` (the registration, a move in included) and `moved_out_at`.
            "moved_in_at": _optional(ColumnSpec("timestamp", nullable=True)),
            "moved_out_at": _optional(ColumnSpec("timestamp", nullable=True)),
            **_TIMES,
        },
    ),
    "flagged_contacts": TableSpec(
        key=("resident_id", "event_time"),
        entity_column="resident_id",
        columns={
            "resident_id": _id(),
            "flagged_calls": _INT,
            "flagged_sms": _INT,
            "overseas_calls": _INT,
            **_TIMES,
        },
    ),
    "app_alerts": TableSpec(
        key=("alert_id",),
        entity_column="resident_id",
        columns={
            "alert_id": _id(),
            "resident_id": _id(),
            "alert_type": _cat("flagged_app", "screen_sharing", "phishing_url"),
            **_TIMES,
        },
    ),
    "bank_outflows": TableSpec(
        key=("resident_id", "event_time"),
        entity_column="resident_id",
        columns={
            "resident_id": _id(),
            "amount_out": _MONEY,
            "new_payees": _INT,
            "night_transfers": _INT,
            "card_payment_count": _optional(_INT),
            **_TIMES,
        },
    ),
    "antifraud_warnings": TableSpec(
        key=("warning_id",),
        entity_column="resident_id",
        columns={
            "warning_id": _id(),
            "resident_id": _id(),
            "channel": _cat("sms_12381", "call_96110", "visit"),
            "answered": _BOOL,
            **_TIMES,
        },
    ),
    "app_installs": TableSpec(
        key=("resident_id",),
        entity_column="resident_id",
        columns={"resident_id": _id(), **_TIMES},
    ),
    "fraud_cases": TableSpec(
        key=("case_id",),
        is_label=True,
        entity_column="resident_id",
        columns={
            "case_id": _id(),
            "resident_id": _id(),
            "scam_type": _cat(
                "online_shopping",
                "loan",
                "fake_order_job",
                "impersonation",
                "investment",
                "other",
            ),
            "loss_amount": _MONEY,
            **_TIMES,
        },
    ),
}

#: Raw tables of dispute-escalation, in contract order.
DISPUTE_ESCALATION_TABLES: dict[str, TableSpec] = {
    "disputes": TableSpec(
        key=("dispute_id",),
        entity_column="dispute_id",
        columns={
            "dispute_id": _id(),
            "dispute_type": _cat(*DISPUTE_TYPES),
            "amount": _MONEY,
            "n_parties": _INT,
            "group_flag": _BOOL,
            "district": _STR,
            "handling_level": _cat(*HANDLING_LEVELS),
            "registration_channel": _optional(_cat(*REGISTRATION_CHANNELS)),
            **_TIMES,
        },
    ),
    "dispute_parties": TableSpec(
        key=("dispute_id", "party_id"),
        entity_column="dispute_id",
        columns={
            "dispute_id": _id(),
            "party_id": _id(),
            "role": _cat("applicant", "respondent"),
            **_TIMES,
        },
    ),
    "mediation_sessions": TableSpec(
        key=("session_id",),
        entity_column="dispute_id",
        columns={
            "session_id": _id(),
            "dispute_id": _id(),
            "outcome": _cat("agreement", "partial", "failed", "no_show"),
            **_TIMES,
        },
    ),
    "grid_visits": TableSpec(
        key=("visit_id",),
        entity_column="dispute_id",
        columns={
            "visit_id": _id(),
            "dispute_id": _id(),
            "emotion_flag": _BOOL,
            "threat_flag": _BOOL,
            "visit_duration_min": _optional(_MONEY),
            **_TIMES,
        },
    ),
    "police_calls": TableSpec(
        key=("call_id",),
        columns={
            "call_id": _id(),
            "party_id": _id(),
            "call_type": _cat("dispute", "violence", "noise", "other"),
            **_TIMES,
        },
    ),
    "petitions": TableSpec(
        key=("petition_id",),
        columns={
            "petition_id": _id(),
            "party_id": _id(),
            "dispute_id": _id(nullable=True),
            "level": _cat("township", "county", "city", "province"),
            **_TIMES,
        },
    ),
    "escalation_events": TableSpec(
        key=("event_id",),
        is_label=True,
        entity_column="dispute_id",
        columns={
            "event_id": _id(),
            "dispute_id": _id(),
            "escalation_type": _cat(
                "repeat_petition", "higher_petition", "police_case", "group_incident"
            ),
            **_TIMES,
        },
    ),
}

#: Every task's raw tables by slug, in registry order (the registry names each constant).
TABLE_SPECS: dict[str, dict[str, TableSpec]] = {
    task.slug: globals()[task.tables_constant] for task in TASKS.values()
}


def absent_optional_columns(tables: Mapping[str, pd.DataFrame], task: str) -> set[tuple[str, str]]:
    """(table, column) pairs of the task's optional columns that `tables` lack."""
    return {
        (table, name)
        for table, spec in TABLE_SPECS[task].items()
        if table in tables
        for name, col in spec.columns.items()
        if col.optional and name not in tables[table].columns
    }
