"""`riskloop overdue --department A,B` notes and lists the late cases waiting on any of them.

Like `riskloop audit --action a,b`, the department filter takes a comma list (each item a code,
a name in either language, or `outside`); an item naming no department is refused in one line
naming it, before anything is noted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from typer.testing import CliRunner

from serving.store import WarningStore
from tests.cli_results import one_error_line
from tests.red_cases import raise_red_case
from training.cli import app


def _noted() -> set[str]:
    """The warnings with an `overdue` event in their history."""
    with WarningStore.from_settings() as store:
        return {
            item["id"]
            for item in store.list_warnings()["items"]
            if any(
                event["event"] == "overdue" for event in store.get_warning(item["id"])["history"]
            )
        }


def test_overdue_takes_a_comma_list_of_departments(isolated_env: Path) -> None:
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    with time_machine.travel(ten_days_ago, tick=False), WarningStore.from_settings() as store:
        cases = {
            "county": raise_red_case(store, "wage-arrears", "employer-1", None),  # its owner's
            "labour": raise_red_case(store, "wage-arrears", "employer-2", "labour_inspection"),
            "township": raise_red_case(store, "wage-arrears", "employer-3", "township_labour"),
            "fraud": raise_red_case(store, "telecom-fraud", "account-1", None),  # anti_fraud's
            "outside": raise_red_case(store, "wage-arrears", "employer-4", "Huzhou legal aid"),
        }
    runner = CliRunner()

    refused = runner.invoke(app, ["overdue", "--department", "labour_inspection,nowhere"])
    one_error_line(refused, "unknown department 'nowhere'")
    assert _noted() == set()  # nothing noted for the items before the unknown one

    # a code, a Chinese name and the outside bodies, with a space and a repeated department
    done = runner.invoke(
        app, ["overdue", "--department", "labour_inspection, 反诈中心,outside,劳动保障监察大队"]
    )
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[-1] == "3 overdue case(s); 3 newly overdue recorded"
    assert {line.split("\t")[0] for line in lines[:-1]} == {
        cases["labour"],
        cases["fraud"],
        cases["outside"],
    }
    assert _noted() == {cases["labour"], cases["fraud"], cases["outside"]}

    # repeated, as `riskloop audit --action`: the other two
    done = runner.invoke(
        app,
        [
            "overdue",
            "--department",
            "township_labour",
            "--department",
            "County conflict-resolution centre",
        ],
    )
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[-1] == "2 overdue case(s); 2 newly overdue recorded"
    assert _noted() == set(cases.values())
