"""The whole closed loop on the small city, through the CLI and a real service over HTTP.

train -> serve -> score a population -> warnings -> dispositions (every path, and a refused
one) -> dataset rebuilt with feedback -> retrain -> promote -> reload -> the audit log tells
the story in order; then `riskloop monitor` on the champion's logged reference, quiet on the
city's own population and alarmed by a shifted one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.secret_keys import load_secrets
from models.settings import get_settings
from models.spec import get_spec
from serving.online_store import latest_rows, online_path
from serving.store import WarningStore
from tests.raw_ids import assert_no_raw_identifiers
from training.cli import app
from training.commands.service import build_scoring_set

TASKS = ("wage-arrears", "telecom-fraud", "dispute-escalation")
LOOP_TASK = "wage-arrears"
ROUNDS = "25"
# The injected shift moves the planted `construction_sector` driver: every employer a builder.
SHIFT = {"sector": "construction", "is_construction": True}
KEYS = {
    "scorer": "score",
    "reviewer": "review",
    "caseworker": "feedback",
    "operator": "admin",
}
PROMOTER = "data-scientist"
# (steps, closing outcome): every disposition path of the state machine
PATHS: dict[str, list[dict[str, str]]] = {
    "confirmed": [
        {"status": "dispatched", "department": "labour_inspection"},
        {"status": "in_progress"},
        {"status": "closed", "outcome": "confirmed", "note": "arrears found on inspection"},
    ],
    "prevented": [
        {"status": "dispatched", "department": "housing_construction"},
        {"status": "in_progress"},
        {"status": "closed", "outcome": "prevented", "note": "owner paid the instalment"},
    ],
    "false_alarm": [
        {"status": "dispatched", "department": "labour_inspection"},
        {"status": "in_progress"},
        {"status": "closed", "outcome": "false_alarm"},
    ],
    "unreachable": [{"status": "closed", "outcome": "unreachable"}],
}


def _cli(runner: CliRunner, *args: str, expect: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == expect, f"riskloop {' '.join(args)}:\n{result.output}"
    return result.output


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Scoring-set rows as the API's strict feature records (missing values as null)."""
    spec = get_spec(LOOP_TASK)
    cast: dict[str, Callable[[Any], Any]] = {"category": str, "bool": bool, "int": int}
    records = []
    for row in frame.to_dict(orient="records"):
        record: dict[str, Any] = {"entity_id": str(row["entity_id"])}
        for feature in spec.features:
            value = row[feature.name]
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            record[feature.name] = None if missing else cast.get(feature.dtype, float)(value)
        records.append(record)
    return records


def _collapse(actions: list[str]) -> list[str]:
    """Consecutive repeats folded: the story's chapters."""
    return [a for i, a in enumerate(actions) if i == 0 or actions[i - 1] != a]


def test_closed_loop_end_to_end(
    isolated_env: Path,
    small_city: Path,
    start_service: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKLOOP_ACTOR", PROMOTER)
    runner = CliRunner()

    # -- train every task (the service serves all three) and materialize the online features
    for task in TASKS:
        _cli(runner, "train", "--task", task, "--raw", str(small_city), "--max-rounds", ROUNDS)
    _cli(runner, "materialize", "--task", LOOP_TASK, "--raw", str(small_city))
    keys = {
        name: _cli(runner, "keys", "create", name, "--scopes", scope).strip()
        for name, scope in KEYS.items()
    }

    service = start_service()
    scorer, reviewer = service.client(keys["scorer"]), service.client(keys["reviewer"])
    caseworker, operator = service.client(keys["caseworker"]), service.client(keys["operator"])

    # -- score the population; warnings appear for yellow and above
    # the online file is keyed by pseudonym: the raw ids come from the city, in the same order
    assert online_path("wage_arrears", get_settings().data_dir).exists()
    population = latest_rows("wage_arrears", build_scoring_set(LOOP_TASK, small_city))
    entity_ids = population["entity_id"].astype(str).tolist()
    scored = scorer.post(f"/v1/{LOOP_TASK}/score", json={"entity_ids": entity_ids, "top_k": 3})
    assert scored.status_code == 200, scored.text
    results = scored.json()["results"]
    assert [r["entity_id"] for r in results] == entity_ids
    assert {r["model"]["version"] for r in results} == {"1"}
    warned = [r for r in results if r["risk_level"] != "green"]
    assert all(r["warning_id"] for r in warned) and len(warned) >= len(PATHS) + 1
    listed = reviewer.get("/v1/warnings", params={"task": LOOP_TASK, "page_size": 500}).json()
    assert listed["total"] == len(warned)
    assert {w["id"] for w in listed["items"]} <= {r["warning_id"] for r in warned}
    assert all(w["status"] == "open" and w["as_of"] == "2026-01-01" for w in listed["items"])

    # -- walk warnings through every disposition path, and try steps the machine refuses
    chosen = dict(zip(PATHS, warned, strict=False))
    for outcome, steps in PATHS.items():
        for step in steps:
            answer = caseworker.post(
                f"/v1/warnings/{chosen[outcome]['warning_id']}/feedback", json=step
            )
            assert answer.status_code == 200, answer.text
    untouched = warned[len(PATHS)]["warning_id"]
    refused = caseworker.post(
        f"/v1/warnings/{untouched}/feedback", json={"status": "closed", "outcome": "confirmed"}
    )
    assert refused.status_code == 409 and refused.json()["error"]
    reopened = caseworker.post(
        f"/v1/warnings/{chosen['confirmed']['warning_id']}/feedback", json={"status": "in_progress"}
    )
    assert reopened.status_code == 409
    history = reviewer.get(f"/v1/warnings/{chosen['prevented']['warning_id']}").json()
    assert history["status"] == "closed" and history["outcome"] == "prevented"
    assert [(e["event"], e["actor"]) for e in history["history"]] == [
        ("raised", "key:scorer"),
        *[("disposition", "key:caseworker")] * 3,
    ]
    assert [e.get("to") for e in history["history"][1:]] == ["dispatched", "in_progress", "closed"]

    # -- monitor against the champion's logged reference: an unshifted population is quiet.
    quiet = runner.invoke(app, ["monitor", "--task", LOOP_TASK, "--out", "quiet.json"])
    quiet_report = json.loads(Path("quiet.json").read_text())
    assert quiet.exit_code == 0, (quiet.output, quiet_report["drifted"])
    assert quiet_report["reference"]["source"].endswith("reference/dataset.parquet")
    assert quiet_report["reference"]["model_version"] == "1"
    assert quiet_report["current"]["rows"] == len(entity_ids)
    assert all(quiet_report["psi"]["features"][name] < 0.1 for name in SHIFT)
    assert quiet_report["psi"]["score"] < 0.25

    # -- rebuild the dataset with the outcomes; unreachable says nothing
    dataset = isolated_env / "wage_arrears_feedback.parquet"
    _cli(
        runner,
        "build-dataset",
        "--task",
        LOOP_TASK,
        "--raw",
        str(small_city),
        "--out",
        str(dataset),
        "--with-feedback",
    )
    rebuilt = pd.read_parquet(dataset)
    sidecar = json.loads(dataset.with_suffix(".json").read_text())["feedback"]
    assert sidecar == {
        "used": True,
        "closed_warnings": 3,
        "labels": 3,
        "matched": 0,
        "changed": 0,
        "added": 3,
        "outcomes": {"confirmed": 1, "false_alarm": 1, "prevented": 1},
    }
    from_feedback = rebuilt[rebuilt["audit_feedback_outcome"] != ""]
    assert dict(zip(from_feedback["entity_id"], from_feedback["label"], strict=True)) == {
        chosen["confirmed"]["entity_id"]: 1,
        chosen["prevented"]["entity_id"]: 1,
        chosen["false_alarm"]["entity_id"]: 0,
    }
    assert set(from_feedback["as_of"]) == {pd.Timestamp("2026-01-01")}
    assert chosen["unreachable"]["entity_id"] not in set(from_feedback["entity_id"])

    # -- retrain on it (challenger), promote, reload: the service answers with the new version
    # (a few more rounds: a retrain identical to the champion would be `unchanged`, not promoted)
    _cli(runner, "train", "--task", LOOP_TASK, "--dataset", str(dataset), "--max-rounds", "30")
    import mlflow

    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.`riskloop.kind` = 'training' and tags.`riskloop.task` = '{LOOP_TASK}'",
        order_by=["start_time ASC"],
    )
    # the three outcomes are of this month's warnings, after the test slice (measured on the
    # raw tables' labels): none reaches the fit or the calibration until newer tables age it
    assert runs["tags.riskloop.feedback_used"].tolist() == ["false", "false"]
    assert runs["tags.riskloop.feedback_labels"].tolist() == ["0", "0"]
    promoted = _cli(runner, "promote", "--task", LOOP_TASK)
    assert "champion v1 -> v2" in promoted
    reloaded = operator.post("/v1/admin/reload")
    assert reloaded.status_code == 200, reloaded.text
    by_task = {r["task"]: r for r in reloaded.json()["results"]}
    assert by_task[LOOP_TASK]["status"] == "reloaded" and by_task[LOOP_TASK]["version"] == "2"
    assert {by_task[t]["status"] for t in TASKS if t != LOOP_TASK} == {"unchanged"}
    rescored = scorer.post(f"/v1/{LOOP_TASK}/score", json={"entity_ids": entity_ids[:1]})
    assert rescored.json()["results"][0]["model"]["version"] == "2"
    # a warning v1 scored is explained by v1, loaded from the registry, not drawn from v2's base
    older = next(
        w["id"]
        for w in (reviewer.get(f"/v1/warnings/{r['warning_id']}").json() for r in warned)
        if w["model_version"] == "1"
    )
    page = reviewer.get(f"/v1/warnings/{older}/explanation", params={"lang": "en"}).text
    assert "other features" in page and "was scored by version" not in page

    # -- the audit log tells the story in order, under key names only
    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        audit = store.audit_rows()
    # reviewers' looks (lists and reads) are audited too; the story is what changed
    looks = {"warning_list", "warning_read", "warning_page"}
    assert {row["actor"] for row in audit if row["action"] in looks} == {"key:reviewer"}
    audit = [row for row in audit if row["action"] not in looks]
    # first each task's first champion, promoted by training it (by the CLI runner)
    firsts = [row for row in audit[: len(TASKS)] if row["action"] == "model_promotion"]
    assert [(row["task"], row["model_version"]) for row in firsts] == [(t, "1") for t in TASKS]
    assert {(row["actor"], row["detail"]["decision"]) for row in firsts} == {
        (f"cli:{PROMOTER}", "first")
    }
    audit = audit[len(TASKS) :]
    # then the keys, each created by the CLI (named, never their secrets)
    created = [row for row in audit if row["action"] == "api_key_created"]
    assert [row["detail"]["key"] for row in created] == list(KEYS)
    assert {row["actor"] for row in created} == {f"cli:{PROMOTER}"}
    assert audit[: len(KEYS)] == created
    assert not any(secret.split("_", 2)[2] in str(created) for secret in keys.values())
    audit = audit[len(KEYS) :]
    actions = [row["action"] for row in audit]
    story = _collapse(actions)
    assert story[:5] == [
        "score_request",
        "warning_raised",
        "disposition",
        "model_promotion",
        "model_reload",
    ]
    assert story[5] == "score_request" and set(story[6:]) <= {"warning_updated", "warning_raised"}
    assert actions.count("warning_raised") >= len(warned)
    assert actions.count("disposition") == sum(len(steps) for steps in PATHS.values())
    by_action: dict[str, set[str]] = {}
    for row in audit:
        by_action.setdefault(row["action"], set()).add(row["actor"])
    assert by_action["score_request"] == {"key:scorer"}
    assert by_action["disposition"] == {"key:caseworker"}
    assert by_action["model_promotion"] == {f"cli:{PROMOTER}"}
    assert by_action["model_reload"] == {"key:operator"}
    promotion = next(row for row in audit if row["action"] == "model_promotion")
    assert promotion["task"] == LOOP_TASK and promotion["model_version"] == "2"
    assert promotion["detail"]["decision"] == "promoted"
    versions = [row["model_version"] for row in audit if row["action"] == "score_request"]
    assert versions == ["1", "2"]
    dumped = json.dumps(audit)
    assert not any(key in dumped for key in keys.values())
    assert not any(entity in dumped for entity in entity_ids)

    # -- an injected shift: the same employers, all in construction
    shifted = population.assign(**SHIFT)
    answer = scorer.post(f"/v1/{LOOP_TASK}/score", json={"records": _records(shifted)})
    assert answer.status_code == 200, answer.text
    alarmed = runner.invoke(app, ["monitor", "--task", LOOP_TASK, "--out", "shifted.json"])
    assert alarmed.exit_code == 3, alarmed.output
    shifted_report = json.loads(Path("shifted.json").read_text())
    assert set(SHIFT) <= set(shifted_report["drifted"])
    assert shifted_report["reference"]["model_version"] == "2"

    # -- no raw identifier at rest: every byte riskloop wrote, after a report too
    _cli(runner, "report", "--task", LOOP_TASK, "--raw", str(small_city))
    # v2 learned from the outcomes too: its test slice is rebuilt with them, the same data
    report = (isolated_env / "reports" / f"{LOOP_TASK}-v2.html").read_text("utf-8")
    assert "the data changed since training" not in report
    exports = {dataset, dataset.with_suffix(".json")}  # the dataset the user asked for by --out
    assert_no_raw_identifiers(isolated_env, small_city, exports)
