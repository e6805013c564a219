"""riskloop's scoring service: one BentoML service wiring the routes, the guard and the store.

Start with `riskloop serve` (loopback by default). At start-up every task's `champion` is
loaded from the MLflow registry and kept warm; `POST /v1/admin/reload` and a periodic check
follow the alias when `riskloop promote` moves it, and a reload that fails keeps the old model.

A bento of it (`riskloop bundle`) is served with `bentoml serve riskloop:<version>` or in its
image: its environment (`RISKLOOP_MODEL_SOURCE=bento`, usage tracking off) comes with it, and
the `bentoml serve` process refuses, in one line and before any worker starts, a start that
could not succeed or would write inside the stored bento (`check_bento_start`).

The parts, each in its own module:
- `routes.py`: the one routing table (each route's policy action beside it);
- `guard.py`: the ASGI guard (credentials, route, policy, content type and size);
- `policy.py`: who may see and do what;
- `score_routes.py`: one score route per task of the registry, and the scoring path;
- `encoding.py`: records to the model's matrix, results to JSON;
- `warnings_routes.py`: warnings, feedback, reveal, audit, models, reload;
- `notes_routes.py`: progress notes on a case;
- `session_routes.py`: signing in (throttled per client) and out (every session);
- `champions.py`: loading and following the champions;
- `openapi.py`: `/docs.json` made to say what the service answers;
- `log_redaction.py`: refused requests logged by field, never by value.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import bentoml
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from features.tasks import TASK_NAMES
from models.secret_keys import SecretsFileError, load_secrets, secrets_path
from models.settings import (
    Settings,
    apply_offline_defaults,
    get_settings,
    registry_uri_problem,
    settings_problems,
)
from serving import notes_routes, schemas, session_routes, warnings_routes
from serving.auth import KeyRing
from serving.champions import ServedModel, alias_version, load_champion, pin_packaged_models
from serving.console import console_app
from serving.front_door import FrontDoor
from serving.guard import RequestGuard
from serving.log_redaction import redact_request_logs
from serving.online_store import OnlineStore
from serving.openapi import RiskloopBentoService, ServiceNotReady
from serving.routes import api
from serving.score_helper import ScoreHelper
from serving.score_routes import SCORE_APIS, ScoringService
from serving.sessions import SessionSigner
from serving.store import WarningStore
from serving.store.common import StoreUnavailable, is_outage, outage_cause
from serving.store.identity import EntityCipher

logger = logging.getLogger("riskloop.serving")

#: Whose `X-Forwarded-For` and `X-Forwarded-Proto` the HTTP server believes: uvicorn, which
#: BentoML runs, reads `FORWARDED_ALLOW_IPS` when a worker builds its server (after importing
#: this module), by default `127.0.0.1,::1`. With that default any client on the machine chose
#: its own address (a new one per try got past the sign-in throttle, each a `sign_in_failed`
#: row) or claimed HTTPS (QA, 2026-12-07). No proxy is believed unless the deployment names
#: it (docs/deploy.md: `FORWARDED_ALLOW_IPS=127.0.0.1` for a proxy on the same machine).
os.environ.setdefault("FORWARDED_ALLOW_IPS", "")

TASKS: tuple[str, ...] = TASK_NAMES
_PERIODIC_ACTOR = "system:reload-check"
# their routes register on import
assert all(
    module.v1_route is not None for module in (warnings_routes, session_routes, notes_routes)
)


def _end_with_the_arbiter() -> None:
    """In a BentoML worker on Linux: SIGTERM when the arbiter (`riskloop serve`) dies.

    The worker runs in a process group of its own, so a `riskloop serve` killed with SIGKILL
    (which it cannot pass on) would leave the worker answering on the port. The kernel's
    parent-death signal ends it as SIGTERM does: in-flight requests finish, then it exits.
    """
    from bentoml._internal.context import server_context

    if sys.platform != "linux" or server_context.worker_index is None:
        return
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM) != 0:
        logger.warning("cannot ask to end with the arbiter (errno %d)", ctypes.get_errno())
    elif os.getppid() == 1:  # the arbiter was gone before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _settings_at_start(refusal: str) -> Settings:
    """The settings, read in the `bentoml serve` process before any worker starts: invalid
    `RISKLOOP_*` values end it in one line after `refusal` naming each (exit 2), as `riskloop
    serve` refuses them. Left to the workers, a bare `bentoml serve` answered every request
    with a 500 (the guard reads them to build itself) while BentoML kept the workers up."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"{refusal}invalid setting {settings_problems(exc)}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    problem = registry_uri_problem(settings.mlflow_uri)
    if problem is not None:  # said here, not as "no champion" by every worker
        print(f"{refusal}invalid setting RISKLOOP_MLFLOW_URI: {problem}", file=sys.stderr)
        raise SystemExit(2)
    return settings


class _RiskloopService(ScoringService):
    """Scores every task with its champion; records warnings; follows the alias."""

    @bentoml.on_deployment
    def check_settings() -> None:
        """Once, in the `bentoml serve` process, before it starts workers."""
        _settings_at_start("error: ")

    def __init__(self) -> None:
        _end_with_the_arbiter()
        apply_offline_defaults()  # also under a bare `bentoml serve`: MLflow's retries bounded
        settings = get_settings()
        self.settings = settings
        redact_request_logs()  # refused requests' values (raw ids among them) stay out of the log
        keyring = KeyRing(settings.keys_file)
        if settings.env == "production" and keyring.active_count() == 0:
            raise RuntimeError(
                f"refusing to start: RISKLOOP_ENV=production and no API key in "
                f"{settings.keys_file}; create one with `riskloop keys create NAME --scopes ...`"
            )
        # a bento's replica uses the deployment's secrets, never keys of its own making
        secrets = load_secrets(settings, create=RiskloopService.bento is None)
        self._served: dict[str, ServedModel] = {
            task: load_champion(task, settings) for task in TASKS
        }
        if logger.level == logging.NOTSET:  # BentoML's root logger passes warnings only
            logger.setLevel(logging.INFO)
        for served in self._served.values():
            logger.info(
                "serving %s: %s version %s (alias %s)",
                served.task,
                served.name,
                served.version,
                served.alias,
            )
        self._reload_lock = threading.Lock()
        # an admin's reload runs here, so its request can answer in time while it goes on
        self._reload_worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="riskloop-reload"
        )
        self._unaudited: list[tuple[str, schemas.ReloadResult]] = []  # reload rows to write
        self._audited_error: dict[str, str | None] = {}  # each task's failure audited last
        self.online = OnlineStore(settings.data_dir)
        # the cipher follows the secrets file: `riskloop secrets rotate` needs no restart
        self.store = WarningStore(
            settings.store_url, secrets.pseudonym_secret, EntityCipher.following(settings)
        )
        self.sessions = SessionSigner(secrets.session_secret)
        self._stop = threading.Event()
        # a large request's stored features, made beside its TreeSHAP (one large request at a time)
        self._scoring_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="riskloop-score")
        self._large_requests = anyio.CapacityLimiter(1)  # large score requests, one at a time
        # a second process scoring part of each large request (started by the first one)
        self.score_helper = ScoreHelper(settings.score_helper, self.store.forms)
        for served in self._served.values():
            self.score_helper.offer(served)
        # Loaded models, libraries and catalogs never die: moving them out of the collector's
        # view keeps full collections (which walk every tracked object) short under load.
        gc.collect()
        gc.freeze()
        if settings.reload_interval_s > 0:
            threading.Thread(
                target=self._watch_alias, name="riskloop-reload-check", daemon=True
            ).start()
        if settings.notify_interval_s > 0:
            from serving.delivery import Deliverer
            from serving.outbox_metrics import publish
            from serving.store.common import utc_now

            deliverer = Deliverer(self.store, settings)
            threading.Thread(
                target=deliverer.run_forever,
                args=(self._stop, settings.notify_interval_s),
                # after each round, the outbox's backlog at /metrics
                kwargs={"after_round": lambda _report: publish(deliverer.outbox, utc_now())},
                name="riskloop-notify",
                daemon=True,
            ).start()
        else:  # another process delivers: this one still shows the backlog at /metrics
            from serving.outbox_metrics import WATCH_INTERVAL_S, watch_forever
            from serving.store.outbox import Outbox

            threading.Thread(
                target=watch_forever,
                args=(Outbox(self.store), self._stop, WATCH_INTERVAL_S),
                name="riskloop-outbox-metrics",
                daemon=True,
            ).start()

    def __is_ready__(self) -> bool:
        """BentoML's `/readyz`: 503 while the warnings store could not record a request (it
        does not answer, or SQLite's write lock is held elsewhere: `WarningStore.can_record`),
        so a load balancer sends requests elsewhere. Raises `ServiceNotReady` rather than
        returning False, so that the 503 is JSON in the error shape, not BentoML's text."""
        if not self.store.can_record():
            raise ServiceNotReady
        return True

    def served(self, task: str) -> ServedModel:
        """The model serving `task` now."""
        return self._served[task]

    def model_infos(self) -> list[schemas.ModelInfo]:
        return [self._served[task].info() for task in TASKS]

    # -- reload ------------------------------------------------------------------------------

    def reload(self, actor: str) -> list[schemas.ReloadResult]:
        """An admin's reload (`POST /v1/admin/reload`): follow the alias for every task,
        each task on its own (one failing keeps its old model and stops no other), and audit
        every task's outcome, `unchanged` included.

        Bounded by `RISKLOOP_RELOAD_TIMEOUT_S`: a registry that does not answer (a frozen
        server held the request and the reload lock for minutes) is a 504 while the reload
        goes on in the background, bounded by MLflow's own time-outs and audited when it
        ends; a reload still running when another is asked for is a 503.

        Raises:
            HTTPException: 503 or 504, with the message the client is shown.
            DBAPIError: the warnings store did not answer the audit rows (the route's 503);
                they are kept and written by the next reload that reaches the store.
        """
        limit = self.settings.reload_timeout_s
        started = time.monotonic()
        if not self._reload_lock.acquire(timeout=limit):
            raise HTTPException(
                503,
                f"another model reload has been running for over {limit:.0f} s (the model "
                "registry is slow or not answering); try again when it ends",
                headers={"Retry-After": str(int(limit))},
            )
        try:
            job = self._reload_worker.submit(self._reload_round, actor, audit_unchanged=True)
        except BaseException:
            self._reload_lock.release()
            raise
        job.add_done_callback(lambda _job: self._reload_lock.release())
        try:
            return job.result(timeout=max(limit - (time.monotonic() - started), 0.1))
        except FuturesTimeout:
            raise HTTPException(
                504,
                f"the model registry did not answer within {limit:.0f} s "
                "(RISKLOOP_RELOAD_TIMEOUT_S): the reload goes on in the background, each task "
                "keeping its model until a new one loads, and every outcome is audited; "
                "GET /v1/models shows what serves",
            ) from None

    def _reload_round(self, actor: str, *, audit_unchanged: bool) -> list[schemas.ReloadResult]:
        """Each task's reload (the lock held), then the audit rows still to write.

        A task's failure is audited once per distinct error, and counted as audited only
        once its row is written: rows the store did not take stay queued for the next round,
        so a failure during a store outage is audited when the store answers again.
        """
        results = [self._reload_task(task) for task in TASKS]
        trigger = "alias check" if actor == _PERIODIC_ACTOR else f"admin reload by {actor}"
        for result in results:
            if result.status == "reloaded":
                logger.info(
                    "reloaded %s: version %s -> %s (%s)",
                    result.task,
                    result.previous_version,
                    result.version,
                    trigger,
                )
            if result.status != "failed":
                self._audited_error.pop(result.task, None)
            new_failure = result.status == "failed" and not self._failure_noted(result)
            if audit_unchanged or result.status == "reloaded" or new_failure:
                self._unaudited.append((actor, result))
        self._write_reload_audits()
        return results

    def _failure_noted(self, result: schemas.ReloadResult) -> bool:
        """Whether this failure is audited already or waiting to be."""
        if self._audited_error.get(result.task) == result.error:
            return True
        return any(
            queued.task == result.task and queued.error == result.error
            for _actor, queued in self._unaudited
        )

    def _write_reload_audits(self) -> None:
        """Write the queued reload audit rows in order; a store that does not answer leaves
        the rest queued (and raises)."""
        while self._unaudited:
            actor, result = self._unaudited[0]
            self.store.audit(
                actor=actor,
                action="model_reload",
                task=result.task,
                model_version=result.version,
                detail={
                    "status": result.status,
                    "error": result.error,
                    "previous_version": result.previous_version,
                },
            )
            self._unaudited.pop(0)
            if result.status == "failed":
                self._audited_error[result.task] = result.error

    def _reload_task(self, task: str) -> schemas.ReloadResult:
        """Follow one task's alias; never raises (a failed reload keeps the served model)."""
        current = self._served[task]
        try:
            target = alias_version(task, self.settings)
            if target == current.version:
                if current.last_reload_error is not None:
                    self._served[task] = replace(current, last_reload_error=None)
                return schemas.ReloadResult(task=task, status="unchanged", version=target)
            fresh = load_champion(task, self.settings)
        except Exception as exc:  # a failed reload must never take the served model down
            error = f"{type(exc).__name__}: {exc}"
            if error != current.last_reload_error:
                logger.warning(
                    "reload of %s failed, keeping version %s: %s", task, current.version, error
                )
                self._served[task] = replace(current, last_reload_error=error)
            return schemas.ReloadResult(
                task=task, status="failed", version=current.version, error=error
            )
        self._served[task] = fresh
        self.score_helper.offer(fresh)
        return schemas.ReloadResult(
            task=task, status="reloaded", version=fresh.version, previous_version=current.version
        )

    def _watch_alias(self) -> None:
        """The periodic check: audited when a task reloads or fails, not when unchanged."""
        while not self._stop.wait(self.settings.reload_interval_s):
            try:
                with self._reload_lock:
                    self._reload_round(_PERIODIC_ACTOR, audit_unchanged=False)
            except Exception as exc:  # the watcher must outlive a store outage
                if is_outage(exc):
                    logger.warning(
                        "reload check's audit rows wait for the warnings store (%s)",
                        outage_cause(exc),
                    )
                else:
                    logger.exception("periodic reload check failed")


# one score API per task of the registry, attached before BentoML reads the class
for _name, _api in SCORE_APIS.items():
    setattr(_RiskloopService, _name, _api)


def state_locations(settings: Settings) -> dict[str, str]:
    """Where the service keeps or reads its state, by the variable that names it: the
    warnings store, the secrets, the API keys, the online features, the reports and the
    webhook secrets (the registry is added by `check_bento_start` when models come from it)."""
    return {
        "RISKLOOP_STORE_URL": settings.store_url,
        "RISKLOOP_SECRETS_FILE": str(secrets_path(settings)),
        "RISKLOOP_KEYS_FILE": str(settings.keys_file),
        "RISKLOOP_DATA_DIR": str(settings.data_dir),
        "RISKLOOP_REPORTS_DIR": str(settings.reports_dir),
        "RISKLOOP_WEBHOOK_SECRETS_FILE": str(settings.webhook_secrets_file),
    }


def _is_relative(location: str) -> bool:
    """A path, or an SQLite URL's path, that is not absolute (other URLs name a server)."""
    if location.startswith("sqlite:///"):
        return not location.removeprefix("sqlite:///").startswith("/")
    return "://" not in location and not Path(location).is_absolute()


class BentoStartRefused(RuntimeError):
    """A bento's service cannot start as configured; the message says what to set."""


def check_bento_start(settings: Settings) -> None:
    """Refuse a start of a bento's service that could not succeed or would change the bento.

    BentoML runs a bento's service inside the stored bento's `src/` folder and restarts a
    worker whose start fails, forever: a relative location would create a registry, a
    warnings database or a secrets file inside the bento (keys nobody backs up, pseudonyms no
    other replica shares), and a missing champion or secrets file would loop, not exit.

    Raises:
        BentoStartRefused: what is wrong and which variable to set, in one line.
    """
    locations = state_locations(settings)
    if settings.model_source == "registry":
        locations["RISKLOOP_MLFLOW_URI"] = settings.mlflow_uri
    relative = [name for name, location in locations.items() if _is_relative(location)]
    if relative:
        raise BentoStartRefused(
            f"set {', '.join(relative)} to absolute locations outside the bento "
            "(sqlite:////path/file.db for SQLite): unset or relative, they resolve inside the "
            "stored bento, which must stay as built (docs/deploy.md lists a replica's "
            "environment)"
        )
    path = secrets_path(settings)
    if not path.exists():
        raise BentoStartRefused(
            f"no secrets file at {path}: set RISKLOOP_SECRETS_FILE to the deployment's secrets "
            "file (0600, the one the CLI and every replica share); a bento never makes one"
        )
    try:
        load_secrets(settings, create=False)
        WarningStore.from_settings(settings).close()
        for task in TASKS:  # metadata only: no model is loaded in this process
            alias_version(task, settings)
    # the registry's RegistryError is a LookupError; its message names the task and registry
    except (SecretsFileError, StoreUnavailable, LookupError) as exc:
        raise BentoStartRefused(str(exc)) from None
    except bentoml.exceptions.NotFound as exc:
        raise BentoStartRefused(f"a packaged champion is missing: {exc}") from None
    if settings.env == "production" and KeyRing(settings.keys_file).active_count() == 0:
        raise BentoStartRefused(
            f"RISKLOOP_ENV=production and no active API key in {settings.keys_file}: create "
            "one with `riskloop keys create NAME --scopes score,...`"
        )


class _BentoAwareService(RiskloopBentoService):
    """The service object: served from a bento, it takes the bento's environment and checks
    its start in the `bentoml serve` process, before BentoML starts (and restarts) workers."""

    def on_load_bento(self, bento: Any) -> None:
        super().on_load_bento(bento)
        # BentoML 1.4's `bentoml serve <bento>` passes workers the service's own `envs`, not
        # the bento's (only the image's Dockerfile has those): the bento's values are the
        # defaults here too, and the environment wins, as it does over a Dockerfile's ENV.
        for variable in bento.info.envs:
            if variable.stage != "build" and variable.value:
                os.environ.setdefault(variable.name, variable.value)
        get_settings.cache_clear()
        # the bento's own champions, not the newest a later `riskloop bundle` packaged
        pin_packaged_models({str(model.tag.name): str(model.tag) for model in bento.info.models})
        from bentoml._internal.context import server_context

        if server_context.worker_index is not None:  # a worker: its server checked already
            return
        settings = _settings_at_start(f"error: cannot serve bento {bento.tag}: ")
        try:
            check_bento_start(settings)
        except BentoStartRefused as exc:
            print(f"error: cannot serve bento {bento.tag}: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None


RiskloopService = bentoml.service(
    name="riskloop",
    description="Risk scores with SHAP reasons and actions for a city's closed risk loop.",
    traffic={"timeout": 120},
    logging={"access": {"enabled": False}},
    service_class=_BentoAwareService,
)(
    bentoml.asgi_app(api, path="/v1")(
        bentoml.asgi_app(console_app, path="/console")(_RiskloopService)
    )
)
RiskloopService.add_asgi_middleware(RequestGuard)  # type: ignore[attr-defined]
RiskloopService.add_asgi_middleware(FrontDoor)  # type: ignore[attr-defined]
