"""The commands' tables keep their headers and titles whole when output is piped, and a transient
progress bar draws only on a terminal (standard error's)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from training.commands import PIPED_WIDTH, print_table, table_console, transient_progress


def test_piped_tables_are_laid_out_wide_unless_columns_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    console = table_console()  # pytest captures stdout: not a terminal
    assert not console.is_terminal and console.width == PIPED_WIDTH
    table = Table(title="wage-arrears: screened as of 2026-01-01, 1,000 units")
    for name in ("false_alarm_share", "unreachable_share", "feature", "PSI", "state"):
        table.add_column(name)
    table.add_row("0.10", "0.02", "si_arrears_months_3m", "0.013", "stable")
    console.print(table)
    out = capsys.readouterr().out
    assert "false_alarm_share" in out and "unreachable_share" in out
    assert "screened as of 2026-01-01, 1,000 units" in out  # the title on one line
    monkeypatch.setenv("COLUMNS", "100")
    assert table_console().width == 100


def test_a_title_wider_than_its_few_columns_stays_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A screening's level table has three short columns: its title is a line of its own, not
    wrapped to the table's width ("telecom-fraud screened as" / "of 2026-01-01: 3783 units"),
    and text, not markup; the table keeps its own width and its title for another print."""
    monkeypatch.delenv("COLUMNS", raising=False)
    title = "telecom-fraud screened as of 2026-01-01: 3783 units [red]"
    table = Table(title=title)
    for column in ("level", "units", "share"):
        table.add_column(column)
    table.add_row("red", "36", "1.0%")
    print_table(table_console(), table)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == title, lines
    assert lines[1].startswith("┏") and len(lines[1]) < len(title), lines
    assert "1.0%" in lines[4]
    assert table.title == title
    monkeypatch.setenv("COLUMNS", "30")  # a terminal narrower than the title: wrapped at it
    print_table(table_console(), table)
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 30, lines
    assert " ".join(line.strip() for line in lines[:2]) == title, lines


def test_a_transient_bar_draws_only_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """`riskloop screen`, `score` and `train` piped to a file began with a blank line: all a
    transient bar leaves where output is no terminal. There it is not drawn; on a terminal it
    is."""
    with transient_progress() as progress:  # pytest captures stderr: not a terminal
        progress.update(progress.add_task("scoring", total=2), advance=2)
    print("result")
    assert capsys.readouterr().out == "result\n"
    drawn = io.StringIO()
    with transient_progress(console=Console(file=drawn, force_terminal=True)) as progress:
        progress.update(progress.add_task("scoring", total=2), advance=2)
    assert "scoring" in drawn.getvalue()


def test_the_bar_draws_on_a_terminal_while_the_results_go_to_a_pipe() -> None:
    """`riskloop train | tee train.log` showed nothing until the training was done: the bar was
    drawn on the output, a pipe there. It is drawn on standard error, a terminal here, and the
    output holds the results only."""
    script = (
        "import time\n"
        "from training.commands import transient_progress\n"
        "with transient_progress() as progress:\n"
        "    step = progress.add_task('wage-arrears: building features', total=3)\n"
        "    for _ in range(3):\n"
        "        time.sleep(0.3)\n"
        "        progress.update(step, advance=1)\n"
        "print('result')\n"
    )
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=follower,
        cwd=Path(__file__).resolve().parents[2],
        env=env,
    ) as process:
        os.close(follower)
        out, _ = process.communicate(timeout=60)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert process.returncode == 0
    assert out == b"result\n"
    assert b"wage-arrears: building features" in drawn, drawn
