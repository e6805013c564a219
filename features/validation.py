"""Raw tables checked where they enter the pipeline, with errors a department can act on.

Every table of the contract (`features.schemas.TABLE_SPECS`) has one pandera schema in
`RAW_SCHEMAS[task][table]`. `validate_tables` is the only door into the feature builders: it
coerces timestamps (department CSV exports carry them as text), checks columns, dtypes,
allowed category values, key uniqueness and `available_at >= event_time`, and raises
`RawDataError` naming the table, the column and a few offending rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from features.raw_checks import TEXT, no_missing, times_in_order, unique_key
from features.schemas import TABLE_SPECS, ColumnKind, ColumnSpec, RawTables, TableSpec

SHOWN_ROWS = 5


class RawDataError(ValueError):
    """A raw table breaks its schema; the message names the table, column and offending rows."""

    def __init__(self, table: str, column: str, problem: str, rows: pd.DataFrame | None = None):
        self.table = table
        self.column = column
        self.problem = problem
        self.rows = rows if rows is not None else pd.DataFrame()
        message = f"table {table!r}, column {column!r}: {problem}"
        if not self.rows.empty:
            message += "\noffending rows:\n" + self.rows.head(SHOWN_ROWS).to_string()
        super().__init__(message)


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


def _column_schema(name: str, spec: ColumnSpec) -> pa.Column:
    """One column's pandera schema; missing values are refused by a check named `not_nullable`.

    pandera's built-in nullability test builds a byte-per-row mask of every column
    (`hasnans`); `no_missing` answers from a reduction instead, under the same name, so the
    column is declared nullable to pandera and the check does the refusing.
    """
    checks = [] if spec.nullable else [pa.Check(no_missing, name="not_nullable", ignore_na=False)]
    if spec.values:
        checks.append(pa.Check.isin(list(spec.values)))
    return pa.Column(
        _PANDERA_DTYPES[spec.kind],
        checks=checks,
        nullable=True,
        coerce=spec.kind in ("timestamp", "float"),
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


def _normalise(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Widen harmless storage variants (int32, object strings, categoricals) to contract dtypes.

    Only lossless conversions happen here; anything else is left for the schema to reject.
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
                    changes[name] = series.astype("str")
        elif col.kind == "int":
            if pd.api.types.is_integer_dtype(dtype) and dtype != "int64" and series.notna().all():
                changes[name] = series.astype("int64")
        elif col.kind == "bool":
            if pd.api.types.is_bool_dtype(dtype) and dtype != "bool" and series.notna().all():
                changes[name] = series.astype("bool")
        elif (
            col.kind == "timestamp"
            and pd.api.types.is_datetime64_any_dtype(dtype)
            and getattr(dtype, "tz", None) is None
            and dtype != "datetime64[ns]"
        ):
            changes[name] = series.astype("datetime64[ns]")
    return frame.assign(**changes) if changes else frame


def _values_not_of_kind(series: pd.Series, kind: ColumnKind) -> pd.Series:
    """Which values of a wrongly typed column are themselves of the wrong type."""

    def fits(value: object) -> bool:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return True
        if kind in ("id", "str", "category"):
            return isinstance(value, str)
        if kind == "bool":
            return isinstance(value, bool | np.bool_)
        if kind == "int":
            return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
        return isinstance(value, int | float | np.number)

    return ~series.map(fits).astype(bool)


_CHECK_PRIORITY = (
    "column_in_dataframe",
    "coerce_dtype",
    "dtype",
    "not_nullable",
    "isin",
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
    reported first.
    """
    cases = errors.failure_cases.assign(check=lambda f: f["check"].astype(str))
    cases = cases.assign(_rank=cases["check"].map(_priority)).sort_values("_rank", kind="stable")
    first = cases.iloc[0]
    check = first["check"]
    column = str(first["column"])
    same = cases[(cases["check"] == check) & (cases["column"].astype(str) == column)]
    index = pd.to_numeric(same["index"], errors="coerce").dropna().astype("int64").unique()
    rows = frame.loc[frame.index.intersection(index)]
    values = ", ".join(repr(v) for v in same["failure_case"].astype(str).unique()[:SHOWN_ROWS])
    if check == "column_in_dataframe":
        missing = str(first["failure_case"])
        return RawDataError(table, missing, f"missing column {missing!r}")
    if check.startswith("coerce_dtype"):
        expected = check.removeprefix("coerce_dtype(").rstrip(")")
        return RawDataError(table, column, f"unparseable values for {expected}: {values}", rows)
    if check.startswith("dtype"):
        kind = spec.columns[column].kind
        odd = _values_not_of_kind(frame[column], kind)
        examples = ", ".join(repr(v) for v in frame.loc[odd, column].unique()[:SHOWN_ROWS])
        detail = f" (e.g. {examples})" if examples else ""
        return RawDataError(
            table,
            column,
            f"wrong dtype {frame[column].dtype}, expected {_EXPECTED_DTYPE[kind]}{detail}",
            frame[odd] if odd.any() else frame.head(SHOWN_ROWS),
        )
    if check.startswith("not_nullable"):
        return RawDataError(table, column, f"missing values in {len(index)} row(s)", rows)
    if check.startswith("isin"):
        allowed = ", ".join(spec.columns[column].values)
        return RawDataError(table, column, f"unknown values {values} (allowed: {allowed})", rows)
    if check == "duplicate_key":
        key = ", ".join(spec.key)
        return RawDataError(table, key, f"duplicate key ({key}) in {len(index)} row(s)", rows)
    if check == "available_at_before_event_time":
        return RawDataError(
            table, "available_at", f"available_at before event_time in {len(index)} row(s)", rows
        )
    return RawDataError(table, column, f"failed check {check}: {values}", rows)


@cache
def _schema_without_coercion(task: str, table: str, typed: frozenset[str]) -> pa.DataFrameSchema:
    """The declared schema, not coercing the `typed` columns (they hold the contract dtype).

    Pandera's timestamp coercion copies a column even when it already is `datetime64[ns]`:
    hundreds of megabytes of fresh memory on a large table, for nothing. A column that needs
    parsing (CSV text) is still coerced and still reports unparseable values.
    """
    schema = RAW_SCHEMAS[task][table]
    return schema.update_columns({name: {"coerce": False} for name in typed}) if typed else schema


def _typed_columns(frame: pd.DataFrame, spec: TableSpec) -> frozenset[str]:
    """Columns the schema would coerce that already hold exactly the contract dtype."""
    return frozenset(
        name
        for name, col in spec.columns.items()
        if col.kind in ("timestamp", "float")
        and name in frame.columns
        and frame[name].dtype == _PANDERA_DTYPES[col.kind]
    )


def validate_table(task: str, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate one raw table and return it with contract dtypes (timestamps coerced)."""
    spec = TABLE_SPECS[task][table]
    normalised = _normalise(frame.reset_index(drop=True), spec)
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
        RawDataError: the first problem found, naming the table, column and offending rows.
    """
    if task not in TABLE_SPECS:
        raise KeyError(f"unknown task {task!r}; expected one of {sorted(TABLE_SPECS)}")
    validated: RawTables = {}
    for table in TABLE_SPECS[task]:
        if table not in tables:
            raise RawDataError(f"{task}/{table}", "", "table is missing")
        validated[table] = validate_table(task, table, tables[table])
    return validated
