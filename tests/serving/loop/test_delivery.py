"""Delivering the outbox to a loopback receiver that checks signatures with the shipped helper."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from models.settings import Settings
from serving.delivery import Deliverer, backoff
from serving.policy import task_owner
from serving.store import WarningStore
from serving.store.outbox import Outbox
from serving.webhook_secrets import set_secret
from tests.serving.loop.receiver import Receiver
from training.commands import cli_actor

SECRET = "loopback-receiver-secret-0123456789"
TASK = "wage-arrears"
OTHER = "telecom-fraud"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[WarningStore]:
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "pseudonym-secret") as opened:
        yield opened


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "webhook_secrets_file": tmp_path / "secrets.json",
        "notify_backoff_s": 0.01,
        "notify_backoff_max_s": 0.05,
        "notify_max_attempts": 4,
        "public_url": "https://riskloop.example.gov",
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def _hook(store: WarningStore, settings: Settings, url: str, *departments: str) -> None:
    for department in departments:
        set_secret(department, SECRET, settings.webhook_secrets_file)
        Outbox(store).set_webhook(department, url, now=_now())


def _now():  # type: ignore[no-untyped-def]
    from serving.store.common import utc_now as now

    return now()


def _raise(store: WarningStore, entities: list[str], task: str = TASK) -> list[str]:
    results = [
        {
            "entity_id": e,
            "score": 0.9,
            "risk_level": "red",
            "reasons": [],
            "actions": [],
            "features": {},
        }
        for e in entities
    ]
    ids = store.record_scores(
        actor="key:test", task=task, model_name="m", model_version="1", results=results
    )
    return [i for i in ids if i]


def _until(condition: Callable[[], bool], deliverer: Deliverer, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "delivery did not finish in time"
        deliverer.run_once()
        time.sleep(0.02)


def test_every_raised_and_dispatched_event_arrives_signed_once_after_dedup(
    store: WarningStore, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    entities = [f"91110000MA0{n:07d}X" for n in range(6)]
    with Receiver(SECRET) as receiver:
        _hook(store, settings, receiver.url, "county_centre", "labour_inspection")
        ids = _raise(store, entities)
        for warning_id in ids[:3]:
            store.add_feedback(
                warning_id,
                actor="user:sup",
                status="dispatched",
                department="labour_inspection",
                outcome=None,
                note=None,
            )
        deliverer = Deliverer(store, settings)
        _until(lambda: Outbox(store).counts()["pending"] == 0, deliverer)
        deliverer.close()
        assert all(d.verified for d in receiver.log)
        got = receiver.unique()
    expected = {e["event_id"]: e for e in Outbox(store).events()}
    assert set(got) == set(expected) and len(expected) == 9
    kinds = sorted((body["type"], body["department"]) for body in got.values())
    assert kinds == sorted(
        [("warning.raised", "county_centre")] * 6
        + [("warning.dispatched", "labour_inspection")] * 3
    )
    for body in got.values():
        assert (
            body["link"]
            == f"https://riskloop.example.gov/v1/warnings/{body['warning_id']}/explanation"
        )
        assert body["console_link"] == (
            f"https://riskloop.example.gov/console/cases/{body['warning_id']}"
        )
        assert set(body) >= {"event_id", "type", "time", "warning_id", "level", "task", "link"}
        assert not any(entity in str(body) for entity in entities)


def test_three_errors_then_success_delivers_on_the_fourth_try(
    store: WarningStore, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, notify_max_attempts=5)
    with Receiver(SECRET, fail_first=3) as receiver:
        _hook(store, settings, receiver.url, "county_centre")
        _raise(store, ["employer-a"])
        deliverer = Deliverer(store, settings)
        _until(lambda: Outbox(store).counts()["delivered"] == 1, deliverer)
        deliverer.close()
        (event,) = Outbox(store).events()
        assert receiver.attempts(event["event_id"]) == 4
        assert [d.status for d in receiver.log] == [500, 500, 500, 200]
    assert event["attempts"] == 4 and event["dead_at"] is None


def test_an_endpoint_that_always_fails_dead_letters_after_the_configured_attempts(
    store: WarningStore, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, notify_max_attempts=3)
    with Receiver(SECRET, always=503) as receiver:
        _hook(store, settings, receiver.url, "county_centre")
        _raise(store, ["employer-b"])
        deliverer = Deliverer(store, settings)
        _until(lambda: Outbox(store).counts()["dead"] == 1, deliverer)
        (dead,) = Outbox(store).dead()
        assert receiver.attempts(dead["event_id"]) == 3
        assert dead["attempts"] == 3 and dead["last_error"] == "HTTP 503"
        for _ in range(3):  # a dead letter is not retried by later rounds
            deliverer.run_once()
        assert receiver.attempts(dead["event_id"]) == 3
        receiver.always = None
        assert Outbox(store).requeue([dead["event_id"]], now=_now()) == 1
        _until(lambda: Outbox(store).counts()["delivered"] == 1, deliverer)
        deliverer.close()
        assert receiver.attempts(dead["event_id"]) == 4


def test_an_unreachable_endpoint_is_retried_not_lost(store: WarningStore, tmp_path: Path) -> None:
    from tests.processes import free_port

    settings = _settings(tmp_path, notify_max_attempts=50)
    _hook(store, settings, f"http://127.0.0.1:{free_port()}/nobody", "county_centre")
    _raise(store, ["employer-c"])
    deliverer = Deliverer(store, settings)
    report = deliverer.run_once()
    deliverer.close()
    assert (report.retried, report.delivered, report.dead) == (1, 0, 0)
    (event,) = Outbox(store).events()
    assert event["attempts"] == 1 and "ConnectError" in event["last_error"]


def test_a_hanging_receiver_delays_only_its_own_department(
    store: WarningStore, tmp_path: Path
) -> None:
    """One department's receiver hangs past the time-out: the other department's events are
    delivered in the same round, and the hanging one costs one time-out, not one per event
    (its other events wait for the retry without an attempt counted)."""
    settings = _settings(tmp_path, notify_timeout_s=0.5, notify_backoff_s=5, notify_max_attempts=9)
    with Receiver(SECRET, delay_s=3.0) as hanging, Receiver(SECRET) as quick:
        _hook(store, settings, hanging.url, task_owner(TASK))
        _hook(store, settings, quick.url, task_owner(OTHER))
        _raise(store, ["slow-1", "slow-2", "slow-3"])
        _raise(store, ["quick-1", "quick-2"], task=OTHER)
        deliverer = Deliverer(store, settings)
        started = time.monotonic()
        report = deliverer.run_once()
        elapsed = time.monotonic() - started
        deliverer.close()
        assert len(quick.unique()) == 2
    assert (report.delivered, report.retried) == (2, 1)
    assert elapsed < 2.5, elapsed  # one time-out (0.5 s), not three, and not after the others
    waiting = [e for e in Outbox(store).events() if e["department"] == task_owner(TASK)]
    assert sorted(e["attempts"] for e in waiting) == [0, 0, 1]
    tried = next(e for e in waiting if e["attempts"] == 1)
    assert "Timeout" in tried["last_error"]
    assert len({e["next_attempt_at"] for e in waiting}) == 1  # the others retry with it


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    import random

    rng = random.Random(3)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)]:
        delays = [backoff(attempt, 2.0, 60.0, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert len(set(delays)) > 150  # jittered, not one fixed delay


def test_the_notify_command_delivers_lists_dead_letters_and_requeues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from models.settings import get_settings
    from training.cli import app

    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("RISKLOOP_WEBHOOK_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("RISKLOOP_NOTIFY_MAX_ATTEMPTS", "1")  # dead at the first failure
    monkeypatch.setenv("RISKLOOP_NOTIFY_BACKOFF_S", "0.01")
    monkeypatch.setenv("RISKLOOP_NOTIFY_BACKOFF_MAX_S", "0.01")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        settings = get_settings()
        with Receiver(SECRET, always=500) as receiver, WarningStore.from_settings() as store:
            _hook(store, settings, receiver.url, "county_centre")
            _raise(store, ["employer-d", "employer-e"])
            first = runner.invoke(app, ["notify", "--once"])
            assert first.exit_code == 0, first.output
            assert "delivered 0" in first.stdout
            assert "dead 2" in first.stdout  # this run's, and all that wait in the outbox:
            assert "2 dead letter(s) in the outbox (`riskloop notify --dead`" in first.stdout
            dead = runner.invoke(app, ["notify", "--dead"])
            assert "2 dead notification(s)" in dead.stdout and "HTTP 500" in dead.stdout
            receiver.always = None
            # one mistyped id among real ones: nothing requeued, and the line names it
            ids = [row["event_id"] for row in Outbox(store).dead()]
            mixed = runner.invoke(app, ["notify", "--requeue", "--event", ids[0], "--event", "E-0"])
            assert mixed.exit_code == 2 and "no notification E-0" in mixed.stderr
            assert "nothing requeued" in mixed.stderr and len(Outbox(store).dead()) == 2
            assert "requeued 2" in runner.invoke(app, ["notify", "--requeue"]).stdout
            requeues = [r for r in store.audit_rows() if r["action"] == "notification_requeue"]
            assert [(r["actor"], r["detail"]) for r in requeues] == [
                (cli_actor(), {"events": "all dead", "requeued": 2, "channel": "cli"})
            ]
            again = runner.invoke(app, ["notify", "--once"])
            assert "delivered 2, retrying 0, dead 0" in again.stdout
            assert "0 dead letter(s) in the outbox" in again.stdout
            # a delivered one is not a dead letter: said with its state
            done = runner.invoke(app, ["notify", "--requeue", "--event", ids[1]])
            assert done.exit_code == 2
            assert f"not dead letters: {ids[1]} (delivered)" in done.stderr
        assert len(receiver.unique()) == 2
    finally:
        get_settings.cache_clear()
