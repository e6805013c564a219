"""Raw tables checked where they enter the pipeline, with errors a department can act on.

Every table of the contract (`features.schemas.TABLE_SPECS`) has one pandera schema in
`RAW_SCHEMAS[task][table]`. `validate_tables` is the only door into the feature builders: it
reads every time as the city's naive local time (text in unambiguous forms only, a zone
converted, numbers refused), strips the spaces around ids, checks columns, dtypes, allowed
category values, months on their first day, key uniqueness and `available_at >= event_time`,
and raises `RawDataError` naming the table, the column and the first rows at fault by position.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from features.raw_checks import TEXT, no_missing, times_in_order, unique_key
from features.schemas import TABLE_SPECS, ColumnKind, ColumnSpec, RawTables, TableSpec

#: How many rows at fault a refusal names.
SHOWN_ROWS = 5


class RawDataError(ValueError):
    """A raw table breaks its schema: one line naming the table, the column, the problem and
    the first rows at fault by position, never a value they hold.

    Raw rows carry identity numbers and personal attributes, and the CLI prints this message to
    stderr, which a scheduled run appends to a log file: the positions let a department find
    the rows in its own export without the log holding any of them.

    Attributes:
        table: `task/table`.
        column: the column at fault (the key's columns, comma-separated, for a duplicate key).
        problem: what is wrong, in words.
        positions: the first few rows at fault (at most `SHOWN_ROWS`), as 0-based positions in
            the table; empty when the problem is not one of rows (a missing column).
        count: how many rows are at fault.
        total: how many rows the table has.
        hint: what the department should write instead, said after the rows.
    """

    def __init__(
        self,
        table: str,
        column: str,
        problem: str,
        at_fault: np.ndarray | None = None,
        total: int = 0,
        *,
        hint: str = "",
    ):
        at_fault = np.empty(0, dtype=np.int64) if at_fault is None else np.sort(at_fault)
        self.table = table
        self.column = column
        self.problem = problem
        self.positions = tuple(int(p) for p in at_fault[:SHOWN_ROWS])
        self.count = len(at_fault)
        self.total = total
        advice = f"; {hint}" if hint else ""
        super().__init__(f"table {table!r}, column {column!r}: {problem}{self._where()}{advice}")

    def _where(self) -> str:
        if not self.count:
            return ""
        noun = "row" if self.count == 1 else "rows"
        more = ", ..." if self.count > len(self.positions) else ""
        shown = ", ".join(str(p) for p in self.positions)
        return f" in {self.count:,} of {self.total:,} rows ({noun} {shown}{more}; counted from 0)"


_PANDERA_DTYPES: dict[ColumnKind, object] = {
    "id": TEXT,
    "str": TEXT,
    "category": TEXT,
    "timestamp": "datetime64[ns]",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
}


_EXPECTED_DTYPE: dict[ColumnKind, str] = {
    "id": "str (identifier)",
    "str": "str",
    "category": "str (category value)",
    "timestamp": "datetime64[ns]",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
}


#: Rows a month check looks at at once: its scratch arrays stay small on a large table.
_MONTH_BLOCK = 1 << 20


def _month_starts(column: pd.Series) -> bool | pd.Series:
    """True when every time is the first day of a month at 00:00 (or missing), else which are.

    A `month` of 2024-01-15 (or 2024-01-31 16:00, a UTC instant read as local) would file
    the declaration under a month the department never meant.
    """
    values = column.to_numpy()
    if values.dtype != "datetime64[ns]":
        return True  # the dtype check refuses it
    fine: np.ndarray | None = None
    for start in range(0, len(values), _MONTH_BLOCK):
        block = values[start : start + _MONTH_BLOCK]
        starts = block.astype("datetime64[M]").astype(block.dtype)
        wrong = np.flatnonzero((starts != block) & ~np.isnat(block))
        if len(wrong):
            fine = np.ones(len(values), dtype=bool) if fine is None else fine
            fine[start + wrong] = False
    return True if fine is None else pd.Series(fine, index=column.index)


def _column_schema(name: str, spec: ColumnSpec) -> pa.Column:
    """One column's pandera schema; missing values are refused by a check named `not_nullable`.

    pandera's built-in nullability test builds a byte-per-row mask of every column
    (`hasnans`); `no_missing` answers from a reduction instead, under the same name, so the
    column is declared nullable to pandera and the check does the refusing.
    """
    checks = [] if spec.nullable else [pa.Check(no_missing, name="not_nullable", ignore_na=False)]
    if spec.values:
        checks.append(pa.Check.isin(list(spec.values)))
    if spec.month_start:
        checks.append(pa.Check(_month_starts, name="first_of_month"))
    return pa.Column(
        _PANDERA_DTYPES[spec.kind],
        checks=checks,
        nullable=True,
        # timestamps are read by `_normalise`, which never guesses
        coerce=spec.kind == "float",
        required=not spec.optional,
        name=name,
    )


def _table_schema(task: str, table: str, spec: TableSpec) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {name: _column_schema(name, col) for name, col in spec.columns.items()},
        checks=[
            pa.Check(times_in_order, name="available_at_before_event_time"),
            pa.Check(unique_key(spec.key), name="duplicate_key"),
        ],
        name=f"{task}/{table}",
        strict=False,
    )


RAW_SCHEMAS: dict[str, dict[str, pa.DataFrameSchema]] = {
    task: {table: _table_schema(task, table, spec) for table, spec in tables.items()}
    for task, tables in TABLE_SPECS.items()
}


def _normalise(frame: pd.DataFrame, table: str, spec: TableSpec) -> pd.DataFrame:
    """Widen harmless storage variants (int32, object strings, categoricals) to contract dtypes,
    strip the spaces around ids and read every timestamp column as the city's naive local time.

    Only lossless conversions happen here; anything else is left for the schema to reject,
    but for dates that cannot be read without guessing (`_local_times` refuses them).
    """
    changes: dict[str, pd.Series] = {}
    for name, col in spec.columns.items():
        if name not in frame.columns:
            continue
        series = frame[name]
        dtype = series.dtype
        if col.kind in ("id", "str", "category"):
            if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype):
                values = series.dropna()
                if values.map(lambda value: isinstance(value, str)).all():
                    series = changes[name] = series.astype("str")
            if col.kind == "id" and isinstance(series.dtype, pd.StringDtype):
                stripped = stripped_ids(series)
                if stripped is not None:
                    changes[name] = stripped
        elif col.kind == "int":
            if pd.api.types.is_integer_dtype(dtype) and dtype != "int64" and series.notna().all():
                changes[name] = series.astype("int64")
        elif col.kind == "bool":
            if pd.api.types.is_bool_dtype(dtype) and dtype != "bool" and series.notna().all():
                changes[name] = series.astype("bool")
        elif col.kind == "timestamp":
            times = _local_times(series, table, name)
            if times is not None:
                changes[name] = times
    return frame.assign(**changes) if changes else frame


#: White space at either end of a text, in Arrow's regular expressions (RE2): what Python's
#: `str.strip` and Arrow's `utf8_trim_whitespace` remove (the ideographic space included).
_PADDED = r"^[\s\p{Z}\x{85}\x{1c}-\x{1f}]|[\s\p{Z}\x{85}\x{1c}-\x{1f}]$"


def stripped_ids(ids: pd.Series) -> pd.Series | None:
    """The ids without the white space around them, or None when none has any.

    A fixed-width export pads `91330502P341PK5E1T` to `91330502P341PK5E1T `: the same unit,
    which would match none in the other tables. Characters inside an id (and its leading
    zeros) are never touched. Arrow answers "none is padded" from a bitmap: a stripped copy
    of every id column would be gigabytes on a large table, almost always for nothing.
    """
    if getattr(ids.dtype, "storage", "") == "pyarrow":
        padded = pc.match_substring_regex(pa_arrow.array(ids.array), _PADDED)
        if not pc.any(padded).as_py():
            return None
    stripped = ids.str.strip()
    return None if stripped.equals(ids) else stripped


#: The city's time zone: raw times are naive local time in it (docs/architecture.md).
CITY_TZ = "Asia/Shanghai"

#: The date text read without guessing: year first (`2024-03-01`, `2024/3/1`), then
#: optionally a time (`T` or a space, `hh:mm[:ss[.fraction]]`) with optionally a UTC offset
#: (`Z`, `+08:00`, `+0800`). Written for both Python's and Arrow's (RE2) regular expressions.
_DATE_TEXT = (
    r"\d{4}(?:-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_WITH_OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$"
#: Text that reads day/month/year or month/day/year alike: `01/02/2024` is 1 Feb or 2 Jan.
_DAY_OR_MONTH_FIRST = r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?:\D.*)?"
#: Numbers written as text: Excel serial days (`44169`), epoch seconds, `20240301`.
_NUMBER_TEXT = r"[+-]?\d+(?:\.\d*)?"

_WRITE_DATES = "write dates as YYYY-MM-DD (or YYYY-MM-DD hh:mm:ss)"


def _zone(dtype: object) -> object:
    """The time zone of a datetime dtype (numpy-backed or Arrow), None for naive times."""
    arrow = getattr(dtype, "pyarrow_dtype", None)
    return getattr(arrow, "tz", None) if arrow is not None else getattr(dtype, "tz", None)


def _local_times(series: pd.Series, table: str, column: str) -> pd.Series | None:
    """`series` as naive `datetime64[ns]` in the city's time, or None when it already is that
    (or is something else the schema refuses by dtype, such as true/false).

    A time with a zone (Spark writes UTC instants; CSV text may carry `+08:00`) is the same
    instant in the city's time: converted, not reinterpreted. Numbers and text in other forms
    are refused here rather than read as nanoseconds since 1970 or guessed month-first.

    Raises:
        RawDataError: numbers, day/month-ambiguous or unreadable text, with the rows.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if _zone(dtype) is not None:
            series = series.dt.tz_convert(CITY_TZ).dt.tz_localize(None)
        elif dtype == "datetime64[ns]":
            return None
        return _as_ns(series, table, column)
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        numbers = np.flatnonzero(series.notna().to_numpy(dtype=bool))
        if len(numbers):
            raise _numbers_not_dates(table, column, numbers, len(series))
        return series.astype("datetime64[ns]")  # an all-empty CSV column reads as float NaN
    if pd.api.types.is_object_dtype(dtype):
        return _times_from_objects(series, table, column)
    if pd.api.types.is_string_dtype(dtype):
        return _times_from_text(series, table, column)
    return None


def _numbers_not_dates(table: str, column: str, rows: np.ndarray, total: int) -> RawDataError:
    problem = "holds numbers, not dates (Excel serial days or seconds since 1970?)"
    return RawDataError(table, column, problem, rows, total, hint=_WRITE_DATES)


def _as_ns(times: pd.Series, table: str, column: str) -> pd.Series:
    """Naive times in the contract's nanosecond resolution; times it cannot hold refused."""
    try:
        return times.astype("datetime64[ns]")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        outside = (times < pd.Timestamp.min) | (times > pd.Timestamp.max)
        rows = np.flatnonzero(outside.to_numpy(dtype=bool))
        problem = "dates outside the years 1678-2261"
        raise RawDataError(table, column, problem, rows, len(times), hint=_WRITE_DATES) from None


def _matches(text: pd.Series, pattern: str) -> np.ndarray:
    """Which values are `pattern` whole (missing ones are not)."""
    return text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)


def _times_from_text(text: pd.Series, table: str, column: str) -> pd.Series:
    """Date text in one of the forms of `_DATE_TEXT` as naive local times; blanks are missing.

    Raises:
        RawDataError: numbers, text that reads day-first or month-first alike, text in another
            form or naming no real date (`2024-02-30`): each with its rows.
    """
    text = text.str.strip()
    present = text.notna().to_numpy(dtype=bool) & (text != "").fillna(False).to_numpy(dtype=bool)
    readable = _matches(text, _DATE_TEXT)
    unreadable = present & ~readable
    if unreadable.any():
        numbers = np.flatnonzero(unreadable & _matches(text, _NUMBER_TEXT))
        if len(numbers):
            raise _numbers_not_dates(table, column, numbers, len(text))
        ambiguous = np.flatnonzero(unreadable & _matches(text, _DAY_OR_MONTH_FIRST))
        if len(ambiguous):
            problem = "dates that read day-first or month-first alike (like 01/02/2024)"
            raise RawDataError(table, column, problem, ambiguous, len(text), hint=_WRITE_DATES)
    offset = readable & text.str.contains(_WITH_OFFSET).fillna(False).to_numpy(dtype=bool)
    times = pd.to_datetime(text.where(readable & ~offset), format="ISO8601", errors="coerce")
    if offset.any():
        instants = pd.to_datetime(text.where(offset), format="ISO8601", errors="coerce", utc=True)
        times = times.where(~offset, instants.dt.tz_convert(CITY_TZ).dt.tz_localize(None))
    unparseable = np.flatnonzero(present & times.isna().to_numpy(dtype=bool))
    if len(unparseable):
        problem = "unparseable dates"
        raise RawDataError(table, column, problem, unparseable, len(text), hint=_WRITE_DATES)
    return _as_ns(times, table, column)


def _one_time(value: object) -> pd.Timestamp | None:
    """A date object (`datetime`, `date`, `Timestamp`) as a naive local time, else None."""
    if not isinstance(value, date | np.datetime64):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_convert(CITY_TZ).tz_localize(None) if stamp.tzinfo is not None else stamp


def _times_from_objects(values: pd.Series, table: str, column: str) -> pd.Series:
    """An object column of date text, date objects (with or without a zone) and gaps, as naive
    local times; numbers and other values are refused with their rows."""
    text = values.map(lambda value: isinstance(value, str)).to_numpy(dtype=bool)
    missing = values.isna().to_numpy(dtype=bool)
    numbers = values.map(
        lambda value: (
            isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)
        )
    ).to_numpy(dtype=bool)
    if (numbers & ~missing).any():
        raise _numbers_not_dates(table, column, np.flatnonzero(numbers & ~missing), len(values))
    times = _times_from_text(values.where(text).astype("str"), table, column)
    others = ~text & ~missing
    if not others.any():
        return times
    stamps = np.full(len(values), pd.NaT, dtype=object)
    stamps[others] = [_one_time(value) for value in values[others]]
    unreadable = np.flatnonzero([stamp is None for stamp in stamps])
    if len(unreadable):
        problem = "values that are not dates"
        raise RawDataError(table, column, problem, unreadable, len(values), hint=_WRITE_DATES)
    objects = _as_ns(pd.Series(pd.to_datetime(stamps), index=values.index), table, column)
    return times.where(~others, objects)


#: What a wrongly typed column holds that its contract dtype cannot, by kind.
_NOT_OF_KIND: dict[ColumnKind, str] = {
    "id": "values that are not text",
    "str": "values that are not text",
    "category": "values that are not text",
    "timestamp": "values that are not timestamps",
    "int": "values that are not whole numbers or are missing",
    "float": "values that are not numbers",
    "bool": "values that are not true/false or are missing",
}


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, np.datetime64) and bool(np.isnat(value))


def _fits(value: object, kind: ColumnKind) -> bool:
    """Whether the contract dtype of `kind` can hold `value` (int64 and bool hold no gap)."""
    if kind in ("id", "str", "category"):
        return isinstance(value, str) or _is_missing(value)
    if kind == "bool":
        return isinstance(value, bool | np.bool_)
    if isinstance(value, bool | np.bool_):
        return False
    if kind == "int":
        if isinstance(value, float | np.floating):
            return bool(np.isfinite(value)) and float(value).is_integer()
        return isinstance(value, int | np.integer)
    if kind == "float":
        return isinstance(value, int | float | np.number) or _is_missing(value)
    return isinstance(value, pd.Timestamp | np.datetime64) or _is_missing(value)


#: Text that pandas' CSV reader reads as a boolean, lowercased: it compares "true" and "false"
#: ignoring case, with no spaces around (`training.raw_io` reads CSV with its defaults).
CSV_BOOLEANS: dict[str, bool] = {"true": True, "false": False}


def _text_read_as(series: pd.Series, kind: ColumnKind) -> pd.Series:
    """`series` with its text values read as a CSV export's `kind` column: whole numbers for
    "int", true/false for "bool", missing where the text cannot be read so.

    One value a CSV reader cannot read (`three` among whole numbers, `maybe` among true/false)
    leaves the whole column text; the values beside it that read well are not to blame.
    """
    if kind not in ("int", "bool"):
        return series
    text = series.map(lambda value: isinstance(value, str)).to_numpy(dtype=bool)
    if not text.any():
        return series
    words = series[text].astype(str)
    values = series.astype(object).to_numpy(copy=True)
    if kind == "int":
        values[text] = pd.to_numeric(words, errors="coerce").to_numpy(dtype="float64")
    else:
        values[text] = words.str.lower().map(CSV_BOOLEANS).to_numpy(dtype=object)
    return pd.Series(values, index=series.index, dtype=object)


def _values_not_of_kind(series: pd.Series, kind: ColumnKind) -> np.ndarray:
    """Positions of the values that made a column the wrong dtype.

    In an integer column those are the gaps and fractions (one `n/a` in a CSV turns the whole
    column float), in a CSV column turned text the values that cannot be read as the column's
    kind; the valid values beside them are not to blame. Empty when every value fits and only
    the storage is wrong (whole numbers stored as float).
    """
    series = _text_read_as(series, kind)
    if kind == "int" and pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return np.flatnonzero(~np.isfinite(values) | (values != np.trunc(values)))
    return np.flatnonzero(~series.map(lambda value: _fits(value, kind)).to_numpy(dtype=bool))


_CHECK_PRIORITY = (
    "column_in_dataframe",
    "coerce_dtype",
    "dtype",
    "not_nullable",
    "isin",
    "first_of_month",
    "duplicate_key",
    "available_at_before_event_time",
)


def _priority(check: str) -> int:
    return next(
        (rank for rank, name in enumerate(_CHECK_PRIORITY) if name in check), len(_CHECK_PRIORITY)
    )


def _first_failure(
    table: str, frame: pd.DataFrame, spec: TableSpec, errors: SchemaErrors
) -> RawDataError:
    """Turn pandera's failure-case table into one readable error about the most basic problem.

    A missing column or an unparseable value makes every later check meaningless, so those are
    reported first. `frame` has a fresh 0..n-1 index, so pandera's row labels are positions.
    The failure cases hold the offending values; none of them goes into the message.
    """
    cases = errors.failure_cases.assign(check=lambda f: f["check"].astype(str))
    cases = cases.assign(_rank=cases["check"].map(_priority)).sort_values("_rank", kind="stable")
    first = cases.iloc[0]
    check = first["check"]
    column = str(first["column"])
    same = cases[(cases["check"] == check) & (cases["column"].astype(str) == column)]
    at_fault = pd.to_numeric(same["index"], errors="coerce").dropna().astype("int64").unique()
    total = len(frame)
    if check == "column_in_dataframe":
        missing = str(first["failure_case"])
        return RawDataError(table, missing, f"missing column {missing!r}")
    if check.startswith("coerce_dtype"):
        expected = check.removeprefix("coerce_dtype(").rstrip(")")
        return RawDataError(table, column, f"unparseable values for {expected}", at_fault, total)
    if check.startswith("dtype"):
        kind = spec.columns[column].kind
        odd = _values_not_of_kind(frame[column], kind)
        problem = f"wrong dtype {frame[column].dtype}, expected {_EXPECTED_DTYPE[kind]}"
        if len(odd):
            problem += f": {_NOT_OF_KIND[kind]}"
        return RawDataError(table, column, problem, odd, total)
    if check.startswith("not_nullable"):
        return RawDataError(table, column, "missing values", at_fault, total)
    if check.startswith("isin"):
        allowed = ", ".join(spec.columns[column].values)
        problem = f"values not among the allowed ones ({allowed})"
        return RawDataError(table, column, problem, at_fault, total)
    if check == "first_of_month":
        problem = "months that are not the first day of a month at 00:00"
        return RawDataError(table, column, problem, at_fault, total, hint="write YYYY-MM-01")
    if check == "duplicate_key":
        key = ", ".join(spec.key)
        return RawDataError(table, key, f"duplicate key ({key})", at_fault, total)
    if check == "available_at_before_event_time":
        problem = "available_at before event_time"
        return RawDataError(table, "available_at", problem, at_fault, total)
    return RawDataError(table, column, f"failed check {check}", at_fault, total)


@cache
def _schema_without_coercion(task: str, table: str, typed: frozenset[str]) -> pa.DataFrameSchema:
    """The declared schema, not coercing the `typed` columns (they hold the contract dtype).

    Pandera's coercion copies a column even when it already is `float64`: hundreds of
    megabytes of fresh memory on a large table, for nothing. A column that needs parsing
    (CSV text) is still coerced and still reports unparseable values.
    """
    schema = RAW_SCHEMAS[task][table]
    return schema.update_columns({name: {"coerce": False} for name in typed}) if typed else schema


def _typed_columns(frame: pd.DataFrame, spec: TableSpec) -> frozenset[str]:
    """Columns the schema would coerce that already hold exactly the contract dtype."""
    return frozenset(
        name
        for name, col in spec.columns.items()
        if col.kind == "float"
        and name in frame.columns
        and frame[name].dtype == _PANDERA_DTYPES[col.kind]
    )


def validate_table(task: str, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate one raw table and return it with contract dtypes: timestamps as the city's
    naive local time, ids without spaces around them."""
    spec = TABLE_SPECS[task][table]
    normalised = _normalise(frame.reset_index(drop=True), f"{task}/{table}", spec)
    schema = _schema_without_coercion(task, table, _typed_columns(normalised, spec))
    try:
        # In place on the fresh frame from reset_index (copy-on-write keeps the caller's
        # frame untouched): a copy of a 40-million-row table costs seconds and gigabytes.
        return schema.validate(normalised, lazy=True, inplace=True)
    except SchemaErrors as errors:
        raise _first_failure(f"{task}/{table}", normalised, spec, errors) from None


def validate_tables(task: str, tables: Mapping[str, pd.DataFrame]) -> RawTables:
    """Validate every table the task needs; a missing table is an error too.

    Args:
        task: python slug of the task (`wage_arrears`, ...).
        tables: raw tables by name, as loaded from a city folder or a department export.

    Returns:
        The validated tables (timestamps as `datetime64[ns]`), by name.

    Raises:
        RawDataError: the first problem found, naming the table, column and rows at fault.
    """
    if task not in TABLE_SPECS:
        raise KeyError(f"unknown task {task!r}; expected one of {sorted(TABLE_SPECS)}")
    validated: RawTables = {}
    for table in TABLE_SPECS[task]:
        if table not in tables:
            raise RawDataError(f"{task}/{table}", "", "table is missing")
        validated[table] = validate_table(task, table, tables[table])
    return validated
