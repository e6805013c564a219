"""The score body's one-pass decoder (`serving.score_body`) never takes what the pydantic request
refuses, and what it takes has the pydantic request's values, type for type.

Bodies are drawn around the schema's edges: values at and past each catalog range, the wrong
JSON type for each feature, unknown and repeated keys, entity ids and districts a character
off (a final newline, a non-ASCII digit, an identifier), both or neither of `records` and
`entity_ids`, `top_k` at and past its bounds, integers past 64 bits and floats past the double
range. Plainly valid bodies must be taken, so the fast path is the one the route runs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from features.catalog import CATALOG, FeatureDef
from models.spec import get_spec
from serving import schemas
from serving.encoding import RecordEncoder
from serving.score_body import FIELDS, decode_score_body

SLUGS = sorted(CATALOG)
#: Raw JSON texts a value may be replaced with (written into the body as they are).
ODD_NUMBERS = ["1e400", "-1e400", "18446744073709551617", "-9223372036854775809", "1.0", "-0"]
ODD_IDS = ["a\n", "a\r", "\u0661x", "ab\u00e9", " a", "a b", "x" * 129, "", "A" * 128]
ODD_DISTRICTS = ["wuxing", "wuxing\n", "c330502", "c3305021", "Wuxing", "id330102199001011234"]
ODD_DISTRICTS += ["ab330522wnwuuwdqgx", "w" * 65, "\u0663", "nanxun-2"]


def _valid_value(feature: FeatureDef) -> st.SearchStrategy[Any]:
    if feature.dtype == "category":
        return st.sampled_from(list(feature.categories))
    if feature.dtype == "bool":
        return st.booleans()
    low, high = feature.min_value, feature.max_value
    if feature.dtype == "int":
        return st.integers(
            None if low is None else math.ceil(low), None if high is None else math.floor(high)
        )
    floats = st.floats(low, high, allow_nan=False, allow_infinity=False)
    whole = st.integers(
        None if low is None else math.ceil(low), None if high is None else math.floor(high)
    )
    return floats | whole  # a float field takes a JSON integer too


def _edge_value(feature: FeatureDef) -> st.SearchStrategy[Any]:
    """Values a step past the feature's range, or of another JSON type."""
    edges: list[Any] = [True, False, "1", [], {}, 0.5, 2, "other"]
    for bound in (feature.min_value, feature.max_value):
        if bound is not None:
            edges += [bound, bound - 1, bound + 1, bound - 1e-9, bound + 1e-9]
            edges += [math.floor(bound), math.ceil(bound), float(bound)]
    return st.sampled_from(edges)


def _record(slug: str) -> st.SearchStrategy[dict[str, Any]]:
    entries = {
        feature.name: st.one_of(st.none(), _valid_value(feature)) for feature in CATALOG[slug]
    }
    return st.fixed_dictionaries(
        {"entity_id": st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:@+/-]{0,20}\Z")},
        optional={**entries, "district": st.sampled_from(["wuxing", "nanxun", "c330502"])},
    )


def _valid_body(slug: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"records": st.lists(_record(slug), min_size=1, max_size=4)},
        optional={
            "explain": st.booleans(),
            "top_k": st.integers(1, schemas.MAX_TOP_K),
            "lang": st.sampled_from(["en", "zh"]),
        },
    )


@st.composite
def _edgy_body(draw: st.DrawFn, slug: str) -> bytes:
    """A body near the valid ones: one to three things changed, some as raw JSON text."""
    body: dict[str, Any] = draw(_valid_body(slug))
    raw: list[tuple[str, str]] = []  # (placeholder, JSON text)
    features = CATALOG[slug]
    records = body["records"]
    for step in range(draw(st.integers(1, 3))):
        record = draw(st.sampled_from(records))
        kind = draw(st.integers(0, 9))
        if kind == 0:
            feature = draw(st.sampled_from(features))
            record[feature.name] = draw(_edge_value(feature))
        elif kind == 1:
            feature = draw(st.sampled_from(features))
            marker = f"@raw{step}@"
            record[feature.name] = marker
            raw.append((json.dumps(marker), draw(st.sampled_from(ODD_NUMBERS))))
        elif kind == 2:
            record["entity_id"] = draw(st.sampled_from(ODD_IDS))
        elif kind == 3:
            record["district"] = draw(st.sampled_from(ODD_DISTRICTS))
        elif kind == 4:
            record[draw(st.sampled_from(["unknown", "Entity_id", "score"]))] = 1
        elif kind == 5:
            record.pop("entity_id", None)
        elif kind == 6:
            body[draw(st.sampled_from(["entity_ids", "extra"]))] = draw(
                st.sampled_from([["u-1"], [], None, ["a\n"]])
            )
        elif kind == 7:
            body["records"] = draw(st.sampled_from([None, [], records]))
        elif kind == 8:
            body[draw(st.sampled_from(["top_k", "explain", "lang"]))] = draw(
                st.sampled_from([0, 1, 20, 21, True, "en", "fr", None, 5.0])
            )
        else:  # a key sent twice: the last one counts, in both
            feature = draw(st.sampled_from(features))
            marker = f"@dup{step}@"
            record[marker] = 0
            twice = f'"{feature.name}": {json.dumps(draw(_edge_value(feature)))}, "{feature.name}"'
            raw.append((json.dumps(marker), twice))
    text = json.dumps(body, ensure_ascii=draw(st.booleans()))
    for placeholder, value in raw:
        # a duplicate key's placeholder is a key (`"@dup0@": 0` -> `"f": v, "f": 0`)
        text = text.replace(placeholder, value)
    return text.encode()


def _same_fields(slug: str, body: bytes) -> bool:
    """Whether the decoder took `body`; if it did, the pydantic request took it with the same
    values (asserted)."""
    fast = decode_score_body(slug, body)
    if fast is None:
        return False
    model = schemas.score_request_model(slug)
    try:
        slow = model.model_validate_json(body)
    except ValidationError as exc:  # pragma: no cover - the failure this test exists to find
        pytest.fail(f"decoded a body pydantic refuses: {body!r}: {exc}")
    assert set(fast) == set(FIELDS)
    for name in FIELDS:
        if name != "records":
            assert fast[name] == getattr(slow, name), name
            assert type(fast[name]) is type(getattr(slow, name)), name
    if slow.records is None:
        assert fast["records"] is None
        return True
    names = list(schemas.record_model(slug).model_fields)
    assert len(fast["records"]) == len(slow.records)
    for mine, theirs in zip(fast["records"], slow.records, strict=True):
        for name in names:
            a, b = getattr(mine, name), getattr(theirs, name)
            assert type(a) is type(b) and a == b, (name, a, b)
    return True


@pytest.mark.parametrize("slug", SLUGS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_plainly_valid_bodies_are_decoded_as_pydantic_reads_them(slug: str, data: Any) -> None:
    body = data.draw(_valid_body(slug))
    assert _same_fields(slug, json.dumps(body).encode()), "a plainly valid body left to pydantic"


@pytest.mark.parametrize("slug", SLUGS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_edge_bodies_are_never_taken_past_pydantic(slug: str, data: Any) -> None:
    _same_fields(slug, data.draw(_edgy_body(slug)))


@pytest.mark.parametrize(
    "body",
    [
        b'{"records": [{"entity_id": "a\\n"}]}',  # `$` before a final newline, in Python's re
        b'{"records": [{"entity_id": "a", "district": "wuxing\\n"}]}',
        b'{"records": [{"entity_id": "a", "district": "id330102199001011234"}]}',
        b'{"records": [{"entity_id": "a"}], "entity_ids": ["a"]}',
        b'{"records": null}',
        b"{}",
        b'{"entity_ids": ["a"], "top_k": 21}',
        b'{"records": [{"entity_id": "a", "unknown": 1}]}',
        b'{"records": [{"entity_id": "a"}]} x',
        b'{"records": [{"entity_id": "\\ud800"}]}',
        b"[]",
    ],
)
def test_bodies_pydantic_refuses_are_left_to_it(body: bytes) -> None:
    slug = SLUGS[0]
    with pytest.raises(ValidationError):
        schemas.score_request_model(slug).model_validate_json(body)
    assert decode_score_body(slug, body) is None


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("number", ["2e400", "1180591620717411303424", "-1180591620717411303424"])
def test_numbers_past_the_machine_types_agree(slug: str, number: str) -> None:
    """Integers past 64 bits and floats past the double range, in every number feature: taken
    with pydantic's value, or left to it (which then refuses or takes it)."""
    for feature in CATALOG[slug]:
        if feature.dtype in ("int", "float"):
            body = f'{{"records": [{{"entity_id": "a", "{feature.name}": {number}}}]}}'
            _same_fields(slug, body.encode())


@pytest.mark.parametrize("slug", SLUGS)
def test_decoded_records_encode_as_validated_ones(slug: str) -> None:
    """The encoder reads both kinds of record alike (attributes): the same matrix and values."""
    rng = np.random.default_rng(5)
    features = CATALOG[slug]
    records = []
    for row in range(30):
        record: dict[str, Any] = {"entity_id": f"u{row}"}
        for feature in features:
            if rng.random() < 0.2:
                continue
            if feature.dtype == "category":
                record[feature.name] = str(rng.choice(list(feature.categories)))
            elif feature.dtype == "bool":
                record[feature.name] = bool(rng.random() < 0.5)
            elif feature.dtype == "int":
                record[feature.name] = int(feature.min_value or 0) + int(rng.integers(0, 3))
            else:
                record[feature.name] = float(feature.min_value or 0) + float(rng.random())
        records.append(record)
    body = json.dumps({"records": records}).encode()
    fast = decode_score_body(slug, body)
    assert fast is not None
    slow = schemas.score_request_model(slug).model_validate_json(body)
    task = next(name for name, s in schemas.TASK_SLUGS.items() if s == slug)
    encoder = RecordEncoder.for_spec(get_spec(task))
    for n in (3, 30):  # row-wise and column-wise conversions
        matrix, values, ids = encoder.encode(fast["records"][:n])
        matrix2, values2, ids2 = encoder.encode((slow.records or [])[:n])
        np.testing.assert_array_equal(matrix, matrix2)
        assert values == values2
        assert ids.tolist() == ids2.tolist()
