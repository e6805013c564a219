"""The commands' tables keep their headers and titles whole when output is piped."""

from __future__ import annotations

import pytest
from rich.table import Table

from training.commands import PIPED_WIDTH, table_console


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
