"""An upper bound for the serving benchmark: riskloop's answer without riskloop's duties.

It loads one task's champion (`RISKLOOP_BENCH_TASK`) and answers a score request as riskloop's
service does (the same request schema, `RecordEncoder`, `score_matrix` with exact TreeSHAP,
`scored_dicts` with reasons and actions, the same JSON), but with none of what the service must
also do: no authentication, no pseudonyms or scrubbed features, no store write, no warning ids.
It is a plain Starlette route mounted in BentoML (no input descriptor), so BentoML does no
parsing of its own; a body is decoded as riskloop's route decodes it (`serving.score_body`,
else the pydantic request). Its 1,000-record rows/s against the in-process scorer's is the most any
service built on this scorer and this HTTP stack can reach: issue 17's 90% goal is read
against it (`bench.serving._goals`).
"""

from __future__ import annotations

import gc
import os

import bentoml
import pydantic_core
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models.registry import load_registered
from models.scorer import score_matrix, scored_dicts
from models.settings import get_settings
from serving import schemas
from serving.encoding import RecordEncoder
from serving.score_body import decode_score_body

TASK = os.environ["RISKLOOP_BENCH_TASK"]
MODEL, VERSION = load_registered(TASK, tracking_uri=get_settings().mlflow_uri)
SERVED = {"name": VERSION.name, "version": str(VERSION.version), "alias": VERSION.alias}
# as riskloop's service does at start: loaded models and libraries out of the collector's view
gc.collect()
gc.freeze()
ENCODER = RecordEncoder.for_spec(MODEL.spec)
SLUG = schemas.TASK_SLUGS[TASK]
REQUEST = schemas.score_request_model(SLUG)


async def score(request: Request) -> Response:
    """Records in, explained results out: parse, encode, score, explain, answer."""
    body = await request.body()
    fields = decode_score_body(SLUG, body)  # as riskloop's route decodes a body
    if fields is None:
        try:
            fields = dict(REQUEST.model_validate_json(body))
        except ValidationError:
            return Response(b'{"error":"invalid body"}', status_code=400)
    records = fields.get("records")
    if not records:  # the bound scores sent records only, not materialised ids
        return Response(b'{"error":"send records"}', status_code=400)
    matrix, values, ids = ENCODER.encode(records)
    arrays = score_matrix(MODEL, matrix, ids, explain=True)
    results = scored_dicts(MODEL, arrays, values, top_k=fields["top_k"], lang=fields["lang"])
    for result in results:
        result["model"] = dict(SERVED)
        result["warning_id"] = None
    body = pydantic_core.to_json({"results": results}, inf_nan_mode="null")
    return Response(body, media_type="application/json")


class Ready(BaseModel):
    ready: bool = True


@bentoml.service(name="bound", logging={"access": {"enabled": False}})
@bentoml.asgi_app(Starlette(routes=[Route("/score", score, methods=["POST"])]), path="/bound")
class BoundService:
    """The route above, in BentoML's server (its `/readyz` tells the bench when to start)."""

    @bentoml.api
    def ping(self) -> Ready:
        return Ready()
