"""A red case in a real warnings store, for tests of what happens to late or dispatched cases."""

from __future__ import annotations

from serving.store import WarningStore


def raise_red_case(
    store: WarningStore, task: str, entity: str, department: str | None = None
) -> str:
    """A red warning of `task` for `entity`, scored by a model `m` version 1; dispatched by a
    supervisor to `department` when one is given. Answers its warning id."""
    (warning_id,) = store.record_scores(
        actor="scorer",
        task=task,
        model_name="m",
        model_version="1",
        results=[
            {
                "entity_id": entity,
                "score": 0.9,
                "risk_level": "red",
                "reasons": [],
                "actions": [],
                "features": {"x": 1},
            }
        ],
    )
    assert warning_id is not None
    if department is not None:
        store.add_feedback(
            warning_id,
            actor="user:sup",
            status="dispatched",
            department=department,
            outcome=None,
            note=None,
        )
    return warning_id
