"""`riskloop audit` as a QA tester at the server's shell found it.

A read of the audit log through the CLI left no row (GET /v1/audit writes `audit_read`), the
lines never showed a row's model version, and `users create` without a terminal or
`--password-stdin` printed Python's GetPassWarning and ` aborted` (exit 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.serving.test_people_cli import _one_error_line, _run
from training.commands import cli_actor

WARNING = "W-" + "ab" * 16
UNKNOWN = "W-" + "cd" * 16


def _write_a_case() -> None:
    """A warning's first rows as the service writes them: by `system:screen`, with the task
    and the model version."""
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        for action in ("score_request", "warning_raised"):
            store.audit(
                actor="system:screen",
                action=action,
                task="wage_arrears",
                model_version="7",
                detail={"warning_id": WARNING, "model_name": "riskloop-wage-arrears"},
            )
        store.audit(actor="system:screen", action="outbox_sweep", detail={"sent": 0})


def _reads() -> list[dict[str, Any]]:
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        rows = store.audit_rows(actor=cli_actor())
    return [row for row in rows if row["action"] == "audit_read"]


def test_a_cli_read_of_the_log_is_an_audit_read_row_like_the_apis(isolated_env: Path) -> None:
    _write_a_case()

    assert _run("audit", "--actor", "system:screen")[0] == 0
    assert _run("audit", "--warning", WARNING)[0] == 0
    code, _, err = _run("audit", "--actor", "system:screen", "--until", "2000-01-01")
    assert (code, err.strip()) == (0, "no audit rows")

    # the API's detail: the filter asked (`warning_id`, `of_actor`, `since`) and the rows
    assert [(row["task"], row["detail"]) for row in _reads()] == [
        (None, {"of_actor": "system:screen", "rows": 3, "channel": "cli"}),
        (None, {"warning_id": WARNING, "rows": 2, "channel": "cli"}),
        (
            None,
            {
                "of_actor": "system:screen",
                "until": "2000-01-01T16:00:00+00:00",
                "rows": 0,
                "channel": "cli",
            },
        ),
    ]
    # the read is in the case's story, after the rows it printed
    code, out, _ = _run("audit", "--warning", WARNING)
    assert code == 0
    assert [line.split("\t")[1:3] for line in out.splitlines()] == [
        ["system:screen", "score_request"],
        ["system:screen", "warning_raised"],
        [cli_actor(), "audit_read"],
    ]


def test_a_refused_cli_read_writes_nothing(isolated_env: Path) -> None:
    _write_a_case()

    code, _, err = _run("audit", "--warning", UNKNOWN)
    _one_error_line(code, err, UNKNOWN, "no warning has that id")
    code, _, err = _run("audit", "--actor", "system:screen", "--since", "last week")
    _one_error_line(code, err, "--since")
    assert _reads() == []
    # refused within a window of time too: no window holds the story of no warning
    code, _, err = _run("audit", "--warning", UNKNOWN, "--since", "2026-01-01")
    _one_error_line(code, err, UNKNOWN, "no warning has that id")
    assert _reads() == []
    # a read of the log that asked for the id (as an older release answered it) does not
    # make the id a warning's
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        store.audit(actor=cli_actor(), action="audit_read", detail={"warning_id": UNKNOWN})
    assert len(_reads()) == 1
    code, _, err = _run("audit", "--warning", UNKNOWN)
    _one_error_line(code, err, UNKNOWN, "no warning has that id")
    assert len(_reads()) == 1


def test_each_line_ends_with_the_rows_model_version(isolated_env: Path) -> None:
    _write_a_case()

    code, out, _ = _run("audit", "--actor", "system:screen")

    assert code == 0
    lines = [line.split("\t") for line in out.splitlines()]
    assert {len(fields) for fields in lines} == {6}
    assert [(fields[2], fields[3], fields[5]) for fields in lines] == [
        ("score_request", "wage_arrears", "7"),
        ("warning_raised", "wage_arrears", "7"),
        ("outbox_sweep", "-", "-"),
    ]
    # the details keep their place: the fifth column
    assert json.loads(lines[1][4]) == {"model_name": "riskloop-wage-arrears", "warning_id": WARNING}


def _without_a_terminal(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a session of its own (no controlling terminal), stdin /dev/null."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("riskloop")), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        start_new_session=True,
        timeout=60,
        check=False,
    )


def test_a_password_without_a_terminal_or_stdin_is_one_error_line(isolated_env: Path) -> None:
    assert _run(
        "users", "create", "alice", "--department", "grid", "--role", "officer",
        "--password-stdin", stdin="twelve chars ok\n",
    )[0] == 0  # fmt: skip

    for args in (
        ("users", "create", "nopw", "--department", "grid", "--role", "officer"),
        ("users", "reset-password", "alice"),
    ):
        done = _without_a_terminal(*args)
        assert (done.returncode, done.stdout) == (2, ""), (args, done.stderr)
        assert done.stderr == (
            "error: no terminal to ask the password on: use --password-stdin\n"
        ), args

    code, out, _ = _run("users", "list")
    assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == ["alice"]
    code, out, _ = _run("audit", "--actor", cli_actor())
    assert [line.split("\t")[2] for line in out.splitlines()] == ["user_created"]
