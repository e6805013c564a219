"""`riskloop report` logs to the version's MLflow run only the report built on the version's
own training data: one rebuilt from another city is written, not logged, and says so."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from training.cli import app

TASK = "wage-arrears"


def _logged(run_id: str) -> list[str]:
    from training.tracking import tracking_client

    return sorted(item.path for item in tracking_client().list_artifacts(run_id, "reports"))


def test_a_report_on_another_city_is_written_but_not_logged(
    isolated_env: Path, small_city: Path, realistic_city: Path, tmp_path: Path
) -> None:
    from training.tracking import tracking_client

    runner = CliRunner()
    trained = runner.invoke(
        app, ["train", "--task", TASK, "--raw", str(small_city), "--max-rounds", "30"]
    )
    assert trained.exit_code == 0, trained.output
    run_id = tracking_client().get_model_version_by_alias(f"riskloop-{TASK}", "champion").run_id

    elsewhere = tmp_path / "other-city"
    other = runner.invoke(
        app,
        ["report", "--task", TASK, "--raw", str(realistic_city), "--out", str(elsewhere)],
    )

    assert other.exit_code == 0, other.output
    written = sorted(path.name for path in elsewhere.iterdir())
    assert written == [f"{TASK}-v1-on-realistic.html", f"{TASK}-v1-on-realistic.zh.html"]
    notes = [line for line in other.stderr.splitlines() if line.strip()]
    assert len(notes) == 1 and notes[0].startswith(f"note: not logged to MLflow run {run_id}")
    assert str(realistic_city) in notes[0] and "not the version's training data" in notes[0]
    # --out holds no official report: the note names none
    assert f"written as {TASK}-v1-on-realistic.html in {elsewhere}" in notes[0]
    assert "official" not in notes[0]
    assert _logged(run_id) == []

    own = runner.invoke(
        app, ["report", "--task", TASK, "--raw", str(small_city), "--out", str(tmp_path / "own")]
    )

    assert own.exit_code == 0, own.output
    assert "not logged" not in own.stderr
    assert _logged(run_id) == [f"reports/{TASK}-v1.html", f"reports/{TASK}-v1.zh.html"]
