"""`riskloop screen --dry-run` of a month earlier than the newest screened is refused as the real
run is (exit 2, "add --backfill"): it said it would raise the warnings the real run refuses."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from models.settings import get_settings
from serving.store import WarningStore
from training.cli import app

TASK = "dispute-escalation"


def test_a_dry_run_of_an_earlier_month_is_refused_as_the_real_run_is(
    isolated_env: Path, small_city: Path
) -> None:
    runner = CliRunner()
    raw = ["--raw", str(small_city)]
    trained = runner.invoke(app, ["train", "--task", TASK, *raw, "--max-rounds", "10"])
    assert trained.exit_code == 0, trained.output
    screened = runner.invoke(app, ["screen", "--task", TASK, *raw])
    assert screened.exit_code == 0, screened.output
    with WarningStore.from_settings(get_settings()) as store:
        newest = store.warnings_frame(task=TASK)["as_of"].max().date()
    earlier = (newest.replace(day=1) - timedelta(days=1)).replace(day=1)
    args = ["screen", "--task", TASK, *raw, "--as-of", str(earlier)]

    real = runner.invoke(app, args)
    dry = runner.invoke(app, [*args, "--dry-run"])

    assert real.exit_code == dry.exit_code == 2, dry.output
    assert dry.stderr == real.stderr
    assert dry.stderr.startswith(f"error: {TASK} was already screened for {newest:%Y-%m}")
    assert "add --backfill to do so" in dry.stderr and "would raise" not in dry.stdout
    previewed = runner.invoke(app, [*args, "--dry-run", "--backfill"])
    assert previewed.exit_code == 0, previewed.output
    assert "dry run: would raise" in previewed.stdout
