"""Group commit: score requests written at the same time share one transaction and one COMMIT.

Under concurrent single-record requests the store write cost more than scoring: each request
began its own transaction, queued for SQLite's one write lock (its busy handler sleeps and
polls) and committed alone. Here the first writer to arrive leads: it takes every write
waiting at that moment, runs them one after another in one transaction, commits, and wakes
their callers; a write arriving meanwhile waits for the next group, led by the first of them.

Nothing changes for a caller: its write is committed (durable as any commit of the store)
before `submit` returns, its answer is its own, and it sees the writes queued before it as a
sequential writer would (same transaction, in arrival order). If a group's transaction fails,
each of its writes is retried alone through the store's ordinary path, so one write's error
is never another's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(eq=False)
class _Job(Generic[T]):
    work: Callable[[Session], T]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    result: T | None = None
    error: BaseException | None = None

    def answer(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommitter:
    """Runs write functions in shared transactions (see the module docstring).

    `begin` opens a write transaction as a context manager yielding a session (the store's
    `sessionmaker.begin`); `alone` runs one write by itself with the store's retries.
    """

    def __init__(
        self, begin: Callable[[], Any], alone: Callable[[Callable[[Session], Any]], Any]
    ) -> None:
        self._begin = begin
        self._alone = alone
        self._lock = threading.Lock()
        self._pending: list[_Job[Any]] = []
        self._leading = False

    def submit(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in a committed transaction, maybe shared; its answer."""
        job: _Job[T] = _Job(work)
        with self._lock:
            self._pending.append(job)
            job.lead = not self._leading
            self._leading = True
        if not job.lead:
            job.done.wait()
            if not job.lead:  # answered by a leader, not woken to lead
                return job.answer()
        with self._lock:
            group, self._pending = self._pending, []
        try:
            self._run(group)
        finally:
            with self._lock:
                if self._pending:  # the next group's first writer leads it
                    following = self._pending[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._leading = False
        return job.answer()

    def _run(self, group: list[_Job[Any]]) -> None:
        try:
            with self._begin() as session:
                results = [job.work(session) for job in group]
        except BaseException:
            for job in group:
                self._settle_alone(job)
            return
        for job, result in zip(group, results, strict=True):
            job.result = result
            self._release(job)

    def _settle_alone(self, job: _Job[Any]) -> None:
        """Run `job` by itself (the store's own retries) after its group failed."""
        try:
            job.result = self._alone(job.work)
        except BaseException as exc:  # the caller re-raises it
            job.error = exc
        self._release(job)

    @staticmethod
    def _release(job: _Job[Any]) -> None:
        if not job.lead:
            job.done.set()
