"""`riskloop generate --profile`: the clean profile is generator 1.0.0's city, table for table; the
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
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from data_samples.city import generate_city
from data_samples.city.writer import write_json
from training.cli import app

#: The small city, seed 7, as main wrote it before the profiles (5653edd): sha256 of its
#: manifest's bytes, and of each table's content, its Arrow schema (without the writer's
#: metadata) and its rows as CSV (floats in full). The tables' file digests held until
#: pyarrow 26.0.1 (released 2026-12-07) wrote the same tables in other bytes: every table's
#: content was the same, every file's bytes differed (a fresh clone's install took it).
CLEAN_SMALL_SEED7 = {
    "dispute_escalation/dispute_parties.parquet": "1f555d943042c986974e1c5351d0eceaf1aba8d330dcf6ae1a68b8e29595a056",
    "dispute_escalation/disputes.parquet": "62355c4c749bd4f996def70789100ca311109447cb3da49518b8d0c63af397b9",
    "dispute_escalation/escalation_events.parquet": "0d03065e14f9ee8ced1557a05b4dedd56c2c2425e873273cd2243f4ba4582dc7",
    "dispute_escalation/grid_visits.parquet": "952a77f7ed33fdda57a477d26e38dbf0fa6924aa0289a15e0677f71953971b43",
    "dispute_escalation/mediation_sessions.parquet": "339ede6b5874ca61848cb4a25e2efc472291ada45f09f435081e72a6951bfdf5",
    "dispute_escalation/petitions.parquet": "cd1722f2f781a154cfb2683a90346516802a58e3679f9e3ebeebafb8859b19a3",
    "dispute_escalation/police_calls.parquet": "1236b1d77e7528e1077a2edf90233fbb02f478b52ab87c535f6475e5de2b4e5a",
    "telecom_fraud/antifraud_warnings.parquet": "91aab24a6d48cf8d35e671c6a191ca87a2fca9b6d031d037e5d054585ba97654",
    "telecom_fraud/app_alerts.parquet": "0dc86833fffde9a0fbcc3bc7b343d2f97a81c07b70fcb80044a4b8b711f863c5",
    "telecom_fraud/app_installs.parquet": "11ae6b8eafc82c9895c6ab6f5d33283c819080020ccee0abbce40cd0a45d9889",
    "telecom_fraud/bank_outflows.parquet": "8f0bef86aab3bde9becc00cdf5527741aff5eb86b9c5ca62ca859c63560f7f8b",
    "telecom_fraud/flagged_contacts.parquet": "74ea970ab3a9db8747e86abc623f09aa9de2c25cb801a60dc5914e26cdffb75e",
    "telecom_fraud/fraud_cases.parquet": "c516014c865ce234c0de80da0f0468b86f0ba6053a3b097a8afd5f21f5ce7f65",
    "telecom_fraud/residents.parquet": "6a0d27c001efa31bd1f5bc49eb4efb0f5fe71e382d2e0f2cf1d7b9d33081ffc5",
    "wage_arrears/abnormal_listings.parquet": "a9794b9a1d22135237a1b753af404296e3ff6e5877e74de34ab2f4942c247ea2",
    "wage_arrears/arrears_events.parquet": "933930b351006a53bafd8ce49118acbcf7056594af64dc92bcc040b6391817fa",
    "wage_arrears/construction_projects.parquet": "1ac6d8341aeb486184fe1d406e1e3eac0bbb9fc92cc9f98a5c51f05c667e9303",
    "wage_arrears/court_cases.parquet": "cc7688827f51ec1a6c4e81d47612d484884eca767e806a52260858b56c663613",
    "wage_arrears/employers.parquet": "503b9097bfd5c69ff93460d7b7c2a29a66a83f66d78ef8a59ac908a60bd61276",
    "wage_arrears/labour_complaints.parquet": "f00509b8ae50c77eeeea9cfaa058f947afd0097c05b53074310e82c919f7502e",
    "wage_arrears/project_instalments.parquet": "1a7429c821272ffd446a044ace3e72f17abb6ea0a06505a1aaaafd13af92a335",
    "wage_arrears/project_payments.parquet": "fd976899131040c549b304d2e921babda55954cae96304dfee4224706353de6c",
    "wage_arrears/social_insurance.parquet": "5437fec0823b7af8a1adb5a3d371c70913e4cfb6088316f9746de5692bc8e2c6",
    "wage_arrears/tax.parquet": "4bc3669408d98acdb99c69bd80924836fdf3077370668ee81bdc239b0e99ebac",
    "wage_arrears/utilities.parquet": "47e20fc23444ec3a1ec914b696af94a46b1a920500160784e121062cf7edbe32",
    "manifest.json": "38df5711753da4f32dcff681c179149dcd4974116a3f4739299c21f9c39a6396",
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


def _content_sha(path: Path) -> str:
    """A table's content as `CLEAN_SMALL_SEED7` records it (not the writer's bytes)."""
    table = pq.read_table(path)
    text = str(table.schema.remove_metadata()) + "\n" + table.to_pandas().to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_clean_profile_writes_the_old_city_table_for_table(small_city: Path, tmp_path) -> None:
    """small_city is generated with profile="clean" and seed 7 (tests/conftest.py)."""
    digests = {
        str(path.relative_to(small_city)): _content_sha(path)
        if path.suffix == ".parquet"
        else _sha(path)
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
