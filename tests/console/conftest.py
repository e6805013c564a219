"""A real riskloop service with warnings, people and a model report, and a real browser.

One session: the three tasks trained on the small simulated city (few boosting rounds) and one
model report written (once a run, for both work units of this folder: `console_champions`),
every materialised employer and resident scored through the API (so the store holds real
warnings), people created in the store (`riskloop users` does the same), and `bentoml serve`
started on a free loopback port. Pages are driven by Debian's Chromium through
Playwright (nothing downloaded); every page a test opens is watched for console errors and for
requests leaving the service's origin.
"""

from __future__ import annotations

import base64
import dataclasses
import fcntl
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.environment import service_env, settings_env, stores_root
from tests.processes import LOOPBACK_TLS, free_port, stop_process_group

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "console"
TRAIN_ROUNDS = 25
PASSWORD = "correct-horse-battery"  # test accounts only; the store keeps its Argon2 hash
# (name, display name, department, role)
PEOPLE = (
    ("sup", "王主管", "county_centre", "supervisor"),
    ("lab", "李监察", "labour_inspection", "officer"),
    ("tax", "赵税务", "tax", "officer"),
    ("fraud", "陈反诈", "anti_fraud", "officer"),
    ("audit", "周审计", "data_office", "auditor"),
)


@dataclass
class Console:
    """The running service, its folder, and helpers the tests share."""

    url: str
    root: Path
    score_key: str
    process: subprocess.Popen[bytes]
    log: Path
    people: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.root / "riskloop.db"

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run SQL on the store's SQLite file (reads, and ageing a session for the time-out test)."""
        with sqlite3.connect(self.db, timeout=30) as connection:
            rows = connection.execute(statement, params).fetchall()
        return rows

    def case_state(self, warning_id: str) -> tuple[Any, ...]:
        """The case's status, department and version, as stored."""
        return self.sql(
            "SELECT status, department, version FROM warnings WHERE id = ?", warning_id
        )[0]

    def age_session(self, seconds: float, column: str = "last_seen_at") -> None:
        """Move every live session's last activity (or its sign-in, `created_at`) `seconds`
        into the past."""
        assert column in ("last_seen_at", "created_at")
        moment = (datetime.now(UTC) - timedelta(seconds=seconds)).replace(tzinfo=None)
        self.sql(
            f"UPDATE console_sessions SET {column} = ? WHERE ended_at IS NULL",
            moment.isoformat(sep=" "),
        )


def _start(
    root: Path, port: int, settings: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """`bentoml serve` of the service on `root`'s stores, with `settings` in its environment."""
    log = root / f"serve-{port}.log"
    bentoml = Path(sys.executable).with_name("bentoml")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(bentoml),
                "serve",
                "serving.service:RiskloopService",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **service_env(root), **(settings or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if (
                httpx.get(
                    f"http://127.0.0.1:{port}/readyz", timeout=2, verify=LOOPBACK_TLS
                ).status_code
                == 200
            ):
                return process, log
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_process_group(process)
    raise RuntimeError(f"service did not become ready; log:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def console_root(tmp_path_factory: pytest.TempPathFactory, empty_mlflow_store: Path) -> Path:
    """A temp folder for the session's stores."""
    return stores_root(tmp_path_factory, "console", empty_mlflow_store)


@pytest.fixture(scope="module", autouse=True)
def console_settings(console_root: Path) -> Iterator[None]:
    """This process's settings pointed at the console's stores for each module of this folder
    (and only while it runs: see tests/environment.py)."""
    with settings_env(service_env(console_root)):
        yield


def _build_champions(root: Path, small_city: Path) -> None:
    """The three tasks trained on `small_city` (few boosting rounds, one thread) into `root`'s
    MLflow store, and the wage-arrears champion's report in both languages in `root`/reports."""
    from models.spec import TASK_NAMES, get_spec
    from training.commands.reporting import write_report
    from training.datasets import build_from_raw
    from training.train import train_task

    with settings_env(service_env(root)):
        for task in TASK_NAMES:
            spec = get_spec(task)
            spec = dataclasses.replace(spec, params=dataclasses.replace(spec.params, num_threads=1))
            train_task(spec, build_from_raw(spec, small_city), max_rounds=TRAIN_ROUNDS)
        write_report(get_spec("wage-arrears"), small_city, root / "reports")


@pytest.fixture(scope="session")
def console_champions(
    tmp_path_factory: pytest.TempPathFactory, small_city: Path, empty_mlflow_store: Path
) -> Path:
    """A folder holding the trained champions (MLflow store and artifacts) and the report,
    built once per run and read by both work units of this folder (tests/scheduling.py).

    The two units ran the same training and report on the same city, seed and rounds: once
    a run spares about 17 s of CPU (measured on the two units, the report's charts most of
    it). Under xdist the folder sits in the run's base temp folder, which every worker of the
    run shares: the first unit to take the lock builds it, the other waits and reads it. Each unit's root starts as a copy of it
    (`_copy_champions`) and then holds the unit's own online features, people, keys and
    warnings."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = stores_root(tmp_path_factory, "console-champions", empty_mlflow_store)
        _build_champions(folder, small_city)
        return folder
    run_temp = tmp_path_factory.getbasetemp().parent  # the run's, above each worker's own
    folder = run_temp / "console-champions"
    with open(run_temp / "console-champions.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or its process dies
        if not (folder / "built").is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a builder that failed half-way
            folder.mkdir()
            shutil.copyfile(empty_mlflow_store, folder / "mlruns.db")
            _build_champions(folder, small_city)
            (folder / "built").touch()
    return folder


def _copy_champions(champions: Path, root: Path) -> None:
    """Make `root`'s stores what training left in `champions`: the registry, the warnings
    store (its audit log holds the promotions), the secrets file they were written with, the
    reports.
    The runs' artifacts stay where they were logged (a run a unit logs later, its `riskloop
    monitor`'s, puts its own beside them under its own id)."""
    for database in ("mlruns.db", "riskloop.db"):
        with (
            closing(sqlite3.connect(champions / database)) as source,
            closing(sqlite3.connect(root / database)) as target,
        ):
            source.backup(target)
        shutil.copymode(champions / database, root / database)  # the store's 0600
    shutil.copy2(champions / "riskloop-secrets.json", root / "riskloop-secrets.json")  # 0600 kept
    shutil.copytree(champions / "reports", root / "reports")


@pytest.fixture(scope="session")
def console_service(
    console_root: Path, console_champions: Path, small_city: Path
) -> Iterator[Console]:
    """Trained champions, people, warnings from real score requests, a report; the server."""
    from models.settings import get_settings
    from models.spec import TASK_NAMES
    from serving.auth import create_key
    from serving.online_store import materialize
    from serving.store import WarningStore
    from training.cli import app
    from training.commands.service import build_scoring_set

    _copy_champions(console_champions, console_root)
    # the fixture's own work, with this process's settings on the console's stores
    with settings_env(service_env(console_root)):
        scoring_sets = {}
        for task in TASK_NAMES:
            # the online features under the pseudonym key copied with the stores
            scoring_sets[task] = build_scoring_set(task, small_city)
            materialize(task, scoring_sets[task])
        with WarningStore.from_settings(get_settings()) as store:
            for name, display, department, role in PEOPLE:
                store.create_user(
                    name, department=department, role=role, password=PASSWORD, display_name=display
                )
        score_key = create_key("ingest", ("score",))
        port = free_port()
        # as behind a TLS proxy on this machine: its `X-Forwarded-Proto` believed
        process, log = _start(console_root, port, {"FORWARDED_ALLOW_IPS": "127.0.0.1"})
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=120, verify=LOOPBACK_TLS) as client:
            for task in ("wage-arrears", "telecom-fraud"):
                ids = scoring_sets[task]["entity_id"].astype(str).tolist()[:1000]
                answer = client.post(
                    f"/v1/{task}/score",
                    json={"entity_ids": ids, "explain": True},
                    headers={"Authorization": f"Bearer {score_key}"},
                )
                assert answer.status_code == 200, answer.text[:500]
        # the dashboard's "latest monitoring" comes from a real `riskloop monitor` run (exit 3 =
        # drift), in this process on the console's stores (a fresh one took seconds of imports)
        monitored = CliRunner().invoke(app, ["monitor", "--task", "wage-arrears"])
        assert monitored.exit_code in (0, 3), monitored.output[-2000:] + str(monitored.exception)
    yield Console(url, console_root, score_key, process, log, {p[0]: p[1] for p in PEOPLE})
    stop_process_group(process)


# ----------------------------------------------------------------------------- browser


@dataclass
class Watch:
    """What a page did that it must not: console errors, requests leaving the origin."""

    origin: str
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("request", self._request)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _request(self, request: Any) -> None:
        url = request.url
        if url.startswith(("data:", "about:")):
            return
        if not url.startswith(self.origin + "/"):
            self.outside.append(url)


@dataclass
class Person:
    """One browser context (its own cookies), its page and what the watch saw."""

    context: Any
    page: Any
    watch: Watch
    base: str

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, name: str, password: str = PASSWORD, path: str = "/console/queue") -> None:
        self.go(path)
        self.page.get_by_label("用户名").or_(self.page.get_by_label("User name")).fill(name)
        self.page.locator("#password").fill(password)
        self.page.locator("form.stack button[type=submit]").click()
        self.page.wait_for_load_state()

    def sign_out(self) -> None:
        self.page.locator("header form[action$='/sign-out'] button").click()
        self.page.wait_for_load_state()

    def open_case(
        self, *, task: str = "wage-arrears", status: str = "open", level: str | None = None
    ) -> str:
        """Open the highest-scored case of the queue filtered to `task`, `status` (and
        `level`); its warning id."""
        shown = f"&level={level}" if level else ""
        self.go(f"/console/queue?task={task}&status={status}{shown}&sort=score")
        link = self.page.locator("table.queue a").first
        warning_id = str(link.get_attribute("href")).rsplit("/", 1)[-1]
        link.click()
        self.page.wait_for_load_state()
        return warning_id

    def dispatch(self, department: str = "labour_inspection") -> None:
        """Submit the open case page's dispatch form to `department`."""
        form = self.page.locator("form[aria-labelledby='act-dispatch']")
        form.locator("select[name=department]").select_option(department)
        form.get_by_role("button").click()
        self.page.wait_for_load_state()

    def cookie(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.context.cookies() if c["name"] == name), None)


@contextmanager
def serve_beside(console_service: Console, settings: dict[str, str]) -> Iterator[str]:
    """Another service on the console's stores (people, keys, warnings) with `settings` in its
    environment, for the block; its base URL, plain HTTP on loopback as a proxy's last hop
    would be. It delivers no notifications: the console's service does."""
    port = free_port()
    process, _log = _start(
        console_service.root, port, {"RISKLOOP_NOTIFY_INTERVAL_S": "0", **settings}
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(process)


#: What the tests on `second_service` need of a service beside the console's: an administrator's
#: password opening nothing but the page to change it (tests/console/test_own_password_first.py),
#: and the proxy headers trusted from one other address only, so loopback's are not
#: (tests/console/test_https_cookies.py). Neither setting changes what the other test looks at:
#: no browser or client of the first sends a proxy header, and the second only opens the
#: sign-in page. One service for both spares a start (10 s of CPU, over 20 s under load).
SECOND_SERVICE_SETTINGS = {
    "RISKLOOP_REQUIRE_OWN_PASSWORD": "true",
    "FORWARDED_ALLOW_IPS": "192.0.2.1",
}


@pytest.fixture(scope="session")
def second_service(console_service: Console) -> Iterator[str]:
    """A service beside the console's with `SECOND_SERVICE_SETTINGS`, started when a test
    first asks for it; its base URL."""
    with serve_beside(console_service, SECOND_SERVICE_SETTINGS) as url:
        yield url


@pytest.fixture()
def person(browser: Any, console_service: Console) -> Iterator[Any]:
    """A factory of fresh browser contexts (one per person in a test), on the console's
    service or, given its base URL, another (`serve_beside`)."""
    opened: list[Any] = []

    def make(base: str | None = None) -> Person:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        opened.append(context)
        page = context.new_page()
        url = base or console_service.url
        watch = Watch(url)
        watch.attach(page)
        return Person(context, page, watch, url)

    yield make
    for context in opened:
        context.close()


#: A screenshot's most pixels down the page: what a person reads of a long queue at a phone's
#: width (its top rows, the pager), without rastering a 16,000 px page for every shot.
SHOT_MAX_HEIGHT = 5000


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/console/ (gitignored), its top
    `SHOT_MAX_HEIGHT` pixels for a longer page.

    Taken through DevTools with `optimizeForSpeed` (a faster PNG compression, files about a
    quarter larger): 0.17 s of CPU for a 1280 x 4700 page against 0.28-0.34 s for Playwright's
    `page.screenshot`, over some 130 shots a run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    width, height = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, SHOT_MAX_HEIGHT), "scale": 1}
    devtools = page.context.new_cdp_session(page)
    try:
        shot = devtools.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "clip": clip,
                "captureBeyondViewport": True,
                "optimizeForSpeed": True,
            },
        )
    finally:
        devtools.detach()
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def screenshots_at_two_widths(page: Any, name: str) -> None:
    """Full-page screenshots at a desk's width and a phone's (`<name>-1280.png`,
    `<name>-390.png`) under test-artifacts/console/, for a person to read."""
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def session_client(console_service: Console, viewer: Any) -> httpx.Client:
    """An HTTP client holding `viewer`'s console session cookie (a form sent by hand)."""
    cookie = viewer.cookie("riskloop_console")
    assert cookie is not None
    return httpx.Client(
        base_url=console_service.url,
        cookies={"riskloop_console": cookie["value"]},
        follow_redirects=False,
        timeout=30,
        verify=LOOPBACK_TLS,
    )


def create_person(name: str, department: str, role: str, lang: str = "zh") -> None:
    """An account in the console's store (password `PASSWORD`), made directly in the store."""
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department=department, role=role, password=PASSWORD, lang=lang)


@contextmanager
def signed_in_client(console_service: Console, name: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the console as `name` through the sign-in form (redirects
    not followed), for the block."""
    with httpx.Client(
        base_url=console_service.url, follow_redirects=False, timeout=30, verify=LOOPBACK_TLS
    ) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        signed = client.post(
            "/console/sign-in",
            data={"name": name, "password": PASSWORD, "csrf": token, "next": "/console/queue"},
        )
        assert signed.status_code == 303, signed.text[:300]
        yield client


def dispatch_to_outside_body(
    console_service: Console, warning_id: str, key_name: str, body: str
) -> None:
    """`warning_id` dispatched over the API to the outside body `body` (a name no department
    has), by a county-centre key made as `key_name`."""
    from serving.auth import create_key

    key = create_key(key_name, ("review", "feedback"), department="county_centre")
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as api:
        sent = api.post(
            f"/v1/warnings/{warning_id}/feedback",
            json={"status": "dispatched", "department": body},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert sent.status_code == 200, sent.text[:500]


@dataclass
class _ConsoleHost:
    """What the console needs from the service it is mounted in: the store and settings."""

    store: Any
    settings: Any

    def served(self, task: str) -> Any:
        raise KeyError(task)


@contextmanager
def console_in_process(store: Any, settings: Any) -> Iterator[str]:
    """The console app alone at `/console/`, served by uvicorn in this process on a free
    loopback port (real HTTP, the real store, policy, sessions and templates; no model loaded,
    which only the case page's waterfall needs), so a frozen clock (time-machine) is its
    clock too; its base URL."""
    import threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from serving.console.app import build_app

    host = _ConsoleHost(store, settings)
    app = Starlette(routes=[Mount("/console", app=build_app(lambda: host))])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the console did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
