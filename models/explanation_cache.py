"""Cached explanations: a model's TreeSHAP rows kept by their exact feature row.

A materialised entity scored by id twice in a period sends the model the same feature row
twice; its contributions are then the same numbers, so the second request may reuse them.
The cache belongs to one loaded model version (the service keeps one per served model and
drops it with the model), and a row is found only by its exact bytes: the float64 feature
row as the model reads it, NaN for missing. A changed value, a changed category code or a
newly missing value is a different row and is explained afresh, so a reused row is exactly
what the explainer would return (rows are explained independently of their batch).

Bounded: at most `max_rows` rows, the least recently used dropped first; `max_rows=0` turns
reuse off. A row costs about 16 bytes per feature plus ~200 bytes of dictionary overhead
(about 0.9 KB for a 45-feature task). It holds no identifier, only feature values.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

Explain = Callable[[np.ndarray], np.ndarray]


class ExplanationCache:
    """TreeSHAP rows (bias column included) by exact feature row, least recently used first out."""

    def __init__(self, max_rows: int) -> None:
        if max_rows < 0:
            raise ValueError(f"max_rows must be 0 or more, got {max_rows}")
        self.max_rows = max_rows
        self._rows: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def contributions(self, matrix: np.ndarray, explain: Explain) -> tuple[np.ndarray, int]:
        """`explain(matrix)` for every row, reusing the rows already explained.

        Returns the contributions (rows x features + 1) and how many rows were reused. The
        rows not found are explained in one call, in their order.
        """
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        if self.max_rows == 0 or not len(matrix):
            return explain(matrix), 0
        keys = [row.tobytes() for row in matrix]
        with self._lock:
            found = [self._rows.get(key) for key in keys]
            for key, row in zip(keys, found, strict=True):
                if row is not None:
                    self._rows.move_to_end(key)
        missing = [index for index, row in enumerate(found) if row is None]
        if not missing:
            out = np.stack(found)  # type: ignore[arg-type]
        elif len(missing) == len(keys):
            out = explain(matrix)
            self._keep(keys, out)
        else:
            fresh = explain(matrix[missing])
            out = np.empty((len(keys), fresh.shape[1]), dtype=np.float64)
            out[missing] = fresh
            for index, row in enumerate(found):
                if row is not None:
                    out[index] = row
            self._keep([keys[index] for index in missing], fresh)
        return out, len(keys) - len(missing)

    def _keep(self, keys: list[bytes], rows: np.ndarray) -> None:
        """Remember freshly explained rows (copies), dropping the least recently used."""
        with self._lock:
            for key, row in zip(keys, rows, strict=True):
                self._rows[key] = row.copy()
                self._rows.move_to_end(key)
            while len(self._rows) > self.max_rows:
                self._rows.popitem(last=False)
