"""Point-in-time machinery: the one place that decides what a feature may see.

A feature for an (entity, as-of) pair may only use raw rows whose `available_at <= as_of`. Two
look-up structures enforce that rule for many pairs at once, without per-entity Python loops
and without crossing as-of dates with events:

- `EventIndex` (event streams: court cases, alerts, calls, daily contacts...). Rows are sorted
  by (entity, available_at) once; a query becomes a binary search, and counts or sums over a
  trailing window become differences of prefix sums. Windows are placed on `available_at`:
  "in the last 30 days" means "records that reached the department in the 30 days up to the
  as-of date", which is what the department actually knew then.
- `MonthlyPanel` (monthly declarations: social insurance, tax, utilities). Values go into a
  dense (entity x month) array, one layer per revision; a query reads the months before its
  as-of month, each month's latest row on record (a revision counts from its own
  `available_at` on), and masks the months whose record was not yet available. Helpers below turn those lag matrices into
  "last k reported months", streaks, trends and year-on-year changes.

`Queries` carries the (entity, as-of) pairs as integer codes shared by both structures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

DAY_NS = np.int64(86_400_000_000_000)
SECOND_NS = np.int64(1_000_000_000)

#: Anything `pd.Timestamp` accepts as a date.
AsOfDate = str | date | datetime | pd.Timestamp | np.datetime64


@dataclass(frozen=True)
class Queries:
    """Many (entity, as-of) pairs, with entities coded against a shared entity universe.

    Attributes:
        entities: the entity universe; codes index into it.
        codes: entity code per query (-1 when the entity is not in the universe).
        as_of: as-of timestamp per query, int64 nanoseconds.
    """

    entities: pd.Index
    codes: np.ndarray
    as_of: np.ndarray

    @classmethod
    def build(cls, entities: pd.Index, entity_ids: Sequence[str] | pd.Series, as_of) -> Queries:
        """Code `entity_ids` against `entities`; `as_of` is one timestamp or one per query."""
        codes = encode(entities, entity_ids)
        as_of_ns = np.broadcast_to(_to_ns(as_of), codes.shape).copy()
        return cls(entities=entities, codes=codes, as_of=as_of_ns)

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, positions: np.ndarray | slice) -> Queries:
        """A subset of the queries (e.g. one chunk of a large build)."""
        return Queries(self.entities, self.codes[positions], self.as_of[positions])


def encode(entities: pd.Index, values: Sequence[str] | pd.Series | np.ndarray) -> np.ndarray:
    """Position of each value in `entities` (-1 when absent), as int64.

    Arrow's hash look-up is used because it is an order of magnitude faster than
    `Index.get_indexer` on the Arrow-backed strings pandas reads from Parquet.
    """
    return _codes(entities, values).astype(np.int64)


def _codes(entities: pd.Index, values: Sequence[str] | pd.Series | np.ndarray) -> np.ndarray:
    """`encode` as int32, read straight from Arrow's result when nothing is missing."""
    found = pc.index_in(_arrow_text(values), value_set=_arrow_text(entities))
    if found.null_count:
        found = found.fill_null(-1)
    return found.to_numpy(zero_copy_only=False)


def _arrow_text(values: Sequence[str] | pd.Series | pd.Index | np.ndarray) -> pa.Array:
    """Strings as an Arrow array; zero-copy for pandas' Arrow-backed `str` columns."""
    if isinstance(values, pd.Series | pd.Index) and isinstance(values.dtype, pd.StringDtype):
        return pa.array(values.array).cast(pa.string())
    return pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True)


TEXT = pd.StringDtype(na_value=np.nan)


def text_at(values: pd.Series | pd.Index, rows: np.ndarray) -> pd.Series:
    """`values[rows]` as a `str` Series, missing where `rows` is -1 (Arrow take, no objects)."""
    taken = pc.take(_arrow_text(values), pa.array(rows, mask=rows < 0))
    return pd.Series(taken, dtype=TEXT)


def labels_at(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """`labels[codes]` as a `str` Series, missing where `codes` is -1."""
    dictionary = pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32), mask=codes < 0), pa.array(list(labels), type=pa.string())
    )
    return pd.Series(dictionary.dictionary_decode(), dtype=TEXT)


def category_codes(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Position of each value in `categories` (-1 for values outside them), as int8.

    int8 is what the dataset's categorical columns store, so the builders' code columns go
    into the dataset without a widening and narrowing copy (catalog categories are few).
    """
    return pd.Categorical(values, categories=list(categories)).codes.astype(np.int8)


def sorted_entities(ids: pd.Series) -> pd.Index:
    """The entity universe in id order: raw tables sorted by id then index without re-sorting."""
    return pd.Index(ids.drop_duplicates().sort_values(ignore_index=True).astype(TEXT))


def _to_ns(values: AsOfDate | pd.Series | pd.Index | np.ndarray | list) -> np.ndarray:
    """Timestamps (scalar, array, Series) as int64 nanoseconds since the epoch."""
    if isinstance(values, pd.Series | pd.Index | np.ndarray | list):
        stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(values)))
        return stamps.as_unit("ns").asi8
    return np.asarray([pd.Timestamp(values).as_unit("ns").value], dtype=np.int64)


def _window_ns(window: pd.Timedelta | str | None) -> np.int64 | None:
    return None if window is None else np.int64(pd.Timedelta(window).value)


#: Rows per pass of the element-wise loops over whole tables: full-length temporaries would
#: cost a fresh allocation each (page faults dominate on large tables), slices reuse memory.
PASS_ROWS = 1 << 20


def _passes(n: int) -> list[slice]:
    """Consecutive slices of `range(n)`, `PASS_ROWS` long."""
    return [slice(start, min(start + PASS_ROWS, n)) for start in range(0, n, PASS_ROWS)]


def _is_sorted(keys: np.ndarray) -> bool:
    """Whether `keys` never decreases, checked pass by pass (no full-length temporary)."""
    return all(
        bool(np.all(keys[part.start + 1 : part.stop + 1] >= keys[part.start : part.stop]))
        for part in _passes(len(keys) - 1)
    )


class EventIndex:
    """Rows of one event table, sorted for trailing-window look-ups by many queries.

    Rows of entities outside the universe are dropped. Counts are differences of row
    positions; value columns are summed (or maximised) window by window over their own rows.

    Memory matters more than arithmetic here: on a 40-million-row table every full-length
    array is hundreds of megabytes of fresh pages. The index holds one int64 key per row and
    nothing else of its own: tables that arrive grouped by entity in universe order and by
    time within an entity (what a department export sorted by id, and `features.partition`,
    give) need no reordering, so value columns are read in place.

    Args:
        events: the raw rows.
        entities: the entity universe (the same `pd.Index` the queries are coded against).
        entity_col: column of `events` holding the entity id.
        value_cols: columns that `sum`/`mean`/`max`/`last` may aggregate.
        time_col: the visibility time (`available_at`); windows are placed on it too.
    """

    def __init__(
        self,
        events: pd.DataFrame,
        entities: pd.Index,
        *,
        entity_col: str,
        value_cols: Sequence[str] = (),
        time_col: str = "available_at",
    ) -> None:
        codes = _codes(entities, events[entity_col])
        times = events[time_col].to_numpy(dtype="datetime64[ns]").view(np.int64)
        keep = None if bool((codes >= 0).all()) else codes >= 0
        if keep is not None:
            codes, times = codes[keep], times[keep]
        n = len(codes)
        # Exact composite key: entity code, then a rank of the time that preserves order and
        # ties: whole seconds since the first time when every time is a whole second (records
        # usually are), else the position among the distinct times.
        self._origin = np.int64(times.min()) if n else np.int64(0)
        whole_seconds = not any((times[part] % SECOND_NS).any() for part in _passes(n))
        self._unique_times = None if whole_seconds else np.unique(times)
        if self._unique_times is None:
            latest = np.int64(times.max()) if n else self._origin
            self._stride = np.int64((latest - self._origin) // SECOND_NS + 2)
        else:
            self._stride = np.int64(len(self._unique_times) + 1)
        keys = np.empty(n, dtype=np.int64)
        for part in _passes(n):
            np.multiply(codes[part], self._stride, out=keys[part], dtype=np.int64)
            keys[part] += self._time_rank(times[part])
        del codes, times
        order = None if _is_sorted(keys) else np.argsort(keys, kind="stable")
        self._keys = keys if order is None else keys[order]
        del keys
        self._bounds_cache: tuple[Queries | None, dict] = (None, {})
        self._starts: np.ndarray | None = None
        self._n_entities = len(entities)
        # Values stay as they are and every window is reduced over its own rows: a sum then
        # does not depend on the rest of the table (a table split by entity, as the Dask
        # engine does, gives the same bits), integer sums stay exact, and nothing full-length
        # is allocated (windows hold a handful of rows, so the reductions are cheap).
        self._values: dict[str, np.ndarray] = {}
        for column in value_cols:
            values = events[column].to_numpy()
            values = values if keep is None else values[keep]
            values = values if order is None else values[order]
            # Counted as int64 once here: `reduceat` asked to add booleans as integers would
            # cast the whole column on every call.
            exact = values.dtype.kind in "biu"
            self._values[column] = values.astype(np.int64, copy=False) if exact else values

    def _time_rank(self, times: np.ndarray) -> np.ndarray:
        """The key's time part: whole seconds since the origin, or the distinct-time position."""
        if self._unique_times is None:
            return (times - self._origin) // SECOND_NS
        return np.searchsorted(self._unique_times, times).astype(np.int64)

    def _row_times(self, rows: np.ndarray) -> np.ndarray:
        """Visibility times (int64 ns) of sorted rows, recovered from their keys."""
        rank = self._keys[rows] % self._stride
        if self._unique_times is None:
            return self._origin + rank * SECOND_NS
        return self._unique_times[rank]

    def __len__(self) -> int:
        return len(self._keys)

    def _position(self, codes: np.ndarray, bound: np.ndarray) -> np.ndarray:
        """Number of sorted rows before (entity, time <= bound), for every query.

        The search runs over the rows of the queries' entity range only: a chunk of
        entity-major queries covers a narrow band of a large table, whose binary-search tree
        is then shallower and stays in cache.
        """
        targets = codes * self._stride + self._rank(bound)
        if not len(codes):
            return np.zeros(0, dtype=np.intp)
        starts = self._entity_starts()
        first = int(starts[codes.min()])
        last = int(starts[codes.max() + 1])
        return np.searchsorted(self._keys[first:last], targets, side="left") + first

    def _rank(self, bound: np.ndarray) -> np.ndarray:
        """How many distinct ranks are at or before each bound (rows with rank below it count)."""
        if self._unique_times is None:
            seconds = np.floor_divide(bound - self._origin, SECOND_NS)
            return np.clip(seconds, -1, self._stride - 2) + 1
        return np.searchsorted(self._unique_times, bound, side="right").astype(np.int64)

    def _bounds(
        self,
        queries: Queries,
        window: pd.Timedelta | str | None,
        offset: pd.Timedelta | str | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row ranges [lo, hi) holding each query's visible rows within the window.

        The window is `(as_of - offset - window, as_of - offset]` on the visibility time;
        `window=None` reaches back to the entity's first row. Queries of unknown entities get
        an empty range. Positions are cached per distance back from the as-of date, so
        windows that share an edge (30 days, and the 90 days before those) search once.
        """
        cached_queries, cache = self._bounds_cache
        if cached_queries is not queries:
            cache = {}
            self._bounds_cache = (queries, cache)
        back = _window_ns(offset) or np.int64(0)
        step = _window_ns(window)
        hi = self._cached_position(queries, cache, back)
        lo = (
            self._cached_position(queries, cache, None)
            if step is None
            else self._cached_position(queries, cache, back + step)
        )
        return lo, hi

    def _cached_position(self, queries: Queries, cache: dict, back: np.int64 | None) -> np.ndarray:
        """Rows of each query's entity visible at `as_of - back` (`back=None`: before its first
        row); 0 for queries of unknown entities."""
        if back not in cache:
            codes = np.where(queries.codes >= 0, queries.codes, 0)
            if back is None:
                position = self._entity_starts()[codes]
            else:
                position = self._position(codes, queries.as_of - back)
            cache[back] = np.where(queries.codes >= 0, position, 0)
        return cache[back]

    def _entity_starts(self) -> np.ndarray:
        """First sorted row of every entity code, and the row count at the end (computed once)."""
        if self._starts is None:
            codes = np.arange(self._n_entities + 1, dtype=np.int64)
            self._starts = np.searchsorted(self._keys, codes * self._stride, side="left")
        return self._starts

    def count(
        self,
        queries: Queries,
        window: pd.Timedelta | str | None = None,
        offset: pd.Timedelta | str | None = None,
    ) -> np.ndarray:
        """Number of visible rows in the trailing window, per query (int64)."""
        lo, hi = self._bounds(queries, window, offset)
        return (hi - lo).astype(np.int64)

    def sum(
        self,
        queries: Queries,
        column: str,
        window: pd.Timedelta | str | None = None,
        offset: pd.Timedelta | str | None = None,
    ) -> np.ndarray:
        """Sum of `column` over visible rows in the trailing window (0 when there are none)."""
        lo, hi = self._bounds(queries, window, offset)
        return self._range_sum(column, lo, hi)

    def _range_sum(self, column: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sum of `column` over sorted rows [lo, hi) of each query's entity (int64 for integer
        and boolean columns, float64 otherwise)."""
        values = self._values[column]
        exact = values.dtype.kind == "i"
        dtype = np.dtype(np.int64) if exact else np.dtype(np.float64)
        return _window_reduce(np.add, values, lo, hi, empty=0, dtype=dtype)

    def mean(
        self,
        queries: Queries,
        column: str,
        window: pd.Timedelta | str | None = None,
        offset: pd.Timedelta | str | None = None,
    ) -> np.ndarray:
        """Mean of `column` over visible rows in the trailing window (NaN when there are none)."""
        lo, hi = self._bounds(queries, window, offset)
        total = self._range_sum(column, lo, hi)
        n = hi - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.maximum(n, 1), np.nan)

    def max(
        self,
        queries: Queries,
        column: str,
        window: pd.Timedelta | str | None = None,
        offset: pd.Timedelta | str | None = None,
    ) -> np.ndarray:
        """Largest `column` value over visible rows in the trailing window (NaN when none)."""
        lo, hi = self._bounds(queries, window, offset)
        return _window_reduce(
            np.maximum,
            self._values[column],
            lo,
            hi,
            empty=np.nan,
            dtype=np.dtype(np.float64),
        )

    def _last_position(self, queries: Queries) -> np.ndarray:
        """Position of each query's latest visible row, -1 if it has none."""
        lo, hi = self._bounds(queries, None, None)
        return np.where(hi > lo, hi - 1, -1)

    def last(self, queries: Queries, column: str) -> np.ndarray:
        """As-of join: `column` of the latest visible row (NaN when there is none)."""
        position = self._last_position(queries)
        found = position >= 0
        out = np.full(len(queries), np.nan)
        out[found] = self._values[column][position[found]]
        return out

    def days_since_last(self, queries: Queries) -> np.ndarray:
        """Days from the latest visible row's visibility time to the as-of date (NaN if none)."""
        position = self._last_position(queries)
        found = position >= 0
        out = np.full(len(queries), np.nan)
        out[found] = (queries.as_of[found] - self._row_times(position[found])) / DAY_NS
        return out


def _window_reduce(
    ufunc: np.ufunc,
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    empty: float,
    dtype: np.dtype,
) -> np.ndarray:
    """`ufunc` reduced over `values[lo:hi]` for every window, as `dtype` (`empty` where a
    window is empty).

    One `reduceat` over interleaved [lo, hi) pairs (odd slots are ignored): each window is
    reduced on its own rows only, in the same order whatever else the table holds, so results
    do not depend on how a table was split. Windows are taken in order of `lo`, so the ignored
    stretches between them never add up to more than the table (queries in any order stay
    linear). `reduceat` needs every index inside the array, so windows ending at the very last
    row are reduced one by one (only the last entity's can), by `reduceat` too: `reduce` may
    sum in another order and round differently.
    """
    out = np.full(len(lo), empty, dtype=dtype)
    filled = hi > lo
    n = len(values)
    inner = np.flatnonzero(filled & (hi < n))
    starts = lo[inner]
    if len(inner) > 1 and not bool(np.all(starts[1:] >= starts[:-1])):
        inner = inner[np.argsort(starts, kind="stable")]
    if len(inner):
        bounds = np.empty(2 * len(inner), dtype=np.intp)
        bounds[0::2], bounds[1::2] = lo[inner], hi[inner]
        # `reduceat` also reduces from its last index to the end of the array: cut the view
        # one row after the last window, or every call would pay for the rest of the table.
        end = int(bounds.max()) + 1
        out[inner] = ufunc.reduceat(values[:end], bounds)[0::2]
    for query in np.flatnonzero(filled & (hi >= n)):
        out[query] = ufunc.reduceat(values[lo[query] : n], [0])[0]
    return out


#: Queries per chunk of the label computation: bounded temporaries, reused from chunk to chunk.
LABEL_CHUNK_ROWS = 500_000


def shifted(as_of: np.ndarray, offset: pd.DateOffset | pd.Timedelta) -> np.ndarray:
    """`as_of + offset` for int64-nanosecond timestamps.

    Calendar offsets (months) are applied once per distinct date: a dataset has a few dozen
    as-of dates over millions of rows.
    """
    if isinstance(offset, pd.Timedelta):
        return as_of + np.int64(offset.value)
    positions, distinct = pd.factorize(as_of)
    moved = (pd.DatetimeIndex(np.asarray(distinct).view("datetime64[ns]")) + offset).asi8
    return moved[positions]


def event_within(
    events: pd.DataFrame,
    entity_col: str,
    queries: Queries,
    horizon: pd.DateOffset | pd.Timedelta,
) -> np.ndarray:
    """1 where the query's entity has an event (by `event_time`) in `(as_of, as_of + horizon]`.

    The label rule of every task: it looks forward on purpose, so it runs on occurrence time,
    never on availability. The builders pass their feature queries, so no id is encoded twice.
    """
    index = EventIndex(events, queries.entities, entity_col=entity_col, time_col="event_time")

    def label(chunk: Queries) -> dict[str, np.ndarray]:
        later = Queries(chunk.entities, chunk.codes, shifted(chunk.as_of, horizon))
        return {"label": (index.count(later) - index.count(chunk) > 0).astype(np.int8)}

    return in_chunks(queries, label, LABEL_CHUNK_ROWS)["label"]


def units_event_within(
    events: pd.DataFrame,
    entity_col: str,
    units: pd.DataFrame,
    horizon: pd.DateOffset | pd.Timedelta,
) -> np.ndarray:
    """`event_within` for a units frame (`entity_id`, `as_of`)."""
    queries = Queries.build(sorted_entities(events[entity_col]), units["entity_id"], units["as_of"])
    return event_within(events, entity_col, queries, horizon)


def month_number(values) -> np.ndarray:
    """Months since January 1970 of timestamps (any datetime64 input), as int64."""
    stamps = np.asarray(values).astype("datetime64[ns]")
    return stamps.astype("datetime64[M]").astype(np.int64)


class MonthlyPanel:
    """Monthly rows (one per entity and month, plus revisions) in dense arrays for lagged
    point-in-time reads.

    A later row for the same (entity, month) is a revision (a back-payment rewrites a
    declaration): it replaces the earlier value from its own `available_at` on, so a query sees
    the latest row on record at its as-of date. Version k of every cell (its k-th row by
    availability) sits in layer k.

    Args:
        table: rows keyed by (entity, month, available_at).
        entities: the entity universe shared with the queries.
        entity_col: column holding the entity id.
        value_cols: numeric columns to read.
        period_col: column holding the month (any timestamp within the month).
    """

    def __init__(
        self,
        table: pd.DataFrame,
        entities: pd.Index,
        *,
        entity_col: str,
        value_cols: Sequence[str],
        period_col: str = "month",
    ) -> None:
        codes = encode(entities, table[entity_col])
        keep = codes >= 0
        months = month_number(table[period_col].to_numpy()[keep])
        codes = codes[keep]
        self._first = np.int64(months.min()) if len(months) else np.int64(0)
        n_months = int(months.max() - self._first + 1) if len(months) else 1
        self._shape = (len(entities), n_months)
        available = table["available_at"].to_numpy(dtype="datetime64[ns]").view(np.int64)[keep]
        cells = codes * n_months + (months - self._first)
        order = np.lexsort((available, cells))
        sorted_cells = cells[order]
        starts = np.r_[True, sorted_cells[1:] != sorted_cells[:-1]] if len(order) else []
        position = np.arange(len(order))
        version = position - np.maximum.accumulate(np.where(starts, position, 0))
        n_versions = int(version.max()) + 1 if len(order) else 1
        size = len(entities) * n_months
        self._available = np.full((n_versions, size), np.iinfo(np.int64).max, dtype=np.int64)
        self._available[version, sorted_cells] = available[order]
        self._values: dict[str, np.ndarray] = {}
        for column in value_cols:
            values = np.full((n_versions, size), np.nan)
            values[version, sorted_cells] = table[column].to_numpy(dtype=np.float64)[keep][order]
            self._values[column] = values

    def lags(self, queries: Queries, column: str, n_lags: int) -> np.ndarray:
        """Values of the `n_lags` months before each query's as-of month, latest first.

        Column `j` holds month `as_of_month - (j + 1)`; it is NaN when that month has no row,
        lies outside the panel, or its row was not yet available at the as-of date. Of a
        month's rows, the latest available at the as-of date counts.
        """
        return self.lag_matrices(queries, (column,), n_lags)[column]

    def lag_matrices(
        self, queries: Queries, columns: Sequence[str], n_lags: int
    ) -> dict[str, np.ndarray]:
        """`lags` for several columns, locating the cells and their availability once."""
        as_of_month = month_number(queries.as_of.view("datetime64[ns]"))
        months = as_of_month[:, None] - self._first - np.arange(1, n_lags + 1)[None, :]
        codes = queries.codes[:, None]
        n_months = self._shape[1]
        inside = (months >= 0) & (months < n_months) & (codes >= 0)
        cells = np.where(inside, codes * n_months + months, 0)
        out = {column: np.full(cells.shape, np.nan) for column in columns}
        for layer, available in enumerate(self._available):
            known = inside & (available[cells] <= queries.as_of[:, None])
            for column in columns:
                out[column] = np.where(known, self._values[column][layer][cells], out[column])
        return out


def latest_reported(lagged: np.ndarray, k: int, skip: int = 0) -> np.ndarray:
    """Keep only known months ranked `skip + 1 .. skip + k` by recency (others become NaN).

    "The last 3 months" of a monthly declaration, as a department sees it, are the last 3
    months whose records have arrived, not the 3 calendar months before the as-of date;
    `skip=3` gives the 3 reported months before those.
    """
    known = ~np.isnan(lagged)
    rank = np.cumsum(known, axis=1)
    return np.where(known & (rank > skip) & (rank <= skip + k), lagged, np.nan)


def nan_mean(lagged: np.ndarray) -> np.ndarray:
    """Row mean over known months (NaN when none is known), without warnings."""
    known = ~np.isnan(lagged)
    n = known.sum(axis=1)
    total = np.where(known, lagged, 0.0).sum(axis=1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def count_where(lagged: np.ndarray, condition: np.ndarray) -> np.ndarray:
    """Number of known months where `condition` holds (int64)."""
    return (~np.isnan(lagged) & condition).sum(axis=1).astype(np.int64)


def streak(lagged: np.ndarray, condition: np.ndarray) -> np.ndarray:
    """Consecutive known months, counting back from the latest known one, where `condition` holds.

    Months not yet reported are skipped; the streak ends at the first known month where the
    condition is false.
    """
    known = ~np.isnan(lagged)
    broken = known & ~condition
    n_lags = lagged.shape[1]
    first_break = np.where(broken.any(axis=1), broken.argmax(axis=1), n_lags)
    before_break = np.arange(n_lags)[None, :] < first_break[:, None]
    return (known & condition & before_break).sum(axis=1).astype(np.int64)


def latest_value(lagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most recent known value and its lag column (-1 and NaN when nothing is known)."""
    known = ~np.isnan(lagged)
    has_any = known.any(axis=1)
    lag = np.where(has_any, known.argmax(axis=1), -1)
    value = np.where(has_any, lagged[np.arange(len(lagged)), np.maximum(lag, 0)], np.nan)
    return value, lag


def value_at_lag(lagged: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """Per-row value at lag column `lag` (NaN where `lag` is out of range)."""
    inside = (lag >= 0) & (lag < lagged.shape[1])
    return np.where(
        inside, lagged[np.arange(len(lagged)), np.clip(lag, 0, lagged.shape[1] - 1)], np.nan
    )


def relative_change(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """`new / old - 1`, NaN when either is unknown or `old` is not positive."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.where((old > 0) & ~np.isnan(new), new / np.where(old > 0, old, 1.0) - 1.0, np.nan)


def trend(lagged: np.ndarray) -> np.ndarray:
    """Least-squares slope per month over the known months of a lag matrix, relative to their mean.

    Positive means growing towards the as-of date. NaN with fewer than two known months or a
    non-positive mean.
    """
    known = ~np.isnan(lagged)
    n = known.sum(axis=1)
    time = -np.arange(lagged.shape[1], dtype=np.float64)[None, :]
    x = np.where(known, time, 0.0)
    y = np.where(known, lagged, 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean_x = x.sum(axis=1) / n
        mean_y = y.sum(axis=1) / n
        cov = (np.where(known, (time - mean_x[:, None]) * (lagged - mean_y[:, None]), 0.0)).sum(
            axis=1
        )
        var = (np.where(known, (time - mean_x[:, None]) ** 2, 0.0)).sum(axis=1)
        slope = cov / var
        return np.where((n >= 2) & (mean_y > 0) & (var > 0), slope / mean_y, np.nan)


def month_starts(first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """First days of the months from `first`'s month to `last`'s month (both included)."""
    return pd.date_range(
        pd.Timestamp(first).to_period("M").to_timestamp(),
        pd.Timestamp(last).to_period("M").to_timestamp(),
        freq="MS",
    ).as_unit("ns")


def data_end(*tables: pd.DataFrame, column: str = "event_time") -> pd.Timestamp:
    """End of the data's coverage: the midnight after the latest `column` value of `tables`.

    A record stamped on a day covers that day, so the coverage runs to the following midnight.
    """
    latest = max(pd.Timestamp(table[column].max()) for table in tables if len(table))
    return latest.normalize() + pd.Timedelta(days=1)


def registry_universe(registry: pd.DataFrame, id_col: str) -> pd.DataFrame:
    """The registry's rows, one per entity (first row kept), in registry order.

    The entity universe follows the registry rather than id order because event tables come
    grouped by entity in registry order (a department exports per entity, in its register's
    order): their look-up keys are then sorted already and need no reordering copy.
    """
    return registry.drop_duplicates(id_col, ignore_index=True)


def registry_queries(
    entities: pd.Index, available: np.ndarray, as_of_dates: pd.DatetimeIndex
) -> Queries:
    """A query per universe entity and as-of date on which its registry row is available.

    `entities` is the registry's universe (`registry_universe`), `available` its rows'
    `available_at`. Entity-major order, in universe order: consecutive queries then read
    neighbouring rows of every look-up structure (an entity's rows are contiguous there),
    which on a large city is the difference between cache hits and misses.
    """
    dates = np.sort(as_of_dates.to_numpy(dtype="datetime64[ns]")).view(np.int64)
    first = np.searchsorted(dates, np.asarray(available, dtype="datetime64[ns]").view(np.int64))
    per_entity = len(dates) - first
    codes = np.repeat(np.arange(len(entities), dtype=np.int64), per_entity)
    starts = np.cumsum(per_entity) - per_entity
    date_index = np.arange(len(codes)) - np.repeat(starts - first, per_entity)
    return Queries(entities=entities, codes=codes, as_of=dates[date_index])


def entity_ids(queries: Queries) -> pd.Series:
    """The ids of queries' entities (missing where the entity is unknown)."""
    return text_at(queries.entities, queries.codes)


def units_frame(queries: Queries) -> pd.DataFrame:
    """The units frame (`entity_id`, `as_of`) of queries."""
    return pd.DataFrame(
        {"entity_id": entity_ids(queries), "as_of": queries.as_of.view("datetime64[ns]")}
    )


def queries_for(
    entities: pd.Index, available: np.ndarray, as_of: AsOfDate | pd.DataFrame
) -> tuple[Queries, pd.Series]:
    """Queries and their entity ids from a builder's `as_of` argument.

    `as_of` is either a frame of explicit (`entity_id`, `as_of`) pairs (ids outside the
    universe are kept, with empty features) or one date, meaning every registered entity then.
    """
    if isinstance(as_of, pd.DataFrame):
        units = pairs_units(as_of)
        return Queries.build(entities, units["entity_id"], units["as_of"]), units["entity_id"]
    queries = registry_queries(entities, available, pd.DatetimeIndex([pd.Timestamp(as_of)]))
    return queries, entity_ids(queries)


def registry_units(
    registry: pd.DataFrame, id_col: str, as_of_dates: pd.DatetimeIndex
) -> pd.DataFrame:
    """One unit per registry row and as-of date on which it is available (`registry_queries`)."""
    registry = registry_universe(registry, id_col)
    entities = pd.Index(registry[id_col].astype(TEXT))
    available = registry["available_at"].to_numpy(dtype="datetime64[ns]")
    return units_frame(registry_queries(entities, available, as_of_dates))


def pairs_units(pairs: pd.DataFrame) -> pd.DataFrame:
    """Explicit (`entity_id`, `as_of`) pairs as a units frame with contract dtypes."""
    return pd.DataFrame(
        {
            "entity_id": pd.Series(pairs["entity_id"]).astype(TEXT).reset_index(drop=True),
            "as_of": pd.to_datetime(pairs["as_of"]).to_numpy(dtype="datetime64[ns]"),
        }
    )


def in_chunks(
    queries: Queries,
    compute: Callable[[Queries], dict[str, np.ndarray]],
    chunk_rows: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """`compute` over consecutive chunks of the queries: bounded memory, progress.

    Each chunk's columns are written straight into full-length arrays allocated after the first
    chunk (its dtypes decide), so no list of parts is held and no concatenation copy is made.
    """
    columns: dict[str, np.ndarray] = {}
    for start in range(0, max(len(queries), 1), chunk_rows):
        stop = min(start + chunk_rows, len(queries))
        part = compute(queries.take(slice(start, stop)))
        if not columns:
            columns = {name: np.empty(len(queries), dtype=v.dtype) for name, v in part.items()}
        for name, values in part.items():
            columns[name][start:stop] = values
        if progress is not None:
            progress(stop, len(queries))
    return columns
