"""The running service, over real HTTP: scores, explanations, auth, bad input, warnings."""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import bentoml
import httpx
import numpy as np
import pandas as pd
import pytest

from features.catalog import CATALOG
from serving.online_store import latest_rows, online_path
from serving.store.models import WARNING_LEVELS
from tests.processes import LOOPBACK_TLS

from .conftest import TASKS, Served

SLUGS = {task: task.replace("-", "_") for task in TASKS}


@functools.cache
def _latest_rows(city: Path, task: str) -> pd.DataFrame:
    from training.commands.service import build_scoring_set

    return latest_rows(SLUGS[task], build_scoring_set(task, city))


def materialized(served: Served, task: str) -> pd.DataFrame:
    """The rows `materialize` wrote, with the raw ids (the file itself holds pseudonyms)."""
    rows = _latest_rows(served.city, task)
    written = pd.read_parquet(online_path(SLUGS[task], served.root / "data"))
    assert len(written) == len(rows)  # the same entities, keyed by pseudonym in the file
    return rows.copy()


def as_records(task: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Materialized rows as API records: JSON types per the catalog, missing values omitted."""
    records = []
    for row in frame.to_dict("records"):
        record: dict[str, Any] = {"entity_id": str(row["entity_id"])}
        for feature in CATALOG[SLUGS[task]]:
            value = row[feature.name]
            if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
                continue
            if feature.dtype == "int":
                value = int(value)
            elif feature.dtype == "bool":
                value = bool(value)
            elif feature.dtype == "float":
                value = float(value)
            record[feature.name] = value
        records.append(record)
    return records


def score(served: Served, task: str, body: dict[str, Any], key: str = "all") -> httpx.Response:
    with served.client() as client:
        return client.post(f"/v1/{task}/score", json=body, headers=served.headers(key))


def warned_records(served: Served, task: str, prefix: str, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` materialized records the served model warns on, under ids of the test's
    own (`<prefix>-N`: units whose warnings no other test lists or steps)."""
    records = as_records(task, materialized(served, task))
    probe = score(served, task, {"records": records}).json()["results"]
    warned = {r["entity_id"] for r in probe if r["risk_level"] != "green"}
    chosen = (record for record in records if record["entity_id"] in warned)
    return [{**record, "entity_id": f"{prefix}-{i}"} for i, record in enumerate(chosen)][:limit]


@pytest.mark.parametrize("task", TASKS)
def test_scores_equal_the_in_process_scorer_and_are_additive(served: Served, task: str) -> None:
    from models.registry import load_registered
    from models.scorer import score_frame

    frame = materialized(served, task).head(40)
    response = score(served, task, {"records": as_records(task, frame), "top_k": 4})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    model, info = load_registered(task, "champion")
    expected = score_frame(model, frame, explain=True, top_k=4)
    assert [r["entity_id"] for r in results] == frame["entity_id"].astype(str).tolist()
    for got, want in zip(results, expected, strict=True):
        assert got["score"] == pytest.approx(want.score, abs=1e-12)
        assert got["risk_level"] == want.risk_level
        assert got["model"] == {
            "name": info.name,
            "version": str(info.version),
            "alias": "champion",
        }
        total = got["base_value"] + sum(got["contributions"].values())
        assert total == pytest.approx(got["raw_margin"], abs=1e-9)
        magnitudes = [abs(r["contribution"]) for r in got["reasons"]]
        assert len(magnitudes) == 4 and magnitudes == sorted(magnitudes, reverse=True)
        assert magnitudes[0] == pytest.approx(max(abs(v) for v in got["contributions"].values()))
        for reason in got["reasons"]:
            assert reason["contribution"] == pytest.approx(got["contributions"][reason["feature"]])
            direction = {1: "raises", -1: "lowers", 0: "neutral"}[
                (reason["contribution"] > 0) - (reason["contribution"] < 0)
            ]
            assert reason["direction"] == direction


def test_bentoml_client_and_chinese_reasons(served: Served) -> None:
    task = "wage-arrears"
    record = as_records(task, materialized(served, task).head(1))[0]
    labels_zh = {f.name: f.label_zh for f in CATALOG[SLUGS[task]]}
    with bentoml.SyncHTTPClient(served.url, token=served.keys["scorer"]) as client:
        answer = client.score_wage_arrears(records=[record], lang="zh", top_k=3)
    result = answer["results"][0] if isinstance(answer, dict) else answer.results[0]
    result = result if isinstance(result, dict) else result.model_dump()
    assert len(result["reasons"]) == 3
    for reason in result["reasons"]:
        assert reason["label"] == labels_zh[reason["feature"]]
        assert reason["sentence"].endswith(("（风险上升）", "（风险下降）"))


@pytest.mark.parametrize("task", TASKS)
def test_entity_ids_score_like_their_materialized_records(served: Served, task: str) -> None:
    frame = materialized(served, task).sample(15, random_state=3)
    ids = frame["entity_id"].astype(str).tolist()
    by_id = score(served, task, {"entity_ids": ids}).json()["results"]
    by_records = score(served, task, {"records": as_records(task, frame)}).json()["results"]
    assert [r["entity_id"] for r in by_id] == ids
    for a, b in zip(by_id, by_records, strict=True):
        assert a["score"] == b["score"] and a["reasons"] == b["reasons"]
    missing = score(served, task, {"entity_ids": [ids[0], "NO-SUCH-ENTITY"]})
    assert missing.status_code == 404 and "NO-SUCH-ENTITY" in missing.json()["error"]


def test_a_damaged_online_file_is_a_503_naming_the_repair(served: Served) -> None:
    """A truncated online features file: lookups answer 503 naming `materialize` (one line
    in the log, no traceback); records sent in full still score; the file put back is read
    again without a restart."""
    task = "dispute-escalation"
    path = online_path(SLUGS[task], served.root / "data")
    frame = materialized(served, task)
    ids = frame["entity_id"].astype(str).head(3).tolist()
    rows = as_records(task, frame.head(2))
    good = path.read_bytes()
    logged = served.log.stat().st_size
    try:
        path.write_bytes(good[: len(good) // 2])
        damaged = score(served, task, {"entity_ids": ids})
        assert damaged.status_code == 503, damaged.text
        assert "riskloop materialize --task dispute-escalation" in damaged.json()["error"]
        assert str(path.parent) not in damaged.text  # no server path in the answer
        assert score(served, task, {"records": rows, "explain": False}).status_code == 200
    finally:
        tmp = path.with_name(".restore.tmp")
        tmp.write_bytes(good)
        os.replace(tmp, path)
    assert score(served, task, {"entity_ids": ids}).status_code == 200
    with served.log.open("rb") as log:
        log.seek(logged)
        written = log.read().decode(errors="replace")
    assert "cannot be read" in written and "Traceback" not in written


def _metric_by_label(served: Served, metric: str, label: str) -> dict[str, float]:
    """A counter at /metrics (open, as a scraper reads it), summed by one label's value."""
    sums: dict[str, float] = {}
    for line in httpx.get(
        f"{served.url}/metrics", timeout=10, verify=LOOPBACK_TLS
    ).text.splitlines():
        if line.startswith(metric + "{") and f'{label}="' in line:
            labels, value = line.rsplit(" ", 1)
            key = labels.split(f'{label}="', 1)[1].split('"', 1)[0]
            sums[key] = sums.get(key, 0.0) + float(value)
    return sums


def _reused_explanations(served: Served, task: str) -> float:
    """The service's `riskloop_explanations_reused_total` for `task`."""
    return _metric_by_label(served, "riskloop_explanations_reused_total", "task").get(task, 0.0)


@pytest.mark.parametrize("task", TASKS)
def test_an_entity_scored_again_reuses_its_explanation(served: Served, task: str) -> None:
    """Scored by id twice with the same model and features, the second answer's explanations
    come from the cache (counted at /metrics) and are the same numbers as the first's."""
    ids = materialized(served, task).sample(12, random_state=11)["entity_id"].astype(str).tolist()
    first = score(served, task, {"entity_ids": ids, "top_k": 4}).json()["results"]
    before = _reused_explanations(served, task)
    second = score(served, task, {"entity_ids": ids, "top_k": 4}).json()["results"]
    assert _reused_explanations(served, task) - before == len(ids)
    for a, b in zip(first, second, strict=True):
        assert (a["score"], a["base_value"], a["contributions"], a["reasons"]) == (
            b["score"],
            b["base_value"],
            b["contributions"],
            b["reasons"],
        )
    # the same rows sent as records are explained afresh (no cache there): the same numbers
    rows = materialized(served, task)
    frame = rows.set_index(rows["entity_id"].astype(str), drop=False)
    sent = score(served, task, {"records": as_records(task, frame.loc[ids]), "top_k": 4})
    for a, b in zip(second, sent.json()["results"], strict=True):
        assert (a["score"], a["contributions"]) == (b["score"], b["contributions"])


def test_a_records_district_stays_with_its_warning(served: Served) -> None:
    """A record may carry its unit's district (not a feature: the score is the same); the
    warning it raises keeps it, and so does the scored record (monitoring's units by
    district), each green one too; a record sent without one is recorded without one, an
    entity scored by id with the online store's. A malformed district is a 400 naming the
    field. (Ids of their own: a warning keeps the district it was raised with.)"""
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.store import WarningStore

    task = "wage-arrears"
    frame = materialized(served, task).head(200)
    plain = [
        {**record, "entity_id": f"D-{record['entity_id']}"} for record in as_records(task, frame)
    ]
    with_district = [
        {**record, "district": str(district)}
        for record, district in zip(plain, frame["district"], strict=True)
    ]
    answer = score(served, task, {"records": with_district, "explain": False})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    unchanged = score(served, task, {"records": plain, "explain": False}).json()["results"]
    assert [r["score"] for r in results] == [r["score"] for r in unchanged]
    warned = [
        (r["warning_id"], d["district"])
        for r, d in zip(results, with_district, strict=True)
        if r["warning_id"]
    ]
    assert warned, "the first 200 employers raised no warning"
    with served.client() as client:
        for warning_id, district in warned[:10]:
            shown = client.get(f"/v1/warnings/{warning_id}", headers=served.headers())
            assert shown.status_code == 200 and shown.json()["district"] == district
    by_id = score(served, task, {"entity_ids": frame["entity_id"].astype(str).tolist()[:20]})
    assert by_id.status_code == 200, by_id.text
    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        recorded = store.scored_records(task=task)
        expected = {
            store.pseudonymise(record["entity_id"]): record["district"] for record in with_district
        }
        sent_plain = {store.pseudonymise(record["entity_id"]) for record in plain}
        materialised = {
            store.pseudonymise(str(unit)): None if pd.isna(district) else str(district)
            for unit, district in zip(frame["entity_id"], frame["district"], strict=True)
        }
    # each unit was scored twice in this test, with and without its district, in that order
    mine = recorded[recorded["entity_hash"].isin(sent_plain)]
    assert len(mine) == 2 * len(plain)
    by_unit = mine.groupby("entity_hash", sort=False)
    first, second = by_unit.nth(0), by_unit.nth(1)
    assert dict(zip(first["entity_hash"], first["district"], strict=True)) == expected
    assert second["district"].isna().all()
    latest = recorded.drop_duplicates("entity_hash", keep="last").set_index("entity_hash")
    for unit_hash, district in list(materialised.items())[:20]:
        assert latest.loc[unit_hash, "district"] == district
    bad = score(served, task, {"records": [{"entity_id": "E1", "district": "<b>north</b>"}]})
    assert bad.status_code == 400 and "district" in bad.text
    # a personal number in a district's place is refused, never stored nor answered back (QA,
    # 2026-12-07: `id330102199001011234` was both): a phone, an identity card, a bank card, a
    # credit code's shape; an administrative division's 6-digit code is a district
    refused = (
        "id330102199001011234",
        "x13812345678",
        "d-138-1234-5678",
        "a6222021234567890123",
        "ab330522wnwuuwdqgx",
    )
    for number in refused:
        record = {**plain[0], "entity_id": "D-number", "district": number}
        answer = score(served, task, {"records": [record], "explain": False})
        assert answer.status_code == 400, (number, answer.text)
        assert "district" in answer.text and number not in answer.text
        assert "a phone or identity-card number is never a district" in answer.text or (
            "credit-code" in answer.text
        ), answer.text
    division = {**plain[0], "entity_id": "D-division", "district": "c330502"}
    assert score(served, task, {"records": [division], "explain": False}).status_code == 200
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        stored = store.scored_records(task=task)["district"].dropna().tolist()
    assert not set(refused) & set(stored)


def test_a_unit_whose_id_is_a_word_or_value_keeps_its_warning_and_features_as_scored(
    served: Served,
) -> None:
    """A scored record's features, reasons and actions are not searched for the unit's own id
    (it is kept as its pseudonym): before, the unit "v" was stored with every "v" of its
    reasons replaced (`{"[id:…]alue": …}`, its values lost), "0" with its zero counts made
    ids, "months" with its sentences cut ("in the last 12 [id:…]") and a unit named as its
    own sector with that sector replaced. Each warning reads back as the answer gave it, each
    scored record as it was sent."""
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.store import WarningStore

    task = "wage-arrears"
    records = warned_records(served, task, "word-id", 5)
    assert len(records) == 5
    sector = records[4]["sector"]
    assert isinstance(sector, str)
    raw_ids = ("v", "0", "months", "raises", sector)
    records = [
        {**record, "entity_id": raw_id} for record, raw_id in zip(records, raw_ids, strict=True)
    ]
    answers = score(served, task, {"records": records}).json()["results"]
    with served.client() as client:
        for answer in answers:
            assert answer["warning_id"], answer
            warning = client.get(
                f"/v1/warnings/{answer['warning_id']}", headers=served.headers("reviewer")
            ).json()
            shown = [(r["feature"], r["value"], r["contribution"]) for r in warning["reasons"]]
            sent = [(r["feature"], r["value"], r["contribution"]) for r in answer["reasons"]]
            assert shown[: len(sent)] == sent
            assert "[id:" not in json.dumps(warning["reasons"] + warning["actions"])
    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        recorded = store.scored_records(task=task)
        for record in records:
            row = recorded[recorded["entity_hash"] == store.pseudonymise(record["entity_id"])]
            kept = row.iloc[-1]
            for name, value in record.items():
                if name == "entity_id":
                    continue
                if value is None:
                    assert pd.isna(kept[name]), name
                else:
                    assert kept[name] == value, (record["entity_id"], name, kept[name], value)


def test_without_explanations_only_scores_and_level_actions(served: Served) -> None:
    task = "telecom-fraud"
    frame = materialized(served, task).head(5)
    results = score(served, task, {"records": as_records(task, frame), "explain": False}).json()[
        "results"
    ]
    assert all(r["reasons"] == [] and r["contributions"] is None for r in results)
    assert all(a["trigger"].startswith("level:") for r in results for a in r["actions"])


ENDPOINTS = [
    ("POST", "/v1/wage-arrears/score", "score"),
    ("GET", "/v1/warnings", "review"),
    ("GET", "/v1/warnings/W-none", "review"),
    ("POST", "/v1/warnings/W-none/feedback", "feedback"),
    ("POST", "/v1/admin/reload", "admin"),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_v1_endpoint_needs_a_key_with_its_scope(
    served: Served, method: str, path: str, scope: str
) -> None:
    body = {"records": [{"entity_id": "x"}]} if "score" in path else {"status": "dispatched"}
    with served.client() as client:
        for headers in (
            {},
            {"Authorization": "Bearer rk_deadbeef_" + "A" * 43},
            {"Authorization": "Basic x"},
        ):
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (headers, response.text)
            assert response.json()["error"]
        wrong = "scorer" if scope != "score" else "reviewer"
        response = client.request(method, path, json=body, headers=served.headers(wrong))
        assert response.status_code == 403 and scope in response.json()["error"]
        # two Authorization headers are refused, whichever of them is good
        good = served.headers("all")["Authorization"]
        for pair in ([good, "Basic x"], ["Basic x", good]):
            response = client.request(
                method, path, json=body, headers=[("Authorization", value) for value in pair]
            )
            assert response.status_code == 400, response.text
            assert response.json() == {"error": "send one Authorization header, got 2"}
    for open_path in ("/livez", "/readyz", "/metrics", "/docs.json"):
        assert httpx.get(served.url + open_path, verify=LOOPBACK_TLS).status_code == 200


def _records(n: int, **extra: Any) -> dict[str, Any]:
    return {"records": [{"entity_id": f"E{i}", **extra} for i in range(n)]}


BAD_INPUTS: list[tuple[str, Any, str]] = [
    ("wrong type", _records(1, si_arrears_months_3m=[1]), "si_arrears_months_3m"),
    ("string for number", _records(1, si_arrears_months_3m="3"), "si_arrears_months_3m"),
    ("float for int", _records(1, si_arrears_months_3m=2.5), "si_arrears_months_3m"),
    ("int for bool", _records(1, abnormal_listed=1), "abnormal_listed"),
    ("out of range", _records(1, si_shortfall_ratio_3m=7.0), "si_shortfall_ratio_3m"),
    ("negative count", _records(1, si_arrears_months_6m=-1), "si_arrears_months_6m"),
    ("unknown category", _records(1, sector="banking"), "sector"),
    ("unknown field", _records(1, shoe_size=42), "shoe_size"),
    ("unknown top-level", {**_records(1), "verbose": True}, "verbose"),
    ("empty list", {"records": []}, "records"),
    ("too many", _records(1001), "records"),
    ("no entity id", {"records": [{"si_arrears_months_3m": 1}]}, "entity_id"),
    ("empty entity id", {"records": [{"entity_id": ""}]}, "entity_id"),
    ("both sources", {**_records(1), "entity_ids": ["a"]}, "entity_ids"),
    ("neither source", {"explain": True}, "entity_ids"),
    ("top_k too big", {**_records(1), "top_k": 21}, "top_k"),
    ("unknown lang", {**_records(1), "lang": "fr"}, "lang"),
    ("not an object", [1, 2], "object"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_INPUTS, ids=[c for c, _, _ in BAD_INPUTS])
def test_bad_input_is_a_4xx_naming_the_field(
    served: Served, case: str, body: Any, field: str
) -> None:
    response = score(served, "wage-arrears", body)
    assert 400 <= response.status_code < 500, response.text
    assert field in response.text
    assert "Traceback" not in response.text


RAW_BAD_BODIES = [
    ('{"records":[{"entity_id":"a","si_shortfall_ratio_3m":NaN}]}', "si_shortfall_ratio_3m"),
    ('{"records":[{"entity_id":"a","si_shortfall_ratio_3m":Infinity}]}', "si_shortfall_ratio_3m"),
    ('{"records":[{"entity_id":"a","si_shortfall_ratio_3m":1e999}]}', "si_shortfall_ratio_3m"),
    ('{"records":[{"entity_id":"a"}', "JSON"),
    ("null", "object"),
    ("", "entity_ids"),
]


@pytest.mark.parametrize(("raw", "field"), RAW_BAD_BODIES)
def test_non_finite_numbers_and_broken_json_are_refused(
    served: Served, raw: str, field: str
) -> None:
    with served.client() as client:
        response = client.post(
            "/v1/wage-arrears/score",
            content=raw.encode(),
            headers={**served.headers(), "Content-Type": "application/json"},
        )
    assert response.status_code == 400 and field in response.text


NON_FINITE_BODIES = [
    ("/v1/warnings/W-none/feedback", '{"status":"open","expected_version":NaN}', "every"),
    ("/v1/warnings/W-none/feedback", '{"status":"open","note":"x","weight":Infinity}', "every"),
    ("/v1/warnings/W-none/reveal", '{"purpose":-Infinity}', "every"),
    ("/v1/session", '{"name":NaN,"password":"a long enough password"}', None),
]


@pytest.mark.parametrize(("path", "raw", "key"), NON_FINITE_BODIES)
def test_non_finite_numbers_in_any_body_are_a_422_naming_the_field(
    served: Served, path: str, raw: str, key: str | None
) -> None:
    """Python's JSON reader takes NaN and Infinity: the refusal must still be a JSON 4xx (it
    was a 500, the error answer echoing a value JSON cannot carry) that names the field and
    echoes no value sent (a password, an identifier)."""
    headers = {"Content-Type": "application/json", **(served.headers(key) if key else {})}
    with served.client() as client:
        response = client.post(path, content=raw.encode(), headers=headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] and body["detail"]
    fields = {str(error["loc"][-1]) for error in body["detail"]}
    assert fields & {"expected_version", "weight", "purpose", "name"}, body
    assert all("input" not in error for error in body["detail"])
    assert "NaN" not in response.text and "Infinity" not in response.text
    assert served.healthy()


def test_a_refused_requests_values_stay_out_of_the_server_log(served: Served) -> None:
    """BentoML logs a refused score request's validation error, and pydantic's message quotes
    each offending value: an identity-card number sent with a stray space, or a phone number in
    the wrong field, reached the log in clear. The log names the field and the error only."""
    id_card, phone = "330102199001017788", "13912348765"
    refused = [
        {"records": [{"entity_id": f"{id_card} "}]},
        {"records": [{"entity_id": "E1", "sector": phone}]},
        {"entity_ids": [id_card], "records": [{"entity_id": phone}]},
    ]
    for body in refused:
        response = score(served, "wage-arrears", body)
        assert response.status_code == 400, response.text
    deadline = time.monotonic() + 5
    while "records.0.sector" not in served.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = served.log.read_text()
    assert "records.0.entity_id" in log and "records.0.sector" in log
    assert id_card not in log and phone not in log


def _request_counts(served: Served) -> dict[str, float]:
    """`bentoml_service_request_total` by its `endpoint` label."""
    return _metric_by_label(served, "bentoml_service_request_total", "endpoint")


def test_request_metrics_are_labelled_by_route_never_by_the_path_sent(served: Served) -> None:
    """BentoML labelled its request counters by the raw path, before the guard runs: every
    made-up path grew the open `/metrics` (and the worker's memory) by a series, and whatever a
    path held (an identity-card number sent in place of a warning id) was published there."""
    id_card = "330102199001017788"
    before = _request_counts(served)
    sent = [
        f"/v1/warnings/{id_card}",
        f"/v1/warnings/{id_card}/reveal",
        f"/console/cases/{id_card}",
        f"/{id_card}",
        f"/static_content/{id_card}.js",
        *(f"/made-up-{i}" for i in range(20)),
    ]
    with served.client() as client:
        for path in sent:
            assert client.get(path, headers=served.headers()).status_code in (303, 404, 405)
    assert score(served, "wage-arrears", {"records": [{"entity_id": id_card}]}).status_code == 200
    after = _request_counts(served)
    text = httpx.get(f"{served.url}/metrics", timeout=10, verify=LOOPBACK_TLS).text
    assert id_card not in text and "made-up" not in text
    grown = {label: after[label] - before.get(label, 0.0) for label in after}
    assert grown["unmatched"] >= 21  # the made-up paths and the bare id: one label
    assert grown["/v1/warnings/{warning_id}"] >= 1
    assert grown["/v1/warnings/{warning_id}/reveal"] >= 1
    assert grown["/console/cases/{warning_id}"] >= 1
    assert grown["/static_content/{path}"] >= 1
    assert grown["/v1/wage-arrears/score"] >= 1
    assert set(after) - set(before) <= {
        "unmatched",
        "/v1/warnings/{warning_id}",
        "/v1/warnings/{warning_id}/reveal",
        "/console/cases/{warning_id}",
        "/static_content/{path}",
        "/v1/wage-arrears/score",
    }


def test_routing_size_and_content_type_guards(served: Served) -> None:
    headers = served.headers()
    with served.client() as client:
        unknown = client.post("/v1/fare-dodging/score", json=_records(1), headers=headers)
        assert unknown.status_code == 404 and "fare-dodging" in unknown.json()["error"]
        assert client.get("/v1/wage-arrears/score", headers=headers).status_code == 405
        assert client.get("/v1/nothing-here", headers=headers).status_code == 404
        huge = b'{"records":[' + b" " * 3_000_000 + b"]}"
        declared = client.post(
            "/v1/wage-arrears/score",
            content=huge,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert declared.status_code == 413

        def chunks() -> Any:
            for _ in range(40):
                yield b" " * 100_000

        streamed = client.post(
            "/v1/wage-arrears/score",
            content=chunks(),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert streamed.status_code == 413
        form = client.post(
            "/v1/wage-arrears/score",
            content=b"records=1",
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 415
    assert served.healthy()
    ok = score(served, "wage-arrears", {"records": [{"entity_id": "still-fine"}]})
    assert ok.status_code == 200


def test_models_lists_every_task(served: Served, trained: dict[str, int]) -> None:
    with served.client() as client:
        body = client.get("/v1/models", headers=served.headers("scorer")).json()
    by_task = {m["task"]: m for m in body["models"]}
    assert set(by_task) == set(TASKS)
    for task in TASKS:
        assert by_task[task]["alias"] == "champion"
        assert set(by_task[task]["thresholds"]) == {"red", "orange", "yellow"}
        assert "roc_auc" in by_task[task]["metrics"]
        # how the version became champion, from its registry tags (v1: the task's first; a
        # later version other tests set the alias to by hand carries no promotion tag)
        if by_task[task]["version"] == "1":
            assert by_task[task]["promotion"] == "first", by_task[task]
        assert by_task[task]["promotion"] in ("first", "rule", "forced", None)
    assert any(model["version"] == "1" for model in by_task.values())


def test_warnings_are_raised_listed_and_walked_through_dispositions(served: Served) -> None:
    task = "dispute-escalation"
    frame = materialized(served, task)
    results = score(served, task, {"records": as_records(task, frame)}).json()["results"]
    warned = [r for r in results if r["risk_level"] != "green"]
    assert warned and all(r["warning_id"] for r in warned)
    assert all(r["warning_id"] is None for r in results if r["risk_level"] == "green")
    target = warned[0]
    with served.client() as client:
        listed = client.get(
            "/v1/warnings",
            params={"entity_id": target["entity_id"], "task": task},
            headers=served.headers("reviewer"),
        ).json()
        assert [item["id"] for item in listed["items"]] == [target["warning_id"]]
        assert target["entity_id"] not in json.dumps(listed)
        path = f"/v1/warnings/{target['warning_id']}"
        feedback = served.headers("caseworker")
        bad = client.post(f"{path}/feedback", json={"status": "closed"}, headers=feedback)
        assert bad.status_code == 409 and bad.json()["error"]
        steps = [
            {"status": "dispatched", "department": "Township comprehensive governance centre"},
            {"status": "in_progress", "note": "visited both parties"},
            {"status": "closed", "outcome": "prevented"},
        ]
        for step in steps:
            response = client.post(f"{path}/feedback", json=step, headers=feedback)
            assert response.status_code == 200, response.text
        for lang, word in (("en", "Warning"), ("zh", "预警")):
            page = client.get(
                f"{path}/explanation", params={"lang": lang}, headers=served.headers("reviewer")
            )
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert word in page.text and target["entity_id"] not in page.text
        warning = client.get(path, headers=served.headers("reviewer")).json()
        assert warning["status"] == "closed" and warning["outcome"] == "prevented"
        assert [h["event"] for h in warning["history"]][-3:] == ["disposition"] * 3
        assert (
            client.get("/v1/warnings/W-missing", headers=served.headers("reviewer")).status_code
            == 404
        )
        gone = client.post("/v1/warnings/W-missing/feedback", json=steps[0], headers=feedback)
        assert gone.status_code == 404
        page = client.get(
            "/v1/warnings", params={"page_size": 501}, headers=served.headers("reviewer")
        )
        assert page.status_code == 422


def test_a_client_walks_the_warnings_with_a_cursor_while_new_ones_arrive(served: Served) -> None:
    """`cursor=start`, then each `next_cursor`: every warning listed when the walk began is
    seen once although a score request raises more between two pages."""
    task = "telecom-fraud"
    rows = as_records(task, materialized(served, task))
    assert score(served, task, {"records": rows[:150]}).status_code == 200
    headers = served.headers("reviewer")
    with served.client() as client:
        listed = client.get(
            "/v1/warnings", params={"task": task, "page_size": 500}, headers=headers
        )
        # a page by number keeps the shape it always had: no cursor in it
        assert listed.status_code == 200
        assert set(listed.json()) == {"items", "total", "page", "page_size"}
        before = [item["id"] for item in listed.json()["items"]]
        assert 6 < len(before) == listed.json()["total"] < 500
        seen: list[str] = []
        cursor: str | None = "start"
        while cursor is not None:
            page = client.get(
                "/v1/warnings",
                params={"task": task, "page_size": 3, "cursor": cursor},
                headers=headers,
            )
            assert page.status_code == 200, page.text
            seen += [item["id"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            assert len(seen) <= len(before), "the walk repeats itself"
            if len(seen) == 3:  # meanwhile, new warnings (newer than every one listed)
                assert score(served, task, {"records": rows[150:400]}).status_code == 200
        assert sorted(seen) == sorted(before)
        grown = client.get("/v1/warnings", params={"task": task}, headers=headers).json()
        assert grown["total"] > len(before)
        for cursor in ("nonsense", "a b", "12.W-1 "):
            refused = client.get("/v1/warnings", params={"cursor": cursor}, headers=headers)
            assert refused.status_code == 422, (cursor, refused.text)
            assert "cursor" in refused.json()["error"]


def test_scores_are_calibrated_probabilities(served: Served) -> None:
    task = "telecom-fraud"
    results = score(
        served, task, {"records": as_records(task, materialized(served, task).head(200))}
    ).json()["results"]
    scores = np.array([r["score"] for r in results])
    assert ((scores >= 0) & (scores <= 1)).all()


def test_every_score_request_is_audited_with_the_key_name(served: Served) -> None:
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.store import WarningStore

    task = "wage-arrears"
    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        before = max((row["id"] for row in store.audit_rows()), default=0)
        response = score(served, task, {"records": [{"entity_id": "AUDIT-ME"}]}, key="scorer")
        assert response.status_code == 200
        rows = store.audit_rows(since_id=before)
    version = response.json()["results"][0]["model"]["version"]
    assert [(r["action"], r["actor"], r["task"], r["model_version"]) for r in rows][:1] == [
        ("score_request", "key:scorer", task, version)
    ]
    assert "AUDIT-ME" not in str(rows)


def test_a_request_shared_with_a_side_thread_answers_like_one_in_process_call(
    served: Served,
) -> None:
    """From PIPELINE_MIN_ROWS records the service shares the work with a side thread: the
    same answers, in request order, as one in-process call on the whole batch, all stored."""
    from models.registry import load_registered
    from models.scorer import score_frame
    from serving.encoding import PIPELINE_MIN_ROWS

    task = "wage-arrears"
    rows = materialized(served, task)
    n_rows = 4 * PIPELINE_MIN_ROWS + 7
    frame = pd.concat([rows] * (n_rows // len(rows) + 1), ignore_index=True).head(n_rows)
    frame = frame.iloc[::-1].reset_index(drop=True)  # not the online store's order
    response = score(served, task, {"records": as_records(task, frame), "lang": "zh"})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    model, _ = load_registered(task, "champion")
    expected = score_frame(model, frame, explain=True, top_k=5, lang="zh")
    assert len(results) == n_rows
    for got, want in zip(results, expected, strict=True):
        assert got["entity_id"] == want.entity_id
        assert got["score"] == pytest.approx(want.score, abs=1e-12)
        assert got["risk_level"] == want.risk_level
        assert [(r["feature"], r["sentence"]) for r in got["reasons"]] == [
            (r.feature, r.sentence) for r in want.reasons
        ]
        assert [a["action"] for a in got["actions"]] == [a.action for a in want.actions]
        assert (got["warning_id"] is not None) == (want.risk_level in WARNING_LEVELS)
    with served.client() as client:
        for warning_id in {got["warning_id"] for got in results} - {None}:
            warning = client.get(f"/v1/warnings/{warning_id}", headers=served.headers())
            assert warning.status_code == 200, warning.text


def test_concurrent_single_records_are_each_committed_before_their_answer(
    served: Served,
) -> None:
    """Small requests are answered on the event loop and their writes grouped by the store's
    writer thread: under 12 concurrent clients every answer's warning is already readable
    when the answer arrives, scores match the in-process scorer, and each request is audited."""
    from concurrent.futures import ThreadPoolExecutor

    from models.registry import load_registered
    from models.scorer import score_frame

    task = "dispute-escalation"
    rows = materialized(served, task).head(24).reset_index(drop=True)
    records = as_records(task, rows)
    model, _ = load_registered(task, "champion")
    expected = {r.entity_id: r for r in score_frame(model, rows, explain=True, top_k=5)}
    before = _audited_requests(served)

    def client(offset: int) -> list[tuple[str, float, str | None, int]]:
        seen = []
        with served.client() as http:
            for record in records[offset::12]:
                answer = http.post(
                    f"/v1/{task}/score", json={"records": [record]}, headers=served.headers()
                )
                assert answer.status_code == 200, answer.text
                result = answer.json()["results"][0]
                status = None
                if result["warning_id"] is not None:
                    warning = http.get(
                        f"/v1/warnings/{result['warning_id']}", headers=served.headers()
                    )
                    status = warning.status_code
                seen.append((result["entity_id"], result["score"], result["warning_id"], status))
        return seen

    with ThreadPoolExecutor(12) as pool:
        answers = [item for batch in pool.map(client, range(12)) for item in batch]
    assert sorted(a[0] for a in answers) == sorted(r["entity_id"] for r in records)
    for entity_id, got, warning_id, status in answers:
        want = expected[entity_id]
        assert got == pytest.approx(want.score, abs=1e-12)
        assert (warning_id is not None) == (want.risk_level in WARNING_LEVELS)
        assert status in (None, 200)
    assert _audited_requests(served) - before == len(records)


def _audited_requests(served: Served) -> int:
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.store import WarningStore

    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        return sum(row["action"] == "score_request" for row in store.audit_rows())


def test_an_aborted_upload_is_not_scored_or_recorded(served: Served) -> None:
    """A client that closes the connection before its declared body is complete sent no
    request: the part that arrived (here a whole, valid body of warned records) is neither
    scored nor stored, and the log does not call it a bad body."""
    import socket
    import time
    from urllib.parse import urlsplit

    task = "dispute-escalation"
    records = warned_records(served, task, "aborted", 3)
    assert records
    body = json.dumps({"records": records}).encode()
    address = urlsplit(served.url)
    logged = served.log.stat().st_size
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(
            f"POST /v1/{task}/score HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: {served.headers()['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body) + 100}\r\n\r\n".encode()
            + body
        )
        time.sleep(0.5)
    time.sleep(1.0)  # the server notices the disconnect
    with served.client() as client:
        for record in records:
            listed = client.get(
                "/v1/warnings",
                params={"entity_id": record["entity_id"], "task": task},
                headers=served.headers("reviewer"),
            ).json()
            assert listed["items"] == [], record["entity_id"]
    log = served.log.read_bytes()[logged:].decode(errors="replace")
    assert "json_invalid" not in log and "refused a score body" not in log
    # the same body sent whole is scored and warned
    sent = score(served, task, {"records": records}).json()["results"]
    assert [r["risk_level"] != "green" for r in sent] == [True] * len(records)


def test_records_scored_with_and_without_reasons_keep_their_warnings_as_they_are(
    served: Served,
) -> None:
    """The same features scored with `explain` false, then true, then false again: the same
    scores to the last bit, so the warnings the first request raised are not re-scored (no
    history event, no new version to turn a case worker's open form into a 409)."""
    task = "wage-arrears"
    records = warned_records(served, task, "explained-or-not", 12)
    assert len(records) >= 5
    answers = [
        score(served, task, {"records": records, "explain": explain}).json()["results"]
        for explain in (False, True, False)
    ]
    for first, *again in zip(*answers, strict=True):
        for other in again:
            assert (other["score"], other["raw_margin"], other["warning_id"]) == (
                first["score"],
                first["raw_margin"],
                first["warning_id"],
            )
    with served.client() as client:
        for result in answers[0]:
            warning = client.get(
                f"/v1/warnings/{result['warning_id']}", headers=served.headers("reviewer")
            ).json()
            assert warning["version"] == 1
            assert [event["event"] for event in warning["history"]] == ["raised"]


@pytest.mark.parametrize("size", [2, 80], ids=["small-request", "large-request"])
def test_a_unit_sent_twice_in_one_request_is_recorded_in_order(served: Served, size: int) -> None:
    """Records are recorded as if sent one request after another (README, the score API):
    both of a unit's records are answered, with the same warning id; the second re-scores the
    warning the first raised, its history keeps both scores and the warning holds the later
    one. A large request (a thread and the store's writer, from 64 records) does the same as a
    small one (the event loop)."""
    task = "wage-arrears"
    chosen = warned_records(served, task, f"twice-{size}", 8)
    scores = [r["score"] for r in score(served, task, {"records": chosen}).json()["results"]]
    other = next(i for i, value in enumerate(scores) if value != scores[0])
    first, second = chosen[0], chosen[other]
    unit = f"twice-{size}-unit"
    fillers = [
        {**chosen[i % len(chosen)], "entity_id": f"twice-{size}-other-{i}"} for i in range(size - 2)
    ]
    records = [{**first, "entity_id": unit}, *fillers, {**second, "entity_id": unit}]
    results = score(served, task, {"records": records}).json()["results"]
    assert len(results) == size
    mine = [result for result in results if result["entity_id"] == unit]
    assert len(mine) == 2 and mine[0]["score"] != mine[1]["score"]
    assert mine[0]["warning_id"] == mine[1]["warning_id"] is not None
    with served.client() as client:
        warning = client.get(
            f"/v1/warnings/{mine[0]['warning_id']}", headers=served.headers("reviewer")
        ).json()
    assert [event["event"] for event in warning["history"]] == ["raised", "score_update"]
    assert [event["score"] for event in warning["history"]] == [r["score"] for r in mine]
    assert warning["score"] == mine[1]["score"] and warning["version"] == 2


@pytest.mark.parametrize(("explain", "top_k"), [(False, 5), (True, 1)])
def test_a_warning_keeps_its_five_reasons_whatever_the_request_asked(
    served: Served, explain: bool, top_k: int
) -> None:
    """A probabilities-only batch (`explain` false) or one asking for a single reason raises
    warnings a case worker reads: each keeps its five reasons (TreeSHAP on the warned rows)
    and the actions they trigger, the same as an explained request with the default would
    store; the answer itself is as asked."""
    from models.scorer import ACTION_REASONS

    task = "wage-arrears"
    records = warned_records(served, task, f"reasons-{explain}", 6)
    body = {"records": records, "explain": explain, "top_k": top_k}
    answers = score(served, task, body).json()["results"]
    reference = score(
        served, task, {"records": [{**r, "entity_id": f"{r['entity_id']}-ref"} for r in records]}
    ).json()["results"]
    with served.client() as client:
        for answer, expected in zip(answers, reference, strict=True):
            assert len(answer["reasons"]) == (top_k if explain else 0)
            warning = client.get(
                f"/v1/warnings/{answer['warning_id']}", headers=served.headers("reviewer")
            ).json()
            stored = [reason["feature"] for reason in warning["reasons"]]
            assert len(stored) == ACTION_REASONS
            assert stored == [reason["feature"] for reason in expected["reasons"]]
            assert warning["actions"] == expected["actions"]


def stops_at_once_after_an_aborted_upload(
    process: subprocess.Popen[bytes], port: int, authorization: str
) -> None:
    """Left unanswered, an aborted upload held the server's shutdown for its 120 s request
    timeout (SIGTERM closed the port at once, the process exited two minutes later): the
    guard answers it, to no one, and the service stops as quickly as after a normal request.

    Checked on a service a test started for itself, as it ends
    (tests/serving/test_store_lock.py's, on the session's keys), not on one of its own: a
    service start is seconds of the suite."""
    import signal
    import socket

    assert process.poll() is None
    body = json.dumps({"records": [{"entity_id": "aborted-then-stopped"}]}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(
            f"POST /v1/wage-arrears/score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: {authorization}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body) + 100}\r\n\r\n".encode()
            + body
        )
        time.sleep(0.5)
    time.sleep(1.0)
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the service was still stopping 30 s after SIGTERM")
    assert time.monotonic() - started < 30
