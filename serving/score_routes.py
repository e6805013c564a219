"""The score routes, one per task of the registry, made by one factory (no near-copies).

`POST /v1/<task>/score` is a BentoML API (so `bentoml.SyncHTTPClient` works) whose input is the
task's strict pydantic request; each declares its policy action (`score`) in the routing table
beside itself. A body that fails validation is refused as every `/v1/` body is (`ScoreInput`).
`ScoringService` is the service's scoring half: records or materialised entities to results, the
store write, and the response in request order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal, cast

import anyio
import bentoml
import numpy as np
import pandas as pd
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError, create_model
from starlette.requests import Request
from starlette.responses import Response

from features.tasks import TASKS, Task
from models.pages import CITY_TIME
from models.risk_model import feature_columns, feature_matrix
from models.scorer import score_arrays, scored_dicts, with_warning_reasons
from serving import schemas
from serving.champions import ServedModel
from serving.encoding import (
    PIPELINE_MIN_ROWS,
    feature_dicts,
    json_response,
    outage_response,
    record_districts,
    result_json,
    results_response,
    service_results,
)
from serving.guard import request_actor
from serving.log_redaction import logged_errors
from serving.online_store import (
    DISTRICT,
    EntityNotMaterialized,
    OnlineStore,
    OnlineStoreUnreadable,
)
from serving.routes import api, declare, empty_body, in_body
from serving.score_body import decode_score_body
from serving.score_helper import (
    HelperPart,
    ScoreHelper,
    record_results,
    unsealed_rows,
    with_districts,
)
from serving.store import PreparedScore, ScoreWrite, WarningStore, is_outage
from serving.store.sqlite import SerialisedJSON

logger = logging.getLogger("riskloop.serving")

Lang = Literal["en", "zh"]
#: Where a refused score body's answer waits, in the request's state, for its route.
_REFUSAL_STATE = "riskloop_refusal"

#: Rows of materialised entities whose explanation the served model's cache supplied (same
#: model version, same feature row), by task: Prometheus at /metrics.
REUSED_EXPLANATIONS = bentoml.metrics.Counter(
    name="riskloop_explanations_reused",
    documentation="Entity rows whose TreeSHAP contributions were reused from the explanation "
    "cache (same model version, same feature row) instead of recomputed.",
    labelnames=["task"],
)

#: Rows of large requests scored by the helper process (`serving.score_helper`), by task.
HELPED_ROWS = bentoml.metrics.Counter(
    name="riskloop_score_helper_rows",
    documentation="Rows of large score requests scored in the helper process (a second "
    "core) while the service scored the rest.",
    labelnames=["task"],
)


@dataclass(frozen=True)
class ScoreArgs:
    """A validated score request's fields, as BentoML hands them to the route."""

    records: list[BaseModel] | None
    entity_ids: list[str] | None
    explain: bool
    top_k: int
    lang: Lang


class ScoringService:
    """The service's scoring half (mixed into the BentoML service class)."""

    _served: dict[str, ServedModel]
    _scoring_pool: ThreadPoolExecutor
    score_helper: ScoreHelper
    _large_requests: anyio.CapacityLimiter
    online: OnlineStore
    store: WarningStore

    async def _score(self, task: str, ctx: bentoml.Context, request: ScoreArgs) -> Response:
        """A small request of records is answered on the event loop, its store write awaited
        from the store's writer thread (under concurrent single-record requests a hop to a
        worker thread and back cost more CPU than the scoring); a large request, or one by
        entity ids (which reads the online store), is answered on a thread, one at a time."""
        actor = request_actor(ctx.request).audit_name
        try:
            if request.entity_ids is None and len(request.records or []) < PIPELINE_MIN_ROWS:
                served, results, tail, prepared = self._results(task, request)
                written = self.store.record_prepared_later(
                    ScoreWrite(actor, task, served.name, served.version, prepared)
                )
                encoded = [result_json(result) for result in results] + tail
                warning_ids: list[str | None] = await asyncio.wrap_future(written)
                return results_response(encoded, warning_ids)
            return await anyio.to_thread.run_sync(
                self.answer, task, actor, request, limiter=self._large_requests
            )
        except EntityNotMaterialized as exc:
            # BentoML copies the context's status onto a returned Response: set both
            ctx.response.status_code = 404
            return json_response({"error": str(exc)}, status=404)
        except OnlineStoreUnreadable as exc:
            # the operator's to repair; the caller may retry once it is materialized again
            logger.warning("request refused: %s (%s)", exc, exc.path)
            ctx.response.status_code = 503
            return json_response({"error": str(exc)}, status=503)
        except Exception as exc:
            if not is_outage(exc):
                raise
            ctx.response.status_code = 503
            return outage_response(exc)

    def answer(self, task: str, actor: str, request: ScoreArgs) -> Response:
        """A validated request's answer, its results recorded (committed) first: the score
        route's work after the guard and validation, which the serving bench also times in
        process. Raises `EntityNotMaterialized` for an id the online store lacks."""
        served, results, tail, prepared = self._results(task, request)
        write = ScoreWrite(actor, task, served.name, served.version, prepared)
        if len(prepared) < PIPELINE_MIN_ROWS:
            warning_ids = self.store.record_prepared(write)
            encoded = [result_json(result) for result in results] + tail
            return results_response(encoded, warning_ids)
        # a large request's results are serialised while the store's writer thread writes them
        # (SQLite releases the GIL as it inserts and commits); the answer waits for the commit
        written = self.store.record_prepared_later(write)
        encoded = [result_json(result) for result in results] + tail
        return results_response(encoded, written.result())

    def _results(
        self, task: str, request: ScoreArgs
    ) -> tuple[ServedModel, list[dict[str, Any]], list[bytes], list[PreparedScore]]:
        """The served model, the request's results (those the helper scored after them as
        JSON) and their stored form."""
        served = self._served[task]
        options = (request.explain, request.top_k, request.lang)
        if request.entity_ids is None:
            return served, *self._score_records(served, request.records or [], *options)
        return served, *self._score_entities(served, request.entity_ids, *options)

    def _score_entities(
        self, served: ServedModel, entity_ids: list[str], explain: bool, top_k: int, lang: Lang
    ) -> tuple[list[dict[str, Any]], list[bytes], list[PreparedScore]]:
        """Materialised entities' results, no helper's part, and their stored form (the online store is keyed by
        pseudonym; the answer echoes the ids the caller sent)."""
        spec = served.model.spec
        frame = self.online.lookup(spec.slug, entity_ids, self.store.pseudonymise)
        values = feature_columns(spec, frame)
        # an entity scored by id again in the period sends the same row: its explanation is
        # reused from the served model's cache (the same numbers; see models.explanation_cache)
        arrays = score_arrays(
            served.model, frame, explain=explain, columns=list(values), cache=served.explanations
        )
        if arrays.reused_explanations:
            REUSED_EXPLANATIONS.labels(task=served.task).inc(arrays.reused_explanations)
        scored = scored_dicts(served.model, arrays, values, explain=explain, top_k=top_k, lang=lang)
        results = service_results(scored, served.ref, explain)
        kept = with_warning_reasons(
            served.model,
            arrays,
            None if explain else feature_matrix(spec, frame, list(values)),
            values,
            results,
            explain=explain,
            top_k=top_k,
            lang=lang,
        )
        days = [pd.Timestamp(v).date().isoformat() for v in frame["as_of"]]
        districts = (
            [None if pd.isna(d) else str(d) for d in frame[DISTRICT]]
            if DISTRICT in frame.columns
            else [None] * len(frame)
        )
        prepared = self.store.prepare_scores(
            [
                {**result, "features": row_features, "as_of": day, "district": district}
                for result, row_features, day, district in zip(
                    kept, feature_dicts(spec, frame), days, districts, strict=True
                )
            ],
            from_catalog=True,
        )
        return results, [], prepared

    def _score_records(
        self, served: ServedModel, records: list[BaseModel], explain: bool, top_k: int, lang: Lang
    ) -> tuple[list[dict[str, Any]], list[bytes], list[PreparedScore]]:
        """Sent records' results, the rows' results after them already as JSON, and the
        stored form of all, in request order.

        For a large request, the stored form of what does not depend on the scores (the
        scrubbed features' JSON and the pseudonyms) is made on a side thread while this one
        runs TreeSHAP, which releases the GIL for the whole batch. This way round, because a
        thread coming back from GIL-free work waits up to the switch interval (5 ms) for a
        busy thread to let go: the kernel starts at once, and the side work is the shorter.
        From `HELPER_MIN_ROWS` records, the last rows are scored by the helper process
        (`serving.score_helper`) meanwhile, when it is ready, which also makes their stored
        rows; this side makes its own rows' stored form and JSON before it waits for them,
        and seals the helper's (a warning's encrypted id).
        """
        matrix, values, ids = served.encoder.encode(records)
        raw_ids = ids.tolist()
        names = served.encoder.names
        districts = record_districts(records)
        options: dict[str, Any] = {"explain": explain, "top_k": top_k, "lang": lang}
        if len(raw_ids) < PIPELINE_MIN_ROWS:
            results, kept = record_results(served.model, served.ref, matrix, values, ids, **options)
            features = self.store.scrub_feature_columns(names, values)
            prepared = self._prepare(kept, districts, features, None, as_of=None)
            return results, [], prepared
        started = time.perf_counter()
        # one day for the whole request, though its two halves are prepared apart
        today = datetime.now(CITY_TIME).date()
        part = self.score_helper.start(served, matrix, values, ids, options, districts, today)
        try:
            return self._score_shared(
                served, part, started, today, raw_ids, districts, matrix, values, ids, options
            )
        finally:
            if part is not None:
                self.score_helper.abandon(part)  # a request that failed before reading its part

    def _score_shared(
        self,
        served: ServedModel,
        part: HelperPart | None,
        started: float,
        today: date,
        raw_ids: list[str],
        districts: list[str | None],
        matrix: np.ndarray,
        values: list[list[Any]],
        ids: np.ndarray,
        options: dict[str, Any],
    ) -> tuple[list[dict[str, Any]], list[bytes], list[PreparedScore]]:
        """`_score_records` of a large request: the rows before `part` scored here, beside
        the stored features and the helper (see there)."""
        own = len(raw_ids) if part is None else part.start
        names = served.encoder.names
        head = slice(0, own)
        stored = self._scoring_pool.submit(
            self.store.forms.feature_rows, raw_ids[head], names, [c[head] for c in values]
        )
        results, kept = _rows_results(served, matrix, values, ids, head, options)
        features, hashes = stored.result()
        prepared = self._prepare(kept, districts[head], features, hashes, as_of=today)
        if part is None:
            return results, [], prepared
        encoded = [result_json(result) for result in results]
        helped = self.score_helper.finish(part, time.perf_counter() - started)
        tail = slice(own, None)
        if helped is None:  # the helper failed: its rows are scored here
            rest, rest_kept = _rows_results(served, matrix, values, ids, tail, options)
            rest_json = [result_json(result) for result in rest]
            forms = unsealed_rows(
                self.store.forms,
                rest_kept,
                names,
                [c[tail] for c in values],
                raw_ids[tail],
                districts[tail],
                today,
            )
        else:
            rest_json, forms = helped
            HELPED_ROWS.labels(task=served.task).inc(len(rest_json))
        encoded += rest_json
        prepared += self.store.seal(forms, raw_ids[tail])
        return [], encoded, prepared

    def _prepare(
        self,
        kept: list[dict[str, Any]],
        districts: list[str | None],
        features: Sequence[dict[str, Any]] | Sequence[SerialisedJSON],
        hashes: Sequence[str] | None,
        *,
        as_of: date | None,
    ) -> list[PreparedScore]:
        """Sent records' stored form (`as_of` None: the city's date now)."""
        return self.store.prepare_scores(
            with_districts(kept, districts),
            as_of=as_of,
            scrubbed_features=features,
            entity_hashes=hashes,
            from_catalog=True,
        )


def _rows_results(
    served: ServedModel,
    matrix: np.ndarray,
    values: list[list[Any]],
    ids: np.ndarray,
    rows: slice,
    options: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`record_results` of some of the encoded records (`values` by feature)."""
    return record_results(
        served.model,
        served.ref,
        matrix[rows],
        [column[rows] for column in values],
        ids[rows],
        **options,
    )


class ScoreInput(bentoml.IODescriptor):
    """A score route's input: the body read once, as BentoML reads it, and refused as riskloop
    refuses any `/v1/` body.

    BentoML answers a body's `ValidationError` itself, in the API's endpoint wrapper, before
    any exception handler of the app could see it: a 400 naming this class and linking to
    pydantic's pages, logged at ERROR with a traceback for what is the client's mistake. Here,
    where the body is parsed, the refusal becomes the `/v1` app's own answer (`_refusal`) and
    waits in the request's state; BentoML then calls the route with a placeholder that never
    reaches the scorer (the route answers the refusal). A valid body is parsed once: by
    `serving.score_body` in one pass when it is plainly valid, else by the model.
    """

    #: The task's slug (set on each task's descriptor by `_score_input`).
    score_slug: ClassVar[str] = ""

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> bentoml.IODescriptor:
        body = await request.body()  # read once: Starlette keeps it for BentoML
        if not body.strip():
            # BentoML reads an empty body as `{}`: "send exactly one of ..." hid the mistake
            refusal = await _refusal(request, [_EMPTY_BODY])
        elif (fields := decode_score_body(cls.score_slug, body)) is not None:
            # plainly valid, decoded in one pass (`serving.score_body`): the same fields and
            # values the model's validation would give
            return cls.model_construct(**fields)
        else:
            try:
                return cast(bentoml.IODescriptor, await super().from_http_request(request, serde))
            except ValidationError as exc:
                # the context names a field's pattern, which the answer says in words
                # (`serving.routes.PATTERN_WORDS`); neither it nor the value is echoed
                errors = exc.errors(include_url=False, include_input=False)
                refusal = await _refusal(request, errors)
        request.scope.setdefault("state", {})[_REFUSAL_STATE] = refusal
        return cls.model_construct()


#: The refusal of a score request without a body, worded as every route words it (its
#: location under `body`, as `_refusal` puts every location).
_EMPTY_BODY = empty_body("with 'records' or 'entity_ids'")


def _score_input(task: Task) -> type[ScoreInput]:
    """`task`'s strict score request as the score route's input, under the name BentoML gives
    its own input descriptors (`serving.openapi` replaces that schema in the document)."""
    model = schemas.score_request_model(task.slug)
    descriptor = cast(
        type[ScoreInput],
        create_model(f"{model.__name__}IODescriptor", __base__=(ScoreInput, model)),
    )
    descriptor.score_slug = task.slug
    return descriptor


async def _refusal(request: Request, pydantic_errors: Sequence[Mapping[str, Any]]) -> Response:
    """A score body's refusal: the sentence and field list the `/v1` app's handler gives
    invalid input (`serving.routes`), each location under `body` as FastAPI puts it, with the
    400 score clients have always had from this route (the other routes' 422 would break
    them). Logged as one WARNING line by location and error type, never by value, a key the
    schema does not know as a placeholder (`logged_errors`): no traceback, no ERROR for a
    client's mistake."""
    errors = [in_body(error) for error in pydantic_errors]
    handler = cast(
        Callable[[Request, RequestValidationError], Awaitable[Response]],
        api.exception_handlers[RequestValidationError],
    )
    answer = await handler(request, RequestValidationError(errors))
    answer.status_code = 400
    logger.warning("refused a score body (%d): %s", answer.status_code, logged_errors(errors))
    return answer


def score_api(task: Task) -> Any:
    """The BentoML API scoring `task`, declared in the routing table with action `score`."""
    route = declare("POST", f"/v1/{task.name}/score", "score", reads_body=True, task=task.name)

    async def score(self: ScoringService, ctx: bentoml.Context, **request: Any) -> Response:
        # the state dict itself, as the guard writes it: a miss through `Request.state` raises
        # and catches an AttributeError (about 2 µs a request)
        refused: Response | None = ctx.request.scope.get("state", {}).get(_REFUSAL_STATE)
        if refused is not None:
            # BentoML copies the context's status onto a returned Response: set both
            ctx.response.status_code = refused.status_code
            return refused
        return await self._score(task.name, ctx, ScoreArgs(**request))

    score.__name__ = score.__qualname__ = f"score_{task.slug}"
    score.__doc__ = f"Score each {task.unit}: {task.label}."
    return bentoml.api(
        route=route.template,
        input_spec=_score_input(task),
        output_spec=schemas.ScoreResponse,
    )(score)


SCORE_APIS: dict[str, Any] = {f"score_{task.slug}": score_api(task) for task in TASKS.values()}
