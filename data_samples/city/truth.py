"""Ground truth helpers: the dominant-driver rule and the machine-readable driver list."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A driver must add at least this much log-odds to count as a reason at all.
DOMINANCE_FLOOR = 0.25
#: ...and at least this many times the runner-up to be named the dominant driver.
DOMINANCE_RATIO = 2.0


@dataclass(frozen=True)
class Driver:
    """One planted cause of risk: where it shows up in the raw tables and which way it pushes."""

    name: str
    table: str | None
    columns: tuple[str, ...]
    direction: int
    description: str
    beta: float

    def as_json(self) -> dict[str, object]:
        """The drivers.json entry (the coefficient stays internal: it is the simulator's secret)."""
        return {
            "name": self.name,
            "table": self.table,
            "columns": list(self.columns),
            "direction": self.direction,
            "description": self.description,
        }


@dataclass(frozen=True)
class NoiseSignal:
    """A column that looks meaningful and drives nothing."""

    name: str
    table: str
    columns: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        """The drivers.json entry."""
        return {"name": self.name, "table": self.table, "columns": list(self.columns)}


def dominant_driver(contributions: np.ndarray, names: list[str]) -> np.ndarray:
    """Name the driver that dominates each row's risk.

    `contributions` holds beta_d * x_d per row (rows x drivers). Each is measured against the
    average unit (beta_d * (x_d - mean x_d)), the baseline an explanation of a score uses too:
    a driver at its usual level (one prior police call when most parties have one) does not
    make a unit stand out. A driver dominates when its positive contribution is at least
    DOMINANCE_FLOOR log-odds and at least DOMINANCE_RATIO times the second largest positive
    contribution; when the largest is below the floor the answer is "none", otherwise "mixed".
    """
    centred = contributions - contributions.mean(axis=0, keepdims=True)
    positive = np.clip(centred, 0.0, None)
    if positive.shape[1] == 1:
        top = positive[:, 0]
        return np.where(top >= DOMINANCE_FLOOR, names[0], "none").astype(object)
    order = np.argsort(-positive, axis=1, kind="stable")
    rows = np.arange(len(positive))
    first = positive[rows, order[:, 0]]
    second = positive[rows, order[:, 1]]
    labels = np.array(names, dtype=object)[order[:, 0]]
    dominant = first >= DOMINANCE_RATIO * second
    out = np.where(first < DOMINANCE_FLOOR, "none", np.where(dominant, labels, "mixed"))
    return out.astype(object)
