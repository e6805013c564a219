"""Train -> register -> promote through the CLI, in a temporary MLflow store.

One task (telecom fraud: the small city's disputes are too few for an honest split) walks the whole path: the first
version becomes champion and challenger; a challenger trained on shuffled labels is refused;
(exit 3); `--force` promotes it and is recorded as forced, on the promotion run and on the version
(tag, description, `riskloop models`); pyfunc and riskloop's loader give identical
scores; `riskloop models` and `riskloop score` see the registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tests.raw_ids import assert_no_raw_identifiers
from training.cli import app
from training.datasets import TrainingData

TASK = "telecom-fraud"
ROUNDS = "40"


def _cli(*args: str, exit_code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == exit_code, result.output + str(result.exception)
    return result.output


def _promotion_runs() -> pd.DataFrame:
    import mlflow

    from models.settings import get_settings

    mlflow.set_tracking_uri(get_settings().mlflow_uri)
    return mlflow.search_runs(
        experiment_names=[get_settings().experiment],
        filter_string="tags.`riskloop.kind` = 'promotion'",
        order_by=["start_time ASC"],
    )


def test_train_promote_round_trip(
    isolated_env: Path, small_city: Path, city_data: dict[str, TrainingData]
) -> None:
    import mlflow

    from models.registry import load_registered
    from models.scorer import score_arrays
    from training.tracking import signature_frame

    frame = city_data[TASK].frame
    real = isolated_env / "residents.parquet"
    frame.to_parquet(real)
    shuffled = isolated_env / "residents-shuffled.parquet"
    labels = np.random.default_rng(0).permutation(frame["label"].to_numpy())
    frame.assign(label=labels).to_parquet(shuffled)

    first = _cli("train", "--task", TASK, "--raw", str(small_city), "--max-rounds", ROUNDS)
    assert "version 1 (challenger, champion)" in first and "lift_recovered=" in first
    second = _cli("train", "--task", TASK, "--dataset", str(shuffled), "--max-rounds", ROUNDS)
    assert "version 2 (challenger)" in second

    champion, champion_info = load_registered(TASK, "champion")
    _, challenger_info = load_registered(TASK, "challenger")
    assert (champion_info.version, challenger_info.version) == (1, 2)

    from training.tracking import tracking_client

    client = tracking_client()
    name = f"riskloop-{TASK}"
    first_version = client.get_model_version(name, "1")
    assert first_version.tags["riskloop.promotion"] == "first"
    assert "champion from its training" in first_version.description
    assert "ROC-AUC" in client.get_model_version(name, "2").description
    assert TASK in client.get_registered_model(name).description

    refused = _cli(
        "promote",
        *("--task", TASK, "--dataset", str(real), "--truth", str(small_city / "truth")),
        exit_code=3,  # the champion was kept: a script can tell
    )
    assert "kept the champion" in refused and "challenger is worse" in refused
    assert load_registered(TASK, "champion")[1].version == 1

    test_rows = frame.tail(300)
    pyfunc = mlflow.pyfunc.load_model(f"models:/riskloop-{TASK}@champion")
    np.testing.assert_array_equal(
        np.asarray(pyfunc.predict(signature_frame(champion, test_rows))),
        score_arrays(champion, test_rows, explain=False).scores,
    )

    forced = _cli("promote", "--task", TASK, "--dataset", str(real), "--force")
    assert "promoted" in forced and "forced" in forced
    assert load_registered(TASK, "champion")[1].version == 2
    forced_version = client.get_model_version(name, "2")
    assert forced_version.tags["riskloop.promotion"] == "forced"
    assert forced_version.tags["riskloop.promotion_reason"].startswith(
        "forced: challenger is worse"
    )
    assert "FORCED to champion past the promotion rule" in forced_version.description

    runs = _promotion_runs()
    assert runs["tags.riskloop.decision"].tolist() == ["refused", "promoted"]
    assert runs["tags.riskloop.forced"].tolist() == ["false", "true"]
    assert runs["metrics.champion_roc_auc"].iloc[0] > runs["metrics.challenger_roc_auc"].iloc[0]
    assert "metrics.challenger_oracle_roc_auc" in runs
    # promoting the champion again changes nothing and is not a refusal
    assert "already the champion" in _cli("promote", "--task", TASK, "--dataset", str(real))

    # The loader resolves everything through its own tracking URI, not MLflow's global one.
    from models.settings import get_settings

    mlflow.set_tracking_uri(f"sqlite:///{isolated_env / 'elsewhere.db'}")
    mlflow.set_registry_uri(f"sqlite:///{isolated_env / 'elsewhere.db'}")
    assert load_registered(TASK, tracking_uri=get_settings().mlflow_uri)[1].version == 2

    listing = _cli("models")
    rows = {line.split()[1]: line for line in listing.splitlines() if line.startswith(TASK)}
    assert "challenger, champion" in rows["2"] and " FORCED " in rows["2"], listing
    assert " first " in rows["1"] and "FORCED" not in rows["1"], listing

    out = isolated_env / "scored.csv"
    scored_text = _cli("score", "--task", TASK, "--input", str(real), "--output", str(out))
    assert f"scored {len(frame)} rows" in scored_text
    scored = pd.read_csv(out)
    assert list(scored.columns[:4]) == ["entity_id", "as_of", "score", "risk_level"]
    new_champion = load_registered(TASK, "champion")[0]
    np.testing.assert_allclose(
        scored["score"], score_arrays(new_champion, frame, explain=False).scores, rtol=1e-12
    )
    assert scored["reason_1"].str.endswith("risk)").all()


def _riskloop_in_a_fresh_process(
    args: list[str], cwd: Path, timeout: int
) -> subprocess.CompletedProcess[str]:
    """`riskloop ARGS` as the installed command runs it (`training.cli:main`), in its own
    process in `cwd`, with none of this session's RISKLOOP_ or MLFLOW_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKLOOP_", "MLFLOW_"))}
    return subprocess.run(
        [sys.executable, "-c", "from training.cli import main; main()", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_main_job_and_a_retrain_keep_mlflow_info_lines_off_the_terminal(tmp_path: Path) -> None:
    """A new user's first `riskloop run` on a fresh folder (small city, no service: a fresh
    MLflow store), then `riskloop train` on the store it left, each in its own process: their
    own lines, none of MLflow's INFO lines and none of its registration notices (which repeat
    riskloop's "registered NAME vN"; "already exists" comes with a task's second version)."""
    first = _riskloop_in_a_fresh_process(
        [
            *("run", "--size", "small", "--seed", "3", "--profile", "clean"),
            *("--rate-multiplier", "1.5", "--no-serve"),
        ],
        tmp_path,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr
    assert "generating the small clean simulated city (seed 3, rate multiplier 1.5)" in first.stderr
    manifest = json.loads((tmp_path / "data" / "city" / "manifest.json").read_text("utf-8"))
    # the clean profile is generator 1.0.0's city: its manifest carries no profile key
    assert manifest["seed"] == 3 and manifest["size"] == "small" and "profile" not in manifest
    assert manifest["rate_multiplier"] == 1.5
    assert " INFO " not in first.stdout + first.stderr, first.stderr
    assert "registered riskloop-dispute-escalation v1" in first.stdout + first.stderr
    # the console's reports page has each champion's report from the first run, both editions
    written = sorted(path.name for path in (tmp_path / "reports").glob("*.html"))
    assert written == sorted(
        f"{task}-v1{edition}.html"
        for task in ("wage-arrears", "telecom-fraud", "dispute-escalation")
        for edition in ("", ".zh")
    )
    dataset = tmp_path / "data" / "datasets" / "telecom_fraud.parquet"  # what `run` built
    command = ["train", "--task", TASK, "--dataset", str(dataset), "--max-rounds", "5"]
    again = _riskloop_in_a_fresh_process(command, tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "version 2" in again.stdout
    assert " INFO " not in again.stdout + again.stderr, again.stderr
    for notice in ("Successfully registered model", "Created version", "already exists"):
        assert notice not in first.stderr + again.stderr, (first.stderr, again.stderr)
    # no raw identifier in what the main job wrote beside the departments' own data (the city's
    # tables and the datasets built from them): MLflow's store and artifacts, the online
    # features, the key and secrets files
    city = tmp_path / "data" / "city"
    departments_data = {
        path for folder in (city, tmp_path / "data" / "datasets") for path in folder.rglob("*")
    }
    assert_no_raw_identifiers(tmp_path, city, departments_data)


def test_promote_keeps_the_oracle_metrics_of_a_challenger_trained_with_truth(
    isolated_env: Path, small_city: Path, city_data: dict[str, TrainingData]
) -> None:
    """`train --dataset F --truth DIR`, then `promote` with no data option: the promotion
    re-reads the challenger's dataset and its truth (oracle figures, not '-')."""
    dataset = isolated_env / "disputes.parquet"
    city_data["dispute-escalation"].frame.to_parquet(dataset)
    truth = str(small_city / "truth")
    args = ["--dataset", str(dataset), "--truth", truth, "--max-rounds", "5"]
    _cli("train", "--task", "dispute-escalation", *args)
    _cli("train", "--task", "dispute-escalation", *args)
    decided = _cli("promote", "--task", "dispute-escalation")
    assert "oracle_roc_auc=-" not in decided and "lift_recovered=-" not in decided, decided
    runs = _promotion_runs()
    assert runs["metrics.challenger_oracle_roc_auc"].notna().all()
    assert runs["metrics.champion_oracle_roc_auc"].notna().all()
