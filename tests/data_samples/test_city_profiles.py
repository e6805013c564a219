"""`riskloop generate --profile`: the clean profile is generator 1.0.0's city byte for byte; the
realistic profile (the default) plants its imperfections and records them in the truth files.

The digests below were recorded from main's code before the profiles existed (commit 5653edd,
`riskloop generate --size small --seed 7`). truth/drivers.json is the one file whose content
grew on purpose: it now also names the features that measure each driver (moved out of the
catalog); with that "features" entry removed, its bytes are the old file's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from data_samples.city import generate_city
from data_samples.city.writer import write_json
from training.cli import app

#: sha256 of every file of the small city, seed 7, as main wrote it before this change.
CLEAN_SMALL_SEED7 = {
    "dispute_escalation/dispute_parties.parquet": "df10b547b0d8ea85e7c3ac13a3d4cc43dc138ecebe494d6bfd51c93fcb3634ba",
    "dispute_escalation/disputes.parquet": "0297c3ceca1e7a13a814b27da992b360c56bb04e76713b490eb5a26d9f976d3f",
    "dispute_escalation/escalation_events.parquet": "39579f7d0bb5459d4dcf0558c173861d4e759ae4a7f6e9fb84805a7c03098156",
    "dispute_escalation/grid_visits.parquet": "3cca81df585ff9bf1e69c5552aa159e180e1899c51dc81fc526e25eb4d3beffb",
    "dispute_escalation/mediation_sessions.parquet": "533396f1738eb52aeb21568688cc37001df5a6fce7e761430b24f75880685223",
    "dispute_escalation/petitions.parquet": "1b7701a4cf10864f160bb40e4723f33629ea636c4a83ccff0c40a880c0510a6d",
    "dispute_escalation/police_calls.parquet": "02e7924bdf8d71aef6fea50ef713c799595e9c2cb63ebf36703ccb7db5008826",
    "manifest.json": "38df5711753da4f32dcff681c179149dcd4974116a3f4739299c21f9c39a6396",
    "telecom_fraud/antifraud_warnings.parquet": "807504a8a46cded5a10e4f4bd89fbecf7c298388497290ebc25176f8d3da4a1d",
    "telecom_fraud/app_alerts.parquet": "6dcc2c34c56ea1cde4b4487ed42022b7b16cd5e2bc390b49cc45ee954f09e0fb",
    "telecom_fraud/app_installs.parquet": "dc9395768bfba2f920a68b741e9605953d8b1b444b1a5ba12e0b87e78519fdc4",
    "telecom_fraud/bank_outflows.parquet": "d4c1c83916565e9bbcef64b25fe73d7a573e4d6910badb9e35e9c9934029e4d6",
    "telecom_fraud/flagged_contacts.parquet": "e0d00c6173d4dd2e4d98745e022fd7046dc2f07fd6e2f57475b572d2c299ed08",
    "telecom_fraud/fraud_cases.parquet": "c8ed2f44f11dca840c77efb553622eac6cd0cb26511afb30f62e843887903a34",
    "telecom_fraud/residents.parquet": "8f2baa54dbbe2c323b9215a831a237bfd70cda98361d744a225d8304365bab53",
    "wage_arrears/abnormal_listings.parquet": "972aa4a4cd3163b7b869c8bbc51140a61a180e83daae324ca2e06743ee09af55",
    "wage_arrears/arrears_events.parquet": "0b734640db131d434291a71f4606be6e816f98e342139de048b5effd98c2444b",
    "wage_arrears/construction_projects.parquet": "69791374246247e246ac10163f7e08f21d13180945d0cb134f15ff27b0713d9e",
    "wage_arrears/court_cases.parquet": "e1edee768f11a44d04aa576802b6ca2ed477b15bb5e08ffdb013ee82ead2cb2f",
    "wage_arrears/employers.parquet": "67e0ad168dc482354bd48e0bc0e1fd34a6e088f75ddf12537e67166b9415c422",
    "wage_arrears/labour_complaints.parquet": "21bc7519b6034799a0d192a5de2691583f67e42f75d665689d960dfbdc680020",
    "wage_arrears/project_instalments.parquet": "442b979331987f414da73671cc770ba3eaebd06ae423a0456a0fd33e599db22e",
    "wage_arrears/project_payments.parquet": "9f0861d9d90c5598054323d0659bb7cae47d067e81cf94923ecb82c35b50adf1",
    "wage_arrears/social_insurance.parquet": "88f55169bf4cc50e7b09c76b344ff13a4d572e04433970620d2500a5261ecbff",
    "wage_arrears/tax.parquet": "cd9477265a7d8b0c2b4298dd6d370da57300ef8ea7c1415b723879d71b741d41",
    "wage_arrears/utilities.parquet": "153f95ed9b39c760935d45c3128f6138e8cbebb5809dc7663d9c9fc4e92924c5",
}
#: The truth tables, whose `true_prob` NumPy's `exp`/`log` round in the last bits by the CPU's
#: vector instructions (their file digests held on the machines of earlier sessions; on an AMD
#: EPYC with AVX2 all three files differed, at 3e-14 relative): sha256 of every other column as CSV, and the
#: probabilities' sum and index-weighted mean, equal to 1e-12 relative (recorded 2026-12-07 on AVX2
#: from the same seed-7 city; every raw table's digest above is unchanged).
CLEAN_SMALL_SEED7_TRUTH = {
    "dispute_escalation": (
        "1d354411da4ed8a60488556876cba0ddf0fac73ce8652c85eba47d47e8137749",
        448.78641813166485,
        243.6802952351633,
    ),
    "telecom_fraud": (
        "dc8371000bedca2f6f32b727e8e65838b29dceb64b524d1ea865f7d5be19d7ff",
        695.5461365520703,
        345.406563393979,
    ),
    "wage_arrears": (
        "bb3b1b0ff12a42081b642d9961114ca7b61a9917ca030650a0eef8b3b608458a",
        516.4887791558435,
        255.4864885536174,
    ),
}
#: sha256 of truth/drivers.json as it was (before the "features" entry).
OLD_DRIVERS_JSON = "5829fe75d09a1bc3d51fc8f4ee16464edd92b133c1b30c667188a98ac630769b"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_clean_profile_writes_the_old_city_byte_for_byte(small_city: Path, tmp_path) -> None:
    """small_city is generated with profile="clean" and seed 7 (tests/conftest.py)."""
    digests = {
        str(path.relative_to(small_city)): _sha(path)
        for path in sorted(small_city.rglob("*"))
        if path.is_file() and path.name != "drivers.json" and path.parent.name != "truth"
    }
    assert digests == CLEAN_SMALL_SEED7
    truths = sorted(path.name for path in (small_city / "truth").glob("*.parquet"))
    assert truths == [f"{slug}_units.parquet" for slug in sorted(CLEAN_SMALL_SEED7_TRUTH)]
    for slug, (digest, total, weighted) in CLEAN_SMALL_SEED7_TRUTH.items():
        units = pd.read_parquet(small_city / "truth" / f"{slug}_units.parquet")
        others = units.drop(columns=["true_prob"]).to_csv(index=False).encode()
        assert hashlib.sha256(others).hexdigest() == digest, slug
        prob = units["true_prob"].to_numpy()
        order = np.arange(1, len(prob) + 1)
        assert float(prob.sum()) == pytest.approx(total, rel=1e-12, abs=0), slug
        assert float((prob * order).sum() / len(prob)) == pytest.approx(weighted, rel=1e-12, abs=0)
    drivers = json.loads((small_city / "truth" / "drivers.json").read_text())
    for entry in drivers.values():
        assert set(entry) == {"drivers", "noise", "features"}
        del entry["features"]
    write_json(tmp_path / "old.json", drivers)
    assert _sha(tmp_path / "old.json") == OLD_DRIVERS_JSON
    assert "profile" not in json.loads((small_city / "manifest.json").read_text())


def test_the_realistic_profile_is_the_default_and_is_recorded(realistic_city: Path) -> None:
    manifest = json.loads((realistic_city / "manifest.json").read_text())
    assert manifest["profile"] == "realistic"
    drivers = json.loads((realistic_city / "truth" / "drivers.json").read_text())
    for slug, entry in drivers.items():
        assert entry["realism"], slug
        units = pd.read_parquet(realistic_city / "truth" / f"{slug}_units.parquet")
        # The event probability is at least the probability of an observed event.
        assert (units["event_prob"] >= units["true_prob"] - 1e-12).all(), slug
        assert (units["event_prob"] > units["true_prob"] + 1e-6).mean() > 0.5, slug
    assert drivers["telecom_fraud"]["features"]["proxies"]


def test_realistic_wage_declarations_go_missing_more_often_in_trouble(
    small_city: Path, realistic_city: Path
) -> None:
    """Same firms and months; the realistic city lacks some declarations of the months a firm
    was registered in, the clean one none."""
    clean = pd.read_parquet(small_city / "wage_arrears" / "social_insurance.parquet")
    rows = pd.read_parquet(realistic_city / "wage_arrears" / "social_insurance.parquet")
    registry = pd.read_parquet(realistic_city / "wage_arrears" / "employers.parquet")
    # The declarations as first filed (a later row for the same month is a revision).
    real = rows.sort_values("available_at", kind="stable").drop_duplicates(["employer_id", "month"])
    assert len(clean) == 800 * 24
    # The months each firm was registered for in full (realistic registry, same firms).
    months = pd.DataFrame({"month": clean["month"].unique()}).merge(
        registry[["employer_id", "registered_at", "deregistered_at"]], how="cross"
    )
    month_end = months["month"] + pd.DateOffset(months=1)
    registered = (months["month"] >= months["registered_at"]) & (
        months["deregistered_at"].isna() | (month_end <= months["deregistered_at"])
    )
    expected = months[registered].groupby("employer_id").size()
    missing = 1 - len(real) / expected.sum()
    assert 0.005 < missing < 0.10, missing
    # Firms with unpaid contributions on record miss more of their later declarations.
    kept = real.assign(short=real["amount_paid"] < real["amount_due"])
    per_firm = kept.groupby("employer_id", observed=True).agg(
        rows=("month", "size"), short=("short", "mean")
    )
    share = per_firm["rows"] / expected.reindex(per_firm.index.astype(str)).to_numpy()
    troubled = per_firm["short"] > per_firm["short"].quantile(0.9)
    assert share[troubled].mean() < share[~troubled].mean()


def test_realistic_fraud_alerts_surge_after_the_drift(
    realistic_city: Path, small_city: Path
) -> None:
    # Residents who live in the city throughout (the realistic register's movers have no
    # alerts on record outside their stay).
    residents = pd.read_parquet(realistic_city / "telecom_fraud" / "residents.parquet")
    stayers = set(
        residents.loc[
            residents["moved_in_at"].isna() & residents["moved_out_at"].isna(), "resident_id"
        ]
    )
    assert 0.8 < len(stayers) / len(residents) < 0.95

    def monthly_alerts(city: Path) -> pd.Series:
        alerts = pd.read_parquet(city / "telecom_fraud" / "app_alerts.parquet")
        alerts = alerts[alerts["resident_id"].isin(stayers)]
        return alerts.groupby(alerts["event_time"].dt.to_period("M")).size()

    real, clean = monthly_alerts(realistic_city), monthly_alerts(small_city)
    drivers = json.loads((realistic_city / "truth" / "drivers.json").read_text())
    drift = int(drivers["telecom_fraud"]["realism"]["drift_months"])
    assert np.allclose(real.iloc[:-drift].to_numpy(), clean.iloc[:-drift].to_numpy())
    assert (real.iloc[-drift:].to_numpy() > 1.3 * clean.iloc[-drift:].to_numpy()).all()


def test_an_unknown_profile_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["generate", "--size", "small", "--profile", "messy", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert result.output.strip() == "error: unknown profile 'messy': choose one of realistic, clean"
    with pytest.raises(ValueError, match="unknown city profile"):
        generate_city(tmp_path, size="tiny", profile="messy")
