"""Firms that register and deregister, residents who move in and out (realistic profile): no record of a
firm outside its registration, no unit at an as-of date on which it is not registered (its
registration on record), and an entrant's features see nothing from before its entry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import telecom_fraud, wage_arrears
from features.schemas import RawTables
from features.validation import validate_tables
from training.raw_io import load_raw_tables

SLUG = "wage_arrears"


@pytest.fixture(scope="module")
def tables(realistic_city: Path) -> RawTables:
    return validate_tables(SLUG, load_raw_tables(realistic_city, SLUG))


@pytest.fixture(scope="module")
def registry(tables: RawTables) -> pd.DataFrame:
    return tables["employers"].assign(employer_id=lambda t: t["employer_id"].astype(str))


def _with_tenure(frame: pd.DataFrame, registry: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(employer_id=lambda t: t["employer_id"].astype(str)).merge(
        registry[["employer_id", "registered_at", "deregistered_at"]], on="employer_id"
    )


def test_the_realistic_registry_has_entries_and_exits(registry: pd.DataFrame) -> None:
    start = pd.Timestamp("2024-01-01")  # the small city's window: 24 months before 2026
    entrants = registry["registered_at"] > start
    assert 0.05 < entrants.mean() < 0.2
    assert 0.03 < registry["deregistered_at"].notna().mean() < 0.15
    # An entrant's registry row reaches the registry after its registration, never before.
    assert (registry["available_at"] >= registry["registered_at"]).all()
    leavers = registry["deregistered_at"].notna()
    assert (registry.loc[leavers, "deregistered_at"] > registry.loc[leavers, "registered_at"]).all()


def test_no_record_of_a_firm_outside_its_registration(
    tables: RawTables, registry: pd.DataFrame
) -> None:
    checked = 0
    for name, frame in tables.items():
        if name == "employers" or "employer_id" not in frame.columns:
            continue
        rows = _with_tenure(frame, registry)
        stays = rows["deregistered_at"].isna()
        if "month" in rows.columns:
            # Monthly declarations and readings: whole months inside the registration.
            begins, ends = rows["month"], rows["month"] + pd.DateOffset(months=1)
        else:
            begins = ends = rows["event_time"]
        entrant = rows["registered_at"] > pd.Timestamp("2024-01-01")
        assert (~entrant | (begins >= rows["registered_at"])).all(), name
        assert (stays | (ends <= rows["deregistered_at"])).all(), name
        checked += int(entrant.sum() + (~stays).sum())
    assert checked > 100


def test_units_only_while_registered_and_as_the_truth_has_them(
    tables: RawTables, registry: pd.DataFrame, realistic_city: Path
) -> None:
    dataset = wage_arrears.build_labelled_dataset(tables)
    units = _with_tenure(
        dataset[["entity_id", "as_of"]].rename(columns={"entity_id": "employer_id"}), registry
    )
    on_record = units.merge(registry[["employer_id", "available_at"]], on="employer_id")
    assert (on_record["as_of"] >= on_record["available_at"]).all()
    assert (units["deregistered_at"].isna() | (units["as_of"] < units["deregistered_at"])).all()
    # Every leaver is scored before it leaves and not after; every entrant after it enters.
    leavers = registry.loc[registry["deregistered_at"].notna(), "employer_id"]
    assert set(leavers) & set(units["employer_id"])
    truth = pd.read_parquet(realistic_city / "truth" / f"{SLUG}_units.parquet")
    key = ["entity_id", "as_of"]
    ours = dataset[key].astype({"entity_id": str}).sort_values(key, ignore_index=True)
    theirs = truth[key].astype({"entity_id": str}).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(ours, theirs)


def test_a_scoring_date_holds_only_the_firms_registered_then(
    tables: RawTables, registry: pd.DataFrame
) -> None:
    leaver = registry.dropna(subset=["deregistered_at"]).iloc[0]
    gone = leaver["deregistered_at"].to_period("M").to_timestamp() + pd.DateOffset(months=1)
    before = gone - pd.DateOffset(months=2)
    assert leaver["employer_id"] not in set(wage_arrears.build_features(tables, gone)["entity_id"])
    if before >= leaver["available_at"]:
        assert leaver["employer_id"] in set(
            wage_arrears.build_features(tables, before)["entity_id"].astype(str)
        )


def test_an_entrant_sees_nothing_before_its_entry(
    tables: RawTables, registry: pd.DataFrame
) -> None:
    """An entrant's records start with its registration, so four months after it its
    year-on-year changes are missing (no reading a year before) rather than read from a
    history it does not have here."""
    entrants = registry[registry["registered_at"] > pd.Timestamp("2024-03-01")]
    firm = entrants.iloc[0]
    as_of = firm["available_at"].to_period("M").to_timestamp() + pd.DateOffset(months=4)
    pairs = pd.DataFrame({"entity_id": [firm["employer_id"]], "as_of": [as_of]})
    plain = wage_arrears.build_features(tables, pairs)
    assert plain["electricity_yoy_change"].isna().all()
    assert plain["water_yoy_change"].isna().all()
    # The entrant's first rows are its own months, after its registration.
    rows = _with_tenure(tables["utilities"], registry)
    own = rows[rows["employer_id"] == firm["employer_id"]]
    assert len(own) and (own["month"] >= firm["registered_at"]).all()
    assert plain["insured_headcount"].notna().all()


def test_residents_moving_in_and_out(realistic_city: Path) -> None:
    """The fraud register: movers have no record outside their stay, units only while they
    live in the city (as the truth has them), and cases from before a move in stay elsewhere."""
    tables = validate_tables("telecom_fraud", load_raw_tables(realistic_city, "telecom_fraud"))
    residents = tables["residents"].assign(resident_id=lambda t: t["resident_id"].astype(str))
    stay = residents[["resident_id", "moved_in_at", "moved_out_at"]]
    assert 0.03 < stay["moved_in_at"].notna().mean() < 0.15
    assert 0.03 < stay["moved_out_at"].notna().mean() < 0.15
    movers = 0
    for name, frame in tables.items():
        if name == "residents":
            continue
        rows = frame.assign(resident_id=lambda t: t["resident_id"].astype(str)).merge(
            stay, on="resident_id"
        )
        assert (rows["moved_in_at"].isna() | (rows["event_time"] >= rows["moved_in_at"])).all()
        assert (rows["moved_out_at"].isna() | (rows["event_time"] < rows["moved_out_at"])).all()
        movers += int(rows["moved_in_at"].notna().sum() + rows["moved_out_at"].notna().sum())
    assert movers > 100
    dataset = telecom_fraud.build_labelled_dataset(tables)
    units = dataset[["entity_id", "as_of"]].assign(resident_id=lambda t: t["entity_id"].astype(str))
    units = units.merge(
        residents[["resident_id", "available_at", "moved_out_at"]], on="resident_id"
    )
    assert (units["as_of"] >= units["available_at"]).all()
    assert (units["moved_out_at"].isna() | (units["as_of"] < units["moved_out_at"])).all()
    truth = pd.read_parquet(realistic_city / "truth" / "telecom_fraud_units.parquet")
    key = ["entity_id", "as_of"]
    ours = dataset[key].astype({"entity_id": str}).sort_values(key, ignore_index=True)
    theirs = truth[key].astype({"entity_id": str}).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(ours, theirs)
