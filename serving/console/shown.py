"""What the console holds in memory for one later page: a revealed identity, a case's step that
a time-out left unsaved.

A reveal is a form's POST; answering it with the identity would make the browser's Back and
Reload send the reveal again (a second look counted against the hourly limit, and the
browser's "confirm resubmission" prompt). The console answers with a redirect to the case page
instead, and that page takes the identity from here, once: a reload shows the case without it,
saying so to its owner only (`HeldOnce.spent`): anyone else opening that address (a link passed
on) saw no identity, and is shown the case as it is.

A step sent after the session timed out is not made; the person signs in again and returns to
the case, whose form then gets back what they had typed (`UnsavedStep`), once, and only for
them.

Nothing is written anywhere (no raw identifier or note at rest, not in a log either); an entry
not taken within its time to live is dropped, and so is everything when the process ends. Each
replica holds its own: a page served by another replica finds nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

TTL_S = 60.0
UNSAVED_TTL_S = 1800.0
MAX_HELD = 256
# how long, and how many, tickets taken or dropped are remembered with their owner and case
# (no value: a reload's page tells its owner that what it showed is gone)
SPENT_TTL_S = 12 * 3600.0
MAX_SPENT = 4096

Held = TypeVar("Held")


@dataclass(frozen=True)
class Shown:
    """What the case page shows after a reveal."""

    identity: str
    purpose: str


@dataclass(frozen=True)
class UnsavedStep:
    """A case form sent after the session ended: its step (a transition, `policy.NOTE_STEP`
    or `policy.REVEAL_STEP`) and what was typed or chosen in it (`note`: a note, or a reveal's
    purpose; never an identity), and why the session had ended (`reason`: the sign-in page's
    `expired`, `out`, `reset`, `changed`, `reenabled` or `ended`), which the case page says
    when it gives the step back."""

    transition: str
    note: str
    department: str
    outcome: str
    reason: str


@dataclass(frozen=True)
class _Entry(Generic[Held]):
    owner: str
    warning_id: str
    value: Held
    until: float


class HeldOnce(Generic[Held]):
    """One-time tickets for values kept for a later page, each bound to an owner (a session,
    or a person) and a case."""

    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._held: dict[str, _Entry[Held]] = {}
        self._spent: dict[str, _Entry[None]] = {}
        self._lock = threading.Lock()

    def hold(self, owner: str, warning_id: str, value: Held) -> str:
        """Keep `value` for the next page of this owner and case; its ticket."""
        ticket = secrets.token_urlsafe(16)
        now = time.monotonic()
        with self._lock:
            self._drop_expired(now)
            while len(self._held) >= MAX_HELD:  # the oldest first (dicts keep insertion order)
                self._spend(next(iter(self._held)), now)
            self._held[ticket] = _Entry(owner, warning_id, value, now + self.ttl_s)
        return ticket

    def take(self, ticket: str, owner: str, warning_id: str) -> Held | None:
        """The value held under `ticket` for this owner and case, removed as it is taken; None
        when there is none (taken already, expired, or another owner's or case's, which stays
        for its own)."""
        now = time.monotonic()
        with self._lock:
            self._drop_expired(now)
            held = self._held.get(ticket)
            if held is None or (held.owner, held.warning_id) != (owner, warning_id):
                return None
            self._spend(ticket, now)
        return held.value

    def spent(self, ticket: str, owner: str, warning_id: str) -> bool:
        """Whether `ticket` was held for this owner and case and is gone (taken, or dropped
        untaken): False for a ticket of another owner or case, or one never held here."""
        with self._lock:
            self._drop_expired(time.monotonic())
            gone = self._spent.get(ticket)
        return gone is not None and (gone.owner, gone.warning_id) == (owner, warning_id)

    def _spend(self, ticket: str, now: float) -> None:
        """Drop a held value, remembering whose ticket it was (the oldest forgotten first)."""
        held = self._held.pop(ticket)
        while len(self._spent) >= MAX_SPENT:
            self._spent.pop(next(iter(self._spent)))
        self._spent[ticket] = _Entry(held.owner, held.warning_id, None, now + SPENT_TTL_S)

    def _drop_expired(self, now: float) -> None:
        for ticket in [t for t, held in self._held.items() if held.until <= now]:
            self._spend(ticket, now)
        # remembered in the order they went, each for as long: the oldest expire first
        while self._spent and next(iter(self._spent.values())).until <= now:
            self._spent.pop(next(iter(self._spent)))
