"""A promotion's reason: its changes never read -0.0000, and the Chinese report's model card
says it in Chinese, rebuilt from the parts of the tag `training.promote` writes (old tags too)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.risk_model import RiskModel
from training.cli import app
from training.datasets import Splits, TrainingData
from training.promote import PromotionRule
from training.report import RunInfo
from training.report_card import model_card
from training.report_words import words

TASK = "dispute-escalation"
SAME = {"roc_auc": 0.8123456, "ece": 0.0212345}


def _reasons() -> dict[str, tuple[str, str]]:
    """(how, reason) as `promote` tags a version, from the rule itself and older tags."""
    rule = PromotionRule()
    worse = rule.judge({"roc_auc": 0.75, "ece": 0.05}, SAME)[1]
    auc_only = rule.judge({"roc_auc": 0.75, "ece": 0.02}, SAME)[1]
    return {
        "accepted": ("rule", rule.judge({"roc_auc": 0.83, "ece": 0.02}, SAME)[1]),
        "identical": ("rule", rule.judge(dict(SAME), SAME)[1]),
        "old tag with -0.0000": (
            "rule",
            "challenger not worse: AUC change -0.0000, ECE change +0.0000",
        ),
        "forced, both worse": ("forced", f"forced: {worse}"),
        "forced, AUC worse": ("forced", f"forced: {auc_only}"),
        "forced, undefined": ("forced", "forced: AUC or ECE undefined on the test slice"),
        "no champion": ("rule", "no champion yet"),
    }


def test_identical_metrics_change_by_plus_zero() -> None:
    accepted, reason = PromotionRule().judge(dict(SAME), SAME)
    assert accepted
    assert reason == "challenger not worse: AUC change +0.0000, ECE change +0.0000"
    nearly = {"roc_auc": SAME["roc_auc"] + 1e-7, "ece": SAME["ece"] - 1e-7}
    assert "-0.0000" not in PromotionRule().judge(nearly, SAME)[1]


@pytest.mark.parametrize("case", list(_reasons()))
def test_the_chinese_model_card_says_the_reason_in_chinese(
    case: str, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    how, reason = _reasons()[case]
    model, splits = fast_models[TASK]
    run_info = RunInfo(version="3", promotion=how, promotion_reason=reason)

    card = dict(model_card(model, splits.test, run_info, None, words("zh"))["card"])
    said = card["成为在用模型版本的方式"]

    leftover = re.sub(r"\b(AUC|ECE)\b", "", said)
    assert not re.search(r"[A-Za-z]{3,}", leftover), said  # no English left but the metric names
    assert "-0.0000" not in said and "forced" not in said
    english = dict(model_card(model, splits.test, run_info, None, words("en"))["card"])
    assert "-0.0000" not in english["How it became champion"]
    assert "forced: " not in english["How it became champion"]


def test_promote_does_not_promote_an_identical_retrain(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    """Two trainings on the same data give the same model: promoting the second would only
    re-score every open warning under a new version (rescore43), so nothing is decided; the
    rule's identical figures read +0.0000 (`test_identical_metrics_change_by_plus_zero`)."""
    dataset = isolated_env / "disputes.parquet"
    city_data[TASK].frame.to_parquet(dataset)
    runner = CliRunner()
    for _ in range(2):  # the same data, seed and rounds: the same model twice
        trained = runner.invoke(
            app, ["train", "--task", TASK, "--dataset", str(dataset), "--max-rounds", "5"]
        )
        assert trained.exit_code == 0, trained.output

    decided = runner.invoke(app, ["promote", "--task", TASK])

    assert decided.exit_code == 0, decided.output
    assert "nothing to promote (challenger v2, champion v1 -> v1)" in decided.stdout
    assert "version 2 is the same model as champion version 1" in decided.stdout
    assert "-0.0000" not in decided.stdout
