"""Training benchmark: train each task on the default city, a 30-trial Optuna study, scorer speed.

Figures (all measured here, at run time):
- per task: dataset build seconds, `train_task` seconds without tuning (fit + evaluation +
  MLflow logging and registration, in a throw-away MLflow store), fit seconds alone, and the
  test-slice metrics against the city's truth (AUC, oracle AUC, lift recovered, ECE);
- one 30-trial Optuna study with pruning on wage-arrears (the biggest panel);
- the in-process scorer with explanations (`score_frame`, top 5 reasons): rows/s at batch 1
  and batch 1,000.

The default city is read from `RISKLOOP_BENCH_CITY`, else `<data dir>/city` when it is a
default-size city, else generated into a temp folder (seed 0).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from features.tasks import TASK_NAMES

TASKS = TASK_NAMES
TUNED_TASK = "wage-arrears"
TUNING_TRIALS = 30
SCORER_BATCHES = (1, 1000)
SCORER_MIN_SECONDS = 3.0


#: The settings `use_scratch_stores` points at a scratch folder.
SCRATCH_SETTINGS = (
    "RISKLOOP_MLFLOW_URI",
    "RISKLOOP_ARTIFACT_LOCATION",
    "RISKLOOP_STORE_URL",
    "RISKLOOP_KEYS_FILE",
)


def use_scratch_stores(scratch: Path) -> None:
    """Point MLflow and the warnings store (with its keys and secrets files) at `scratch` for
    models a benchmark trains itself: training writes a first champion's audit row, which must
    not land in the warnings store of the folder the benchmark runs from."""
    from models.settings import get_settings

    os.environ.update(
        {
            "RISKLOOP_MLFLOW_URI": f"sqlite:///{scratch / 'mlruns.db'}",
            "RISKLOOP_ARTIFACT_LOCATION": str(scratch / "mlartifacts"),
            "RISKLOOP_STORE_URL": f"sqlite:///{scratch / 'bench-training-warnings.db'}",
            "RISKLOOP_KEYS_FILE": str(scratch / "bench-training-keys.json"),
        }
    )
    get_settings.cache_clear()


def _default_city(scratch: Path) -> Path:
    from models.settings import get_settings

    configured = os.environ.get("RISKLOOP_BENCH_CITY")
    if configured:
        return Path(configured)
    city = get_settings().data_dir / "city"
    manifest = city / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("size") == "default":
        return city
    from data_samples.city import generate_city

    out = scratch / "city-default"
    generate_city(out, size="default", seed=0)
    return out


def _rows_per_second(model: Any, frame: Any, batch: int) -> float:
    """Rows/s of `score_frame` with explanations, repeating batches for a few seconds."""
    from models.scorer import score_frame

    rows = 0
    started = time.perf_counter()
    start = 0
    while time.perf_counter() - started < SCORER_MIN_SECONDS:
        chunk = frame.iloc[start : start + batch]
        if len(chunk) < batch:
            start = 0
            continue
        score_frame(model, chunk, explain=True, top_k=5)
        rows += len(chunk)
        start += batch
    return rows / (time.perf_counter() - started)


def run() -> dict[str, Any]:
    """Measure and return the figures (written to bench/results/training.json by bench.run)."""
    from models.settings import apply_offline_defaults, get_settings
    from models.spec import get_spec
    from training.datasets import build_from_raw, split_dataset
    from training.train import train_task
    from training.tune import tune

    apply_offline_defaults()
    figures: dict[str, Any] = {"tasks": {}}
    with tempfile.TemporaryDirectory(prefix="riskloop-bench-training-") as scratch_dir:
        scratch = Path(scratch_dir)
        saved_env = {k: os.environ.get(k) for k in SCRATCH_SETTINGS}
        use_scratch_stores(scratch)
        try:
            city = _default_city(scratch)
            figures["city"] = str(city)
            models = {}
            for task in TASKS:
                spec = get_spec(task)
                started = time.perf_counter()
                data = build_from_raw(spec, city)
                build_s = time.perf_counter() - started
                started = time.perf_counter()
                outcome = train_task(spec, data)
                total_s = time.perf_counter() - started
                metrics = outcome.metrics
                models[task] = (outcome.model, split_dataset(spec, data.frame).test)
                figures["tasks"][task] = {
                    "rows": len(data.frame),
                    "dataset_build_s": round(build_s, 1),
                    "train_without_tuning_s": round(total_s, 1),
                    "fit_s": round(outcome.train_seconds, 1),
                    "best_iteration": outcome.model.best_iteration_,
                    **{
                        key: round(metrics[key], 4)
                        for key in (
                            "roc_auc",
                            "oracle_roc_auc",
                            "lift_recovered",
                            "ece",
                            "brier",
                            "pr_auc",
                            "n_rows",
                            "positive_rate",
                        )
                        if key in metrics
                    },
                }
                if task == TUNED_TASK:
                    splits = split_dataset(spec, data.frame)
                    started = time.perf_counter()
                    result = tune(
                        spec,
                        splits.train,
                        splits.valid,
                        TUNING_TRIALS,
                        spec.params,
                        study_name=f"bench-{task}",
                        storage=f"sqlite:///{scratch / 'optuna.db'}",
                    )
                    figures["tuning"] = {
                        "task": task,
                        "trials": TUNING_TRIALS,
                        "seconds": round(time.perf_counter() - started, 1),
                        "complete": result.n_complete,
                        "pruned": result.n_pruned,
                        "best_valid_auc": round(result.best_valid_auc, 4),
                    }
            figures["scorer_rows_per_s"] = {
                task: {
                    f"batch_{batch}": round(_rows_per_second(model, test, batch), 1)
                    for batch in SCORER_BATCHES
                }
                for task, (model, test) in models.items()
            }
        finally:
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            get_settings.cache_clear()
    return figures
