"""Progress notes on a case (`WarningStore.add_note`, mixed in): a `note` event in the case's
history and a `case_note` audit row, the note scrubbed of ids as a step's is; no step.

A note the same person sends again on the same case within `once_within_s` (the console's form
sent a second time: Back then Save, a double click) is not written again: `RepeatedNote` says
when the first was. Decided in the note's own write transaction, so two sent together are one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.store.common import Holder, iso_utc, utc_now
from serving.store.models import RiskWarning, WarningEvent
from serving.store.pseudonym import sanitise
from serving.store.reads import with_history
from serving.store.transitions import TransitionError


class RepeatedNote(Exception):
    """The same note by the same person on the same case, a moment ago: not written again."""

    def __init__(self, warning_id: str, at: datetime) -> None:
        super().__init__(f"the same note was recorded on {warning_id} at {iso_utc(at)}")
        self.at = at


class CaseNotes:
    """`WarningStore`'s progress notes (mixed in; uses its sessions, scrubbing and audit)."""

    _secret: str
    _write: Callable[..., Any]
    _locked_warning: Callable[..., RiskWarning]
    _audit_row: Callable[..., None]
    own_ids: Callable[[RiskWarning], frozenset[str]]

    def add_note(
        self,
        warning_id: str,
        *,
        actor: str,
        note: str,
        expected_holder: Holder | None = None,
        once_within_s: float | None = None,
    ) -> dict[str, Any]:
        """A progress note on a case being worked (a visit, a call, papers asked for): a `note`
        event in its history and a `case_note` audit row, the note scrubbed as a step's is.
        No step: the status, version and deadline stay, and forms open on the case stay valid.
        `expected_holder`: the (status, department) the permission was decided on, as a step's.
        `once_within_s`: the same text by `actor` as the case's latest note, written within
        that many seconds, is that note sent again (`RepeatedNote`), not a second one.

        Raises:
            WarningNotFound: no such warning.
            StaleWarning: the case changed hands since `expected_holder` (re-routed, started).
            TransitionError: the note is empty, or the case is closed (closed cases are final).
            RepeatedNote: `once_within_s` given, and the note was just recorded.
        """
        if not note or not note.strip():
            raise TransitionError("a progress note needs text")

        def write(session: Session) -> dict[str, Any]:
            warning = self._locked_warning(session, warning_id, None, expected_holder)
            if warning.status == "closed":
                raise TransitionError("the warning is closed; closed warnings are final")
            clean = sanitise(self._secret, note, self.own_ids(warning))
            now = utc_now()
            if once_within_s is not None:
                _refuse_a_repeat(
                    session, warning.id, actor, clean, now - timedelta(seconds=once_within_s)
                )
            session.add(
                WarningEvent(
                    warning_id=warning.id, event="note", at=now, actor=actor, detail={"note": clean}
                )
            )
            detail = {"warning_id": warning.id, "note": clean}
            self._audit_row(
                session,
                actor,
                "case_note",
                detail,
                task=warning.task,
                model_version=warning.model_version,
            )
            return with_history(session, warning)

        return self._write(write)


def _refuse_a_repeat(
    session: Session, warning_id: str, actor: str, clean: str, since: datetime
) -> None:
    """`RepeatedNote` when the case's latest note is `actor`'s with the text `clean`, written
    at `since` or later."""
    latest = session.scalars(
        select(WarningEvent)
        .where(WarningEvent.warning_id == warning_id, WarningEvent.event == "note")
        .order_by(WarningEvent.id.desc())
        .limit(1)
    ).one_or_none()
    if latest is None or latest.actor != actor or (latest.detail or {}).get("note") != clean:
        return
    at = latest.at if latest.at.tzinfo is not None else latest.at.replace(tzinfo=since.tzinfo)
    if at >= since:
        raise RepeatedNote(warning_id, at)
