"""The CLI's people and keys as an operator reads them: one clock, and one name per actor.

`users list` and `keys list` printed `created ...+00:00` while `audit` printed the city's time
(+08:00), the README's clock; and a person and an API key could share a name, so
`audit --actor ingest` printed `key:ingest`'s and `user:ingest`'s rows as one story.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import time_machine

from tests.serving.test_people_cli import _one_error_line, _run
from training.commands import cli_actor

PASSWORD = "twelve chars ok"
CITY_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")


def _create_user(name: str) -> tuple[int, str, str]:
    return _run(
        "users", "create", name, "--department", "tax", "--role", "officer",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip


def test_users_and_keys_list_their_times_in_the_citys_clock(isolated_env: Path) -> None:
    # 23:30 UTC is already the next day in the city
    with time_machine.travel(datetime(2026, 12, 5, 23, 30, 7, tzinfo=UTC), tick=False):
        assert _create_user("alice")[0] == 0
        assert _run("keys", "create", "desk", "--scopes", "review")[0] == 0
        assert _run("keys", "revoke", "desk")[0] == 0
        assert _run("users", "disable", "alice")[0] == 0
    code, out, _ = _run("users", "list")
    assert code == 0
    fields = out.strip().split("\t")
    assert fields[5] == "created 2026-12-06T07:30:07+08:00"
    assert fields[6] == "disabled 2026-12-06T07:30:07+08:00"
    code, out, _ = _run("keys", "list")
    fields = out.strip().split("\t")
    assert fields[4] == "created 2026-12-06T07:30:07+08:00"
    assert fields[5] == "revoked 2026-12-06T07:30:07+08:00"
    code, out, _ = _run("audit", "--actor", cli_actor())
    assert code == 0
    assert {line.split("\t")[0] for line in out.splitlines()} == {"2026-12-06T07:30:07+08:00"}
    assert all(CITY_MOMENT.match(line.split("\t")[0]) for line in out.splitlines())


def test_a_person_cannot_take_an_api_keys_name(isolated_env: Path) -> None:
    assert _run("keys", "create", "ingest", "--scopes", "score")[0] == 0
    code, _, err = _create_user("ingest")
    _one_error_line(code, err, "'ingest' is the name of an API key")
    code, out, _ = _run("users", "list")
    assert out.strip() == "no users"
    # a revoked key's rows stay in the log under its name: still taken
    assert _run("keys", "revoke", "ingest")[0] == 0
    _one_error_line(*_create_user("ingest")[::2], "API key")


def test_a_bare_actor_naming_both_a_person_and_a_key_asks_which(isolated_env: Path) -> None:
    """A key an older riskloop created after the person can still share the name (`keys
    create` now refuses it): `audit` then asks for the prefix instead of printing two actors'
    rows as one story."""
    from serving.auth import issue_key

    assert _create_user("ingest")[0] == 0
    code, out, err = _run("keys", "create", "ingest", "--scopes", "score")
    _one_error_line(code, err, "'ingest' is a person's name")
    assert out == ""
    issue_key("ingest", ["score"])  # as an older `keys create` did
    code, _, err = _run("audit", "--actor", "ingest")
    _one_error_line(code, err, "both a person and an API key", "user:ingest", "key:ingest")
    code, out, err = _run("audit", "--actor", "user:ingest")
    assert (code, out, err.strip()) == (0, "", "no audit rows")
    # a name that is only a person's (or only a key's) still needs no prefix
    assert _create_user("alice")[0] == 0
    assert _run("audit", "--actor", "alice")[0] == 0
