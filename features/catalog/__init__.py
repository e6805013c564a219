"""The feature catalog: one entry per model feature, the single source of feature metadata.

Reason sentences, monotone constraints, API schemas, reports and docs are all generated from
these entries; nothing else restates a feature's label, unit, direction or range. The entries
live in one module per task, named by its slug; this module assembles them
and holds the lookups every layer uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.catalog.dispute_escalation import DISPUTE_ESCALATION  # noqa: F401 (read by name)
from features.catalog.entries import Direction, FeatureDef, FeatureDtype
from features.catalog.telecom_fraud import TELECOM_FRAUD  # noqa: F401 (read by name)
from features.catalog.wage_arrears import WAGE_ARREARS  # noqa: F401 (read by name)
from features.tasks import TASKS, get_task

__all__ = [
    "AGE_BANDS",
    "AGE_BAND_WORDS",
    "AUDIT_COLUMNS",
    "CATALOG",
    "CATALOG_VERSION",
    "Direction",
    "FeatureDef",
    "FeatureDtype",
    "category_features",
    "dataset_frame",
    "feature",
    "feature_names",
    "features",
    "monotone_constraints",
    "slug",
]

#: Every task's entries by slug, in registry order (the registry names each task's constant).
CATALOG: dict[str, tuple[FeatureDef, ...]] = {
    task.slug: globals()[task.catalog_constant] for task in TASKS.values()
}


def _content_version(catalog: Mapping[str, tuple[FeatureDef, ...]]) -> str:
    """A version that changes whenever any entry changes, so a stale model is always noticed."""
    digest = hashlib.sha256(repr(sorted(catalog.items())).encode()).hexdigest()
    return f"1.{digest[:10]}"


#: Catalog version recorded in datasets and models: derived from the entries' content.
CATALOG_VERSION = _content_version(CATALOG)

AUDIT_COLUMNS: dict[str, tuple[str, ...]] = {
    task.slug: task.audit_columns for task in TASKS.values()
}

AGE_BANDS = ("under_18", "18_30", "31_59", "60_plus")
#: Each of `AGE_BANDS` in words, (English, Chinese): what reports and tables show for a band.
AGE_BAND_WORDS: Mapping[str, tuple[str, str]] = {
    "under_18": ("under 18", "18岁以下"),
    "18_30": ("18–30", "18–30岁"),
    "31_59": ("31–59", "31–59岁"),
    "60_plus": ("60 and over", "60岁及以上"),
}


def slug(task: str) -> str:
    """Python slug of a task given by CLI name (`wage-arrears`) or slug (`wage_arrears`)."""
    return get_task(task).slug


def features(task: str) -> tuple[FeatureDef, ...]:
    """The catalog entries of a task, in model order."""
    return CATALOG[slug(task)]


def feature_names(task: str) -> list[str]:
    """Feature column names of a task, in model order."""
    return [feature.name for feature in features(task)]


def feature(task: str, name: str) -> FeatureDef:
    """One catalog entry by name."""
    for entry in features(task):
        if entry.name == name:
            return entry
    raise KeyError(f"{task} has no feature {name!r}")


def monotone_constraints(task: str) -> list[int]:
    """LightGBM monotone constraints in model order (0 for category features)."""
    return [0 if f.dtype == "category" else int(f.direction) for f in features(task)]


def category_features(task: str) -> list[str]:
    """Names of the task's category features."""
    return [f.name for f in features(task) if f.dtype == "category"]


def _feature_column(
    entry: FeatureDef, values: np.ndarray | pd.Series
) -> np.ndarray | pd.Categorical[Any]:
    """Values cast to the catalog dtype (category features get exactly the catalog's categories).

    Category values may come as labels or, faster, as integer codes into `entry.categories`
    (-1 for missing).
    """
    if entry.dtype == "category":
        array = np.asarray(values)
        if array.dtype.kind in "iu":
            return pd.Categorical.from_codes(array, categories=pd.Index(list(entry.categories)))
        return pd.Categorical(np.asarray(values, dtype=object), categories=list(entry.categories))
    if entry.dtype == "bool":
        return np.asarray(values).astype(bool, copy=False)
    if entry.dtype == "int":
        return np.asarray(values).astype(np.int64, copy=False)
    return np.asarray(values, dtype=np.float64)


def dataset_frame(
    task: str,
    entity_ids: np.ndarray | pd.Series,
    as_of: np.ndarray | pd.Series,
    values: Mapping[str, np.ndarray | pd.Series],
    audit: Mapping[str, np.ndarray | pd.Series],
    label: np.ndarray | None = None,
) -> pd.DataFrame:
    """A dataset frame in the contract's column order and dtypes.

    `entity_id`, `as_of`, `label` (int8, when given), the features in catalog order, then the
    task's audit columns. Raises `KeyError` when `values` or `audit` do not match the catalog
    exactly, so a builder cannot silently drop or add a feature.
    """
    names = feature_names(task)
    audit_names = AUDIT_COLUMNS[slug(task)]
    if set(values) != set(names):
        raise KeyError(
            f"{task}: feature values do not match the catalog "
            f"(missing {sorted(set(names) - set(values))}, extra {sorted(set(values) - set(names))})"
        )
    if set(audit) != set(audit_names):
        raise KeyError(f"{task}: audit columns {sorted(audit)} != {sorted(audit_names)}")
    columns: dict[str, object] = {
        "entity_id": _text(entity_ids),
        "as_of": np.asarray(as_of).astype("datetime64[ns]", copy=False),
    }
    if label is not None:
        columns["label"] = np.asarray(label).astype(np.int8, copy=False)
    for entry in features(task):
        columns[entry.name] = _feature_column(entry, values[entry.name])
    for name in audit_names:
        columns[name] = _text(audit[name])
    # No copy and no consolidation into 2-D blocks: builders pass arrays made for this frame,
    # and stacking a large dataset's columns would copy gigabytes.
    return pd.DataFrame(columns, copy=False)


def _text(values: np.ndarray | pd.Series) -> pd.api.extensions.ExtensionArray:
    """A `str` array, without a round trip through Python objects when it already is one."""
    if isinstance(values, pd.Series) and values.dtype == "str":
        return values.array
    return pd.array(np.asarray(values, dtype=object), dtype="str")
