"""Delivering the outbox to departments' webhooks, and noting missed deadlines.

`Deliverer.run_once` claims the events that are due (a lease, so a killed worker's events are
retried when it ends), POSTs each event's JSON with its signature and id headers
(`serving.webhooks`), and records the answer: 2xx delivers it; anything else (an error status,
a refused connection, a timeout) schedules a retry after an exponential backoff with jitter,
and after `notify_max_attempts` attempts (by default at least a day of retries) the event is
dead-lettered (`riskloop notify --dead`, `--requeue`; the service's `/metrics` counts pending
and dead events by department). Delivery is at least once: a receiver deduplicates by the
`X-Riskloop-Event-Id` header. Any error of the POST (a URL whose host the client cannot encode
as well as an unreachable one) is a failed attempt like an error status; the log names its
class, never the URL. An attempt reads the answer's status, never its body (`_post`).
Departments are delivered side by side (a thread each), each one's events in the order they
were written: after a failed attempt the department's other events wait for that event's retry,
no attempt counted (the outbox's claim holds them behind it in later rounds too), so nothing
overtakes an event waiting to be retried, and an endpoint that cannot be reached costs one
time-out per retry.

The service runs `Deliverer.run_forever` on a daemon thread (`notify_interval_s`; 0 leaves the
job to `riskloop notify --loop`, which runs it in its own process); each round also notes missed
deadlines (`WarningStore.note_overdue`), whose events then go out in the same round. Its rounds
do not wait for the departments still being posted to: they go on every interval, noting
deadlines and starting the other departments' due events, and never claim a department this
worker is still posting to (`run_once`, for `riskloop notify --once`, waits for them all), so a
slow or hanging receiver delays its own department only. A webhook secrets file that cannot be
used holds every event (not claimed, no attempt counted), said once in the log, until it is
repaired. A round the warnings store does not answer is skipped and the next one tries again:
the outage is logged when it starts, about once a minute while it lasts and when it ends
(`OutageLog`). When the store goes away in the middle of a round, what the round could not
record (a POST's answer, the department's events it had not tried yet, still under its lease)
is kept and written first once the store answers again: a delivered event is not posted a
second time and its department's later events do not wait out the lease (`notify_lease_s`,
120 s by default). A department's failing deliveries are logged the same way: once when they
start failing, once when one goes through again (`FailingDepartments`), not at every attempt.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from models.departments import DEPARTMENTS
from models.secret_keys import SecretsFileError
from models.settings import Settings, load_ca_file
from serving.store import WarningStore
from serving.store.common import OUTAGE_MESSAGE, is_outage, outage_cause
from serving.store.common import utc_now as clock_now
from serving.store.outbox import Outbox, new_event_id
from serving.webhook_secrets import SecretBook
from serving.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

logger = logging.getLogger("riskloop.delivery")

DELIVERY_ACTOR = "system:notify"
# events claimed per round: a round posts them one by one, well within the lease
CLAIM_LIMIT = 20
USER_AGENT = "riskloop-webhooks/1"
#: While the warnings store does not answer, how often a worker says that it still does not.
OUTAGE_REPEAT_S = 60.0


@dataclass
class RoundReport:
    """What one delivery round did."""

    overdue: list[str] = field(default_factory=list)
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retried + self.dead


def backoff(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds before retry number `attempt` (1 = the first retry), "equal jitter": a uniform
    draw between half and all of `min(max_s, base_s * 2**(attempt-1))`, so many failed events
    spread out instead of retrying together, yet none retries at once."""
    ceiling = min(max_s, base_s * (2 ** max(attempt - 1, 0)))
    return rng.uniform(ceiling / 2, ceiling)


def body_bytes(payload: dict[str, Any], public_url: str) -> bytes:
    """The POST body: the stored payload with the case links made absolute (stable key order)."""
    base = public_url.rstrip("/")
    document = {**payload, "link": base + str(payload.get("link", ""))}
    if "console_link" in payload:  # events stored before it existed go without
        document["console_link"] = base + str(payload["console_link"])
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")


def webhook_tls(settings: Settings) -> ssl.SSLContext:
    """How webhook endpoints' certificates are verified: the public certificate authorities
    (certifi's bundle, as httpx by default) and those of `RISKLOOP_WEBHOOK_CA_FILE`, a city
    intranet's own, when it is set. `SSL_CERT_FILE` is not read (the client ignores the
    environment), so the setting is the one place a deployment names its CA."""
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    if settings.webhook_ca_file is not None:
        load_ca_file(context, settings.webhook_ca_file)
    return context


class EndpointRefused(ValueError):
    """riskloop will not post to this endpoint as configured; the message says why."""


class PostFailed(Exception):
    """A POST that got no answer: the endpoint could not be reached, or the client could not
    send to its URL (a host that does not encode); the message is the error's class and text,
    on one line."""


def endpoint_refusal(url: str, settings: Settings) -> str | None:
    """Why an event is not posted to `url`, or None: with RISKLOOP_ENV=production only
    https:// endpoints get case data (a URL set before production, or outside it, stays
    in the store and is checked again at each attempt)."""
    if settings.env == "production" and urlsplit(url).scheme.lower() != "https":
        return (
            "not posted: RISKLOOP_ENV=production sends notifications to https:// webhook URLs "
            "only; set one with `riskloop departments set-webhook`"
        )
    return None


class OutageLog:
    """A warnings-store outage in a worker's log: one line when it starts, at most one every
    `repeat_s` while it lasts, one when it ends. A worker retrying every couple of seconds
    logged every failed round (30 lines a minute per replica while the store restarted)."""

    def __init__(
        self,
        log: logging.Logger,
        work: str,
        *,
        repeat_s: float = OUTAGE_REPEAT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._work = work  # what is skipped, e.g. "notification round"
        self._repeat_s = repeat_s
        self._clock = clock
        self._since: float | None = None
        self._said_at = 0.0
        self._skipped = 0

    def failed(self, exc: BaseException) -> None:
        """One more round the store did not answer (`exc`: its connection error)."""
        now = self._clock()
        self._skipped += 1
        if self._since is None:
            self._since = self._said_at = now
            self._log.warning("%s skipped: %s (%s)", self._work, OUTAGE_MESSAGE, outage_cause(exc))
        elif now - self._said_at >= self._repeat_s:
            self._said_at = now
            self._log.warning(
                "%ss still skipped: the warnings store has not answered for %.0f s "
                "(%d round(s) skipped; %s)",
                self._work,
                now - self._since,
                self._skipped,
                outage_cause(exc),
            )

    def answered(self) -> None:
        """The store answered a round: says the outage ended, if there was one."""
        if self._since is None:
            return
        self._log.warning(
            "%ss resumed: the warnings store answers again after %.0f s (%d round(s) skipped)",
            self._work,
            self._clock() - self._since,
            self._skipped,
        )
        self._since = None
        self._skipped = 0


class FailingDepartments:
    """Departments whose deliveries fail, in a worker's log: one WARNING when a department's
    deliveries start failing, one INFO when one of its events is delivered again. The attempts
    between say nothing here (the outbox and `/metrics` count them), as `OutageLog` says a
    store outage once: a receiver down for a day retries some 30 times per event.

    A cause is an HTTP status, an error's class or riskloop's own reason for not posting, never
    the URL (its path or query may hold a token), a secret or a payload. Thread-safe: the
    departments of a round are delivered side by side.
    """

    def __init__(self, log: logging.Logger, *, clock: Callable[[], float] = time.monotonic):
        self._log = log
        self._clock = clock
        self._lock = threading.Lock()
        self._failing: dict[str, tuple[float, int]] = {}  # since when, failed attempts

    def failed(self, department: str, cause: str) -> None:
        """One more failed attempt at one of `department`'s events."""
        with self._lock:
            since, attempts = self._failing.get(department, (self._clock(), 0))
            self._failing[department] = (since, attempts + 1)
        if attempts == 0:
            self._log.warning(
                "notifications to %s failing: %s (retried with backoff; `riskloop notify "
                "--dead` lists those that give up)",
                department,
                cause,
            )

    def delivered(self, department: str) -> None:
        """One of `department`'s events went through: says its failures ended, if it had any."""
        with self._lock:
            found = self._failing.pop(department, None)
        if found is None:
            return
        since, attempts = found
        self._log.info(
            "notifications to %s delivered again after %.0f s (%d failed attempt(s))",
            department,
            self._clock() - since,
            attempts,
        )


class Deliverer:
    """Works through the outbox; one instance per process, whose rounds one thread runs
    (`run_forever`, or `run_once` and `drain`: not both on one instance)."""

    def __init__(
        self,
        store: WarningStore,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.outbox = Outbox(store)
        self.settings = settings
        self.secrets = SecretBook(settings.webhook_secrets_file)
        self._client = client or httpx.Client(
            timeout=settings.notify_timeout_s,  # each step of an attempt (`_post`)
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            verify=webhook_tls(settings),
            trust_env=False,  # no proxy or CA bundle from the environment: the settings say
        )
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._retry_at_of: dict[str, datetime] = {}  # a retried event's retry, by event id
        self.failing = FailingDepartments(logger)
        # writes a store outage kept from the outbox, in order: written first next round
        self._unrecorded: list[Callable[[], None]] = []
        self._unrecorded_lock = threading.Lock()
        # a thread for every department riskloop knows (webhooks are set for those only),
        # each started when first needed and kept across rounds: none waits for another's
        self._pool = ThreadPoolExecutor(
            max_workers=len(DEPARTMENTS), thread_name_prefix="riskloop-notify"
        )
        self._in_flight: dict[str, Future[list[str]]] = {}  # by department, until collected
        self._turn_ended = threading.Event()  # a department's turn ended: more may be due
        self._closing = threading.Event()
        self._secrets_problem: str | None = None  # what the log last said of the secrets file

    def close(self) -> None:
        """Wait for the attempts under way (at most one per department); the departments'
        other claimed events go back in line, no attempt counted."""
        self._closing.set()
        self._pool.shutdown(wait=True)
        self._client.close()

    def run_once(self, *, note_overdue: bool = True, limit: int = CLAIM_LIMIT) -> RoundReport:
        """Note missed deadlines, then try every due event once and wait for every answer;
        returns what happened.

        Raises:
            SecretsFileError: the webhook secrets file cannot be used (nothing was claimed).
        """
        report = RoundReport()
        self._start_round(report, note_overdue=note_overdue, limit=limit)
        wait(list(self._in_flight.values()))
        self._collect(report)
        return report

    def _start_round(self, report: RoundReport, *, note_overdue: bool, limit: int) -> int:
        """Write what an outage kept, note missed deadlines, then claim the due events of the
        departments not in flight and start posting them, a thread per department; how many
        events were claimed. The answers are counted later (`_collect`).

        Raises:
            SecretsFileError: the webhook secrets file cannot be used: nothing is claimed, the
                events wait for its repair, no attempt counted.
        """
        self._write_unrecorded()
        if note_overdue:
            report.overdue = self.store.note_overdue(actor="system:overdue")
        self.secrets.check()
        now = clock_now()
        lease = timedelta(seconds=self.settings.notify_lease_s)
        leased_until = now + lease  # what the claim wrote: a later write checks it is still so
        claimed = self.outbox.claim(now=now, lease=lease, limit=limit, exclude=set(self._in_flight))
        queues: dict[str, list[dict[str, Any]]] = {}
        for event in claimed:
            queues.setdefault(event["department"], []).append(event)
        urls = self.outbox.webhooks(say_unopened=True) if queues else {}
        for department, queue in queues.items():
            turn = self._pool.submit(self._deliver_queue, queue, urls.get(department), leased_until)
            turn.add_done_callback(lambda _turn: self._turn_ended.set())
            self._in_flight[department] = turn
        return len(claimed)

    def _collect(self, report: RoundReport) -> None:
        """Count the outcomes of the departments whose turn ended, which the next claims may
        take again. A turn that ended in an error (a store outage) raises it once every ended
        turn is counted."""
        failure: Exception | None = None
        for department, turn in list(self._in_flight.items()):
            if not turn.done():
                continue
            del self._in_flight[department]
            try:
                outcomes = turn.result()
            except Exception as exc:
                failure = failure or exc
                continue
            for outcome in outcomes:
                if outcome == "delivered":
                    report.delivered += 1
                elif outcome == "dead":
                    report.dead += 1
                else:
                    report.retried += 1
        if failure is not None:
            raise failure

    def _deliver_queue(
        self, events: list[dict[str, Any]], url: str | None, leased_until: datetime
    ) -> list[str]:
        """One department's claimed events (leased until `leased_until`) in the order they were
        written. When one fails and is to be retried (an error answer, a refused connection, a
        time-out), the rest wait for that retry, no attempt counted: the department gets its
        events in order (an event never overtakes an earlier one waiting for its retry), and a
        hanging receiver costs one time-out per retry, not one per event. A dead letter holds
        nothing up. A webhook removed since the claim posts nothing: the events go back to wait
        for one, no attempt counted; so do those not tried yet when the secrets file becomes
        unusable or the worker closes. A store outage ends the department's turn: the events
        not tried yet go back in line, no attempt counted, once the store answers again."""

        def back_in_line(event_ids: list[str], until: datetime) -> Callable[[], None]:
            return partial(self.outbox.postpone, event_ids, until=until, leased_until=leased_until)

        if url is None:
            self._recorded(back_in_line([e["event_id"] for e in events], clock_now()))
            return []
        outcomes: list[str] = []
        for index, event in enumerate(events):
            later = [e["event_id"] for e in events[index + 1 :]]
            if self._closing.is_set():  # the worker stops: the rest go to the next one
                self._recorded(back_in_line([event["event_id"], *later], clock_now()))
                return outcomes
            try:
                outcome = self._deliver(event, url)
            except Exception as exc:
                if is_outage(exc):  # this event's answer is kept by `_recorded`
                    self._keep_unrecorded(back_in_line(later, clock_now()))
                raise
            if outcome == "held":  # the secrets file became unusable: they wait for its repair
                self._recorded(back_in_line([event["event_id"], *later], clock_now()))
                return outcomes
            if outcome == "retried":
                retry_at = self._retry_at_of.pop(event["event_id"])
                self._recorded(back_in_line(later, retry_at))
                return [*outcomes, "retried"]
            outcomes.append(outcome)
        return outcomes

    def _recorded(self, write: Callable[[], None]) -> None:
        """One of the round's outbox writes; one the store did not take (an outage) is kept to
        be written first in a later round (`_write_unrecorded`), and the outage raised."""
        try:
            write()
        except Exception as exc:
            if is_outage(exc):
                self._keep_unrecorded(write)
            raise

    def _keep_unrecorded(self, write: Callable[[], None]) -> None:
        with self._unrecorded_lock:  # departments' threads
            self._unrecorded.append(write)

    def _write_unrecorded(self) -> None:
        """What an outage kept from the outbox, in order: a POST's answer (a delivered event
        is not posted again when its lease runs out), events put back in line (under this
        worker's lease only: once it runs out, another worker may hold them). A store that
        still does not answer raises, and what is left waits for the next round; a write that
        fails otherwise is logged and dropped (its events are claimed again when their lease
        runs out), so that it cannot stop every round after it."""
        while self._unrecorded:
            try:
                self._unrecorded[0]()
            except Exception as exc:
                if is_outage(exc):
                    raise
                logger.exception(
                    "an outbox write kept through a store outage failed and is dropped (its "
                    "events go out again when their lease runs out)"
                )
            with self._unrecorded_lock:
                self._unrecorded.pop(0)

    def drain(self, *, max_rounds: int = 1000) -> RoundReport:
        """Rounds until nothing is due now (`riskloop notify --once`)."""
        total = RoundReport()
        for index in range(max_rounds):
            report = self.run_once(note_overdue=index == 0)
            total.overdue += report.overdue
            total.delivered += report.delivered
            total.retried += report.retried
            total.dead += report.dead
            if report.attempted == 0:
                break
        return total

    def run_forever(
        self,
        stop: threading.Event,
        interval_s: float,
        *,
        after_round: Callable[[RoundReport], None] | None = None,
    ) -> None:
        """Rounds every `interval_s` until `stop` is set: at once while there is more due, or
        when a department's turn ends (its next events may be due). A round counts the
        departments whose turn ended, then starts the due events of the others and returns
        without waiting for their answers (`_start_round`): a department being posted to holds
        up no other, nor the deadline sweep.

        A round the warnings store does not answer is skipped and logged as `OutageLog` says;
        an unusable webhook secrets file is said once (`_say_secrets_file`), its events held;
        any other failing round is logged with its traceback; none ends the loop (the
        service's thread, and `riskloop notify --loop` under a supervisor, must outlive a
        database restart). `after_round` runs after each round that worked, inside the same
        guard: the service publishes the outbox's backlog to `/metrics` there
        (`serving.outbox_metrics`), `riskloop notify --loop` reports dead letters. A stop is
        seen within `interval_s`.
        """
        outage = OutageLog(logger, "notification round")
        if logger.level == logging.NOTSET:  # a root logger that passes warnings only (BentoML's)
            logger.setLevel(logging.INFO)  # would hide that a department's deliveries recovered
        while not stop.is_set():
            self._turn_ended.clear()  # a turn ending from here on wakes the pause below
            busy = False
            try:
                report = RoundReport()
                self._collect(report)
                try:
                    claimed = self._start_round(report, note_overdue=True, limit=CLAIM_LIMIT)
                    busy = claimed >= CLAIM_LIMIT  # more may be due now
                    self._say_secrets_file(None)
                except SecretsFileError as exc:
                    self._say_secrets_file(str(exc))
                if after_round is not None:
                    after_round(report)
                outage.answered()
            except Exception as exc:  # the worker must outlive a store outage or a bad row
                if is_outage(exc):  # the operator's to see in one line, as every request's
                    outage.failed(exc)
                else:
                    logger.exception("notification round failed")
            if self._pause(stop, 0 if busy else interval_s):
                return

    def _pause(self, stop: threading.Event, seconds: float) -> bool:
        """Wait `seconds`, less when a department's turn ends; whether `stop` is set."""
        if not self._in_flight:
            return stop.wait(seconds)
        self._turn_ended.wait(seconds)
        return stop.is_set()

    def _say_secrets_file(self, problem: str | None) -> None:
        """An unusable webhook secrets file in the log: one line when it starts (or its
        problem changes), one when it reads again; the rounds between say nothing."""
        if problem == self._secrets_problem:
            return
        if problem is None:
            logger.warning("notifications resumed: the webhook secrets file reads again")
        else:
            logger.warning(
                "notifications held: %s (no attempt counted; they go out, in order, once it is "
                "repaired)",
                problem,
            )
        self._secrets_problem = problem

    def ping(self, department: str, url: str) -> int:
        """POST a signed `ping` event to a department's endpoint now; the HTTP status.

        Raises:
            EndpointRefused: the URL is not one this deployment posts to (`endpoint_refusal`).
            LookupError: the department has no signing secret.
            SecretsFileError: the webhook secrets file cannot be used.
            PostFailed: the POST got no answer (unreachable, or a URL the client cannot send to).
        """
        refusal = endpoint_refusal(url, self.settings)
        if refusal is not None:
            raise EndpointRefused(refusal)
        secret = self.secrets.get(department)
        if secret is None:
            raise LookupError(f"department {department} has no signing secret")
        event_id = new_event_id()  # the shape of every event's id; its type says "ping"
        payload = {"event_id": event_id, "type": "ping", "department": department, "link": "/"}
        body = body_bytes(payload, self.settings.public_url)
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: event_id,
            SIGNATURE_HEADER: sign(secret, body),
        }
        try:
            return self._post(url, body, headers)
        except Exception as exc:
            raise PostFailed(" ".join(f"{exc.__class__.__name__}: {exc}".split())) from exc

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST the event; the answer's status. Its body is never read (a 2xx status is the
        answer), so a receiver trickling one holds nothing up. `notify_timeout_s` bounds each
        step on its own, as httpx allows: connecting (with the TLS handshake), sending, each
        wait for more of the status line and headers; httpx has no bound on the whole."""
        with self._client.stream("POST", url, content=body, headers=headers) as response:
            return response.status_code

    def _deliver(self, event: dict[str, Any], url: str) -> str:
        try:
            secret = self.secrets.get(event["department"])
        except SecretsFileError:  # the next round says so, once
            return "held"
        if secret is None:
            return self._failed(event, f"department {event['department']} has no signing secret")
        refusal = endpoint_refusal(url, self.settings)
        if refusal is not None:  # retried as any failure: it waits, then is a dead letter
            return self._failed(event, refusal)
        body = body_bytes(event["payload"], self.settings.public_url)
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: event["event_id"],
            SIGNATURE_HEADER: sign(secret, body),
        }
        try:
            status = self._post(url, body, headers)
        except Exception as exc:  # any error of the POST (no store here): unreachable, a
            # host the client cannot encode (UnicodeError), an ssl error, an InvalidURL
            error = " ".join(f"{exc.__class__.__name__}: {exc}".split())
            return self._failed(event, error, cause=exc.__class__.__name__)
        if 200 <= status < 300:
            self._recorded(partial(self.outbox.delivered, event["event_id"], now=clock_now()))
            self.failing.delivered(event["department"])
            return "delivered"
        return self._failed(event, f"HTTP {status}")

    def _failed(self, event: dict[str, Any], error: str, *, cause: str | None = None) -> str:
        """Record a failed attempt (`error` in the outbox; `cause`, when the error may hold
        what the log must not, e.g. an exception's text, in the log instead)."""
        self.failing.failed(event["department"], cause or error)
        attempt = int(event["attempts"]) + 1
        current: datetime = clock_now()
        if attempt >= self.settings.notify_max_attempts:
            self._recorded(
                partial(self.outbox.failed, event["event_id"], error, retry_at=None, now=current)
            )
            logger.warning(
                "notification %s dead after %d attempts: %s",
                event["event_id"],
                attempt,
                cause or error,
            )
            return "dead"
        retry_at = self._retry_at(attempt, current)
        self._recorded(
            partial(self.outbox.failed, event["event_id"], error, retry_at=retry_at, now=current)
        )
        self._retry_at_of[event["event_id"]] = retry_at  # the turn's other events wait as long
        return "retried"

    def _retry_at(self, attempt: int, now: datetime | None = None) -> datetime:
        """When the `attempt`-th failed try is retried (exponential backoff with jitter)."""
        with self._rng_lock:  # departments' threads share the generator
            delay = backoff(
                attempt,
                self.settings.notify_backoff_s,
                self.settings.notify_backoff_max_s,
                self._rng,
            )
        return (now or clock_now()) + timedelta(seconds=delay)
