"""Headless Chromium driven over the DevTools protocol, to check pages as a reviewer sees them.

A page passes when it loads with no console error, no exception and no network request, and
every image decodes in the browser. A full-page screenshot is kept under `test-artifacts/`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.catalog import FeatureDef
from models.risk_model import RiskModel
from models.spec import build_spec
from tests.browser import NO_OMNIBOX_POPUP, executable

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
    NO_OMNIBOX_POPUP,
)
PAGE_TIMEOUT_S = 30.0


@dataclass
class BrowserCheck:
    """What Chromium saw while loading one page."""

    console_errors: list[str] = field(default_factory=list)
    network_requests: list[str] = field(default_factory=list)
    section_ids: list[str] = field(default_factory=list)
    images: list[dict[str, object]] = field(default_factory=list)
    title: str = ""
    screenshot: Path | None = None


class _DevTools:
    """A minimal DevTools client: numbered commands, events kept in arrival order."""

    def __init__(self, websocket) -> None:  # type: ignore[no-untyped-def]
        self._websocket = websocket
        self._next_id = 0
        self.events: list[dict] = []

    async def call(self, method: str, **params: object) -> dict:
        self._next_id += 1
        command_id = self._next_id
        await self._websocket.send_json({"id": command_id, "method": method, "params": params})
        while True:
            message = await self._websocket.receive_json(timeout=PAGE_TIMEOUT_S)
            if message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def wait_for(self, method: str) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            message = await self._websocket.receive_json(timeout=PAGE_TIMEOUT_S)
            self.events.append(message)
            if message.get("method") == method:
                return message


def _read_devtools_port(user_data_dir: Path, process: subprocess.Popen) -> int:
    port_file = user_data_dir / "DevToolsActivePort"
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    while time.monotonic() < deadline:
        if port_file.exists():
            lines = port_file.read_text().splitlines()
            if lines and lines[0].strip().isdigit():
                return int(lines[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        time.sleep(0.05)
    raise TimeoutError("chromium did not publish its DevTools port")


def _event_errors(events: list[dict], page_url: str) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    requests: list[str] = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            errors.append(json.dumps(params.get("args", []))[:300])
        elif method == "Runtime.exceptionThrown":
            errors.append(json.dumps(params.get("exceptionDetails", {}))[:300])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", "")[:300])
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if url != page_url and not url.startswith("data:"):
                requests.append(url)
    return errors, requests


_PAGE_PROBE = """JSON.stringify({
  title: document.title,
  sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
  images: Array.from(document.images).map(i => ({
    complete: i.complete, width: i.naturalWidth, height: i.naturalHeight, alt: i.alt})),
  height: document.documentElement.scrollHeight
})"""


async def _inspect(port: int, page_url: str, screenshot: Path) -> BrowserCheck:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.put(f"http://127.0.0.1:{port}/json/new?about:blank") as response:
            target = json.loads(await response.text())
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as websocket:
            devtools = _DevTools(websocket)
            for domain in ("Runtime", "Log", "Network", "Page"):
                await devtools.call(f"{domain}.enable")
            await devtools.call("Page.navigate", url=page_url)
            await devtools.wait_for("Page.loadEventFired")
            probe = await devtools.call("Runtime.evaluate", expression=_PAGE_PROBE)
            page = json.loads(probe["result"]["value"])
            await devtools.call(
                "Emulation.setDeviceMetricsOverride",
                width=1280,
                height=min(int(page["height"]), 5000),  # its top: what a reader checks
                deviceScaleFactor=1,
                mobile=False,
            )
            shot = await devtools.call(
                "Page.captureScreenshot", format="png", optimizeForSpeed=True
            )
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            errors, requests = _event_errors(devtools.events, page_url)
    return BrowserCheck(
        console_errors=errors,
        network_requests=requests,
        section_ids=page["sections"],
        images=page["images"],
        title=page["title"],
        screenshot=screenshot,
    )


def inspect_page(html_file: Path, screenshot_name: str) -> BrowserCheck:
    """Load a local HTML file in headless Chromium and report what happened."""
    chromium = executable()
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    # Chromium's helper processes can outlive the browser for a moment and keep writing to the
    # profile: run it in a process group of its own, stop the whole group, then remove the
    # profile (leftovers of a helper that was still exiting do not fail the check).
    with tempfile.TemporaryDirectory(
        prefix="riskloop-chromium-", ignore_cleanup_errors=True
    ) as user_data:
        user_data_dir = Path(user_data)
        process = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port = _read_devtools_port(user_data_dir, process)
            inspect = _inspect(port, html_file.resolve().as_uri(), ARTIFACTS_DIR / screenshot_name)
            # on a thread of its own: the test process may hold a running event loop already
            # (Playwright's sync API keeps one while the console tests' browser is open)
            with ThreadPoolExecutor(max_workers=1) as thread:
                return thread.submit(asyncio.run, inspect).result()
        finally:
            _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Terminate Chromium and every helper process it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # helpers still exiting


@pytest.fixture()
def browser_check():
    """The `inspect_page(html_file, screenshot_name) -> BrowserCheck` helper."""
    return inspect_page


# A tiny task over hand-made catalog entries: two planted drivers, a fixed attribute and two
# noise columns, so pages and report sections can be checked without the simulated city.
SYNTHETIC_FEATURES = (
    FeatureDef(
        "si_arrears_months_6m",
        "int",
        "months",
        "Unpaid social-insurance months (6m)",
        "近6个月社保欠缴月数",
        "social_insurance",
        ("amount_due", "amount_paid"),
        1,
        True,
        signal="si_arrears",
        min_value=0,
        max_value=6,
        reason_en="{value} unpaid social-insurance months in the last 6",
        reason_zh="近6个月社保欠缴{value}个月",
    ),
    FeatureDef(
        "electricity_drop_ratio",
        "float",
        "ratio",
        "Electricity use drop vs last year",
        "用电量同比降幅",
        "utilities",
        ("electricity_kwh",),
        1,
        True,
        signal="electricity_drop",
    ),
    FeatureDef(
        "sector",
        "category",
        "",
        "Sector",
        "行业",
        "employers",
        ("sector",),
        0,
        False,
        signal="construction_sector",
        categories=("construction", "retail", "it"),
    ),
    FeatureDef(
        "water_m3_change",
        "float",
        "ratio",
        "Water use change",
        "用水量变化",
        "utilities",
        ("water_m3",),
        0,
        False,
    ),
    FeatureDef(
        "trademark_count",
        "int",
        "count",
        "Registered trademarks",
        "注册商标数",
        "employers",
        ("trademark_count",),
        0,
        False,
    ),
)


#: The synthetic task's truth about its features (what truth/drivers.json says of a city's).
SYNTHETIC_ROLES_DOCUMENT = {
    "drivers": {
        "si_arrears": ["si_arrears_months_6m"],
        "electricity_drop": ["electricity_drop_ratio"],
        "construction_sector": ["sector"],
    },
    "noise": ["water_m3_change", "trademark_count"],
    "proxies": {},
}


def synthetic_frame(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A labelled dataset drawn from a known logistic model, and its unit truth."""
    rng = np.random.default_rng(seed)
    arrears = rng.integers(0, 7, rows)
    electricity = rng.normal(0.0, 0.3, rows)
    sector = rng.choice(["construction", "retail", "it"], rows)
    parts = {
        "si_arrears": 0.6 * arrears,
        "electricity_drop": 2.0 * np.clip(electricity, 0, None),
        "construction_sector": 1.0 * (sector == "construction"),
    }
    margin = -3.0 + sum(parts.values())
    true_prob = 1.0 / (1.0 + np.exp(-margin))
    stacked = np.column_stack(list(parts.values()))
    dominant = np.where(
        stacked.max(axis=1) > 1.0, np.array(list(parts))[stacked.argmax(axis=1)], "none"
    )
    entity_ids = [f"e{seed}-{i:05d}" for i in range(rows)]
    as_of = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 3, rows) * 31, unit="D")
    frame = pd.DataFrame(
        {
            "entity_id": entity_ids,
            "as_of": as_of.to_numpy(dtype="datetime64[ns]"),
            "label": (rng.random(rows) < true_prob).astype("int8"),
            "si_arrears_months_6m": arrears,
            "electricity_drop_ratio": electricity,
            "sector": sector,
            "water_m3_change": rng.normal(0.0, 1.0, rows),
            "trademark_count": rng.integers(0, 5, rows),
            "audit_district": rng.choice(["north", "south", "east"], rows),
            "audit_size_band": rng.choice(["micro", "small", "large"], rows),
        }
    )
    truth = pd.DataFrame(
        {
            "entity_id": entity_ids,
            "as_of": frame["as_of"],
            "true_prob": true_prob,
            "dominant_driver": dominant,
        }
    )
    return frame, truth


@pytest.fixture(scope="session")
def synthetic_model() -> RiskModel:
    """A real RiskModel fitted on the synthetic task (about a second)."""
    spec = build_spec("wage-arrears", SYNTHETIC_FEATURES, "synthetic-test")
    train, _ = synthetic_frame(3000, seed=1)
    valid, _ = synthetic_frame(1500, seed=2)
    return RiskModel(spec).fit(train, train["label"].to_numpy(), valid, valid["label"].to_numpy())


@pytest.fixture(scope="session")
def synthetic_test_slice() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The synthetic task's test slice and its unit truth."""
    return synthetic_frame(1200, seed=3)


#: When the synthetic reports were trained, as their run says (03:04 UTC is 11:04 in the city)
SYNTHETIC_TRAINED_AT = "2026-01-02 03:04 UTC"


@dataclass(frozen=True)
class BuiltReports:
    """Both editions of a report (language -> HTML) and the moments their build began and ended
    (what its "generated" time must fall between)."""

    pages: dict[str, str]
    started: datetime
    ended: datetime


@pytest.fixture(scope="session")
def synthetic_reports_built(
    synthetic_model: RiskModel, synthetic_test_slice: tuple[pd.DataFrame, pd.DataFrame]
) -> BuiltReports:
    """Both editions of the synthetic task's model report, built once, and when."""
    from training.report import RunInfo, build_reports
    from training.report_metrics import FeatureRoles, Truth

    frame, truth = synthetic_test_slice
    started = datetime.now(UTC)
    pages = build_reports(
        "wage-arrears",
        synthetic_model,
        frame,
        Truth(
            truth,
            drivers=("si_arrears", "electricity_drop", "construction_sector"),
            roles=FeatureRoles.from_document(SYNTHETIC_ROLES_DOCUMENT),
        ),
        RunInfo(
            name="riskloop-wage-arrears",
            version="1",
            alias="champion",
            trained_at=SYNTHETIC_TRAINED_AT,
        ),
    )
    return BuiltReports(pages, started, datetime.now(UTC))


@pytest.fixture(scope="session")
def synthetic_reports(synthetic_reports_built: BuiltReports) -> dict[str, str]:
    """Both editions of the synthetic task's model report (language -> HTML), built once."""
    return synthetic_reports_built.pages


@pytest.fixture(scope="session")
def synthetic_report(synthetic_reports: dict[str, str]) -> str:
    """The model report of the synthetic task (the English edition)."""
    return synthetic_reports["en"]


@pytest.fixture(scope="session")
def synthetic_report_zh(synthetic_reports: dict[str, str]) -> str:
    """The Chinese edition of the synthetic task's model report."""
    return synthetic_reports["zh"]
