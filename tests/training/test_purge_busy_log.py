"""`riskloop store purge` while another connection keeps SQLite's log busy (a reader's open
snapshot, another worker's checkpoint): the purge is committed, and the command says in one
line that the removed values are still in the files and exits 1, never a traceback after its
commit; run again once the log is free, it compacts them away."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

import serving.store.privacy as privacy
from models.settings import get_settings
from serving.store import WarningStore
from training.cli import app

MARKER = 918273.645  # a feature value found nowhere else


def _files(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.glob("riskloop.db*")))


def test_a_purge_the_log_keeps_busy_says_so_and_the_next_one_compacts(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_STORE_BUSY_TIMEOUT_S", "0.2")
    get_settings.cache_clear()
    monkeypatch.setattr(privacy, "FIRST_TRUNCATE_S", 0.3)
    monkeypatch.setattr(privacy, "LAST_TRUNCATE_S", 0.6)
    results = [
        {
            "entity_id": f"P{i}",
            "score": 0.2,
            "risk_level": "green",
            "reasons": [],
            "actions": [],
            "features": {"marker": MARKER},
        }
        for i in range(20)
    ]
    with WarningStore.from_settings(get_settings()) as store:
        store.record_scores(
            actor="test", task="wage-arrears", model_name="m", model_version="1", results=results
        )
    assert str(MARKER).encode() in _files(isolated_env)  # the check below can fail
    reader = sqlite3.connect(isolated_env / "riskloop.db")
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM scored_records").fetchall()  # an open snapshot
        runner = CliRunner()
        busy = runner.invoke(app, ["store", "purge", "--before", "now"])
        assert busy.exit_code == 1, busy.output
        assert busy.output.startswith("removed: features of 20 scored records")
        assert "still in the database's files" in busy.output
        assert "Traceback" not in busy.output
    finally:
        reader.rollback()
        reader.close()
    again = runner.invoke(app, ["store", "purge", "--before", "now"])
    assert again.exit_code == 0, again.output
    assert again.output.startswith("removed: features of 0 scored records")
    assert str(MARKER).encode() not in _files(isolated_env)
