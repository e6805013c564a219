"""The realistic profile's population over time: history before the window, entries and exits.

A real city's tables do not start on the day a risk model's window starts, and its registry
is not a fixed list. Two things follow, both planted in the realistic profile only (drawn from
`Realism.history`, so neither the clean city's bytes nor the other realistic draws move):

- Warm-up readings: the utility company's meter history reaches back WAGE_WARMUP_MONTHS before
  the window, so a year-on-year change exists from the window's first month (without it, a
  year-on-year feature is missing for most of the first year's rows and a model can read its
  missingness as a clock).
- Entries and exits: a share of employers register during the window (newly founded, or
  moving their registration into the city) and a share deregister before it ends (closed, or
  moved away); a share of residents move in or out. A unit has no record in any table outside
  its registration ([registered_at, deregistered_at), [moved_in_at, moved_out_at)), no event
  there, and no unit in the truth at an as-of date on which it is not registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from data_samples.city.common import add_days, lag_days
from data_samples.city.realism import Realism

#: Months of meter readings before the window: the year-ago reading of the latest month on
#: record at the window's first as-of date (readings arrive 5-10 days after the month ends).
WAGE_WARMUP_MONTHS = 15
#: Share of employers that register during the window, and of those the share newly founded
#: (the others move their registration in and keep their founding date): a visible minority
#: of units, enough to test that no record or score of theirs falls outside the registration.
WAGE_ENTRY_SHARE = 0.10
WAGE_ENTRY_NEW_SHARE = 0.6
#: Share of employers that deregister (close or move away) during the window.
WAGE_EXIT_SHARE = 0.08
#: Residents moving into the city during the (one-year) fraud window, and out of it: a city
#: with many migrant workers changes a share of its population every year.
RESIDENT_MOVE_IN_SHARE = 0.08
RESIDENT_MOVE_OUT_SHARE = 0.06
#: Entries and exits fall in the window, at least this many days from its ends, so an entrant
#: is scored at least once and an exit removes at least one month.
TENURE_MARGIN_DAYS = 45.0


@dataclass(frozen=True)
class Tenure:
    """Per unit: when it entered and left the registry (NaT: before / after the window)."""

    entry: np.ndarray
    exit: np.ndarray

    def active_months(self, starts: np.ndarray) -> np.ndarray:
        """(units, months) True for the whole months inside [entry, exit): the months a unit
        declares and can have an onset in (an entrant declares from its first full month on,
        a leaver's last month is the last it finishes)."""
        entered = np.isnat(self.entry)[:, None] | (starts[None, :-1] >= self.entry[:, None])
        left = ~np.isnat(self.exit)[:, None] & (starts[None, 1:] > self.exit[:, None])
        return entered & ~left

    def keeps(self, unit: np.ndarray, time: np.ndarray) -> np.ndarray:
        """True for the events (unit index, time) that happen while the unit is registered."""
        entry, exit_ = self.entry[unit], self.exit[unit]
        after_entry = np.isnat(entry) | (time >= entry)
        before_exit = np.isnat(exit_) | (time < exit_)
        return after_entry & before_exit


class Registry(Protocol):
    """A chunk's registry as a simulator keeps it: unit ids, the registry table, its tenure."""

    @property
    def ids(self) -> np.ndarray: ...

    @property
    def frame(self) -> pd.DataFrame: ...

    @property
    def tenure(self) -> Tenure | None: ...


def registered_units(units: Registry, as_of: np.ndarray) -> np.ndarray:
    """(units, as-of dates) True where the registry shows the unit in the city: its registry
    row on record (`available_at`) and not gone yet (deregistered, moved out); every unit at
    every date where no tenure was drawn (the clean profile)."""
    if units.tenure is None:
        return np.ones((len(units.ids), len(as_of)), dtype=bool)
    available = units.frame["available_at"].to_numpy(dtype="datetime64[ns]")
    exit_ = units.tenure.exit
    gone = ~np.isnat(exit_)[:, None] & (exit_[:, None] <= as_of[None, :])
    return (available[:, None] <= as_of[None, :]) & ~gone


def draw_tenure(
    realism: Realism, n_units: int, starts: np.ndarray, entry_share: float, exit_share: float
) -> Tenure:
    """Entries and exits of one chunk of units (a unit can do both)."""
    rng = realism.history
    first = starts[0].astype("datetime64[ns]")
    span = (starts[-1] - starts[0]) / np.timedelta64(1, "D") - 2 * TENURE_MARGIN_DAYS
    entry_day = rng.uniform(0.0, span, n_units) + TENURE_MARGIN_DAYS
    exit_u = rng.uniform(0.0, 1.0, n_units)
    enters = rng.random(n_units) < entry_share
    leaves = rng.random(n_units) < exit_share
    entry = np.where(enters, add_days(np.full(n_units, first), entry_day), np.datetime64("NaT"))
    # An exit falls after the entry (if any) and before the window's end, margins kept.
    lo = np.where(enters, entry_day + TENURE_MARGIN_DAYS, TENURE_MARGIN_DAYS)
    exit_day = lo + exit_u * np.clip(span + TENURE_MARGIN_DAYS - lo, 0.0, None)
    leaves &= exit_day < span + TENURE_MARGIN_DAYS
    exit_ = np.where(leaves, add_days(np.full(n_units, first), exit_day), np.datetime64("NaT"))
    return Tenure(
        entry.astype("datetime64[D]").astype("datetime64[ns]"),
        exit_.astype("datetime64[D]").astype("datetime64[ns]"),
    )


def newly_founded(realism: Realism, tenure: Tenure) -> np.ndarray:
    """Per unit: True for entrants founded on their registration day."""
    return ~np.isnat(tenure.entry) & (
        realism.history.random(len(tenure.entry)) < WAGE_ENTRY_NEW_SHARE
    )


def warmup_utilities(
    realism: Realism,
    ids: pd.Categorical | np.ndarray,
    starts: np.ndarray,
    kwh_level: np.ndarray,
    water_level: np.ndarray,
    missing_share: float,
) -> pd.DataFrame:
    """Meter readings of the WAGE_WARMUP_MONTHS months before the window (same columns as the
    utilities table), around each firm's level at the window's start."""
    rng = realism.history
    n_firms, n = len(kwh_level), WAGE_WARMUP_MONTHS
    month = (
        pd.DatetimeIndex([pd.Timestamp(starts[0])])
        .to_period("M")
        .to_timestamp()
        .shift(-n, freq="MS")
    )
    months = pd.date_range(month[0], periods=n + 1, freq="MS").to_numpy(dtype="datetime64[ns]")
    month_end = months[1:] - np.timedelta64(1, "D")
    kwh = np.round(kwh_level[:, None] * np.exp(rng.normal(0, 0.06, (n_firms, n))), 1)
    water = np.round(water_level[:, None] * np.exp(rng.normal(0, 0.2, (n_firms, n))), 1)
    lag = lag_days(rng, 5, 10, n_firms * n).reshape(n_firms, n)
    available = np.maximum.accumulate(
        (month_end[None, :] + (lag * 86_400).astype("timedelta64[s]")).astype("datetime64[ns]"),
        axis=1,
    )
    frame = pd.DataFrame(
        {
            "employer_id": np.repeat(np.asarray(ids), n),
            "month": np.tile(months[:-1], n_firms),
            "electricity_kwh": kwh.reshape(-1),
            "water_m3": water.reshape(-1),
            "event_time": np.tile(month_end, n_firms),
            "available_at": available.reshape(-1),
        }
    )
    return frame[rng.random(len(frame)) >= missing_share].reset_index(drop=True)


def resident_parameters() -> dict[str, object]:
    """The telecom-fraud parameters recorded in truth/drivers.json ("realism")."""
    return {
        "move_in_share": RESIDENT_MOVE_IN_SHARE,
        "move_out_share": RESIDENT_MOVE_OUT_SHARE,
        "tenure": "moves uniform in the window, 45 days from its ends; no record (contacts, "
        "alerts, transfers, warnings, installs, cases) and no fraud outside "
        "[moved_in_at, moved_out_at); cases from before a move in were filed elsewhere",
    }


def wage_parameters() -> dict[str, object]:
    """The wage-arrears parameters recorded in truth/drivers.json ("realism")."""
    return {
        "warmup_meter_months": WAGE_WARMUP_MONTHS,
        "entry_share": WAGE_ENTRY_SHARE,
        "entry_newly_founded_share": WAGE_ENTRY_NEW_SHARE,
        "exit_share": WAGE_EXIT_SHARE,
        "tenure": "entries and exits uniform in the window, 45 days from its ends; no record, "
        "onset or truth unit outside [registered_at, deregistered_at)",
    }
