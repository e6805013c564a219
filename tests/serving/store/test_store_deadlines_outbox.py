"""Response deadlines and the transactional outbox, in the store itself (SQLite and PostgreSQL).

The clock is frozen with time-machine: `datetime.now` answers the travelled time in this
process, so the store's own clock moves without any change to the code under test.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from serving.screening import SCREEN_ACTOR, warned_after
from serving.store import TransitionError, WarningStore
from serving.store.outbox import Outbox

TASK = "wage-arrears"  # owner department: county_centre (features.tasks)
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _raise(store: WarningStore, scored: Callable, entity: str, level: str = "red") -> str:
    (warning_id,) = store.record_scores(
        actor="key:test",
        task=TASK,
        model_name="m",
        model_version="1",
        results=[scored(entity, 0.9, level)],
        as_of=T0.date(),
    )
    assert warning_id is not None
    return warning_id


def _events(store: WarningStore, warning_id: str, name: str) -> list[dict]:
    return [e for e in store.get_warning(warning_id)["history"] if e["event"] == name]


def test_red_case_is_overdue_after_24_hours_undispatched_once(
    store: WarningStore, scored: Callable
) -> None:
    with time_machine.travel(T0, tick=False):
        warning_id = _raise(store, scored, "employer-1")
        assert store.get_warning(warning_id)["due_at"] == (T0 + timedelta(hours=24)).isoformat()
    with time_machine.travel(T0 + timedelta(hours=23, minutes=59), tick=False):
        assert store.note_overdue(actor="system:overdue") == []
        assert store.list_warnings(overdue=True)["total"] == 0
        assert store.get_warning(warning_id)["overdue"] is False
    with time_machine.travel(T0 + timedelta(hours=24, seconds=1), tick=False):
        assert store.list_warnings(overdue=True)["total"] == 1
        assert store.list_warnings(overdue=False)["total"] == 0
        assert store.get_warning(warning_id)["overdue"] is True
        assert store.note_overdue(actor="system:overdue") == [warning_id]
        assert store.note_overdue(actor="system:overdue") == []
    with time_machine.travel(T0 + timedelta(days=5), tick=False):
        assert store.note_overdue(actor="system:overdue") == []
    (overdue,) = _events(store, warning_id, "overdue")
    assert overdue["deadline"] == "dispatch"
    assert overdue["department"] == "county_centre"
    assert overdue["actor"] == "system:overdue"
    assert [row["action"] for row in store.audit_rows()].count("warning_overdue") == 1


def test_each_disposition_moves_the_deadline_and_each_missed_deadline_counts_once(
    store: WarningStore, scored: Callable
) -> None:
    with time_machine.travel(T0, tick=False):
        warning_id = _raise(store, scored, "employer-2")
    with time_machine.travel(T0 + timedelta(hours=30), tick=False):
        assert store.note_overdue(actor="system:overdue") == [warning_id]
        store.add_feedback(
            warning_id,
            actor="user:sup",
            status="dispatched",
            department="labour_inspection",
            outcome=None,
            note=None,
        )
        moved = store.get_warning(warning_id)
        assert moved["due_at"] == (T0 + timedelta(hours=30 + 72)).isoformat()
        assert moved["overdue"] is False
    with time_machine.travel(T0 + timedelta(hours=30 + 72, seconds=1), tick=False):
        assert store.list_warnings(overdue=True, department="labour_inspection")["total"] == 1
        assert store.note_overdue(actor="system:overdue") == [warning_id]
        store.add_feedback(
            warning_id,
            actor="user:off",
            status="in_progress",
            department=None,
            outcome=None,
            note=None,
        )
        started = store.get_warning(warning_id)
        assert started["due_at"] is None and started["overdue"] is False
    with time_machine.travel(T0 + timedelta(days=60), tick=False):
        assert store.note_overdue(actor="system:overdue") == []
    deadlines = [event["deadline"] for event in _events(store, warning_id, "overdue")]
    assert deadlines == ["dispatch", "first_action"]


@pytest.mark.parametrize(("level", "hours"), [("yellow", 7 * 24), ("orange", 3 * 24)])
def test_lower_levels_get_their_own_deadlines(
    store: WarningStore, scored: Callable, level: str, hours: int
) -> None:
    with time_machine.travel(T0, tick=False):
        warning_id = _raise(store, scored, "employer-3", level)
    assert store.get_warning(warning_id)["due_at"] == (T0 + timedelta(hours=hours)).isoformat()


def test_events_are_written_with_their_change_and_only_for_departments_with_a_webhook(
    store: WarningStore, scored: Callable
) -> None:
    outbox = Outbox(store)
    silent = _raise(store, scored, "employer-4")  # no webhook anywhere yet: no event
    assert outbox.events() == []
    outbox.set_webhook("county_centre", "http://127.0.0.1:9/hook", now=T0)
    outbox.set_webhook("labour_inspection", "http://127.0.0.1:9/hook", now=T0)
    # where a department's notifications go is a decision on the record: endpoint, not token
    outbox.set_webhook(
        "labour_inspection", "https://u:pw@labour.example.gov:8443/h?token=s3cret", now=T0
    )
    changes = [row for row in store.audit_rows() if row["action"] == "department_webhook"]
    assert [row["detail"] for row in changes] == [
        {"department": "county_centre", "endpoint": "http://127.0.0.1:9", "previous": None},
        {"department": "labour_inspection", "endpoint": "http://127.0.0.1:9", "previous": None},
        {
            "department": "labour_inspection",
            "endpoint": "https://labour.example.gov:8443",
            "previous": "http://127.0.0.1:9",
        },
    ]
    assert all(row["actor"] == "system:cli" for row in changes)
    assert "s3cret" not in str(changes) and "pw" not in str(changes)
    raised = _raise(store, scored, "employer-5")
    store.add_feedback(
        raised,
        actor="u",
        status="dispatched",
        department="labour_inspection",
        outcome=None,
        note=None,
    )
    store.add_feedback(
        raised, actor="u", status="dispatched", department="tax", outcome=None, note=None
    )  # re-routed to a department without a webhook: only the one that lost it is told
    store.add_feedback(
        silent,
        actor="u",
        status="dispatched",
        department="labour_inspection",
        outcome=None,
        note=None,
    )
    events = [(e["type"], e["department"], e["warning_id"]) for e in outbox.events()]
    assert events == [
        ("warning.raised", "county_centre", raised),
        ("warning.dispatched", "labour_inspection", raised),
        ("warning.rerouted", "labour_inspection", raised),
        ("warning.dispatched", "labour_inspection", silent),
    ]
    (first,) = [e for e in outbox.events() if e["type"] == "warning.raised"]
    assert first["payload"]["event_id"] == first["event_id"]
    assert first["payload"]["entity"] == store.pseudonymise("employer-5")
    assert "employer-5" not in str(first["payload"])


def test_a_refused_change_writes_no_event(store: WarningStore, scored: Callable) -> None:
    outbox = Outbox(store)
    outbox.set_webhook("county_centre", "http://127.0.0.1:9/hook", now=T0)
    outbox.set_webhook("labour_inspection", "http://127.0.0.1:9/hook", now=T0)
    warning_id = _raise(store, scored, "employer-6")
    before = outbox.events()
    with pytest.raises(TransitionError):
        store.add_feedback(
            warning_id, actor="u", status="dispatched", department=None, outcome=None, note=None
        )
    assert outbox.events() == before


def test_unchanged_rescreens_append_nothing(store: WarningStore, scored: Callable) -> None:
    results = [scored("employer-7", 0.9, "red"), scored("employer-8", 0.4, "yellow")]
    first, counts = store.record_scores_counted(
        actor="system:screen",
        task=TASK,
        model_name="m",
        model_version="1",
        results=results,
    )
    assert counts == {"raised": 2, "updated": 0, "after_close": 0, "unchanged": 0}
    moved = [scored("employer-7", 0.9, "red"), scored("employer-8", 0.45, "yellow")]
    again, counts = store.record_scores_counted(
        actor="system:screen",
        task=TASK,
        model_name="m",
        model_version="1",
        results=moved,
    )
    assert again == first
    assert counts == {"raised": 0, "updated": 1, "after_close": 0, "unchanged": 1}
    assert [e["event"] for e in store.get_warning(first[0])["history"]] == ["raised"]
    assert [e["event"] for e in store.get_warning(first[1])["history"]] == [
        "raised",
        "score_update",
    ]


def test_a_dispute_screened_in_later_months_keeps_its_one_warning(
    store: WarningStore, scored: Callable
) -> None:
    """A dispute is scored once in its life (read 7 days in) yet stays in the monthly screens
    while its 90-day window is open: keyed on (unit, month), each screen raised it again, with
    a new deadline and a new `warning.raised` notification. A monthly unit (an employer) still
    gets a warning a month."""
    outbox = Outbox(store)
    outbox.set_webhook("county_centre", "http://127.0.0.1:9/hook", now=T0)

    def screen(task: str, as_of: str, score: float) -> tuple[list, dict]:
        return store.record_scores_counted(
            actor="system:screen",
            task=task,
            model_name="m",
            model_version="1",
            results=[scored("D-1", score, "red", as_of=as_of)],
        )

    first, counts = screen("dispute-escalation", "2025-08-01", 0.9)
    assert counts == {"raised": 1, "updated": 0, "after_close": 0, "unchanged": 0}
    again, counts = screen("dispute-escalation", "2025-09-01", 0.9)
    assert again == first and counts == {
        "raised": 0,
        "updated": 0,
        "after_close": 0,
        "unchanged": 1,
    }
    moved, counts = screen("dispute-escalation", "2025-10-01", 0.95)  # a new model's score
    assert moved == first and counts == {
        "raised": 0,
        "updated": 1,
        "after_close": 0,
        "unchanged": 0,
    }
    raised = [e for e in outbox.events() if e["type"] == "warning.raised"]
    assert len(raised) == 1
    monthly = [screen("wage-arrears", day, 0.9)[0][0] for day in ("2025-08-01", "2025-09-01")]
    assert len(set(monthly)) == 2


def test_warned_after_names_the_newest_later_month_holding_the_tasks_warnings(
    store: WarningStore, scored: Callable
) -> None:
    """What `riskloop screen` asks before an earlier month: the newest later month holding one
    of the task's warnings, whoever raised it (a screening or a score sent to the API): the
    API's warnings of a later month are open cases an earlier month's would stand beside.
    Another task's months do not count."""

    def write(actor: str, task: str, as_of: str) -> None:
        store.record_scores(
            actor=actor,
            task=task,
            model_name="m",
            model_version="1",
            results=[scored(f"E-{actor}-{as_of}", 0.9, "red", as_of=as_of)],
        )

    write(SCREEN_ACTOR, TASK, "2025-09-01")
    write(SCREEN_ACTOR, TASK, "2025-10-01")
    write(SCREEN_ACTOR, "telecom-fraud", "2026-01-01")
    assert warned_after(store, TASK, date(2025, 8, 15)) == date(2025, 10, 1)
    assert warned_after(store, TASK, date(2025, 9, 30)) == date(2025, 10, 1)
    assert warned_after(store, TASK, date(2025, 10, 1)) is None  # the same month
    assert warned_after(store, TASK, date(2025, 11, 1)) is None
    write("key:scorer", TASK, "2025-12-01")  # raised over the API, never screened
    assert warned_after(store, TASK, date(2025, 10, 1)) == date(2025, 12, 1)
    assert warned_after(store, TASK, date(2025, 11, 30)) == date(2025, 12, 1)
    assert warned_after(store, TASK, date(2025, 12, 31)) is None
    assert warned_after(store, "dispute-escalation", date(2020, 1, 1)) is None


def test_claims_lease_events_and_failures_dead_letter_then_requeue(
    store: WarningStore, scored: Callable
) -> None:
    outbox = Outbox(store)
    outbox.set_webhook("county_centre", "http://127.0.0.1:9/hook", now=T0)
    with time_machine.travel(T0, tick=False):
        _raise(store, scored, "employer-9")
        (claimed,) = outbox.claim(now=T0, lease=timedelta(seconds=60))
        assert outbox.claim(now=T0 + timedelta(seconds=59), lease=timedelta(seconds=60)) == []
        (again,) = outbox.claim(now=T0 + timedelta(seconds=61), lease=timedelta(seconds=60))
        assert again["event_id"] == claimed["event_id"]
        outbox.failed(claimed["event_id"], "HTTP 500", retry_at=None, now=T0)
    (dead,) = outbox.dead()
    assert dead["attempts"] == 1 and dead["last_error"] == "HTTP 500"
    assert outbox.counts() == {"pending": 0, "delivered": 0, "dead": 1}
    assert outbox.requeue(None, now=T0) == 1
    assert outbox.counts() == {"pending": 1, "delivered": 0, "dead": 0}
    (back,) = outbox.claim(now=T0, lease=timedelta(seconds=60))
    outbox.delivered(back["event_id"], now=T0)
    assert outbox.counts() == {"pending": 0, "delivered": 1, "dead": 0}


def test_a_claim_holds_a_departments_later_events_behind_one_waiting_for_its_retry(
    store: WarningStore, scored: Callable
) -> None:
    outbox = Outbox(store)
    for department in ("county_centre", "labour_inspection"):
        outbox.set_webhook(department, "http://127.0.0.1:9/hook", now=T0)
    lease = timedelta(seconds=60)
    with time_machine.travel(T0, tick=False):
        first = _raise(store, scored, "employer-10")
        second = _raise(store, scored, "employer-11")
        (head,) = outbox.claim(now=T0, lease=lease, limit=1)
        assert head["warning_id"] == first
        # leased to a worker: the department's next event waits for it, and so after a failure
        assert outbox.claim(now=T0, lease=lease) == []
        outbox.failed(head["event_id"], "HTTP 500", retry_at=T0 + timedelta(seconds=30), now=T0)
        assert outbox.claim(now=T0 + timedelta(seconds=10), lease=lease) == []
        store.add_feedback(
            first,
            actor="user:sup",
            status="dispatched",
            department="labour_inspection",
            outcome=None,
            note=None,
        )
        (other,) = outbox.claim(now=T0 + timedelta(seconds=10), lease=lease)
        assert other["department"] == "labour_inspection"  # another department goes on
        later = outbox.claim(now=T0 + timedelta(seconds=31), lease=lease)
        # the retry first, then the newer one (due since T0, but held behind it)
        assert [e["warning_id"] for e in later] == [first, second]
        assert later[0]["event_id"] == head["event_id"]
        outbox.failed(head["event_id"], "HTTP 500", retry_at=None, now=T0)  # dead: holds nothing
        outbox.delivered(later[1]["event_id"], now=T0)
    assert outbox.counts() == {"pending": 1, "delivered": 1, "dead": 1}


def test_writes_recorded_late_touch_only_what_the_lease_and_delivery_still_allow(
    store: WarningStore, scored: Callable
) -> None:
    """What a delivery worker writes once the store answers again after an outage: events put
    back in line move only while still under its own lease (another worker may hold them once
    it has run out), and a failure recorded late leaves a delivered event delivered."""
    outbox = Outbox(store)
    outbox.set_webhook("county_centre", "http://127.0.0.1:9/hook", now=T0)
    lease = timedelta(seconds=60)
    with time_machine.travel(T0, tick=False):
        _raise(store, scored, "employer-30")
        _raise(store, scored, "employer-31")
        claimed = [e["event_id"] for e in outbox.claim(now=T0, lease=lease)]
        assert len(claimed) == 2
        outbox.postpone(claimed[1:], until=T0, leased_until=T0 + lease)  # still this lease's
        assert outbox.claim(now=T0, lease=lease) == []  # behind the first, which is leased
        outbox.delivered(claimed[0], now=T0)
        (again,) = outbox.claim(now=T0, lease=lease)  # the second, leased afresh
        assert again["event_id"] == claimed[1]
    later = T0 + timedelta(seconds=5)
    with time_machine.travel(later, tick=False):
        # an older lease (T0 - 5 s + 60 s) than the one the event is under: nothing moves
        outbox.postpone(claimed[1:], until=later, leased_until=T0 + lease - timedelta(seconds=5))
        assert outbox.claim(now=later, lease=lease) == []
        outbox.delivered(claimed[1], now=later)
        outbox.failed(claimed[1], "HTTP 500", retry_at=None, now=later)  # a late failure
    states = {e["event_id"]: e for e in outbox.events()}
    assert states[claimed[1]]["delivered_at"] and not states[claimed[1]]["dead_at"]
    assert outbox.counts() == {"pending": 0, "delivered": 2, "dead": 0}


def test_the_backlog_counts_pending_and_dead_events_by_department(
    store: WarningStore, scored: Callable
) -> None:
    outbox = Outbox(store)
    for department in ("county_centre", "labour_inspection"):
        outbox.set_webhook(department, "http://127.0.0.1:9/hook", now=T0)
    with time_machine.travel(T0, tick=False):
        _raise(store, scored, "employer-20")
        _raise(store, scored, "employer-21")
        (head,) = outbox.claim(now=T0, lease=timedelta(seconds=60), limit=1)
        outbox.failed(head["event_id"], "HTTP 500", retry_at=None, now=T0)
    assert outbox.backlog() == {
        "county_centre": {"pending": 1, "dead": 1, "oldest_pending": T0},
        "labour_inspection": {"pending": 0, "dead": 0, "oldest_pending": None},
    }


def test_a_department_is_told_when_a_case_leaves_it(store: WarningStore, scored: Callable) -> None:
    """Re-routed: the department that lost the case is told too; sent back: the one that held
    it; closed: the one that held it and the owner (each event says from where to where)."""
    outbox = Outbox(store)
    for department in ("county_centre", "labour_inspection", "township_labour"):
        outbox.set_webhook(department, "http://127.0.0.1:9/hook", now=T0)

    def step(warning_id: str, status: str, department: str | None = None, **extra: str) -> None:
        store.add_feedback(
            warning_id,
            actor="user:sup",
            status=status,
            department=department,
            outcome=extra.get("outcome"),
            note=None,
        )

    def told(warning_id: str) -> list[tuple]:
        return [
            (
                e["type"],
                e["department"],
                e["payload"].get("from_department"),
                e["payload"].get("to_department"),
                e["payload"].get("outcome"),
            )
            for e in outbox.events(warning_id=warning_id)
        ]

    first = _raise(store, scored, "employer-30")
    step(first, "dispatched", "labour_inspection")
    step(first, "dispatched", "township_labour")
    step(first, "in_progress")
    step(first, "closed", outcome="confirmed")
    assert told(first)[1:] == [
        ("warning.dispatched", "labour_inspection", None, None, None),
        ("warning.rerouted", "township_labour", "labour_inspection", "township_labour", None),
        ("warning.rerouted", "labour_inspection", "labour_inspection", "township_labour", None),
        ("warning.closed", "township_labour", "township_labour", None, "confirmed"),
        ("warning.closed", "county_centre", "township_labour", None, "confirmed"),
    ]
    second = _raise(store, scored, "employer-31")
    step(second, "dispatched", "labour_inspection")
    store.send_back(second, actor="user:officer", note="not ours")
    step(second, "closed", outcome="false_alarm")
    assert told(second)[2:] == [
        ("warning.sent_back", "county_centre", "labour_inspection", "county_centre", None),
        ("warning.sent_back", "labour_inspection", "labour_inspection", "county_centre", None),
        ("warning.closed", "county_centre", None, None, "false_alarm"),
    ]
