"""A score body decoded in one pass (msgspec) when it is plainly valid; pydantic decides the rest.

The score request's pydantic model (`serving.schemas.score_request_model`) is the authority on
what a score body may hold, and its refusals are the ones clients read. Parsing and validating
a body of 1,000 records with it took 7-8 ms of the event loop before any scoring could start;
msgspec decodes the same body into typed records in 2.3-2.5 ms (1,000 wage-arrears records,
964 kB, 2026-12-08). So the score route first decodes a body here, against the same schema
built from the same catalog entries and limits. A body this decoder does not take, for any
reason, goes to the pydantic model, which either accepts it (a form this decoder leaves to it)
or refuses it as it always has.

What this decoder takes, the pydantic model takes with the same values: a differential
property test holds the two together (`tests/serving/test_score_body.py`). Where the two
libraries could part, this side is the stricter one:
- a pattern's `$` matches before a final newline in Python's `re` (which msgspec uses) but not
  in pydantic's engine: here the patterns end in `\\Z`;
- a district's identifier check (`schemas.District`) and the one-source rule (exactly one of
  `records` or `entity_ids`) run after decoding; a body failing either goes to pydantic, which
  says why.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Annotated, Any, Literal, get_args

import msgspec
from annotated_types import Ge, Le
from pydantic.fields import FieldInfo

from features.catalog import CATALOG, FeatureDef
from features.frame_checks import ENTITY_ID_MAX_CHARS, ENTITY_ID_PATTERN
from serving import schemas
from serving.store.pseudonym import looks_like_identifier

#: The score route's fields, as the route receives them.
FIELDS = ("records", "entity_ids", "explain", "top_k", "lang")


def _anchored(pattern: str) -> str:
    """`pattern` with a final `$` as `\\Z`: the end of the text only, as pydantic reads `$`."""
    return (
        pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    )


EntityId = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=ENTITY_ID_MAX_CHARS, pattern=_anchored(ENTITY_ID_PATTERN)
    ),
]
District = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=schemas.DISTRICT_MAX_CHARS,
        pattern=_anchored(schemas.DISTRICT_PATTERN),
    ),
]


def _feature_type(feature: FeatureDef) -> Any:
    """One catalog entry as `schemas` types it (None = missing): a category one of its
    categories, a boolean, or a number within the entry's range (an integer's bounds rounded
    inwards, as an integer compares with them)."""
    typ: Any
    if feature.dtype == "category":
        typ = Literal[tuple(feature.categories)]  # type: ignore[valid-type]
    elif feature.dtype == "bool":
        typ = bool
    else:
        whole = feature.dtype == "int"
        low, high = feature.min_value, feature.max_value
        if whole:
            low = None if low is None else math.ceil(low)
            high = None if high is None else math.floor(high)
        number = int if whole else float
        typ = (
            number
            if low is None and high is None
            else Annotated[number, msgspec.Meta(ge=low, le=high)]
        )
    return typ | None


def _bounds(field: FieldInfo) -> msgspec.Meta:
    """A number field's bounds as the pydantic request states them."""
    metadata = field.metadata
    ge = next(int(m.ge) for m in metadata if isinstance(m, Ge))  # type: ignore[call-overload]
    le = next(int(m.le) for m in metadata if isinstance(m, Le))  # type: ignore[call-overload]
    return msgspec.Meta(ge=ge, le=le)


@cache
def _decoder(slug: str) -> msgspec.json.Decoder[Any]:
    """The decoder of `slug`'s score body, defaults as the pydantic request has them."""
    record = msgspec.defstruct(
        f"{slug}_record",
        [
            ("entity_id", EntityId),
            ("district", District | None, None),
            *((f.name, _feature_type(f), None) for f in CATALOG[slug]),
        ],
        forbid_unknown_fields=True,
    )
    sized = msgspec.Meta(min_length=1, max_length=schemas.MAX_RECORDS)
    fields = schemas.score_request_model(slug).model_fields
    request = msgspec.defstruct(
        f"{slug}_request",
        [
            ("records", Annotated[list[record], sized] | None, None),  # type: ignore[valid-type]
            ("entity_ids", Annotated[list[EntityId], sized] | None, None),
            ("explain", bool, fields["explain"].default),
            ("top_k", Annotated[int, _bounds(fields["top_k"])], fields["top_k"].default),
            ("lang", Literal[get_args(schemas.Lang)], fields["lang"].default),  # type: ignore[misc]
        ],
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(request)


def decode_score_body(slug: str, body: bytes) -> dict[str, Any] | None:
    """The fields (`FIELDS`) of a score body for task `slug`, its records typed, when this
    decoder takes the body; None when it does not (the pydantic request decides then)."""
    try:
        request = _decoder(slug).decode(body)
    except msgspec.MsgspecError:
        return None
    if (request.records is None) == (request.entity_ids is None):
        return None
    for record in request.records or ():
        if record.district is not None and looks_like_identifier(record.district):
            return None
    return {name: getattr(request, name) for name in FIELDS}
