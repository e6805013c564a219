"""`riskloop users list` showed a lock-out that had run out as still locked ("locked until"
a time already past) until the next sign-in cleared it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from tests.serving.test_people_cli import _run
from tests.training.test_cli_actor import PASSWORD


def _lock(name: str) -> None:
    from serving.store import SignInRefused, WarningStore

    with WarningStore.from_settings() as store:
        for _ in range(6):
            with pytest.raises(SignInRefused):
                store.sign_in(name, "not the password")


def test_a_lockout_that_ran_out_lists_as_active(isolated_env: Path) -> None:
    args = ("users", "create", "alice", "--department", "tax", "--role", "officer")
    assert _run(*args, "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    _lock("alice")
    code, out, _ = _run("users", "list")
    assert code == 0 and "\tlocked until " in out, out
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=2), tick=False):
        code, out, _ = _run("users", "list")
    assert code == 0 and out.rstrip().endswith("\tactive"), out
