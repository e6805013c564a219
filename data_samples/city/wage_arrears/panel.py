"""The employer x month panel: the window's calendar, monthly records published in order,
windowed reads of what is on record, and the draws of monthly events and streaks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_samples.city.common import DAY, sigmoid, uniform_times


@dataclass(frozen=True)
class Calendar:
    """Month starts of the window (`n + 1` values: the last is the window's end)."""

    starts: np.ndarray

    @property
    def n(self) -> int:
        return len(self.starts) - 1

    @property
    def month_ends(self) -> np.ndarray:
        """Last day of each month (midnight): the event time of monthly records."""
        return self.starts[1:] - DAY


def monotone_available(event_time: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """Availability per employer-month; a department publishes months in order."""
    raw = event_time[None, :] + (lag * 86_400).astype("timedelta64[s]")
    return np.maximum.accumulate(raw.astype("datetime64[ns]"), axis=1)


def latest_on_record(available: np.ndarray, as_of: np.ndarray) -> np.ndarray:
    """Index of the latest month whose record is visible at each as-of date (-1 if none)."""
    return (available[:, None, :] <= as_of[None, :, None]).sum(axis=2) - 1


def window_mean(
    values: np.ndarray, last: np.ndarray, back: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of `values[i, last-back-width+1 .. last-back]` per (i, as-of) and whether any was valid."""
    rows = np.arange(values.shape[0])[:, None]
    total = np.zeros(last.shape)
    count = np.zeros(last.shape)
    for offset in range(back, back + width):
        idx = last - offset
        value = values[rows, np.clip(idx, 0, None)]
        valid = (idx >= 0) & ~np.isnan(value)
        total += np.where(valid, value, 0.0)
        count += valid
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0), count > 0


def count_recent(
    entity: np.ndarray,
    event_time: np.ndarray,
    available: np.ndarray,
    as_of: np.ndarray,
    n: int,
    days: int,
) -> np.ndarray:
    """Events per entity on record at each as-of date that happened in the preceding `days`."""
    out = np.zeros((n, len(as_of)))
    span = np.timedelta64(days, "D")
    for k, t in enumerate(as_of):
        mask = (available <= t) & (event_time > t - span)
        out[:, k] = np.bincount(entity[mask], minlength=n)
    return out


def poisson_events(
    rng: np.random.Generator, rate: np.ndarray, cal: Calendar
) -> tuple[np.ndarray, np.ndarray]:
    """Events from a per-(entity, month) Poisson rate: (entity index, event time)."""
    counts = rng.poisson(rate)
    entity, month = np.nonzero(counts)
    reps = counts[entity, month]
    entity = np.repeat(entity, reps)
    month = np.repeat(month, reps)
    times = uniform_times(rng, cal.starts[month], cal.starts[month + 1])
    return entity, times


def persistent_uniforms(
    rng: np.random.Generator, n_firms: int, n: int, rho: float = 0.8
) -> np.ndarray:
    """Uniform draws correlated month to month: arrears run in streaks, not coin flips."""
    z = np.empty((n_firms, n))
    state = rng.normal(size=n_firms)
    for j in range(n):
        state = rho * state + np.sqrt(1 - rho**2) * rng.normal(size=n_firms)
        z[:, j] = state
    return sigmoid(1.702 * z)
