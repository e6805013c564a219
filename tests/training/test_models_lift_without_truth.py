"""A version trained from --dataset without --truth: `riskloop models` shows no lift and says
why, and its report, measuring the oracle from the city's truth, says why `models` shows none."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from training.cli import app
from training.datasets import TrainingData

TASK = "wage-arrears"
WHY = "lift -: the training run recorded no oracle figures"


def test_models_and_report_say_why_the_lift_differs(
    isolated_env: Path, small_city: Path, city_data: dict[str, TrainingData], tmp_path: Path
) -> None:
    runner = CliRunner()
    dataset = isolated_env / "wage.parquet"
    city_data[TASK].frame.to_parquet(dataset)
    args = ["train", "--task", TASK, "--max-rounds", "20"]
    with_truth = runner.invoke(app, [*args, "--raw", str(small_city)])
    assert with_truth.exit_code == 0, with_truth.output
    listed = runner.invoke(app, ["models"])
    assert listed.exit_code == 0 and WHY not in listed.stdout, listed.stdout

    trained = runner.invoke(app, [*args, "--dataset", str(dataset)])
    assert trained.exit_code == 0, trained.output
    listed = runner.invoke(app, ["models"])

    assert listed.exit_code == 0, listed.output
    version_2 = next(line for line in listed.stdout.splitlines() if line.split()[:2] == [TASK, "2"])
    assert version_2.split()[-1] == "-"
    assert WHY in listed.stdout

    out = tmp_path / "reports"
    report = runner.invoke(
        app,
        ["report", "--task", TASK, "--version", "2", "--raw", str(small_city), "--out", str(out)],
    )
    assert report.exit_code == 0, report.output
    page = (out / f"{TASK}-v2.html").read_text(encoding="utf-8")
    page_zh = (out / f"{TASK}-v2.zh.html").read_text(encoding="utf-8")
    assert "The training run recorded no oracle figures" in page
    assert "训练运行未记录理想基准指标" in page_zh
