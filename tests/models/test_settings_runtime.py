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
