"""`riskloop overdue --task T [--department D]` notes only the late cases it was asked about.

The sweep writes history, audit rows and `warning.overdue` webhooks: a sweep for one task (or
one department) must leave the other cases' deadlines for their own sweep, or the service's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from typer.testing import CliRunner

from serving.store import WarningStore
from serving.store.outbox import Outbox
from tests.red_cases import raise_red_case
from training.cli import app

HOOKED = ("county_centre", "anti_fraud", "labour_inspection", "township_labour")


def _late_cases() -> dict[str, str]:
    """Four red cases raised ten days ago, every one past its deadline now: wage-arrears open
    (waits on its owner, county_centre), wage-arrears dispatched to labour_inspection and
    to township_labour, telecom-fraud open (waits on anti_fraud). Every department is hooked."""
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    with time_machine.travel(ten_days_ago, tick=False), WarningStore.from_settings() as store:
        for department in HOOKED:
            Outbox(store).set_webhook(
                department, f"http://127.0.0.1:9/{department}", now=ten_days_ago
            )
        cases = {
            "wage_open": raise_red_case(store, "wage-arrears", "employer-1"),
            "wage_labour": raise_red_case(store, "wage-arrears", "employer-2", "labour_inspection"),
            "wage_township": raise_red_case(store, "wage-arrears", "employer-3", "township_labour"),
            "fraud_open": raise_red_case(store, "telecom-fraud", "account-1"),
        }
    return cases


def _overdue(*options: str) -> str:
    """Run `riskloop overdue` as a cron job would, in this process (what a sweep notes is
    read back from the store, not from the process); its stdout."""
    done = CliRunner().invoke(app, ["overdue", *options])
    assert done.exit_code == 0, done.output
    return done.stdout


def _noted() -> dict[str, int]:
    """Warning id -> its `overdue` history events, and a `hooks` count of queued webhooks."""
    with WarningStore.from_settings() as store:
        noted = {
            warning["id"]: sum(event["event"] == "overdue" for event in warning["history"])
            for warning in (
                store.get_warning(item["id"]) for item in store.list_warnings()["items"]
            )
        }
        hooks = [
            (event["warning_id"], event["department"])
            for event in Outbox(store).events()
            if event["type"] == "warning.overdue"
        ]
    return {**noted, "hooks": len(hooks)}


def test_overdue_sweeps_only_the_task_and_department_asked_for(isolated_env: Path) -> None:
    cases = _late_cases()
    none = {warning_id: 0 for warning_id in cases.values()}

    out = _overdue("--task", "telecom-fraud")
    assert out.splitlines()[-1] == "1 overdue case(s); 1 newly overdue recorded"
    assert _noted() == {**none, cases["fraud_open"]: 1, "hooks": 1}

    # a department by its Chinese name, as a dispatch takes it
    out = _overdue("--task", "wage-arrears", "--department", "劳动保障监察大队")
    assert out.splitlines()[-1] == "1 overdue case(s); 1 newly overdue recorded"
    # its deadline in the city's time, as the console and `riskloop audit` show it
    due = out.splitlines()[0].split("\t")[6]
    assert due.startswith("due ") and due.endswith("+08:00"), due
    assert _noted() == {**none, cases["fraud_open"]: 1, cases["wage_labour"]: 1, "hooks": 2}

    out = _overdue("--department", "County conflict-resolution centre")
    assert out.splitlines()[-1] == "1 overdue case(s); 1 newly overdue recorded"
    assert _noted() == {
        **none,
        cases["fraud_open"]: 1,
        cases["wage_labour"]: 1,
        cases["wage_open"]: 1,
        "hooks": 3,
    }

    out = _overdue()  # no filter: every case left, as the service's sweep does
    assert out.splitlines()[-1] == "4 overdue case(s); 1 newly overdue recorded"
    assert _noted() == {**{warning_id: 1 for warning_id in cases.values()}, "hooks": 4}


def test_overdue_outside_sweeps_the_cases_at_outside_bodies(isolated_env: Path) -> None:
    """`--department outside` (the console's filter of every outside body) notes and lists the
    late cases dispatched to a name no department has, and no other."""
    cases = _late_cases()
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    with time_machine.travel(ten_days_ago, tick=False), WarningStore.from_settings() as store:
        outside = raise_red_case(store, "wage-arrears", "employer-4")
        store.add_feedback(
            outside,
            actor="user:sup",
            status="dispatched",
            department="Huzhou legal aid foundation",
            outcome=None,
            note=None,
        )

    out = _overdue("--department", " Outside ")
    lines = out.splitlines()
    assert lines[-1] == "1 overdue case(s); 1 newly overdue recorded"
    assert lines[0].split("\t")[:1] + lines[0].split("\t")[5:6] == [
        outside,
        "Huzhou legal aid foundation",
    ]
    # noted in its history and audit; no webhook: an outside body has none
    assert _noted() == {**{warning_id: 0 for warning_id in cases.values()}, outside: 1, "hooks": 0}
    # the console's other spellings of the choice, its labels' short names included
    for spelling in ("外部机构", "Outside bodies", "OUTSIDE"):
        listed = _overdue("--department", spelling).splitlines()
        assert listed[-1] == "1 overdue case(s); 0 newly overdue recorded", spelling
