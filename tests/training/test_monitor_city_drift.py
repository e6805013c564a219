"""`riskloop monitor` on the simulated city: it raises the alarm (exit 3) on the realistic city's
months after the fraud drift and stays quiet on the clean city over the same months.

The reference is what a champion trained before the drift saw (its training months); the
current records are the scored months after the drift, as the service would have stored them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from models.secret_keys import load_secrets
from models.settings import get_settings
from models.spec import get_spec
from serving.store import WarningStore
from training.cli import app
from training.datasets import split_dataset
from training.raw_io import load_raw_tables
from training.train import fit_model

TASK = "telecom-fraud"


def _json_value(value: object) -> object:
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _store_scores(model: Any, frame: pd.DataFrame, prefix: str, actor: str, **record: Any) -> None:
    """Score `frame`'s rows with `model` and store them as a screen or a client would."""
    spec = get_spec(record["task"])
    scores = model.predict_proba(frame)
    levels = model.thresholds_.levels(scores)
    rows = frame[list(spec.feature_names)].to_dict(orient="records")
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
        store.record_scores(actor=actor, model_version="1", results=results, **record)


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
    # a sample of the months after: what the service would have stored of them, at a fifth of
    # the store writes (20,000 rows took 22 s); PSI on 4,000 rows tells drift as well
    after = frame[frame["as_of"] >= months[-drift + 1]]
    after = after.sample(n=min(len(after), 4000), random_state=0).sort_values("as_of")
    model = fit_model(spec, split_dataset(spec, before), spec.params)
    reference = before[before["as_of"] >= months[-drift - 3]]
    reference = reference[list(spec.feature_names)].assign(score=model.predict_proba(reference))
    reference_file = workdir / f"{prefix}-reference.parquet"
    reference.to_parquet(reference_file)

    _store_scores(
        model, after, prefix, "scorer", task=spec.task, model_name="riskloop-telecom-fraud"
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


def test_a_january_screening_of_wage_arrears_is_not_drift(
    isolated_env: Path, realistic_city: Path
) -> None:
    """The months before Spring Festival score higher by construction: the score of a January
    screening is compared with the newest January the model learned from, not with the summer
    and autumn months that end its training data (score PSI 0.22 on this city then, 0.43 and
    3.5 on the small realistic cities of seeds 2 and 77: `riskloop monitor` exit 3 each
    winter with every feature stable)."""
    from features.dataset import build_dataset

    spec = get_spec("wage-arrears")
    tables = load_raw_tables(realistic_city, spec.task)
    frame = build_dataset(spec.task, tables)
    model = fit_model(spec, split_dataset(spec, frame), spec.params)
    reference_file = isolated_env / "wage-reference.parquet"
    reference = frame[["as_of", *spec.feature_names]]
    reference.assign(score=model.predict_proba(reference)).to_parquet(reference_file)

    screened = build_dataset(spec.task, tables, unlabelled=True)
    (as_of,) = pd.to_datetime(screened["as_of"]).dt.date.unique()
    assert as_of.month == 1, as_of  # the small city's newest scoring date
    _store_scores(
        model,
        screened,
        "W",
        "system:screen",
        task=spec.task,
        model_name=spec.registered_model_name,
        as_of=as_of,
    )
    out = isolated_env / "wage-monitor.json"
    result = CliRunner().invoke(
        app,
        ["monitor", "--task", spec.task, "--reference", str(reference_file), "--out", str(out)],
    )
    report = json.loads(out.read_text())
    assert result.exit_code == 0, (report["psi"], report["reference"])
    assert report["psi"]["score"] < 0.1, report["psi"]["score"]
    assert report["reference"]["score_as_of"] == f"{as_of.year - 1}-01-01..{as_of.year - 1}-01-01"
    # the features are still compared with the newest quarter of the training months
    assert report["reference"]["as_of"].endswith("-10-01"), report["reference"]
