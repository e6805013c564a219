"""Session-wide fixtures: an isolated environment and a small simulated city generated once."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer.testing

from tests.browser import BROWSER_ARGS, executable

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# Argon2id at its least cost in this process and the services and commands it starts (the same
# hashing code; the default's RFC 9106 cost, and production's refusal of less, are tested in
# tests/serving/store/test_password_cost.py): at the default cost the suite's ~600 hashes and
# checks took about 150 s of its two cores.
os.environ.setdefault("RISKLOOP_PASSWORD_TIME_COST", "1")
os.environ.setdefault("RISKLOOP_PASSWORD_PARALLELISM", "1")
os.environ.setdefault("RISKLOOP_PASSWORD_MEMORY_KIB", "8")

SMALL_CITY_SEED = 7

# typer's CliRunner rebuilds an app's click command tree at every `invoke` (about 30 ms for
# riskloop's, a thousand times a run); the tree depends on the app alone, so it is built once
# per app and process. What a command reads at run time (options, environment) is still read
# at each invoke.
typer.testing._get_command = functools.cache(typer.testing._get_command)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` (make test) as xdist does it, a test file per work unit, except that the
    tests sharing a session-wide service are one unit (tests/scheduling.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.scheduling import SharedServiceScheduling

    return SharedServiceScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In xdist's workers: the tests sharing a service first, so their long units start at once,
    then the long files, and the rest fill in around them (the controller queues units in
    collection order: tests/scheduling.py)."""
    if hasattr(config, "workerinput"):
        from tests.scheduling import queue_rank

        items.sort(key=lambda item: queue_rank(item.nodeid))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what tests asked to show in the run's output (`("printed", text)` in their
    `user_properties`): a test's own prints are lost when a worker process runs it."""
    for reports in list(terminalreporter.stats.values()):
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, text in getattr(report, "user_properties", ()):
                if name == "printed":
                    terminalreporter.write_sep("-", report.nodeid)
                    terminalreporter.write_line(str(text))


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small clean-profile city (all three tasks), generated once per test session.

    Clean: the tests that use it check the additive city's documented structure (each driver
    moves the truth its way, calibrated labels, the fidelity figures); the realistic profile
    has its own fixture.
    """
    from data_samples.city import generate_city

    out = tmp_path_factory.mktemp("city") / "small"
    generate_city(out, size="small", seed=SMALL_CITY_SEED, profile="clean")
    return out


@pytest.fixture(scope="session")
def realistic_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small realistic-profile city (the default profile), generated once per session."""
    from data_samples.city import generate_city

    out = tmp_path_factory.mktemp("city") / "realistic"
    generate_city(out, size="small", seed=SMALL_CITY_SEED, profile="realistic")
    return out


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store as MLflow makes it (tracking and registry tables at its
    current schema), made once per session. MLflow makes a new store by running its schema
    migrations, seconds each time on a slow machine; `isolated_env` starts from a copy."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow-empty") / "mlruns.db"
    uri = f"sqlite:///{path}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments()
    client.search_registered_models()
    return path


@pytest.fixture()
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_mlflow_store: Path) -> Path:
    """Point every riskloop store (MLflow, Optuna, warnings, keys) at a fresh temp folder; its
    MLflow store starts empty (a copy of `empty_mlflow_store`)."""
    from models.settings import get_settings

    shutil.copyfile(empty_mlflow_store, tmp_path / "mlruns.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    monkeypatch.setenv("RISKLOOP_ARTIFACT_LOCATION", str(tmp_path / "mlartifacts"))
    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{tmp_path / 'riskloop.db'}")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("RISKLOOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RISKLOOP_REPORTS_DIR", str(tmp_path / "reports"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def browser() -> Any:
    """Debian's headless Chromium (`tests.browser.executable`) through Playwright (no browser
    download), launched once per test process and shared by every test that drives pages (the
    console's, the reports'): Playwright's sync API runs one instance per thread, so a second
    one started beside it failed. Every test opens its own contexts (cookies, storage) and
    closes them; a launch costs about 2 s of CPU."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable(), headless=True, args=BROWSER_ARGS
        )
        yield launched
        launched.close()
