"""A model report's words are plain text on its page: no Markdown left in them (QA,
2026-12-07: both editions showed `riskloop monitor` with its backticks)."""

from __future__ import annotations

from training import report_words


def test_no_report_sentence_holds_markdown_backticks() -> None:
    sentences = [
        *(text for texts in report_words._LIMITS.values() for text in texts),
        *(text for catalogue in report_words._CATALOGUES.values() for text in catalogue.values()),
    ]
    assert len(sentences) > 50
    assert [text for text in sentences if "`" in text] == []
