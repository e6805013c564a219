"""Process set-up the `riskloop` command applies before any heavy import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from models.settings import apply_memory_defaults


def test_memory_defaults_turn_off_numpy_hugepage_advice_unless_told(monkeypatch) -> None:
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    apply_memory_defaults()
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    apply_memory_defaults()
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "1"


@pytest.mark.parametrize("told, expected", [(None, "False"), ("1", "True")])
def test_numpy_imported_by_a_command_follows_the_setting(told, expected) -> None:
    """The command line applies the setting before NumPy is imported (NumPy reads it once)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if told is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = told
    script = (
        "import sys, training.cli as cli\n"
        "assert 'numpy' not in sys.modules\n"
        "cli._main()\n"
        "from numpy._core.multiarray import _get_madvise_hugepage\n"
        "print(_get_madvise_hugepage())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == expected


def test_hide_password_masks_the_password_and_nothing_else() -> None:
    from models.settings import hide_password

    assert (
        hide_password("postgresql+psycopg://u:pw@db:5432/x")
        == "postgresql+psycopg://u:***@db:5432/x"
    )
    for unchanged in (
        "http://mlflow:5000/a@b",
        "sqlite:////srv/x.db",
        "postgresql://u@db/x",
        "bad",
    ):
        assert hide_password(unchanged) == unchanged


def _helper_default(cpus: set[int], cpu_max: str | None, tmp_path) -> str:
    """`Settings().score_helper` in a process pinned to `cpus`, under a CPU quota file
    holding `cpu_max` (None: no quota file), `RISKLOOP_SCORE_HELPER` unset."""
    env = {k: v for k, v in os.environ.items() if k != "RISKLOOP_SCORE_HELPER"}
    quota = tmp_path / "cpu.max"
    if cpu_max is not None:
        quota.write_text(cpu_max + "\n")
    script = (
        "import os, pathlib\n"
        f"os.sched_setaffinity(0, {cpus!r})\n"
        "import models.settings as s\n"
        f"s.CGROUP_CPU_MAX = pathlib.Path({str(quota)!r})\n"
        "print(s.usable_cpus(), s.Settings().score_helper)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_score_helper_default_counts_the_cores_the_service_may_use(tmp_path) -> None:
    """On with more than one usable core; off when pinned to one (`taskset`) or held to one
    and a half by a container's quota, whatever the machine has."""
    allowed = os.sched_getaffinity(0)
    n = len(allowed)
    assert _helper_default(allowed, None, tmp_path) == f"{n} {n > 1}"
    assert _helper_default(allowed, "max 100000", tmp_path) == f"{n} {n > 1}"
    assert _helper_default({min(allowed)}, None, tmp_path) == "1 False"
    assert _helper_default(allowed, "150000 100000", tmp_path) == "1 False"
    assert _helper_default(allowed, f"{n * 100000} 100000", tmp_path) == f"{n} {n > 1}"
