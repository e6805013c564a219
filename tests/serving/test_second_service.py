"""A second service on the host beside the session's: its own `/metrics`, a reload check of its
own, its sign-in throttle, tracing when an exporter is configured, and its end when its arbiter
is killed.

Sign-in throttle (a penetration tester's finding): anyone could fill the append-only audit log,
and keep the service hashing passwords, with sign-ins under made-up names: 40 in 6.6 s, each a
`sign_in_failed` row and an Argon2 hash. Now, past `RISKLOOP_SIGN_IN_THROTTLE_FAILURES`
failures within the window from one client address, its sign-ins (API and console alike) are
answered 429 with `Retry-After`, without a password check or a `sign_in_failed` row, and one
`access_refused` row a window. Clients are told apart by `X-Forwarded-For`, which this
service takes from 127.0.0.1 as from a proxy on the machine (`FORWARDED_ALLOW_IPS=127.0.0.1`;
without it no proxy is believed: tests/serving/test_forwarded_headers.py).

One `riskloop serve` for the module (a start is seconds), in the session's environment with a
reload check every second and BentoML's in-memory trace exporter. The tracing test ends it as
a crash would, so it comes last.

Metrics: BentoML keeps the counters in `$BENTOML_HOME/prometheus_multiproc_dir` and empties it
at start; both services shared that folder, so the second start wiped the first's counters and
from then on both published the second's traffic.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.environment import service_env
from tests.processes import LOOPBACK_TLS, descendants, free_port, stop_process_group

from .conftest import Served
from .test_reload import TASK as RELOAD_TASK
from .test_reload import _served_version
from .test_tracing import REQUEST_ID, _score

LIVEZ = re.compile(r'^\S*request_total\{[^}]*endpoint="/livez"[^}]*\} (\S+)$', re.MULTILINE)
PASSWORD = "a long enough password"
FAILURES = 3
WINDOW_S = 4


def _livez_requests(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10, verify=LOOPBACK_TLS).text
    return sum(float(count) for count in LIVEZ.findall(metrics))


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2, verify=LOOPBACK_TLS).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"riskloop serve did not become ready; log:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def first_service(served: Served) -> tuple[str, float]:
    """The session's service, with five requests of its own before the second one starts."""
    for _ in range(5):
        httpx.get(f"{served.url}/livez", timeout=10, verify=LOOPBACK_TLS)
    return served.url, _livez_requests(served.url)


@pytest.fixture(scope="module")
def second_service(
    serving_root: Path, served: Served, first_service: tuple[str, float]
) -> Iterator[Served]:
    """`riskloop serve` beside the session's service, in the same environment: BentoML's home
    is the session service's (as the default `~/bentoml` is shared by every service of a
    host). Its reload check runs every second; BentoML's tracing exports to memory; its
    sign-in throttle is small and short."""
    riskloop = Path(sys.executable).with_name("riskloop")
    env = {
        **os.environ,
        **service_env(serving_root),
        "RISKLOOP_RELOAD_INTERVAL_S": "1",
        "BENTOML_CONFIG_OPTIONS": "services.riskloop.tracing.exporter_type=in_memory",
        "RISKLOOP_SIGN_IN_THROTTLE_FAILURES": str(FAILURES),
        "RISKLOOP_SIGN_IN_THROTTLE_WINDOW_S": str(WINDOW_S),
        "FORWARDED_ALLOW_IPS": "127.0.0.1",  # as behind a proxy on this machine
    }
    assert env["BENTOML_HOME"] == str(serving_root / "bentoml")  # the session service's home
    port = free_port()
    log = serving_root / f"riskloop-serve-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(riskloop), "serve", "--port", str(port)],
            cwd=serving_root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log)
        yield Served(url, served.root, served.keys, process, log, served.city)
    finally:
        stop_process_group(process)


def test_each_service_publishes_its_own_requests(
    serving_root: Path, first_service: tuple[str, float], second_service: Served
) -> None:
    first, counted = first_service
    second = second_service.url
    assert counted >= 5
    for _ in range(2):
        httpx.get(f"{second}/livez", timeout=10, verify=LOOPBACK_TLS)
    assert _livez_requests(first) == counted  # its own counters survived the second's start
    assert _livez_requests(second) == 2
    port = second.rsplit(":", 1)[1]
    home = serving_root / "data" / "serve" / f"127.0.0.1-{port}"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_periodic_check_follows_the_alias_without_a_request(
    second_service: Served, small_city: Path
) -> None:
    """The second service, checking every second, picks up a promotion on its own."""
    import mlflow

    from models.settings import get_settings
    from models.spec import get_spec
    from training.datasets import build_from_raw
    from training.train import train_task

    spec = get_spec(RELOAD_TASK)
    uri = get_settings().mlflow_uri
    registry = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    watcher = second_service
    original = registry.get_model_version_by_alias(spec.registered_model_name, "champion").version
    try:
        with watcher.client() as client:
            assert _served_version(client, watcher) == str(original)
            newer = train_task(spec, build_from_raw(spec, small_city), max_rounds=6)
            registry.set_registered_model_alias(
                spec.registered_model_name, "champion", str(newer.version)
            )
            deadline = time.monotonic() + 20
            while _served_version(client, watcher) != str(newer.version):
                assert time.monotonic() < deadline, "the periodic check never reloaded"
                time.sleep(0.1)
    finally:
        registry.set_registered_model_alias(spec.registered_model_name, "champion", str(original))


@pytest.fixture(scope="module")
def throttled_url(second_service: Served) -> str:
    """The second service, whose sign-in throttle holds a client back after `FAILURES`
    failures within `WINDOW_S` seconds, and a person to sign in as."""
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        store.create_user("tang.throttle", department="tax", role="officer", password=PASSWORD)
    return second_service.url


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def _audit(actions: set[str]) -> list[dict[str, Any]]:
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        return [row for row in store.audit_rows() if row["action"] in actions]


def test_failed_sign_ins_from_one_client_are_held_back(throttled_url: str) -> None:
    client_a, client_b = "203.0.113.10", "203.0.113.20"
    failed_before = len(_audit({"sign_in_failed"}))
    with httpx.Client(base_url=throttled_url, timeout=60, verify=LOOPBACK_TLS) as http:
        for n in range(FAILURES):
            wrong = http.post(
                "/v1/session",
                json={"name": f"made.up.{n}", "password": PASSWORD},
                headers=_from(client_a),
            )
            assert wrong.status_code == 401, wrong.text
        # the right password too: no password is checked while the client is held back
        held = [
            http.post(
                "/v1/session",
                json={"name": "tang.throttle", "password": PASSWORD},
                headers=_from(client_a),
            )
            for _ in range(3)
        ]
        # another client is not held back
        other = http.post(
            "/v1/session",
            json={"name": "tang.throttle", "password": PASSWORD},
            headers=_from(client_b),
        )
        assert other.status_code == 200, other.text
        for answer in held:
            assert answer.status_code == 429, answer.text
            assert 1 <= int(answer.headers["Retry-After"]) <= WINDOW_S
            assert "too many failed sign-ins" in answer.json()["error"]
            assert answer.json()["rule_zh"]
        # one row a window, not one an attempt; no failure recorded for the held-back ones
        refused = [r for r in _audit({"access_refused"}) if r["actor"] == f"client:{client_a}"]
        assert len(refused) == 1, refused
        assert refused[0]["detail"]["rule"] == "too many failed sign-ins from this client"
        assert refused[0]["detail"]["path"] == "POST /v1/session"
        assert len(_audit({"sign_in_failed"})) - failed_before == FAILURES

        time.sleep(int(held[-1].headers["Retry-After"]) + 0.2)
        again = http.post(
            "/v1/session",
            json={"name": "tang.throttle", "password": PASSWORD},
            headers=_from(client_a),
        )
        assert again.status_code == 200, again.text


def test_the_console_holds_back_a_client_in_the_persons_language(throttled_url: str) -> None:
    client = "203.0.113.30"
    with httpx.Client(
        base_url=throttled_url, timeout=60, verify=LOOPBACK_TLS, follow_redirects=False
    ) as browser:
        pre = browser.get("/console/sign-in").cookies["riskloop_console_pre"]

        def sign_in(password: str, lang: str = "zh") -> httpx.Response:
            form = {"name": "tang.throttle", "password": password, "csrf": pre, "lang": lang}
            return browser.post("/console/sign-in", data=form, headers=_from(client))

        for _ in range(FAILURES):
            assert sign_in("not the password at all").status_code == 401
        held = sign_in(PASSWORD)
        english = sign_in(PASSWORD, "en")
    assert held.status_code == english.status_code == 429, held.text[:300]
    assert 1 <= int(held.headers["Retry-After"]) <= WINDOW_S
    assert "登录失败次数过多" in held.text
    assert "Too many failed sign-ins from this network address" in english.text
    refused = [r for r in _audit({"access_refused"}) if r["actor"] == f"client:{client}"]
    assert [r["detail"]["path"] for r in refused] == ["POST /console/sign-in"]
    assert refused[0]["detail"]["channel"] == "console"


def test_the_server_traces_requests_when_an_exporter_is_configured(
    served: Served, second_service: Served
) -> None:
    """The documented way to switch tracing on reaches the worker: BentoML's own middleware
    wraps every request again. (The server then ends as a crash would end it: a SIGKILL of
    the arbiter alone, which cannot pass it on, still ends the worker.)"""
    process, port = second_service.process, second_service.url.rsplit(":", 1)[1]
    answer = _score(second_service.url, served)
    assert len(answer.headers[REQUEST_ID]) == 16, answer.headers  # a span id, in hex
    workers = descendants(process.pid)
    assert workers, "the service has no worker process"
    os.kill(process.pid, signal.SIGKILL)  # the arbiter only: its workers run in their own group
    process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its killed arbiter"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5, verify=LOOPBACK_TLS)


def _alive(pid: int) -> bool:
    """Still running (a zombie waiting for its reaper counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
