"""Raw-table schemas, declared once and checked where tables enter the pipeline.

Every table of the architecture contract has one pandera schema in `RAW_SCHEMAS[task][table]`,
built from a compact column spec (`TABLE_SPECS`) so that the contract reads like a table here
too. `validate_tables` is the only door into the feature builders: it coerces timestamps
(department CSV exports carry them as text), checks columns, dtypes, allowed category values,
key uniqueness and `available_at >= event_time`, and raises `RawDataError` naming the table,
the column and a few offending rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
from pandera.dtypes import DataType
from pandera.engines.pandas_engine import STRING
from pandera.errors import SchemaErrors

from features.tasks import TASKS

ColumnKind = Literal["id", "str", "category", "timestamp", "int", "float", "bool"]

RawTables = dict[str, pd.DataFrame]
_ArrowValues: TypeAlias = pa_arrow.Array | pa_arrow.ChunkedArray

SHOWN_ROWS = 5
_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class ColumnSpec:
    """One raw column: its kind, allowed values (categories), whether it may be null, and
    whether a city's table may lack it altogether (`optional`: the features derived from it
    are then left out of the dataset and the model, with a line saying so)."""

    kind: ColumnKind
    values: tuple[str, ...] = ()
    nullable: bool = False
    optional: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One raw table: key columns and column specs, in contract order."""

    key: tuple[str, ...]
    columns: dict[str, ColumnSpec]
    is_label: bool = False
    entity_column: str = ""


def _id(nullable: bool = False) -> ColumnSpec:
    return ColumnSpec("id", nullable=nullable)


def _cat(*values: str) -> ColumnSpec:
    return ColumnSpec("category", values=values)


def _optional(spec: ColumnSpec) -> ColumnSpec:
    """The same column, which a city's table may lack (a signal no model needs)."""
    return ColumnSpec(spec.kind, spec.values, spec.nullable, optional=True)


_TS = ColumnSpec("timestamp")
_INT = ColumnSpec("int")
_MONEY = ColumnSpec("float", nullable=True)
_BOOL = ColumnSpec("bool")
_STR = ColumnSpec("str")
_TIMES = {"event_time": _TS, "available_at": _TS}

SECTORS = ("construction", "manufacturing", "retail", "hospitality", "logistics", "services", "it")
SIZE_BANDS = ("micro", "small", "medium", "large")
DISPUTE_TYPES = (
    "labour",
    "neighbour",
    "family",
    "land",
    "property_management",
    "lending",
    "consumer",
    "other",
)
HANDLING_LEVELS = ("grid", "township", "county")
REGISTRATION_CHANNELS = ("walk_in", "hotline", "online")

#: Raw tables of wage-arrears, in contract order.
WAGE_ARREARS_TABLES: dict[str, TableSpec] = {
    "employers": TableSpec(
        key=("employer_id",),
        entity_column="employer_id",
        columns={
            "employer_id": _id(),
            "sector": _cat(*SECTORS),
            "size_band": _cat(*SIZE_BANDS),
            "registered_capital": _MONEY,
            "founded_on": _TS,
            "district": _STR,
            "trademark_count": _optional(_INT),
            **_TIMES,
        },
    ),
    "abnormal_listings": TableSpec(
        key=("listing_id",),
        entity_column="employer_id",
        columns={
            "listing_id": _id(),
            "employer_id": _id(),
            "reason": _cat("unreachable_address", "missing_annual_report", "other"),
            **_TIMES,
        },
    ),
    "social_insurance": TableSpec(
        # A back-payment revises a declaration: a later row for the same month.
        key=("employer_id", "month", "available_at"),
        entity_column="employer_id",
        columns={
            "employer_id": _id(),
            "month": _TS,
            "insured_headcount": _INT,
            "amount_due": _MONEY,
            "amount_paid": _MONEY,
            **_TIMES,
        },
    ),
    "tax": TableSpec(
        key=("employer_id", "month"),
        entity_column="employer_id",
        columns={
            "employer_id": _id(),
            "month": _TS,
            "declared_sales": _MONEY,
            "tax_paid": _MONEY,
            "tax_overdue": _MONEY,
            **_TIMES,
        },
    ),
    "utilities": TableSpec(
        key=("employer_id", "month"),
        entity_column="employer_id",
        columns={
            "employer_id": _id(),
            "month": _TS,
            "electricity_kwh": _MONEY,
            "water_m3": _optional(_MONEY),
            **_TIMES,
        },
    ),
    "court_cases": TableSpec(
        key=("case_id",),
        entity_column="employer_id",
        columns={
            "case_id": _id(),
            "employer_id": _id(),
            "case_type": _cat("creditor_suit", "enforcement", "dishonest_debtor"),
            "amount": _MONEY,
            **_TIMES,
        },
    ),
    "construction_projects": TableSpec(
        key=("project_id",),
        entity_column="employer_id",
        columns={
            "project_id": _id(),
            "employer_id": _id(),
            "contract_value": _MONEY,
            "start_date": _TS,
            "planned_end_date": _TS,
            **_TIMES,
        },
    ),
    "project_instalments": TableSpec(
        key=("project_id", "instalment_no"),
        columns={
            "project_id": _id(),
            "instalment_no": _INT,
            "scheduled_amount": _MONEY,
            **_TIMES,
        },
    ),
    "project_payments": TableSpec(
        key=("payment_id",),
        columns={
            "payment_id": _id(),
            "project_id": _id(),
            "instalment_no": _INT,
            "amount": _MONEY,
            **_TIMES,
        },
    ),
    "labour_complaints": TableSpec(
        key=("complaint_id",),
        entity_column="employer_id",
        columns={
            "complaint_id": _id(),
            "employer_id": _id(),
            "channel": _cat("hotline_12345", "hotline_12333", "inspection"),
            "topic": _cat("wages", "social_insurance", "hours", "other"),
            **_TIMES,
        },
    ),
    "arrears_events": TableSpec(
        key=("event_id",),
        is_label=True,
        entity_column="employer_id",
        columns={
            "event_id": _id(),
            "employer_id": _id(),
            "workers_affected": _INT,
            "amount_owed": _MONEY,
            "detected_by": _cat("complaint", "inspection", "bank_monitoring"),
            **_TIMES,
        },
    ),
}

#: Raw tables of telecom-fraud, in contract order.
TELECOM_FRAUD_TABLES: dict[str, TableSpec] = {
    "residents": TableSpec(
        key=("resident_id",),
        entity_column="resident_id",
        columns={
            "resident_id": _id(),
            "birth_year": _INT,
            "sex": _cat("f", "m"),
            "district": _STR,
            "lives_alone": _BOOL,
            "education_level": _optional(_cat("primary", "secondary", "tertiary")),
            **_TIMES,
        },
    ),
    "flagged_contacts": TableSpec(
        key=("resident_id", "event_time"),
        entity_column="resident_id",
        columns={
            "resident_id": _id(),
            "flagged_calls": _INT,
            "flagged_sms": _INT,
            "overseas_calls": _INT,
            **_TIMES,
        },
    ),
    "app_alerts": TableSpec(
        key=("alert_id",),
        entity_column="resident_id",
        columns={
            "alert_id": _id(),
            "resident_id": _id(),
            "alert_type": _cat("flagged_app", "screen_sharing", "phishing_url"),
            **_TIMES,
        },
    ),
    "bank_outflows": TableSpec(
        key=("resident_id", "event_time"),
        entity_column="resident_id",
        columns={
            "resident_id": _id(),
            "amount_out": _MONEY,
            "new_payees": _INT,
            "night_transfers": _INT,
            "card_payment_count": _optional(_INT),
            **_TIMES,
        },
    ),
    "antifraud_warnings": TableSpec(
        key=("warning_id",),
        entity_column="resident_id",
        columns={
            "warning_id": _id(),
            "resident_id": _id(),
            "channel": _cat("sms_12381", "call_96110", "visit"),
            "answered": _BOOL,
            **_TIMES,
        },
    ),
    "app_installs": TableSpec(
        key=("resident_id",),
        entity_column="resident_id",
        columns={"resident_id": _id(), **_TIMES},
    ),
    "fraud_cases": TableSpec(
        key=("case_id",),
        is_label=True,
        entity_column="resident_id",
        columns={
            "case_id": _id(),
            "resident_id": _id(),
            "scam_type": _cat(
                "online_shopping",
                "loan",
                "fake_order_job",
                "impersonation",
                "investment",
                "other",
            ),
            "loss_amount": _MONEY,
            **_TIMES,
        },
    ),
}

#: Raw tables of dispute-escalation, in contract order.
DISPUTE_ESCALATION_TABLES: dict[str, TableSpec] = {
    "disputes": TableSpec(
        key=("dispute_id",),
        entity_column="dispute_id",
        columns={
            "dispute_id": _id(),
            "dispute_type": _cat(*DISPUTE_TYPES),
            "amount": _MONEY,
            "n_parties": _INT,
            "group_flag": _BOOL,
            "district": _STR,
            "handling_level": _cat(*HANDLING_LEVELS),
            "registration_channel": _optional(_cat(*REGISTRATION_CHANNELS)),
            **_TIMES,
        },
    ),
    "dispute_parties": TableSpec(
        key=("dispute_id", "party_id"),
        entity_column="dispute_id",
        columns={
            "dispute_id": _id(),
            "party_id": _id(),
            "role": _cat("applicant", "respondent"),
            **_TIMES,
        },
    ),
    "mediation_sessions": TableSpec(
        key=("session_id",),
        entity_column="dispute_id",
        columns={
            "session_id": _id(),
            "dispute_id": _id(),
            "outcome": _cat("agreement", "partial", "failed", "no_show"),
            **_TIMES,
        },
    ),
    "grid_visits": TableSpec(
        key=("visit_id",),
        entity_column="dispute_id",
        columns={
            "visit_id": _id(),
            "dispute_id": _id(),
            "emotion_flag": _BOOL,
            "threat_flag": _BOOL,
            "visit_duration_min": _optional(_MONEY),
            **_TIMES,
        },
    ),
    "police_calls": TableSpec(
        key=("call_id",),
        columns={
            "call_id": _id(),
            "party_id": _id(),
            "call_type": _cat("dispute", "violence", "noise", "other"),
            **_TIMES,
        },
    ),
    "petitions": TableSpec(
        key=("petition_id",),
        columns={
            "petition_id": _id(),
            "party_id": _id(),
            "dispute_id": _id(nullable=True),
            "level": _cat("township", "county", "city", "province"),
            **_TIMES,
        },
    ),
    "escalation_events": TableSpec(
        key=("event_id",),
        is_label=True,
        entity_column="dispute_id",
        columns={
            "event_id": _id(),
            "dispute_id": _id(),
            "escalation_type": _cat(
                "repeat_petition", "higher_petition", "police_case", "group_incident"
            ),
            **_TIMES,
        },
    ),
}

#: Every task's raw tables by slug, in registry order (the registry names each constant).
TABLE_SPECS: dict[str, dict[str, TableSpec]] = {
    task.slug: globals()[task.tables_constant] for task in TASKS.values()
}


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


class _Text(STRING):
    """pandera's text dtype, answered once per column where the column's dtype settles it.

    pandera answers a text column with a full-length array of True (then copies and inverts
    it to look for failures): hundreds of megabytes on a large table to learn one boolean.
    Object columns, which may mix types, still get pandera's answer value by value.
    """

    def check(
        self, pandera_dtype: DataType, data_container: pd.Series | pd.DataFrame | None = None
    ) -> bool | Iterable[bool]:
        if data_container is not None and not pd.api.types.is_object_dtype(data_container.dtype):
            return super().check(pandera_dtype, None)
        return super().check(pandera_dtype, data_container)


# pandera's dataclass decorator hides the no-argument constructor from mypy.
_TEXT = _Text()  # type: ignore[call-arg]

_PANDERA_DTYPES: dict[ColumnKind, object] = {
    "id": _TEXT,
    "str": _TEXT,
    "category": _TEXT,
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
    (`hasnans`); `_no_missing` answers from a reduction instead, under the same name, so the
    column is declared nullable to pandera and the check does the refusing.
    """
    checks = [] if spec.nullable else [pa.Check(_no_missing, name="not_nullable", ignore_na=False)]
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


def _has_missing(column: pd.Series) -> bool:
    """Whether any value is missing, answered without a full-length mask where the dtype allows.

    NaN propagates through `min`, NaT is the smallest int64, integer and boolean arrays cannot
    hold a missing value, and Arrow keeps a count of its nulls; anything else asks pandas.
    """
    dtype = column.dtype
    if len(column) == 0:
        return False
    if isinstance(dtype, np.dtype) and dtype.kind in "iubfmM":
        values = column.to_numpy()
        if dtype.kind == "f":
            return bool(np.isnan(values.min()))
        if dtype.kind in "mM":
            return bool(values.view(np.int64).min() == _NAT)
        return False
    if isinstance(dtype, pd.ArrowDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    ):
        return bool(pa_arrow.array(column.array).null_count > 0)
    return bool(column.hasnans)


def _no_missing(column: pd.Series) -> bool | pd.Series:
    """True when no value is missing, else which values are present."""
    return column.notna() if _has_missing(column) else True


def _as_arrow(column: pd.Series) -> _ArrowValues | None:
    """The column's values as Arrow without copying them, or None if they are not shareable.

    Arrow compares neighbouring rows into bitmaps (one bit a row), where numpy would allocate a
    byte a row: on tens of millions of rows, fresh memory is what validation costs most.
    Timestamps are shared as their int64 nanoseconds (no scan for NaT, which becomes the
    smallest integer: equal to itself, as pandas' duplicate check treats it).
    """
    dtype = column.dtype
    if isinstance(dtype, pd.ArrowDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    ):
        return pa_arrow.array(column.array)
    if isinstance(dtype, np.dtype) and dtype.kind in "iuM":
        values = column.to_numpy()
        return pa_arrow.array(values.view(np.int64) if dtype.kind == "M" else values)
    return None


def _neighbours(values: _ArrowValues) -> tuple[_ArrowValues, _ArrowValues]:
    """Each row but the first, and the row before it, as two aligned zero-copy slices."""
    return values.slice(1), values.slice(0, len(values) - 1)


def _times_in_order(frame: pd.DataFrame) -> bool | pd.Series:
    """True when every row has `available_at >= event_time`, else the per-row verdict."""
    available, event = frame["available_at"], frame["event_time"]
    if available.dtype == "datetime64[ns]" and event.dtype == "datetime64[ns]":
        available_ns, event_ns = _as_arrow(available), _as_arrow(event)
        # pandas says False wherever a time is missing (NaT, the smallest int64). A missing
        # available_at already fails the comparison unless event_time is missing too, so only
        # event_time needs looking at.
        earliest_event = pc.min(event_ns).as_py()
        if (earliest_event is None or earliest_event > _NAT) and pc.all(
            pc.greater_equal(available_ns, event_ns)
        ).as_py() is True:
            return True
    return available >= event


def _all_distinct(values: _ArrowValues) -> bool:
    """Whether no value repeats: a strictly increasing column proves it without hashing."""
    if len(values) < 2:
        return True
    later, earlier = _neighbours(values)
    if pc.all(pc.greater(later, earlier)).as_py():
        return True
    return bool(pc.count_distinct(values).as_py() == len(values))


def _run_starts(values: _ArrowValues, same_as_previous: _ArrowValues) -> pa_arrow.ChunkedArray:
    """The first value of every run of equal neighbours."""
    head = values.slice(0, 1)
    starts = pc.invert(same_as_previous)
    if isinstance(starts, pa_arrow.ChunkedArray):
        starts = starts.combine_chunks()  # a bitmap; filtering by one mask is several times faster
    rest = values.slice(1).filter(starts)
    return pa_arrow.chunked_array([*_chunks(head), *_chunks(rest)], type=values.type)


def _chunks(values: _ArrowValues) -> list[pa_arrow.Array]:
    """The arrays an Arrow column is made of (itself when it is one array)."""
    return list(values.chunks) if isinstance(values, pa_arrow.ChunkedArray) else [values]


def _grouped_in_order(columns: list[_ArrowValues]) -> tuple[bool, _ArrowValues]:
    """Whether equal keys can only sit next to each other, and which rows repeat the previous key.

    That holds when the first key column is grouped (the first values of its runs are all
    distinct) and each further column never decreases within a run of the columns before it.
    The answer is only trusted as True; False means "not proven", and the caller hashes.
    """
    first, *others = columns
    same = pc.equal(*_neighbours(first))
    starts = _run_starts(first, same) if pc.any(same).as_py() else first
    ordered = _all_distinct(starts)
    for column in others:
        later, earlier = _neighbours(column)
        if ordered:
            keeps_order = pc.or_(pc.invert(same), pc.greater_equal(later, earlier))
            ordered = pc.all(keeps_order).as_py() is True
        same = pc.and_(same, pc.equal(later, earlier))
    return ordered, same


def _unique_key(key: tuple[str, ...]):
    """A check that no two rows share `key`; rows in a duplicated group fail.

    Departments export tables grouped by entity and in time order, and then duplicates sit next
    to each other: comparing each row with the previous one (Arrow bitmaps over the stored
    values, no copy of the column) finds them without hashing tens of millions of keys. Other
    tables are hashed by Arrow; pandas marks the duplicated rows only when there are some, and
    handles what Arrow cannot hold as is (missing values, Python objects).
    """

    def pandas_verdict(frame: pd.DataFrame) -> pd.Series:
        duplicated = frame.duplicated(subset=list(key), keep=False).to_numpy()
        return pd.Series(~duplicated, index=frame.index, copy=False)

    def check(frame: pd.DataFrame) -> bool | pd.Series:
        if any(name not in frame.columns for name in key) or len(frame) < 2:
            return True
        columns = [_as_arrow(frame[name]) for name in key]
        if any(column is None or column.null_count for column in columns):
            return pandas_verdict(frame)
        ordered, same = _grouped_in_order(columns)
        if not ordered:
            keys = pa_arrow.table(dict(zip(key, columns, strict=True)))
            distinct = keys.group_by(list(key)).aggregate([]).num_rows
            return True if distinct == len(frame) else pandas_verdict(frame)
        if not pc.any(same).as_py():
            return True
        repeats = same.to_numpy(zero_copy_only=False)
        duplicated = np.zeros(len(frame), dtype=bool)
        duplicated[1:] |= repeats
        duplicated[:-1] |= repeats
        return pd.Series(~duplicated, index=frame.index, copy=False)

    return check


def _table_schema(task: str, table: str, spec: TableSpec) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {name: _column_schema(name, col) for name, col in spec.columns.items()},
        checks=[
            pa.Check(_times_in_order, name="available_at_before_event_time"),
            pa.Check(_unique_key(spec.key), name="duplicate_key"),
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


def absent_optional_columns(tables: Mapping[str, pd.DataFrame], task: str) -> set[tuple[str, str]]:
    """(table, column) pairs of the task's optional columns that `tables` lack."""
    return {
        (table, name)
        for table, spec in TABLE_SPECS[task].items()
        if table in tables
        for name, col in spec.columns.items()
        if col.optional and name not in tables[table].columns
    }


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
