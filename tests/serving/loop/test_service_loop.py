"""The loop inside a real service: deadlines seen the same way by the API and the CLI under a
frozen clock, and webhooks delivered by the service's own thread surviving a SIGKILL."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import time_machine
from typer.testing import CliRunner

from models.settings import get_settings
from serving.store import WarningStore
from serving.store.outbox import Outbox
from tests.processes import LOOPBACK_TLS, free_port, kill_now, stop_process_group
from tests.serving.conftest import start_service
from tests.serving.loop.conftest import LoopEnv, LoopService
from tests.serving.loop.receiver import Receiver
from training.cli import app

DISPUTES = "dispute-escalation"
FRAUD = "telecom-fraud"


def _cli(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result.stdout


def _store() -> WarningStore:
    return WarningStore.from_settings(get_settings())


def _raise_red(store: WarningStore, entity: str) -> str:
    (warning_id,) = store.record_scores(
        actor="key:test",
        task=DISPUTES,
        model_name="m",
        model_version="1",
        results=[
            {
                "entity_id": entity,
                "score": 0.95,
                "risk_level": "red",
                "reasons": [],
                "actions": [],
                "features": {},
            }
        ],
    )
    assert warning_id is not None
    return warning_id


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_red_case_is_overdue_after_24_hours_for_the_api_and_the_cli_alike(
    loop_env: LoopEnv, loop_service: LoopService
) -> None:
    now = datetime.now(UTC)
    with _store() as store:
        with time_machine.travel(now - timedelta(hours=24, minutes=5), tick=False):
            late = _raise_red(store, "dispute-late")
        with time_machine.travel(now - timedelta(hours=23, minutes=30), tick=False):
            in_time = _raise_red(store, "dispute-in-time")
    client = httpx.Client(
        base_url=loop_service.url, headers=loop_service.headers(), timeout=30, verify=LOOPBACK_TLS
    )
    listed = client.get("/v1/warnings", params={"task": DISPUTES, "overdue": "true"}).json()
    assert [item["id"] for item in listed["items"]] == [late]
    assert listed["items"][0]["overdue"] is True
    not_late = client.get("/v1/warnings", params={"task": DISPUTES, "overdue": "false"}).json()
    assert [item["id"] for item in not_late["items"]] == [in_time]
    assert client.get(f"/v1/warnings/{in_time}").json()["overdue"] is False

    out = _cli(["overdue", "--task", DISPUTES])
    assert late in out and in_time not in out
    assert "1 overdue case(s)" in out
    waiting = _cli(["overdue", "--task", DISPUTES, "--department", "county_centre"])
    assert late in waiting
    assert late not in _cli(["overdue", "--task", DISPUTES, "--department", "anti_fraud"])
    # the service's thread and the CLI both sweep: still exactly one event for the deadline
    time.sleep(1.0)
    _cli(["overdue"])
    history = client.get(f"/v1/warnings/{late}").json()["history"]
    overdue_events = [event for event in history if event["event"] == "overdue"]
    assert len(overdue_events) == 1
    assert overdue_events[0]["deadline"] == "dispatch"


def _city_ids(city: Path) -> set[str]:
    """Every raw identifier of the small city (employers, residents, disputes, parties)."""
    ids: set[str] = set()
    for task, table, column in [
        ("wage_arrears", "employers", "employer_id"),
        ("telecom_fraud", "residents", "resident_id"),
        ("dispute_escalation", "disputes", "dispute_id"),
        ("dispute_escalation", "dispute_parties", "party_id"),
    ]:
        ids |= set(pd.read_parquet(city / task / f"{table}.parquet", columns=[column])[column])
    return ids


def test_webhooks_survive_a_sigkill_of_the_service_mid_burst(
    loop_env: LoopEnv,
    loop_service: LoopService,
    serving_root: Path,
    small_city: Path,
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "anti-fraud.secret"
    with Receiver("", delay_s=0.005) as receiver:
        _cli(
            [
                "departments",
                "set-webhook",
                "anti_fraud",
                receiver.url,
                "--secret-file",
                str(secret_file),
            ]
        )
        _cli(
            [
                "departments",
                "set-webhook",
                "community_police",
                receiver.url,
                "--secret-file",
                str(secret_file),
            ]
        )  # the same secret file: read, not regenerated
        receiver.secret = secret_file.read_text().strip()
        assert "HTTP 200" in _cli(["departments", "ping", "anti_fraud"])
        _cli(["screen", "--task", FRAUD, "--raw", str(small_city)])
        client = httpx.Client(
            base_url=loop_service.url,
            headers=loop_service.headers(),
            timeout=30,
            verify=LOOPBACK_TLS,
        )
        warnings = client.get("/v1/warnings", params={"task": FRAUD, "page_size": 5}).json()
        for item in warnings["items"]:
            response = client.post(
                f"/v1/warnings/{item['id']}/feedback",
                json={"status": "dispatched", "department": "community_police"},
            )
            assert response.status_code == 200, response.text
        with _store() as store:
            total = len(Outbox(store).events())
        assert total >= 20, "the burst is too small to kill the service in the middle of it"
        _wait(lambda: len(receiver.unique()) >= 5, 60, "the first deliveries")
        kill_now(loop_service.process)  # type: ignore[attr-defined]
        with _store() as store:
            pending = Outbox(store).counts()["pending"]
        assert pending > 0, "the service finished before it was killed"

        process, log = start_service(serving_root, free_port(), extra_env=loop_env.env)
        try:
            assert process.poll() is None, log.read_text()[-4000:]
            with _store() as store:
                _wait(lambda: Outbox(store).counts()["pending"] == 0, 120, "every delivery")
                events = Outbox(store).events()
        finally:
            stop_process_group(process)
        # every id, the ping's included, has the documented shape a receiver may check
        assert all(re.fullmatch(r"E-[0-9a-f]{32}", key) for key in receiver.unique())
        got = {key: body for key, body in receiver.unique().items() if body["type"] != "ping"}
        assert all(delivery.verified for delivery in receiver.log)
    assert {event["event_id"] for event in events} == set(got)
    assert len(events) == total and all(event["delivered_at"] for event in events)
    kinds = {(body["type"], body["department"]) for body in got.values()}
    assert kinds == {("warning.raised", "anti_fraud"), ("warning.dispatched", "community_police")}
    words = set(re.findall(r"[0-9A-Za-z_-]+", json.dumps(list(got.values()))))
    assert not words & _city_ids(small_city)
