"""A feature frame (a scoring set, a population to score) checked against the catalog's rules.

The API refuses a record whose category is not in the catalog, whose number is outside the
catalog's `min_value`/`max_value`, whose count is a fraction, whose number is sent as text or
whose `entity_id` is missing or malformed (`serving.schemas` builds its record models from the
same `FeatureDef`s). A whole frame scored offline must not slip past those rules: the model
would read an unknown category or an unparseable number as missing and score a different unit.
`rule_breaches` applies the rules column by column, vectorised, and returns what breaks them;
it never changes the frame.

Missing values stay allowed (a department reporting part of a unit is normal), and columns the
catalog does not know are not looked at. `as_of_breach` checks the date a row describes, which
a scored population carries (the API takes dates as dates or `YYYY-MM-DD` text).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalog import FeatureDef

#: An entity id as the API takes it (`serving.schemas.EntityId`): a test keeps the two equal.
ENTITY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+/-]*$"
ENTITY_ID_MAX_CHARS = 128
#: How many offending rows a refusal names.
SHOWN_ROWS = 3

_ENTITY_ID_RULE = (
    f"must be text of 1 to {ENTITY_ID_MAX_CHARS} letters, digits or _.:@+/- "
    "starting with a letter or digit"
)


@dataclass(frozen=True)
class RuleBreach:
    """Rows of one column that break one catalog rule.

    Attributes:
        column: the column's name.
        rule: the rule in words ("must be one of labour, land, ...").
        count: how many rows break it.
        positions: the first few offending rows, as 0-based positions in the frame.
        values: their values as `repr` text, or empty when the values must not be shown
            (entity ids are personal identifiers).
    """

    column: str
    rule: str
    count: int
    positions: tuple[int, ...]
    values: tuple[str, ...] = ()

    def describe(self, total_rows: int) -> str:
        """One sentence: the column, the rule, how many rows break it and where."""
        if not self.positions:
            return f"column {self.column} {self.rule}"
        if self.values:
            shown = [f"row {p}: {v}" for p, v in zip(self.positions, self.values, strict=True)]
        else:
            shown = [f"row {p}" for p in self.positions]
        more = ", ..." if self.count > len(self.positions) else ""
        return (
            f"column {self.column} {self.rule}: {self.count} of {total_rows} row(s) break it "
            f"({', '.join(shown)}{more}; rows counted from 0)"
        )


def describe_breaches(breaches: Sequence[RuleBreach], total_rows: int) -> str:
    """The first breach in full and the other columns that break a rule, on one line."""
    text = breaches[0].describe(total_rows)
    if len(breaches) > 1:
        others = ", ".join(f"{b.column} ({b.count} row(s))" for b in breaches[1:])
        text += f"; other columns breaking a rule: {others}"
    return text


def rule_breaches(features: Sequence[FeatureDef], frame: pd.DataFrame) -> list[RuleBreach]:
    """What in `frame` breaks the catalog's rules: `entity_id` first, then each feature present.

    One breach per column at most: the most basic rule it breaks (a column holding text is not
    also range-checked). Feature columns absent from the frame are not this check's business
    (the model says which it needs); an absent `entity_id` column is reported.

    Args:
        features: the catalog entries to check (a task's catalog, or the ones a model uses).
        frame: the rows to score, in the order their positions are reported.

    Returns:
        The breaches, in column order; empty when every row keeps every rule.
    """
    breaches = []
    entity = _entity_id_breach(frame)
    if entity is not None:
        breaches.append(entity)
    for feature in features:
        if feature.name not in frame.columns:
            continue
        column = frame[feature.name]
        found = (
            _category_breach(feature, column)
            if feature.dtype == "category"
            else _number_breach(feature, column)
        )
        if found is not None:
            breaches.append(found)
    return breaches


def _breach(
    column: str, rule: str, bad: np.ndarray, values: pd.Series | None = None
) -> RuleBreach | None:
    """A breach for the rows flagged in `bad` (None if there are none); `values` shown if given."""
    count = int(bad.sum())
    if not count:
        return None
    positions = np.flatnonzero(bad)[:SHOWN_ROWS]
    shown = tuple(repr(_plain(values.iloc[p])) for p in positions) if values is not None else ()
    return RuleBreach(column, rule, count, tuple(int(p) for p in positions), shown)


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, so a refusal reads `-5.0`, not `np.float64`."""
    return value.item() if isinstance(value, np.generic) else value


def _entity_id_breach(frame: pd.DataFrame) -> RuleBreach | None:
    if "entity_id" not in frame.columns:
        return RuleBreach(
            "entity_id", "is missing (it joins a score back to its unit)", len(frame), ()
        )
    ids = frame["entity_id"].astype("object")
    missing = ids.isna().to_numpy()
    found = _breach("entity_id", "must be present (it joins a score back to its unit)", missing)
    if found is not None:
        return found
    text = ids.map(lambda value: isinstance(value, str)).to_numpy(dtype=bool)
    valid = np.zeros(len(ids), dtype=bool)
    if text.any():
        as_text = ids[text].astype("str")
        valid[text] = (
            as_text.str.fullmatch(ENTITY_ID_PATTERN) & (as_text.str.len() <= ENTITY_ID_MAX_CHARS)
        ).to_numpy(dtype=bool)
    return _breach("entity_id", _ENTITY_ID_RULE, ~valid)


def as_of_breach(frame: pd.DataFrame) -> RuleBreach | None:
    """`as_of`, the date a row's features describe, as the API takes a date (`serving.schemas`'
    dates): a date or datetime value, or ISO text `YYYY-MM-DD` naming a real day; never
    missing. A column that is absent is reported too."""
    if "as_of" not in frame.columns:
        return RuleBreach(
            "as_of", "is missing (the date each row's features describe)", len(frame), ()
        )
    column = frame["as_of"]
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return _breach("as_of", _AS_OF_RULE, column.isna().to_numpy(dtype=bool), column)
    values = column.astype("object")
    return _breach("as_of", _AS_OF_RULE, ~values.map(_is_date).to_numpy(dtype=bool), values)


_AS_OF_RULE = "must be a date (a date column, or text YYYY-MM-DD), never missing"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"


def _is_date(value: object) -> bool:
    """A date, a datetime (not NaT) or ISO date text that names a real calendar day."""
    if isinstance(value, pd.Timestamp | dt.date | np.datetime64):
        return not pd.isna(value)
    if isinstance(value, str) and re.fullmatch(_ISO_DATE, value):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return True
    return False


def _category_breach(feature: FeatureDef, column: pd.Series) -> RuleBreach | None:
    values = column.astype("object")
    bad = (values.notna() & ~values.isin(feature.categories)).to_numpy(dtype=bool)
    rule = f"must be one of {', '.join(feature.categories)} (or missing)"
    return _breach(feature.name, rule, bad, values)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _number_breach(feature: FeatureDef, column: pd.Series) -> RuleBreach | None:
    """Type first (numbers, or true/false for a flag; never text), then the value rules."""
    name = feature.name
    flag = feature.dtype == "bool"
    if pd.api.types.is_bool_dtype(column.dtype):
        if flag:
            return None
        present = column.notna().to_numpy(dtype=bool)
        return _breach(name, "must hold numbers, not true/false", present, column)
    if column.dtype.kind in "iuf":
        numbers = column.to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = column.astype("object")
        present = values.notna().to_numpy(dtype=bool)
        kind = values.map(lambda v: _is_number(v) or (flag and isinstance(v, bool | np.bool_)))
        wrong = present & ~kind.to_numpy(dtype=bool)
        expected = "true/false or 0/1" if flag else "numbers"
        rule = (
            f"must hold {expected} (numbers stored as text are refused, as the API refuses "
            "them: convert the column before scoring)"
        )
        found = _breach(name, rule, wrong, values)
        if found is not None:
            return found
        numbers = pd.to_numeric(values.where(present, np.nan)).to_numpy(
            dtype="float64", na_value=np.nan
        )
    present = ~np.isnan(numbers)
    shown = pd.Series(numbers)
    with np.errstate(invalid="ignore"):
        if flag:
            flags = present & ~np.isin(numbers, (0, 1))
            return _breach(name, "must be true/false or 0/1", flags, shown)
        found = _breach(name, "must be a finite number", np.isinf(numbers), shown)
        if found is None and feature.dtype == "int":
            fraction = present & (numbers != np.floor(numbers))
            found = _breach(name, "must be a whole number", fraction, shown)
        if found is not None:
            return found
        low = -np.inf if feature.min_value is None else feature.min_value
        high = np.inf if feature.max_value is None else feature.max_value
        outside = present & ((numbers < low) | (numbers > high))
    return _breach(name, _range_rule(feature), outside, shown)


def _range_rule(feature: FeatureDef) -> str:
    low, high = feature.min_value, feature.max_value
    if low is not None and high is not None:
        return f"must be between {low:g} and {high:g}"
    if low is not None:
        return f"must be at least {low:g}"
    return f"must be at most {high:g}"
