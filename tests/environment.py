"""This process's riskloop settings pointed at a set of stores for a block, then put back.

A plain module (conftests are not importable under `--import-mode=importlib`). Fixtures that
own stores (the serving, console and end-to-end suites) use it for the tests of their own
folder only, module by module, never for the rest of the session: a session fixture that left
`os.environ` pointed at its stores made the outcome of other suites depend on which ran first.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest


def service_env(root: Path) -> dict[str, str]:
    """Environment pointing every riskloop store at `root` (same variables as `isolated_env`)."""
    return {
        "RISKLOOP_ENV": "test",
        "RISKLOOP_MLFLOW_URI": f"sqlite:///{root / 'mlruns.db'}",
        "RISKLOOP_ARTIFACT_LOCATION": str(root / "mlartifacts"),
        "RISKLOOP_STORE_URL": f"sqlite:///{root / 'riskloop.db'}",
        "RISKLOOP_KEYS_FILE": str(root / "keys.json"),
        "RISKLOOP_DATA_DIR": str(root / "data"),
        "RISKLOOP_REPORTS_DIR": str(root / "reports"),
        "RISKLOOP_RELOAD_INTERVAL_S": "3600",
        # every sign-in of a suite comes from 127.0.0.1: its failed ones (lockout tests) must
        # not hold the others back (the throttle is tested on a service of its own:
        # tests/serving/test_second_service.py)
        "RISKLOOP_SIGN_IN_THROTTLE_FAILURES": "1000",
        # the score helper whatever the machine's cores (its default: on with more than one)
        "RISKLOOP_SCORE_HELPER": "1",
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "BENTOML_HOME": str(root / "bentoml"),
    }


def stores_root(factory: pytest.TempPathFactory, name: str, empty_mlflow_store: Path) -> Path:
    """A new temp folder for a suite's stores, its MLflow store a copy of the empty one."""
    root = factory.mktemp(name)
    shutil.copyfile(empty_mlflow_store, root / "mlruns.db")
    return root


@contextmanager
def settings_env(env: Mapping[str, str]) -> Iterator[None]:
    """Set `env` in this process (and drop cached settings) for the block; restore after."""
    from models.settings import get_settings

    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            get_settings.cache_clear()
            yield
    finally:
        get_settings.cache_clear()
