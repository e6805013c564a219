"""A missed deadline's audit row (`warning_overdue`) says the channel it came through, as every
other audit row does: `cli` when `riskloop overdue` noted it; none when the service's own sweep
did (its work has no channel, docs/privacy.md). It had no channel either way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from typer.testing import CliRunner

from serving.store import WarningStore
from tests.red_cases import raise_red_case
from training.cli import app


def test_overdue_rows_say_the_cli_channel_and_the_services_sweep_none(isolated_env: Path) -> None:
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    with time_machine.travel(ten_days_ago, tick=False), WarningStore.from_settings() as store:
        by_command = raise_red_case(store, "wage-arrears", "employer-1")

    done = CliRunner().invoke(app, ["overdue"])
    assert done.exit_code == 0, done.output

    with time_machine.travel(ten_days_ago, tick=False), WarningStore.from_settings() as store:
        by_service = raise_red_case(store, "wage-arrears", "employer-2")
    with WarningStore.from_settings() as store:
        # as the service's delivery thread sweeps (`Deliverer.run_once`): no channel set
        assert store.note_overdue(actor="system:overdue") == [by_service]
        rows = store.audit_rows(actions=["warning_overdue"])

    channels = {row["detail"]["warning_id"]: row["detail"].get("channel") for row in rows}
    assert channels == {by_command: "cli", by_service: None}
