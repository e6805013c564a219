"""Two `riskloop tune` processes share one Optuna study; the best trial is registered once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna

from features.dataset import build_dataset
from training import tracking
from training.commands.scale import VERSION_KEY, claim_training
from training.raw_io import load_raw_tables

TRIALS = 6
STUDY = "shared-wage"


def test_two_workers_contribute_trials_and_one_registers(
    small_city: Path, isolated_env: Path, shared_db_url: str
) -> None:
    dataset = isolated_env / "wage.parquet"
    build_dataset("wage_arrears", load_raw_tables(small_city, "wage_arrears")).to_parquet(dataset)
    riskloop = str(Path(sys.executable).with_name("riskloop"))
    command = [riskloop, "tune", "--task", "wage-arrears", "--storage", shared_db_url]
    command += ["--study", STUDY, "--trials", str(TRIALS), "--dataset", str(dataset)]
    command += ["--max-rounds", "60"]
    workers = [
        subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=180)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs

    ran = [int(re.search(r"ran (\d+) trial", output).group(1)) for output in outputs]  # type: ignore[union-attr]
    assert all(count >= 1 for count in ran), outputs
    assert sum(output.count("registered riskloop-wage-arrears version") for output in outputs) == 1

    study = optuna.load_study(study_name=STUDY, storage=shared_db_url)
    assert len(study.trials) >= TRIALS and sum(ran) == len(study.trials)
    versions = tracking.tracking_client().search_model_versions("name = 'riskloop-wage-arrears'")
    assert [int(v.version) for v in versions] == [1]
    assert study.user_attrs[VERSION_KEY] == 1
    run = tracking.tracking_client().get_run(versions[0].run_id)
    assert run.data.tags["riskloop.optuna_study"] == STUDY
    assert run.data.tags["riskloop.optuna_best_trial"] == str(study.best_trial.number)
    # a late worker, or a retry after both finished, cannot claim the training again
    assert not claim_training(shared_db_url, STUDY, "late-worker")
