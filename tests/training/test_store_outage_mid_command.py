"""A warnings store that stops answering in the middle of a command (its PostgreSQL server
restarted while `riskloop screen` wrote) ends the command in one line, exit 2, saying to run it
again; it ended in a 154-line traceback (`InvalidatePoolError`, `OperationalError`)."""

from __future__ import annotations

import sqlite3

import pytest
import typer
from sqlalchemy.exc import OperationalError

import serving.store.common  # noqa: F401 - loaded, as a command that opened the store has it
from training.errors import user_errors


def test_an_outage_mid_command_is_one_line_saying_to_run_it_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lost = OperationalError(
        "INSERT INTO warnings ...", {}, sqlite3.OperationalError("server closed the connection")
    )
    with pytest.raises(typer.Exit) as ended, user_errors():
        raise lost
    assert ended.value.exit_code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: the warnings store stopped answering (OperationalError: ")
    assert "run it again once the store answers" in line and "INSERT" not in line


def test_any_other_error_is_left_alone() -> None:
    with pytest.raises(KeyError), user_errors():
        raise KeyError("a defect: its traceback is for whoever fixes it")
