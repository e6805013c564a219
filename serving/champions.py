"""The champions the service keeps warm: loading each task's alias from the registry or the
bento, and asking which version the alias points at now."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import bentoml

from models.explanation_cache import ExplanationCache
from models.risk_model import RISK_MODEL_ARTIFACT, RiskModel
from models.settings import Settings, get_settings
from models.spec import get_spec
from serving import schemas
from serving.encoding import RecordEncoder

ALIAS = "champion"


@dataclass(frozen=True)
class ServedModel:
    """A warm model and what the service says about it."""

    task: str
    model: RiskModel
    name: str
    version: str
    alias: str
    loaded_at: datetime
    encoder: RecordEncoder
    last_reload_error: str | None = None
    #: how the version became champion (first, rule or forced) and why, from its registry tags
    promotion: str | None = None
    promotion_reason: str | None = None
    #: this version's explanations of materialised entities, by exact feature row
    explanations: ExplanationCache = field(
        default_factory=lambda: ExplanationCache(get_settings().explanation_cache_rows)
    )

    @property
    def ref(self) -> dict[str, str]:
        """The model as each result names it."""
        return {"name": self.name, "version": self.version, "alias": self.alias}

    def info(self) -> schemas.ModelInfo:
        return schemas.ModelInfo(
            task=self.task,
            name=self.name,
            version=self.version,
            alias=self.alias,
            loaded_at=self.loaded_at,
            metrics=dict(self.model.metrics_),
            thresholds={str(k): v for k, v in self.model.thresholds_.as_dict().items()},
            catalog_version=self.model.spec.catalog_version,
            last_reload_error=self.last_reload_error,
            promotion=_PROMOTIONS.get(self.promotion or ""),
            promotion_reason=self.promotion_reason,
        )


#: a registry tag's value as the API states it (another value, or none, is null)
_PROMOTIONS: dict[str, Literal["first", "rule", "forced"]] = {
    "first": "first",
    "rule": "rule",
    "forced": "forced",
}


def load_champion(task: str, settings: Settings) -> ServedModel:
    if settings.model_source == "bento":
        return load_packaged(task)
    from models.registry import load_registered  # MLflow: not imported by bento replicas

    model, version = load_registered(task, alias=ALIAS, tracking_uri=settings.mlflow_uri)
    return ServedModel(
        task=task,
        model=model,
        name=version.name,
        version=str(version.version),
        alias=version.alias,
        loaded_at=datetime.now(UTC),
        encoder=RecordEncoder.for_spec(model.spec),
        promotion=version.promotion,
        promotion_reason=version.promotion_reason,
    )


#: the model tags of the bento being served, by model name (`pin_packaged_models`)
_PINNED: dict[str, str] = {}


def pin_packaged_models(tags: dict[str, str]) -> None:
    """Serve the model versions the bento was built with (its `bento.yaml`), by name. Served
    from BentoML's shared model store, `:latest` was whatever the newest `riskloop bundle`
    packaged, not this bento's champions."""
    _PINNED.clear()
    _PINNED.update(tags)


def _packaged(task: str) -> Any:
    """The champion `riskloop bundle` packaged for `task` (BentoML's model store or the bento):
    the bento's own version when one is pinned, else the newest."""
    name = f"riskloop-{task}"
    return bentoml.models.get(_PINNED.get(name, f"{name}:latest"))


def load_packaged(task: str) -> ServedModel:
    """A champion packaged in the bento: a replica needs no access to the registry."""
    stored = _packaged(task)
    folder = Path(stored.path) / "mlflow_model" / "artifacts" / RISK_MODEL_ARTIFACT
    model = RiskModel.load(folder, spec=get_spec(task))
    return ServedModel(
        task=task,
        model=model,
        name=f"riskloop-{task}",
        version=str(stored.info.labels.get("mlflow_version", stored.tag.version)),
        alias=str(stored.info.labels.get("alias", ALIAS)),
        loaded_at=datetime.now(UTC),
        encoder=RecordEncoder.for_spec(model.spec),
        # what `riskloop bundle` copied from the registry's tags (none in older bentos)
        promotion=stored.info.metadata.get("promotion"),
        promotion_reason=stored.info.metadata.get("promotion_reason"),
    )


def alias_version(task: str, settings: Settings) -> str:
    """The version the registry's alias points at now (a metadata query, no download).

    Raises:
        RegistryError: the alias (or the registered model) is gone; the message names the task
            and the registry, as at start-up.
    """
    if settings.model_source == "bento":
        stored = _packaged(task)
        return str(stored.info.labels.get("mlflow_version", stored.tag.version))

    from models.registry import load_registered_version

    _, version = load_registered_version(task, ALIAS, settings.mlflow_uri)
    return str(version.version)


class WarmModel(Protocol):
    """What `model_of_version` needs of a warm model (a `ServedModel`)."""

    @property
    def task(self) -> str: ...

    @property
    def model(self) -> RiskModel: ...

    @property
    def version(self) -> str: ...


#: Earlier versions loaded to draw their own warnings' charts, by (registry, task, version):
#: the few a case worker opens after a champion change, each downloaded once.
_EARLIER: dict[tuple[str, str, str], RiskModel] = {}
_EARLIER_KEPT = 4
#: When a version could not be loaded, by the same key: not asked again for a while, so a
#: registry that is down (an HTTP client retries for minutes) slows no page after the first.
_UNAVAILABLE: dict[tuple[str, str, str], float] = {}
_RETRY_AFTER_S = 600.0


def model_of_version(served: WarmModel, version: str, settings: Settings) -> tuple[RiskModel, str]:
    """The model of `version` and its number, to explain a warning it scored: the served one
    when that is it; else that version from the registry (kept for the next page); else,
    when the registry cannot give it (a bento replica has none, or it is gone), the served
    one, whose chart then says which version drew it."""
    if not version or version == served.version or settings.model_source == "bento":
        return served.model, served.version
    key = (settings.mlflow_uri, served.task, version)
    model = _EARLIER.get(key)
    if model is None:
        from models.registry import RegistryError, load_numbered
        from models.risk_model import ModelLoadError

        failed = _UNAVAILABLE.get(key)
        if failed is not None and time.monotonic() - failed < _RETRY_AFTER_S:
            return served.model, served.version
        try:
            model = load_numbered(served.task, version, settings.mlflow_uri)
        except (RegistryError, ModelLoadError, OSError):
            _UNAVAILABLE[key] = time.monotonic()
            return served.model, served.version
        _UNAVAILABLE.pop(key, None)
        if len(_EARLIER) >= _EARLIER_KEPT:
            _EARLIER.pop(next(iter(_EARLIER)))
        _EARLIER[key] = model
    return model, version
