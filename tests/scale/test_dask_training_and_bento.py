"""A model fitted with `lightgbm.dask` registers like a local one, and the bundled bento serves it.

One module-level flow, because each step needs the previous one's registry: train with
`lightgbm.dask` on a real two-worker cluster, register; add champions for the other two tasks;
`riskloop bundle --task all`; start two replicas of the stored bento exactly as `bundle` prints
the command (the bento's own environment, nothing of the test's) on one shared warnings store
(PostgreSQL when `RISKLOOP_TEST_PG_URL` is set) and score through both at once.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import lightgbm as lgb
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from features.dataset import build_dataset
from models.registry import load_registered
from models.spec import get_spec
from tests.processes import LOOPBACK_TLS, stop_process_group
from training import tracking
from training.datasets import TrainingData, dataset_fingerprint
from training.engines import ENGINE_TAG, best_iteration, train_dask
from training.raw_io import load_raw_tables
from training.train import train_task

REQUESTS_PER_REPLICA = 8
RECORDS_PER_REQUEST = 5
#: The loopback ports these tests' servers may use.
PORTS = range(3280, 3300)


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


def _free_ports(count: int) -> list[int]:
    """`count` ports of `PORTS` nobody listens on right now."""
    found: list[int] = []
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise AssertionError(f"fewer than {count} free ports in {PORTS}")


def _bare_environment(**extra: str) -> dict[str, str]:
    """What a person's new shell has: the system's PATH (not this venv's), a HOME, and `extra`;
    no RISKLOOP_* variable and no telemetry switch of the test session's."""
    path = "/usr/local/bin:/usr/bin:/bin"  # the venv's bentoml is named by its path
    return {"PATH": path, "HOME": os.environ.get("HOME", "/root"), **extra}


def _printed_serve_command(output: str, port: int) -> tuple[dict[str, str], list[str]]:
    """The `bentoml serve` line `riskloop bundle` printed, split into the variables it sets and
    the command, on `port` instead of the printed 3000."""
    (line,) = [line for line in output.splitlines() if "bentoml serve " in line]
    words = shlex.split(line)
    assignments = [word for word in words if "=" in word and word.split("=", 1)[0].isupper()]
    command = words[len(assignments) :]
    # this venv's bentoml by its path: a new shell has no venv on its PATH
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    assert command[:2] == [bentoml, "serve"] and command[-2:] == ["--port", "3000"], line
    variables = dict(word.split("=", 1) for word in assignments)
    return variables, [*command[:-1], str(port)]


def _serve(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env=env,
        cwd=log.parent,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stored_files(bento: Path) -> dict[str, bytes]:
    """The stored bento's files and contents (Python's bytecode caches aside)."""
    return {
        str(path.relative_to(bento)): path.read_bytes()
        for path in sorted(bento.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def _refused_start(command: list[str], env: dict[str, str], folder: Path) -> str:
    """Run a start that must be refused: its one line of output, after a prompt exit 2."""
    folder.mkdir()
    log = folder.parent / f"{folder.name}.log"
    server = subprocess.Popen(
        command,
        env=env,
        cwd=folder,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop_process_group(server)
        raise AssertionError(
            "still running after 60 s:\n" + log.read_text(errors="replace")[-3000:]
        ) from None
    output = log.read_text(errors="replace")
    assert server.returncode == 2 and "Traceback" not in output, output[-3000:]
    (line,) = output.strip().splitlines()
    assert list(folder.iterdir()) == []  # nothing made where it was started either
    return line


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
        time.sleep(0.1)
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
    wage_data = _data(small_city, "wage_arrears")
    outcome = train_dask(spec, wage_data, max_rounds=40)
    assert outcome.version == 1 and "champion" in outcome.aliases
    run = tracking.tracking_client().get_run(outcome.run_id)
    assert run.data.tags[ENGINE_TAG] == "dask"
    assert run.data.tags["riskloop.registered_version"] == "1"
    loaded, info = load_registered("wage-arrears", "champion")
    assert info.version == 1
    sample = wage_data.frame.tail(200)
    np.testing.assert_array_equal(loaded.predict_proba(sample), outcome.model.predict_proba(sample))
    assert loaded.model_text() == outcome.model.model_text()

    dispute_data = _data(small_city, "dispute_escalation")
    train_task(get_spec("dispute-escalation"), dispute_data, max_rounds=10)
    train_task(get_spec("telecom-fraud"), _data(small_city, "telecom_fraud"), max_rounds=10)

    from models.secret_keys import secrets_path
    from training.cli import app

    installed = _installed_distributions()
    load_secrets()  # this installation's secrets file, which the replicas must share
    bundled = CliRunner().invoke(app, ["bundle", "--task", "all", "--version", "scaletest"])
    assert bundled.exit_code == 0, bundled.output
    assert "built bento riskloop:scaletest" in bundled.output
    # building installs nothing: BentoML pip-installs uv from the index when it is missing
    assert _installed_distributions() == installed

    # The bento carries its environment, as BentoML 1.4 keeps it: the bento's `envs` and the
    # image's Dockerfile.
    bento = isolated_env / "bentoml" / "bentos" / "riskloop" / "scaletest"
    envs = {
        e["name"]: e["value"] for e in yaml.safe_load((bento / "bento.yaml").read_text())["envs"]
    }
    carried = {
        "RISKLOOP_MODEL_SOURCE": "bento",
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    assert carried.items() <= envs.items()
    dockerfile = (bento / "env" / "docker" / "Dockerfile").read_text()
    for name, value in carried.items():
        assert f"ARG {name}={value}\nENV {name}=${name}\n" in dockerfile
    stored = _stored_files(bento)

    ports = _free_ports(2)
    variables, command = _printed_serve_command(bundled.output, ports[0])
    assert variables["RISKLOOP_SECRETS_FILE"] == str(secrets_path().resolve())
    # Served as a person would with nothing set but where BentoML keeps its bentos: refused
    # at once in one line naming what to set, never a worker restarted forever, and nothing
    # written inside the stored bento (no registry, no secrets file, no warnings database).
    refusal = _refused_start(
        command,
        _bare_environment(BENTOML_HOME=variables["BENTOML_HOME"]),
        isolated_env / "bare-start",
    )
    assert "RISKLOOP_SECRETS_FILE" in refusal and "RISKLOOP_STORE_URL" in refusal, refusal
    # Given every location but a secrets file that does not exist: refused, and none is made.
    missing = isolated_env / "nowhere" / "secrets.json"
    refusal = _refused_start(
        command,
        _bare_environment(**{**variables, "RISKLOOP_SECRETS_FILE": str(missing)}),
        isolated_env / "no-secrets-start",
    )
    assert f"no secrets file at {missing}" in refusal and "RISKLOOP_SECRETS_FILE" in refusal
    assert not missing.parent.exists()
    assert _stored_files(bento) == stored

    # The registry moves on after the bundle: dispute-escalation's champion is now version 2.
    # A replica that can reach it still serves the version packaged in the bento.
    train_task(get_spec("dispute-escalation"), dispute_data, max_rounds=10)
    tracking.tracking_client().set_registered_model_alias(
        get_spec("dispute-escalation").registered_model_name, "champion", "2"
    )
    # and a newer bundle packages it into BentoML's shared model store: the older bento still
    # serves its own champions (its bento.yaml's tags), not the newest packaged ones
    newer = CliRunner().invoke(app, ["bundle", "--task", "all", "--version", "newer"])
    assert newer.exit_code == 0, newer.output
    key = create_key("replicas", ["score"], isolated_env / "keys.json")
    # Exactly the printed command, with only a PATH, a HOME and a registry it could reach.
    env = _bare_environment(RISKLOOP_MLFLOW_URI=os.environ["RISKLOOP_MLFLOW_URI"], **variables)
    servers = []
    for port in ports:
        (isolated_env / f"replica-{port}").mkdir()
        servers.append(
            _serve([*command[:-1], str(port)], env, isolated_env / f"replica-{port}" / "serve.log")
        )
    try:
        for port, server in zip(ports, servers, strict=True):
            _wait_ready(port, server, isolated_env / f"replica-{port}" / "serve.log")
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
            stop_process_group(server)
    assert _stored_files(bento) == stored

    with WarningStore(shared_db_url, load_secrets().pseudonym_secret) as store:
        stored = store.scored_records(task="dispute-escalation")
        assert len(stored) == len(records)
        scored_audits = [row for row in store.audit_rows() if row["action"] == "score_request"]
        assert len(scored_audits) == len(batches)
