"""QA 60: `RISKLOOP_NOTIFY_INTERVAL_S=-1` silently turned delivery and the deadline sweep off
(the service started and delivered nothing; `riskloop notify --once` exited 0). Only 0 means
off: a negative interval is refused at start in one line, as any setting out of its bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.settings import Settings, get_settings
from tests.serving.loop.conftest import run_cli


def test_a_negative_interval_is_refused_and_zero_still_means_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(notify_interval_s=0).notify_interval_s == 0
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Settings(notify_interval_s=-1)
    monkeypatch.setenv("RISKLOOP_NOTIFY_INTERVAL_S", "-1")
    get_settings.cache_clear()
    try:
        for args in (["notify", "--once"], ["notify", "--loop"]):
            result = run_cli(args)
            assert result.exit_code == 2, result.output
            (line,) = result.output.strip().splitlines()
            assert line.startswith("error: invalid setting RISKLOOP_NOTIFY_INTERVAL_S: "), line
    finally:
        get_settings.cache_clear()
