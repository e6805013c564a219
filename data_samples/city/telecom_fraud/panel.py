"""The resident x day panel: the window's months and rate segments, the daily outflow rows
(background and fraud transfers merged) and their sums and maxima over trailing windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_samples.city.common import DAY, month_starts
from data_samples.city.config import CITY_END
from data_samples.city.telecom_fraud.drivers import HORIZON_DAYS


def fraud_rows(
    fr_res: np.ndarray, fr_time: np.ndarray, fr_loss: np.ndarray
) -> tuple[np.ndarray, ...]:
    """The bank trace of each fraud: the loss sent to two new payees that day, at night or not."""
    day = fr_time.astype("datetime64[D]").astype("datetime64[ns]")
    hour = (fr_time - day) / np.timedelta64(1, "h")
    night = ((hour >= 22) | (hour < 6)).astype(np.int64)
    return fr_res, day, fr_loss, np.full(len(fr_res), 2, dtype=np.int64), night


def merge_days(
    background: tuple[np.ndarray, ...], frauds: tuple[np.ndarray, ...], t0: np.datetime64
) -> tuple[np.ndarray, ...]:
    """One row per (resident, day): background outflows plus fraud transfers on the same day.

    `background` rows are unique per (resident, day) and sorted that way; fraud rows are few,
    so they are added onto matching days and the rest appended (rows come out unsorted).
    """
    bg_key = _day_key(background[0], background[1], t0)
    fraud_key = _day_key(frauds[0], frauds[1], t0)
    pos = np.minimum(np.searchsorted(bg_key, fraud_key), max(len(bg_key) - 1, 0))
    match = bg_key[pos] == fraud_key if len(bg_key) else np.zeros(len(fraud_key), dtype=bool)
    extra_key, inverse = np.unique(fraud_key[~match], return_inverse=True)
    sums = []
    for bg_values, fraud_values in zip(background[2:], frauds[2:], strict=True):
        merged = bg_values.astype(float)
        np.add.at(merged, pos[match], fraud_values[match].astype(float))
        extra = np.bincount(
            inverse, weights=fraud_values[~match].astype(float), minlength=len(extra_key)
        )
        sums.append(np.concatenate([merged, extra]))
    keys = np.concatenate([bg_key, extra_key])
    merged_day = (t0 + (keys % 4096) * DAY).astype("datetime64[ns]")
    return (keys // 4096, merged_day, sums[0], sums[1], sums[2])


def _day_key(res: np.ndarray, day: np.ndarray, t0: np.datetime64) -> np.ndarray:
    """Sortable (resident, day) key: resident * 4096 + days since the window's start."""
    return res.astype(np.int64) * 4096 + ((day - t0) // DAY).astype(np.int64)


def window_sum(
    entity: np.ndarray,
    day: np.ndarray,
    value: np.ndarray,
    t: np.datetime64,
    n: int,
    lo_days: int,
    hi_days: int,
) -> np.ndarray:
    """Sum of daily values per entity over days in [t - hi_days, t - lo_days) (daily rows, +1 day lag)."""
    mask = (day >= t - np.timedelta64(hi_days, "D")) & (day < t - np.timedelta64(lo_days, "D"))
    return np.bincount(entity[mask], weights=value[mask], minlength=n)


def window_max(
    entity: np.ndarray, day: np.ndarray, value: np.ndarray, t: np.datetime64, n: int
) -> np.ndarray:
    mask = (day >= t - np.timedelta64(HORIZON_DAYS, "D")) & (day < t)
    out = np.zeros(n)
    np.maximum.at(out, entity[mask], value[mask])
    return out


@dataclass(frozen=True)
class FraudCalendar:
    """Month starts of the window and the rate segments (`seg`): month j's rate holds on
    (seg[j], seg[j+1]]; a short month's window runs on at its own rate into the next month, so
    every label window uses rates fixed in its past."""

    starts: np.ndarray
    month_len: np.ndarray
    seg: np.ndarray

    @property
    def n(self) -> int:
        return len(self.starts) - 1

    @property
    def as_of(self) -> np.ndarray:
        return self.starts[:-1]


def fraud_calendar(n_months: int) -> FraudCalendar:
    """The window's months and rate segments (no draws)."""
    starts = month_starts(CITY_END, n_months)
    month_len = ((starts[1:] - starts[:-1]) // DAY).astype(np.int64)
    window = np.timedelta64(HORIZON_DAYS, "D")
    seg = starts.copy()
    seg[1:-1] = np.maximum(starts[1:-1], starts[:-2] + window)
    return FraudCalendar(starts, month_len, seg)
