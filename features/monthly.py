"""Monthly declarations (social insurance, tax, utilities) read point in time.

`MonthlyPanel` puts values into a dense (entity x month) array, one layer per revision; a query
reads the months before its as-of month, each month's latest row on record (a revision counts
from its own `available_at` on), and masks the months whose record was not yet available. The
helpers below turn those lag matrices into "last k reported months", streaks, trends and
year-on-year changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.pit import Queries, encode


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
