"""The disposition state machine, checked exhaustively against an independent statement of it."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from serving.store import TransitionError, WarningStore, check_transition

STATUSES = ("open", "dispatched", "in_progress", "closed")
OUTCOMES = (None, "confirmed", "prevented", "false_alarm", "unreachable")
DEPARTMENTS = (None, "labour", "police")  # "labour" is where a dispatched warning already is
CURRENT_DEPARTMENT = {
    "open": None,
    "dispatched": "labour",
    "in_progress": "labour",
    "closed": "labour",
}
# steps that bring a fresh warning to each status
PATHS = {
    "open": [],
    "dispatched": [("dispatched", "labour", None)],
    "in_progress": [("dispatched", "labour", None), ("in_progress", None, None)],
    "closed": [
        ("dispatched", "labour", None),
        ("in_progress", None, None),
        ("closed", None, "confirmed"),
    ],
}


def expected_valid(current: str, status: str, department: str | None, outcome: str | None) -> bool:
    """The rules as documented, written out case by case."""
    same_department = department in (None, CURRENT_DEPARTMENT[current])
    if (current, status) == ("open", "dispatched"):
        return department is not None and outcome is None
    if (current, status) == ("dispatched", "dispatched"):
        return department == "police" and outcome is None
    if (current, status) == ("dispatched", "in_progress"):
        return same_department and outcome is None
    if (current, status) in {("open", "closed"), ("dispatched", "closed")}:
        return same_department and outcome in {"false_alarm", "unreachable"}
    if (current, status) == ("in_progress", "closed"):
        return same_department and outcome is not None
    return False


CASES = list(itertools.product(STATUSES, STATUSES, DEPARTMENTS, OUTCOMES))


@pytest.mark.parametrize(("current", "status", "department", "outcome"), CASES)
def test_check_transition_matches_the_documented_rules(
    current: str, status: str, department: str | None, outcome: str | None
) -> None:
    args = (current, status, department, outcome, CURRENT_DEPARTMENT[current])
    if expected_valid(current, status, department, outcome):
        check_transition(*args)
    else:
        with pytest.raises(TransitionError) as refused:
            check_transition(*args)
        assert str(refused.value)  # a reason, for the 409 body


def _natural_fields(current: str, status: str) -> tuple[str | None, str | None]:
    """The fields a well-meaning caller sends for this step."""
    department = "police" if status == "dispatched" else None
    if status != "closed":
        return department, None
    return department, "confirmed" if current == "in_progress" else "false_alarm"


@pytest.mark.parametrize(("current", "status"), list(itertools.product(STATUSES, STATUSES)))
def test_store_applies_or_refuses_each_status_pair(
    store: WarningStore, scored: Callable[..., dict], current: str, status: str
) -> None:
    (warning_id,) = store.record_scores(
        actor="scorer",
        task="wage-arrears",
        model_name="m",
        model_version="1",
        results=[scored("E1", 0.9, "red")],
    )
    for step_status, step_department, step_outcome in PATHS[current]:
        store.add_feedback(
            warning_id,
            actor="clerk",
            status=step_status,
            department=step_department,
            outcome=step_outcome,
            note=None,
        )
    before = store.get_warning(warning_id)
    department, outcome = _natural_fields(current, status)
    if expected_valid(current, status, department, outcome):
        after = store.add_feedback(
            warning_id,
            actor="reviewer",
            status=status,
            department=department,
            outcome=outcome,
            note="step",
        )
        assert after["status"] == status
        last = after["history"][-1]
        assert (last["event"], last["actor"], last["from"], last["to"]) == (
            "disposition",
            "reviewer",
            current,
            status,
        )
        assert after["outcome"] == outcome
        assert (after["closed_at"] is not None) == (status == "closed")
    else:
        with pytest.raises(TransitionError):
            store.add_feedback(
                warning_id,
                actor="reviewer",
                status=status,
                department=department,
                outcome=outcome,
                note=None,
            )
        assert store.get_warning(warning_id) == before  # a refused step changes nothing


def test_every_path_to_closed(store: WarningStore, scored: Callable[..., dict]) -> None:
    """Triage dismissal, re-routing, and the full handled path all end closed, in order."""
    ids = store.record_scores(
        actor="scorer",
        task="telecom-fraud",
        model_name="m",
        model_version="1",
        results=[scored(f"R{i}", 0.5, "yellow") for i in range(3)],
    )
    paths = [
        [("closed", None, "unreachable")],
        [("dispatched", "police", None), ("closed", None, "false_alarm")],
        [
            ("dispatched", "police", None),
            ("dispatched", "community", None),
            ("in_progress", None, None),
            ("closed", None, "prevented"),
        ],
    ]
    for warning_id, path in zip(ids, paths, strict=True):
        for status, department, outcome in path:
            store.add_feedback(
                warning_id,
                actor="clerk",
                status=status,
                department=department,
                outcome=outcome,
                note=None,
            )
        history = store.get_warning(warning_id)["history"]
        assert [event["to"] for event in history[1:]] == [step[0] for step in path]
    closed = store.list_warnings(status="closed")
    assert closed["total"] == 3
    assert {item["outcome"] for item in closed["items"]} == {
        "unreachable",
        "false_alarm",
        "prevented",
    }


def test_refusal_messages_say_why(store: WarningStore, scored: Callable[..., dict]) -> None:
    (warning_id,) = store.record_scores(
        actor="scorer",
        task="wage-arrears",
        model_name="m",
        model_version="1",
        results=[scored("E1", 0.9, "red")],
    )
    with pytest.raises(TransitionError, match="department"):
        store.add_feedback(
            warning_id, actor="c", status="dispatched", department=None, outcome=None, note=None
        )
    with pytest.raises(TransitionError, match="in_progress"):
        store.add_feedback(
            warning_id, actor="c", status="closed", department=None, outcome="confirmed", note=None
        )
    with pytest.raises(TransitionError, match="unknown status"):
        store.add_feedback(
            warning_id, actor="c", status="done", department=None, outcome=None, note=None
        )
    # the data office audits every task and works none: no case waits there for nobody
    with pytest.raises(TransitionError, match="works no case"):
        store.add_feedback(
            warning_id,
            actor="c",
            status="dispatched",
            department="data_office",
            outcome=None,
            note=None,
        )
    store.add_feedback(
        warning_id, actor="c", status="closed", department=None, outcome="false_alarm", note=None
    )
    with pytest.raises(TransitionError, match="final"):
        store.add_feedback(
            warning_id, actor="c", status="in_progress", department=None, outcome=None, note=None
        )


@pytest.mark.parametrize("task", ["wage-arrears", "telecom-fraud", "dispute-escalation"])
def test_a_case_goes_only_to_a_known_department_that_handles_its_task(
    store: WarningStore, scored: Callable[..., dict], task: str
) -> None:
    """Every known department, for each task: those that handle the task take the case (and a
    re-route between them), the others are refused with the ones that would, and a refused
    dispatch changes nothing; a name riskloop does not know is an outside body's, kept."""
    from serving.policy import department_tasks

    handling = department_tasks()
    (warning_id,) = store.record_scores(
        actor="scorer",
        task=task,
        model_name="m",
        model_version="1",
        results=[scored("E1", 0.9, "red")],
    )
    taken = 0
    for department, tasks in handling.items():
        before = store.get_warning(warning_id)
        if task in tasks and department != "data_office":
            store.add_feedback(
                warning_id, actor="c", status="dispatched", department=department,
                outcome=None, note=None,
            )  # fmt: skip
            taken += 1
            continue
        with pytest.raises(TransitionError) as refused:
            store.add_feedback(
                warning_id, actor="c", status="dispatched", department=department,
                outcome=None, note=None,
            )  # fmt: skip
        if department != "data_office":
            assert f"{department!r} does not handle {task}" in str(refused.value)
            assert "county_centre" in str(refused.value)
        assert store.get_warning(warning_id) == before
    assert taken >= 3
    after = store.add_feedback(
        warning_id, actor="c", status="dispatched", department="Township office (outside)",
        outcome=None, note=None,
    )  # fmt: skip
    assert after["department"] == "Township office (outside)"
