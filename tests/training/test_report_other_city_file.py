"""A report rebuilt from another city never replaces the version's official report files (the
ones the console serves, `<task>-v<N>.html` and `.zh.html`): it is written under its own name."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from models.pages import report_file_name
from training.cli import app

TASK = "telecom-fraud"


def test_a_report_on_another_city_leaves_the_official_editions_as_they_were(
    isolated_env: Path, small_city: Path, realistic_city: Path
) -> None:
    runner = CliRunner()
    trained = runner.invoke(
        app, ["train", "--task", TASK, "--raw", str(small_city), "--max-rounds", "20"]
    )
    assert trained.exit_code == 0, trained.output
    reports = isolated_env / "reports"
    own = runner.invoke(app, ["report", "--task", TASK, "--raw", str(small_city)])
    assert own.exit_code == 0, own.output
    official = {lang: reports / report_file_name(TASK, 1, lang) for lang in ("en", "zh")}
    before = {lang: path.read_bytes() for lang, path in official.items()}

    other = runner.invoke(
        app, ["report", "--task", TASK, "--raw", str(realistic_city), "--lang", "en"]
    )

    assert other.exit_code == 0, other.output
    assert {lang: path.read_bytes() for lang, path in official.items()} == before
    elsewhere = reports / f"{TASK}-v1-on-realistic.html"
    assert other.stdout.split() == [str(elsewhere)]
    page = elsewhere.read_text(encoding="utf-8")
    assert f"rebuilt from {realistic_city.name}, " in page and str(realistic_city) not in page
    assert f"written as {elsewhere.name} beside the official {official['en'].name}" in other.stderr
    assert sorted(path.name for path in reports.iterdir()) == sorted(
        [elsewhere.name, *(path.name for path in official.values())]
    )
