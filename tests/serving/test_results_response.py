"""The score response stitched from per-result JSON is the JSON of the finished results."""

from __future__ import annotations

import math

import pydantic_core

from serving.encoding import json_response, result_json, results_response


def test_stitched_results_are_the_same_bytes_as_the_finished_dicts() -> None:
    results = [
        {
            "entity_id": "E-1",
            "score": 0.25,
            "raw_margin": math.nan,
            "contributions": {"a": 1.5, "b": -0.0},
            "reasons": [{"sentence": '逾期 3 个月 "quoted"', "value": None}],
            "model": {"name": "m", "version": "2"},
        },
        {"entity_id": "E-2", "score": 1e-300, "contributions": None, "reasons": []},
    ]
    warning_ids = ["W-0123abcd", None]
    encoded = [result_json(result) for result in results]
    stitched = results_response(encoded, warning_ids).body
    finished = [{**r, "warning_id": w} for r, w in zip(results, warning_ids, strict=True)]
    assert stitched == json_response({"results": finished}).body
    assert pydantic_core.from_json(stitched)["results"][0]["raw_margin"] is None
    assert results_response([], []).body == json_response({"results": []}).body
