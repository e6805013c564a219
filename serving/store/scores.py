"""Writing score requests: scored records, warnings raised or re-scored, history, audit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Engine,
    insert,
    select,
)
from sqlalchemy.orm import Session, sessionmaker

from features.tasks import UnknownTaskError, get_task
from models.pages import CITY_TIME
from serving.audit_channel import AUDIT_CHANNEL
from serving.store import deadlines, outbox
from serving.store.common import (
    table_of,
    utc_now,
)
from serving.store.identity import EntityCipher
from serving.store.models import (
    WARNING_LEVELS,
    RiskWarning,
    ScoredRecord,
    WarningEvent,
)
from serving.store.score_batch import (
    IN_LIST_CHUNK,
    Batch,
    request_audit,
    write_batch,
)
from serving.store.sqlite import (
    SerialisedJSON,
    insert_scored_records_sqlite,
    select_in_sqlite,
)
from serving.store.stored_forms import PreparedScore, StoredForms


@dataclass(frozen=True)
class ScoreWrite:
    """One score request's write: who asked, the task and model version, the prepared rows."""

    actor: str
    task: str
    model_name: str
    model_version: str
    prepared: Sequence[PreparedScore]


class ScoreWriter:
    """`WarningStore`'s score-request writes (mixed in; uses its engine, scrubber and cipher)."""

    _engine: Engine
    _is_sqlite: bool
    _reads: sessionmaker[Session]
    forms: StoredForms
    _cipher: EntityCipher | None
    _write: Callable[..., Any]
    _write_shared: Callable[..., Any]
    _write_later: Callable[..., Any]
    pseudonymise: Callable[[str], str]

    # ---------------------------------------------------------------- writes

    def record_scores(
        self,
        *,
        actor: str,
        task: str,
        model_name: str,
        model_version: str,
        results: list[dict[str, Any]],
        as_of: date | None = None,
        scrubbed_features: list[dict[str, Any]] | None = None,
        from_catalog: bool = False,
    ) -> list[str | None]:
        """Store one score request: audit row, scored records, and warnings for yellow and up.

        Each result dict has `entity_id` (the caller's raw id), `score`, `risk_level`, `reasons`,
        `actions`, `features`, and optionally its own `as_of` and the unit's `district` (kept
        on a new warning). `as_of` defaults to today in the city (Beijing time), so a record
        scored before 08:00 there is dated, and its warning kept in the period, the city reads.
        A warning is one per task, entity and period (the as-of month): a re-score that
        changes its score, level or model version updates the open warning and keeps the
        earlier score in its history (`score_update`); one that changes none of them leaves the
        warning as it is (no event, no new `version`), so a repeated request or nightly batch
        does not make the forms people have open on the case stale. A warning already closed
        for the period keeps its closing figures; a new score is appended to its history
        (`score_after_close`) rather than raising a duplicate for a case already handled.
        The scored record is kept whatever happens to the warning.

        `scrubbed_features`, when given, are `scrub_features`' answer for the results'
        features (the service computes it while the model runs) and replace their `features`.
        Scrubbing happens before the write transaction, so the lock is held only for the writes.
        Id-like values are scrubbed everywhere; the unit's own id is looked for too, unless
        `from_catalog` says the results were made by the scorer from the feature catalog (every
        feature a number, a flag or one of its categories; reasons and actions the catalog's
        words around them), where it could only coincide with the catalog (`MemoScrubber`).

        Returns:
            The warning id for each result, None where the level raised no warning.
        """
        prepared = self.prepare_scores(
            results, as_of=as_of, scrubbed_features=scrubbed_features, from_catalog=from_catalog
        )
        return self.record_prepared(ScoreWrite(actor, task, model_name, model_version, prepared))

    def prepare_scores(
        self,
        results: Sequence[dict[str, Any]],
        *,
        as_of: date | None = None,
        scrubbed_features: Sequence[dict[str, Any]] | Sequence[SerialisedJSON] | None = None,
        entity_hashes: Sequence[str] | None = None,
        from_catalog: bool = False,
    ) -> list[PreparedScore]:
        """`record_scores`' CPU part: each result's stored form, with no database access.

        The service makes what does not depend on the scores (the scrubbed features, which
        may come already serialised, and `entity_hashes`, the ids' pseudonyms in order)
        while the model explains the batch (TreeSHAP releases the GIL), then writes the
        prepared rows with `record_prepared`. Other arguments as in `record_scores`.
        """
        forms = self.forms.forms(
            results,
            # the city's date, not UTC's: the console, the `date_from` filter and the period
            # (the dedup key) are read on Beijing time, eight hours ahead of UTC
            default_as_of=as_of or datetime.now(CITY_TIME).date(),
            scrubbed_features=scrubbed_features,
            entity_hashes=entity_hashes,
            from_catalog=from_catalog,
        )
        return self.seal(forms, [str(result["entity_id"]) for result in results])

    def seal(self, forms: list[PreparedScore], raw_ids: Sequence[str]) -> list[PreparedScore]:
        """Stored forms (`StoredForms.forms`) made ready to write: each warning's raw id
        encrypted under the current key beside its key's id (`entity_cipher`, `key_id`; None
        on a level below yellow, and everywhere when the store keeps no ids). In place."""
        cipher = self._cipher
        warned = [form["risk_level"] in WARNING_LEVELS for form in forms]
        nonces = None if cipher is None else cipher.nonces(sum(warned))
        for form, raw_id, sealed in zip(forms, raw_ids, warned, strict=True):
            if cipher is None or nonces is None or not sealed:
                form["entity_cipher"] = form["key_id"] = None
                continue
            form["entity_cipher"] = cipher.encrypt(
                raw_id, entity_hash=form["entity_hash"], nonce=next(nonces)
            )
            form["key_id"] = cipher.current_key_id
        return forms

    def record_prepared(self, write: ScoreWrite) -> list[str | None]:
        """`record_scores`' write: one transaction for results made by `prepare_scores`.

        Returns:
            The warning id for each result, None where the level raised no warning.
        """
        return self._write_shared(self._prepared_write(write))  # type: ignore[no-any-return]

    def record_prepared_later(self, write: ScoreWrite) -> Future[list[str | None]]:
        """`record_prepared` queued for the store's writer thread: a future of the warning
        ids, set once the write is committed (for a caller that must not block)."""
        return self._write_later(self._prepared_write(write))  # type: ignore[no-any-return]

    def _prepared_write(self, write: ScoreWrite) -> Callable[[Session], list[str | None]]:
        rows = list(write.prepared)
        names = (write.actor, write.task, str(write.model_name), str(write.model_version))
        channel = AUDIT_CHANNEL.get()  # here: the writer thread that runs it has none

        def run(session: Session) -> list[str | None]:
            return self._record_scores(session, *names, rows, channel=channel)[0]

        return run

    def record_scores_counted(
        self,
        *,
        actor: str,
        task: str,
        model_name: str,
        model_version: str,
        results: list[dict[str, Any]],
    ) -> tuple[list[str | None], dict[str, int]]:
        """`record_scores` for screening: also says how many warnings were raised, updated,
        noted after close and left unchanged (`Batch.counts`)."""
        rows = self.prepare_scores(results, from_catalog=True)
        channel = AUDIT_CHANNEL.get()

        def write(session: Session) -> tuple[list[str | None], dict[str, int]]:
            return self._record_scores(
                session, actor, task, str(model_name), str(model_version), rows, channel=channel
            )

        return self._write(write, retry_integrity=True)  # type: ignore[no-any-return]

    def plan_scores(
        self, *, task: str, model_name: str, model_version: str, results: list[dict[str, Any]]
    ) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """`record_scores_counted` read-only, for a dry run: the counts it would give
        (`Batch.counts`, worked out by the same `Batch` on one snapshot, no row locked) and the
        warnings it would raise (their rows, never written)."""
        prepared = self.prepare_scores(
            [result for result in results if str(result["risk_level"]) in WARNING_LEVELS],
            from_catalog=True,
        )
        with self._reads.begin() as session:
            states = self._existing_warnings(session, task, prepared, lock=False)
        batch = Batch(
            actor="", task=task, model_name=model_name, model_version=model_version, now=utc_now()
        )
        for item in prepared:
            batch.apply(item, states)
        return batch.counts(), batch.raised

    def _record_scores(
        self,
        session: Session,
        actor: str,
        task: str,
        model_name: str,
        model_version: str,
        prepared: list[dict[str, Any]],
        channel: str | None = None,
    ) -> tuple[list[str | None], dict[str, int]]:
        """The request's rows as a handful of bulk statements, not one ORM object per row.

        Warnings are followed in memory through the batch (a unit scored twice in one request
        is raised once, then updated if its score moved), and written once each in their final
        state: one INSERT for new warnings, one executemany UPDATE for re-scored ones, one
        INSERT each for the history, the audit rows (the request's own row first) and the
        scored records. Also answers the warnings raised, updated and left unchanged.
        """
        session.connection()  # the transaction begins (SQLite: waits for the write lock)
        warned = [item for item in prepared if item["risk_level"] in WARNING_LEVELS]
        states = self._existing_warnings(session, task, warned)  # PostgreSQL: waits for them
        # dated after every wait: a re-score that waited for a disposition comes after it
        now = utc_now()
        if prepared:
            self._insert_scored_records(session, task, model_name, model_version, prepared, now)
        batch = Batch(
            actor=actor, task=task, model_name=model_name, model_version=model_version, now=now
        )
        ids = [
            batch.apply(item, states) if item["risk_level"] in WARNING_LEVELS else None
            for item in prepared
        ]
        counts = batch.counts()
        # the request's own audit row comes first, so the log reads in the order things happened
        batch.audit_rows.insert(0, request_audit(batch, len(prepared), counts))
        if channel is not None:  # the channel the request came through (`AUDIT_CHANNEL`)
            for row in batch.audit_rows:
                row["detail"] = {**row["detail"], "channel": channel}
        write_batch(session, batch, self._engine.dialect if self._is_sqlite else None)
        owner = deadlines.owner_department(task)
        outbox.enqueue(session, [("warning.raised", owner, s) for s in batch.raised], now=now)
        return ids, counts

    def _insert_scored_records(
        self,
        session: Session,
        task: str,
        model_name: str,
        model_version: str,
        prepared: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        """One executemany INSERT of the request's scored records.

        On SQLite, `insert_scored_records_sqlite` hands the rows to the driver directly.
        """
        table = table_of(ScoredRecord)
        if not self._is_sqlite:
            session.execute(
                insert(table),
                [
                    {
                        "task": task,
                        "entity_hash": item["entity_hash"],
                        "as_of": item["as_of"],
                        "model_name": model_name,
                        "model_version": model_version,
                        "score": item["score"],
                        "risk_level": item["risk_level"],
                        "features": item["features"],
                        "district": item["district"],
                        "created_at": now,
                    }
                    for item in prepared
                ],
            )
            return
        insert_scored_records_sqlite(
            session, self._engine.dialect, task, model_name, model_version, prepared, now
        )

    def scrub_features(self, features: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each record's features as `record_scores(..., from_catalog=True)` stores them
        (id-like values pseudonymised, `MemoScrubber`).

        Pure CPU work with no database access, so a caller may run it beside the model.
        """
        return [self.forms.scrub(dict(row or {})) for row in features]

    def scrub_feature_columns(
        self, names: Sequence[str], columns: Sequence[Sequence[Any]]
    ) -> list[dict[str, Any]]:
        """`scrub_features` for features held as columns (`columns[j][i]` is row i's value of
        `names[j]`): the same dicts, scrubbed a column at a time (`MemoScrubber.rows`)."""
        return self.forms.scrub.rows(names, columns)

    def _existing_warnings(
        self, session: Session, task: str, items: list[dict[str, Any]], *, lock: bool = True
    ) -> dict[tuple[str, date], dict[str, Any]]:
        """The batch's existing warnings (locked for update unless `lock` is false), as plain
        state dicts.

        A unit scored once in its life (a dispute, read 7 days in) has one warning whatever
        the month: a monthly screen scores it again while its 90-day window is open, and keyed
        on (unit, month) each screen raised it anew, with its own deadline and notification.
        For such a task the unit's warning is found in any period, and each of its items takes
        that warning's period, so a later score updates (or, unchanged, leaves) that one.
        """
        if not items:
            return {}
        lifelong = _scored_once(task)
        hashes = sorted({item["entity_hash"] for item in items})
        periods = sorted({item["period"] for item in items})
        within = {} if lifelong else {"period": periods}
        table = table_of(RiskWarning)
        found: dict[tuple[str, date], dict[str, Any]] = {}
        # one query for a full request (MAX_RECORDS ids); longer lists within bind limits
        for start in range(0, len(hashes), IN_LIST_CHUNK):
            chunk = hashes[start : start + IN_LIST_CHUNK]
            rows: Iterable[Mapping[Any, Any]]
            if self._is_sqlite:  # the driver's own cursor (SQLite has no row locks to take)
                rows = select_in_sqlite(
                    session,
                    self._engine.dialect,
                    table,
                    _STATE_COLUMNS,
                    {"task": task},
                    {"entity_hash": chunk, **within},
                    "id",
                )
            else:
                query = (
                    select(*[table.c[name] for name in _STATE_COLUMNS])
                    .where(
                        table.c.task == task,
                        table.c.entity_hash.in_(chunk),
                        *([] if lifelong else [table.c.period.in_(periods)]),
                    )
                    .order_by(table.c.id)
                )
                if lock:
                    query = query.with_for_update()
                rows = session.execute(query).mappings()
            for row in rows:
                found[(row["entity_hash"], row["period"])] = {**row, "new": False}
        _add_scores_after_close(session, found)
        if lifelong:  # the first warning of each unit, in id order: its lifelong one
            first: dict[str, date] = {}
            for entity_hash, period in found:
                first.setdefault(entity_hash, period)
            for item in items:
                item["period"] = first.get(item["entity_hash"], item["period"])
        return found


def _add_scores_after_close(
    session: Session, states: dict[tuple[str, date], dict[str, Any]]
) -> None:
    """Each closed warning's last score after its close (`after_close`: the figures of its
    latest `score_after_close` event), so a repeat of that score is no change either. A closed
    warning keeps its closing figures; without this, every repeat of the same request (a
    nightly batch after a model change) appended one more identical event and audit row."""
    closed = sorted(state["id"] for state in states.values() if state["status"] == "closed")
    if not closed:
        return
    by_id = {state["id"]: state for state in states.values()}
    for start in range(0, len(closed), IN_LIST_CHUNK):
        query = (
            select(WarningEvent.warning_id, WarningEvent.detail)
            .where(
                WarningEvent.warning_id.in_(closed[start : start + IN_LIST_CHUNK]),
                WarningEvent.event == "score_after_close",
            )
            .order_by(WarningEvent.id)
        )
        for warning_id, detail in session.execute(query):
            by_id[warning_id]["after_close"] = detail  # the last one stays


def _scored_once(task: str) -> bool:
    """Whether `task`'s unit is scored once in its life (a dispute, 7 days in)."""
    try:
        return get_task(task).scored_once
    except UnknownTaskError:  # a store used for a task riskloop does not define
        return False


# what re-scoring a warning reads: its identity, state and the figures its history quotes
_STATE_COLUMNS = (
    "id",
    "task",
    "entity_hash",
    "period",
    "status",
    "score",
    "risk_level",
    "as_of",
    "model_version",
    "version",
    "due_at",
)
