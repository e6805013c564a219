"""Process set-up the `riskloop` command applies before any heavy import."""

from __future__ import annotations

import os
import shutil
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


def _helper_default(cpus: set[int], cgroups: str, tree: dict[str, str], tmp_path) -> str:
    """`usable_cpus()` and `Settings().score_helper` in a process pinned to `cpus`, whose
    cgroups file says `cgroups`, under a cgroup folder holding `tree` (path: text),
    `RISKLOOP_SCORE_HELPER` unset."""
    env = {k: v for k, v in os.environ.items() if k != "RISKLOOP_SCORE_HELPER"}
    root = tmp_path / "cgroup"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for name, text in tree.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    (tmp_path / "self-cgroup").write_text(cgroups + "\n")
    script = (
        "import os, pathlib\n"
        f"os.sched_setaffinity(0, {cpus!r})\n"
        "import models.cpus as c, models.settings as s\n"
        f"c.CGROUP_ROOT = pathlib.Path({str(root)!r})\n"
        f"c.PROC_CGROUP = pathlib.Path({str(tmp_path / 'self-cgroup')!r})\n"
        "print(c.usable_cpus(), s.Settings().score_helper)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_score_helper_default_counts_the_cores_the_service_may_use(tmp_path) -> None:
    """On with more than one usable core; off when pinned to one (`taskset`) or held to one
    and a half by a CPU quota, on the process's cgroup or an ancestor's (v2 or v1), whatever
    the machine has."""
    allowed = os.sched_getaffinity(0)
    n = len(allowed)
    plenty = f"{n} {n > 1}"
    v2 = "0::/system.slice/riskloop.service"
    assert _helper_default(allowed, v2, {}, tmp_path) == plenty
    assert _helper_default(allowed, v2, {"cpu.max": "max 100000"}, tmp_path) == plenty
    assert _helper_default({min(allowed)}, v2, {}, tmp_path) == "1 False"
    parent = {"system.slice/cpu.max": "150000 100000", "cpu.max": "max 100000"}
    assert _helper_default(allowed, v2, parent, tmp_path) == "1 False"
    own = {"system.slice/riskloop.service/cpu.max": f"{n * 100000} 100000"}
    assert _helper_default(allowed, v2, own, tmp_path) == plenty
    v1 = "5:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc"
    held = {
        "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "100000",
        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000",
    }
    assert _helper_default(allowed, v1, held, tmp_path) == "1 False"
    unlimited = {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1"}
    assert _helper_default(allowed, v1, unlimited, tmp_path) == plenty
