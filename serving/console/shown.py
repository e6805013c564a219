"""A revealed identity, held in memory for the one page that shows it.

A reveal is a form's POST; answering it with the identity would make the browser's Back and
Reload send the reveal again (a second look counted against the hourly limit, and the
browser's "confirm resubmission" prompt). The console answers with a redirect to the case page
instead, and that page takes the identity from here, once: a reload shows the case without it.
Nothing is written anywhere (no raw identifier at rest); an entry not taken within
`TTL_S` seconds is dropped, and so is everything when the process ends.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

TTL_S = 60.0
MAX_HELD = 256


@dataclass(frozen=True)
class Shown:
    """What the case page shows after a reveal."""

    identity: str
    purpose: str


@dataclass(frozen=True)
class _Held:
    session_key: str
    warning_id: str
    shown: Shown
    until: float


class ShownOnce:
    """One-time tickets for revealed identities, each bound to a session and a case."""

    def __init__(self, ttl_s: float = TTL_S) -> None:
        self._ttl_s = ttl_s
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def hold(self, session_key: str, warning_id: str, shown: Shown) -> str:
        """Keep `shown` for the next page of this session and case; its ticket."""
        ticket = secrets.token_urlsafe(16)
        now = time.monotonic()
        with self._lock:
            self._drop_expired(now)
            while len(self._held) >= MAX_HELD:  # the oldest first (dicts keep insertion order)
                self._held.pop(next(iter(self._held)))
            self._held[ticket] = _Held(session_key, warning_id, shown, now + self._ttl_s)
        return ticket

    def take(self, ticket: str, session_key: str, warning_id: str) -> Shown | None:
        """The identity held under `ticket` for this session and case, removed as it is
        taken; None when there is none (taken already, expired, or another's)."""
        now = time.monotonic()
        with self._lock:
            self._drop_expired(now)
            held = self._held.get(ticket)
            if held is None or (held.session_key, held.warning_id) != (session_key, warning_id):
                return None
            del self._held[ticket]
        return held.shown

    def _drop_expired(self, now: float) -> None:
        for ticket in [t for t, held in self._held.items() if held.until <= now]:
            del self._held[ticket]
