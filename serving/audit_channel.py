"""The channel an action came through (the API, the console, the command line), for its audit
rows: each entry point sets it for what it runs, the store's audit writer adds it to the row.

A module of its own, importing nothing of ours: the `riskloop` command line sets it before
every command, and importing the store for that would slow each one's start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

Channel = Literal["api", "console", "cli"]
#: `api` for a `/v1/` request (set by the guard), `console` for a console page (its app),
#: `cli` for a `riskloop` command (its entry point); None for the service's own work (a
#: sweep, a start-up load). Set in a task or thread, it reaches the tasks and the
#: `anyio.to_thread` calls that one starts, not a writer thread the store hands work to: an
#: audit row is built where the channel is set.
AUDIT_CHANNEL: ContextVar[Channel | None] = ContextVar("riskloop_audit_channel", default=None)


@contextmanager
def audit_channel(channel: Channel) -> Iterator[None]:
    """Audit rows written inside the block say they came through `channel`."""
    token = AUDIT_CHANNEL.set(channel)
    try:
        yield
    finally:
        AUDIT_CHANNEL.reset(token)


def with_channel(detail: Mapping[str, Any]) -> dict[str, Any]:
    """An audit row's detail with the channel its action came through, when one is set (a
    detail naming its own is kept as it is)."""
    channel = AUDIT_CHANNEL.get()
    if channel is None or "channel" in detail:
        return dict(detail)
    return {**detail, "channel": channel}
