"""Benchmark of the simulated city: wall time, peak memory and rows per table of `generate_city`.

Measures the default city (what `make run` generates) and, with `RISKLOOP_BENCH_LARGE=1`, the
10x city. Each size runs in a fresh temporary folder, deleted afterwards.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from data_samples.city import generate_city


def _folder_mb(folder: Path) -> float:
    return round(sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6, 1)


def _measure(size: str, seed: int = 0) -> dict[str, object]:
    """Generate one city and report what it cost and what it holds."""
    with tempfile.TemporaryDirectory(prefix=f"riskloop-bench-city-{size}-") as tmp:
        out = Path(tmp) / "city"
        task_seconds: dict[str, float] = {}
        started = time.perf_counter()
        last = started

        def progress(message: str) -> None:
            nonlocal last
            now = time.perf_counter()
            task = message.split(":", 1)[0]
            task_seconds[task] = round(task_seconds.get(task, 0.0) + now - last, 2)
            last = now

        manifest = generate_city(out, size=size, seed=seed, progress=progress)
        seconds = time.perf_counter() - started
        return {
            "seconds": round(seconds, 2),
            "seconds_per_task": task_seconds,
            "disk_mb": _folder_mb(out),
            "rows": {slug: task["tables"] for slug, task in manifest["tasks"].items()},
            "truth_rows": {slug: task["truth_rows"] for slug, task in manifest["tasks"].items()},
            "mean_true_prob": {
                slug: task["mean_true_prob"] for slug, task in manifest["tasks"].items()
            },
        }


def run() -> dict[str, object]:
    """Figures for `make bench` (bench/results/city.json)."""
    sizes = ["default"] + (["large"] if os.environ.get("RISKLOOP_BENCH_LARGE") == "1" else [])
    figures: dict[str, object] = {size: _measure(size) for size in sizes}
    # ru_maxrss is in KiB on Linux: the peak of this process over all sizes measured.
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures
