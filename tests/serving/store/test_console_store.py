"""The console's own use of the store, on SQLite and PostgreSQL: sessions and queue queries.

The browser tests (tests/console/) run on SQLite; these run the same SQL on both backends:
server-side sessions (start, touch, idle and absolute time-outs, sign-out) and the queue's
scope, filters, sort, paging and level counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from models.pages import CITY_TIME
from serving.console.queries import ConsoleQueries, QueueFilters, scope_conditions
from serving.console.sessions import SessionBook
from serving.policy import VisibleScope
from serving.store import WarningStore
from serving.store.models import ConsoleSession, RiskWarning

TASKS = ("wage-arrears", "telecom-fraud", "dispute-escalation")


def test_sessions_live_touch_time_out_and_end(store: WarningStore) -> None:
    book = SessionBook(store.engine, idle_s=60, absolute_s=3600)
    token, started = book.start("alice")
    seen, why = book.check(token)
    assert seen is not None and why is None and seen.csrf == started.csrf
    assert book.check("not-a-token") == (None, None)
    with store.engine.connect() as connection:
        stored = connection.execute(select(ConsoleSession.id)).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]  # the digest, never the token

    def age(**columns: datetime) -> None:
        with store.engine.begin() as connection:
            connection.execute(update(ConsoleSession).values(**columns))

    age(last_seen_at=datetime.now(UTC) - timedelta(seconds=120))
    assert book.check(token) == (None, "idle")
    # a timed-out session never comes back, and still says why it ended
    assert book.check(token) == (None, "idle")

    token, _ = book.start("alice")
    age(created_at=datetime.now(UTC) - timedelta(hours=2))
    assert book.check(token) == (None, "absolute")

    token, live = book.start("alice")
    book.end(live.key, "signed_out")
    assert book.check(token) == (None, "signed_out")


def test_queue_scope_filters_sort_paging_and_counts(
    store: WarningStore, scored: Callable[..., dict[str, object]]
) -> None:
    levels = ["red"] * 3 + ["orange"] * 5 + ["yellow"] * 12
    for task in ("wage-arrears", "telecom-fraud"):
        store.record_scores(
            actor="key:test",
            task=task,
            model_name=f"riskloop-{task}",
            model_version="1",
            results=[
                scored(
                    f"{task}-{i:03d}",
                    0.9 - i * 0.01,
                    level,
                    as_of=f"2025-0{1 + i % 3}-01",
                    district=("anji", "wuxing")[i % 2],
                )
                for i, level in enumerate(levels)
            ],
        )
    wage = store.list_warnings(task="wage-arrears", level="red")["items"][0]
    store.add_feedback(
        wage["id"], actor="user:sup", status="dispatched", department="tax", outcome=None, note=None
    )
    queries = ConsoleQueries(store.engine)
    supervisor = VisibleScope(tasks=frozenset({"wage-arrears"}), departments=frozenset())
    page = queries.queue(supervisor, QueueFilters(), page_size=7)
    assert page.total == 20 and page.pages == 3 and len(page.rows) == 7
    assert page.level_counts == {"red": 3, "orange": 5, "yellow": 12}
    assert {row["task"] for row in page.rows} == {"wage-arrears"}

    by_level = queries.queue(supervisor, QueueFilters(sort="level"), page_size=20).rows
    ranks = [("red", "orange", "yellow").index(row["risk_level"]) for row in by_level]
    assert ranks == sorted(ranks)
    by_score = queries.queue(supervisor, QueueFilters(sort="score", page=3), page_size=7).rows
    assert [row["score"] for row in by_score] == sorted(
        (row["score"] for row in by_score), reverse=True
    )
    assert len(by_score) == 6  # the last page holds the rest

    red = queries.queue(supervisor, QueueFilters(level="red"), page_size=50)
    assert red.total == 3 and red.level_counts["yellow"] == 12  # counts ignore the level filter
    march = queries.queue(
        supervisor, QueueFilters(date_from=datetime(2025, 3, 1).date()), page_size=50
    )
    assert march.total == sum(1 for i in range(20) if i % 3 == 2)

    tax_officer = VisibleScope(departments=frozenset({"tax"}))
    assert [row["id"] for row in queries.queue(tax_officer, QueueFilters()).rows] == [wage["id"]]
    assert queries.queue(VisibleScope(), QueueFilters()).total == 0
    everything = queries.queue(VisibleScope(everything=True), QueueFilters())
    assert everything.total == 40

    figures = queries.dashboard(supervisor, TASKS)
    assert figures["wage-arrears"]["open"]["red"] == {
        "open": 2,
        "dispatched": 1,
        "in_progress": 0,
    }
    assert figures["telecom-fraud"]["open"]["red"]["open"] == 0  # outside the scope
    assert figures["wage-arrears"]["overdue"] == 0
    # the dashboard's (and screen's) monthly count, within the supervisor's view
    in_view = scope_conditions(supervisor)
    month, held = store.held_in_month(datetime.now(UTC), in_view)
    assert month == datetime.now(CITY_TIME).date().replace(day=1)
    assert held == {"county_centre": 19, "tax": 1}  # the owner holds what is not dispatched
    next_month = datetime.now(UTC) + timedelta(days=40)
    assert store.held_in_month(next_month, in_view)[1] == {}

    assert queries.districts(supervisor) == ["anji", "wuxing"]
    anji = queries.queue(supervisor, QueueFilters(district="anji"), page_size=50)
    assert anji.total == 10 and {row["district"] for row in anji.rows} == {"anji"}

    # a deadline passed: the queue's overdue filter and the dashboard's count agree
    late = store.list_warnings(task="wage-arrears", level="yellow")["items"][0]["id"]
    with store.engine.begin() as connection:
        connection.execute(
            update(RiskWarning)
            .where(RiskWarning.id == late)
            .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    overdue = queries.queue(supervisor, QueueFilters(overdue=True), page_size=50)
    assert [row["id"] for row in overdue.rows] == [late] and overdue.rows[0]["overdue"]
    assert queries.dashboard(supervisor, TASKS)["wage-arrears"]["overdue"] == 1
    assert [item["id"] for item in store.list_warnings(overdue=True)["items"]] == [late]
