"""Explainer benchmark: per-row cost of a raw prediction, `pred_contrib` and `TreeExplainer`.

For each task's champion (the configured MLflow store's; if it has none, models trained here on
the default city in a throw-away store, as the serving family does), on rows of the city's
scoring set, one thread:
- batch 2,000: microseconds per row of `predict(raw_score=True)`, `predict(pred_contrib=True)`
  and `TreeExplainer.contributions` (median of repeated batches);
- batch 1: microseconds per call for single rows (median over `SINGLE_SAMPLES` rows);
- the explainer's build time and table size, the largest difference from `pred_contrib` on the
  2,000 rows, and the goal ratios (explainer / raw in batches: goal <= 10; explainer /
  `pred_contrib` for one row: goal <= 0.5).
The load average is recorded before and after, as the figures depend on it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 2000
SINGLE_SAMPLES = 400
MIN_SECONDS = 1.0


def _per_row_us(call: Any, matrix: np.ndarray) -> float:
    """Median microseconds per row of `call(matrix)`, repeated for at least `MIN_SECONDS`."""
    call(matrix)
    times: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < MIN_SECONDS or len(times) < 3:
        begun = time.perf_counter()
        call(matrix)
        times.append(time.perf_counter() - begun)
    return float(np.median(times)) / len(matrix) * 1e6


def _single_us(call: Any, matrix: np.ndarray) -> float:
    """Median microseconds of `call` on one-row slices of `matrix`."""
    rows = [matrix[i : i + 1] for i in range(min(SINGLE_SAMPLES, len(matrix)))]
    for row in rows[:20]:
        call(row)
    times: list[float] = []
    for row in rows:
        begun = time.perf_counter()
        call(row)
        times.append(time.perf_counter() - begun)
    return float(np.median(times)) * 1e6


def _model_shape(booster: Any) -> dict[str, Any]:
    frame = booster.trees_to_dataframe()
    leaves = frame[frame["left_child"].isna()]
    return {
        "trees": int(booster.num_trees()),
        "mean_leaves": round(float(len(leaves)) / booster.num_trees(), 1),
        "max_depth": int(leaves["node_depth"].max()) - 1,
    }


def _measure(task: str, matrix: np.ndarray) -> dict[str, Any]:
    from models.explainer import TreeExplainer
    from models.registry import load_registered

    model, _ = load_registered(task)
    booster = model.booster_
    started = time.perf_counter()
    explainer = TreeExplainer.from_booster(booster)
    build_ms = (time.perf_counter() - started) * 1000
    if explainer.fallback_reason is not None:
        raise RuntimeError(
            f"{task}: the champion is not on the fast path: {explainer.fallback_reason}"
        )
    batch = matrix[:BATCH]

    def raw(x: np.ndarray) -> Any:
        return booster.predict(x, raw_score=True, num_threads=1)

    def contrib(x: np.ndarray) -> Any:
        return booster.predict(x, pred_contrib=True, num_threads=1)

    figures: dict[str, Any] = {
        **_model_shape(booster),
        "build_ms": round(build_ms, 1),
        "table_kib": round(explainer.table_bytes / 1024, 1),
        "max_abs_diff_vs_pred_contrib": float(
            np.abs(explainer.contributions(batch) - contrib(batch)).max()
        ),
    }
    batched = {
        "raw_us_per_row": _per_row_us(raw, batch),
        "pred_contrib_us_per_row": _per_row_us(contrib, batch),
        "explainer_us_per_row": _per_row_us(explainer.contributions, batch),
    }
    single = {
        "raw_us": _single_us(raw, batch),
        "pred_contrib_us": _single_us(contrib, batch),
        "explainer_us": _single_us(explainer.contributions, batch),
    }
    figures[f"batch{BATCH}"] = {k: round(v, 2) for k, v in batched.items()}
    figures["batch1"] = {k: round(v, 2) for k, v in single.items()}
    figures["explainer_over_raw_batch"] = round(
        batched["explainer_us_per_row"] / batched["raw_us_per_row"], 2
    )
    figures["explainer_over_pred_contrib_batch"] = round(
        batched["explainer_us_per_row"] / batched["pred_contrib_us_per_row"], 3
    )
    figures["explainer_over_pred_contrib_single"] = round(
        single["explainer_us"] / single["pred_contrib_us"], 3
    )
    figures["exact_to_1e-9"] = figures["max_abs_diff_vs_pred_contrib"] <= 1e-9
    figures["goals_met"] = {
        "batch_at_most_10x_raw": figures["explainer_over_raw_batch"] <= 10,
        "single_at_most_half_pred_contrib": figures["explainer_over_pred_contrib_single"] <= 0.5,
    }
    return figures


def run() -> dict[str, Any]:
    """Measure each champion; the figures land in bench/results/explain.json."""
    import pandas as pd

    from bench.serving import _champions_exist, _train_champions
    from bench.training import _default_city, use_scratch_stores
    from features.tasks import TASK_NAMES
    from models.risk_model import feature_matrix
    from models.spec import get_spec
    from training.commands.service import build_scoring_set

    scratch = Path(tempfile.mkdtemp(prefix="riskloop-bench-explain-"))
    try:
        city = _default_city(scratch)
        source = "configured MLflow store"
        if not _champions_exist():
            use_scratch_stores(scratch)
            _train_champions(city)
            source = f"trained here on {city}"
        load_before = os.getloadavg()
        tasks: dict[str, Any] = {}
        for task in TASK_NAMES:
            spec = get_spec(task)
            frame = build_scoring_set(task, city)
            while len(frame) < BATCH:
                frame = pd.concat([frame, frame], ignore_index=True)
            matrix = feature_matrix(spec, frame.iloc[:BATCH])
            tasks[task] = _measure(task, matrix)
        load_after = os.getloadavg()
        return {
            "models": source,
            "city": str(city),
            "threads": 1,
            "load_average_1_5_15_before": [round(v, 2) for v in load_before],
            "load_average_1_5_15_after": [round(v, 2) for v in load_after],
            "tasks": tasks,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
