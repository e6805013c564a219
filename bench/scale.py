"""Benchmark of the scale-out path: dataset builds on pandas vs. Dask, and their memory peaks.

For the default city (and, with `RISKLOOP_BENCH_LARGE=1`, the 10x city; folders as in
`bench/features.py`) each task's labelled dataset is built once with the pandas engine and once
with the Dask engine on a local cluster of two worker processes. Each build runs in a fresh
child process; the parent samples the resident memory of the child and all its descendants
(the Dask scheduler and workers included) every 50 ms: the peak of their sum is the whole
engine's, the peak of the largest one is what one machine of a cluster must hold.
Times are measured inside the child: reading, validation and features for pandas; cluster
start-up and the partitioned build for Dask (reported apart).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.features import _city
from features.tasks import TASKS

SAMPLE_EVERY_S = 0.05
ENGINES = ("pandas", "dask")


def _tree_rss(pid: int) -> tuple[int, int]:
    """Resident bytes of a process and all its descendants, and of the largest one of them."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0
    sizes = [0]
    for process in processes:
        try:
            sizes.append(process.memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    return sum(sizes), max(sizes)


def _measure_in_child(engine: str, city: Path, slug: str) -> dict[str, object]:
    """Run one build in a child process, sampling its process tree's memory."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.scale", engine, str(city), slug],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    peak = largest = 0
    while child.poll() is None:
        total, biggest = _tree_rss(child.pid)
        peak, largest = max(peak, total), max(largest, biggest)
        time.sleep(SAMPLE_EVERY_S)
    output, _ = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{engine} build of {slug} failed (exit {child.returncode})")
    figures = json.loads(output.strip().splitlines()[-1])
    figures["peak_rss_mb"] = round(peak / 2**20, 1)
    figures["largest_process_peak_rss_mb"] = round(largest / 2**20, 1)
    return figures


def _build_pandas(city: Path, slug: str) -> dict[str, object]:
    from features.dataset import build_dataset
    from training.raw_io import load_raw_tables

    started = time.perf_counter()
    frame = build_dataset(slug, load_raw_tables(city, slug))
    return {"rows": len(frame), "build_s": round(time.perf_counter() - started, 2)}


def _build_dask(city: Path, slug: str) -> dict[str, object]:
    from training.engines import LOCAL_WORKERS, build_dataset_dask, dask_client

    started = time.perf_counter()
    with dask_client() as client:
        ready = time.perf_counter()
        frame = build_dataset_dask(slug, city, client=client)
        built = time.perf_counter()
    return {
        "rows": len(frame),
        "workers": LOCAL_WORKERS,
        "cluster_start_s": round(ready - started, 2),
        "build_s": round(built - ready, 2),
    }


def _measure_city(city: Path) -> dict[str, dict[str, object]]:
    figures: dict[str, dict[str, object]] = {}
    for slug, info in TASKS.items():
        by_engine = {engine: _measure_in_child(engine, city, slug) for engine in ENGINES}
        pandas_s = float(by_engine["pandas"]["build_s"])  # type: ignore[arg-type]
        dask_s = float(by_engine["dask"]["build_s"])  # type: ignore[arg-type]
        figures[info.name] = {
            **by_engine,
            "dask_over_pandas_time": round(dask_s / max(pandas_s, 1e-9), 2),
        }
    return figures


def run() -> dict[str, object]:
    """Figures for `make bench` (bench/results/scale.json)."""
    default_city = _city("default", "RISKLOOP_BENCH_CITY")
    figures: dict[str, object] = {
        "default_city": str(default_city),
        "default": _measure_city(default_city),
    }
    if os.environ.get("RISKLOOP_BENCH_LARGE") == "1":
        large_city = _city("large", "RISKLOOP_BENCH_CITY_LARGE")
        figures["large_city"] = str(large_city)
        figures["large"] = _measure_city(large_city)
    return figures


def _child_main(engine: str, city: str, slug: str) -> None:
    build = _build_pandas if engine == "pandas" else _build_dask
    print(json.dumps(build(Path(city), slug)), flush=True)


if __name__ == "__main__":
    _child_main(*sys.argv[1:4])
