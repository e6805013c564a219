"""Names as people type them, after sign-in began to trim user names and fold them to lower
case (a QA re-check).

Tries at one unknown name typed in other cases or with blanks were audited as different
actors (the fingerprint was of the name as typed), and `riskloop users unlock ZHAO` (disable,
enable, reset-password) said there was no user named 'ZHAO'.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.store import SignInRefused, WarningStore
from serving.store.people import MAX_FAILED_SIGN_INS
from tests.serving.test_people_cli import _one_error_line, _run

PASSWORD = "correct horse battery"
NEW = "another horse battery"


def test_tries_at_one_unknown_name_in_any_case_are_one_actor(isolated_env: Path) -> None:
    with WarningStore.from_settings() as store:
        for typed in ("ghost", "Ghost", "GHOST", " ghost\t"):
            with pytest.raises(SignInRefused):
                store.sign_in(typed, PASSWORD)
        actors = {row["actor"] for row in store.audit_rows() if row["action"] == "sign_in_failed"}
        assert actors == {store.unknown_name_actor("ghost")}


def _create_zhao() -> None:
    code, _, err = _run(
        "users", "create", "zhao", "--department", "tax", "--role", "officer",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err


def test_the_users_commands_take_a_name_as_sign_in_does(isolated_env: Path) -> None:
    _create_zhao()
    with WarningStore.from_settings() as store:
        for _ in range(MAX_FAILED_SIGN_INS + 1):
            with pytest.raises(SignInRefused):
                store.sign_in("zhao", "not the password")
    code, out, err = _run("users", "unlock", "ZHAO")
    assert (code, err) == (0, ""), err
    assert out.startswith("unlocked zhao (was locked until "), out
    assert _run("users", "disable", " Zhao ")[:2] == (0, "disabled zhao\n")
    assert _run("users", "enable", "ZHAO")[:2] == (0, "enabled zhao\n")
    code, out, err = _run("users", "reset-password", "Zhao", "--password-stdin", stdin=NEW + "\n")
    assert (code, out) == (0, "password reset for zhao\n"), err
    with WarningStore.from_settings() as store:
        assert store.sign_in("zhao", NEW).name == "zhao"
        changes = [row for row in store.audit_rows() if row["action"].startswith("user_")]
    assert [(row["action"], row["detail"]["user"]) for row in changes] == [
        ("user_created", "zhao"),
        ("user_unlocked", "zhao"),
        ("user_disabled", "zhao"),
        ("user_enabled", "zhao"),
        ("user_password_reset", "zhao"),
    ]


def test_a_name_folded_that_is_still_no_users_is_refused_by_its_folded_name(
    isolated_env: Path,
) -> None:
    _create_zhao()
    code, _, err = _run("users", "disable", "ZHAOO")
    assert code == 2
    _one_error_line(code, err, "'zhaoo'")


@pytest.mark.parametrize("given", ["W-06bd", "W-", "06bd", "w-0123456"])
def test_a_warning_start_shorter_than_the_short_id_is_refused_as_too_short(
    isolated_env: Path, given: str
) -> None:
    """It was 'no audit rows mention W-06bd: no warning has that id or begins with it'."""
    with WarningStore.from_settings():
        pass  # the store is there: the refusal is the start's, not a missing store's
    code, out, err = _run("audit", "--warning", given)
    assert (code, out) == (2, "")
    _one_error_line(code, err, "too short", "at least the 8 digits after W-")
    assert "no audit rows" not in err
