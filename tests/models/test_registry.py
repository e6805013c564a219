"""Registry loading errors name the task and the registry URI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from models.registry import RegistryError, load_registered


def test_missing_champion_names_task_and_uri(isolated_env: Path) -> None:
    uri = f"sqlite:///{isolated_env / 'mlruns.db'}"
    with pytest.raises(RegistryError) as caught:
        load_registered("dispute-escalation", tracking_uri=uri)
    message = str(caught.value)
    assert "dispute-escalation" in message and uri in message and "champion" in message


def _registered(
    registry: Path, monkeypatch: pytest.MonkeyPatch, fit_model_on_synthetic: Any
) -> tuple[str, Any, Any]:
    """A telecom-fraud model logged and registered (its first version: the champion) in a
    SQLite registry in `registry`; its URI, the model and the registered version."""
    import mlflow

    from models.settings import get_settings
    from training.tracking import configure_tracking, log_and_register

    uri = f"sqlite:///{registry / 'mlruns.db'}"
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", uri)
    monkeypatch.setenv("RISKLOOP_ARTIFACT_LOCATION", str(registry / "mlartifacts"))
    get_settings.cache_clear()
    model, frame = fit_model_on_synthetic("telecom-fraud")
    try:
        configure_tracking()
        with mlflow.start_run():
            registered = log_and_register(model, frame.head(5))
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")
        get_settings.cache_clear()
    return uri, model, registered


def test_load_uses_the_given_registry_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fit_model_on_synthetic: Any
) -> None:
    """No global MLflow URI, cwd elsewhere: the download goes through `tracking_uri` alone."""
    registry = tmp_path / "registry"
    uri, model, registered = _registered(registry, monkeypatch, fit_model_on_synthetic)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RISKLOOP_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    script = (
        "import sys\n"
        "from models.registry import load_registered\n"
        "model, info = load_registered('telecom-fraud', tracking_uri=sys.argv[1])\n"
        "print(info.version, model.booster_.num_trees())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, uri],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    version, trees = result.stdout.split()
    assert int(version) == registered.version
    assert int(trees) == model.booster_.num_trees()
    assert sorted(p.name for p in elsewhere.iterdir()) == []


def test_a_registry_that_does_not_answer_is_not_called_a_missing_champion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server down is `RegistryUnavailable` ("not answering"), not "no 'champion' model ...
    train one": the service's reload and `screen` gave that advice when MLflow was down."""
    from models.registry import RegistryUnavailable, load_numbered, load_registered_version
    from models.settings import apply_offline_defaults
    from tests.processes import free_port

    # a refused connection is not retried here: MLflow's default retries (2, backing off 1 s
    # and 2 s, per call) only wait before the same refusal (test_registry_down bounds them)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    apply_offline_defaults()  # the rest of riskloop's MLflow defaults, as its processes have
    uri = f"http://rl:s3cret@127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(RegistryUnavailable) as raised:
        load_registered_version("wage-arrears", "champion", uri)
    message = str(raised.value)
    assert "is not answering" in message and "train one" not in message
    assert "s3cret" not in message and "rl:***@127.0.0.1" in message
    with pytest.raises(RegistryUnavailable, match="is not answering"):
        load_numbered("wage-arrears", "1", uri)


def test_a_registry_database_failing_a_read_is_not_called_a_missing_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fit_model_on_synthetic: Any
) -> None:
    """A SQLite registry the service has open whose read then fails in the database (locked by
    another process for longer than MLflow waits, 20 s; here a table gone, which fails at
    once) is `RegistryUnavailable` naming the database's error: the reload's audit rows said
    "no 'champion' model ... train one" while the champion was there all along."""
    import sqlite3

    from models.registry import RegistryUnavailable, load_registered_version

    registry = tmp_path / "registry"
    uri, _, _ = _registered(registry, monkeypatch, fit_model_on_synthetic)
    _, version = load_registered_version("telecom-fraud", "champion", uri)  # the store open
    with sqlite3.connect(registry / "mlruns.db") as other:
        other.execute("DROP TABLE registered_model_aliases")
    with pytest.raises(RegistryUnavailable) as raised:
        load_registered_version("telecom-fraud", "champion", uri)
    message = str(raised.value)
    assert "no such table: registered_model_aliases" in message, message
    assert "train one" not in message and int(version.version) == 1
