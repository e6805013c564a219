"""The registry keeps its contract: each champion's pyfunc scores a dataset as built, like the service.

A data scientist's first move with a registered model is
`mlflow.pyfunc.load_model("models:/riskloop-<task>@champion").predict(frame)` on the project's
own dataset: counts as int64, flags as bool, categories as pandas categories, exactly as
`riskloop build-dataset` wrote them. The scores must equal the running service's for the same
rows, and the logged signature must state the catalog's types.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.catalog import features
from models.registry import SIGNATURE_TYPES, PyfuncInputError
from tests.processes import LOOPBACK_TLS, free_port, stop_process_group
from training.cli import app

from .conftest import TASKS, Served
from .test_service import as_records, score

ROWS = 60


@pytest.fixture(scope="module")
def built(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """Each task's labelled dataset written by `riskloop build-dataset` and read back as is."""
    out = tmp_path_factory.mktemp("datasets")
    frames = {}
    for task in TASKS:
        path = out / f"{task}.parquet"
        result = CliRunner().invoke(
            app, ["build-dataset", "--task", task, "--raw", str(small_city), "--out", str(path)]
        )
        assert result.exit_code == 0, result.output
        frames[task] = pd.read_parquet(path).tail(ROWS).reset_index(drop=True)
    return frames


def _champion(served: Served, task: str) -> mlflow.pyfunc.PyFuncModel:
    from models.settings import get_settings

    mlflow.set_tracking_uri(get_settings().mlflow_uri)
    mlflow.set_registry_uri(get_settings().mlflow_uri)
    return mlflow.pyfunc.load_model(f"models:/riskloop-{task}@champion")


def _served_scores(served: Served, task: str, frame: pd.DataFrame) -> np.ndarray:
    response = score(served, task, {"records": as_records(task, frame), "explain": False})
    assert response.status_code == 200, response.text
    return np.array([result["score"] for result in response.json()["results"]])


@pytest.mark.parametrize("task", TASKS)
def test_the_champion_scores_the_built_dataset_like_the_service(
    served: Served, built: dict[str, pd.DataFrame], task: str
) -> None:
    frame = built[task]
    kinds = {feature.dtype for feature in features(task)}
    for feature in features(task):  # the frame is the dataset's own types, not a cast copy
        dtype = frame[feature.name].dtype
        if feature.dtype == "category":
            assert isinstance(dtype, pd.CategoricalDtype), feature.name
        elif feature.dtype == "int":
            assert dtype == np.int64, feature.name
        elif feature.dtype == "bool":
            assert dtype == np.bool_, feature.name
    assert "category" in kinds or "int" in kinds

    pyfunc = _champion(served, task)
    expected = _served_scores(served, task, frame)

    np.testing.assert_allclose(np.asarray(pyfunc.predict(frame)), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("task", TASKS)
def test_categories_as_text_and_counts_as_floats_score_the_same(
    served: Served, built: dict[str, pd.DataFrame], task: str, tmp_path: Path
) -> None:
    """What a CSV round trip gives: categories as strings; counts as floats (as with a gap)."""
    frame = built[task]
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    from_csv = pd.read_csv(path)
    ints = [f.name for f in features(task) if f.dtype == "int"]
    as_floats = from_csv.astype(dict.fromkeys(ints, "float64"))
    pyfunc = _champion(served, task)
    expected = np.asarray(pyfunc.predict(frame))
    for variant in (from_csv, as_floats):
        np.testing.assert_allclose(np.asarray(pyfunc.predict(variant)), expected, atol=1e-12)


@pytest.mark.parametrize("task", TASKS)
def test_json_records_with_nulls_score_like_the_service(
    served: Served, built: dict[str, pd.DataFrame], task: str
) -> None:
    """Records as a client sends them over JSON: a flag or a number missing as null in some
    rows, and a number missing in every row (as a one-record request with a gap sends it).
    The pyfunc refused both ("holds object values"), while the API scored them."""
    frame = built[task].head(12)
    records = as_records(task, frame)
    flag = next((f.name for f in features(task) if f.dtype == "bool"), None)
    numbers = [f.name for f in features(task) if f.dtype in ("int", "float")]
    for index, record in enumerate(records):
        record.pop("entity_id")
        if flag is not None and index % 3 == 0:
            record[flag] = None
        record[numbers[0]] = None  # missing everywhere
        for name in (f.name for f in features(task)):
            record.setdefault(name, None)  # what as_records left out: null, as JSON says
    expected = _served_scores(served, task, frame.assign(**{numbers[0]: np.nan}))
    if flag is not None:
        expected = _served_scores(
            served,
            task,
            frame.assign(
                **{numbers[0]: np.nan},
                **{flag: [None if i % 3 == 0 else v for i, v in enumerate(frame[flag])]},
            ),
        )
    pyfunc = _champion(served, task)
    for sent in (records, pd.DataFrame(records)):
        np.testing.assert_allclose(np.asarray(pyfunc.predict(sent)), expected, atol=1e-12)
    one = np.asarray(pyfunc.predict(records[0]))  # one record as a mapping
    np.testing.assert_allclose(one, expected[:1], atol=1e-12)


@pytest.mark.parametrize("task", TASKS)
def test_the_signature_states_the_catalogs_types(served: Served, task: str) -> None:
    schema = _champion(served, task).metadata.get_input_schema()
    logged = {spec.name: spec.type.name for spec in schema.inputs}
    assert logged == {f.name: SIGNATURE_TYPES[f.dtype] for f in features(task)}


def test_values_outside_the_catalog_are_refused_naming_the_column(
    served: Served, built: dict[str, pd.DataFrame]
) -> None:
    task = next(t for t in TASKS if any(f.dtype == "category" for f in features(t)))
    frame = built[task]
    pyfunc = _champion(served, task)
    category = next(f for f in features(task) if f.dtype == "category")
    unknown = frame.assign(**{category.name: "no-such-category"})
    with pytest.raises(PyfuncInputError, match=f"column {category.name} holds no-such-category"):
        pyfunc.predict(unknown)
    count = next((f for t in TASKS for f in features(t) if f.dtype == "int"), None)
    assert count is not None
    count_task = next(t for t in TASKS if count in features(t))
    fractional = built[count_task].assign(**{count.name: 0.5})
    with pytest.raises(PyfuncInputError, match=f"column {count.name} holds fractions"):
        _champion(served, count_task).predict(fractional)
    with pytest.raises(ValueError, match="lacks 1 feature column"):
        pyfunc.predict(frame.drop(columns=[category.name]))


def test_mlflow_models_serve_takes_records_and_answers_like_the_service(
    served: Served, built: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    """The champion behind MLflow's own scoring server: `inputs` records, the service's scores."""
    from models.settings import get_settings

    task = TASKS[0]
    frame = built[task].head(20)
    records = [{k: v for k, v in r.items() if k != "entity_id"} for r in as_records(task, frame)]
    uri = get_settings().mlflow_uri
    port = free_port()
    log = tmp_path / "mlflow-serve.log"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
    command = [mlflow_cli, "models", "serve", "-m", f"models:/riskloop-{task}@champion"]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/ping", timeout=2, verify=LOOPBACK_TLS).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        answer = httpx.post(
            f"{url}/invocations", json={"inputs": records}, timeout=60, verify=LOOPBACK_TLS
        )
        assert answer.status_code == 200, answer.text + log.read_text()[-2000:]
        got = np.asarray(answer.json()["predictions"], dtype="float64")
        np.testing.assert_allclose(got, _served_scores(served, task, frame), rtol=0, atol=1e-12)
        split = {"dataframe_split": {"columns": list(records[0]), "data": []}}
        refused = httpx.post(f"{url}/invocations", json=split, timeout=60, verify=LOOPBACK_TLS)
        assert refused.status_code == 400 and "inputs" in refused.text
    finally:
        stop_process_group(process)
