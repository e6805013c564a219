"""A delivery round the warnings store leaves in the middle: a real PostgreSQL server is stopped
while the receiver holds the round's first POST, so the answer cannot be recorded.

Before, the posted event stayed claimed for the lease (120 s by default), was posted a second
time when the lease ran out, and its department's later events, claimed in the same round,
waited behind it all that time. Now what the round could not record is written first once the
store answers: the delivered event is not posted again, and the rest go out in the next round.
The lease here is the default one, so a fix that only waited would not pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from serving.delivery import Deliverer
from serving.store import WarningStore
from serving.store.common import is_outage
from serving.store.outbox import Outbox
from tests.processes import PrivatePostgres
from tests.serving.loop.receiver import Delivery, Receiver
from tests.serving.loop.test_delivery import SECRET, _hook, _raise, _settings
from tests.serving.loop.test_notify_loop_outage import _database

DEPARTMENT = "county_centre"  # where wage-arrears warnings go


@pytest.fixture()
def server() -> Iterator[PrivatePostgres]:
    started = PrivatePostgres()
    try:
        yield started
    finally:
        started.remove()


def _stop_at_first_post(server: PrivatePostgres, receiver: Receiver) -> Callable[[Delivery], None]:
    """A receiver hook: the first request stops the server before it is answered; the
    requests after it are answered 200."""
    seen: list[Delivery] = []

    def hook(delivery: Delivery) -> None:
        if not seen:
            seen.append(delivery)
            server.stop()
            receiver.fail_first = 0  # this request's answer is chosen already

    return hook


def _round_meets_the_outage(deliverer: Deliverer) -> None:
    with pytest.raises(Exception) as raised:
        deliverer.run_once()
    assert is_outage(raised.value), raised.value


@pytest.mark.parametrize("first_answer", [200, 500])
def test_what_a_round_could_not_record_is_written_when_the_store_answers(
    server: PrivatePostgres, tmp_path: Path, first_answer: int
) -> None:
    settings = _settings(tmp_path)  # the default lease: 120 s
    assert settings.notify_lease_s >= 60
    with (
        WarningStore(_database(server), "pseudonym-secret") as store,
        Receiver(SECRET, fail_first=1 if first_answer == 500 else 0) as receiver,
    ):
        receiver.on_answer = _stop_at_first_post(server, receiver)
        _hook(store, settings, receiver.url, DEPARTMENT)
        _raise(store, ["first", "second", "third"])
        outbox = Outbox(store)
        events = [e["event_id"] for e in outbox.events()]
        assert len(events) == 3
        deliverer = Deliverer(store, settings)
        try:
            _round_meets_the_outage(deliverer)  # the server stops during the first POST
            _round_meets_the_outage(deliverer)  # still down: nothing is lost
            server.start()
            report = deliverer.drain()
        finally:
            deliverer.close()
        posted = [d.event_id for d in receiver.log]
        states = {e["event_id"]: e for e in outbox.events()}
    if first_answer == 200:
        # the first event's answer was recorded late, never posted again; the others followed
        assert posted == events, posted
        assert report.delivered == 2 and report.retried == 0
        assert states[events[0]]["attempts"] == 1
    else:
        # the failed first attempt was recorded late, so the retry still comes first
        assert posted == [events[0], *events], posted
        assert report.delivered == 3
        assert states[events[0]]["attempts"] == 2
    assert all(states[e]["delivered_at"] for e in events), states
    assert set(receiver.unique()) == set(events)


def test_a_kept_write_that_fails_otherwise_is_dropped_and_rounds_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    with (
        WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "pseudonym-secret") as store,
        Receiver(SECRET) as receiver,
    ):
        _hook(store, settings, receiver.url, DEPARTMENT)
        _raise(store, ["first"])
        deliverer = Deliverer(store, settings)

        def broken() -> None:
            raise ValueError("not an outage")

        deliverer._keep_unrecorded(broken)  # as an outage would have kept it
        try:
            report = deliverer.run_once()
            assert deliverer.run_once().attempted == 0
        finally:
            deliverer.close()
    assert report.delivered == 1 and len(receiver.unique()) == 1
    dropped = [r for r in caplog.records if "failed and is dropped" in r.getMessage()]
    assert len(dropped) == 1, caplog.text
