"""A dataset's rows carry the units' raw ids (`resident_id`, credit codes): `riskloop
build-dataset` and `riskloop run` write it and its sidecar readable by their owner only (0600),
as `riskloop score` writes its scores, whatever the umask and whatever an earlier file's mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app

TASK = "dispute-escalation"


@pytest.fixture()
def usual_umask() -> Iterator[None]:
    """The umask of most shells (022), under which a plain file is created world-readable."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_build_dataset_replaces_a_world_readable_dataset_with_an_owner_only_one(
    small_city: Path, tmp_path: Path, usual_umask: None
) -> None:
    out = tmp_path / "datasets" / "disputes.parquet"
    out.parent.mkdir()
    for path in (out, out.with_suffix(".json")):
        path.write_text("an earlier build")
        path.chmod(0o644)

    args = ["build-dataset", "--task", TASK, "--raw", str(small_city), "--out", str(out)]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    for path in (out, out.with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert sorted(p.name for p in out.parent.iterdir()) == ["disputes.json", "disputes.parquet"]


def test_the_main_jobs_dataset_is_owner_only(
    small_city: Path, tmp_path: Path, usual_umask: None
) -> None:
    from training.commands.main_job import _ensure_dataset

    written, _ = _ensure_dataset(TASK, small_city, tmp_path / "data" / "datasets")

    assert written == tmp_path / "data" / "datasets" / "dispute_escalation.parquet"
    for path in (written, written.with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
