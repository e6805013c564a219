"""`riskloop users|keys|audit|store purge|secrets` and the secrets file, as a person uses them.

Bad input gives one clear line on stderr and a non-zero exit, with nothing half-created; the
secrets file is made 0600 on first use and a group-readable one stops `riskloop serve` with one
line; no secret value is written in the code.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.secret_keys import load_secrets, secrets_path
from training.commands import cli_actor

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "twelve chars ok"


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    from training.cli import app

    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _one_error_line(code: int, stderr: str, *needles: str) -> None:
    lines = stderr.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert all(needle in lines[0] for needle in needles), lines[0]
    assert "Traceback" not in stderr


def test_users_cli_walk_and_bad_input(isolated_env: Path) -> None:
    code, out, err = _run(
        "users", "create", "alice", "--department", "labour_inspection", "--role", "officer",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0 and "created alice (officer, labour_inspection)" in out, err
    # the password is the administrator's, for the first sign-in: the person then sets theirs
    assert "note: give alice this password for their next sign-in only" in err
    assert "/console/password" in err and PASSWORD not in out + err
    bad: dict[str, tuple[str, ...]] = {
        "unknown department": ("bob", "--department", "moon_base", "--role", "officer"),
        "unknown role": ("bob", "--department", "tax", "--role", "emperor"),
        "already exists": ("alice", "--department", "tax", "--role", "officer"),
        "works no case": ("bob", "--department", "data_office", "--role", "supervisor"),
    }
    bad_names = {
        "U+202E": "a\u202eb",  # would show another person's name reversed on a timeline
        "one line": "two\nlines",
        "at most 64": "名" * 65,
        "is empty": "   ",
    }
    for needle, display_name in bad_names.items():
        bad[needle] = (
            "bob",
            "--department",
            "tax",
            "--role",
            "officer",
            "--display-name",
            display_name,
        )
    for needle, args in bad.items():
        code, _, err = _run("users", "create", *args, "--password-stdin", stdin=PASSWORD + "\n")
        _one_error_line(code, err, needle)
    # a department that does not exist is named before any password is asked for
    code, _, err = _run("users", "create", *bad["unknown department"], "--password-stdin", stdin="")
    _one_error_line(code, err, "unknown department 'moon_base'")
    code, _, err = _run(
        "users", "create", "bob", "--department", "tax", "--role", "officer",
        "--password-stdin", stdin="short\n",
    )  # fmt: skip
    _one_error_line(code, err, "too weak", "12")
    code, _, err = _run(
        "users", "create", "bob", "--department", "tax", "--role", "officer",
        "--password-stdin", stdin="p" * 1025 + "\n",
    )  # fmt: skip
    _one_error_line(code, err, "too long", "1024")
    code, _, err = _run(
        "users", "create", "Bad Name", "--department", "tax", "--role", "officer",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    _one_error_line(code, err, "invalid user name")
    code, out, _ = _run("users", "list")
    assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == ["alice"]
    code, out, err = _run("users", "reset-password", "alice", "--password-stdin", stdin="tiny\n")
    _one_error_line(code, err, "too weak")
    code, out, _ = _run("users", "disable", "alice")
    assert code == 0 and "disabled alice" in out
    code, _, err = _run("users", "disable", "alice")
    _one_error_line(code, err, "already disabled")
    code, _, err = _run("users", "disable", "nobody")
    _one_error_line(code, err, "no user named 'nobody'")
    # a new password does not lift the disabling, and says so; `enable` does
    code, out, _ = _run(
        "users", "reset-password", "alice", "--password-stdin", stdin="another long one\n"
    )
    assert code == 0 and "alice is still disabled: `riskloop users enable alice`" in out
    code, out, _ = _run("users", "enable", "alice")
    assert code == 0 and "enabled alice" in out
    code, _, err = _run("users", "enable", "alice")
    _one_error_line(code, err, "is not disabled")
    code, out, _ = _run("users", "list")
    assert code == 0 and "\tactive" in out.splitlines()[0]
    code, out, _ = _run("audit", "--actor", cli_actor())
    assert code == 0
    assert [line.split("\t")[2] for line in out.splitlines()] == [
        "user_created",
        "user_disabled",
        "user_password_reset",
        "user_enabled",
    ]
    # --since takes a date or a time with its zone, as the API's `since` does
    code, out, _ = _run("audit", "--actor", cli_actor(), "--since", "2026-01-01T08:00:00+08:00")
    assert code == 0 and len(out.splitlines()) == 5  # the four, and the read above
    assert out.splitlines()[-1].split("\t")[2] == "audit_read"
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    code, out, err = _run("audit", "--actor", cli_actor(), "--since", later)
    _one_error_line(code, err, "--since", "is after now")  # rows not yet written: refused
    code, _, err = _run("audit", "--actor", cli_actor(), "--since", "2026-01-01T08:00:00")
    _one_error_line(code, err, "--since", "with its zone")
    # no rows about a warning id at all: no such warning, and a non-zero exit for scripts
    code, _, err = _run("audit", "--warning", "W-" + "0" * 32)
    _one_error_line(code, err, "W-" + "0" * 32, "no warning has that id")


def test_the_note_says_when_the_deployment_requires_an_own_password(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`users create` and `users reset-password` tell the administrator that the password is
    for the first sign-in; where `RISKLOOP_REQUIRE_OWN_PASSWORD` is on, also that nothing else
    opens for the person until they have chosen their own."""
    from models.settings import get_settings

    created = ("users", "create", "ann", "--department", "tax", "--role", "officer")
    code, _out, err = _run(*created, "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0 and "next sign-in only" in err and "REQUIRE_OWN_PASSWORD" not in err, err
    monkeypatch.setenv("RISKLOOP_REQUIRE_OWN_PASSWORD", "true")
    get_settings.cache_clear()
    code, out, err = _run(
        "users", "reset-password", "ann", "--password-stdin", stdin="another 9 river lantern\n"
    )
    assert code == 0 and "password reset for ann" in out, err
    note = err.strip().splitlines()[-1]
    assert note.startswith("note: give ann this password for their next sign-in only"), err
    assert "the console opens only that page" in note and "no session" in note, note
    assert "river lantern" not in out + err


def test_keys_bind_to_a_department_and_audit_and_purge_refuse_bad_input(
    isolated_env: Path,
) -> None:
    code, out, _ = _run(
        "keys", "create", "desk", "--scopes", "review,reveal", "--department", "tax"
    )
    assert code == 0 and out.startswith("rk_")
    code, out, _ = _run("keys", "list")
    assert "desk\t" in out and "\treview,reveal\ttax\t" in out
    code, _, err = _run("keys", "create", "x", "--scopes", "review", "--department", "moon")
    _one_error_line(code, err, "unknown department 'moon'")
    code, _, err = _run("audit")
    _one_error_line(
        code, err, "at least one of --warning ID, --actor NAME, --task NAME or --action NAME"
    )
    code, _, err = _run("audit", "--actor", "x", "--since", "last week")
    _one_error_line(code, err, "--since")
    code, _, err = _run("store", "purge", "--before", "soon")
    _one_error_line(code, err, "--before")
    code, out, _ = _run("store", "purge", "--before", "2026-01-01", "--dry-run")
    assert code == 0 and out.startswith("would remove: features of 0 scored records")
    # a date after today would take records scored today too: a typo, not a retention policy
    later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    code, _, err = _run("store", "purge", "--before", later)
    _one_error_line(code, err, f"--before {later} is after today")
    code, out, _ = _run("store", "purge", "--before", "now", "--dry-run")
    assert code == 0 and out.startswith("would remove: features of 0 scored records")


def test_dates_on_the_command_line_are_the_citys_days(isolated_env: Path) -> None:
    """`audit --since DAY` and `store purge --before DAY` count from the city's midnight
    (UTC+8), the day its people and the console's timelines use: at 01:00 in the city the UTC
    date is still the day before, which hid the morning's rows and refused today's date."""
    import time_machine

    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        for moment, action in (
            ("2026-12-04T15:30:00+00:00", "late_evening"),  # 23:30 on the 4th in the city
            ("2026-12-04T17:00:00+00:00", "small_hours"),  # 01:00 on the 5th in the city
        ):
            with time_machine.travel(datetime.fromisoformat(moment), tick=False):
                store.audit(actor="system:check", action=action)
    with time_machine.travel(datetime(2026, 12, 4, 17, 30, tzinfo=UTC), tick=False):
        code, out, _ = _run("audit", "--actor", "system:check", "--since", "2026-12-05")
        assert code == 0 and [line.split("\t")[2] for line in out.splitlines()] == ["small_hours"]
        assert out.startswith("2026-12-05T01:00:00+08:00\tsystem:check\tsmall_hours\t")
        code, out, err = _run("store", "purge", "--before", "2026-12-05", "--dry-run")
        assert code == 0, err
        code, _, err = _run("store", "purge", "--before", "2026-12-06")
        _one_error_line(code, err, "--before 2026-12-06 is after today (2026-12-05 in the city)")


def test_first_use_creates_a_private_secrets_file_and_rotation_keeps_old_keys(
    isolated_env: Path,
) -> None:
    path = secrets_path()
    assert not path.exists()
    first = load_secrets()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secrets().pseudonym_secret == first.pseudonym_secret  # stable once made
    assert first.pseudonym_secret not in repr(first)
    assert _run("store", "upgrade")[0] == 0  # the deployment's store: a rotation is audited
    code, out, _ = _run("secrets", "rotate")
    assert code == 0 and "back the file up" in out
    rotated = load_secrets()
    assert set(first.encryption_keys) < set(rotated.encryption_keys)
    assert rotated.current_key_id not in first.encryption_keys
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the rotation is an audit row naming the new key's id, never a key
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        rows = [r for r in store.audit_rows() if r["action"] == "encryption_key_rotated"]
    assert [(r["actor"], r["detail"]["key_id"]) for r in rows] == [
        (cli_actor(), rotated.current_key_id)
    ]
    assert not any(
        base64.b64encode(key).decode() in str(rows) for key in rotated.encryption_keys.values()
    )


def test_serve_refuses_a_group_readable_secrets_file(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_secrets()
    path = secrets_path()
    path.chmod(0o640)
    code, _, err = _run("serve", "--port", "3998")
    _one_error_line(code, err, str(path), "readable by group or others", "chmod 600")
    path.chmod(0o604)
    code, _, err = _run("users", "list")
    assert code != 0
    path.chmod(0o600)
    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", "from-the-environment-of-every-machine")
    from models.settings import get_settings

    get_settings.cache_clear()
    assert load_secrets().pseudonym_secret == "from-the-environment-of-every-machine"


@pytest.mark.parametrize(
    "args",
    [
        ("users", "list"),
        ("overdue",),
        ("audit", "--actor", "system:cli"),
        ("store", "purge", "--dry-run"),
        ("notify", "--dead"),
        ("departments", "set-capacity", "grid", "4"),
    ],
)
@pytest.mark.parametrize("problem", ["group-readable", "malformed"])
def test_every_command_refuses_an_unusable_secrets_file_in_one_line(
    isolated_env: Path, args: tuple[str, ...], problem: str
) -> None:
    assert _run("store", "upgrade")[0] == 0  # the store, and its secrets file
    path = secrets_path()
    if problem == "malformed":
        path.write_text("{not json")
    else:
        path.chmod(0o640)
    code, _, err = _run(*args)
    _one_error_line(code, err, str(path))


def test_keys_commands_refuse_a_malformed_or_unwritable_keys_file_in_one_line(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.settings import get_settings

    keys = isolated_env / "keys.json"
    keys.write_text("{not json")
    for args in (
        ("keys", "list"),
        ("keys", "create", "ops", "--scopes", "score"),
        ("keys", "revoke", "ops"),
    ):
        code, _, err = _run(*args)
        _one_error_line(code, err, f"keys file {keys} is malformed")
    assert keys.read_text() == "{not json"
    # JSON, but not a keys file (or a key without its fields): refused, never written over
    for text, needle in (('{"x": 1}', 'no "keys" list'), ('{"keys": [{"name": "a"}]}', "'scopes'")):
        keys.write_text(text)
        code, _, err = _run("keys", "create", "ops", "--scopes", "score")
        _one_error_line(code, err, f"keys file {keys} is malformed", needle)
        assert keys.read_text() == text
    assert not (isolated_env / "riskloop.db").exists()  # refused before the store was made
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()):  # the deployment's store, made as run does
        pass
    (isolated_env / "a-file").write_text("in the way")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(isolated_env / "a-file" / "keys.json"))
    get_settings.cache_clear()
    # the secrets file lives beside the keys file unless placed elsewhere: with the store
    # made, one that is not there is refused, never made (its keys would be new keys)
    code, _, err = _run("keys", "create", "ops", "--scopes", "score")
    _one_error_line(code, err, "no secrets file at", "restore the secrets file")
    # the secrets file the store was made with (a new one would be refused: another key)
    monkeypatch.setenv("RISKLOOP_SECRETS_FILE", str(isolated_env / "riskloop-secrets.json"))
    get_settings.cache_clear()
    code, _, err = _run("keys", "create", "ops", "--scopes", "score")
    _one_error_line(code, err, "cannot write the keys file")


def test_no_secret_value_is_written_in_the_code(isolated_env: Path) -> None:
    """No default secret in the product code, and the generated ones appear in no source."""
    load_secrets()
    generated = json.loads(secrets_path().read_text())
    values = [generated["pseudonym_secret"], generated["session_secret"]]
    values += list(generated["encryption_keys"].values())
    assignment = re.compile(
        r"(secret|password|passwd|token|api_key)\w*\s*[:=]\s*(SecretStr\()?[\"'][^\"']{6,}[\"']",
        re.IGNORECASE,
    )
    offending = []
    for folder in ("features", "models", "training", "serving", "data_samples"):
        for source in (PROJECT_ROOT / folder).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            offending += [f"{source.name}: {m.group(0)}" for m in assignment.finditer(text)]
            assert not any(value in text for value in values)
    assert offending == []
    assert "riskloop-local-development-secret" not in "".join(
        path.read_text(encoding="utf-8") for path in (PROJECT_ROOT / "models").rglob("*.py")
    )
    assert os.environ.get("RISKLOOP_PSEUDONYM_SECRET") is None


def test_departments_set_capacity_is_validated_and_audited(isolated_env: Path) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    code, _, err = _run("departments", "set-capacity", "labour_inspection", "40")
    _one_error_line(code, err, "no warnings store at")  # it changes a store, creates none
    assert _run("store", "upgrade")[0] == 0
    code, out, err = _run("departments", "set-capacity", "labour_inspection", "40")
    assert code == 0 and "labour_inspection: capacity 40 warnings a month (was not set)" in out
    code, out, err = _run("departments", "set-capacity", "labour_inspection", "35")
    assert code == 0 and "(was 40)" in out, err
    bad = {
        "unknown department 'moon'": ("moon", "3"),
        "not a whole number": ("tax", "1.5"),
        "'ten'": ("tax", "ten"),
        "from 0 to 1,000,000": ("tax", "2000000"),
    }
    for needle, args in bad.items():
        code, _, err = _run("departments", "set-capacity", *args)
        _one_error_line(code, err, needle)
    code, _, err = _run("departments", "set-capacity", "tax", "--", "-5")
    _one_error_line(code, err, "'-5'")
    with WarningStore.from_settings(get_settings()) as store:
        capacities = {row["code"]: row["capacity"] for row in store.list_departments()}
        story = [
            row["detail"] for row in store.audit_rows() if row["action"] == "department_capacity"
        ]
    assert capacities["labour_inspection"] == 35 and capacities["tax"] is None
    assert story == [
        {"department": "labour_inspection", "capacity": 40, "previous": None, "channel": "cli"},
        {"department": "labour_inspection", "capacity": 35, "previous": 40, "channel": "cli"},
    ]
