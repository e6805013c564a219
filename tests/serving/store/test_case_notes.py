"""Progress notes on a case in the store, on SQLite and PostgreSQL alike: a `note` event in the
case's history and a `case_note` audit row, the note scrubbed of ids as a step's is, and no
step: the status, version and deadline stay, so a form open on the case is not made stale."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from serving.store import StaleWarning, TransitionError, WarningNotFound, WarningStore

TASK = "wage-arrears"


def _warning(store: WarningStore, scored: Callable) -> str:
    (warning_id,) = store.record_scores(
        actor="key:scorer",
        task=TASK,
        model_name="riskloop-wage-arrears",
        model_version="1",
        results=[scored("91330500MA2B3C4D5E", 0.9, "red")],
    )
    assert warning_id is not None
    return warning_id


def test_a_note_is_history_and_audit_and_changes_no_version(
    store: WarningStore, scored: Callable
) -> None:
    warning_id = _warning(store, scored)
    store.add_feedback(
        warning_id, actor="user:sup", status="dispatched", department="labour_inspection",
        outcome=None, note=None,
    )  # fmt: skip
    before = store.get_warning(warning_id)
    after = store.add_note(
        warning_id,
        actor="user:lab",
        note="走访企业，负责人电话 13812345678，要求 91330500MA2B3C4D5E 一周内提交工资表",
    )
    # no step: status, department, version and deadline as they were
    for key in ("status", "department", "version", "due_at"):
        assert after[key] == before[key], key
    event = after["history"][-1]
    assert event["event"] == "note" and event["actor"] == "user:lab"
    # the phone number and the case's own id are pseudonymised as a step's note is
    assert "13812345678" not in event["note"] and "91330500MA2B3C4D5E" not in event["note"]
    assert event["note"].startswith("走访企业，负责人电话 ")
    (row,) = [r for r in store.audit_rows() if r["action"] == "case_note"]
    assert row["actor"] == "user:lab" and row["task"] == TASK
    assert row["detail"]["warning_id"] == warning_id and row["detail"]["note"] == event["note"]
    # a form drawn before the note is still the case's current version
    store.add_feedback(
        warning_id, actor="user:lab", status="in_progress", department=None, outcome=None,
        note=None, expected_version=before["version"],
    )  # fmt: skip
    assert store.get_warning(warning_id)["status"] == "in_progress"


def test_a_stale_form_names_who_stepped_not_who_noted(
    store: WarningStore, scored: Callable
) -> None:
    warning_id = _warning(store, scored)
    drawn = store.get_warning(warning_id)["version"]
    store.add_feedback(
        warning_id, actor="user:sup", status="dispatched", department="labour_inspection",
        outcome=None, note=None,
    )  # fmt: skip
    store.add_note(warning_id, actor="user:lab", note="已电话联系企业")
    with pytest.raises(StaleWarning) as stale:
        store.add_feedback(
            warning_id, actor="user:sup2", status="closed", department=None,
            outcome="false_alarm", note=None, expected_version=drawn,
        )  # fmt: skip
    assert stale.value.changed_by == "user:sup"


def test_no_note_on_a_closed_case_an_empty_note_or_no_case(
    store: WarningStore, scored: Callable
) -> None:
    warning_id = _warning(store, scored)
    with pytest.raises(TransitionError, match="needs text"):
        store.add_note(warning_id, actor="user:sup", note="   ")
    store.add_feedback(
        warning_id, actor="user:sup", status="closed", department=None, outcome="false_alarm",
        note=None,
    )  # fmt: skip
    with pytest.raises(TransitionError, match="closed warnings are final"):
        store.add_note(warning_id, actor="user:sup", note="补充说明")
    with pytest.raises(WarningNotFound):
        store.add_note("W-" + "0" * 32, actor="user:sup", note="补充说明")
    assert [e["event"] for e in store.get_warning(warning_id)["history"]] == [
        "raised",
        "disposition",
    ]
    assert not [r for r in store.audit_rows() if r["action"] == "case_note"]


def test_a_note_is_written_only_while_the_case_is_held_as_decided(
    store: WarningStore, scored: Callable
) -> None:
    """A re-route landing between the note's decision and its write: nothing is written for
    the department that no longer holds the case, and a step's answer is the case as its own
    transaction left it."""
    warning_id = _warning(store, scored)
    dispatched = store.add_feedback(
        warning_id, actor="user:sup", status="dispatched", department="labour_inspection",
        outcome=None, note=None,
    )  # fmt: skip
    assert dispatched["department"] == "labour_inspection"
    assert dispatched["history"][-1]["actor"] == "user:sup"
    decided_on = (dispatched["status"], dispatched["department"])
    noted = store.add_note(
        warning_id, actor="user:lab", note="已电话联系企业", expected_holder=decided_on
    )
    assert noted["history"][-1]["event"] == "note"
    store.add_feedback(
        warning_id, actor="user:sup", status="dispatched", department="township_labour",
        outcome=None, note=None,
    )  # fmt: skip
    with pytest.raises(StaleWarning) as stale:
        store.add_note(warning_id, actor="user:lab", note="再次走访", expected_holder=decided_on)
    assert stale.value.changed_by == "user:sup"
    history = store.get_warning(warning_id)["history"]
    assert [e["event"] for e in history].count("note") == 1
    assert history[-1]["event"] == "disposition"
    assert len([r for r in store.audit_rows() if r["action"] == "case_note"]) == 1


def test_the_same_note_sent_again_within_the_window_is_not_written_twice(
    store: WarningStore, scored: Callable
) -> None:
    from sqlalchemy import func, select, update

    from serving.store import RepeatedNote
    from serving.store.models import WarningEvent

    warning_id = _warning(store, scored)
    text = "走访企业，负责人电话 13812345678"  # scrubbed: compared as it is stored
    store.add_note(warning_id, actor="user:lab", note=text, once_within_s=600)
    with pytest.raises(RepeatedNote):
        store.add_note(warning_id, actor="user:lab", note=text, once_within_s=600)
    store.add_note(warning_id, actor="user:lab2", note=text, once_within_s=600)  # a colleague
    store.add_note(warning_id, actor="user:lab", note=text, once_within_s=600)  # after theirs
    store.add_note(warning_id, actor="user:lab", note=text)  # the API's: no window
    history = store.get_warning(warning_id)["history"]
    assert [e["actor"] for e in history if e["event"] == "note"] == [
        "user:lab",
        "user:lab2",
        "user:lab",
        "user:lab",
    ]
    with store.engine.begin() as connection:  # the latest note written 11 minutes ago
        latest = connection.execute(select(func.max(WarningEvent.id))).scalar_one()
        at = connection.execute(select(WarningEvent.at).where(WarningEvent.id == latest))
        connection.execute(
            update(WarningEvent)
            .where(WarningEvent.id == latest)
            .values(at=at.scalar_one() - timedelta(minutes=11))
        )
    store.add_note(warning_id, actor="user:lab", note=text, once_within_s=600)
    assert [e["event"] for e in store.get_warning(warning_id)["history"]].count("note") == 5
