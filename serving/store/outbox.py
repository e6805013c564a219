"""The transactional outbox: notifications to departments, written with the change they report.

Raising a warning, dispatching or re-routing it and a missed deadline each call `enqueue` inside
the write transaction that makes the change, so the event exists exactly when the change does
(a crash before the commit loses both, after it keeps both). Only departments with a webhook get
events; a department whose webhook is removed gets no new ones, and its pending events are held
(not claimed, no attempt counted) until a webhook is set again. The delivery worker (`serving.delivery`) then works through `Outbox`:

    claim (lease) -> POST -> delivered | failed (retry at backoff) -> ... -> dead after N attempts

A claim moves `next_attempt_at` a lease ahead before the POST, so a worker killed mid-request
leaves the event to be retried when the lease ends: delivery is at least once, and receivers
deduplicate by the event id.

Payloads carry pseudonyms only: the warning id, the entity's keyed hash, task, level, status,
as-of date, deadline and a link to the case; never a raw identifier. Webhook URLs are kept
sealed (`serving.store.sealed_urls`): a token in one is no plain text in the database.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session, aliased

from serving.store.common import iso_utc, utc_bound
from serving.store.identity import IdentityUnavailable
from serving.store.models import DepartmentWebhook, OutboxEvent
from serving.store.sealed_urls import MAX_URL_CHARS, is_sealed, open_url, seal

if TYPE_CHECKING:
    from serving.store.repository import WarningStore

EVENT_TYPES = (
    "warning.raised",
    "warning.dispatched",
    "warning.rerouted",
    "warning.sent_back",
    "warning.overdue",
    "warning.closed",
)
_ERROR_CHARS = 500
logger = logging.getLogger("riskloop.store")


def new_event_id() -> str:
    """A notification's id as receivers see it in `X-Riskloop-Event-Id`: `E-` and 32 hex digits."""
    return f"E-{uuid.uuid4().hex}"


def case_path(warning_id: str) -> str:
    """The case's page under the service's base URL (the delivery worker makes it absolute)."""
    return f"/v1/warnings/{warning_id}/explanation"


def console_case_path(warning_id: str) -> str:
    """The case in the console, for the person who reads the notification: a browser without a
    session signs in there first and lands on the case (the API page wants a bearer token)."""
    return f"/console/cases/{warning_id}"


def payload(
    event_id: str, event_type: str, department: str, state: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The JSON a department receives; `state` is a warning's fields (pseudonyms only)."""
    return {
        "event_id": event_id,
        "type": event_type,
        "time": iso_utc(now),
        "department": department,
        "warning_id": state["id"],
        "task": state["task"],
        "level": state["risk_level"],
        "status": state["status"],
        "entity": state["entity_hash"],
        "as_of": state["as_of"].isoformat(),
        "due_at": iso_utc(state.get("due_at")),
        "link": case_path(state["id"]),
        "console_link": console_case_path(state["id"]),
        # a case that moves says from where to where (re-routed, sent back, closed), a closed
        # one how it ended: a department that no longer holds it closes it in its own system
        **{key: state[key] for key in _MOVE_FIELDS if key in state},
    }


_MOVE_FIELDS = ("from_department", "to_department", "outcome")


def disposition_events(
    state: dict[str, Any],
    *,
    previous_status: str,
    previous_department: str | None,
    owner: str | None,
    outcome: str | None,
) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The notifications of one disposition, `state` being the warning after it.

    Every department that gains or loses the case is told: dispatched -> its department;
    re-routed -> the new department and the one that lost it (`warning.rerouted`, with
    `from_department` and `to_department`); sent back -> the owner and the department that
    held it (`warning.sent_back`); closed -> the department that held it and the owner
    (`warning.closed`, with the outcome). Starting work (`in_progress`) tells nobody.
    """
    status = state["status"]
    department = state.get("department")
    moved = {**state, "from_department": previous_department, "to_department": department}
    if status == "dispatched" and previous_status == "dispatched":
        told = [department, previous_department]
        return [("warning.rerouted", d, moved) for d in dict.fromkeys(told) if d]
    if status == "dispatched":
        return [("warning.dispatched", department, state)]
    if status == "open":
        back = {**moved, "to_department": owner}
        return [
            ("warning.sent_back", d, back) for d in dict.fromkeys([owner, previous_department]) if d
        ]
    if status == "closed":
        closed = {**moved, "to_department": None, "outcome": outcome}
        return [
            ("warning.closed", d, closed) for d in dict.fromkeys([previous_department, owner]) if d
        ]
    return []


def enqueue(
    session: Session,
    events: Sequence[tuple[str, str | None, dict[str, Any]]],
    *,
    now: datetime,
) -> int:
    """Add `(event_type, department, warning_state)` events to the outbox in this transaction.

    Events for no department, or for a department without a webhook, are not kept: there is
    nobody to deliver them to. Returns how many were enqueued.
    """
    wanted = {department for _, department, _ in events if department}
    if not wanted:
        return 0
    hooked = set(
        session.scalars(
            select(DepartmentWebhook.department).where(DepartmentWebhook.department.in_(wanted))
        )
    )
    rows = []
    for event_type, department, state in events:
        if department not in hooked:
            continue
        assert department is not None
        event_id = new_event_id()
        rows.append(
            OutboxEvent(
                event_id=event_id,
                event_type=event_type,
                department=department,
                warning_id=state["id"],
                payload=payload(event_id, event_type, department, state, now),
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
    session.add_all(rows)
    return len(rows)


def _row(event: OutboxEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.event_type,
        "department": event.department,
        "warning_id": event.warning_id,
        "payload": event.payload,
        "created_at": iso_utc(event.created_at),
        "attempts": event.attempts,
        "next_attempt_at": iso_utc(event.next_attempt_at),
        "delivered_at": iso_utc(event.delivered_at),
        "dead_at": iso_utc(event.dead_at),
        "last_error": event.last_error,
    }


class Outbox:
    """Delivery bookkeeping and department webhooks, over a `WarningStore`'s database."""

    def __init__(self, store: WarningStore) -> None:
        self._store = store
        self._unopened_said: set[str] = set()  # departments whose sealed URL was logged

    def _open(self, row: DepartmentWebhook) -> str | None:
        """A webhook row's URL; None for a sealed one that cannot be opened here."""
        try:
            return open_url(self._store._cipher, row.department, row.url)
        except IdentityUnavailable:
            return None

    def _bound(self, moment: datetime) -> datetime:
        return utc_bound(self._store.is_sqlite, moment)

    # -- webhooks ------------------------------------------------------------------------------

    def set_webhook(
        self, department: str, url: str, *, now: datetime, actor: str = "system:cli"
    ) -> None:
        """Create or replace a department's endpoint, kept sealed; audited
        (`department_webhook`) with the endpoint's scheme, host and port only: a URL's path or
        query may carry a token.

        Raises:
            ValueError: a URL over `sealed_urls.MAX_URL_CHARS` characters.
        """
        stored = seal(self._store._cipher, department, url)

        def write(session: Session) -> None:
            found = session.get(DepartmentWebhook, department, with_for_update=True)
            opened = None if found is None else self._open(found)
            previous = None if opened is None else _endpoint(opened)
            if found is None:
                session.add(
                    DepartmentWebhook(
                        department=department, url=stored, created_at=now, updated_at=now
                    )
                )
            else:
                found.url = stored
                found.updated_at = now
            detail = {"department": department, "endpoint": _endpoint(url), "previous": previous}
            self._store._audit_row(session, actor, "department_webhook", detail)

        self._store.run_write(write, retry_integrity=True)

    def remove_webhook(
        self, department: str, *, now: datetime, actor: str = "system:cli"
    ) -> tuple[str | None, int]:
        """Remove a department's endpoint; the URL it had (None when its sealed URL cannot be
        opened here) and how many of its events are held.

        Its pending events stay in the outbox, neither posted nor dead-lettered: `claim` skips a
        department without a webhook, so they wait, no attempt counted, and go out in order if
        a webhook is set again. New events are not queued (`enqueue`), as for a department that
        never had one. Audited like `set_webhook` (`department_webhook`, `endpoint` null).

        Raises:
            LookupError: the department has no webhook.
        """

        def write(session: Session) -> tuple[str | None, int]:
            found = session.get(DepartmentWebhook, department, with_for_update=True)
            if found is None:
                raise LookupError(f"department {department} has no webhook")
            url = self._open(found)
            # a statement, not `session.delete`: the store's code never deletes through the
            # session (a check keeps audit rows from being removed so)
            session.execute(
                delete(DepartmentWebhook).where(DepartmentWebhook.department == department)
            )
            held = session.scalar(
                select(func.count()).where(
                    OutboxEvent.department == department,
                    OutboxEvent.delivered_at.is_(None),
                    OutboxEvent.dead_at.is_(None),
                )
            )
            detail = {
                "department": department,
                "endpoint": None,
                "previous": None if url is None else _endpoint(url),
                "held": int(held or 0),
            }
            self._store._audit_row(session, actor, "department_webhook", detail)
            return url, int(held or 0)

        return self._store.run_write(write)

    def webhooks(self, *, say_unopened: bool = False) -> dict[str, str]:
        """Department code -> endpoint URL, for the webhooks whose URL opens here. One that does
        not (`unopened_webhooks`) posts nothing: its events are held as for a department
        without a webhook; with `say_unopened` (the delivery worker) the log says so once per
        department."""
        opened, unopened = self.webhook_urls()
        for department, why in unopened.items():
            if say_unopened and department not in self._unopened_said:
                self._unopened_said.add(department)
                logger.warning(
                    "notifications to %s held: %s; set its webhook again with `riskloop "
                    "departments set-webhook`",
                    department,
                    why,
                )
        return opened

    def unopened_webhooks(self) -> dict[str, str]:
        """Department code -> why its sealed URL cannot be opened here."""
        return self.webhook_urls()[1]

    def webhook_urls(self) -> tuple[dict[str, str], dict[str, str]]:
        """In one read: the URLs that open here, and why each of the others does not (by
        department code)."""
        opened: dict[str, str] = {}
        unopened: dict[str, str] = {}
        with self._store.read_session() as session:
            rows = session.scalars(select(DepartmentWebhook).order_by(DepartmentWebhook.department))
            for row in rows:
                try:
                    opened[row.department] = open_url(self._store._cipher, row.department, row.url)
                except IdentityUnavailable as exc:
                    unopened[row.department] = str(exc)
        return opened, unopened

    def seal_plain_webhooks(self) -> int:
        """Seal the URLs kept plain (set before URLs were sealed, or by a store without keys);
        how many. Nothing to do without a cipher."""
        cipher = self._store._cipher
        if cipher is None:
            return 0

        def write(session: Session) -> int:
            rows = session.scalars(select(DepartmentWebhook).with_for_update()).all()
            # a plain URL too long to seal was set before the limit: kept as it is
            plain = [r for r in rows if not is_sealed(r.url) and len(r.url) <= MAX_URL_CHARS]
            for row in plain:
                row.url = seal(cipher, row.department, row.url)
            return len(plain)

        return self._store.run_write(write)

    # -- delivery ------------------------------------------------------------------------------

    def claim(
        self,
        *,
        now: datetime,
        lease: timedelta,
        limit: int = 50,
        exclude: Collection[str] = (),
    ) -> list[dict[str, Any]]:
        """Events due now, in the order they were written, leased to the caller until
        `now + lease`; none of the departments in `exclude` (those the caller is still posting
        to: once their lease runs out it would claim them again beside itself).

        Head-of-line order per department: an event is not due while an earlier one of its
        department still waits (for its retry, or leased to a worker posting it), so a
        department receives its events in the order they were written, retries included. Only
        a dead letter stops holding the line: the events behind it go on, and a requeued dead
        letter arrives after them. A department without a webhook has nothing due: its events
        are held until one is set (`remove_webhook`). A read checks first, so an idle worker's
        frequent rounds never take the write lock.
        """
        bound = self._bound(now)
        earlier = aliased(OutboxEvent)
        waiting_before = (
            select(earlier.id)
            .where(
                earlier.department == OutboxEvent.department,
                earlier.id < OutboxEvent.id,
                earlier.delivered_at.is_(None),
                earlier.dead_at.is_(None),
                earlier.next_attempt_at > bound,
            )
            .exists()
        )
        due = (
            OutboxEvent.delivered_at.is_(None),
            OutboxEvent.dead_at.is_(None),
            OutboxEvent.next_attempt_at <= bound,
            ~waiting_before,
            OutboxEvent.department.in_(select(DepartmentWebhook.department)),
            *([OutboxEvent.department.not_in(list(exclude))] if exclude else []),
        )
        with self._store.read_session() as session:
            if session.scalar(select(OutboxEvent.id).where(*due).limit(1)) is None:
                return []

        def write(session: Session) -> list[dict[str, Any]]:
            # claims take turns (the webhooks' rows locked on PostgreSQL; SQLite writes one at
            # a time anyway): another worker's claim reads this one's leases, not the events
            # as they were before it, and cannot post a department's later event beside them
            session.execute(select(DepartmentWebhook.department).with_for_update()).all()
            events = session.scalars(
                select(OutboxEvent).where(*due).order_by(OutboxEvent.id).limit(limit)
            ).all()
            for event in events:
                event.next_attempt_at = now + lease
            return [_row(event) for event in events]

        return self._store.run_write(write)

    def delivered(self, event_id: str, *, now: datetime) -> None:
        """Record a 2xx answer; the event is done."""
        self._set(event_id, {"delivered_at": now, "last_error": None}, attempt=True)

    def failed(
        self, event_id: str, error: str, *, retry_at: datetime | None, now: datetime
    ) -> None:
        """Record a failed attempt: retry at `retry_at`, or dead-letter it when None. An event
        delivered meanwhile (a failure recorded late, after another worker's post) stays
        delivered."""
        changes: dict[str, Any] = {"last_error": error[:_ERROR_CHARS]}
        if retry_at is None:
            changes["dead_at"] = now
        else:
            changes["next_attempt_at"] = retry_at
        self._set(event_id, changes, attempt=True, undelivered=True)

    def postpone(
        self, event_ids: Sequence[str], *, until: datetime, leased_until: datetime | None = None
    ) -> None:
        """Put claimed events back in line at `until`, no attempt counted (their endpoint just
        failed on an earlier event of the same round, or the store went away before they were
        tried). With `leased_until` (the claim's lease), only events still under that lease
        move: once it has run out, another worker may hold them under a lease of its own."""
        if not event_ids:
            return

        def write(session: Session) -> None:
            statement = update(OutboxEvent).where(OutboxEvent.event_id.in_(list(event_ids)))
            if leased_until is not None:
                statement = statement.where(
                    OutboxEvent.next_attempt_at == self._bound(leased_until)
                )
            session.execute(statement.values(next_attempt_at=until))

        self._store.run_write(write)

    def _set(
        self, event_id: str, changes: dict[str, Any], *, attempt: bool, undelivered: bool = False
    ) -> None:
        def write(session: Session) -> None:
            values = dict(changes)
            if attempt:
                values["attempts"] = OutboxEvent.attempts + 1
            statement = update(OutboxEvent).where(OutboxEvent.event_id == event_id)
            if undelivered:
                statement = statement.where(OutboxEvent.delivered_at.is_(None))
            session.execute(statement.values(**values))

        self._store.run_write(write)

    def dead(self) -> list[dict[str, Any]]:
        """Dead-lettered events, oldest first."""
        with self._store.read_session() as session:
            return [
                _row(event)
                for event in session.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.dead_at.is_not(None))
                    .order_by(OutboxEvent.id)
                )
            ]

    def states(self, event_ids: Sequence[str]) -> dict[str, str]:
        """Each known id's state: `dead`, `delivered` or `pending` (unknown ids are left out)."""
        query = select(OutboxEvent).where(OutboxEvent.event_id.in_(list(event_ids)))
        with self._store.read_session() as session:
            return {
                event.event_id: (
                    "dead"
                    if event.dead_at is not None
                    else "delivered"
                    if event.delivered_at is not None
                    else "pending"
                )
                for event in session.scalars(query)
            }

    def requeue(
        self, event_ids: Sequence[str] | None, *, now: datetime, actor: str = "system:cli"
    ) -> int:
        """Put dead events (all, or the given ids) back in line with a fresh attempt count; an
        audit row (`notification_requeue`) names who did it, which ids were asked for and how
        many went back."""

        def write(session: Session) -> int:
            query = (
                update(OutboxEvent)
                .where(OutboxEvent.dead_at.is_not(None))
                .values(dead_at=None, attempts=0, next_attempt_at=now, last_error=None)
            )
            if event_ids is not None:
                query = query.where(OutboxEvent.event_id.in_(list(event_ids)))
            count = int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]
            asked = "all dead" if event_ids is None else list(event_ids)
            detail = {"events": asked, "requeued": count}
            self._store._audit_row(session, actor, "notification_requeue", detail)
            return count

        return self._store.run_write(write)

    def events(self, *, warning_id: str | None = None) -> list[dict[str, Any]]:
        """Every event (optionally of one warning), in the order they were written."""
        query = select(OutboxEvent).order_by(OutboxEvent.id)
        if warning_id is not None:
            query = query.where(OutboxEvent.warning_id == warning_id)
        with self._store.read_session() as session:
            return [_row(event) for event in session.scalars(query)]

    def counts(self) -> dict[str, int]:
        """How many events are pending, delivered and dead."""
        with self._store.read_session() as session:
            delivered = session.scalar(
                select(func.count()).where(OutboxEvent.delivered_at.is_not(None))
            )
            dead = session.scalar(select(func.count()).where(OutboxEvent.dead_at.is_not(None)))
            total = session.scalar(select(func.count()).select_from(OutboxEvent))
        delivered, dead, total = int(delivered or 0), int(dead or 0), int(total or 0)
        return {"pending": total - delivered - dead, "delivered": delivered, "dead": dead}

    def backlog(self) -> dict[str, dict[str, Any]]:
        """By department with a webhook or an undelivered event: how many events are pending
        and dead, when the oldest pending one was written (None: none pending, or none due:
        a department without a webhook holds its pending events, which wait for an endpoint,
        not for a late receiver)."""
        undelivered = OutboxEvent.delivered_at.is_(None)
        pending = and_(undelivered, OutboxEvent.dead_at.is_(None))
        query = (
            select(
                OutboxEvent.department,
                func.count().filter(pending),
                func.count().filter(OutboxEvent.dead_at.is_not(None)),
                func.min(OutboxEvent.created_at).filter(pending),
            )
            .where(undelivered)
            .group_by(OutboxEvent.department)
        )
        with self._store.read_session() as session:
            hooked = set(session.scalars(select(DepartmentWebhook.department)))
            rows = session.execute(query).all()
        found: dict[str, dict[str, Any]] = {
            department: {"pending": 0, "dead": 0, "oldest_pending": None} for department in hooked
        }
        for department, waiting, dead, oldest in rows:
            if department not in hooked:
                oldest = None
            found[department] = {
                "pending": int(waiting),
                "dead": int(dead),
                "oldest_pending": oldest
                if oldest is None or oldest.tzinfo
                else oldest.replace(tzinfo=UTC),
            }
        return found


def shown_url(url: str) -> str:
    """A webhook URL as commands print it: any userinfo and the query's values masked (`***`),
    as a token may sit there; scheme, host, port, path and the query's names stay, to tell
    endpoints apart.

    Only a URL that reads one way (`scheme://[userinfo@]host[:port]`, a port of digits, no `@`
    but in the userinfo and the query's values) is shown part by part. Any other shape (no
    scheme or no `//`, `https:/x`, a backslash or space in the host, a password holding `/`,
    `?` or `#`, several `@`) does not say where its userinfo ends: everything up to its last
    `@` is masked, and so is every value after it.
    """
    parts = read_one_way(url)
    if parts is None:
        return _shown_unclear(url)
    _, at, host = parts.netloc.rpartition("@")
    netloc = f"***@{host}" if at else host
    return urlunsplit((parts.scheme, netloc, parts.path, _masked_query(parts.query), ""))


def read_one_way(url: str) -> SplitResult | None:
    """A URL's parts when it reads one way, else None: `scheme://[userinfo@]host[:port]`, a port
    of digits, no `@` after the authority outside the query's values.

    Any other shape may be read by a person as one host and by a parser as another (in
    `https://bob:2024/xyz@hooks.example.org/in` the host is `bob`, port 2024, the user name and
    the start of the password); `shown_url` masks such a URL and set-webhook refuses it.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = parts.netloc.rpartition("@")[2]
    names = [item.partition("=")[0] for item in parts.query.split("&")]
    if not host or not _plain_host(host) or "@" in parts.path + parts.fragment + "".join(names):
        return None
    return parts


_SHOWN_SCHEME = re.compile(r"\s*https?(?::[/\\]*|[/\\]+)", re.IGNORECASE)


def _plain_host(host: str) -> bool:
    """A host and optional port as an authority holds them: no space or backslash, and a port
    of digits (`https://user:pa/ss@host` splits at the `/` into host `user`, port `pa`)."""
    if any(char.isspace() or char == "\\" for char in host):
        return False
    if host.startswith("["):  # an IPv6 literal: a port follows the bracket
        after = host.partition("]")[2]
        return after == "" or (after.startswith(":") and _digits(after[1:]))
    return _digits(host.partition(":")[2])


def _digits(text: str) -> bool:
    return text == "" or (text.isascii() and text.isdigit())


def _masked_query(query: str) -> str:
    """A query with each value masked; the names stay."""
    return "&".join(
        f"{name}=***" if equals else name
        for name, equals, _ in (item.partition("=") for item in query.split("&") if item)
    )


def _shown_unclear(url: str) -> str:
    """A URL of no clear shape: an http(s) scheme as typed, then everything up to the last `@`
    masked, then the rest without its fragment and with every query value masked (a `?` before
    that `@` means the rest is still the query)."""
    found = _SHOWN_SCHEME.match(url)
    scheme = found.group().lstrip() if found else ""
    before, at, rest = url[found.end() if found else 0 :].rpartition("@")
    rest = rest.partition("#")[0]
    path, question, query = ("", "", rest) if "?" in before else rest.partition("?")
    shown_query = _masked_query(query)
    return (
        scheme
        + ("***@" if at else "")
        + path
        + ("?" if question and shown_query else "")
        + shown_query
    )


def _endpoint(url: str) -> str:
    """A URL's scheme, host and port: where notifications go, without any credential in it.

    A URL that does not read one way (`read_one_way`) names no host one can trust, as its host
    may be a user name and its port the start of a password: it is `***` after its scheme.
    """
    parts = read_one_way(url)
    try:
        port = None if parts is None else parts.port
    except ValueError:  # a port out of range
        parts = None
    if parts is None or not parts.hostname:
        found = _SHOWN_SCHEME.match(url)
        return (found.group().strip() if found else "") + "***"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}"
