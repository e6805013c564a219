"""`make bench`: run every benchmark family and write its figures to bench/results/<family>.json.

Each family is a module `bench/<family>.py` exposing `run() -> dict`. Figures are measured on
this machine at run time; nothing here is a constant. `RISKLOOP_BENCH_ONLY=city,features` runs a
subset; `RISKLOOP_BENCH_LARGE=1` adds the 10x city where a family supports it;
`RISKLOOP_BENCH_RESULTS_DIR=DIR` writes the figures to DIR/<family>.json instead (a run with other
settings, such as more quality seeds, kept beside the default run's figures).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from models.settings import apply_memory_defaults, apply_offline_defaults

FAMILIES = (
    "city",
    "features",
    "training",
    "quality",
    "serving",
    "explain",
    "scale",
    "screen",
    "console",
)
RESULTS_DIR = Path(__file__).parent / "results"


def _machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "numpy_madvise_hugepage": os.environ.get("NUMPY_MADVISE_HUGEPAGE"),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _load() -> list[float]:
    """The machine's 1, 5 and 15-minute load averages (2 cores shared with other work)."""
    return [round(value, 2) for value in os.getloadavg()]


def main() -> int:
    """Run the selected families; a family that fails is reported and makes the exit non-zero.

    The process is set up as the `riskloop` command sets itself up, so the figures are what a
    user of the command gets.
    """
    apply_offline_defaults()
    apply_memory_defaults()
    only = [f for f in os.environ.get("RISKLOOP_BENCH_ONLY", "").split(",") if f]
    results_dir = Path(os.environ.get("RISKLOOP_BENCH_RESULTS_DIR") or RESULTS_DIR)
    results_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for family in FAMILIES:
        if only and family not in only:
            continue
        print(f"== bench {family}", flush=True)
        started = time.perf_counter()
        load_before = _load()
        try:
            figures = importlib.import_module(f"bench.{family}").run()
        except Exception as exc:  # a broken family must not hide the others' figures
            print(f"!! bench {family} failed: {exc!r}", flush=True)
            failed.append(family)
            continue
        figures = {
            "machine": {
                **_machine(),
                "load_average_before": load_before,
                "load_average_after": _load(),
            },
            "wall_s": round(time.perf_counter() - started, 1),
            **figures,
        }
        out = results_dir / f"{family}.json"
        out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(json.dumps(figures, indent=2, ensure_ascii=False), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
