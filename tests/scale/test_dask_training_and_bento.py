"""A model fitted with `lightgbm.dask` registers like a local one, and the bundled bento serves it.

One module-level flow, because each step needs the previous one's registry: train with
`lightgbm.dask` on a real two-worker cluster, register; add champions for the other two tasks;
`riskloop bundle --task all`; start two `bentoml serve` replicas of the bento on one shared
warnings store (PostgreSQL when `RISKLOOP_TEST_PG_URL` is set) and score through both at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import lightgbm as lgb
import numpy as np
import pytest
from typer.testing import CliRunner

from features.dataset import build_dataset
from models.registry import load_registered
from models.spec import get_spec
from tests.processes import LOOPBACK_TLS, free_port
from training import tracking
from training.engines import ENGINE_TAG, best_iteration, train_dask
from training.raw_io import load_raw_tables
from training.train import TrainingData, dataset_fingerprint, train_task

REQUESTS_PER_REPLICA = 8
RECORDS_PER_REQUEST = 5


def _data(small_city: Path, task: str) -> TrainingData:
    frame = build_dataset(task, load_raw_tables(small_city, task))
    return TrainingData(frame, str(small_city), dataset_fingerprint(frame))


def test_best_iteration_matches_lightgbm_early_stopping() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + rng.normal(scale=2.0, size=600) > 0).astype(float)
    train = lgb.Dataset(x[:400], y[:400])
    valid = train.create_valid(x[400:], y[400:])
    curve: dict[str, dict[str, list[float]]] = {}
    booster = lgb.train(
        {"objective": "binary", "metric": "binary_logloss", "verbosity": -1, "num_leaves": 15},
        train,
        num_boost_round=300,
        valid_sets=[valid],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(10, verbose=False), lgb.record_evaluation(curve)],
    )
    losses = np.asarray(curve["valid"]["binary_logloss"])
    assert booster.best_iteration < len(losses) + 1
    assert best_iteration(losses, 10) == booster.best_iteration


def _record_frames(task: str, data: TrainingData, n: int) -> list[dict[str, object]]:
    spec = get_spec(task)
    rows = data.frame.tail(n)
    features = rows[list(spec.feature_names)].astype(object)
    records = features.where(features.notna(), None).to_dict(orient="records")
    return [
        {"entity_id": f"{entity}-{i}", **record}
        for i, (entity, record) in enumerate(zip(rows["entity_id"], records, strict=True))
    ]


def _serve(tag: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    bentoml = Path(sys.executable).with_name("bentoml")
    return subprocess.Popen(
        [str(bentoml), "serve", tag, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if (
                httpx.get(
                    f"http://127.0.0.1:{port}/readyz", timeout=2, verify=LOOPBACK_TLS
                ).status_code
                == 200
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"no /readyz on {port}:\n" + log.read_text(errors="replace")[-3000:])


def _installed_distributions() -> set[str]:
    """The environment's installed distributions, read afresh from site-packages."""
    from importlib import metadata

    return {f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()}


def test_dask_model_registers_and_two_bento_replicas_share_the_store(
    small_city: Path,
    isolated_env: Path,
    shared_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.auth import create_key
    from serving.store import WarningStore

    monkeypatch.setenv("RISKLOOP_STORE_URL", shared_db_url)
    monkeypatch.setenv("BENTOML_HOME", str(isolated_env / "bentoml"))
    get_settings.cache_clear()

    spec = get_spec("wage-arrears")
    outcome = train_dask(spec, _data(small_city, "wage_arrears"), max_rounds=40)
    assert outcome.version == 1 and "champion" in outcome.aliases
    run = tracking.tracking_client().get_run(outcome.run_id)
    assert run.data.tags[ENGINE_TAG] == "dask"
    assert run.data.tags["riskloop.registered_version"] == "1"
    loaded, info = load_registered("wage-arrears", "champion")
    assert info.version == 1
    sample = _data(small_city, "wage_arrears").frame.tail(200)
    np.testing.assert_array_equal(loaded.predict_proba(sample), outcome.model.predict_proba(sample))
    assert loaded.model_text() == outcome.model.model_text()

    dispute_data = _data(small_city, "dispute_escalation")
    train_task(get_spec("dispute-escalation"), dispute_data, max_rounds=10)
    train_task(get_spec("telecom-fraud"), _data(small_city, "telecom_fraud"), max_rounds=10)

    from training.cli import app

    installed = _installed_distributions()
    bundled = CliRunner().invoke(app, ["bundle", "--task", "all", "--version", "scaletest"])
    assert bundled.exit_code == 0, bundled.output
    assert "built bento riskloop:scaletest" in bundled.output
    # building installs nothing: BentoML pip-installs uv from the index when it is missing
    assert _installed_distributions() == installed

    key = create_key("replicas", ["score"], isolated_env / "keys.json")
    # The replicas serve the models packaged in the bento: their registry is an empty database.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "RISKLOOP_MODEL_SOURCE": "bento",
        "RISKLOOP_MLFLOW_URI": f"sqlite:///{isolated_env / 'no-registry.db'}",
    }
    ports = [free_port(), free_port()]
    servers = [
        _serve("riskloop:scaletest", port, env, isolated_env / f"serve-{port}.log")
        for port in ports
    ]
    try:
        for port, server in zip(ports, servers, strict=True):
            _wait_ready(port, server, isolated_env / f"serve-{port}.log")
        records = _record_frames(
            "dispute-escalation", dispute_data, 2 * REQUESTS_PER_REPLICA * RECORDS_PER_REQUEST
        )
        batches = [
            records[start : start + RECORDS_PER_REQUEST]
            for start in range(0, len(records), RECORDS_PER_REQUEST)
        ]

        def score(job: tuple[int, list[dict[str, object]]]) -> int:
            port, batch = job
            response = httpx.post(
                f"http://127.0.0.1:{port}/v1/dispute-escalation/score",
                json={"records": batch, "explain": False},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
                verify=LOOPBACK_TLS,
            )
            assert response.status_code == 200, response.text
            results = response.json()["results"]
            assert {r["model"]["version"] for r in results} == {"1"}
            return len(results)

        jobs = [(ports[i % 2], batch) for i, batch in enumerate(batches)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            answered = sum(pool.map(score, jobs))
        assert answered == len(records)
    finally:
        for server in servers:
            os.killpg(server.pid, 15)
        for server in servers:
            server.wait(timeout=30)

    with WarningStore(shared_db_url, load_secrets().pseudonym_secret) as store:
        stored = store.scored_records(task="dispute-escalation")
        assert len(stored) == len(records)
        scored_audits = [row for row in store.audit_rows() if row["action"] == "score_request"]
        assert len(scored_audits) == len(batches)
