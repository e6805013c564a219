"""Read-only access to riskloop's models in the MLflow registry, and their pyfunc flavour.

Serving and tests load a task's model by alias (`champion`, `challenger`) through
`load_registered`; only `training/` writes to the registry. The pyfunc wrapper makes
`mlflow.pyfunc.load_model("models:/riskloop-<task>@champion").predict(df)` return exactly the
calibrated scores riskloop's own scorer gives, on a dataset frame exactly as `build-dataset`
writes it (categories as pandas categories or strings, counts as ints or floats): its
signature, built from the catalog by `catalog_signature`, documents the types datasets really
have, and the wrapper checks its input against the catalog itself (`pyfunc_input`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.catalog import FeatureDef
from features.frame_checks import describe_breaches, rule_breaches
from models.risk_model import (
    META_FILE,
    RISK_MODEL_ARTIFACT,
    FeatureMismatchError,
    ModelLoadError,
    RiskModel,
    checked_meta,
)
from models.settings import database_url_problem, first_line, get_settings, hide_password
from models.spec import TaskSpec, get_spec

PYFUNC_ENTRY_SOURCE = (
    "from mlflow.models import set_model\n"
    "from models.registry import RiskModelPyfunc\n"
    "set_model(RiskModelPyfunc())\n"
)

#: Model version tags telling how a version became champion (`training.promote` and
#: `training.tracking` write them; `riskloop models` reads them, and an API listing may):
#: `riskloop.promotion` is `first` (a task's first version, champion from its training), `rule`
#: (promoted by the promotion rule) or `forced` (`riskloop promote --force` past the rule).
PROMOTION_TAG = "riskloop.promotion"
PROMOTION_REASON_TAG = "riskloop.promotion_reason"
PROMOTED_AT_TAG = "riskloop.promoted_at"
PROMOTION_RUN_TAG = "riskloop.promotion_run"
PROMOTIONS = ("first", "rule", "forced")


#: MLflow column type of each catalog dtype: what datasets hold (categories as their text).
SIGNATURE_TYPES: dict[str, str] = {
    "int": "long",
    "bool": "boolean",
    "category": "string",
    "float": "double",
}


class RegistryError(LookupError):
    """A task has no model under the requested alias, or the registry cannot be reached."""


class RegistryUnavailable(RegistryError):
    """The registry itself cannot be opened (unsupported URI, server down, not a database)."""


@dataclass(frozen=True)
class ModelVersionInfo:
    """Which registered version a loaded model is."""

    name: str
    version: int
    alias: str
    run_id: str | None
    tracking_uri: str
    #: how it became champion (`PROMOTION_TAG`: first, rule or forced) and why; None untagged
    promotion: str | None = None
    promotion_reason: str | None = None


def registered_model_name(task: str) -> str:
    """`riskloop-<task>` for a task name or slug."""
    return get_spec(task).registered_model_name


#: The database schemes MLflow's SQLAlchemy store takes (`mysql+pymysql`, `postgresql+psycopg`...).
_DATABASE_SCHEMES = frozenset({"sqlite", "postgresql", "mysql", "mssql"})


@contextmanager
def mlflow_store_errors(uri: str, store: str = "registry") -> Iterator[None]:
    """An MLflow `store` that cannot be opened (unsupported or malformed URI, database server
    not answering, a file that is not a database) as `RegistryUnavailable` naming the URI."""
    from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException
    from sqlalchemy.exc import SQLAlchemyError

    # a database store's URL SQLAlchemy would misread (an unencoded @ in its password): said
    # in our words before anything connects, the parser's message quoting part of the password
    scheme = uri.partition("://")[0].lower() if "://" in uri else ""
    if scheme and scheme.split("+")[0] in _DATABASE_SCHEMES:
        problem = database_url_problem(uri)
        if problem is not None:
            raise RegistryUnavailable(
                f"cannot open the MLflow {store} at {hide_password(uri)} (RISKLOOP_MLFLOW_URI): "
                f"{problem}"
            )
    try:
        yield
    except (UnsupportedModelRegistryStoreURIException, SQLAlchemyError) as exc:
        raise RegistryUnavailable(
            f"cannot open the MLflow {store} at {hide_password(uri)} (RISKLOOP_MLFLOW_URI): "
            f"{first_line(exc)}"
        ) from exc


def unreachable_because(exc: BaseException, opening: bool = False) -> str | None:
    """Why an MLflow call failed to reach its store, in a few words; None when `exc` is not
    about reaching it (a missing model, a refused request: the caller's own business).

    MLflow's REST client wraps a failed connection (refused, no route, DNS, retries spent) in
    an `MlflowException` raised while handling the `requests` error; its database store wraps
    the database's own error (a SQLite file locked by another process, a PostgreSQL server
    gone) the same way, which says nothing of whether the model is there. While `opening` the
    store, an `OSError` is the store's too (a SQLite file whose folder cannot be made).
    """
    import re

    import requests
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    if opening and isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}"
    if not isinstance(exc, MlflowException):
        return None
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, SQLAlchemyError):  # "database is locked", "connection refused"
        original = cause.orig if isinstance(cause, DBAPIError) else None
        return first_line(original if original is not None else cause)
    if not isinstance(cause, requests.exceptions.RequestException):
        return None
    if isinstance(cause, requests.exceptions.Timeout):
        return "no answer in time"
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(cause))
    return found.group(1).strip() if found else type(cause).__name__


def load_registered_version(task: str, alias: str, uri: str) -> tuple[mlflow.MlflowClient, Any]:
    """A client on `uri` and the model version `alias` names for `task` (nothing downloaded).

    Raises:
        RegistryUnavailable: the registry cannot be opened at all.
        RegistryError: no such registered model or alias.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

    spec = get_spec(task)
    name = spec.registered_model_name
    with mlflow_store_errors(uri):
        try:
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            return client, client.get_model_version_by_alias(name, alias)
        except UnsupportedModelRegistryStoreURIException:
            raise  # an MlflowException too, but the registry itself is unusable
        except MlflowException as exc:
            why = unreachable_because(exc)
            if why is not None:  # the registry is down, not the model missing
                raise RegistryUnavailable(
                    f"the MLflow registry at {hide_password(uri)} (RISKLOOP_MLFLOW_URI) is not "
                    f"answering: {why}"
                ) from exc
            raise RegistryError(
                f"no {alias!r} model for task {spec.task} ({name}) in the MLflow registry at "
                f"{hide_password(uri)}; "
                f"train one with `riskloop train --task {spec.task}`"
            ) from exc


def load_registered(
    task: str, alias: str = "champion", tracking_uri: str | None = None
) -> tuple[RiskModel, ModelVersionInfo]:
    """The `RiskModel` registered for `task` under `alias`, with its version information.

    Raises:
        RegistryError: no such registered model or alias (the message names the task and the
            registry URI).
        ModelLoadError: the version exists but is not a riskloop model of this task, or its
            `risk_model` artifact is missing or corrupt.
    """
    uri = tracking_uri or get_settings().mlflow_uri
    spec = get_spec(task)
    name = spec.registered_model_name
    client, version = load_registered_version(task, alias, uri)
    model = load_version(client, version, uri, spec)
    info = ModelVersionInfo(
        name=name,
        version=int(version.version),
        alias=alias,
        run_id=version.run_id,
        tracking_uri=uri,
        promotion=(version.tags or {}).get(PROMOTION_TAG),
        promotion_reason=(version.tags or {}).get(PROMOTION_REASON_TAG),
    )
    return model, info


def load_numbered(task: str, version: str, uri: str) -> RiskModel:
    """The `RiskModel` of `task`'s registered version number `version` on `uri`.

    Raises:
        RegistryError: the registry cannot be opened, or it has no such version.
        ModelLoadError: the version is not a riskloop model of this task, or cannot be read.
    """
    from mlflow.exceptions import MlflowException

    spec = get_spec(task)
    with mlflow_store_errors(uri):
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            found = client.get_model_version(spec.registered_model_name, str(version))
        except MlflowException as exc:
            why = unreachable_because(exc)
            if why is not None:
                raise RegistryUnavailable(
                    f"the MLflow registry at {hide_password(uri)} (RISKLOOP_MLFLOW_URI) is not "
                    f"answering: {why}"
                ) from exc
            raise RegistryError(
                f"no version {version} of {spec.registered_model_name} in the MLflow registry "
                f"at {hide_password(uri)}"
            ) from exc
    return load_version(client, found, uri, spec)


def load_version(client: mlflow.MlflowClient, version: Any, uri: str, spec: TaskSpec) -> RiskModel:
    """The `RiskModel` of one registered version of `spec`'s model, downloaded through `client`.

    A version registered outside riskloop (another flavour, or another task's model under this
    name) is refused in one line naming the version, not with MLflow's download report.

    Raises:
        ModelLoadError: the version is not a riskloop model of this task, or its `risk_model`
            artifact cannot be downloaded or read.
    """
    label = f"{spec.registered_model_name} version {version.version}"
    with tempfile.TemporaryDirectory(prefix="riskloop-model-") as tmp:
        local = _download(client, version, uri, spec, RISK_MODEL_ARTIFACT, tmp)
        try:
            return RiskModel.load(local, spec=spec)
        except ModelLoadError as exc:
            raise ModelLoadError(f"cannot load {label}: {exc}") from exc


def check_version(client: mlflow.MlflowClient, version: Any, uri: str, spec: TaskSpec) -> None:
    """Refuse, as `load_version` would, a version the service could not load (registered
    outside riskloop, another task's model, features of another catalog), reading only the
    saved model's metadata: no booster is loaded, so a start-up check stays cheap.

    Raises:
        ModelLoadError: as `load_version`.
    """
    label = f"{spec.registered_model_name} version {version.version}"
    with tempfile.TemporaryDirectory(prefix="riskloop-meta-") as tmp:
        local = _download(client, version, uri, spec, f"{RISK_MODEL_ARTIFACT}/{META_FILE}", tmp)
        try:
            checked_meta(Path(local).parent, spec)
        except ModelLoadError as exc:
            raise ModelLoadError(f"cannot load {label}: {exc}") from exc


def _download(
    client: mlflow.MlflowClient, version: Any, uri: str, spec: TaskSpec, path: str, tmp: str
) -> str:
    """`path` under the version's pyfunc artifacts, downloaded into `tmp`; a version without a
    `risk_model` artifact (registered outside riskloop), or whose artifacts are not where the
    registry records them, refused in one line."""
    from mlflow.exceptions import MlflowException

    label = f"{spec.registered_model_name} version {version.version}"
    try:
        root = _model_artifact_root(client, version).rstrip("/")
        artifacts = f"{root}/artifacts"
        listed = mlflow.artifacts.list_artifacts(artifact_uri=artifacts, tracking_uri=uri)
        if not listed and not mlflow.artifacts.list_artifacts(artifact_uri=root, tracking_uri=uri):
            # the registry records absolute locations (file:///old/folder/mlartifacts/...):
            # an installation moved without them reads as empty, not as another kind of model
            raise ModelLoadError(
                f"{label}'s artifacts are missing (moved or deleted): nothing at "
                f"{hide_password(root)}, where the MLflow registry at {hide_password(uri)} "
                'records them; put them back there, or see docs/operations.md, "Moving to '
                'another folder or machine"'
            )
        if not any(entry.path.rsplit("/", 1)[-1] == RISK_MODEL_ARTIFACT for entry in listed):
            raise ModelLoadError(
                f"{label} is not a riskloop model (it has no {RISK_MODEL_ARTIFACT} "
                "artifact; registered outside riskloop?): point the alias at a version "
                f"`riskloop train --task {spec.task}` registered"
            )
        return str(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{artifacts}/{path}", dst_path=tmp, tracking_uri=uri
            )
        )
    except (MlflowException, OSError, ImportError) as exc:  # ImportError: e.g. an s3://
        # source without boto installed, which a version registered elsewhere can name
        raise ModelLoadError(
            f"cannot download {label} from {hide_password(uri)}: {' '.join(str(exc).split())}"
        ) from exc


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
        """Calibrated scores for a frame (or records) with the task's feature columns.

        MLflow infers no signature from a `DataFrame` hint, so the logged `catalog_signature`
        stands; `pyfunc_input` checks the input against the catalog.
        """
        frame = pyfunc_input(self.model.spec, model_input)
        return np.asarray(self.model.predict_proba(frame), dtype="float64")


class PyfuncInputError(FeatureMismatchError):
    """A pyfunc input column whose values do not fit the catalog; the message names it."""


def catalog_signature(spec: TaskSpec) -> Any:
    """The pyfunc's MLflow signature, from the catalog: feature columns typed as datasets hold them.

    MLflow enforces a column signature strictly before a model sees its input: a `string`
    column refuses pandas categories and a `long` column refuses floats, so a dataset frame as
    `build-dataset` writes it (or read back from CSV) would be refused although the model
    scores it fine. The wrapper checks its input against the catalog itself (`pyfunc_input`),
    so the signature is marked the way MLflow marks the signature of a model that validates
    its own input (one inferred from type hints): MLflow records and shows the types and
    leaves the checking to the model. MLflow 3.17 reads that mark from the MLmodel file;
    `tests/serving/test_pyfunc_contract.py` fails if a version stops honouring it.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    signature = ModelSignature(
        inputs=Schema(
            [ColSpec(SIGNATURE_TYPES[feature.dtype], feature.name) for feature in spec.features]
        ),
        outputs=Schema([ColSpec("double", "score")]),
    )
    signature._is_signature_from_type_hint = True
    return signature


def _text_column(feature: FeatureDef, column: pd.Series) -> None:
    dtype = column.dtype
    if not (
        isinstance(dtype, pd.CategoricalDtype)
        or dtype.kind == "O"
        or pd.api.types.is_string_dtype(dtype)
    ):
        raise PyfuncInputError(
            f"column {feature.name} holds {dtype} values; expected the category as text "
            f"(one of {', '.join(feature.categories)})"
        )
    values = pd.unique(column.dropna().astype("object"))
    unknown = sorted(str(value) for value in values if value not in feature.categories)
    if unknown:
        raise PyfuncInputError(
            f"column {feature.name} holds {', '.join(unknown[:5])}; expected one of "
            f"{', '.join(feature.categories)}"
        )


def _numeric_column(feature: FeatureDef, column: pd.Series) -> None:
    values = column
    if column.dtype == object:  # JSON records: None beside the values (a column of flags
        values = column[column.notna()].infer_objects()  # and None stays object as it is)
        if values.empty:  # every value missing: the model handles them
            return
    kind = "b" if pd.api.types.is_bool_dtype(values.dtype) else values.dtype.kind
    if kind not in "biuf":
        raise PyfuncInputError(
            f"column {feature.name} holds {column.dtype} values; expected "
            f"{'true/false' if feature.dtype == 'bool' else 'numbers'}"
        )
    if kind == "b":
        if feature.dtype != "bool":
            raise PyfuncInputError(f"column {feature.name} holds booleans; expected numbers")
        return
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    present = numbers[~np.isnan(numbers)]
    if feature.dtype == "bool" and not np.isin(present, (0.0, 1.0)).all():
        raise PyfuncInputError(f"column {feature.name} holds numbers other than 0 and 1")
    if feature.dtype == "int" and not (present == np.floor(present)).all():
        raise PyfuncInputError(f"column {feature.name} holds fractions; expected a count")


def pyfunc_input(spec: TaskSpec, data: Any) -> pd.DataFrame:
    """The pyfunc's input as a frame, checked against the catalog column by column.

    Accepted: a frame, records (a list of mappings), columns (a mapping of lists) or one
    record (a mapping of values). Per catalog dtype: `category` as pandas categories or text,
    within the catalog's categories; `int` as integers or floats holding whole numbers; `bool`
    as booleans or 0/1; `float` as any number; missing values (None, NaN) everywhere, as JSON
    records carry them (the model handles them).
    The values are then held to the rules the API and `riskloop score` hold them to
    (`features.frame_checks`): finite numbers within the catalog's `min_value`/`max_value`.
    Extra columns are ignored, as the scorer ignores them, and so is `entity_id`: the pyfunc
    returns scores in row order and joins nothing back to a unit.

    Raises:
        FeatureMismatchError: a feature column is missing.
        PyfuncInputError: a column's values do not fit its catalog entry (named in the message).
    """
    if isinstance(data, Mapping) and not any(map(pd.api.types.is_list_like, data.values())):
        data = [data]  # one record (a column-wise mapping holds lists)
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    missing = [name for name in spec.feature_names if name not in frame.columns]
    if missing:
        raise FeatureMismatchError(
            f"{spec.task}: the input lacks {len(missing)} feature column(s) the model needs: "
            + ", ".join(missing)
        )
    for feature in spec.features:
        if feature.dtype == "category":
            _text_column(feature, frame[feature.name])
        else:
            _numeric_column(feature, frame[feature.name])
    breaches = [b for b in rule_breaches(spec.features, frame) if b.column != "entity_id"]
    if breaches:
        raise PyfuncInputError(describe_breaches(breaches, len(frame)))
    return frame
