"""`riskloop secrets start-over`: a store whose secrets file is lost with no backup could only
be opened again by deleting its `key_checks` row by hand. The command gives it a new file,
says what was kept and lost, and is on the audit log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from models.secret_keys import secrets_path
from serving.store import WarningStore
from serving.store.common import utc_now
from serving.store.identity import IdentityUnavailable
from serving.store.outbox import Outbox
from tests.serving.test_people_cli import _one_error_line, _run
from tests.training.test_cli_recheck_refusals import _raise_warning


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_store_whose_secrets_are_lost_starts_over_audited(isolated_env: Path) -> None:
    code, _, err = _run("secrets", "start-over", "--lost-without-backup")
    _one_error_line(code, err, "no warnings store", "nothing to start over")
    assert not secrets_path().exists()  # no store: the first command needing keys makes them

    with WarningStore.from_settings() as store:
        old = _raise_warning(store, "employer-1")
        # a webhook URL, sealed with the keys about to be lost
        Outbox(store).set_webhook("county_centre", "https://hooks.example.gov/in", now=utc_now())
    path = secrets_path()
    lost = path.read_bytes()
    path.unlink()
    db = isolated_env / "riskloop.db"
    rows = _count(db, "audit_log")

    code, _, err = _run("secrets", "start-over")  # without saying the file is lost
    _one_error_line(code, err, "Restore the secrets file from its backup", "--lost-without")
    assert not path.exists() and _count(db, "audit_log") == rows

    code, out, err = _run("secrets", "start-over", "--lost-without-backup")
    assert code == 0, err
    assert "kept: 1 warnings" in out and "the ids of 1 warnings can no longer be revealed" in out
    assert "lost: the webhook URLs of county_centre, sealed with the old keys" in out, out
    code, listed, err = _run("departments", "webhooks")
    assert code == 0, err
    assert "county_centre\tnot posted to:" in listed and "set its webhook again" in listed
    assert path.exists() and path.read_bytes() != lost
    with WarningStore.from_settings() as store:  # opens under the new key
        (row,) = store.audit_rows(actions=["secrets_start_over"])
        assert row["actor"].startswith("cli:")
        assert row["detail"] == {
            "warnings_kept": 1,
            "ids_no_longer_revealable": 1,
            "channel": "cli",
        }
        with pytest.raises(IdentityUnavailable):
            store.reveal(old, actor="user:wang", purpose="call the employer", limit=5)
        new = _raise_warning(store, "employer-1")  # a new pseudonym: warned anew
        assert new != old
        assert store.reveal(new, actor="user:wang", purpose="call the employer", limit=5) == (
            "employer-1"
        )

    # a file that is there is never replaced, whoever's it is
    code, _, err = _run("secrets", "start-over", "--lost-without-backup")
    _one_error_line(code, err, "a secrets file is at", "move it away first")
    assert json.loads(path.read_text())  # untouched, still readable
