"""The raw tables of the small city follow the contract in docs/architecture.md."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

# Table -> (key columns, all columns in order), copied from docs/architecture.md.
CONTRACT: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "wage_arrears": {
        "employers": (
            ("employer_id",),
            (
                "employer_id",
                "sector",
                "size_band",
                "registered_capital",
                "founded_on",
                "district",
                "trademark_count",
                "event_time",
                "available_at",
            ),
        ),
        "abnormal_listings": (
            ("listing_id",),
            ("listing_id", "employer_id", "reason", "event_time", "available_at"),
        ),
        "social_insurance": (
            ("employer_id", "month"),
            (
                "employer_id",
                "month",
                "insured_headcount",
                "amount_due",
                "amount_paid",
                "event_time",
                "available_at",
            ),
        ),
        "tax": (
            ("employer_id", "month"),
            (
                "employer_id",
                "month",
                "declared_sales",
                "tax_paid",
                "tax_overdue",
                "event_time",
                "available_at",
            ),
        ),
        "utilities": (
            ("employer_id", "month"),
            ("employer_id", "month", "electricity_kwh", "water_m3", "event_time", "available_at"),
        ),
        "court_cases": (
            ("case_id",),
            ("case_id", "employer_id", "case_type", "amount", "event_time", "available_at"),
        ),
        "construction_projects": (
            ("project_id",),
            (
                "project_id",
                "employer_id",
                "contract_value",
                "start_date",
                "planned_end_date",
                "event_time",
                "available_at",
            ),
        ),
        "project_instalments": (
            ("project_id", "instalment_no"),
            ("project_id", "instalment_no", "scheduled_amount", "event_time", "available_at"),
        ),
        "project_payments": (
            ("payment_id",),
            ("payment_id", "project_id", "instalment_no", "amount", "event_time", "available_at"),
        ),
        "labour_complaints": (
            ("complaint_id",),
            ("complaint_id", "employer_id", "channel", "topic", "event_time", "available_at"),
        ),
        "arrears_events": (
            ("event_id",),
            (
                "event_id",
                "employer_id",
                "workers_affected",
                "amount_owed",
                "detected_by",
                "event_time",
                "available_at",
            ),
        ),
    },
    "telecom_fraud": {
        "residents": (
            ("resident_id",),
            (
                "resident_id",
                "birth_year",
                "sex",
                "district",
                "lives_alone",
                "education_level",
                "event_time",
                "available_at",
            ),
        ),
        "flagged_contacts": (
            ("resident_id", "event_time"),
            (
                "resident_id",
                "flagged_calls",
                "flagged_sms",
                "overseas_calls",
                "event_time",
                "available_at",
            ),
        ),
        "app_alerts": (
            ("alert_id",),
            ("alert_id", "resident_id", "alert_type", "event_time", "available_at"),
        ),
        "bank_outflows": (
            ("resident_id", "event_time"),
            (
                "resident_id",
                "amount_out",
                "new_payees",
                "night_transfers",
                "card_payment_count",
                "event_time",
                "available_at",
            ),
        ),
        "antifraud_warnings": (
            ("warning_id",),
            ("warning_id", "resident_id", "channel", "answered", "event_time", "available_at"),
        ),
        "app_installs": (("resident_id",), ("resident_id", "event_time", "available_at")),
        "fraud_cases": (
            ("case_id",),
            ("case_id", "resident_id", "scam_type", "loss_amount", "event_time", "available_at"),
        ),
    },
    "dispute_escalation": {
        "disputes": (
            ("dispute_id",),
            (
                "dispute_id",
                "dispute_type",
                "amount",
                "n_parties",
                "group_flag",
                "district",
                "handling_level",
                "registration_channel",
                "event_time",
                "available_at",
            ),
        ),
        "dispute_parties": (
            ("dispute_id", "party_id"),
            ("dispute_id", "party_id", "role", "event_time", "available_at"),
        ),
        "mediation_sessions": (
            ("session_id",),
            ("session_id", "dispute_id", "outcome", "event_time", "available_at"),
        ),
        "grid_visits": (
            ("visit_id",),
            (
                "visit_id",
                "dispute_id",
                "emotion_flag",
                "threat_flag",
                "visit_duration_min",
                "event_time",
                "available_at",
            ),
        ),
        "police_calls": (
            ("call_id",),
            ("call_id", "party_id", "call_type", "event_time", "available_at"),
        ),
        "petitions": (
            ("petition_id",),
            ("petition_id", "party_id", "dispute_id", "level", "event_time", "available_at"),
        ),
        "escalation_events": (
            ("event_id",),
            ("event_id", "dispute_id", "escalation_type", "event_time", "available_at"),
        ),
    },
}

CATEGORIES = {
    ("employers", "sector"): {
        "construction",
        "manufacturing",
        "retail",
        "hospitality",
        "logistics",
        "services",
        "it",
    },
    ("employers", "size_band"): {"micro", "small", "medium", "large"},
    ("employers", "district"): {"wuxing", "nanxun", "deqing", "changxing", "anji"},
    ("abnormal_listings", "reason"): {"unreachable_address", "missing_annual_report", "other"},
    ("court_cases", "case_type"): {"creditor_suit", "enforcement", "dishonest_debtor"},
    ("labour_complaints", "channel"): {"hotline_12345", "hotline_12333", "inspection"},
    ("labour_complaints", "topic"): {"wages", "social_insurance", "hours", "other"},
    ("arrears_events", "detected_by"): {"complaint", "inspection", "bank_monitoring"},
    ("residents", "sex"): {"f", "m"},
    ("residents", "education_level"): {"primary", "secondary", "tertiary"},
    ("app_alerts", "alert_type"): {"flagged_app", "screen_sharing", "phishing_url"},
    ("antifraud_warnings", "channel"): {"sms_12381", "call_96110", "visit"},
    ("fraud_cases", "scam_type"): {
        "online_shopping",
        "loan",
        "fake_order_job",
        "impersonation",
        "investment",
        "other",
    },
    ("disputes", "dispute_type"): {
        "labour",
        "neighbour",
        "family",
        "land",
        "property_management",
        "lending",
        "consumer",
        "other",
    },
    ("disputes", "handling_level"): {"grid", "township", "county"},
    ("disputes", "registration_channel"): {"walk_in", "hotline", "online"},
    ("dispute_parties", "role"): {"applicant", "respondent"},
    ("mediation_sessions", "outcome"): {"agreement", "partial", "failed", "no_show"},
    ("police_calls", "call_type"): {"dispute", "violence", "noise", "other"},
    ("petitions", "level"): {"township", "county", "city", "province"},
    ("escalation_events", "escalation_type"): {
        "repeat_petition",
        "higher_petition",
        "police_case",
        "group_incident",
    },
}

TABLES = [(task, table) for task, tables in CONTRACT.items() for table in tables]
USCC = re.compile(r"^91(330502|330503|330521|330522|330523)[0-9A-HJ-NPQRTUWXY]{10}$")
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def test_each_task_folder_holds_exactly_the_contract_tables(small_city: Path) -> None:
    for task, tables in CONTRACT.items():
        assert sorted(p.stem for p in (small_city / task).glob("*.parquet")) == sorted(tables)


@pytest.mark.parametrize(("task", "table"), TABLES)
def test_columns_keys_and_timestamps_follow_the_contract(
    city_tables, task: str, table: str
) -> None:
    frame = city_tables[task][table]
    key, columns = CONTRACT[task][table]
    assert tuple(frame.columns) == columns
    assert len(frame) > 0
    assert not frame.duplicated(list(key)).any(), f"{table}: key {key} not unique"
    assert (frame["available_at"] >= frame["event_time"]).all()
    for column in frame.columns:
        dtype = frame[column].dtype
        assert (
            pd.api.types.is_string_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
            or dtype in ("int64", "float64", "datetime64[ns]")
        ), f"{table}.{column} has dtype {dtype}"
    for (cat_table, column), allowed in CATEGORIES.items():
        if cat_table == table:
            assert set(frame[column].dropna().unique()) <= allowed


def test_identifiers_look_like_real_ones(city_tables) -> None:
    employer_ids = city_tables["wage_arrears"]["employers"]["employer_id"]
    assert employer_ids.str.match(USCC).all()
    for code in employer_ids.head(50):
        total = sum(
            USCC_ALPHABET.index(ch) * w for ch, w in zip(code[:17], USCC_WEIGHTS, strict=True)
        )
        assert USCC_ALPHABET[(31 - total % 31) % 31] == code[17]
    hex16 = r"^[0-9a-f]{16}$"
    assert city_tables["telecom_fraud"]["residents"]["resident_id"].str.match(hex16).all()
    assert city_tables["dispute_escalation"]["dispute_parties"]["party_id"].str.match(hex16).all()


def test_monthly_tables_cover_every_employer_month_and_lag_realistically(city_tables) -> None:
    wage = city_tables["wage_arrears"]
    n_firms = len(wage["employers"])
    lags = {"social_insurance": (15, 45), "tax": (15, 30), "utilities": (5, 10)}
    for table, (lo, hi) in lags.items():
        frame = wage[table]
        assert len(frame) == n_firms * frame["month"].nunique()
        assert wage["employers"]["founded_on"].max() < frame["month"].min()
        lag = (frame["available_at"] - frame["event_time"]).dt.days
        assert lag.min() >= lo and lag.quantile(0.5) <= hi


def test_foreign_keys_resolve(city_tables) -> None:
    wage, fraud, dispute = (city_tables[t] for t in CONTRACT)
    firms = set(wage["employers"]["employer_id"])
    for table in (
        "abnormal_listings",
        "court_cases",
        "construction_projects",
        "labour_complaints",
        "arrears_events",
    ):
        assert set(wage[table]["employer_id"]) <= firms
    projects = set(wage["construction_projects"]["project_id"])
    assert set(wage["project_instalments"]["project_id"]) <= projects
    assert set(wage["project_payments"]["project_id"]) <= projects
    residents = set(fraud["residents"]["resident_id"])
    for table in (
        "flagged_contacts",
        "app_alerts",
        "bank_outflows",
        "antifraud_warnings",
        "app_installs",
        "fraud_cases",
    ):
        assert set(fraud[table]["resident_id"]) <= residents
    parties = set(dispute["dispute_parties"]["party_id"])
    assert set(dispute["police_calls"]["party_id"]) <= parties
    assert set(dispute["petitions"]["dispute_id"].dropna()) <= set(
        dispute["disputes"]["dispute_id"]
    )


def test_parties_recur_across_disputes(city_tables) -> None:
    per_party = city_tables["dispute_escalation"]["dispute_parties"].groupby("party_id").size()
    assert (per_party > 1).mean() > 0.1


def test_escalations_appear_in_petitions_and_police_calls(city_tables) -> None:
    dispute = city_tables["dispute_escalation"]
    events = dispute["escalation_events"]
    petitions = dispute["petitions"].dropna(subset=["dispute_id"])
    by_petition = events[
        events["escalation_type"].isin(["repeat_petition", "higher_petition", "group_incident"])
    ]
    matched = by_petition.merge(
        petitions, on=["dispute_id", "event_time"], suffixes=("", "_petition")
    )
    assert matched["event_id"].nunique() == len(by_petition)
    calls = dispute["police_calls"].merge(
        dispute["dispute_parties"][["dispute_id", "party_id"]], on="party_id"
    )
    by_police = events[events["escalation_type"].isin(["police_case", "group_incident"])]
    matched = by_police.merge(calls, on=["dispute_id", "event_time"], suffixes=("", "_call"))
    assert matched["event_id"].nunique() == len(by_police)


def test_wage_complaints_follow_the_onset_they_report(city_tables) -> None:
    wage = city_tables["wage_arrears"]
    events = wage["arrears_events"]
    via_complaint = events[events["detected_by"] == "complaint"]
    complaints = wage["labour_complaints"]
    wage_complaints = complaints[complaints["topic"] == "wages"]
    joined = via_complaint.merge(wage_complaints, on="employer_id", suffixes=("", "_complaint"))
    after = joined[
        (joined["event_time_complaint"] > joined["event_time"])
        & (joined["event_time_complaint"] < joined["available_at"])
    ]
    assert after["event_id"].nunique() == len(via_complaint)
