"""The console's words, read as a case worker reads them (no server: the pure view functions
the case page and the explanation page share)."""

from __future__ import annotations

from serving.console.case import timeline
from serving.console.i18n import Messages


def test_a_timelines_steps_are_worded_alike() -> None:
    """In English every step of a history starts with a capital, whether it is named by its
    event (Warning raised, Overdue) or by the form that took it (Dispatch)."""
    history = [
        {
            "event": "raised",
            "at": "2026-05-06T02:00:00+00:00",
            "actor": "key:ingest",
            "score": 0.9,
            "risk_level": "red",
        },
        {
            "event": "overdue",
            "at": "2026-05-07T02:00:00+00:00",
            "actor": "system:overdue",
            "deadline": "dispatch",
            "due_at": "2026-05-07T02:00:00+00:00",
        },
        {
            "event": "disposition",
            "at": "2026-05-07T03:00:00+00:00",
            "actor": "user:sup",
            "from": "open",
            "to": "dispatched",
            "department": "tax",
        },
    ]
    items = timeline(history, Messages("en"), person=str, department_name=str)
    assert [item["event"] for item in items] == ["Warning raised", "Overdue", "Dispatch"]
