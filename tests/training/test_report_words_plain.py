"""A model report's sentences name commands as code, never with Markdown's backticks showing
(QA, 2026-12-07: both editions showed `riskloop monitor` with them)."""

from __future__ import annotations

import re

from models.pages import environment
from training import report_words


def code_spans(text: str) -> str:
    """`text` drawn by the shared macro the report draws its limits with."""
    page = environment("training").from_string(
        '{% import "macros.html" as ui %}{{ ui.code_spans(text) }}'
    )
    return page.render(text=text)


def test_a_backticked_command_is_code_and_the_rest_is_escaped() -> None:
    said = code_spans("watch `riskloop monitor` <b>now</b> & `x`")
    assert str(said) == (
        "watch <code>riskloop monitor</code> &lt;b&gt;now&lt;/b&gt; &amp; <code>x</code>"
    )


def test_every_report_sentence_reads_without_backticks_on_its_page() -> None:
    """Each sentence with backticks is one the report draws through `code_spans` (its limits
    and the oracle note): drawn so, none keeps a backtick."""
    limits = [text for texts in report_words._LIMITS.values() for text in texts]
    notes = [report_words._EN["perf.oracle_not_in_run"], report_words.ZH["perf.oracle_not_in_run"]]
    assert any("`" in text for text in limits + notes)  # the case this guards
    for text in limits + notes:
        assert "`" not in str(code_spans(text)), text
    # every other sentence of the report holds none at all
    drawn_as_code = set(notes)
    others = [
        text
        for catalogue in report_words._CATALOGUES.values()
        for text in catalogue.values()
        if text not in drawn_as_code
    ]
    assert len(others) > 50
    assert [text for text in others if re.search("`", text)] == []
