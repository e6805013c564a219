"""The outbox at the service's `/metrics`: notifications pending and dead, by department.

A dead letter used to be one log line: an operator whose receiver was down for a while learnt
of the lost events only by running `riskloop notify --dead`. The service's delivery thread
publishes the outbox's backlog after every round (`Deliverer.run_forever`), so an alert can
fire on `riskloop_notifications{state="dead"} > 0` or on a pending event growing old (a
department's line held behind an event that keeps failing). The values are the store's, not
one process's tally: every replica publishes the same numbers, the most recent one is shown.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

import bentoml

from serving.store.common import is_outage, utc_now
from serving.store.outbox import Outbox

logger = logging.getLogger("riskloop.serving")
#: How often a service that delivers nothing itself (`RISKLOOP_NOTIFY_INTERVAL_S=0`: the
#: notifications go out from `riskloop notify --loop`) reads the outbox for its `/metrics`.
WATCH_INTERVAL_S = 30.0

NOTIFICATIONS = bentoml.metrics.Gauge(
    name="riskloop_notifications",
    documentation="Notifications in the outbox by department: pending (to be delivered or "
    "retried) and dead (dead-lettered: `riskloop notify --dead` lists them, --requeue sends "
    "them again).",
    labelnames=["department", "state"],
    multiprocess_mode="livemostrecent",
)
OLDEST_PENDING = bentoml.metrics.Gauge(
    name="riskloop_notifications_oldest_pending_seconds",
    documentation="Age of the department's oldest pending notification (0: none pending).",
    labelnames=["department"],
    multiprocess_mode="livemostrecent",
)


def publish(outbox: Outbox, now: datetime) -> None:
    """Set the gauges from the outbox as it is now (a department's zeros included)."""
    for department, backlog in outbox.backlog().items():
        NOTIFICATIONS.labels(department=department, state="pending").set(backlog["pending"])
        NOTIFICATIONS.labels(department=department, state="dead").set(backlog["dead"])
        oldest = backlog["oldest_pending"]
        age = 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)
        OLDEST_PENDING.labels(department=department).set(age)


def watch_forever(outbox: Outbox, stop: threading.Event, interval_s: float) -> None:
    """Publish the backlog every `interval_s` until `stop` is set: the gauges of a service
    whose notifications another process delivers (they stayed unset there, so an alert on
    dead letters never fired). A round that fails is logged, not fatal: a store outage as
    `OutageLog` says (when it starts, about once a minute, when it ends), not with a traceback
    every round."""
    from serving.delivery import OutageLog

    outage = OutageLog(logger, "outbox metrics reading")
    while not stop.is_set():
        try:
            publish(outbox, utc_now())
            outage.answered()
        except Exception as exc:  # the thread must outlive a store outage
            if is_outage(exc):
                outage.failed(exc)
            else:
                logger.warning("the outbox's backlog could not be read for /metrics", exc_info=True)
        if stop.wait(interval_s):
            return
