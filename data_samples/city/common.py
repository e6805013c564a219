"""Small vectorised helpers shared by the three department simulators: ids, calendars, draws."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from data_samples.city.config import DISTRICT_CODES, DISTRICT_SHARES, DISTRICTS, LUNAR_NEW_YEAR

DAY = np.timedelta64(1, "D")
SECOND_NS = 1_000_000_000
DAY_NS = 86_400 * SECOND_NS

# Unified social credit code alphabet (GB 32100-2015: no I, O, S, V, Z) and check weights.
_USCC_ALPHABET = np.array(list("0123456789ABCDEFGHJKLMNPQRTUWXY"))
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, stable for large |x|."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def month_starts(end: date, n_months: int, extra: int = 0) -> np.ndarray:
    """First days of the `n_months` months before `end`, plus `extra` months after them."""
    first = pd.Timestamp(end) - pd.DateOffset(months=n_months)
    return pd.date_range(first, periods=n_months + 1 + extra, freq="MS").values.astype(
        "datetime64[ns]"
    )


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """A bijection on uint64 that scatters consecutive integers: unique ids that look random."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK64


def _salt_offset(salt: int, shift: int) -> np.uint64:
    """`salt * 2**shift` modulo 2**64, as unsigned 64-bit arithmetic wraps it.

    Computed on Python integers so that any seed works (a large one used to overflow NumPy's
    scalar arithmetic with a warning, or not convert at all); the ids stay the same bytes.
    """
    return np.uint64((salt << shift) % (1 << 64))


def pseudonyms(start: int, count: int, salt: int) -> np.ndarray:
    """16-hex-character pseudonyms for global indices `start..start+count`, unique per salt."""
    index = np.arange(start, start + count, dtype=np.uint64) + _salt_offset(salt, 40)
    hashed = _splitmix64(index).astype(">u8")
    text = hashed.tobytes().hex().encode()
    return np.frombuffer(text, dtype="S16").astype(str)


def credit_codes(start: int, count: int, salt: int, district_idx: np.ndarray) -> np.ndarray:
    """18-character unified social credit codes with a valid check character.

    Layout: '91' (enterprise, company) + 6-digit district code + 9-character organisation code
    + check character. The organisation code is a bijection of the global index, so codes are
    unique within a city.
    """
    index = np.arange(start, start + count, dtype=np.uint64) + _salt_offset(salt, 36)
    org = _splitmix64(index) % np.uint64(31**9)
    digits = np.empty((count, 17), dtype=np.int64)
    digits[:, 0] = 9
    digits[:, 1] = 1
    area = np.array([[int(c) for c in code] for code in DISTRICT_CODES])
    digits[:, 2:8] = area[district_idx]
    rest = org.astype(np.int64)
    for pos in range(16, 7, -1):
        digits[:, pos] = rest % 31
        rest //= 31
    check = (31 - (digits * _USCC_WEIGHTS).sum(axis=1) % 31) % 31
    chars = _USCC_ALPHABET[np.concatenate([digits, check[:, None]], axis=1)]
    return np.array(["".join(row) for row in chars]) if count else np.array([], dtype=str)


def draw_districts(rng: np.random.Generator, count: int) -> np.ndarray:
    """District indices drawn by population share."""
    return rng.choice(len(DISTRICTS), size=count, p=DISTRICT_SHARES)


def uniform_times(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Timestamps uniform in (lo, hi], rounded to the second (datetime64[ns] in, out)."""
    lo_ns = lo.astype("datetime64[ns]").astype(np.int64)
    span = hi.astype("datetime64[ns]").astype(np.int64) - lo_ns
    seconds = np.ceil(rng.random(len(lo_ns)) * (span // SECOND_NS)).astype(np.int64)
    seconds = np.maximum(seconds, 1)
    return (lo_ns + seconds * SECOND_NS).astype("datetime64[ns]")


def add_days(times: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Shift datetime64[ns] values by (possibly fractional) days, to the whole second."""
    seconds = np.round(np.asarray(days, dtype=float) * 86_400).astype(np.int64)
    return (times.astype("datetime64[ns]").astype(np.int64) + seconds * SECOND_NS).astype(
        "datetime64[ns]"
    )


def office_hours(rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
    """Move each time to a random moment between 08:30 and 17:00 on its own day."""
    day = times.astype("datetime64[D]").astype("datetime64[ns]")
    return add_days(day, rng.uniform(8.5 / 24, 17 / 24, len(times)))


def lag_days(rng: np.random.Generator, lo: float, hi: float, count: int) -> np.ndarray:
    """Whole-day reporting lags uniform in [lo, hi]."""
    return rng.integers(int(lo), int(hi) + 1, size=count).astype(float)


def spring_festival_pressure(month_start: np.ndarray) -> np.ndarray:
    """1 on the eve of Spring Festival, falling linearly to 0 at 120 days before it.

    Wage arrears cluster in the months before the lunar new year, when contractors settle
    the year's wages and owners' year-end payments decide whether they can.
    """
    lny = np.array(LUNAR_NEW_YEAR, dtype="datetime64[D]")
    days = month_start.astype("datetime64[D]")
    nxt = lny[np.searchsorted(lny, days, side="left")]
    to_lny = (nxt - days).astype(np.int64)
    return np.clip(1.0 - to_lny / 120.0, 0.0, 1.0)


def repeat_index(counts: np.ndarray) -> np.ndarray:
    """Row index repeated `counts` times: the parent of each child row."""
    return np.repeat(np.arange(len(counts)), counts)


def rank_within(groups: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal, sorted `groups` values."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    run_lengths = np.diff(np.r_[starts, len(groups)])
    return np.arange(len(groups)) - np.repeat(starts, run_lengths)


def sequential_ids(prefix: str, chunk: int, count: int) -> np.ndarray:
    """Readable record ids such as 'CC00100000042': prefix, 3-digit chunk, 8-digit row number
    (none for a table without rows: a rare event in a small city may not happen at all)."""
    if count == 0:
        return np.zeros(0, dtype=str)
    numbers = np.char.zfill(np.arange(count).astype(str), 8)
    return np.char.add(f"{prefix}{chunk:03d}", numbers).astype(str)


@dataclass(frozen=True)
class SimulatedChunk:
    """One chunk of units of one task: its raw tables (by name) and its truth rows."""

    tables: dict[str, pd.DataFrame]
    units: pd.DataFrame


def entity_column(ids: np.ndarray, index: np.ndarray) -> pd.Categorical:
    """`ids[index]` as a categorical: long repeated id columns cost codes, not strings."""
    return pd.Categorical.from_codes(index, categories=pd.Index(ids, dtype=object))
