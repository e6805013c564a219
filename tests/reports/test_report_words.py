"""The report names things as the console does, in the reader's language: feedback outcomes
(and the units without one), registry aliases, and the features and planted drivers of the
fidelity section by their catalog labels, the identifier in brackets."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from training.report_words import ALIAS_WORDS, OUTCOME_WORDS, words

CONSOLE_MESSAGES = Path(__file__).resolve().parents[2] / "serving" / "console" / "messages"


@pytest.mark.parametrize(("lang", "index"), [("en", 0), ("zh", 1)])
def test_outcome_words_are_the_consoles(lang: str, index: int) -> None:
    console = json.loads((CONSOLE_MESSAGES / f"{lang}.json").read_text("utf-8"))
    for outcome, pair in OUTCOME_WORDS.items():
        if outcome:
            assert console[f"outcome.{outcome}"] == pair[index], outcome


def test_the_units_without_feedback_are_a_named_group() -> None:
    """The feedback-outcome fairness table had a row with an empty group name."""
    assert words("zh").audit_value("audit_feedback_outcome", "") == "无反馈"
    assert words("en").audit_value("audit_feedback_outcome", "") == "no feedback"
    assert words("zh").audit_value("audit_feedback_outcome", "prevented") == "已化解"
    assert words("zh").audit_column("audit_feedback_outcome") == "处置结果"


def test_aliases_in_chinese_use_the_consoles_word_for_the_version_in_use() -> None:
    console = json.loads((CONSOLE_MESSAGES / "zh.json").read_text("utf-8"))
    assert ALIAS_WORDS["champion"][1] in console["dash.champion"]  # 在用模型版本
    assert (
        words("zh").aliases("challenger, champion")
        == "挑战者（challenger）、在用模型版本（champion）"
    )
    assert words("en").aliases("challenger, champion") == "challenger, champion"


def _section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert match is not None, section_id
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1)))


def test_the_chinese_fidelity_section_names_features_and_drivers_by_their_labels(
    synthetic_report_zh: str,
) -> None:
    """Section 5 listed `headcount_drop`, `trademark_count`... by identifier alone, also in
    its 通过 / 未通过 sentences, while section 3 gave the same features Chinese labels."""
    text = _section(synthetic_report_zh, "fidelity")
    identifiers = re.findall(r"[a-z0-9]+(?:_[a-z0-9]+)+", text)
    assert identifiers, text
    for found in re.finditer(r"[a-z0-9]+(?:_[a-z0-9]+)+", text):
        before, after = text[: found.start()], text[found.end() :]
        assert before.endswith("（") and after.startswith("）"), text[found.start() - 30 :][:80]
        assert re.search(r"[\u4e00-\u9fff]（$", before), text[found.start() - 30 :][:80]
    assert "近6个月社保欠缴月数（si_arrears_months_6m）" in text
    card = _section(synthetic_report_zh, "model-card")
    assert "别名：在用模型版本（champion）" in card and "别名 champion" not in card
