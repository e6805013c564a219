"""The online store: each entity's latest materialized features, looked up by id at scoring time.

The files are keyed by pseudonym (HMAC-SHA256 under the secrets file's key), never by the raw
id: `materialize` hashes the ids it writes and `lookup` hashes the ids it is sent.

Callers that hold only an identifier (the case system knows an employer's credit code, not its
social-insurance arrears streak) send `entity_ids`; the service answers from the features that
`riskloop materialize --task T` last computed from the departments' tables. One Parquet file
per task under `<data_dir>/online/`, replaced atomically; the service re-reads it when its
modification time changes, so a new materialization needs no restart.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from features.catalog import CATALOG
from features.tasks import DISTRICT_COLUMN
from models.secret_keys import load_secrets
from models.settings import get_settings
from models.spec import task_slug
from serving.store.pseudonym import pseudonymise

KEY_COLUMNS = ("entity_id", "as_of")
#: the column holding each unit's district in the online store's files
DISTRICT = "district"


class EntityNotMaterialized(LookupError):
    """Some requested entities have no materialized features (or the task was never built)."""

    def __init__(self, task: str, missing: list[str]) -> None:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        super().__init__(
            f"{len(missing)} entity id(s) have no materialized {task} features: {shown} "
            "(the online store holds the units the last `riskloop materialize --task "
            f"{task.replace('_', '-')}` found in the task's scoring population: an id outside "
            "it, a unit no longer in it or a typo, is scored by sending its features as "
            "`records`; materialize again if the population changed)"
        )
        self.task = task
        self.missing = missing


class OnlineStoreUnreadable(RuntimeError):
    """A task's online features file exists but cannot be read (truncated, not Parquet, or
    without the `entity_id` column): nothing can be looked up until it is materialized again."""

    def __init__(self, slug: str, path: Path, cause: str) -> None:
        super().__init__(
            f"the materialized {slug} features cannot be read ({cause}); the operator runs "
            f"`riskloop materialize --task {slug.replace('_', '-')}` again"
        )
        self.path = path


def online_dir(data_dir: Path) -> Path:
    return data_dir / "online"


def online_path(slug: str, data_dir: Path) -> Path:
    return online_dir(data_dir) / f"{slug}.parquet"


def latest_rows(slug: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Each entity's most recent row, keeping only the id, the as-of date, the features and,
    when the frame has one, the unit's district (as `district`, which a warning keeps)."""
    # A city lacking an optional column has no features derived from it (nor a model using
    # them): those are left out here too. (Imported here: the dataset builder brings pandera,
    # 0.2 s of import the service's arbiter and the CLI's other commands do without.)
    from features.dataset import optional_features

    optional = optional_features(slug)
    features = [
        feature.name
        for feature in CATALOG[slug]
        if feature.name in frame.columns or feature.name not in optional
    ]
    missing = [c for c in (*KEY_COLUMNS, *features) if c not in frame.columns]
    if missing:
        raise ValueError(f"{slug} scoring set lacks column(s): {', '.join(missing)}")
    district = [DISTRICT_COLUMN] if DISTRICT_COLUMN in frame.columns else []
    latest = (
        frame.loc[:, [*KEY_COLUMNS, *features, *district]]
        .rename(columns={DISTRICT_COLUMN: DISTRICT})
        .sort_values(["entity_id", "as_of"], kind="stable")
        .drop_duplicates("entity_id", keep="last")
        .reset_index(drop=True)
    )
    return latest.assign(entity_id=latest["entity_id"].astype(str))


def materialize(
    task: str,
    frame: pd.DataFrame,
    data_dir: Path | None = None,
    pseudonymise: Callable[[str], str] | None = None,
) -> Path:
    """Write the latest feature row per entity of `task`, keyed by pseudonym; returns the file.

    `pseudonymise` defaults to HMAC under the secrets file's pseudonym key (as the store's).
    The rows are in pseudonym order: in the raw ids' order, anyone holding the ids could
    pair each row with its id by position. The file is readable by its owner only (0600), as
    the warnings database, and `<data_dir>/online/` is made the owner's (0700) when created.
    """
    slug = task_slug(task)
    path = online_path(slug, data_dir or get_settings().data_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    hasher = pseudonymise or _default_pseudonymise()
    latest = latest_rows(slug, frame)
    keyed = (
        latest.assign(entity_id=[hasher(entity) for entity in latest["entity_id"]])
        .sort_values("entity_id", kind="stable")
        .reset_index(drop=True)
    )
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            os.fchmod(out.fileno(), 0o600)  # a leftover temporary file keeps its old mode
            keyed.to_parquet(out, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass
class _Loaded:
    stamp: tuple[int, int]
    table: pd.DataFrame


class OnlineStore:
    """Read side used by the service: lookups by entity id, cached until the file changes."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._loaded: dict[str, _Loaded] = {}

    def _table(self, slug: str) -> pd.DataFrame:
        path = online_path(slug, self.data_dir)
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._loaded.pop(slug, None)
            return pd.DataFrame(columns=["entity_id"])
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._loaded.get(slug)
        if cached is None or cached.stamp != stamp:
            try:
                table = pd.read_parquet(path)
            except Exception as exc:  # pyarrow's errors for a damaged file have no common base
                self._loaded.pop(slug, None)
                cause = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                cause = cause.replace(str(path), path.name)  # callers see no server paths
                raise OnlineStoreUnreadable(slug, path, cause or type(exc).__name__) from exc
            if "entity_id" not in table.columns:
                raise OnlineStoreUnreadable(slug, path, "no entity_id column")
            table = table.set_index("entity_id", drop=False)
            cached = _Loaded(stamp=stamp, table=table)
            self._loaded[slug] = cached
        return cached.table

    def lookup(
        self, slug: str, entity_ids: list[str], pseudonymise: Callable[[str], str]
    ) -> pd.DataFrame:
        """Feature rows for `entity_ids`, in request order (duplicates repeated), with the
        caller's ids in `entity_id` (the file holds only their pseudonyms).

        Raises:
            EntityNotMaterialized: naming the ids (the caller's own) that have no row.
            OnlineStoreUnreadable: the task's file is damaged.
        """
        table = self._table(slug)
        hashes = {entity: pseudonymise(entity) for entity in dict.fromkeys(entity_ids)}
        missing = [entity for entity, hashed in hashes.items() if hashed not in table.index]
        if missing:
            raise EntityNotMaterialized(slug, missing)
        rows = table.loc[[hashes[entity] for entity in entity_ids]].reset_index(drop=True)
        return rows.assign(entity_id=[str(entity) for entity in entity_ids])


def _default_pseudonymise() -> Callable[[str], str]:
    secret = load_secrets().pseudonym_secret
    return partial(pseudonymise, secret)


def lookup(task: str, entity_ids: list[str], data_dir: Path | None = None) -> pd.DataFrame:
    """One-off lookup (the service keeps an `OnlineStore` to cache the table)."""
    return OnlineStore(data_dir or get_settings().data_dir).lookup(
        task_slug(task), entity_ids, _default_pseudonymise()
    )
