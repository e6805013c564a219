"""`riskloop monitor` on the simulated city: it raises the alarm (exit 3) on the realistic city's
months after the fraud drift and stays quiet on the clean city over the same months.

The reference is what a champion trained before the drift saw (its training months); the
current records are the scored months after the drift, as the service would have stored them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from models.secret_keys import load_secrets
from models.settings import get_settings
from models.spec import get_spec
from serving.store import WarningStore
from training.cli import app
from training.raw_io import load_raw_tables
from training.train import fit_model, split_dataset

TASK = "telecom-fraud"


def _json_value(value: object) -> object:
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _monitor(city: Path, workdir: Path, prefix: str) -> tuple[int, dict]:
    """Train before the drift, store the post-drift months' scores, run `riskloop monitor`."""
    from features.dataset import build_dataset

    spec = get_spec(TASK)
    frame = build_dataset(spec.task, load_raw_tables(city, spec.task))
    drift_months = json.loads((city / "truth" / "drivers.json").read_text(encoding="utf-8"))
    months = np.sort(frame["as_of"].unique())
    # The realistic city records how many months the drift lasts; the clean one has no drift,
    # so it is cut at the same month for the comparison.
    drift = int(drift_months["telecom_fraud"].get("realism", {}).get("drift_months", 6))
    before = frame[frame["as_of"] < months[-drift]]
    after = frame[frame["as_of"] >= months[-drift + 1]]
    model = fit_model(spec, split_dataset(spec, before), spec.params)
    reference = before[before["as_of"] >= months[-drift - 3]]
    reference = reference[list(spec.feature_names)].assign(score=model.predict_proba(reference))
    reference_file = workdir / f"{prefix}-reference.parquet"
    reference.to_parquet(reference_file)

    scores = model.predict_proba(after)
    levels = model.thresholds_.levels(scores)
    rows = after[list(spec.feature_names)].to_dict(orient="records")
    results = [
        {
            "entity_id": f"{prefix}{i:06d}",
            "score": float(score),
            "risk_level": str(level),
            "reasons": [],
            "actions": [],
            "features": {k: _json_value(v) for k, v in row.items()},
        }
        for i, (score, level, row) in enumerate(zip(scores, levels, rows, strict=True))
    ]
    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        store.record_scores(
            actor="scorer",
            task=spec.task,
            model_name="riskloop-telecom-fraud",
            model_version="1",
            results=results,
        )
    out = workdir / f"{prefix}-monitor.json"
    result = CliRunner().invoke(
        app, ["monitor", "--task", TASK, "--reference", str(reference_file), "--out", str(out)]
    )
    return result.exit_code, json.loads(out.read_text())


def test_monitor_alarms_after_the_realistic_drift(isolated_env: Path, realistic_city: Path) -> None:
    code, report = _monitor(realistic_city, isolated_env, "R")
    assert code == 3, report["psi"]
    assert report["drift"] is True
    assert any("alerts" in name for name in report["drifted"]), report["drifted"]


def test_monitor_is_quiet_on_the_clean_city(isolated_env: Path, small_city: Path) -> None:
    code, report = _monitor(small_city, isolated_env, "C")
    assert code == 0, report["psi"]
    assert report["drift"] is False
    assert max(report["psi"]["features"].values()) < 0.25
    assert pd.notna(report["psi"]["score"]) and report["psi"]["score"] < 0.25
