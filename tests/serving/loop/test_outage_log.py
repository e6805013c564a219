"""A store outage in a delivery worker's log: once when it starts, about once a minute while it
lasts, once when it ends; a replica's round every 2 s logged a warning each (30 a minute)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from serving.delivery import OutageLog


def test_an_outage_is_logged_when_it_starts_once_a_minute_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    outage = OutageLog(
        logging.getLogger("riskloop.delivery"), "notification round", clock=lambda: now[0]
    )
    refused = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    caplog.set_level(logging.INFO, logger="riskloop.delivery")
    outage.answered()  # no outage: nothing to say
    for _ in range(151):  # five minutes of rounds every 2 s
        outage.failed(refused)
        now[0] += 2.0
    outage.answered()
    outage.answered()
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith(
        "notification round skipped: the warnings store is not answering"
    ) and lines[0].endswith("(ConnectionRefusedError: connection refused)")
    repeats = lines[1:-1]
    assert len(repeats) == 5, lines  # at 60, 120, 180, 240, 300 s
    assert all(line.startswith("notification rounds still skipped") for line in repeats)
    assert "for 60 s (31 round(s) skipped" in repeats[0]
    assert lines[-1] == (
        "notification rounds resumed: the warnings store answers again after 302 s "
        "(151 round(s) skipped)"
    )
    caplog.clear()
    outage.failed(refused)  # the next outage starts afresh
    assert [r.getMessage()[:27] for r in caplog.records] == ["notification round skipped:"]
