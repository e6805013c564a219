"""The dataset entry point, its sidecar, and the purged time split.

`build_dataset` is the one call the CLI, training and serving make: it validates the raw tables
against their schemas, then builds either the labelled dataset (every unit whose label window
is complete) or the scoring set (the latest as-of date, no label).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from features.catalog import CATALOG, CATALOG_VERSION, feature_names
from features.pit import AsOfDate
from features.schemas import TABLE_SPECS, absent_optional_columns
from features.tasks import get_task
from features.validation import validate_tables

Progress = Callable[[int, int], None]


class ScoringDateError(ValueError):
    """A scoring date outside the span the tables support (see `scoring_range`)."""


def scoring_range(
    task: str, validated: Mapping[str, pd.DataFrame]
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last as-of dates a scoring set can be built for from validated tables:
    from the first labelled unit's date (the first month every source table covers; the latest
    date when none is labelled yet) to the latest date the tables allow."""
    builder = get_task(task).builder
    latest = pd.Timestamp(builder.latest_as_of(validated))
    units = builder.labelled_units(validated)
    earliest = pd.Timestamp(units["as_of"].min()) if len(units) else latest
    return earliest, latest


def build_dataset(
    task: str,
    tables: Mapping[str, pd.DataFrame],
    unlabelled: bool = False,
    as_of: AsOfDate | None = None,
    with_progress: Progress | None = None,
) -> pd.DataFrame:
    """Validate the raw tables and build the task's dataset.

    Args:
        task: CLI name or slug.
        tables: raw tables by name (a city folder or a department export, loaded).
        unlabelled: build the scoring set (no label) instead of the labelled dataset.
        as_of: scoring date for `unlabelled` (default: the latest date the data supports).
        with_progress: called as `(done, total)` units while features are computed.

    Raises:
        features.validation.RawDataError: a table breaks its schema.
        ValueError: `as_of` given for a labelled build.
        ScoringDateError: `as_of` outside the tables' span (`scoring_range`).
    """
    info = get_task(task)
    if as_of is not None and not unlabelled:
        raise ValueError("as_of applies to the scoring set only (unlabelled=True)")
    absent = absent_optional_columns(tables, info.slug)
    validated = validate_tables(info.slug, _with_placeholders(info.slug, tables, absent))
    if unlabelled and as_of is not None:
        earliest, latest = scoring_range(info.slug, validated)
        when = pd.Timestamp(as_of)
        if not earliest <= when <= latest:
            raise ScoringDateError(
                f"{when.date()} is outside the tables: {info.name} can be scored from "
                f"{earliest.date()} to {latest.date()}"
            )
    if unlabelled:
        frame = info.builder.build_scoring_set(validated, as_of, with_progress)
    else:
        frame = info.builder.build_labelled_dataset(validated, with_progress)
    left_out = features_left_out(info.slug, absent)
    return frame.drop(columns=list(left_out)) if left_out else frame


def features_left_out(task: str, absent: set[tuple[str, str]]) -> dict[str, str]:
    """Catalog features that read an absent optional column: feature -> `table.column`.

    A city whose tables lack an optional column (a signal no model needs, such as metered
    water) gets a dataset, and so a model, without the features derived from it.
    """
    slug = get_task(task).slug
    left_out: dict[str, str] = {}
    for entry in CATALOG[slug]:
        for table, column in sorted(absent):
            if entry.source_table == table and column in entry.source_columns:
                left_out[entry.name] = f"{table}.{column}"
    return left_out


def optional_features(task: str) -> set[str]:
    """Catalog features derived from an optional raw column (a city's tables may lack it)."""
    slug = get_task(task).slug
    optional = {
        (table, name)
        for table, spec in TABLE_SPECS[slug].items()
        for name, col in spec.columns.items()
        if col.optional
    }
    return set(features_left_out(slug, optional))


def _with_placeholders(
    slug: str, tables: Mapping[str, pd.DataFrame], absent: set[tuple[str, str]]
) -> Mapping[str, pd.DataFrame]:
    """The tables with each absent optional column filled by a placeholder of its kind.

    The builders then run unchanged; every feature reading a placeholder is dropped from their
    result (`features_left_out`), so no placeholder value reaches a dataset.
    """
    if not absent:
        return tables
    filled = dict(tables)
    for table, column in absent:
        spec = TABLE_SPECS[slug][table].columns[column]
        # A registry's optional dates (entries, departures) feed no feature: null means what
        # their absence means (no departure on record).
        placeholders: dict[str, Any] = {
            "int": 0,
            "float": 0.0,
            "bool": False,
            "category": spec.values[0] if spec.values else "",
            "timestamp": pd.NaT,
        }
        placeholder = placeholders.get(spec.kind, "")
        filled[table] = filled[table].assign(**{column: placeholder})
    return filled


def input_fingerprint(tables: Mapping[str, pd.DataFrame]) -> str:
    """sha256 over the raw tables' names, columns, dtypes and row contents (order-sensitive)."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        frame = tables[name]
        digest.update(name.encode())
        digest.update(repr([(c, str(frame[c].dtype)) for c in frame.columns]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _task_of(frame: pd.DataFrame) -> str:
    columns = set(frame.columns)
    for slug in CATALOG:
        if set(feature_names(slug)) <= columns:
            return slug
    raise KeyError("the frame's columns match no task's catalog features")


def dataset_sidecar(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], task: str | None = None
) -> dict[str, object]:
    """The JSON sidecar describing a built dataset (task inferred from its columns if omitted)."""
    info = get_task(task or _task_of(frame))
    has_label = "label" in frame.columns
    as_of = frame["as_of"]
    return {
        "task": info.name,
        "entity_kind": info.entity_kind,
        "labelled": has_label,
        "horizon": ", ".join(f"{n} {unit}" for unit, n in info.horizon.kwds.items()),
        "rows": len(frame),
        "entities": int(frame["entity_id"].nunique()),
        "positives": int(frame["label"].sum()) if has_label else None,
        "positive_rate": float(frame["label"].mean()) if has_label and len(frame) else None,
        "as_of_min": as_of.min().isoformat() if len(frame) else None,
        "as_of_max": as_of.max().isoformat() if len(frame) else None,
        "catalog_version": CATALOG_VERSION,
        "features": feature_names(info.slug),
        "input_tables": {name: len(tables[name]) for name in sorted(tables)},
        "input_fingerprint": input_fingerprint(tables),
    }


class TimeSplit(NamedTuple):
    """Train, validation and test slices of a dataset, oldest to newest."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def _as_offset(horizon: pd.DateOffset | pd.Timedelta | str) -> pd.DateOffset | pd.Timedelta:
    if isinstance(horizon, str):
        return get_task(horizon).horizon
    return horizon


def _last_dates_holding(dates: np.ndarray, counts: np.ndarray, rows: float) -> int:
    """Index into the sorted unique `dates` where the newest dates holding `rows` rows begin."""
    from_end = np.cumsum(counts[::-1])
    taken = int(np.searchsorted(from_end, rows, side="left")) + 1
    return max(len(dates) - min(taken, len(dates)), 0)


def time_split(
    frame: pd.DataFrame,
    horizon: pd.DateOffset | pd.Timedelta | str,
    valid_frac: float = 0.15,
    test_frac: float = 0.15,
) -> TimeSplit:
    """Split by as-of date into train / validation / test with a purge gap of one horizon.

    The rule, from the newest rows back:
    1. test: the newest as-of dates holding about `test_frac` of the rows;
    2. validation: the newest dates holding about `valid_frac` of the rows among those whose
       label window ends by the test start (`as_of + horizon <= test_start`);
    3. train: every row whose label window ends by the validation start.
    Rows in the gaps are dropped. Whole as-of dates go to one slice, so an entity scored every
    month has rows in several slices, but none of its training labels (which look up to one
    horizon ahead) reaches into the period its validation or test rows are observed and
    labelled; a dispute (one row) lands in exactly one slice.

    Args:
        frame: a dataset with an `as_of` column.
        horizon: the label horizon (offset or timedelta), or a task name to take it from.
        valid_frac / test_frac: approximate row shares of validation and test.
    """
    offset = _as_offset(horizon)
    as_of = pd.DatetimeIndex(frame["as_of"])
    dates, counts = np.unique(as_of.to_numpy(dtype="datetime64[ns]"), return_counts=True)
    if len(dates) == 0:
        empty = frame.iloc[0:0]
        return TimeSplit(empty, empty, empty)
    n = len(frame)
    test_start = dates[_last_dates_holding(dates, counts, test_frac * n)] if test_frac > 0 else None
    if test_start is None:
        test_start = (pd.Timestamp(dates[-1]) + pd.Timedelta(1, "ns")).to_datetime64()
    before_test = (as_of + offset) <= pd.Timestamp(test_start)
    eligible = np.unique(as_of[before_test].to_numpy(dtype="datetime64[ns]"), return_counts=True)
    if valid_frac > 0 and len(eligible[0]):
        valid_start = eligible[0][_last_dates_holding(*eligible, valid_frac * n)]
    else:
        valid_start = test_start
    is_test = as_of >= pd.Timestamp(test_start)
    is_valid = before_test & (as_of >= pd.Timestamp(valid_start))
    is_train = (as_of + offset) <= pd.Timestamp(valid_start)
    return TimeSplit(
        frame[np.asarray(is_train)], frame[np.asarray(is_valid)], frame[np.asarray(is_test)]
    )
