"""QA 60: a slow or hanging receiver delays its own department only.

The delivery loop used to wait for every department's thread before its next round: with one
department's receiver hanging, another department got its event 7 s late (41.9 s with a receiver
trickling its answer's body), and no missed deadline was noted meanwhile. An attempt also read
the answer's body, a byte every few seconds, far past `RISKLOOP_NOTIFY_TIMEOUT_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from serving.delivery import Deliverer
from serving.policy import task_owner
from serving.store import WarningStore
from serving.store.common import utc_now
from serving.store.models import RiskWarning
from serving.store.outbox import Outbox
from tests.serving.loop.receiver import Receiver
from tests.serving.loop.test_delivery import OTHER, SECRET, TASK, _hook, _raise, _settings

HANGING = task_owner(OTHER)  # anti_fraud: telecom-fraud warnings
QUICK = task_owner(TASK)  # county_centre: wage-arrears warnings, and their missed deadlines


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[WarningStore]:
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "pseudonym-secret") as opened:
        yield opened


def _wait(condition: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {within_s} s"
        time.sleep(0.02)


def _make_overdue(store: WarningStore, warning_id: str) -> None:
    """The warning's deadline passed an hour ago (as if it had been raised a day earlier)."""
    with store.engine.begin() as connection:
        connection.execute(
            update(RiskWarning)
            .where(RiskWarning.id == warning_id)
            .values(due_at=utc_now() - timedelta(hours=1))
        )


def test_a_hanging_receiver_holds_up_no_other_department_nor_the_deadline_sweep(
    store: WarningStore, tmp_path: Path
) -> None:
    """The service's loop: while one department's receiver holds its POST (8 s time-out), the
    other department gets a new event and a missed deadline's event within seconds; and
    the hanging department's event, its lease (1 s) run out meanwhile, is not claimed and
    posted a second time beside the first by the same worker."""
    settings = _settings(
        tmp_path,
        notify_timeout_s=8,
        notify_backoff_s=60,
        notify_max_attempts=9,
        notify_lease_s=1,
    )
    with Receiver(SECRET, delay_s=10) as hanging, Receiver(SECRET) as quick:
        _hook(store, settings, hanging.url, HANGING)
        _hook(store, settings, quick.url, QUICK)
        deliverer = Deliverer(store, settings)
        stop = threading.Event()
        loop = threading.Thread(target=deliverer.run_forever, args=(stop, 0.1), daemon=True)
        loop.start()
        try:
            _raise(store, ["fraud-1"], task=OTHER)
            _wait(lambda: len(hanging.log) == 1, 5, "the hanging receiver's request")
            hung_at = time.monotonic()
            (raised,) = _raise(store, ["arrears-1"])
            _wait(lambda: len(quick.unique()) == 1, 3, "the other department's event")
            _make_overdue(store, raised)
            _wait(
                lambda: (
                    {body["type"] for body in quick.unique().values()}
                    == {"warning.raised", "warning.overdue"}
                ),
                3,
                "the missed deadline's event",
            )
            assert time.monotonic() - hung_at < 7  # all while the first receiver hangs
            time.sleep(1.0)  # its lease has run out, its POST still hangs
            assert [d.event_id for d in hanging.log] == [
                e["event_id"] for e in Outbox(store).events() if e["department"] == HANGING
            ]
        finally:
            stop.set()
            loop.join(timeout=10)
            deliverer.close()
    assert not loop.is_alive()
    (tried,) = [e for e in Outbox(store).events() if e["department"] == HANGING]
    assert tried["attempts"] == 1 and "ReadTimeout" in tried["last_error"]


class _Trickling:
    """A receiver that answers `200` at once, then its body a byte a second (QA's receiver sent
    one every 3 s); as a context manager."""

    BODY_BYTES = 6

    def __enter__(self) -> _Trickling:
        receiver = self
        self.posts = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts += 1
                self.send_response(200)
                self.send_header("Content-Length", str(receiver.BODY_BYTES))
                self.end_headers()
                try:
                    for _ in range(receiver.BODY_BYTES):
                        time.sleep(1)
                        self.wfile.write(b"x")
                except OSError:  # the client closed without reading: as it should
                    pass

            def log_message(self, *_args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/riskloop"


def test_an_answer_whose_body_trickles_is_taken_at_its_status(
    store: WarningStore, tmp_path: Path
) -> None:
    """A 2xx status is the answer: the body is not read, so a receiver trickling it (6 s, each
    byte well within the 2 s time-out) holds the attempt for no longer than its status takes."""
    settings = _settings(tmp_path, notify_timeout_s=2)
    with _Trickling() as receiver:
        _hook(store, settings, receiver.url, QUICK)
        _raise(store, ["arrears-trickle"])
        deliverer = Deliverer(store, settings)
        try:
            started = time.monotonic()
            report = deliverer.run_once()
            elapsed = time.monotonic() - started
        finally:
            deliverer.close()
    assert (report.delivered, report.retried, receiver.posts) == (1, 0, 1)
    assert elapsed < 4.0, elapsed  # the body alone takes 6 s: read, it would be over 6
    (event,) = Outbox(store).events()
    assert event["delivered_at"] is not None and event["attempts"] == 1
