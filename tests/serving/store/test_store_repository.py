"""Warnings, re-scoring, listing, the audit log and the schema of the warnings store."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

import serving.store
from models.settings import get_settings
from serving.store import ScoreWrite, WarningNotFound, WarningStore
from serving.store.models import Base, ScoredRecord

TASK = "wage-arrears"
MODEL = "riskloop-wage-arrears"
# the API writes a request with `record_prepared` (a large one with `record_prepared_later`);
# `record_scores` is the same write for a caller that has not prepared the rows
WRITES = ("record_scores", "record_prepared", "record_prepared_later")


def _score(
    store: WarningStore,
    results: list[dict],
    *,
    version: str = "1",
    as_of: date | None = None,
    task: str = TASK,
) -> list[str | None]:
    return store.record_scores(
        actor="scorer-key",
        task=task,
        model_name=MODEL,
        model_version=version,
        results=results,
        as_of=as_of,
    )


def _write(
    store: WarningStore, how: str, results: list[dict], *, version: str = "1"
) -> list[str | None]:
    """One score request written the way `how` names (one of `WRITES`)."""
    if how == "record_scores":
        return _score(store, results, version=version)
    write = ScoreWrite("scorer-key", TASK, MODEL, version, store.prepare_scores(results))
    if how == "record_prepared":
        return store.record_prepared(write)
    return store.record_prepared_later(write).result(timeout=20)


def _request_counts(store: WarningStore) -> list[dict[str, int]]:
    """Each score request's audited counts, oldest first."""
    names = ("n_records", "n_warnings", "n_raised", "n_updated", "n_unchanged")
    return [
        {name: row["detail"][name] for name in names}
        for row in store.audit_rows()
        if row["action"] == "score_request"
    ]


def test_yellow_and_up_raise_warnings_green_does_not(store: WarningStore, scored: Callable) -> None:
    ids = _score(
        store,
        [
            scored("A", 0.02, "green"),
            scored("B", 0.3, "yellow"),
            scored("C", 0.5, "orange"),
            scored("D", 0.9, "red"),
        ],
    )
    assert ids[0] is None
    assert all(isinstance(warning_id, str) for warning_id in ids[1:])
    assert len(set(ids[1:])) == 3
    warning = store.get_warning(ids[3])
    assert warning["id"] == ids[3]
    assert (warning["task"], warning["status"], warning["risk_level"]) == (TASK, "open", "red")
    assert warning["score"] == pytest.approx(0.9)
    assert warning["entity"] == store.pseudonymise("D")
    assert warning["reasons"][0]["sentence"].startswith("3 unpaid social-insurance months")
    assert warning["actions"] == [
        {"department": "labour inspection", "text": "Visit the employer."}
    ]
    assert warning["model_name"] == "riskloop-wage-arrears"
    assert warning["model_version"] == "1"
    assert [event["event"] for event in warning["history"]] == ["raised"]
    json.dumps(warning)  # every value is JSON-serialisable
    assert len(store.scored_records(task=TASK)) == 4


def test_rescoring_the_same_period_updates_and_keeps_history(
    store: WarningStore, scored: Callable
) -> None:
    november = date(2026, 11, 3)
    (first,) = _score(store, [scored("A", 0.4, "yellow")], as_of=november)
    (second,) = _score(store, [scored("A", 0.8, "red")], version="2", as_of=date(2026, 11, 20))
    (third,) = _score(store, [scored("A", 0.6, "orange")], version="2", as_of=november)
    assert first == second == third
    warning = store.get_warning(first)
    assert (warning["score"], warning["risk_level"], warning["model_version"]) == (
        0.6,
        "orange",
        "2",
    )
    history = warning["history"]
    assert [event["event"] for event in history] == ["raised", "score_update", "score_update"]
    assert [event["score"] for event in history] == [0.4, 0.8, 0.6]
    assert [event["previous_score"] for event in history[1:]] == [0.4, 0.8]
    assert history == sorted(history, key=lambda event: event["at"])
    assert store.list_warnings(task=TASK)["total"] == 1

    (december,) = _score(store, [scored("A", 0.7, "orange")], as_of=date(2026, 12, 1))
    assert december != first  # a new period is a new warning
    (other_task,) = _score(
        store, [scored("A", 0.7, "orange")], as_of=november, task="telecom-fraud"
    )
    assert other_task not in {first, december}


def test_duplicates_within_one_request_share_one_warning(
    store: WarningStore, scored: Callable
) -> None:
    ids = _score(store, [scored("A", 0.4, "yellow"), scored("A", 0.9, "red")])
    assert ids[0] == ids[1]
    warning = store.get_warning(ids[0])
    assert warning["score"] == 0.9
    assert [event["event"] for event in warning["history"]] == ["raised", "score_update"]
    (same,) = set(_score(store, [scored("B", 0.5, "orange"), scored("B", 0.5, "orange")]))
    assert [event["event"] for event in store.get_warning(same)["history"]] == ["raised"]
    # a warning raised by the request counts as raised, whatever came after it in the request
    once = {"n_records": 2, "n_warnings": 1, "n_raised": 1, "n_updated": 0, "n_unchanged": 0}
    assert _request_counts(store) == [once, once]


def test_a_closed_warning_absorbs_rescoring_without_changing(
    store: WarningStore, scored: Callable
) -> None:
    (warning_id,) = _score(store, [scored("A", 0.4, "yellow")])
    store.add_feedback(
        warning_id,
        actor="clerk",
        status="closed",
        department=None,
        outcome="false_alarm",
        note=None,
    )
    (again,) = _score(store, [scored("A", 0.95, "red")], version="2")
    assert again == warning_id
    warning = store.get_warning(warning_id)
    assert (warning["status"], warning["score"], warning["model_version"]) == ("closed", 0.4, "1")
    assert warning["history"][-1]["event"] == "score_after_close"
    assert warning["history"][-1]["score"] == 0.95
    _score(store, [scored("A", 0.4, "yellow")])  # its closing figures again: nothing to add
    assert store.get_warning(warning_id)["history"] == warning["history"]


@pytest.mark.parametrize("how", WRITES)
def test_an_unchanged_rescore_leaves_the_warning_a_changed_one_updates_it(
    store: WarningStore, scored: Callable, how: str
) -> None:
    """A re-score with the warning's own score, level and model version (a client repeating a
    request, a nightly batch) gave a `score_update` event, a `warning_updated` row and a new
    version, so every form open on the case was refused as stale. It changes nothing now; the
    scored record is still kept and the request audited. A moved score, level or model
    version still updates the warning."""
    (warning_id,) = _write(store, how, [scored("A", 0.9, "red")])
    opened = store.get_warning(warning_id)
    again = _write(store, how, [scored("A", 0.9, "red"), scored("B", 0.1, "green")])
    assert again == [warning_id, None]
    unchanged = store.get_warning(warning_id)
    assert (unchanged["version"], unchanged["updated_at"]) == (1, opened["updated_at"])
    assert unchanged["history"] == opened["history"]
    assert [row["action"] for row in store.audit_rows()] == [
        "score_request",
        "warning_raised",
        "score_request",
    ]
    assert len(store.scored_records(task=TASK)) == 3

    (moved,) = _write(store, how, [scored("A", 0.95, "red")])
    (orange,) = _write(store, how, [scored("A", 0.95, "orange")])
    (new_model,) = _write(store, how, [scored("A", 0.95, "orange")], version="2")
    assert moved == orange == new_model == warning_id
    warning = store.get_warning(warning_id)
    assert warning["version"] == 4
    assert [event["event"] for event in warning["history"]] == ["raised"] + ["score_update"] * 3
    assert [row["action"] for row in store.audit_rows()][3:] == [
        "score_request",
        "warning_updated",
    ] * 3
    assert _request_counts(store) == [
        {"n_records": 1, "n_warnings": 1, "n_raised": 1, "n_updated": 0, "n_unchanged": 0},
        {"n_records": 2, "n_warnings": 1, "n_raised": 0, "n_updated": 0, "n_unchanged": 1},
        *[{"n_records": 1, "n_warnings": 1, "n_raised": 0, "n_updated": 1, "n_unchanged": 0}] * 3,
    ]


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        # 07:30 on New Year's Day in Beijing: UTC still reads the 31st, and December
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2027, 1, 1)),
        # a minute before midnight in Beijing: still the 31st there
        (datetime(2026, 12, 31, 15, 59, tzinfo=UTC), date(2026, 12, 31)),
    ],
)
def test_a_record_sent_without_an_as_of_is_dated_by_the_citys_clock(
    store: WarningStore, scored: Callable, moment: datetime, day: date
) -> None:
    """A record the API scores carries no as-of date: it is the city's today (Beijing time,
    UTC+8), not UTC's, so a warning raised before 08:00 there is listed under the day the city
    reads and kept in its month (the period, the dedup key)."""
    with time_machine.travel(moment, tick=False):
        (warning_id,) = _write(store, "record_prepared", [scored("A", 0.9, "red")])
    warning = store.get_warning(warning_id)
    assert (warning["as_of"], warning["period"]) == (
        day.isoformat(),
        day.replace(day=1).isoformat(),
    )
    assert store.scored_records(task=TASK)["as_of"].dt.date.tolist() == [day]
    assert [item["id"] for item in store.list_warnings(date_from=day)["items"]] == [warning_id]
    assert store.list_warnings(date_to=day - timedelta(days=1))["total"] == 0


def test_unknown_warning_raises_not_found(store: WarningStore) -> None:
    with pytest.raises(WarningNotFound):
        store.get_warning("W-missing")
    with pytest.raises(WarningNotFound):
        store.add_feedback(
            "W-missing", actor="c", status="dispatched", department="x", outcome=None, note=None
        )


def test_filters_and_pagination(store: WarningStore, scored: Callable) -> None:
    levels = ["yellow", "orange", "red"]
    ids = _score(
        store,
        [scored(f"E{i:02d}", 0.3 + i / 100, levels[i % 3]) for i in range(30)],
        as_of=date(2026, 10, 5),
    )
    _score(store, [scored("F1", 0.5, "red")], as_of=date(2026, 11, 5), task="telecom-fraud")
    for warning_id in ids[:4]:
        store.add_feedback(
            warning_id, actor="c", status="dispatched", department="police", outcome=None, note=None
        )
    store.add_feedback(
        ids[5], actor="c", status="dispatched", department="labour", outcome=None, note=None
    )

    assert store.list_warnings()["total"] == 31
    assert store.list_warnings(task=TASK)["total"] == 30
    assert store.list_warnings(level="red", task=TASK)["total"] == 10
    assert store.list_warnings(status="dispatched")["total"] == 5
    assert store.list_warnings(department="police")["total"] == 4
    assert store.list_warnings(department="police", level="orange")["total"] == 1  # E01
    by_entity = store.list_warnings(entity_id="E07")
    assert [item["id"] for item in by_entity["items"]] == [ids[7]]
    assert store.list_warnings(entity_id="nobody")["total"] == 0
    assert store.list_warnings(date_from=date(2026, 11, 1))["total"] == 1
    assert store.list_warnings(date_to=date(2026, 10, 31))["total"] == 30
    assert (
        store.list_warnings(date_from=date(2026, 10, 5), date_to=date(2026, 10, 5))["total"] == 30
    )

    pages = [store.list_warnings(task=TASK, page=page, page_size=7) for page in (1, 2, 3, 4, 5)]
    assert [len(page["items"]) for page in pages] == [7, 7, 7, 7, 2]
    assert all(page["total"] == 30 and page["page_size"] == 7 for page in pages)
    seen = [item["id"] for page in pages for item in page["items"]]
    assert sorted(seen) == sorted(ids)  # every warning exactly once
    assert store.list_warnings(task=TASK, page=6, page_size=7)["items"] == []
    assert "history" not in pages[0]["items"][0]
    with pytest.raises(ValueError, match="page_size"):
        store.list_warnings(page_size=501)
    with pytest.raises(ValueError, match="page"):
        store.list_warnings(page=0)


def _walk_page(store: WarningStore, cursor: str, **filters: object) -> tuple[list[str], str | None]:
    found = store.list_warnings(cursor=cursor, page_size=5, **filters)  # type: ignore[arg-type]
    assert found["page"] == 1 and found["page_size"] == 5 and len(found["items"]) <= 5
    return [item["id"] for item in found["items"]], found["next_cursor"]


def test_a_walk_sees_each_warning_once_while_others_arrive_and_move(
    store: WarningStore, scored: Callable
) -> None:
    """Paging by number shifts when warnings arrive or are re-scored between pages; a walk
    (`cursor`) sees every warning that matched when it began exactly once, and none later."""
    first = _score(store, [scored(f"E{i:02d}", 0.3 + i / 100, "orange") for i in range(12)])
    second = _score(store, [scored(f"G{i:02d}", 0.5 + i / 100, "red") for i in range(9)])
    _score(store, [scored("F1", 0.5, "red")], task="telecom-fraud")
    before = set(first) | set(second)
    assert store.list_warnings(task=TASK, page_size=5)["next_cursor"] is None  # by number

    seen, cursor = _walk_page(store, serving.store.WALK_START, task=TASK)
    assert set(seen) <= set(second)  # newest first
    steps = 1
    while cursor is not None:
        if steps == 2:  # meanwhile: new warnings, and old ones re-scored up and down
            arrived = _score(store, [scored(f"H{i}", 0.9, "red") for i in range(4)])
            moved = [scored(f"E{i:02d}", 0.99 - i / 50, "red") for i in (0, 5, 11)]
            moved += [scored(f"G{i:02d}", 0.31, "orange") for i in (0, 8)]
            assert set(_score(store, moved, version="2")) <= before
        page, cursor = _walk_page(store, cursor, task=TASK)
        seen += page
        steps += 1
        assert steps <= 5, "the walk does not end"  # 21 warnings, 5 a page
    assert sorted(seen) == sorted(before)  # each exactly once, across a move and arrivals
    assert not set(arrived) & set(seen)
    assert store.list_warnings(task=TASK)["total"] == len(before) + 4

    # a walk keeps its filter: only telecom-fraud's one warning
    assert _walk_page(store, serving.store.WALK_START, task="telecom-fraud")[1] is None
    assert len(_walk_page(store, serving.store.WALK_START, task="telecom-fraud")[0]) == 1
    # `page` counts pages after the cursor; every text of a cursor's shape is a position
    walked = store.list_warnings(task=TASK, cursor=serving.store.WALK_START, page_size=5)
    then = store.list_warnings(task=TASK, cursor=walked["next_cursor"], page_size=5)
    skipped = store.list_warnings(task=TASK, cursor=serving.store.WALK_START, page=2, page_size=5)
    assert skipped["items"] == then["items"] and skipped["next_cursor"] == then["next_cursor"]
    assert store.list_warnings(cursor="0.W-0")["items"] == []  # before every warning
    assert len(store.list_warnings(cursor="999999999999999999.W")["items"]) == len(before) + 5
    for bad in ("", "nonsense", "W-123", "12.", ".W-1", "-1.W", "1.W 1", "1" * 19 + ".W"):
        with pytest.raises(serving.store.InvalidCursor, match="not a cursor"):
            store.list_warnings(cursor=bad)


def test_audit_log_tells_the_story_in_order(store: WarningStore, scored: Callable) -> None:
    store.audit(
        actor="admin",
        action="model_promotion",
        task=TASK,
        model_version="1",
        detail={"from": None, "to": "1"},
    )
    (warning_id,) = _score(store, [scored("A", 0.9, "red"), scored("B", 0.1, "green")][:1])
    _score(store, [scored("A", 0.95, "red")], version="2")
    store.add_feedback(
        warning_id, actor="clerk", status="dispatched", department="labour", outcome=None, note=None
    )
    store.audit(actor="admin", action="model_reload", task=TASK, model_version="2")
    rows = store.audit_rows()
    assert [row["action"] for row in rows] == [
        "model_promotion",
        "score_request",
        "warning_raised",
        "score_request",
        "warning_updated",
        "disposition",
        "model_reload",
    ]
    assert [row["actor"] for row in rows] == [
        "admin",
        "scorer-key",
        "scorer-key",
        "scorer-key",
        "scorer-key",
        "clerk",
        "admin",
    ]
    assert [row["model_version"] for row in rows] == ["1", "1", "1", "2", "2", "2", "2"]
    assert rows[1]["detail"]["n_records"] == 1
    assert rows[5]["detail"] == {
        "warning_id": warning_id,
        "from": "open",
        "to": "dispatched",
        "department": "labour",
        "outcome": None,
    }
    assert [row["id"] for row in store.audit_rows(since_id=rows[4]["id"])] == [
        rows[5]["id"],
        rows[6]["id"],
    ]
    json.dumps(rows)


def test_a_refused_attempt_is_in_the_warnings_story(store: WarningStore, scored: Callable) -> None:
    """`refused` writes one `access_refused` row naming the action, the step, the case and
    the rule; the warning's story finds it (on PostgreSQL too), and a route refusal names
    the route without any case."""
    (warning_id,) = _score(store, [scored("A", 0.9, "red")])
    warning = store.get_warning(warning_id)
    store.refused(
        actor="user:tax", action="feedback", step="start", rule="not your case", warning=warning
    )
    store.refused(actor="user:tax", action="audit_read", rule="auditors only", path="GET /v1/audit")
    story = store.audit_rows(warning_id=warning_id)
    refused = [row for row in story if row["action"] == "access_refused"]
    assert len(refused) == 1
    assert refused[0]["actor"] == "user:tax" and refused[0]["task"] == TASK
    assert refused[0]["detail"] == {
        "attempted": "feedback",
        "step": "start",
        "rule": "not your case",
        "warning_id": warning_id,
    }
    route = store.audit_rows(actor="user:tax")[-1]
    assert route["detail"] == {
        "attempted": "audit_read",
        "rule": "auditors only",
        "path": "GET /v1/audit",
    }
    assert route["task"] is None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET detail = '{}' WHERE id = 1",
    ],
)
def test_audit_log_refuses_update_and_delete(store: WarningStore, statement: str) -> None:
    store.audit(actor="admin", action="model_reload", task=TASK, model_version="1")
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text(statement))
    assert [row["actor"] for row in store.audit_rows()] == ["admin"]


def test_product_code_never_updates_or_deletes_audit_rows() -> None:
    """Besides the triggers: no statement in the store's code changes or removes audit rows.

    The migrations are left out: their trigger DDL names UPDATE and DELETE to refuse them.
    """
    package = Path(serving.store.__file__).parent
    changes = re.compile(
        r"(UPDATE|DELETE\s+FROM)\s+audit_log|\b(update|delete)\(\s*AuditEntry|session\.delete\(",
        re.IGNORECASE,
    )
    sources = [path for path in package.rglob("*.py") if "migrations" not in path.parts]
    assert {path.name for path in sources} >= {"repository.py", "models.py"}
    offending = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if changes.search(line)
    ]
    assert offending == []


def test_migrated_schema_matches_the_models(store: WarningStore) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_reopening_is_idempotent_and_keeps_data(store_url: str, scored: Callable) -> None:
    with WarningStore(store_url, "s") as first:
        (warning_id,) = _score(first, [scored("A", 0.9, "red")])
    with WarningStore(store_url, "s") as second:
        assert second.get_warning(warning_id)["status"] == "open"
        with second.engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        script = ScriptDirectory(str(Path(serving.store.__file__).with_name("migrations")))
        assert [version] == script.get_heads()
    # the head a reopened store is compared with (read once per process) is the scripts' own
    from serving.store.repository import _head_revision

    assert [_head_revision()] == script.get_heads()


@pytest.fixture()
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """`monkeypatch`, with the settings read afresh after the test's variables and after they
    are put back (a cached store setting would outlive the test)."""
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("setting", "level"), [(None, 1), ("FULL", 2), (" full ", 2), ("normal", 1)]
)
def test_sqlite_runs_in_wal_with_normal_or_configured_sync(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch, setting: str | None, level: int
) -> None:
    monkeypatch = fresh_settings
    if setting is None:
        monkeypatch.delenv("RISKLOOP_STORE_SYNCHRONOUS", raising=False)
    else:
        monkeypatch.setenv("RISKLOOP_STORE_SYNCHRONOUS", setting)
    get_settings.cache_clear()
    with (
        WarningStore(f"sqlite:///{tmp_path / 'nested' / 'store.db'}", "s") as store,
        store.engine.connect() as connection,
    ):
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == level
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_unknown_sync_level_is_refused(tmp_path: Path, fresh_settings: pytest.MonkeyPatch) -> None:
    monkeypatch = fresh_settings
    monkeypatch.setenv("RISKLOOP_STORE_SYNCHRONOUS", "OFF")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="RISKLOOP_STORE_SYNCHRONOUS: Input should be 'NORMAL'"):
        WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "s")
    # the CLI says it in one line, naming the variable
    from training.cli import app

    result = CliRunner().invoke(app, ["store", "upgrade"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: invalid setting RISKLOOP_STORE_SYNCHRONOUS"
    )
    assert "'NORMAL', 'FULL' or 'EXTRA'" in lines[0], lines[0]


def test_scored_records_frame_and_since(store: WarningStore, scored: Callable) -> None:
    _score(store, [scored("A", 0.2, "green"), scored("B", 0.8, "red")], as_of=date(2026, 10, 1))
    frame = store.scored_records(task=TASK)
    assert list(frame["entity_hash"]) == [store.pseudonymise("A"), store.pseudonymise("B")]
    assert list(frame["si_arrears_months_6m"]) == [3, 3]
    assert frame["as_of"].dt.date.tolist() == [date(2026, 10, 1)] * 2
    assert frame["score"].tolist() == [0.2, 0.8]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert store.scored_records(task=TASK, since=future).empty
    assert len(store.scored_records(task=TASK, since=datetime.now(UTC) - timedelta(hours=1))) == 2
    assert store.scored_records(task="telecom-fraud").empty
    warnings = store.warnings_frame(task=TASK)
    assert warnings["risk_level"].tolist() == ["red"]


@pytest.mark.parametrize("how", WRITES)
def test_scored_records_keep_their_district_warned_or_not(
    store: WarningStore, scored: Callable, how: str
) -> None:
    """Each scored record keeps the district it was sent with, green ones too, and one sent
    without has none (monitoring's units by district), by every write path."""
    _write(
        store,
        how,
        [
            {**scored("A", 0.2, "green"), "district": "anji"},
            {**scored("B", 0.8, "red"), "district": "wuxing"},
            scored("C", 0.1, "green"),
        ],
    )
    frame = store.scored_records(task=TASK)
    assert frame["district"].fillna("-").tolist() == ["anji", "wuxing", "-"]
    assert store.warnings_frame(task=TASK)["district"].tolist() == ["wuxing"]


def test_per_record_as_of_and_numeric_versions(store: WarningStore, scored: Callable) -> None:
    """The service passes materialized records' own as-of dates and may pass int versions."""
    ids = store.record_scores(
        actor="scorer",
        task=TASK,
        model_name="riskloop-wage-arrears",
        model_version=3,
        results=[scored("A", 0.9, "red", as_of="2026-09-01"), scored("B", 0.9, "red")],
        as_of=date(2026, 10, 15),
    )
    first, second = (store.get_warning(warning_id) for warning_id in ids)
    assert (first["as_of"], first["period"]) == ("2026-09-01", "2026-09-01")
    assert (second["as_of"], second["period"]) == ("2026-10-15", "2026-10-01")
    assert first["model_version"] == "3"
    store.audit(actor="admin", action="model_reload", model_version=4)
    assert store.audit_rows()[-1]["model_version"] == "4"


def test_prescrubbed_features_are_stored_as_scrubbing_would(
    store: WarningStore, scored: Callable
) -> None:
    """The service scrubs features beside the model; the stored rows must not differ. Results
    made from the catalog are not searched for their unit's own id (it could only coincide
    with a word or value of the catalog); other results are."""
    phone = "13800138000"
    records = [
        scored("A", 0.2, "green", features={"note": f"call {phone}", "n": 3}),
        scored("B-0042", 0.8, "red", features={"owner": "B-0042", "x": 1.5}),
    ]
    features = [dict(r["features"]) for r in records]  # type: ignore[call-overload]
    names = dict(actor="scorer", task=TASK, model_name="m", model_version="1")
    store.record_scores(
        **names,
        results=records,
        scrubbed_features=store.scrub_features(features),
        from_catalog=True,
    )
    store.record_scores(**names, results=records, from_catalog=True)
    store.record_scores(**names, results=records)
    frame = store.scored_records(task=TASK)
    first, second, third = frame.iloc[:2], frame.iloc[2:4], frame.iloc[4:]
    for column in ("note", "n", "owner", "x"):
        assert first[column].fillna("-").tolist() == second[column].fillna("-").tolist()
    assert phone not in str(frame["note"].tolist())
    assert second["owner"].tolist()[1] == "B-0042"
    assert third["owner"].tolist()[1] == f"[id:{store.pseudonymise('B-0042')}]"
    with pytest.raises(ValueError, match="one entry per result"):
        store.record_scores(**names, results=records, scrubbed_features=[])


def test_scored_records_are_stored_as_sqlalchemy_core_stores_them(
    store: WarningStore, scored: Callable
) -> None:
    """SQLite's scored records skip Core's per-row binding: the stored values must not differ
    from a Core INSERT of the same row (dates, times, JSON text, numbers)."""
    table = ScoredRecord.__table__
    store.record_scores(
        actor="scorer",
        task=TASK,
        model_name="m",
        model_version="7",
        results=[scored("A", 0.25, "yellow", features={"n": 3, "x": 1.5, "s": "é", "b": None})],
        as_of=date(2026, 3, 9),
    )
    with store.engine.begin() as connection:
        written = connection.execute(select(table)).mappings().one()
        connection.execute(insert(ScoredRecord), {k: v for k, v in written.items() if k != "id"})
        names = ", ".join(column.name for column in table.columns if column.name != "id")
        raw = connection.exec_driver_sql(f"SELECT {names} FROM scored_records ORDER BY id").all()
    assert raw[0] == raw[1]
    assert written["as_of"] == date(2026, 3, 9) and written["score"] == 0.25
    assert written["features"] == {"n": 3, "x": 1.5, "s": "é", "b": None}


def test_a_new_sqlite_store_and_its_wal_are_readable_by_their_owner_only(
    tmp_path: Path, scored: Callable[..., dict[str, object]]
) -> None:
    """The warnings database holds pseudonyms, encrypted ids, notes and the audit log: it was
    created under the process umask (0644 here, readable by every local user), with its WAL
    and shared-memory files alike. It is created 0600, and SQLite gives the WAL and shared
    memory the database file's mode."""
    path = tmp_path / "fresh" / "riskloop.db"
    previous = os.umask(0o022)
    try:
        with WarningStore(f"sqlite:///{path}", "test-pseudonym-secret") as store:
            _score(store, [scored("E-mode", 0.9, "red")])
            files = [path, path.with_name("riskloop.db-wal"), path.with_name("riskloop.db-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {
                f.name: "0o600" for f in files
            }
    finally:
        os.umask(previous)
