"""Every change made from the CLI names the person who ran it, as `riskloop promote` always did.

Accounts, secrets, departments, the outbox and purges were audited as `system:cli` whoever ran
them, and `RISKLOOP_ACTOR` was ignored: `riskloop audit --actor ops-zhang` answered
`no audit rows`.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from tests.serving.test_people_cli import _run
from training.commands import cli_actor

PASSWORD = "twelve chars ok"
NEW_PASSWORD = "another twelve ok"

#: each command's action in the audit log
CHANGES = [
    ("user_created", ("users", "create", "alice", "--department", "tax", "--role", "officer",
                      "--password-stdin"), PASSWORD),
    ("user_disabled", ("users", "disable", "alice"), None),
    ("user_enabled", ("users", "enable", "alice"), None),
    ("user_password_reset", ("users", "reset-password", "alice", "--password-stdin"), NEW_PASSWORD),
    ("user_unlocked", ("users", "unlock", "alice"), None),
    ("encryption_key_rotated", ("secrets", "rotate"), None),
    ("department_webhook", ("departments", "set-webhook", "tax", "http://127.0.0.1:9/hook",
                            "--secret-file", "tax.secret"), None),
    ("department_capacity", ("departments", "set-capacity", "tax", "4"), None),
    ("notification_requeue", ("notify", "--requeue"), None),
    ("store_purge", ("store", "purge", "--before", "now"), None),
]  # fmt: skip


def _set_up_store() -> None:
    """The deployment's store, as `store upgrade` makes it: `departments set-capacity` changes
    what is in a store and creates none."""
    assert _run("store", "upgrade")[0] == 0


def _one_wrong_password(name: str) -> None:
    from serving.store import SignInRefused, WarningStore

    with WarningStore.from_settings() as store, pytest.raises(SignInRefused):
        store.sign_in(name, "not the password")


def test_every_cli_change_is_audited_under_riskloop_actor(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_ACTOR", "ops-zhang")
    for action, args, stdin in CHANGES:
        if action == "user_unlocked":
            _one_wrong_password("alice")  # something to lift: an account left alone has no row
        code, out, err = _run(*args, stdin=None if stdin is None else stdin + "\n")
        assert code == 0, (args, out, err)

    code, out, err = _run("audit", "--actor", "ops-zhang")

    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    assert {row[1] for row in rows} == {"cli:ops-zhang"}
    assert [row[2] for row in rows] == [action for action, _, _ in CHANGES]
    assert _run("audit", "--actor", "system:cli")[1:] == ("", "no audit rows\n")


def test_without_riskloop_actor_the_login_runs_the_command(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RISKLOOP_ACTOR", raising=False)
    assert cli_actor() == f"cli:{getpass.getuser()}"
    monkeypatch.setenv("RISKLOOP_ACTOR", "  ")  # blank: as if unset
    assert cli_actor() == f"cli:{getpass.getuser()}"
    _set_up_store()
    assert _run("departments", "set-capacity", "tax", "2")[0] == 0

    code, out, _ = _run("audit", "--actor", getpass.getuser())

    assert code == 0 and out.split("\t")[1:3] == [f"cli:{getpass.getuser()}", "department_capacity"]


def test_riskloop_actor_cannot_pass_for_an_account_a_key_or_a_job(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`RISKLOOP_ACTOR=user:bob` is recorded as `cli:user:bob`: a change made at the shell is
    never written as a console account's, a key's or riskloop's own job's."""
    for name, recorded in [
        ("user:bob", "cli:user:bob"),
        ("system:screen", "cli:system:screen"),
        ("  ops\tzhang\n", "cli:ops zhang"),
        ("x" * 300, "cli:" + "x" * 64),
    ]:
        monkeypatch.setenv("RISKLOOP_ACTOR", name)
        assert cli_actor() == recorded
    monkeypatch.setenv("RISKLOOP_ACTOR", "user:bob")
    _set_up_store()
    assert _run("departments", "set-capacity", "tax", "2")[0] == 0
    # looked up as "$RISKLOOP_ACTOR", the row shows, under the actor it was recorded as
    for looked_up in ("user:bob", "cli:user:bob"):
        code, out, _ = _run("audit", "--actor", looked_up)
        assert code == 0 and out.split("\t")[1:3] == ["cli:user:bob", "department_capacity"]


def test_an_invisible_riskloop_actor_falls_back_to_the_login(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A RISKLOOP_ACTOR of a zero-width space (or marks) was recorded as a nameless `cli:`."""
    for invisible in ("\u200b", "\u200b\u200e", "\t\n", "\x7f"):
        monkeypatch.setenv("RISKLOOP_ACTOR", invisible)
        assert cli_actor() == f"cli:{getpass.getuser()}"


def test_audit_looks_names_up_as_they_are_recorded(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spaces folded and a long name cut as the recorder does; an empty --actor is refused."""
    long_name = "ops-" + "z" * 80
    _set_up_store()
    for name in ("ops  zhang", long_name):
        monkeypatch.setenv("RISKLOOP_ACTOR", name)
        assert _run("departments", "set-capacity", "tax", "3")[0] == 0
        code, out, err = _run("audit", "--actor", name)
        assert code == 0 and out.split("\t")[2] == "department_capacity", err
    for empty in ("", "   ", "user:", "\u200b"):
        code, out, err = _run("audit", "--actor", empty)
        assert code == 2 and "--actor needs a name" in err, (empty, out, err)
