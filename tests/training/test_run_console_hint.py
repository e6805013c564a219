"""`riskloop run` ends by saying where the console is, and that it has no account yet.

Its last lines gave the API key and `serving on http://...`: nothing named the console's
address, nor said that nobody could sign in before `riskloop users create`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.serving.test_people_cli import _run
from training.commands.main_job import announce_console, riskloop_command

HINT = (
    "riskloop run: no console account yet: create one first, e.g. {riskloop} users create admin "
    "--department data_office --role admin (it asks for the password)"
)


def test_the_console_address_and_the_first_account_hint(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    announce_console("http://127.0.0.1:3123")

    assert capsys.readouterr().err.splitlines() == [
        "riskloop run: console: http://127.0.0.1:3123/console/",
        HINT.format(riskloop=riskloop_command()),
    ]
    # the hint names a riskloop the shell runs as pasted: found by name, or a path that is there
    command = riskloop_command()
    assert shutil.which(command) is not None, command
    created = _run(
        "users", "create", "root-admin", "--department", "data_office", "--role", "admin",
        "--password-stdin", stdin="twelve chars ok\n",
    )  # fmt: skip
    assert created[0] == 0, created

    announce_console("http://127.0.0.1:3123")

    assert capsys.readouterr().err.splitlines() == [
        "riskloop run: console: http://127.0.0.1:3123/console/"
    ]
