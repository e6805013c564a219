"""The service's log says which model versions it serves, and each reload that changes one.

Start-up logged only `Service riskloop initialized`, and a reload (asked for, or the alias
check's) that moved a task to another version wrote nothing to the server log.
"""

from __future__ import annotations

import time

from models.spec import TASK_NAMES

from .conftest import Served

TASK = "dispute-escalation"


def _logged_since(served: Served, offset: int, needle: str) -> str:
    deadline = time.monotonic() + 10  # the worker's log is written as it goes
    text = served.log.read_bytes()[offset:].decode(errors="replace")
    while needle not in text and time.monotonic() < deadline:
        time.sleep(0.2)
        text = served.log.read_bytes()[offset:].decode(errors="replace")
    return text


def test_the_log_names_each_served_version_and_a_reload_that_changes_one(
    served: Served, trained: dict[str, int]
) -> None:
    import mlflow

    from models.settings import get_settings
    from models.spec import get_spec
    from training.datasets import build_from_raw
    from training.train import train_task

    started = served.log.read_text(errors="replace")
    for task in TASK_NAMES:
        name = get_spec(task).registered_model_name
        assert f"serving {task}: {name} version {trained[task]} (alias champion)" in started

    spec = get_spec(TASK)
    uri = get_settings().mlflow_uri
    registry = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    before = registry.get_model_version_by_alias(spec.registered_model_name, "champion").version
    newer = train_task(spec, build_from_raw(spec, served.city), max_rounds=4)
    offset = served.log.stat().st_size
    registry.set_registered_model_alias(spec.registered_model_name, "champion", str(newer.version))
    try:
        with served.client() as client:
            reload = client.post("/v1/admin/reload", headers=served.headers("operator"))
            assert reload.status_code == 200, reload.text
    finally:  # the service is shared: the other tests' champion back
        registry.set_registered_model_alias(spec.registered_model_name, "champion", before)
        with served.client() as client:
            client.post("/v1/admin/reload", headers=served.headers("operator"))

    line = f"reloaded {TASK}: version {before} -> {newer.version} (admin reload by key:operator)"
    logged = _logged_since(served, offset, line)
    assert line in logged, logged[-3000:]
    assert "reloaded wage-arrears" not in logged  # an unchanged task says nothing
    assert "password" not in logged and "sqlite:///" not in logged
