"""One score request's changes to the warnings table, gathered in memory and written once:
each result raises a warning, re-scores one (a new level tightening its deadline) or leaves it
as it is, with its history events, audit rows and notifications (`Batch`, `write_batch`).
`serving.store.scores.ScoreWriter` reads the warnings' states and fills the batch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    bindparam,
    insert,
    update,
)
from sqlalchemy.orm import Session

from serving.store import deadlines
from serving.store.common import (
    table_of,
)
from serving.store.models import (
    AuditEntry,
    RiskWarning,
    WarningEvent,
)
from serving.store.sqlite import (
    insert_rows_sqlite,
    update_rows_sqlite,
)

_RESCORED_COLUMNS = (
    "score",
    "risk_level",
    "as_of",
    "reasons",
    "actions",
    "model_name",
    "model_version",
    "updated_at",
    "version",
    "due_at",
)
IN_LIST_CHUNK = 1000


def _score_detail(item: dict[str, Any], model_name: str, model_version: str) -> dict[str, Any]:
    return {
        "score": item["score"],
        "risk_level": item["risk_level"],
        "as_of": item["as_of"].isoformat(),
        "model_name": model_name,
        "model_version": model_version,
    }


def _new_warning(
    task: str, model_name: str, model_version: str, item: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A new open warning's row (`new` marks it for the batch INSERT, not a column)."""
    return {
        "id": f"W-{uuid.uuid4().hex}",
        "task": task,
        "entity_hash": item["entity_hash"],
        "period": item["period"],
        "as_of": item["as_of"],
        "score": item["score"],
        "risk_level": item["risk_level"],
        "status": "open",
        "department": None,
        "district": item["district"],
        "outcome": None,
        "reasons": item["reasons"],
        "actions": item["actions"],
        "model_name": model_name,
        "model_version": model_version,
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
        "version": 1,
        "entity_cipher": item["entity_cipher"],
        "key_id": item["key_id"],
        "due_at": deadlines.due_at(task, item["risk_level"], "open", now),
        "overdue_noted_at": None,
        "new": True,
    }


def _same_score(state: dict[str, Any], item: dict[str, Any], model_version: str) -> bool:
    """True when a re-score would change nothing a person decides on: same score, level and
    model version (a later as-of date in the period, or reasons asked for in another language,
    is no change: the warning keeps the ones it has). A closed warning is also unchanged by
    the score its last `score_after_close` already recorded."""
    figures = [state, *([state["after_close"]] if state.get("after_close") else [])]
    return any(
        known["score"] == item["score"]
        and known["risk_level"] == item["risk_level"]
        and str(known["model_version"]) == model_version
        for known in figures
    )


def _warning_audit(
    actor: str, action: str, state: dict[str, Any], now: datetime, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "at": now,
        "actor": actor,
        "action": action,
        "task": state["task"],
        "model_version": state["model_version"],
        "detail": {
            "warning_id": state["id"],
            "entity": state["entity_hash"],
            "score": state["score"],
            "risk_level": state["risk_level"],
            **extra,
        },
    }


@dataclass
class Batch:
    """One request's warning changes, gathered in memory and written once (`write_batch`)."""

    actor: str
    task: str
    model_name: str
    model_version: str
    now: datetime
    audit_rows: list[dict[str, Any]] = field(default_factory=list)
    history_rows: list[dict[str, Any]] = field(default_factory=list)
    raised: list[dict[str, Any]] = field(default_factory=list)
    rescored: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the ids of every warning the batch's items found or raised, and of those given an event
    seen: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    #: of `changed`, the closed warnings whose new score was only noted (`score_after_close`)
    after_close: set[str] = field(default_factory=set)

    def apply(self, item: dict[str, Any], states: dict[tuple[str, date], dict[str, Any]]) -> str:
        """Raise a new warning for `item`, re-score the one it already has, or leave that one
        as it is when the score, level and model version are its own (`_same_score`); its id."""
        key = (item["entity_hash"], item["period"])
        state = states.get(key)
        if state is not None:
            self.seen.add(state["id"])
            if _same_score(state, item, self.model_version):
                return str(state["id"])
        detail = _score_detail(item, self.model_name, self.model_version)
        if state is None:
            state = _new_warning(self.task, self.model_name, self.model_version, item, self.now)
            states[key] = state
            self.raised.append(state)
            event, action, extra = "raised", "warning_raised", {}
        else:
            detail = {**detail, **_previous_figures(state)}
            applied = state["status"] != "closed"
            event = "score_update" if applied else "score_after_close"
            action, extra = "warning_updated", {"applied": applied}
            if applied:
                self._rescore(state, item)
            else:  # a repeat later in the batch is no change
                state["after_close"] = detail
                self.after_close.add(state["id"])
        self.history_rows.append(
            {
                "warning_id": state["id"],
                "event": event,
                "at": self.now,
                "actor": self.actor,
                "detail": detail,
            }
        )
        self.audit_rows.append(_warning_audit(self.actor, action, state, self.now, extra))
        self.seen.add(state["id"])
        self.changed.add(state["id"])
        return str(state["id"])

    def counts(self) -> dict[str, int]:
        """Distinct warnings raised, updated (an open one moved to the new score), noted
        after close (a closed one given a `score_after_close` event, its figures kept) and
        left unchanged: they add up to the warnings the batch's items found or raised."""
        raised = len(self.raised)
        return {
            "raised": raised,
            "updated": len(self.changed) - raised - len(self.after_close),
            "after_close": len(self.after_close),
            "unchanged": len(self.seen - self.changed),
        }

    def _rescore(self, state: dict[str, Any], item: dict[str, Any]) -> None:
        """Move an open warning to the new score (version + 1), written by one UPDATE; a new
        level tightens the deadline it races (`deadlines.rescored_due_at`)."""
        if item["risk_level"] != state["risk_level"]:
            state["due_at"] = deadlines.rescored_due_at(
                self.task, item["risk_level"], state["status"], state["due_at"], self.now
            )
        state.update(
            score=item["score"],
            risk_level=item["risk_level"],
            as_of=item["as_of"],
            reasons=item["reasons"],
            actions=item["actions"],
            model_name=self.model_name,
            model_version=self.model_version,
            updated_at=self.now,
            version=state["version"] + 1,
        )
        if not state["new"]:
            self.rescored[state["id"]] = state


def _previous_figures(state: dict[str, Any]) -> dict[str, Any]:
    """What a re-score's history event quotes of the warning before it."""
    return {
        "previous_score": state["score"],
        "previous_risk_level": state["risk_level"],
        "previous_as_of": state["as_of"].isoformat(),
        "previous_model_version": state["model_version"],
    }


def request_audit(batch: Batch, n_records: int, counts: dict[str, int]) -> dict[str, Any]:
    """The score request's own audit row: how many records, and warnings raised, updated,
    noted after close and left unchanged (`Batch.counts`), and the ids of those left unchanged: the answer
    named them, and a raised or updated one has its own row, so every warning a request
    returned is in its story (`riskloop audit --warning`)."""
    return {
        "at": batch.now,
        "actor": batch.actor,
        "action": "score_request",
        "task": batch.task,
        "model_version": batch.model_version,
        "detail": {
            "model_name": batch.model_name,
            "n_records": n_records,
            "n_warnings": sum(counts.values()),
            "n_raised": counts["raised"],
            "n_updated": counts["updated"],
            "n_after_close": counts["after_close"],
            "n_unchanged": counts["unchanged"],
            "warning_ids": sorted(batch.seen - batch.changed),
        },
    }


def write_batch(session: Session, batch: Batch, sqlite_dialect: Any | None) -> None:
    """The batch's statements: new warnings, re-scored warnings, history, audit rows.

    On SQLite (`sqlite_dialect` given) the same rows go to the driver directly
    (`insert_rows_sqlite`, `update_rows_sqlite`).
    """
    warnings = table_of(RiskWarning)
    raised = [{k: v for k, v in s.items() if k != "new"} for s in batch.raised]
    rescored = list(batch.rescored.values())
    if sqlite_dialect is not None:
        insert_rows_sqlite(session, sqlite_dialect, warnings, raised)
        update_rows_sqlite(
            session,
            sqlite_dialect,
            warnings,
            "id",
            [{**{name: s[name] for name in _RESCORED_COLUMNS}, "id": s["id"]} for s in rescored],
        )
        insert_rows_sqlite(session, sqlite_dialect, table_of(WarningEvent), batch.history_rows)
        insert_rows_sqlite(session, sqlite_dialect, table_of(AuditEntry), batch.audit_rows)
        return
    if raised:
        session.execute(insert(warnings), raised)
    if rescored:
        session.execute(
            update(warnings).where(warnings.c.id == bindparam("b_id")),
            [{"b_id": s["id"], **{name: s[name] for name in _RESCORED_COLUMNS}} for s in rescored],
        )
    if batch.history_rows:
        session.execute(insert(table_of(WarningEvent)), batch.history_rows)
    session.execute(insert(table_of(AuditEntry)), batch.audit_rows)
