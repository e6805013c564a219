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
is never another's; but when SQLite's write lock outlasted the busy timeout, the group and
the writes queued meanwhile all fail at once with that error (`is_lock_timeout`): retried
alone, each would wait out the busy timeout again, and a score request answered only after
twice the busy timeout (one of a group of n after n + 1 times).

`submit_future` queues a write without a thread waiting for it (the score route on the event
loop awaits the future): when no writer leads, the committer's own writer thread leads the
group, and a group whose first write has no waiting thread is led by that thread too. The
future's answer is set after the commit, as `submit` returns after it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from serving.store.sqlite import is_lock_timeout

T = TypeVar("T")


@dataclass(eq=False)
class _Job(Generic[T]):
    work: Callable[[Session], T]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    result: T | None = None
    error: BaseException | None = None
    #: set for a job queued by `submit_future` (no thread waits on `done`)
    future: Future[T] | None = None

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
        self._writer: ThreadPoolExecutor | None = None  # leads future-only groups; made on use

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
        self._lead()
        return job.answer()

    def submit_future(self, work: Callable[[Session], T]) -> Future[T]:
        """Queue `work(session)` for a committed transaction, maybe shared; a future of its
        answer (set after the commit), for a caller that must not block (an event loop)."""
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()  # never cancelled: a queued write is written
        job = _Job(work, future=future)
        with self._lock:
            self._pending.append(job)
            lead = not self._leading
            self._leading = True
        if lead:
            self._writer_thread().submit(self._lead, writer=True)
        return future

    def close(self) -> None:
        """Stop the writer thread once the writes queued for it are committed."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)

    def _writer_thread(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="riskloop-store-writer")
            return self._writer

    def _lead(self, *, writer: bool = False) -> None:
        """Run the waiting group, then hand the lead on: to the next group's first writer if
        a thread waits for it, else to the writer thread (which, leading, keeps on while the
        next group's first write has no thread waiting, so `close` finds nothing left)."""
        while True:
            with self._lock:
                group, self._pending = self._pending, []
            try:
                self._run(group)
            finally:
                with self._lock:
                    following = self._pending[0] if self._pending else None
                    if following is None:
                        self._leading = False
                    elif following.future is None:
                        following.lead = True
                        following.done.set()
            if following is None or following.future is None:
                return
            if not writer:  # a caller's thread returns to its caller
                self._writer_thread().submit(self._lead, writer=True)
                return

    def _run(self, group: list[_Job[Any]]) -> None:
        try:
            with self._begin() as session:
                results = [job.work(session) for job in group]
        except BaseException as exc:
            if is_lock_timeout(exc):
                self._refuse(group, exc)
            else:
                self._settle_alone(group)
            return
        for job, result in zip(group, results, strict=True):
            job.result = result
            self._release(job)

    def _settle_alone(self, group: list[_Job[Any]]) -> None:
        """Run each job by itself (the store's own retries) after its group failed."""
        for position, job in enumerate(group):
            try:
                job.result = self._alone(job.work)
            except BaseException as exc:  # the caller re-raises it
                if is_lock_timeout(exc):
                    self._refuse(group[position:], exc)
                    return
                job.error = exc
            self._release(job)

    def _refuse(self, jobs: list[_Job[Any]], timeout: BaseException) -> None:
        """Answer `jobs`, and the writes queued while they waited for the lock, with the
        busy timeout's error: none of them was written."""
        with self._lock:
            queued, self._pending = self._pending, []
        for job in [*jobs, *queued]:
            job.error = copy.copy(timeout)  # each caller raises its own
            self._release(job)

    @staticmethod
    def _release(job: _Job[Any]) -> None:
        if job.future is not None:
            if job.error is not None:
                job.future.set_exception(job.error)
            else:
                job.future.set_result(job.result)
        elif not job.lead:
            job.done.set()
