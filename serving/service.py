"""riskloop's scoring service: one BentoML service, three task endpoints, warnings and admin.

Start with `riskloop serve` (loopback by default). At start-up every task's `champion` is
loaded from the MLflow registry and kept warm; `POST /v1/admin/reload` and a periodic check
follow the alias when `riskloop promote` moves it, and a reload that fails keeps the old model.

Request path, outermost first:
1. `RequestGuard` (ASGI middleware) on every `/v1/` path: API key and scope (401/403), unknown
   endpoint or task (404/405), JSON content type (415) and the body-size limit (413), all
   before a byte is parsed; unhandled errors become a JSON 500 without a stack trace.
2. BentoML parses the body into the task's strict pydantic request (400 naming the field).
3. The handler scores the batch with one TreeSHAP call (`models.scorer.score_frame`), records
   warnings and the audit row in the store, and answers in request order.

The score endpoints are BentoML APIs (so `bentoml.SyncHTTPClient` works); the GET endpoints,
feedback and reload live in a FastAPI app mounted under `/v1`, because BentoML APIs are
POST-only. Both appear in the OpenAPI document at `/docs.json`.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import bentoml
import numpy as np
import pandas as pd
import pydantic_core
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.tasks import TASKS as TASKS_BY_SLUG
from features.tasks import Task
from models.registry import RISK_MODEL_ARTIFACT, load_registered
from models.risk_model import RiskModel, feature_columns
from models.scorer import (
    ScoredArrays,
    ScoredRecord,
    score_arrays,
    score_matrix,
    scored_records,
)
from models.settings import Settings, get_settings
from models.spec import TaskSpec, get_spec
from serving import schemas
from serving.auth import AuthError, KeyRecord, KeyRing
from serving.online_store import EntityNotMaterialized, OnlineStore
from serving.store import PreparedScore, TransitionError, WarningNotFound, WarningStore

logger = logging.getLogger("riskloop.serving")

ALIAS = "champion"
TASKS: tuple[str, ...] = tuple(schemas.TASK_SLUGS)
KEY_STATE = "riskloop_api_key"
_PERIODIC_ACTOR = "system:reload-check"
# From this many records a request is scored in parts of PIPELINE_PART_ROWS on a side thread
# (LightGBM releases the GIL in TreeSHAP, on one core) while the request's thread turns the
# parts already scored into results and their stored form; a small request runs in line (the
# thread hand-off would cost about what it saves).
PIPELINE_MIN_ROWS = 64
PIPELINE_PART_ROWS = 125
# the last part is short: its results are made after the model is done, while nothing hides them
PIPELINE_LAST_PART_ROWS = 32

# ----------------------------------------------------------------------------- request guard


@dataclass(frozen=True)
class _Rule:
    method: str
    pattern: re.Pattern[str]
    scope: str | None  # None: any valid key


_RULES: tuple[_Rule, ...] = (
    _Rule("POST", re.compile(r"^/v1/(?P<task>[^/]+)/score$"), "score"),
    _Rule("GET", re.compile(r"^/v1/models$"), None),
    _Rule("GET", re.compile(r"^/v1/warnings$"), "review"),
    _Rule("GET", re.compile(r"^/v1/warnings/[^/]+$"), "review"),
    _Rule("GET", re.compile(r"^/v1/warnings/[^/]+/explanation$"), "review"),
    _Rule("POST", re.compile(r"^/v1/warnings/[^/]+/feedback$"), "feedback"),
    _Rule("POST", re.compile(r"^/v1/admin/reload$"), "admin"),
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="riskloop"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


class RequestGuard:
    """ASGI middleware guarding `/v1/`: authentication, routing errors, size and content type.

    Runs before BentoML parses anything, so an unauthenticated or oversized request costs no
    parsing. The authenticated key is left in `scope["state"]` for the handlers (actor name).
    """

    def __init__(self, app: ASGIApp) -> None:
        settings = get_settings()
        self.app = app
        self.keyring = KeyRing(settings.keys_file)
        self.max_body_bytes = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        path_matches = [rule for rule in _RULES if rule.pattern.match(path)]
        rule = next((r for r in path_matches if r.method == method), None)
        try:
            key = self.keyring.authenticate(
                _header(scope, b"authorization"), rule.scope if rule else None
            )
        except AuthError as exc:
            await _send_json(send, exc.status, {"error": exc.message})
            return
        if rule is None:
            if path_matches:
                await _send_json(send, 405, {"error": f"{method} is not allowed on {path}"})
            else:
                await _send_json(send, 404, {"error": f"no such endpoint: {path}"})
            return
        match = rule.pattern.match(path)
        task = match.groupdict().get("task") if match else None
        if task is not None and task not in schemas.TASK_SLUGS:
            await _send_json(
                send,
                404,
                {"error": f"unknown task {task!r}; expected one of {', '.join(TASKS)}"},
            )
            return
        scope.setdefault("state", {})[KEY_STATE] = key
        if method in _BODY_METHODS:
            rejection = self._check_headers(scope)
            if rejection is not None:
                await _send_json(send, *rejection)
                return
            try:
                body = await self._read_body(receive)
            except _BodyTooLarge:
                await _send_json(send, 413, self._too_large())
                return
            receive = _replay(body, receive)
        await self._call_app(scope, receive, send)

    def _too_large(self) -> dict[str, Any]:
        return {"error": f"request body exceeds the limit of {self.max_body_bytes} bytes"}

    def _check_headers(self, scope: Scope) -> tuple[int, dict[str, Any]] | None:
        content_type = (_header(scope, b"content-type") or "application/json").split(";")[0]
        if content_type.strip().lower() != "application/json":
            return 415, {"error": f"unsupported content type {content_type!r}; send JSON"}
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return 400, {"error": "invalid Content-Length header"}
            if int(length) > self.max_body_bytes:
                return 413, self._too_large()
        return None

    async def _read_body(self, receive: Receive) -> bytes:
        """The whole body, counting bytes as they stream in (chunked uploads have no length)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not started:
                await _send_json(send, 500, {"error": "internal error; see the server log"})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the buffered body once, then defers to the real channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ServedModel:
    """A warm model and what the service says about it."""

    task: str
    model: RiskModel
    name: str
    version: str
    alias: str
    loaded_at: datetime
    encoder: RecordEncoder
    last_reload_error: str | None = None

    def info(self) -> schemas.ModelInfo:
        return schemas.ModelInfo(
            task=self.task,
            name=self.name,
            version=self.version,
            alias=self.alias,
            loaded_at=self.loaded_at,
            metrics=dict(self.model.metrics_),
            thresholds={str(k): v for k, v in self.model.thresholds_.as_dict().items()},
            catalog_version=self.model.spec.catalog_version,
            last_reload_error=self.last_reload_error,
        )


def _load_champion(task: str, settings: Settings) -> ServedModel:
    if settings.model_source == "bento":
        return _load_packaged(task)
    model, version = load_registered(task, alias=ALIAS, tracking_uri=settings.mlflow_uri)
    return ServedModel(
        task=task,
        model=model,
        name=version.name,
        version=str(version.version),
        alias=version.alias,
        loaded_at=datetime.now(UTC),
        encoder=RecordEncoder.for_spec(model.spec),
    )


def _packaged(task: str) -> Any:
    """The champion `riskloop bundle` packaged for `task` (BentoML's model store or the bento)."""
    import bentoml

    return bentoml.models.get(f"riskloop-{task}:latest")


def _load_packaged(task: str) -> ServedModel:
    """A champion packaged in the bento: a replica needs no access to the registry."""
    stored = _packaged(task)
    folder = Path(stored.path) / "mlflow_model" / "artifacts" / RISK_MODEL_ARTIFACT
    model = RiskModel.load(folder, spec=get_spec(task))
    return ServedModel(
        task=task,
        model=model,
        name=f"riskloop-{task}",
        version=str(stored.info.labels.get("mlflow_version", stored.tag.version)),
        alias=str(stored.info.labels.get("alias", ALIAS)),
        loaded_at=datetime.now(UTC),
        encoder=RecordEncoder.for_spec(model.spec),
    )


def _alias_version(task: str, settings: Settings) -> str:
    """The version the registry's alias points at now (a metadata query, no download)."""
    import mlflow

    if settings.model_source == "bento":
        stored = _packaged(task)
        return str(stored.info.labels.get("mlflow_version", stored.tag.version))

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    return str(client.get_model_version_by_alias(f"riskloop-{task}", ALIAS).version)


# ----------------------------------------------------------------------------- scoring helpers


@dataclass(frozen=True)
class RecordEncoder:
    """Validated request records straight to the scorer's float matrix, without pandas.

    Built once per loaded model: the feature order and each category's code table
    (`models.risk_model.feature_matrix`'s encoding) are looked up at load, not per request.
    """

    names: tuple[str, ...]
    category_codes: tuple[dict[str, float] | None, ...]

    @classmethod
    def for_spec(cls, spec: TaskSpec) -> RecordEncoder:
        return cls(
            names=tuple(spec.feature_names),
            category_codes=tuple(
                {category: float(code) for code, category in enumerate(f.categories)}
                if f.dtype == "category"
                else None
                for f in spec.features
            ),
        )

    def encode(self, records: list[BaseModel]) -> tuple[np.ndarray, list[list[Any]], np.ndarray]:
        """(matrix, raw values per feature, entity ids); None is missing (NaN)."""
        rows = [record.__dict__ for record in records]
        values = [[row[name] for row in rows] for name in self.names]
        matrix = np.empty((len(rows), len(self.names)), dtype="float64")
        for index, (column, codes) in enumerate(zip(values, self.category_codes, strict=True)):
            if codes is None:
                matrix[:, index] = np.array(column, dtype="float64")  # None -> NaN
            else:
                matrix[:, index] = [np.nan if v is None else codes.get(v, np.nan) for v in column]
        entity_ids = np.array([row["entity_id"] for row in rows], dtype=object)
        return matrix, values, entity_ids


def _part_bounds(n_rows: int) -> list[tuple[int, int]]:
    """(start, stop) of each part: PIPELINE_PART_ROWS at a time, then a short last part."""
    head = max(n_rows - PIPELINE_LAST_PART_ROWS, 0)
    starts = [*range(0, head, PIPELINE_PART_ROWS), head] if head else [0]
    return list(zip(starts, [*starts[1:], n_rows], strict=True))


def _score_parts(
    model: RiskModel,
    matrix: np.ndarray,
    entity_ids: np.ndarray,
    explain: bool,
    bounds: Sequence[tuple[int, int]],
    parts: Sequence[Future[ScoredArrays]],
) -> None:
    """Score `matrix` part by part in order, each part's arrays (or error) into its future."""
    for index, (start, stop) in enumerate(bounds):
        try:
            arrays = score_matrix(model, matrix[start:stop], entity_ids[start:stop], explain)
        except BaseException as exc:  # the waiting request re-raises it
            for part in parts[index:]:
                part.set_exception(exc)
            return
        parts[index].set_result(arrays)


def _native(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _feature_dicts(spec: TaskSpec, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's features as JSON-ready values (the monitoring sample the store keeps)."""
    names = list(spec.feature_names)
    values = frame.loc[:, names].to_numpy(dtype=object)
    return [{name: _native(v) for name, v in zip(names, row, strict=True)} for row in values]


def _record_features(records: list[BaseModel]) -> list[dict[str, Any]]:
    """Validated records' features as sent (None = missing), without touching pandas."""
    return [
        {name: value for name, value in record.__dict__.items() if name != "entity_id"}
        for record in records
    ]


def _result_dict(scored: ScoredRecord, served: ServedModel, explain: bool) -> dict[str, Any]:
    return {
        "entity_id": scored.entity_id,
        "score": scored.score,
        "risk_level": scored.risk_level,
        "raw_margin": scored.raw_margin,
        "base_value": scored.base_value if explain else None,
        "contributions": scored.contributions if explain else None,
        "reasons": [
            {
                "feature": r.feature,
                "label": r.label,
                "value": r.value,
                "contribution": r.contribution,
                "direction": r.direction,
                "actionable": r.actionable,
                "sentence": r.sentence,
            }
            for r in scored.reasons
        ],
        "actions": [
            {"department": a.department, "action": a.action, "trigger": a.trigger}
            for a in scored.actions
        ],
        "model": {"name": served.name, "version": served.version, "alias": served.alias},
    }


def _json_response(payload: Any, status: int = 200) -> Response:
    """Serialise with pydantic-core (about 4x faster than `json` on 1,000 explained results)."""
    body = pydantic_core.to_json(payload, inf_nan_mode="null")
    return Response(body, status_code=status, media_type="application/json")


def _result_json(result: dict[str, Any]) -> bytes:
    """One result's JSON, made as soon as it is scored (its warning id is added after the
    write by `_results_response`)."""
    return pydantic_core.to_json(result, inf_nan_mode="null")


def _results_response(encoded: Sequence[bytes], warning_ids: Sequence[str | None]) -> Response:
    """`{"results": [...]}` from `_result_json` texts, each closed with its `warning_id`.

    The same bytes as serialising the finished result dicts (`warning_id` is their last key);
    a large request's results are serialised part by part while the model runs.
    """
    pieces: list[bytes | memoryview] = [b'{"results":[']
    for text, warning_id in zip(encoded, warning_ids, strict=True):
        # the text without its closing brace (a view, no copy), then `,"warning_id":...}`
        pieces += (memoryview(text)[:-1], b',"warning_id":', pydantic_core.to_json(warning_id))
        pieces.append(b"},")
    if encoded:
        pieces[-1] = b"}"
    pieces.append(b"]}")
    body = b"".join(pieces)
    return Response(body, status_code=200, media_type="application/json")


def _actor(state_holder: Any) -> KeyRecord:
    key = getattr(state_holder.state, KEY_STATE, None)
    if key is None:  # the guard always sets it; reaching here means it was bypassed
        raise PermissionError("request reached a handler without authentication")
    return key


# ----------------------------------------------------------------------------- OpenAPI


_GUARD_RESPONSES: dict[str, str] = {
    "401": "Missing or unknown API key",
    "403": "The key lacks the endpoint's scope",
}
_BODY_RESPONSES: dict[str, str] = {
    "413": "Request body over the size limit",
    "415": "Content type is not JSON",
}


def document_guard(spec: dict[str, Any]) -> dict[str, Any]:
    """Make `/docs.json` say what the service really answers.

    BentoML documents its 400 body's `detail` as a string while sending pydantic's error list,
    and knows nothing of the guard's 401/403/413/415 or the bearer scheme; a client (or a
    schemathesis run) reading the document would be misled on every error.
    """
    schemas_section = spec.setdefault("components", {}).setdefault("schemas", {})
    error_schema = schemas.ErrorResponse.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    schemas_section["ErrorResponse"] = error_schema
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        if name in schemas_section:
            schemas_section[name].setdefault("properties", {})["detail"] = {
                "anyOf": [
                    {"type": "array", "items": {"type": "object"}},
                    {"type": "string"},
                    {"type": "null"},
                ],
                "title": "Error Detail",
            }
    spec["components"].setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "riskloop API key: `riskloop keys create NAME --scopes ...`",
    }
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, item in spec.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["security"] = [{"bearer": []}]
            extra = dict(_GUARD_RESPONSES)
            if method.upper() in _BODY_METHODS:
                extra.update(_BODY_RESPONSES)
            for status, description in extra.items():
                operation["responses"].setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
    return spec


class _DocumentedSpec:
    """BentoML's OpenAPI object, with `document_guard` applied when it is rendered."""

    def __init__(self, spec: Any) -> None:
        self._spec = spec

    def asdict(self) -> dict[str, Any]:
        return document_guard(self._spec.asdict())


class RiskloopBentoService(bentoml.Service):  # type: ignore[type-arg]
    """BentoML's service object with an OpenAPI document that matches the guard's answers."""

    @property
    def openapi_spec(self) -> Any:
        return _DocumentedSpec(super().openapi_spec)


# ----------------------------------------------------------------------------- service

api = FastAPI(
    title="riskloop admin and warnings API",
    openapi_url=None,
    docs_url=None,
    redoc_url=None,
)


@api.exception_handler(Exception)
async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    """Unhandled errors in the mounted app: a JSON 500, never a stack trace."""
    logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return JSONResponse({"error": "internal error; see the server log"}, status_code=500)


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorResponse, "description": "Missing or unknown API key"},
    403: {"model": schemas.ErrorResponse, "description": "Key lacks the scope"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.ErrorResponse, "description": "No such warning"}
}


def _score_api(task: Task) -> Any:
    """The score endpoint of one task: `/v1/<task>/score`, typed by its catalog's record model."""

    def score(
        self: RiskloopService,
        ctx: bentoml.Context,
        records: list[Any] | None,
        entity_ids: list[str] | None,
        explain: bool,
        top_k: int,
        lang: Literal["en", "zh"],
    ) -> Response:
        return self._score(task.name, ctx, records, entity_ids, explain, top_k, lang)

    score.__name__ = score.__qualname__ = f"score_{task.slug}"
    score.__doc__ = f"Score each {task.unit}: {task.label}."
    return bentoml.api(
        route=f"/v1/{task.name}/score",
        input_spec=schemas.score_request_model(task.slug),
        output_spec=schemas.ScoreResponse,
    )(score)


@bentoml.service(
    name="riskloop",
    description="Risk scores with SHAP reasons and actions for a city's closed risk loop.",
    traffic={"timeout": 120},
    logging={"access": {"enabled": False}},
    service_class=RiskloopBentoService,
)
@bentoml.asgi_app(api, path="/v1")
class RiskloopService:
    """Scores the three tasks with their champions; records warnings; follows the alias."""

    def __init__(self) -> None:
        settings = get_settings()
        self.settings = settings
        keyring = KeyRing(settings.keys_file)
        if settings.env == "production" and keyring.active_count() == 0:
            raise RuntimeError(
                f"refusing to start: RISKLOOP_ENV=production and no API key in "
                f"{settings.keys_file}; create one with `riskloop keys create NAME --scopes ...`"
            )
        self._served: dict[str, ServedModel] = {
            task: _load_champion(task, settings) for task in TASKS
        }
        self._reload_lock = threading.Lock()
        self.online = OnlineStore(settings.data_dir)
        self.store = WarningStore(settings.store_url, settings.pseudonym_secret.get_secret_value())
        self._stop = threading.Event()
        self._scoring_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="riskloop-score")
        # Loaded models, libraries and catalogs never die: moving them out of the collector's
        # view keeps full collections (which walk every tracked object) short under load.
        gc.collect()
        gc.freeze()
        if settings.reload_interval_s > 0:
            threading.Thread(
                target=self._watch_alias, name="riskloop-reload-check", daemon=True
            ).start()

    # -- scoring ---------------------------------------------------------------------------

    def _score(
        self,
        task: str,
        ctx: bentoml.Context,
        records: list[BaseModel] | None,
        entity_ids: list[str] | None,
        explain: bool,
        top_k: int,
        lang: Literal["en", "zh"],
    ) -> Response:
        key = _actor(ctx.request)
        served = self._served[task]
        spec = served.model.spec
        if entity_ids is None:
            encoded, prepared = self._score_records(served, records or [], explain, top_k, lang)
        else:
            try:
                frame = self.online.lookup(spec.slug, entity_ids)
            except EntityNotMaterialized as exc:
                # BentoML copies the context's status onto a returned Response: set both
                ctx.response.status_code = 404
                return _json_response({"error": str(exc)}, status=404)
            values = feature_columns(spec, frame)
            arrays = score_arrays(served.model, frame, explain=explain, columns=list(values))
            scored = scored_records(
                served.model, arrays, values, explain=explain, top_k=top_k, lang=lang
            )
            results = [_result_dict(s, served, explain) for s in scored]
            encoded = [_result_json(result) for result in results]
            prepared = self.store.prepare_scores(
                [
                    {**result, "features": row_features, "as_of": day}
                    for result, row_features, day in zip(
                        results,
                        _feature_dicts(spec, frame),
                        [pd.Timestamp(v).date().isoformat() for v in frame["as_of"]],
                        strict=True,
                    )
                ]
            )
        warning_ids = self.store.record_prepared(
            actor=key.name,
            task=task,
            model_name=served.name,
            model_version=served.version,
            prepared=prepared,
        )
        return _results_response(encoded, warning_ids)

    def _score_records(
        self,
        served: ServedModel,
        records: list[BaseModel],
        explain: bool,
        top_k: int,
        lang: Literal["en", "zh"],
    ) -> tuple[list[bytes], list[PreparedScore]]:
        """Sent records' results (`_result_json`) and their stored form, in request order.

        A large request is scored part by part on a side thread while this thread scrubs the
        features, then turns each scored part into results and prepares them for the store:
        nearly all of that Python work hides behind TreeSHAP. Rows are scored independently,
        so the answers are the same as one call on the whole batch.
        """
        matrix, values, ids = served.encoder.encode(records)
        n_rows = len(ids)
        if n_rows < PIPELINE_MIN_ROWS:
            arrays = score_matrix(served.model, matrix, ids, explain=explain)
            scored = scored_records(
                served.model, arrays, values, explain=explain, top_k=top_k, lang=lang
            )
            results = [_result_dict(s, served, explain) for s in scored]
            prepared = self.store.prepare_scores(
                [
                    {**r, "features": f}
                    for r, f in zip(results, _record_features(records), strict=True)
                ]
            )
            return [_result_json(result) for result in results], prepared
        bounds = _part_bounds(n_rows)
        parts: list[Future[ScoredArrays]] = [Future() for _ in bounds]
        self._scoring_pool.submit(_score_parts, served.model, matrix, ids, explain, bounds, parts)
        scrubbed = self.store.scrub_features(ids.tolist(), _record_features(records))
        encoded: list[bytes] = []
        prepared = []
        for (start, stop), part in zip(bounds, parts, strict=True):
            scored = scored_records(
                served.model,
                part.result(),
                [column[start:stop] for column in values],
                explain=explain,
                top_k=top_k,
                lang=lang,
            )
            part_results = [_result_dict(s, served, explain) for s in scored]
            prepared.extend(
                self.store.prepare_scores(part_results, scrubbed_features=scrubbed[start:stop])
            )
            encoded.extend(_result_json(result) for result in part_results)
        return encoded, prepared

    # One score route per registry task: the same endpoint, named and documented for its task.
    for _task in TASKS_BY_SLUG.values():
        locals()[f"score_{_task.slug}"] = _score_api(_task)
    del _task

    # -- models and reload -------------------------------------------------------------------

    @api.get("/models", response_model=schemas.ModelsResponse, responses=_ERRORS)
    def list_models(self) -> schemas.ModelsResponse:
        """Which registered version serves each task, with its test metrics and thresholds."""
        return schemas.ModelsResponse(models=[self._served[t].info() for t in TASKS])

    @api.post("/admin/reload", response_model=schemas.ReloadResponse, responses=_ERRORS)
    def admin_reload(self, request: Request) -> schemas.ReloadResponse:
        """Load each task's current champion; a task whose load fails keeps its old model."""
        return schemas.ReloadResponse(results=self.reload(actor=_actor(request).name))

    def reload(self, actor: str) -> list[schemas.ReloadResult]:
        """Follow the alias for every task; audited whenever something changed or failed."""
        outcomes = []
        with self._reload_lock:
            for task in TASKS:
                outcomes.append(self._reload_task(task, actor))
        return outcomes

    def _reload_task(self, task: str, actor: str) -> schemas.ReloadResult:
        current = self._served[task]
        try:
            target = _alias_version(task, self.settings)
            if target == current.version:
                if current.last_reload_error is not None:
                    self._served[task] = replace(current, last_reload_error=None)
                return schemas.ReloadResult(task=task, status="unchanged", version=target)
            fresh = _load_champion(task, self.settings)
        except Exception as exc:  # a failed reload must never take the served model down
            error = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "reload of %s failed, keeping version %s: %s", task, current.version, error
            )
            if error != current.last_reload_error:
                self._served[task] = replace(current, last_reload_error=error)
                self._audit_reload(actor, task, current.version, "failed", error)
            return schemas.ReloadResult(
                task=task, status="failed", version=current.version, error=error
            )
        self._served[task] = fresh
        self._audit_reload(actor, task, fresh.version, "reloaded", None, current.version)
        return schemas.ReloadResult(
            task=task, status="reloaded", version=fresh.version, previous_version=current.version
        )

    def _audit_reload(
        self,
        actor: str,
        task: str,
        version: str,
        status: str,
        error: str | None,
        previous: str | None = None,
    ) -> None:
        self.store.audit(
            actor=actor,
            action="model_reload",
            task=task,
            model_version=version,
            detail={"status": status, "error": error, "previous_version": previous},
        )

    def _watch_alias(self) -> None:
        while not self._stop.wait(self.settings.reload_interval_s):
            try:
                self.reload(actor=_PERIODIC_ACTOR)
            except Exception:  # the watcher must outlive a store outage
                logger.exception("periodic reload check failed")

    # -- warnings ----------------------------------------------------------------------------

    @api.get("/warnings", response_model=schemas.WarningList, responses=_ERRORS)
    def list_warnings(
        self,
        task: schemas.TaskName | None = None,
        level: schemas.WarningLevel | None = None,
        status: schemas.WarningStatus | None = None,
        department: str | None = Query(default=None, max_length=200),
        entity_id: str | None = Query(default=None, max_length=128),
        date_from: date | None = None,
        date_to: date | None = None,
        page: int = Query(default=1, ge=1, le=1_000_000),
        page_size: int = Query(default=50, ge=1, le=500),
    ) -> schemas.WarningList:
        """Warnings, newest first; `entity_id` is the caller's own id (matched by its hash)."""
        found = self.store.list_warnings(
            task=None if task is None else str(task),
            level=level,
            status=status,
            department=department,
            entity_id=entity_id,
            date_from=date_from,
            date_to=date_to,
            page=page,
            page_size=page_size,
        )
        return schemas.WarningList.model_validate(found)

    @api.get(
        "/warnings/{warning_id}",
        response_model=schemas.WarningPublic,
        responses={**_ERRORS, **_NOT_FOUND},
    )
    def get_warning(self, warning_id: str) -> Any:
        """One warning with its full history, oldest first."""
        try:
            return schemas.WarningPublic.model_validate(self.store.get_warning(warning_id))
        except WarningNotFound:
            return JSONResponse({"error": f"no warning {warning_id!r}"}, status_code=404)

    @api.get(
        "/warnings/{warning_id}/explanation",
        response_class=HTMLResponse,
        responses={**_ERRORS, **_NOT_FOUND},
    )
    def warning_explanation(self, warning_id: str, lang: Literal["en", "zh"] = "en") -> Response:
        """The supervisor's page for one warning: reasons, waterfall, actions, history."""
        from serving.explanation_page import render_warning_page

        try:
            warning = self.store.get_warning(warning_id)
        except WarningNotFound:
            return JSONResponse({"error": f"no warning {warning_id!r}"}, status_code=404)
        served = self._served[warning["task"]]
        page = render_warning_page(warning, served.model, lang, model_version=served.version)
        return HTMLResponse(page)

    @api.post(
        "/warnings/{warning_id}/feedback",
        response_model=schemas.WarningPublic,
        responses={
            **_ERRORS,
            **_NOT_FOUND,
            409: {"model": schemas.ErrorResponse, "description": "Transition not allowed"},
        },
    )
    def add_feedback(
        self, warning_id: str, feedback: schemas.FeedbackCreate, request: Request
    ) -> Any:
        """Record a disposition step (dispatch, handle, close with an outcome)."""
        try:
            updated = self.store.add_feedback(
                warning_id,
                actor=_actor(request).name,
                status=feedback.status,
                department=feedback.department,
                outcome=feedback.outcome,
                note=feedback.note,
            )
        except WarningNotFound:
            return JSONResponse({"error": f"no warning {warning_id!r}"}, status_code=404)
        except TransitionError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return schemas.WarningPublic.model_validate(updated)


RiskloopService.add_asgi_middleware(RequestGuard)  # type: ignore[attr-defined]
