"""`riskloop users` and `riskloop audit` against an outside review's findings: a display name
holding an identifier, weak or unchanged passwords, and a sign-in name that forged audit rows.
Each refusal is one line on stderr and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

PASSWORD = "twelve chars ok"


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    from training.cli import app

    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _refused(code: int, stderr: str, needle: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert needle in lines[0] and "Traceback" not in stderr, lines[0]


def _create(name: str, *extra: str, password: str = PASSWORD) -> tuple[int, str, str]:
    return _run(
        "users", "create", name, "--department", "labour_inspection", "--role", "officer",
        *extra, "--password-stdin", stdin=password + "\n",
    )  # fmt: skip


@pytest.mark.parametrize("display_name", ["张三 330502199001011234", "13812345678"])
def test_a_display_name_with_an_identifier_is_one_line_and_exit_2(
    isolated_env: Path, display_name: str
) -> None:
    code, _, err = _create("idc", "--display-name", display_name)
    _refused(code, err, "must not hold a phone, identity-card or account number")
    assert display_name not in err
    code, out, _ = _run("users", "list")
    assert code == 0 and out.strip() == "no users"


def test_weak_and_unchanged_passwords_are_one_line_and_exit_2(isolated_env: Path) -> None:
    code, _, err = _create("chen", password="aaaaaaaaaaaa")
    _refused(code, err, "repeats one pattern")
    code, _, err = _create("chen", password="chen-the-officer")
    _refused(code, err, "holds the user name 'chen'")
    code, out, err = _create("chen")
    assert code == 0, err
    for weak, needle in [
        ("aaaaaaaaaaaa", "repeats one pattern"),
        ("121212121212", "repeats one pattern"),
        (PASSWORD, "is the account's current one"),
    ]:
        code, _, err = _run("users", "reset-password", "chen", "--password-stdin", stdin=weak)
        _refused(code, err, needle)
    code, out, err = _run(
        "users", "reset-password", "chen", "--password-stdin", stdin="a new long password"
    )
    assert code == 0 and "password reset for chen" in out, err


def test_audit_keeps_one_row_a_line_whatever_name_was_typed(isolated_env: Path) -> None:
    """A name typed at a failed sign-in (console or `POST /v1/session`: both sign in through
    the store) with a line break and tabs printed as a forged row of its own. The store now
    audits it escaped, and `riskloop audit` escapes an actor kept from before."""
    from serving.store import SignInRefused, WarningStore

    forged = "evil2\n2026-12-05T09:00:00+08:00\tuser:wang\tidentity_reveal\t-\t{}"
    with WarningStore.from_settings() as store:
        with pytest.raises(SignInRefused):
            store.sign_in(forged, PASSWORD)
        store.audit(actor=f"user:{forged}", action="sign_in_failed", detail={"reason": "old"})
    code, out, err = _run("audit", "--actor", f"user:{forged}")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1 and len(lines[0].split("\t")) == 6, out
    assert "user:evil2\\n2026-12-05T09:00:00+08:00\\tuser:wang" in lines[0]
    code, out, err = _run("audit", "--actor", "user:wang")
    assert (code, out, err.strip()) == (0, "", "no audit rows"), out
