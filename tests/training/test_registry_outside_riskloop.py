"""Versions registered or aliased by an MLflow client outside riskloop: every command that loads
a champion says what is wrong in one `error:` line and exit code 2, before doing anything."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.risk_model import RiskModel
from training.cli import app
from training.datasets import Splits


@pytest.fixture(scope="module")
def foreign_store(
    store_made_once: Callable[[Callable[[], None]], Path],
    fast_models: dict[str, tuple[RiskModel, Splits]],
) -> Path:
    """The folder of an MLflow store (made once for the module; each test gets a copy of its
    database) holding each task's riskloop champion, then, set by a plain MlflowClient:
    wage-arrears' champion an sklearn model, dispute-escalation's the telecom-fraud model's
    files."""
    return store_made_once(lambda: _register_foreign_champions(fast_models))


def _register_foreign_champions(fast_models: dict[str, tuple[RiskModel, Splits]]) -> None:
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from training.tracking import configure_tracking, log_and_register

    configure_tracking()
    try:
        for model, splits in fast_models.values():
            with mlflow.start_run():
                log_and_register(model, splits.test.head(5))
        client = mlflow.MlflowClient()
        features = np.arange(20, dtype=float).reshape(10, 2)
        with mlflow.start_run():
            foreign = mlflow.sklearn.log_model(
                LogisticRegression().fit(features, np.arange(10) % 2),
                name="model",
                registered_model_name="riskloop-wage-arrears",
                pip_requirements=["scikit-learn"],
            )
        client.set_registered_model_alias(
            "riskloop-wage-arrears", "champion", str(foreign.registered_model_version)
        )
        fraud = client.get_model_version("riskloop-telecom-fraud", "1")
        copied = client.create_model_version(
            "riskloop-dispute-escalation", fraud.source, run_id=fraud.run_id
        )
        client.set_registered_model_alias("riskloop-dispute-escalation", "champion", copied.version)
        # a version whose files are in an object store this installation has no client for
        client.create_model_version("riskloop-telecom-fraud", "s3://riskloop-elsewhere/model")
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")


@pytest.fixture()
def foreign_champions(isolated_env: Path, foreign_store: Path) -> Path:
    """The test's folder, its MLflow store a copy of `foreign_store`'s (the versions' files
    stay in that folder, read where they were logged; a test's new runs log theirs there
    too). Registering the five versions took most of a second per test."""
    shutil.copyfile(foreign_store / "mlruns.db", isolated_env / "mlruns.db")
    return isolated_env


def _one_error_line(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]


NOT_RISKLOOP = "riskloop-wage-arrears version 2 is not a riskloop model"
OTHER_TASK = "is a telecom-fraud model, not a dispute-escalation one"


@pytest.mark.parametrize(
    ("task", "expected"), [("wage-arrears", NOT_RISKLOOP), ("dispute-escalation", OTHER_TASK)]
)
def test_score_and_report_name_a_champion_that_is_not_the_tasks_riskloop_model(
    foreign_champions: Path, small_city: Path, task: str, expected: str
) -> None:
    import pandas as pd

    rows = foreign_champions / "rows.parquet"
    pd.DataFrame({"entity_id": ["a"]}).to_parquet(rows)
    out = foreign_champions / "out.csv"
    _one_error_line(["score", "--task", task, "--input", str(rows), "--output", str(out)], expected)
    assert not out.exists()
    _one_error_line(["report", "--task", task, "--raw", str(small_city)], expected)


def test_serve_refuses_a_champion_its_workers_could_not_load_before_starting(
    foreign_champions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BentoML would restart the failing worker again and again, a traceback each time."""
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("the service was started"))
    _one_error_line(["serve", "--port", "3999"], NOT_RISKLOOP)


def test_bundle_refuses_to_package_a_champion_that_is_not_a_riskloop_model(
    foreign_champions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENTOML_HOME", str(foreign_champions / "bentoml"))
    _one_error_line(["bundle", "--task", "wage-arrears"], NOT_RISKLOOP)
    _one_error_line(["bundle", "--task", "dispute-escalation"], OTHER_TASK)
    assert not (foreign_champions / "bentoml" / "bentos").exists()


def test_report_on_a_version_in_a_store_without_a_client_is_one_line(
    foreign_champions: Path, small_city: Path
) -> None:
    _one_error_line(
        ["report", "--task", "telecom-fraud", "--version", "2", "--raw", str(small_city)],
        "cannot download riskloop-telecom-fraud version 2",
    )


def test_monitor_names_a_champion_it_cannot_load_instead_of_calling_it_missing(
    foreign_champions: Path,
) -> None:
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.store import WarningStore

    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        store.record_scores(
            actor="system:screen",
            task="wage-arrears",
            model_name="riskloop-wage-arrears",
            model_version="1",
            results=[
                {
                    "entity_id": "E-1",
                    "score": 0.01,
                    "risk_level": "green",
                    "reasons": [],
                    "actions": [],
                    "features": {},
                }
            ],
        )
    _one_error_line(["monitor", "--task", "wage-arrears"], NOT_RISKLOOP)


def test_promote_over_a_champion_it_cannot_load_says_how_to_replace_it(
    foreign_champions: Path, small_city: Path
) -> None:
    """It kept the broken champion with a bare 'cannot be evaluated', not naming `--force`."""
    from serving.store import WarningStore

    WarningStore.from_settings().close()  # the deployment's store, which promote records in
    promote = ["promote", "--task", "wage-arrears", "--raw", str(small_city)]
    kept = CliRunner().invoke(app, promote)
    assert kept.exit_code == 3, kept.output
    assert "kept the champion" in kept.stdout and "champion cannot be evaluated" in kept.stdout
    assert "riskloop promote --task wage-arrears --force" in kept.stdout
    forced = CliRunner().invoke(app, [*promote, "--force"])
    assert forced.exit_code == 0, forced.output
    assert "wage-arrears: promoted" in forced.stdout and "v2 -> v1" in forced.stdout
