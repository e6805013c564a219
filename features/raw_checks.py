"""The checks pandera runs on raw tables, answered from reductions and Arrow bitmaps.

pandera's own answers allocate full-length masks (a byte a row, then copies of them) to learn
one boolean; on a 40-million-row table that fresh memory is most of validation's cost. The
checks here give the same verdicts from a reduction, a dtype, or Arrow comparisons of
neighbouring rows over the stored values, and fall back to pandas where those cannot answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa_arrow
import pyarrow.compute as pc
from pandera.dtypes import DataType
from pandera.engines.pandas_engine import STRING

_ArrowValues: TypeAlias = pa_arrow.Array | pa_arrow.ChunkedArray

_NAT = np.iinfo(np.int64).min


class _Text(STRING):
    """pandera's text dtype, answered once per column where the column's dtype settles it.

    pandera answers a text column with a full-length array of True (then copies and inverts
    it to look for failures): hundreds of megabytes on a large table to learn one boolean.
    Object columns, which may mix types, still get pandera's answer value by value.
    """

    def check(
        self, pandera_dtype: DataType, data_container: pd.Series | pd.DataFrame | None = None
    ) -> bool | Iterable[bool]:
        if data_container is not None and not pd.api.types.is_object_dtype(data_container.dtype):
            return super().check(pandera_dtype, None)
        return super().check(pandera_dtype, data_container)


# pandera's dataclass decorator hides the no-argument constructor from mypy.
TEXT = _Text()  # type: ignore[call-arg]


def has_missing(column: pd.Series) -> bool:
    """Whether any value is missing, answered without a full-length mask where the dtype allows.

    NaN propagates through `min`, NaT is the smallest int64, integer and boolean arrays cannot
    hold a missing value, and Arrow keeps a count of its nulls; anything else asks pandas.
    """
    dtype = column.dtype
    if len(column) == 0:
        return False
    if isinstance(dtype, np.dtype) and dtype.kind in "iubfmM":
        values = column.to_numpy()
        if dtype.kind == "f":
            return bool(np.isnan(values.min()))
        if dtype.kind in "mM":
            return bool(values.view(np.int64).min() == _NAT)
        return False
    if isinstance(dtype, pd.ArrowDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    ):
        return bool(pa_arrow.array(column.array).null_count > 0)
    return bool(column.hasnans)


def no_missing(column: pd.Series) -> bool | pd.Series:
    """True when no value is missing, else which values are present."""
    return column.notna() if has_missing(column) else True


def _as_arrow(column: pd.Series) -> _ArrowValues | None:
    """The column's values as Arrow without copying them, or None if they are not shareable.

    Arrow compares neighbouring rows into bitmaps (one bit a row), where numpy would allocate a
    byte a row: on tens of millions of rows, fresh memory is what validation costs most.
    Timestamps are shared as their int64 nanoseconds (no scan for NaT, which becomes the
    smallest integer: equal to itself, as pandas' duplicate check treats it).
    """
    dtype = column.dtype
    if isinstance(dtype, pd.ArrowDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    ):
        return pa_arrow.array(column.array)
    if isinstance(dtype, np.dtype) and dtype.kind in "iuM":
        values = column.to_numpy()
        return pa_arrow.array(values.view(np.int64) if dtype.kind == "M" else values)
    return None


def _neighbours(values: _ArrowValues) -> tuple[_ArrowValues, _ArrowValues]:
    """Each row but the first, and the row before it, as two aligned zero-copy slices."""
    return values.slice(1), values.slice(0, len(values) - 1)


def times_in_order(frame: pd.DataFrame) -> bool | pd.Series:
    """True when every row has `available_at >= event_time`, else the per-row verdict."""
    available, event = frame["available_at"], frame["event_time"]
    if available.dtype == "datetime64[ns]" and event.dtype == "datetime64[ns]":
        available_ns, event_ns = _as_arrow(available), _as_arrow(event)
        # pandas says False wherever a time is missing (NaT, the smallest int64). A missing
        # available_at already fails the comparison unless event_time is missing too, so only
        # event_time needs looking at.
        earliest_event = pc.min(event_ns).as_py()
        if (earliest_event is None or earliest_event > _NAT) and pc.all(
            pc.greater_equal(available_ns, event_ns)
        ).as_py() is True:
            return True
    return available >= event


def _all_distinct(values: _ArrowValues) -> bool:
    """Whether no value repeats: a strictly increasing column proves it without hashing."""
    if len(values) < 2:
        return True
    later, earlier = _neighbours(values)
    if pc.all(pc.greater(later, earlier)).as_py():
        return True
    return bool(pc.count_distinct(values).as_py() == len(values))


def _run_starts(values: _ArrowValues, same_as_previous: _ArrowValues) -> pa_arrow.ChunkedArray:
    """The first value of every run of equal neighbours."""
    head = values.slice(0, 1)
    starts = pc.invert(same_as_previous)
    if isinstance(starts, pa_arrow.ChunkedArray):
        starts = starts.combine_chunks()  # a bitmap; filtering by one mask is several times faster
    rest = values.slice(1).filter(starts)
    return pa_arrow.chunked_array([*_chunks(head), *_chunks(rest)], type=values.type)


def _chunks(values: _ArrowValues) -> list[pa_arrow.Array]:
    """The arrays an Arrow column is made of (itself when it is one array)."""
    return list(values.chunks) if isinstance(values, pa_arrow.ChunkedArray) else [values]


def _grouped_in_order(columns: list[_ArrowValues]) -> tuple[bool, _ArrowValues]:
    """Whether equal keys can only sit next to each other, and which rows repeat the previous key.

    That holds when the first key column is grouped (the first values of its runs are all
    distinct) and each further column never decreases within a run of the columns before it.
    The answer is only trusted as True; False means "not proven", and the caller hashes.
    """
    first, *others = columns
    same = pc.equal(*_neighbours(first))
    starts = _run_starts(first, same) if pc.any(same).as_py() else first
    ordered = _all_distinct(starts)
    for column in others:
        later, earlier = _neighbours(column)
        if ordered:
            keeps_order = pc.or_(pc.invert(same), pc.greater_equal(later, earlier))
            ordered = pc.all(keeps_order).as_py() is True
        same = pc.and_(same, pc.equal(later, earlier))
    return ordered, same


def unique_key(key: tuple[str, ...]):
    """A check that no two rows share `key`; rows in a duplicated group fail.

    Departments export tables grouped by entity and in time order, and then duplicates sit next
    to each other: comparing each row with the previous one (Arrow bitmaps over the stored
    values, no copy of the column) finds them without hashing tens of millions of keys. Other
    tables are hashed by Arrow; pandas marks the duplicated rows only when there are some, and
    handles what Arrow cannot hold as is (missing values, Python objects).
    """

    def pandas_verdict(frame: pd.DataFrame) -> pd.Series:
        duplicated = frame.duplicated(subset=list(key), keep=False).to_numpy()
        return pd.Series(~duplicated, index=frame.index, copy=False)

    def check(frame: pd.DataFrame) -> bool | pd.Series:
        if any(name not in frame.columns for name in key) or len(frame) < 2:
            return True
        columns = [_as_arrow(frame[name]) for name in key]
        if any(column is None or column.null_count for column in columns):
            return pandas_verdict(frame)
        ordered, same = _grouped_in_order(columns)
        if not ordered:
            keys = pa_arrow.table(dict(zip(key, columns, strict=True)))
            distinct = keys.group_by(list(key)).aggregate([]).num_rows
            return True if distinct == len(frame) else pandas_verdict(frame)
        if not pc.any(same).as_py():
            return True
        repeats = same.to_numpy(zero_copy_only=False)
        duplicated = np.zeros(len(frame), dtype=bool)
        duplicated[1:] |= repeats
        duplicated[:-1] |= repeats
        return pd.Series(~duplicated, index=frame.index, copy=False)

    return check
