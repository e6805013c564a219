"""MLflow wiring for training and promotion: experiment, run contents, model registration.

Only `training/` talks to MLflow's tracking API; `models.registry` reads the registry.
Everything here is called from commands, never at import time.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.registry import PYFUNC_ENTRY_SOURCE, RISK_MODEL_ARTIFACT, catalog_signature
from models.risk_model import RiskModel
from models.settings import Settings, get_settings, sqlite_file
from training.errors import UserError

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHAMPION = "champion"
CHALLENGER = "challenger"
_REQUIREMENT_PACKAGES = ("riskloop", "mlflow", "lightgbm", "numpy", "pandas", "scikit-learn")
# what MLflow prints to stderr as it registers a version; riskloop's own line says it once
_REGISTRATION_LINES = ("Successfully registered model ", "Created version ", "Registered model ")


@contextmanager
def _without_registration_lines() -> Iterator[None]:
    """Run the block with stderr caught, then pass on every line of it except MLflow's
    registration notices (warnings and anything else reach the terminal as written)."""
    caught = io.StringIO()
    try:
        with redirect_stderr(caught):
            yield
    finally:
        for line in caught.getvalue().splitlines(keepends=True):
            if not line.startswith(_REGISTRATION_LINES):
                sys.stderr.write(line)


@contextmanager
def registry_errors(uri: str | None = None, *, opening: bool = False) -> Iterator[None]:
    """The MLflow store at `uri` (default: the settings') that cannot be opened or reached, as
    one `UserError` naming it (password hidden): an unsupported or malformed URI or a database
    that is not one (`models.registry.mlflow_store_errors`), a server that does not answer, and
    while `opening` it a SQLite file whose folder cannot be made.

    `configure_tracking` and `tracking_client` open the store in it, and every command that
    reads the registry runs its body in it, so a store going away mid-command is one line too.
    """
    from models.registry import RegistryUnavailable, mlflow_store_errors, unreachable_because
    from models.settings import hide_password

    where = uri or get_settings().mlflow_uri
    try:
        with mlflow_store_errors(where, "tracking store"):
            yield
    except RegistryUnavailable as exc:
        raise UserError(str(exc)) from None
    except Exception as exc:
        why = unreachable_because(exc, opening)
        if why is None:
            raise
        verb = "open" if isinstance(exc, OSError) else "reach"
        raise UserError(
            f"cannot {verb} the MLflow registry at {hide_password(where)} "
            f"(RISKLOOP_MLFLOW_URI): {why}"
        ) from None


def configure_tracking(*, existing: bool = False) -> str:
    """Point MLflow at the settings' store and ensure riskloop's experiment exists; its id.

    With `existing` (a command that only reads the registry), a SQLite registry whose file is
    not there is refused, not made (`require_registry`); `train` and `tune` make one.
    """
    import mlflow

    if existing:
        require_registry()
    settings = get_settings()
    mlflow.set_tracking_uri(settings.mlflow_uri)
    mlflow.set_registry_uri(settings.mlflow_uri)
    with registry_errors(settings.mlflow_uri, opening=True):
        return _ensure_experiment(settings)


def _ensure_experiment(settings: Settings) -> str:
    """riskloop's experiment id, created on first use (with its artifact location)."""
    import mlflow

    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is None:
        # A tracking server keeps artifacts in its own shared store (`mlflow-artifacts:/`)
        # unless told otherwise; a local default path would strand them on this machine.
        remote = settings.mlflow_uri.startswith(("http://", "https://"))
        location = None
        if settings.artifact_location is not None or not remote:
            location = _artifact_uri(settings.resolved_artifact_location)
        experiment_id = mlflow.create_experiment(settings.experiment, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def _artifact_uri(location: str) -> str:
    """A local path becomes a `file://` URI; URIs (s3://, http://, file://) pass through."""
    if "://" in location:
        return location
    return Path(location).resolve().as_uri()


def tracking_client() -> MlflowClient:
    """A client on the settings' tracking and registry URI."""
    from mlflow import MlflowClient

    uri = get_settings().mlflow_uri
    with registry_errors(uri, opening=True):
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


def require_registry() -> None:
    """For a command that only reads the registry (`models`, `score`, `promote`, `report`,
    `screen`, `serve`, `monitor`, `bundle`): a SQLite registry whose file is not there is
    refused in one line. MLflow would create an empty one (and its folder) on opening, and the
    command then reported "no model registered" or advised training into a store made by a
    typo."""
    uri = get_settings().mlflow_uri
    location = sqlite_file(uri)
    if location is None or location.is_file():
        return
    what = "is a folder, not a database file" if location.is_dir() else "does not exist"
    raise UserError(
        f"no MLflow registry at {uri} (RISKLOOP_MLFLOW_URI): {location.absolute()} {what}; "
        "check the setting, or create it with `riskloop train` or `riskloop run`"
    )


def check_registry() -> None:
    """Read the settings' registry once, so that a command that only reads it (`score`) says
    in one line that it cannot be reached, before any work (`registry_errors`)."""
    require_registry()
    with registry_errors(opening=True):
        tracking_client().search_registered_models(max_results=1)


def git_commit() -> str | None:
    """The commit of the code that trained the model, or None outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def pip_requirements() -> list[str]:
    """Exact versions of what the pyfunc model needs (saves MLflow's slow inference step)."""
    return [f"{name}=={metadata.version(name)}" for name in _REQUIREMENT_PACKAGES]


def finite_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """MLflow-loggable metrics: NaN (undefined, e.g. no oracle) are left out."""
    return {key: float(value) for key, value in metrics.items() if math.isfinite(value)}


def signature_frame(model: RiskModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Feature columns as an API caller sends them: the catalog's types, categories as text.

    The pyfunc's input example, which MLflow checks against the logged signature, so counts
    become int64 and flags bool (a frame of floats, as a synthetic one may be, is converted;
    rows with a missing count or flag cannot be, see `example_rows`). The pyfunc itself also
    takes the dataset frame as it is.
    """
    columns: dict[str, Any] = {}
    for feature in model.spec.features:
        column = frame[feature.name]
        if feature.dtype == "category":
            columns[feature.name] = column.astype("object").where(column.notna(), None)
        elif feature.dtype == "int":
            columns[feature.name] = pd.to_numeric(column.astype("object")).astype("int64")
        elif feature.dtype == "bool":
            columns[feature.name] = column.astype("bool")
        else:
            columns[feature.name] = pd.to_numeric(column.astype("object")).astype("float64")
    return pd.DataFrame(columns).reset_index(drop=True)


def example_rows(model: RiskModel, frame: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Up to `n` made-up rows to serve as the input example: no unit's row, no missing count or flag.

    MLflow keeps the example beside the model (`input_example.json`, `serving_input_example.json`,
    readable by anyone who reads the artifact store), so it must not be real rows: the first
    rows of the test slice were units' rows, at positions that name them in the dataset file.
    Each value of an example row comes from another randomly chosen row of `frame` (unseeded,
    so nothing logged reproduces the draw), so the example keeps the columns' types and
    plausible values but is no unit's row. MLflow's `long` and `boolean` columns have no
    missing value, and MLflow checks the example against the signature when the model is
    logged, so counts and flags are drawn from rows where they are present.
    """
    rng = np.random.default_rng()
    names = model.spec.feature_names
    strict = {f.name for f in model.spec.features if f.dtype in ("int", "bool")}
    pools = {
        name: np.flatnonzero(frame[name].notna().to_numpy())
        if name in strict
        else np.arange(len(frame))
        for name in names
    }
    if any(len(pool) == 0 for pool in pools.values()):
        return frame.loc[:, list(names)].iloc[0:0]
    picks: dict[str, list[int]] = {name: [] for name in names}
    for _ in range(min(n, len(frame))):
        used: set[int] = set()  # the row's values come from distinct rows, as far as there are
        for name in names:
            pool = pools[name]
            # a row used already is drawn again, at most len(names) times: a large pool gives
            # a fresh row at once, a pool of few rows lets one repeat (`np.setdiff1d` over the
            # whole pool for each value took seconds on a default city's test slice)
            for _attempt in range(len(names)):
                position = int(pool[rng.integers(len(pool))])
                if position not in used:
                    break
            used.add(position)
            picks[name].append(position)
    return pd.DataFrame(
        {name: frame[name].iloc[picks[name]].reset_index(drop=True) for name in names}
    )


@dataclass(frozen=True)
class RegisteredVersion:
    """A freshly registered model version and the aliases it received."""

    name: str
    version: int
    aliases: tuple[str, ...]


def log_and_register(model: RiskModel, candidate_rows: pd.DataFrame) -> RegisteredVersion:
    """Log `model` as pyfunc in the active run, register it and set its aliases.

    The new version becomes `challenger`; the first version of a task also becomes `champion`.
    """
    import mlflow

    name = model.spec.registered_model_name
    rows = example_rows(model, candidate_rows)
    # records, the form MLflow's scoring server hands a model that checks its own input
    # (`inputs`), so the saved serving example is one that `mlflow models serve` accepts
    example = (
        json.loads(signature_frame(model, rows).to_json(orient="records")) if len(rows) else None
    )
    signature = catalog_signature(model.spec)
    with tempfile.TemporaryDirectory(prefix="riskloop-save-") as tmp:
        saved = model.save(Path(tmp) / RISK_MODEL_ARTIFACT)
        entry = Path(tmp) / "riskloop_pyfunc.py"
        entry.write_text(PYFUNC_ENTRY_SOURCE, encoding="utf-8")
        with _without_registration_lines():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(entry),
                artifacts={RISK_MODEL_ARTIFACT: str(saved)},
                signature=signature,
                input_example=example,
                pip_requirements=pip_requirements(),
                registered_model_name=name,
            )
    version = int(info.registered_model_version)
    client = tracking_client()
    if not client.get_registered_model(name).description:
        client.update_registered_model(name, description=model_description(model))
    client.update_model_version(name, str(version), description=version_description(model))
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    aliases = [CHALLENGER]
    if alias_version(name, CHAMPION) is None:
        client.set_registered_model_alias(name, CHAMPION, str(version))
        record_promotion(name, version, "first", f"first version of {model.spec.task}", "")
        aliases.append(CHAMPION)
    return RegisteredVersion(name=name, version=version, aliases=tuple(aliases))


def model_description(model: RiskModel) -> str:
    """The registered model's description: what it predicts and how its versions move."""
    spec = model.spec
    return (
        f"riskloop's {spec.task} risk model: the probability that a {spec.unit} meets "
        f"'{spec.label}' within the label horizon. `riskloop train` registers each version "
        "(alias challenger); `riskloop promote` moves the alias champion, the version served."
    )


def version_description(model: RiskModel) -> str:
    """A version's description: when it was trained and its test-slice figures."""
    import time

    metrics = model.metrics_ or {}
    figures = ", ".join(
        f"{label} {metrics[key]:.4f}"
        for key, label in (("roc_auc", "ROC-AUC"), ("ece", "ECE"))
        if key in metrics
    )
    rows = f" on {int(metrics['n_rows']):,} held-out rows" if "n_rows" in metrics else ""
    return (
        f"Trained {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by riskloop train "
        f"(catalog {model.spec.catalog_version})" + (f"; test {figures}{rows}." if figures else ".")
    )


def record_promotion(name: str, version: int, how: str, reason: str, run_id: str) -> None:
    """Tag `version` with how it became champion (`models.registry.PROMOTION_TAG`: first, rule
    or forced), why, when and by which promotion run, and add that to its description."""
    import time

    from models.registry import (
        PROMOTED_AT_TAG,
        PROMOTION_REASON_TAG,
        PROMOTION_RUN_TAG,
        PROMOTION_TAG,
    )

    client = tracking_client()
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tags = {PROMOTION_TAG: how, PROMOTION_REASON_TAG: reason, PROMOTED_AT_TAG: when}
    if run_id:
        tags[PROMOTION_RUN_TAG] = run_id
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    became = {
        "first": "champion from its training (the task's first version)",
        "rule": f"promoted to champion by the promotion rule ({reason})",
        "forced": f"FORCED to champion past the promotion rule ({reason})",
    }[how]
    before = client.get_model_version(name, str(version)).description or ""
    client.update_model_version(
        name, str(version), description=f"{before} {when}: {became}.".strip()
    )


def alias_version(name: str, alias: str) -> int | None:
    """The version number holding `alias`, or None."""
    from mlflow.exceptions import MlflowException

    from models.registry import unreachable_because

    try:
        return int(tracking_client().get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if unreachable_because(exc) is not None:
            raise  # not "no such alias": the store (`registry_errors` says it in one line)
        return None


def log_importance(importance: dict[str, float]) -> None:
    """Mean |SHAP| per feature, as a JSON artifact and as `shap_<feature>` metrics."""
    import mlflow

    mlflow.log_dict(dict(sorted(importance.items(), key=lambda kv: -kv[1])), "importance.json")
    mlflow.log_metrics({f"shap_{name}": float(np.round(v, 8)) for name, v in importance.items()})
