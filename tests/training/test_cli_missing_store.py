"""A command that reads the warnings store, or changes what is in it, run where the embedded
SQLite store is not (another folder than the one riskloop was set up in, or a mistyped
RISKLOOP_STORE_URL): it used to create an empty store and a new secrets file there, then
answer "no users", "no audit rows" or a monitor of nothing as if that were the deployment's
state. Now it is refused in one line and nothing is created; commands that set a deployment
up (creating the first account or key, `store upgrade`) still create the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serving.test_people_cli import _one_error_line, _run
from tests.training.test_cli_actor import PASSWORD

READING = [
    ("users", "list"),
    ("users", "disable", "alice"),
    ("users", "unlock", "alice"),
    ("audit", "--actor", "alice"),
    ("secrets", "rotate"),
    ("store", "purge", "--dry-run"),
    ("keys", "revoke", "scorer"),
    ("monitor", "--task", "wage-arrears"),
    ("notify", "--once"),
    ("overdue",),
    ("departments", "webhooks"),
]


@pytest.mark.parametrize("args", READING, ids=lambda args: "-".join(args[:2]))
def test_a_reading_command_refuses_a_missing_store_and_creates_nothing(
    isolated_env: Path, args: tuple[str, ...]
) -> None:
    before = sorted(p.name for p in isolated_env.iterdir())
    code, _, err = _run(*args)
    _one_error_line(code, err, "no warnings store at", str(isolated_env / "riskloop.db"))
    assert sorted(p.name for p in isolated_env.iterdir()) == before  # no store, no secrets


def test_setting_up_still_creates_the_store_and_then_reading_works(isolated_env: Path) -> None:
    args = ("users", "create", "alice", "--department", "tax", "--role", "officer")
    assert _run(*args, "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    assert (isolated_env / "riskloop.db").is_file()
    code, out, _ = _run("users", "list")
    assert code == 0 and out.startswith("alice\t"), out
    assert _run("users", "disable", "alice")[0] == 0


@pytest.mark.parametrize("kind", ["empty file", "folder"])
def test_an_empty_file_or_a_folder_is_no_store_either(isolated_env: Path, kind: str) -> None:
    """A 0-byte file (a `touch`, a failed copy) was taken as a store: `users list` wrote a
    new schema into it and answered "no users"; a folder was called missing. Both are named."""
    store = isolated_env / "riskloop.db"
    if kind == "folder":
        store.mkdir()
    else:
        store.touch()
    code, _, err = _run("users", "list")
    reason = "it is a folder" if kind == "folder" else "it is empty"
    _one_error_line(code, err, "no warnings store at", str(store), reason)
    assert kind == "folder" or store.stat().st_size == 0  # nothing written into it
