"""`riskloop bundle` reuses a champion already in BentoML's model store only when it is the same
registered version of the same MLflow run: the store is shared by every installation on the
host, and version numbers restart with each registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from models.risk_model import RiskModel
from training.datasets import Splits

_SCRIPT = """
import json

import bentoml

from serving.champions import load_packaged
from training.commands.scale import import_champions

# another installation's model: the same name and version number, another registry's run
decoy = bentoml.picklable_model.save_model(
    "riskloop-wage-arrears",
    {"not": "this registry's model"},
    labels={"task": "wage-arrears", "alias": "champion", "mlflow_version": "1"},
)
first = import_champions(["wage-arrears"])
again = import_champions(["wage-arrears"])
labels = bentoml.models.get(first[0]).info.labels
served = load_packaged("wage-arrears").info()
print(json.dumps({"decoy": str(decoy.tag), "first": first, "again": again, "labels": labels,
                  "promotion": [served.promotion, served.promotion_reason]}))
"""


def test_a_models_version_number_alone_is_not_this_registrys_champion(
    isolated_env: Path, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    import mlflow

    from training.tracking import configure_tracking, log_and_register, tracking_client

    configure_tracking()
    try:
        model, splits = fast_models["wage-arrears"]
        with mlflow.start_run():
            registered = log_and_register(model, splits.test.head(5))
        run_id = tracking_client().get_model_version(registered.name, "1").run_id
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")
    env = {**os.environ, "BENTOML_HOME": str(isolated_env / "bentoml")}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["first"] != [seen["decoy"]]  # imported from this registry, not reused
    assert seen["again"] == seen["first"]  # this registry's own copy is reused
    assert seen["labels"]["mlflow_run_id"] == run_id
    assert seen["labels"]["mlflow_version"] == "1"
    # a bento's `GET /v1/models` says how its champion became one, without the registry
    assert seen["promotion"] == ["first", "first version of wage-arrears"]
