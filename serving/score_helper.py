"""A second process that scores part of a large request, so one request uses two cores.

A large request's work (TreeSHAP, reasons, each result's JSON) is mostly Python holding the
GIL: threads cannot share it. `ScoreHelper` keeps one `multiprocessing` process (spawned,
never forked from a threaded server) with copies of the champions, and hands it the tail of a
request's rows over a pipe while the service scores the head: the same functions on the same
model, so the same results and bytes. The request's own thread sends the rows and reads the
answer (a pool's feeder and result threads each waited for the GIL the scoring thread held).
The helper answers each of its rows' JSON and the row the store will keep, made by a
`StoredForms` of its own (the pseudonym secret reaches it over the pipe, never through a file,
an argument or the environment: the pseudonyms and scrubbed reasons and features); the
service keeps the keys (a warning's encrypted id is added there, `WarningStore.seal`) and the
write, one transaction for the whole request.

The split follows the two sides' measured speeds (each request's rows per second, smoothed),
so on any machine both halves end together. The helper is only ever an optimisation: a
request finds it not ready (starting, or loading a newly promoted version), unable to load
that version (said once; the helper keeps serving the other models) or broken, and is scored
in the service's own process, as it would be without it; a broken helper is started again.
`RISKLOOP_SCORE_HELPER=0` turns it off (the default where the service may use one core).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from models.risk_model import RiskModel
from models.scorer import score_matrix, scored_dicts, with_warning_reasons
from serving.encoding import result_json, service_results
from serving.store.stored_forms import PreparedScore, StoredForms

if TYPE_CHECKING:
    from serving.champions import ServedModel

logger = logging.getLogger("riskloop.serving")

Lang = Literal["en", "zh"]
#: (task, registered model name, version): the model a part is scored with
ModelKey = tuple[str, str, str]

#: From this many records a request is shared with the helper (below, the hand-off and the
#: pickling cost about what the second core saves).
HELPER_MIN_ROWS = 200
#: The helper's share of a request's rows before any request has been measured, and the
#: bounds the measured share is kept within.
FIRST_SHARE = 0.5
SHARE_BOUNDS = (0.1, 0.9)
#: How much one request's measurement moves the share (the rest is the share before).
SHARE_STEP = 0.3
#: How often the helper checks that the service that started it is still there (seconds).
PARENT_CHECK_S = 1.0
#: After the helper failed, how long requests are scored without one before another starts
#: (seconds): a helper that cannot start is not started again on every request.
RETRY_AFTER_S = 60.0
#: The longest a request waits for the helper's part (seconds; a request of the most records
#: takes well under one): past it, the helper is taken for hung, ended, and the part scored here.
ANSWER_WITHIN_S = 30.0


def record_results(
    model: RiskModel,
    model_ref: Mapping[str, str],
    matrix: np.ndarray,
    values: Sequence[Sequence[Any]],
    ids: np.ndarray,
    *,
    explain: bool,
    top_k: int,
    lang: Lang,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Encoded records' results as the API answers them (without warning ids), and as the
    store keeps them (a warning's reasons whatever the caller asked to see): the one scoring
    path of sent records, in the service and in the helper alike. `values` are by feature,
    as `serving.encoding.RecordEncoder.encode` makes them."""
    arrays = score_matrix(model, matrix, ids, explain=explain)
    scored = scored_dicts(model, arrays, values, explain=explain, top_k=top_k, lang=lang)
    results = service_results(scored, model_ref, explain)
    kept = with_warning_reasons(
        model, arrays, matrix, values, results, explain=explain, top_k=top_k, lang=lang
    )
    return results, kept


def with_districts(
    results: list[dict[str, Any]], districts: Sequence[str | None]
) -> list[dict[str, Any]]:
    """The results as the store keeps them: each with the district its record was sent with
    (copies, so the answer does not echo it)."""
    if not any(districts):
        return results
    return [
        {**result, "district": district}
        for result, district in zip(results, districts, strict=True)
    ]


def unsealed_rows(
    forms: StoredForms,
    kept: list[dict[str, Any]],
    names: Sequence[str],
    values: Sequence[Sequence[Any]],
    raw_ids: Sequence[str],
    districts: Sequence[str | None],
    day: date,
) -> list[PreparedScore]:
    """Scored records' stored rows, not yet sealed (`WarningStore.seal`): the helper's part,
    and the rows a failed helper left to the service (`values` by feature, as encoded)."""
    features, hashes = forms.feature_rows(raw_ids, names, values)
    return forms.forms(
        with_districts(kept, districts),
        default_as_of=day,
        scrubbed_features=features,
        entity_hashes=hashes,
        from_catalog=True,
    )


# ----------------------------------------------------------------------------- the helper's side

#: The helper process's models, by key (one version per task: installing one drops the other).
_MODELS: dict[ModelKey, RiskModel] = {}
#: The helper process's maker of stored rows (the service's secret), set as it starts.
_FORMS: list[StoredForms] = []


def _helper_main(conn: Connection, parent: int, forms: StoredForms) -> None:
    """The helper process: answer the service's messages until the pipe closes. Ctrl-C is the
    service's to handle (the helper ends with it), and a service that dies without a word
    (SIGKILL) leaves no helper behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _FORMS.append(forms)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="riskloop-helper-parent", daemon=True).start()
    while True:
        try:
            kind, *args = conn.recv()
        except (EOFError, OSError):  # the service closed the pipe: it is done with us
            return
        except Exception as exc:  # read whole, but it would not unpickle here (a model
            # needing what this process cannot import): said, and the pipe stays in step
            reply_error = ("error", f"cannot read the message: {type(exc).__name__}")
            try:
                conn.send(reply_error)
            except OSError:
                return
            continue
        try:
            reply: tuple[Any, ...] = (
                "ok",
                *(_install(*args) if kind == "install" else _score_part(*args)),
            )
        except Exception as exc:  # said to the service, which scores the rows itself
            # a scoring error's message could quote a record's value (an id among them): the
            # service's log gets its kind only
            said = type(exc).__name__ if kind == "score" else f"{type(exc).__name__}: {exc}"
            reply = ("error", said)
        try:
            conn.send(reply)
        except OSError:  # the service went away meanwhile
            return


def _install(key: ModelKey, model: RiskModel) -> tuple[ModelKey]:
    """In the helper: keep `model` under `key` (dropping the task's other version), its
    explainer built by explaining one row of missing values."""
    empty = np.full((1, len(model.spec.features)), np.nan)
    score_matrix(model, empty, np.array(["-"], dtype=object), explain=True)
    # only once it explains: a version that cannot leaves the task's older one in place
    for old in [known for known in _MODELS if known[0] == key[0] and known != key]:
        del _MODELS[old]
    _MODELS[key] = model
    return (key,)


def _score_part(
    key: ModelKey,
    rows: tuple[Any, ...],
    options: dict[str, Any],
    stored: tuple[tuple[str, ...], Sequence[str | None], date],
) -> tuple[list[bytes], list[PreparedScore], float]:
    """In the helper: a part's answer JSON per row, the rows the store keeps (not sealed),
    and the seconds taken (`rows` and `options`: `record_results`' arguments after the
    model; `stored`: the feature names, the records' districts and the request's day)."""
    started = time.perf_counter()
    results, kept = record_results(_MODELS[key], *rows, **options)
    encoded = [result_json(result) for result in results]
    _, _, values, ids = rows
    (forms,) = _FORMS
    prepared = unsealed_rows(forms, kept, stored[0], values, ids.tolist(), *stored[1:])
    return encoded, prepared, time.perf_counter() - started


# ----------------------------------------------------------------------------- the service's side


@dataclass
class _Helper:
    """A started helper process and the service's end of its pipe (closed when the last
    reference goes: a connection closed under a thread reading it could read another file
    that took its descriptor)."""

    process: BaseProcess
    conn: Connection


@dataclass
class HelperPart:
    """The rows handed to a helper: from `start` on, scored there."""

    start: int
    sent_at: float
    helper: _Helper
    #: ends the helper if the part is not read within `ANSWER_WITHIN_S` (a helper that hangs
    #: stops reading its pipe, and a large part's send would block for good)
    watchdog: threading.Timer
    answered: bool = False


class ScoreHelper:
    """The service's handle on its helper process (see the module's text).

    One exchange at a time goes over the pipe (`_busy`): a large request that finds it busy
    (loading a model, or scoring another request's part) is scored in the service alone.
    """

    def __init__(self, enabled: bool, forms: StoredForms) -> None:
        self.enabled = enabled
        self._forms = forms  # the store's, for the helper's stored rows
        self._lock = threading.Lock()  # the fields below
        self._busy = threading.Lock()  # the pipe
        self._helper: _Helper | None = None
        self._ready: set[ModelKey] = set()
        self._unloadable: set[ModelKey] = set()  # versions the helper answered it cannot load
        self._wanted: dict[str, ServedModel] = {}  # by task: the models to load
        self._latest: dict[str, ServedModel] = {}  # by task: the model the service serves
        self._loader: threading.Thread | None = None
        self.share = FIRST_SHARE
        self._closed = False
        self._retry_at = 0.0  # time.monotonic() before which no helper is started
        if enabled:
            # before multiprocessing's own exit handler (registered earlier, so run later)
            # ends the helper under a loader thread still talking to it
            atexit.register(self.close)

    @staticmethod
    def key(served: ServedModel) -> ModelKey:
        return (served.task, served.name, served.version)

    def offer(self, served: ServedModel) -> None:
        """The service serves `served` now (at start, after a reload). The helper starts
        with the first large request (a service that never gets one never pays for it);
        once it runs, a new version is loaded into it at once (on a thread of its own)."""
        if not self.enabled:
            return
        with self._lock:
            self._latest[served.task] = served
            running = self._helper is not None or self._loader is not None
        if running:
            self._want(served)

    def _want(self, served: ServedModel) -> None:
        with self._lock:
            key = self.key(served)
            ready = self._helper is not None and key in self._ready
            latest = self._latest.get(served.task)
            if self._closed or ready or latest is None or self.key(latest) != key:
                return  # loaded, or a request's older model (a reload came since)
            if key in self._unloadable:
                return
            self._wanted[served.task] = served
            if self._loader is not None:
                return  # it loads the wanted models until none is left
            if self._helper is None and time.monotonic() < self._retry_at:
                return
            self._loader = threading.Thread(
                target=self._load, name="riskloop-helper-load", daemon=True
            )
            self._loader.start()

    def wait_ready(self, timeout: float) -> bool:
        """Whether the helper holds every model offered, waiting up to `timeout` seconds
        (for a benchmark's steady state; requests never wait for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._helper is not None and not self._wanted:
                    return True
            time.sleep(0.05)
        return False

    def _load(self) -> None:
        """Start the helper if there is none, then load each wanted model into it; the
        loader is gone (`_loader` None) when it returns, so an `offer` starts another."""
        try:
            self._load_wanted()
        finally:
            with self._lock:
                if self._loader is threading.current_thread():
                    self._loader = None

    def _load_wanted(self) -> None:
        while True:
            with self._lock:
                if self._closed or not self._wanted:
                    self._loader = None  # with the check: an offer from now starts another
                    return
                task, served = next(iter(self._wanted.items()))
                helper = self._helper
            if helper is None:
                helper = self._spawn()
                if helper is None:
                    return
            key = self.key(served)
            limit = ANSWER_WITHIN_S * 4  # a model's first explanation builds its tables
            watchdog = threading.Timer(limit, self._forget, args=(helper, "no answer"))
            watchdog.daemon = True
            with self._busy:
                watchdog.start()  # a helper hung before reading would block the send for good
                told = False  # the helper itself answered (it lives, whatever it said)
                try:
                    helper.conn.send(("install", key, served.model))
                    answered = helper.conn.poll(limit)
                    reply = helper.conn.recv() if answered else ("error", "no answer")
                    told = answered
                except Exception as exc:  # died, or the model would not go: no helper
                    reply = ("error", f"{type(exc).__name__}: {exc}")
                finally:
                    watchdog.cancel()
                what = f"{key[1]} version {key[2]}"
                if reply[0] != "ok" and told:  # this model only: the helper serves the rest
                    self._refused(served, f"the score helper cannot load {what} ({reply[1]})")
                    continue
                if reply[0] != "ok":
                    self._forget(helper, f"loading {what}: {reply[1]}")
                    return
            with self._lock:
                if helper is not self._helper:
                    return  # ended meanwhile (a request's failure): its models went with it
                if self._wanted.get(task) is served:
                    del self._wanted[task]
                self._ready = {known for known in self._ready if known[0] != task} | {key}

    def _refused(self, served: ServedModel, said: str) -> None:
        """The helper answered that it cannot load `served`: that version's large requests
        are scored in the service alone (it is not offered again; a new version is), said
        once; the helper goes on serving the other tasks' models."""
        with self._lock:
            self._unloadable.add(self.key(served))
            if self._wanted.get(served.task) is served:
                del self._wanted[served.task]
        logger.warning("%s: its large requests are scored in the service alone", said)

    def _spawn(self) -> _Helper | None:
        if self._closed:
            return None
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=_helper_main,
            args=(theirs, os.getpid(), self._forms),
            name="riskloop-score-helper",
            daemon=True,  # ended by multiprocessing when the service exits
        )
        try:
            process.start()
        except Exception as exc:  # no process to be had: the service scores alone
            ours.close()
            self._retry_at = time.monotonic() + RETRY_AFTER_S
            logger.warning("cannot start the score helper (%s): scoring in the service", exc)
            return None
        finally:
            theirs.close()
        helper = _Helper(process, ours)
        with self._lock:
            self._helper = helper
            self._unloadable = set()  # a new process may load what the last could not
        return helper

    def start(
        self,
        served: ServedModel,
        matrix: np.ndarray,
        values: Sequence[Sequence[Any]],
        ids: np.ndarray,
        options: Mapping[str, Any],
        districts: Sequence[str | None],
        day: date,
    ) -> HelperPart | None:
        """Send the tail of a large request's rows to the helper (`options`: `explain`,
        `top_k`, `lang`, as `record_results` takes them; `districts` and `day`: the records'
        districts and the request's as-of date, for the stored rows); None (score them all
        here) while it is off, busy, not ready for this model, or the request is small. A
        part started is ended by `finish`, or `abandon` if the request fails first."""
        rows = len(ids)
        if not self.enabled or rows < HELPER_MIN_ROWS:
            return None
        key = self.key(served)
        with self._lock:
            helper = self._helper if key in self._ready else None
            share = self.share
        if helper is None:
            self._want(served)
            return None
        if not self._busy.acquire(blocking=False):
            return None
        start = rows - max(1, round(rows * share))
        tail = (served.ref, matrix[start:], [column[start:] for column in values], ids[start:])
        stored = (served.encoder.names, list(districts[start:]), day)
        job = ("score", key, tail, dict(options), stored)
        watchdog = threading.Timer(
            ANSWER_WITHIN_S,
            self._forget,
            args=(helper, TimeoutError(f"no answer within {ANSWER_WITHIN_S:.0f} s")),
        )
        watchdog.daemon = True
        watchdog.start()
        try:
            helper.conn.send(job)
        except Exception as exc:  # it died (or hung: the watchdog ended it), or the rows
            watchdog.cancel()  # would not go
            self._forget(helper, exc)
            self._busy.release()
            return None
        except BaseException:
            watchdog.cancel()
            self._forget(helper, "interrupted while sending a part")
            self._busy.release()
            raise
        return HelperPart(start, time.perf_counter(), helper, watchdog)

    def finish(
        self, part: HelperPart, own_seconds: float
    ) -> tuple[list[bytes], list[PreparedScore]] | None:
        """The helper's part, its rows' answer JSON and stored rows (not sealed; None if it
        failed: the caller scores those rows itself), its speed and the service's
        (`own_seconds` for the rows before `part.start`) moving the share so both sides end
        together."""
        part.answered = True
        helper = part.helper
        try:
            try:
                # the helper's time: its own, when it ended before this side did (the wait
                # would add this side's lateness), else the wait for it (its own plus the
                # hand-offs)
                ended_first = helper.conn.poll(0)
                if not ended_first and not helper.conn.poll(ANSWER_WITHIN_S):
                    raise TimeoutError(f"no answer within {ANSWER_WITHIN_S:.0f} s")
                reply = helper.conn.recv()
            except (EOFError, OSError) as exc:  # it died meanwhile (TimeoutError is one)
                self._forget(helper, exc)
                return None
            if reply[0] != "ok":
                self._forget(helper, reply[1])
                return None
        finally:
            part.watchdog.cancel()
            self._busy.release()
        _, encoded, kept, helper_seconds = reply
        waited = helper_seconds if ended_first else time.perf_counter() - part.sent_at
        if part.start > 0 and own_seconds > 0 and waited > 0:
            own_speed = part.start / own_seconds
            helper_speed = len(encoded) / waited
            target = helper_speed / (own_speed + helper_speed)
            low, high = SHARE_BOUNDS
            with self._lock:
                moved = (1 - SHARE_STEP) * self.share + SHARE_STEP * target
                self.share = min(high, max(low, moved))
        return encoded, kept

    def abandon(self, part: HelperPart) -> None:
        """A request failed between `start` and `finish`: its part's answer would be read by
        the next request, so this helper is ended (another starts later)."""
        if part.answered:
            return
        part.answered = True
        part.watchdog.cancel()
        try:
            self._forget(part.helper, "a request failed while the helper scored part of it")
        finally:
            self._busy.release()

    def _forget(self, helper: _Helper, why: object) -> None:
        """End a failed helper, said in one line: a request from `RETRY_AFTER_S` on starts
        another (meanwhile the service scores every row itself)."""
        with self._lock:
            if helper is not self._helper or self._closed:
                return
            self._helper = None
            self._ready = set()
            self._retry_at = time.monotonic() + RETRY_AFTER_S
        logger.warning(
            "the score helper failed (%s): large requests are scored in the service alone; "
            "another helper starts in %.0f s",
            str(why) or type(why).__name__,
            RETRY_AFTER_S,
        )
        # killed, not its pipe closed: a thread still reading or writing it gets EOF or EPIPE
        helper.process.kill()
        helper.process.join(timeout=5)

    def close(self) -> None:
        """End the helper (the service is stopping)."""
        with self._lock:
            self._closed = True
            helper, self._helper = self._helper, None
        if helper is not None:  # it holds nothing to save
            helper.process.kill()
            helper.process.join(timeout=5)
