"""Read-only access to riskloop's models in the MLflow registry, and their pyfunc flavour.

Serving and tests load a task's model by alias (`champion`, `challenger`) through
`load_registered`; only `training/` writes to the registry. The pyfunc wrapper makes
`mlflow.pyfunc.load_model("models:/riskloop-<task>@champion").predict(df)` return exactly the
calibrated scores riskloop's own scorer gives.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from models.risk_model import ModelLoadError, RiskModel
from models.settings import get_settings
from models.spec import get_spec

RISK_MODEL_ARTIFACT = "risk_model"
PYFUNC_ENTRY_SOURCE = (
    "from mlflow.models import set_model\n"
    "from models.registry import RiskModelPyfunc\n"
    "set_model(RiskModelPyfunc())\n"
)


class RegistryError(LookupError):
    """A task has no model under the requested alias, or the registry cannot be reached."""


@dataclass(frozen=True)
class ModelVersionInfo:
    """Which registered version a loaded model is."""

    name: str
    version: int
    alias: str
    run_id: str | None
    tracking_uri: str


def registered_model_name(task: str) -> str:
    """`riskloop-<task>` for a task name or slug."""
    return get_spec(task).registered_model_name


def load_registered(
    task: str, alias: str = "champion", tracking_uri: str | None = None
) -> tuple[RiskModel, ModelVersionInfo]:
    """The `RiskModel` registered for `task` under `alias`, with its version information.

    Raises:
        RegistryError: no such registered model or alias (the message names the task and the
            registry URI).
        ModelLoadError: the version exists but its `risk_model` artifact is missing or corrupt.
    """
    from mlflow.exceptions import MlflowException

    uri = tracking_uri or get_settings().mlflow_uri
    spec = get_spec(task)
    name = spec.registered_model_name
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise RegistryError(
            f"no {alias!r} model for task {spec.task} ({name}) in the MLflow registry at {uri}; "
            f"train one with `riskloop train --task {spec.task}`"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="riskloop-model-") as tmp:
        try:
            model_root = _model_artifact_root(client, version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{model_root.rstrip('/')}/artifacts/{RISK_MODEL_ARTIFACT}",
                dst_path=tmp,
                tracking_uri=uri,
            )
        except (MlflowException, OSError) as exc:
            raise ModelLoadError(
                f"cannot download {name} version {version.version} from {uri}: {exc}"
            ) from exc
        model = RiskModel.load(local, spec=spec)
    info = ModelVersionInfo(
        name=name,
        version=int(version.version),
        alias=alias,
        run_id=version.run_id,
        tracking_uri=uri,
    )
    return model, info


def _model_artifact_root(client: mlflow.MlflowClient, version: Any) -> str:
    """Where the version's pyfunc model lives, resolved through `client` only.

    A `models:/...` URI would be resolved against MLflow's process-global registry URI, which
    a caller passing `tracking_uri` has not necessarily set.
    """
    source = str(version.source or "")
    if source.startswith("models:/m-"):
        return str(client.get_logged_model(source.removeprefix("models:/")).artifact_location)
    return str(client.get_model_version_download_uri(version.name, version.version))


class RiskModelPyfunc(PythonModel):
    """MLflow pyfunc flavour of a `RiskModel`: `predict` returns calibrated probabilities.

    Logged as "model from code" (`PYFUNC_ENTRY_SOURCE`), so the registry holds no pickle.
    """

    def load_context(self, context: Any) -> None:
        self.model = RiskModel.load(context.artifacts[RISK_MODEL_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Calibrated scores for a frame with the task's feature columns."""
        return np.asarray(self.model.predict_proba(pd.DataFrame(model_input)), dtype="float64")
