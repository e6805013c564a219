"""Scrubbing what a scored record stores, remembering what it has already scrubbed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache, partial
from typing import Any

import numpy as np

from serving.store.pseudonym import holds_known, sanitise, scrub_text, searchable

# below this many rows, a column at a time costs more than a row at a time
_COLUMNS_MIN_ROWS = 16


class MemoScrubber:
    """`pseudonym.sanitise(secret, value)`, remembering scrubbed strings and integers.

    What the service and the screening store with a scored record (its features, reasons and
    actions) is the feature catalog's vocabulary, values the request schema or the feature
    pipeline made (numbers, flags, a feature's own categories) and the scorer's sentences. It
    is scrubbed for id-like values (identity cards, phones, accounts, credit codes), but not
    searched for the unit's own id, which the store keeps only as its pseudonym (and, on a
    warning, encrypted): no such value can hold that id but by coinciding with the catalog,
    and searched for, a unit whose id was such a word or value ("months", "hospitality")
    had its record rewritten ("sector: [id:…]", "in the last 12 [id:…]"). Results of other
    making, and free text people type (notes, an outside body's name, a reveal's purpose),
    are still searched for the unit's own id (`with_own_id`, `pseudonym.scrub_text`'s
    `known_ids`).

    A 1,000-record request repeats the same feature names, labels, action texts and small
    counts tens of thousands of times; scrubbing each afresh was most of the store write
    (about 0.3 s of 0.37 s), so each distinct string and integer is scrubbed once. Types
    beyond JSON's go to `sanitise` itself.
    """

    def __init__(self, secret: str, cache_size: int = 65_536) -> None:
        self._secret = secret
        self._text = lru_cache(maxsize=cache_size)(partial(scrub_text, secret))
        self._int = lru_cache(maxsize=cache_size, typed=True)(partial(sanitise, secret))

    def _dict(self, value: dict[Any, Any]) -> dict[str, Any]:
        """A dict's keys and values, the common leaves handled in line (no call per leaf:
        a request's reasons are thousands of small dicts)."""
        text = self._text
        out: dict[str, Any] = {}
        for key, item in value.items():
            kind = type(item)
            if item is None or kind is bool or (kind is float and math.isfinite(item)):
                out[text(str(key))] = item
            elif kind is str:
                out[text(str(key))] = text(item)
            else:
                out[text(str(key))] = self(item)
        return out

    def __call__(self, value: Any) -> Any:
        if value is None or value is True or value is False:
            return value
        kind = type(value)
        if kind is str:
            return self._text(value)
        if kind is float:
            return value if math.isfinite(value) else None
        if kind is dict:
            return self._dict(value)
        if kind is list:
            return [self._dict(item) if type(item) is dict else self(item) for item in value]
        if kind is int:
            return self._int(value)
        return sanitise(self._secret, value)

    def with_own_id(self, value: Any, raw_id: str) -> Any:
        """`sanitise(secret, value, {raw_id})`: `value` scrubbed with the unit's own id known,
        for results that may hold a caller's free text (`WarningStore.record_scores` given
        results not made from the catalog). Only a string holding the id, or an integer equal
        to it, is scrubbed afresh; the rest as by `__call__`, remembered."""
        if not searchable(raw_id):
            return self(value)
        kind = type(value)
        if kind is str:
            if holds_known(value, raw_id):
                return scrub_text(self._secret, value, frozenset({raw_id}))
            return self._text(value)
        if kind is dict:
            return {
                self._text(str(key)): self.with_own_id(item, raw_id) for key, item in value.items()
            }
        if kind is list:
            return [self.with_own_id(item, raw_id) for item in value]
        if value is None or kind is bool or kind is float or (kind is int and str(value) != raw_id):
            return self(value)
        return sanitise(self._secret, value, frozenset({raw_id}))

    def rows(self, names: Sequence[str], columns: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """`[self({name: column[i], ...}) for i ...]`, the same dicts, column by column.

        A request's features arrive as columns of JSON scalars; scrubbing them per row called
        the scrubber for every value (about 11 ms for 1,000 records). Here a column's distinct
        strings and integers are scrubbed once each, and floats, booleans and missing values
        pass as they are; every row goes the per-row way when a column holds anything beyond
        JSON scalars.
        """
        if len(columns) != len(names):
            raise ValueError("rows needs one column per name")
        n_rows = len(columns[0]) if columns else 0
        if any(len(column) != n_rows for column in columns):
            raise ValueError("rows needs as many values in every column")
        if n_rows < _COLUMNS_MIN_ROWS:
            return self._per_row(names, columns)
        scrubbed_columns: list[Sequence[Any]] = []
        for column in columns:
            scrubbed = self._column(column)
            if scrubbed is None:
                return self._per_row(names, columns)
            scrubbed_columns.append(scrubbed)
        keys = [self._text(name) for name in names]
        return [dict(zip(keys, row, strict=True)) for row in zip(*scrubbed_columns, strict=True)]

    def _per_row(
        self, names: Sequence[str], columns: Sequence[Sequence[Any]]
    ) -> list[dict[str, Any]]:
        return [self(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]

    def _column(self, column: Sequence[Any]) -> Sequence[Any] | None:
        """One column's scrubbed values; None for a column holding anything beyond JSON
        scalars."""
        kinds = set(map(type, column))
        kinds.discard(type(None))
        if kinds <= {bool}:
            return column
        if kinds == {float}:
            values = np.array(column, dtype="float64")  # None -> NaN
            if np.isinf(values).any() or np.isnan(values).sum() != column.count(None):
                return [v if v is None or math.isfinite(v) else None for v in column]
            return column
        if kinds == {str} or kinds == {int}:
            scrub = self._text if kinds == {str} else self._int
            distinct = {value for value in column if value is not None}
            scrubbed = {value: scrub(value) for value in distinct}
            if all(scrubbed[value] == value for value in distinct):
                return column
            return [None if value is None else scrubbed[value] for value in column]
        return None
