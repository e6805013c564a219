"""A re-score that changes a warning's level moves the deadline it races (SQLite and PostgreSQL).

The new deadline is the stricter of the running one and the new level's, counted from the
re-score: a rise to red is dispatched within 24 hours of the rise, a fall relaxes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from serving.store import WarningStore

TASK = "wage-arrears"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _score(
    store: WarningStore, scored: Callable, *results: tuple[str, float, str]
) -> list[str | None]:
    return store.record_scores(
        actor="key:test",
        task=TASK,
        model_name="m",
        model_version="1",
        results=[scored(entity, score, level) for entity, score, level in results],
        as_of=T0.date(),
    )


def _due(store: WarningStore, warning_id: str | None) -> str | None:
    assert warning_id is not None
    return store.get_warning(warning_id)["due_at"]  # type: ignore[no-any-return]


def _feedback(store: WarningStore, warning_id: str | None, status: str) -> None:
    assert warning_id is not None
    store.add_feedback(
        warning_id,
        actor="user:sup",
        status=status,
        department="labour_inspection" if status == "dispatched" else None,
        outcome=None,
        note=None,
    )


def test_rises_tighten_the_running_deadline_from_the_rise_and_falls_relax_nothing(
    store: WarningStore, scored: Callable
) -> None:
    with time_machine.travel(T0, tick=False):
        orange, yellow, late, falling, started = _score(
            store,
            scored,
            ("employer-orange", 0.6, "orange"),
            ("employer-yellow", 0.4, "yellow"),
            ("employer-late", 0.6, "orange"),
            ("employer-falling", 0.9, "red"),
            ("employer-started", 0.6, "orange"),
        )
    with time_machine.travel(T0 + HOUR, tick=False):
        _feedback(store, started, "dispatched")
        _feedback(store, started, "in_progress")
    with time_machine.travel(T0 + 6 * HOUR, tick=False):
        # one request re-scores them all: the batch's one UPDATE writes each deadline
        _score(
            store,
            scored,
            ("employer-orange", 0.9, "red"),
            ("employer-yellow", 0.6, "orange"),
            ("employer-falling", 0.4, "yellow"),
            ("employer-started", 0.9, "red"),
        )
    with time_machine.travel(T0 + 60 * HOUR, tick=False):
        _score(store, scored, ("employer-late", 0.9, "red"))

    assert _due(store, orange) == (T0 + 6 * HOUR + 24 * HOUR).isoformat()
    assert _due(store, yellow) == (T0 + 6 * HOUR + 72 * HOUR).isoformat()
    # red from the rise would be T0 + 84 h: the orange deadline already running is earlier
    assert _due(store, late) == (T0 + 72 * HOUR).isoformat()
    assert _due(store, falling) == (T0 + 24 * HOUR).isoformat()
    assert _due(store, started) is None


def test_a_dispatched_case_rescored_red_races_reds_first_action_deadline(
    store: WarningStore, scored: Callable
) -> None:
    with time_machine.travel(T0, tick=False):
        (warning_id,) = _score(store, scored, ("employer-1", 0.6, "orange"))
    with time_machine.travel(T0 + 2 * HOUR, tick=False):
        _feedback(store, warning_id, "dispatched")
        assert _due(store, warning_id) == (T0 + 2 * HOUR + 7 * 24 * HOUR).isoformat()
    with time_machine.travel(T0 + 10 * HOUR, tick=False):
        _score(store, scored, ("employer-1", 0.9, "red"))
        assert _due(store, warning_id) == (T0 + 10 * HOUR + 72 * HOUR).isoformat()
    with time_machine.travel(T0 + 82 * HOUR + timedelta(seconds=1), tick=False):
        assert store.list_warnings(overdue=True)["total"] == 1
        assert store.note_overdue(actor="system:overdue") == [warning_id]


def test_the_overdue_sweep_follows_a_rise_to_red(store: WarningStore, scored: Callable) -> None:
    with time_machine.travel(T0, tick=False):
        (warning_id,) = _score(store, scored, ("employer-2", 0.6, "orange"))
    with time_machine.travel(T0 + 6 * HOUR, tick=False):
        _score(store, scored, ("employer-2", 0.9, "red"))
    with time_machine.travel(T0 + 30 * HOUR - timedelta(seconds=1), tick=False):
        assert store.note_overdue(actor="system:overdue") == []
    with time_machine.travel(T0 + 30 * HOUR + timedelta(seconds=1), tick=False):
        assert store.get_warning(warning_id)["overdue"] is True
        assert store.note_overdue(actor="system:overdue") == [warning_id]


@pytest.mark.parametrize("levels", [("orange", "red"), ("red", "orange", "red")])
def test_a_rise_within_one_request_gives_the_new_warning_the_higher_levels_deadline(
    store: WarningStore, scored: Callable, levels: tuple[str, ...]
) -> None:
    with time_machine.travel(T0, tick=False):
        ids = _score(
            store, scored, *[("employer-3", 0.5 + i / 10, level) for i, level in enumerate(levels)]
        )
    assert len(set(ids)) == 1
    assert _due(store, ids[0]) == (T0 + 24 * HOUR).isoformat()
