"""Screening benchmark: `riskloop screen`'s rows/s, with and without TreeSHAP on green rows.

For each task's champion (the configured MLflow store's; if it has none, models trained here on
the default city in a throw-away store), on the default city (`RISKLOOP_BENCH_CITY`, or
generated once into `data/bench-city-default`) and, with `RISKLOOP_BENCH_LARGE=1`, the 10x city:

- `build_s`: building the scoring set (the newest as-of date), not part of the rates below;
- `warned_only`: `serving.screening.screen` as the command runs it (TreeSHAP only on rows at
  yellow or above) into a fresh SQLite store: rows/s, TreeSHAP's share of the time, store time;
- `explain_all`: the same with TreeSHAP on every row (what `riskloop score` does), into another
  fresh store;
- `speedup`: warned-only rows/s over explain-all rows/s.

A population above `COMPARE_MAX_ROWS` (the 10x city's employers and residents) is screened
whole once (`warned_only`), and the two ways are compared on an evenly spaced sample of that
many rows (`sample_warned_only`, `sample_explain_all`), each into a fresh store: TreeSHAP on
every row of the 10x city takes most of an hour here, and both sides of a comparison must
write stores of the same size.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.features import _city
from features.tasks import TASK_NAMES

COMPARE_MAX_ROWS = 50_000


def _measure(task: str, city: Path, scratch: Path) -> dict[str, Any]:
    import time

    from models.registry import load_registered
    from training.commands.service import build_scoring_set

    model, info = load_registered(task)
    started = time.perf_counter()
    frame = build_scoring_set(task, city)
    figures: dict[str, Any] = {
        "rows": len(frame),
        "build_s": round(time.perf_counter() - started, 2),
        "model_version": str(info.version),
    }
    sample = frame
    if len(frame) > COMPARE_MAX_ROWS:
        step = len(frame) / COMPARE_MAX_ROWS
        sample = frame.iloc[[int(i * step) for i in range(COMPARE_MAX_ROWS)]]
        figures["warned_only"] = _screened(model, info, frame, scratch / f"{task}-all.db", False)
    prefix = "" if sample is frame else "sample_"
    for mode, explain_green in (("warned_only", False), ("explain_all", True)):
        figures[prefix + mode] = _screened(
            model, info, sample, scratch / f"{task}-{prefix}{mode}.db", explain_green
        )
    figures["speedup"] = round(
        figures[prefix + "warned_only"]["rows_per_s"]
        / figures[prefix + "explain_all"]["rows_per_s"],
        2,
    )
    return figures


def _screened(model: Any, info: Any, rows: Any, path: Path, explain_green: bool) -> dict[str, Any]:
    """One timed screen of `rows` into a fresh SQLite store at `path`."""
    from serving.screening import screen
    from serving.store import WarningStore

    with WarningStore(f"sqlite:///{path}", "bench-pseudonym-secret") as store:
        report = screen(
            model,
            rows,
            store,
            model_name=info.name,
            model_version=str(info.version),
            explain_green=explain_green,
        )
    return {
        "rows": len(rows),
        "seconds": round(report.seconds, 2),
        "rows_per_s": round(report.rows / report.seconds, 1),
        "explained_rows": report.explained,
        "warned_rows": report.warned,
        "treeshap_s": round(report.seconds_treeshap, 2),
        "treeshap_share": round(report.seconds_treeshap / report.seconds, 3),
        "store_s": round(report.seconds_store, 2),
    }


def run() -> dict[str, Any]:
    """Measure every task on the default city (and the large one when asked)."""
    from bench.serving import _champions_exist, _train_champions
    from bench.training import SCRATCH_SETTINGS, use_scratch_stores

    scratch = Path(tempfile.mkdtemp(prefix="riskloop-bench-screen-"))
    saved = {name: os.environ.get(name) for name in SCRATCH_SETTINGS}
    try:
        default_city = _city("default", "RISKLOOP_BENCH_CITY")
        source = "configured MLflow store"
        if not _champions_exist():
            use_scratch_stores(scratch)
            _train_champions(default_city)
            source = f"trained here on {default_city}"
        cities = {"default": default_city}
        if os.environ.get("RISKLOOP_BENCH_LARGE") == "1":
            cities["large"] = _city("large", "RISKLOOP_BENCH_CITY_LARGE")
        results: dict[str, Any] = {"models": source}
        for size, city in cities.items():
            results[size] = {
                "city": str(city),
                "tasks": {task: _measure(task, city, scratch) for task in TASK_NAMES},
            }
        return results
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(scratch, ignore_errors=True)
