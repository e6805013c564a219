"""The parties' 110 calls and petitions by party, searchable by time: the fixed rows plus
the rows escalations add as disputes are simulated day by day."""

from __future__ import annotations

import numpy as np

from data_samples.city.common import SECOND_NS, rank_within, repeat_index


def _to_seconds(times: np.ndarray, base: np.datetime64) -> np.ndarray:
    return (times.astype("datetime64[ns]") - base).astype(np.int64) // SECOND_NS


class History:
    """Calls or petitions by party, searchable by time: fixed rows plus rows added as we go."""

    def __init__(
        self, party: np.ndarray, time: np.ndarray, available: np.ndarray, base: np.datetime64
    ) -> None:
        self.base = base
        order = np.lexsort((time, party))
        self.order = order
        self.key = party[order].astype(np.int64) * (1 << 40) + _to_seconds(time[order], base)
        self.avail = available[order]
        self.new_party: list[np.ndarray] = []
        self.new_time: list[np.ndarray] = []
        self.new_avail: list[np.ndarray] = []
        self.new_dispute: list[np.ndarray] = []
        self.new_kind: list[np.ndarray] = []
        self._dynamic: tuple[np.ndarray, np.ndarray, int] | None = None

    def add(
        self,
        party: np.ndarray,
        time: np.ndarray,
        available: np.ndarray,
        dispute: np.ndarray,
        kind: np.ndarray,
    ) -> None:
        """Append rows caused by escalations (their dispute index and escalation type kept)."""
        self.new_party.append(party)
        self.new_time.append(time)
        self.new_avail.append(available)
        self.new_dispute.append(dispute)
        self.new_kind.append(kind)

    def added(self) -> dict[str, np.ndarray]:
        """All rows added so far, as arrays."""
        if not self.new_party:
            empty = np.zeros(0, dtype=np.int64)
            return {
                "party": empty,
                "time": empty.astype("datetime64[ns]"),
                "avail": empty.astype("datetime64[ns]"),
                "dispute": empty,
                "kind": empty.astype(str),
            }
        return {
            "party": np.concatenate(self.new_party),
            "time": np.concatenate(self.new_time),
            "avail": np.concatenate(self.new_avail),
            "dispute": np.concatenate(self.new_dispute),
            "kind": np.concatenate(self.new_kind),
        }

    def count(self, party: np.ndarray, as_of: np.ndarray, days: int) -> np.ndarray:
        """Rows per (party, as-of) with event time in [as_of - days, as_of) and on record at as_of."""
        total = _count_in_window(self.key, self.avail, party, as_of, days, self.base)
        if self.new_party:
            if self._dynamic is None or self._dynamic[2] != len(self.new_party):
                new_party = np.concatenate(self.new_party)
                new_time = np.concatenate(self.new_time)
                order = np.lexsort((new_time, new_party))
                key = new_party[order].astype(np.int64) * (1 << 40) + _to_seconds(
                    new_time[order], self.base
                )
                self._dynamic = (key, np.concatenate(self.new_avail)[order], len(self.new_party))
            key, avail, _ = self._dynamic
            total = total + _count_in_window(key, avail, party, as_of, days, self.base)
        return total


def _count_in_window(
    key: np.ndarray,
    avail: np.ndarray,
    party: np.ndarray,
    as_of: np.ndarray,
    days: int,
    base: np.datetime64,
) -> np.ndarray:
    """Rows of a (party, time)-sorted key array in [as_of - days, as_of) per query, on record at as_of."""
    lo_key = party.astype(np.int64) * (1 << 40) + _to_seconds(
        as_of - np.timedelta64(days, "D"), base
    )
    hi_key = party.astype(np.int64) * (1 << 40) + _to_seconds(as_of, base)
    lo = np.searchsorted(key, lo_key, side="left")
    hi = np.searchsorted(key, hi_key, side="left")
    span = hi - lo
    if not span.sum():
        return span.astype(float)
    # Rows in the window that are not yet on record at the as-of date (lags of a day or so).
    rows = repeat_index(span)
    idx = np.repeat(lo, span) + rank_within(rows)
    late = np.bincount(rows, weights=avail[idx] > as_of[rows], minlength=len(party))
    return span - late
