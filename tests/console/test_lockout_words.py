"""The sign-in page's lock-out length as a person reads it: a 3-second lock-out (a test
deployment's RISKLOOP_LOCKOUT_S=3) read "locked for 1 minutes", rounded up and ungrammatical."""

from __future__ import annotations

import pytest

from serving.console.i18n import Messages
from serving.console.sign_in_pages import duration_words


@pytest.mark.parametrize(
    ("seconds", "en", "zh"),
    [
        (3, "3 seconds", "3 秒"),
        (1, "1 second", "1 秒"),
        (60, "1 minute", "1 分钟"),
        (90, "90 seconds", "90 秒"),
        (900, "15 minutes", "15 分钟"),
    ],
)
def test_a_lockout_reads_as_its_length(seconds: int, en: str, zh: str) -> None:
    assert duration_words(Messages("en"), seconds) == en
    assert duration_words(Messages("zh"), seconds) == zh
    said = Messages("en")("sign_in.help", attempts=6, duration=duration_words(Messages("en"), 3))
    assert "locked for 3 seconds;" in said
