"""`riskloop users unlock NAME`: an administrator lifts a lockout without a new password.

QA locked li with six wrong console passwords; `users reset-password li` with li's own
password was refused ("the new password is the account's current one"), so the only way to
let li back in was to make li a new password, and that ended li's sessions too. `users
unlock` lifts the lockout alone: password, credential stamp and sessions stay. A real store
(SQLite, and PostgreSQL with `RISKLOOP_TEST_PG_URL`), the real sign-in failure path and the
real CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from serving.console.sessions import SessionBook
from serving.store import SignInRefused, WarningStore
from serving.store.common import city_moment
from serving.store.people import MAX_FAILED_SIGN_INS
from tests.secrets_files import write_secrets_file
from tests.serving.test_people_cli import _one_error_line, _run
from training.commands import cli_actor

PASSWORD = "Passw0rd-labor1"


@pytest.fixture()
def cli_store(
    isolated_env: Path, migrated_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WarningStore]:
    """The store the CLI opens (RISKLOOP_STORE_URL), with the officer li created by the CLI."""
    from models.settings import get_settings

    monkeypatch.setenv("RISKLOOP_STORE_URL", migrated_store_url)
    get_settings.cache_clear()
    write_secrets_file()  # the store was made first (a template's copy)
    code, _, err = _run(
        "users", "create", "li", "--department", "labour_inspection", "--role", "officer",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err
    with WarningStore.from_settings() as store:
        yield store
    get_settings.cache_clear()


def _lock(store: WarningStore, name: str, *, now: datetime | None = None) -> None:
    """Lock `name` as a guesser at the sign-in form does: one wrong password too many."""
    for _ in range(MAX_FAILED_SIGN_INS + 1):
        with pytest.raises(SignInRefused):
            store.sign_in(name, "not the password", now=now)
    with pytest.raises(SignInRefused):
        store.sign_in(name, PASSWORD, now=now)  # locked: the right password is refused too


def _unlock_rows(store: WarningStore) -> list[dict[str, object]]:
    return [row for row in store.audit_rows() if row["action"] == "user_unlocked"]


def test_unlock_lifts_a_lockout_and_keeps_the_password_and_sessions(
    cli_store: WarningStore,
) -> None:
    book = SessionBook(cli_store.engine, idle_s=600, absolute_s=3600)
    cookie, _ = book.start("li")
    stamp = cli_store.get_user("li").credential_stamp
    _lock(cli_store, "li")
    locked_until = cli_store.get_user("li").locked_until
    assert locked_until is not None
    code, _, err = _run("users", "reset-password", "li", "--password-stdin", stdin=PASSWORD + "\n")
    _one_error_line(code, err, "current one")  # still no way to keep the password there

    code, out, err = _run("users", "unlock", "li")
    assert code == 0, err
    assert out.strip() == (
        f"unlocked li (was locked until {city_moment(locked_until)}); its password and "
        "sessions are unchanged"
    )
    assert "+08:00)" in out  # the city's time, as `audit` prints it
    user = cli_store.get_user("li")
    assert (user.locked_until, user.failed_attempts) == (None, 0)
    assert user.credential_stamp == stamp  # API session tokens still match
    assert book.check(cookie)[0] is not None  # the console session is still live
    (row,) = _unlock_rows(cli_store)
    assert row["actor"] == cli_actor()
    assert row["detail"] == {
        "user": "li",
        "locked_until": city_moment(locked_until),
        "failed_attempts": MAX_FAILED_SIGN_INS + 1,
        "channel": "cli",
    }
    assert cli_store.sign_in("li", PASSWORD).name == "li"

    # nothing left to lift: said so, exit 0, no audit row
    code, out, err = _run("users", "unlock", "li")
    assert (code, out.strip()) == (0, "li is not locked: nothing to lift"), err
    assert len(_unlock_rows(cli_store)) == 1
    code, _, err = _run("users", "unlock", "nobody")
    _one_error_line(code, err, "no user named 'nobody'")


def test_unlock_after_a_lockout_ran_out_resets_the_count(cli_store: WarningStore) -> None:
    """A lockout that has run out leaves its count: one more wrong password locked the
    account again at once. `unlock` puts the count back to 0, and says the account was not
    locked; a disabled account stays disabled, and the command says so."""
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    _lock(cli_store, "li", now=long_ago)
    assert _run("users", "disable", "li")[0] == 0
    code, out, err = _run("users", "unlock", "li")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines == [
        f"li was not locked; its count of wrong passwords in a row ({MAX_FAILED_SIGN_INS + 1}) "
        "is back to 0 (password and sessions unchanged)",
        "li is still disabled: `riskloop users enable li` lets the account sign in again",
    ]
    (row,) = _unlock_rows(cli_store)
    assert row["detail"] == {
        "user": "li",
        "locked_until": None,
        "failed_attempts": MAX_FAILED_SIGN_INS + 1,
        "channel": "cli",
    }
    assert _run("users", "enable", "li")[0] == 0
    with pytest.raises(SignInRefused):
        cli_store.sign_in("li", "not the password")
    assert cli_store.get_user("li").locked_until is None  # one wrong password, not a lock
    assert cli_store.sign_in("li", PASSWORD).name == "li"
