"""Dead letters are seen without asking: the service's `/metrics` counts the outbox's pending
and dead notifications by department, and the retry budget by default spans at least a day."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from models.settings import Settings, get_settings
from serving.store import WarningStore
from serving.store.outbox import Outbox
from serving.webhook_secrets import set_secret
from tests.processes import free_port, stop_process_group
from tests.serving.conftest import start_service
from tests.serving.loop.conftest import loop_env_for
from tests.serving.loop.receiver import Receiver
from tests.serving.loop.test_delivery import SECRET, _raise


def test_the_default_retry_budget_keeps_an_event_tried_for_at_least_a_day() -> None:
    """The documented promise (operations.md): waits doubling from 5 s up to the hour, and at
    least 24 h (at most 48 h) of retries before an event is dead, whatever the jitter draws."""
    settings = Settings()
    ceilings = [
        min(settings.notify_backoff_max_s, settings.notify_backoff_s * 2 ** (n - 1))
        for n in range(1, settings.notify_max_attempts)  # the waits between the attempts
    ]
    assert ceilings[:2] == [5.0, 10.0] and ceilings.count(3600.0) > 1  # the cap is reached
    shortest, longest = sum(ceilings) / 2, sum(ceilings)
    assert shortest >= 24 * 3600 and longest <= 48.5 * 3600


def _metric(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{"):
            series, _, value = line.rpartition(" ")
            found = ",".join(sorted(series[len(name) + 1 : -1].split(",")))
            if found == wanted:
                return float(value)
    return None


def _wait(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the service's metrics did not show it in time"
        time.sleep(0.2)


@contextmanager
def _metrics_of_a_service(serving_root: Path, env: dict[str, str]) -> Iterator[Callable[[], str]]:
    """A service started with `env`; yields a function reading its `/metrics` text."""
    port = free_port()
    process, log = start_service(serving_root, port, extra_env=env)
    try:
        assert process.poll() is None, log.read_text()[-4000:]
        yield lambda: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop_process_group(process)


def test_the_services_metrics_count_pending_and_dead_notifications_by_department(
    serving_root: Path, trained: dict[str, int], tmp_path: Path
) -> None:
    env = {**loop_env_for(tmp_path), "RISKLOOP_NOTIFY_MAX_ATTEMPTS": "2"}
    with pytest.MonkeyPatch.context() as patch, Receiver(SECRET, always=500) as receiver:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        settings = get_settings()
        with WarningStore.from_settings(settings) as store:
            for department in ("county_centre", "labour_inspection"):
                set_secret(department, SECRET, settings.webhook_secrets_file)
                Outbox(store).set_webhook(department, receiver.url, now=_now())
            _raise(store, ["employer-m1", "employer-m2"])
        get_settings.cache_clear()
        with _metrics_of_a_service(serving_root, env) as scraped:
            name = "riskloop_notifications"
            _wait(lambda: _metric(scraped(), name, department="county_centre", state="dead") == 2)
            text = scraped()
            assert _metric(text, name, department="county_centre", state="pending") == 0
            # a department with a webhook and nothing waiting shows its zeros
            assert _metric(text, name, department="labour_inspection", state="dead") == 0
            assert _metric(text, f"{name}_oldest_pending_seconds", department="county_centre") == 0
    get_settings.cache_clear()


def _now():  # type: ignore[no-untyped-def]
    from serving.store.common import utc_now

    return utc_now()


def test_a_service_that_delivers_nothing_itself_still_counts_the_outbox(
    serving_root: Path, trained: dict[str, int], tmp_path: Path
) -> None:
    """With `RISKLOOP_NOTIFY_INTERVAL_S=0` (the notifications go out from `riskloop notify
    --loop`, as docs/operations.md advises) the service's gauges were never set: its
    `/metrics` shows the pending events all the same."""
    env = {**loop_env_for(tmp_path), "RISKLOOP_NOTIFY_INTERVAL_S": "0"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        settings = get_settings()
        with WarningStore.from_settings(settings) as store:
            set_secret("county_centre", SECRET, settings.webhook_secrets_file)
            Outbox(store).set_webhook("county_centre", "http://127.0.0.1:9/hook", now=_now())
            _raise(store, ["employer-w1", "employer-w2"])
        get_settings.cache_clear()
        with _metrics_of_a_service(serving_root, env) as scraped:
            name = "riskloop_notifications"
            _wait(
                lambda: _metric(scraped(), name, department="county_centre", state="pending") == 2
            )
            assert _metric(scraped(), name, department="county_centre", state="dead") == 0
    get_settings.cache_clear()
