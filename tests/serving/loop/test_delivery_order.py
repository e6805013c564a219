"""A department's events arrive in the order they were written, retries included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.delivery import Deliverer
from serving.store import WarningStore
from serving.store.outbox import Outbox
from tests.serving.loop.receiver import Receiver
from tests.serving.loop.test_delivery import SECRET, _hook, _raise, _settings, _until


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[WarningStore]:
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "pseudonym-secret") as opened:
        yield opened


def _written(store: WarningStore) -> list[str]:
    return [event["event_id"] for event in Outbox(store).events()]


def test_an_event_waits_while_an_earlier_one_of_its_department_waits_for_its_retry(
    store: WarningStore, tmp_path: Path
) -> None:
    """Each event fails once (HTTP 500) then succeeds: no later event is posted before the
    earlier one was accepted, so the department sees them in the order they were written."""
    settings = _settings(tmp_path, notify_max_attempts=5)
    with Receiver(SECRET, fail_first=1) as receiver:
        _hook(store, settings, receiver.url, "county_centre", "labour_inspection")
        (warning_id,) = _raise(store, ["employer-order"])
        for department in ("labour_inspection", "county_centre"):  # a re-route in between
            store.add_feedback(
                warning_id,
                actor="user:sup",
                status="dispatched",
                department=department,
                outcome=None,
                note=None,
            )
        _raise(store, ["employer-order-2", "employer-order-3"])
        deliverer = Deliverer(store, settings)
        _until(lambda: Outbox(store).counts()["pending"] == 0, deliverer)
        deliverer.close()
        log = [(d.event_id, d.status) for d in receiver.log]
    rows = Outbox(store).events()
    for department in ("county_centre", "labour_inspection"):
        written = [r["event_id"] for r in rows if r["department"] == department]
        seen = [(event_id, status) for event_id, status in log if event_id in written]
        assert seen == [(event_id, status) for event_id in written for status in (500, 200)]
    assert len(rows) == 6  # the re-route tells both departments


def test_events_that_all_fail_are_tried_in_order_and_a_dead_letter_holds_nothing_up(
    store: WarningStore, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, notify_max_attempts=3)
    with Receiver(SECRET, always=500) as receiver:
        _hook(store, settings, receiver.url, "county_centre")
        _raise(store, ["employer-x", "employer-y", "employer-z"])
        deliverer = Deliverer(store, settings)
        _until(lambda: Outbox(store).counts()["dead"] == 3, deliverer)
        deliverer.close()
        tried = [d.event_id for d in receiver.log]
    assert tried == [event_id for event_id in _written(store) for _ in range(3)]
