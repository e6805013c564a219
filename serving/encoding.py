"""Records to the scorer's matrix and results to JSON bytes: the score path's encoding.

A validated request's records go straight to a float matrix (`RecordEncoder`, no pandas), and
a large request's results are serialised while the store write runs; `results_response`
stitches the warning ids in after the write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
import pydantic_core
from starlette.responses import Response

from models.scorer import ScoredRecord
from models.spec import TaskSpec
from serving.store.common import OUTAGE_MESSAGE, OUTAGE_RETRY_AFTER_S, outage_cause

logger = logging.getLogger("riskloop.serving")

# From this many records a request's work is shared with a side thread (TreeSHAP beside the
# stored features, the store write beside the answer's JSON); a small request runs in line
# (the thread hand-off would cost about what it saves).
PIPELINE_MIN_ROWS = 64
# below this many records the matrix is built row by row in one conversion (per column above)
ROW_WISE_MAX_ROWS = 16


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

    def encode(self, records: Sequence[Any]) -> tuple[np.ndarray, list[list[Any]], np.ndarray]:
        """(matrix, raw values per feature, entity ids) of validated records (the pydantic
        request's or `serving.score_body`'s: each feature an attribute); None is missing
        (NaN)."""
        values = [list(map(attrgetter(name), records)) for name in self.names]
        entity_ids = np.array(list(map(attrgetter("entity_id"), records)), dtype=object)
        if len(records) < ROW_WISE_MAX_ROWS:  # one conversion instead of one per column
            matrix = np.array(
                [
                    [
                        value if codes is None or value is None else codes.get(value, np.nan)
                        for value, codes in zip(row, self.category_codes, strict=True)
                    ]
                    for row in zip(*values, strict=True)
                ],
                dtype="float64",  # None -> NaN
            ).reshape(len(records), len(self.names))
            return matrix, values, entity_ids
        matrix = np.empty((len(records), len(self.names)), dtype="float64")
        for index, (column, codes) in enumerate(zip(values, self.category_codes, strict=True)):
            if codes is None:
                matrix[:, index] = np.array(column, dtype="float64")  # None -> NaN
            else:
                matrix[:, index] = [np.nan if v is None else codes.get(v, np.nan) for v in column]
        return matrix, values, entity_ids


def _native(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def feature_dicts(spec: TaskSpec, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's features as JSON-ready values (the monitoring sample the store keeps)."""
    names = list(spec.feature_names)
    values = frame.loc[:, names].to_numpy(dtype=object)
    return [{name: _native(v) for name, v in zip(names, row, strict=True)} for row in values]


def record_districts(records: Sequence[Any]) -> list[str | None]:
    """Each validated record's district, when the caller sent one (a warning keeps it)."""
    return [getattr(record, "district", None) for record in records]


def result_reasons(scored: ScoredRecord) -> list[dict[str, Any]]:
    """A scored record's reasons as the API returns and the store keeps them (what
    `models.scorer.scored_dicts` makes for the score routes, here for `serving.screening`)."""
    return [
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
    ]


def result_actions(scored: ScoredRecord) -> list[dict[str, Any]]:
    """A scored record's actions as the API returns and the store keeps them."""
    return [
        {"department": a.department, "action": a.action, "trigger": a.trigger}
        for a in scored.actions
    ]


def service_results(
    scored: list[dict[str, Any]], model: Mapping[str, str], explain: bool
) -> list[dict[str, Any]]:
    """`models.scorer.scored_dicts` rows made into API results, in place: `ScoreResult`'s
    fields in its order but `warning_id` (without explanations, no base value and no
    contributions; `results_response` adds the warning id). `model` is the served model's
    `ServedModel.ref`."""
    for result in scored:
        if not explain:
            result["base_value"] = None
            result["contributions"] = None
        result["model"] = dict(model)
    return scored


def json_response(payload: Any, status: int = 200) -> Response:
    """Serialise with pydantic-core (about 4x faster than `json` on 1,000 explained results)."""
    body = pydantic_core.to_json(payload, inf_nan_mode="null")
    return Response(body, status_code=status, media_type="application/json")


def outage_response(exc: BaseException) -> Response:
    """503 with `Retry-After`: the warnings store did not answer, so nothing was recorded;
    one line in the log with the driver's message (never the statement)."""
    logger.warning("request refused: %s (%s)", OUTAGE_MESSAGE, outage_cause(exc))
    response = json_response({"error": OUTAGE_MESSAGE}, status=503)
    response.headers["Retry-After"] = str(OUTAGE_RETRY_AFTER_S)
    return response


def result_json(result: dict[str, Any]) -> bytes:
    """One result's JSON, made while the store write runs (its warning id is added after the
    write by `results_response`)."""
    return pydantic_core.to_json(result, inf_nan_mode="null")


def results_response(encoded: Sequence[bytes], warning_ids: Sequence[str | None]) -> Response:
    """`{"results": [...]}` from `result_json` texts, each closed with its `warning_id`.

    The same bytes as serialising the finished result dicts (`warning_id` is their last key);
    a large request's results are serialised while a side thread writes them to the store.
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
