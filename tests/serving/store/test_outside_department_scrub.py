"""An outside body's name typed as a dispatch's department is free text: its id-like values are
stored, shown and audited as pseudonyms, as a note's are; a known department's code is kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from serving.store import TransitionError, WarningStore
from serving.store.pseudonym import pseudonymise
from tests.serving.store.conftest import SECRET

TASK = "wage-arrears"


def _warning(store: WarningStore, scored: Callable[..., dict[str, object]]) -> str:
    (warning_id,) = store.record_scores(
        actor="scorer-key",
        task=TASK,
        model_name="riskloop-wage-arrears",
        model_version="1",
        results=[scored("E-1", 0.9, "red")],
    )
    assert warning_id is not None
    return warning_id


def _stored_text(store: WarningStore) -> str:
    """Every row of the warnings, their history and the audit log, as text."""
    with store.engine.connect() as connection:
        return "\n".join(
            str(tuple(row))
            for table in ("warnings", "warning_history", "audit_log")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        )


@pytest.mark.parametrize(
    ("typed", "number", "kept"),
    [
        ("lawyer 13812340099", "13812340099", "lawyer "),
        ("律师 330521199001011237", "330521199001011237", "律师 "),
    ],
)
def test_an_outside_bodys_number_is_stored_and_shown_as_its_pseudonym(
    store: WarningStore,
    scored: Callable[..., dict[str, object]],
    typed: str,
    number: str,
    kept: str,
) -> None:
    warning_id = _warning(store, scored)
    answer = store.add_feedback(
        warning_id,
        actor="user:sup",
        status="dispatched",
        department=typed,
        outcome=None,
        note=None,
    )
    expected = f"{kept}[id:{pseudonymise(SECRET, number)}]"
    assert answer["department"] == expected
    assert store.get_warning(warning_id)["department"] == expected
    (step,) = [event for event in answer["history"] if event["event"] == "disposition"]
    assert step["department"] == expected
    assert number not in _stored_text(store)
    # the same name typed again is the same department: the step is refused as a no-op
    with pytest.raises(TransitionError, match="already dispatched"):
        store.add_feedback(
            warning_id,
            actor="user:sup",
            status="dispatched",
            department=typed,
            outcome=None,
            note=None,
        )
    # and a later step that names it as sent is taken as naming the case's department
    moved = store.add_feedback(
        warning_id,
        actor="user:sup",
        status="in_progress",
        department=typed,
        outcome=None,
        note=None,
    )
    assert moved["department"] == expected


def test_a_known_departments_code_and_a_plain_outside_name_are_kept_as_sent(
    store: WarningStore, scored: Callable[..., dict[str, object]]
) -> None:
    warning_id = _warning(store, scored)
    first = store.add_feedback(
        warning_id,
        actor="user:sup",
        status="dispatched",
        department="labour_inspection",
        outcome=None,
        note=None,
    )
    assert first["department"] == "labour_inspection"
    second = store.add_feedback(
        warning_id,
        actor="user:sup",
        status="dispatched",
        department="Legal Aid Centre, room 2024",
        outcome=None,
        note=None,
    )
    assert second["department"] == "Legal Aid Centre, room 2024"
