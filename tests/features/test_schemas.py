"""Raw-table validation: every kind of malformed input is caught and named precisely."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.raw_checks import has_missing, times_in_order
from features.schemas import TABLE_SPECS
from features.validation import RAW_SCHEMAS, RawDataError, validate_table, validate_tables

TABLES = [(task, table) for task, specs in TABLE_SPECS.items() for table in specs]
DEFECTS = ["missing_column", "wrong_dtype", "duplicate_key", "available_before_event", "bad_date"]


class _Heads(dict):
    """Tables by (task, table), with a short repr for hypothesis' failure reports."""

    def __repr__(self) -> str:
        return f"<{len(self)} table heads>"


@pytest.fixture(scope="module")
def heads(city_tables) -> _Heads:
    """The first rows of every raw table (valid input to corrupt)."""
    return _Heads({(task, table): city_tables[task][table].head(40) for task, table in TABLES})


def test_every_contract_table_has_a_schema() -> None:
    assert {t: set(s) for t, s in RAW_SCHEMAS.items()} == {
        t: set(s) for t, s in TABLE_SPECS.items()
    }


def test_the_small_city_is_valid(city_tables) -> None:
    for task, tables in city_tables.items():
        assert set(tables) == set(TABLE_SPECS[task])
        for table, frame in tables.items():
            assert frame["available_at"].dtype == "datetime64[ns]", (task, table)


def _corrupt(
    frame: pd.DataFrame, task: str, table: str, defect: str, row: int, pick
) -> tuple[pd.DataFrame, str, str]:
    """A broken copy of `frame`, the column the error must name and a text it must show (the
    column, or the rows at fault by position: never a value they hold)."""
    spec = TABLE_SPECS[task][table]
    row = row % len(frame)
    if defect == "missing_column":
        # a city may lack an optional column altogether: only required ones are defects
        column = pick(sorted(c for c, col in spec.columns.items() if not col.optional))
        return frame.drop(columns=[column]), column, column
    if defect == "wrong_dtype":
        column = pick(
            sorted(c for c, s in spec.columns.items() if s.kind in ("id", "int", "bool", "float"))
        )
        kind = spec.columns[column].kind
        values = frame[column].astype(object).to_numpy(copy=True)
        if kind == "id":
            broken = pd.Series(np.arange(len(frame)), index=frame.index)
            return frame.assign(**{column: broken}), column, "wrong dtype int64"
        values[row] = "not-a-number"
        return frame.assign(**{column: values}), column, f"(row {row};"
    if defect == "duplicate_key":
        copy = frame.iloc[[row]]
        return (
            pd.concat([frame, copy], ignore_index=True),
            spec.key[0],
            f"(rows {row}, {len(frame)};",
        )
    if defect == "available_before_event":
        shifted = frame["available_at"].copy()
        shifted.iloc[row] = frame["event_time"].iloc[row] - pd.Timedelta(days=3)
        return frame.assign(available_at=shifted), "available_at", f"(row {row};"
    # the timestamp columns the table has (a clean city lacks the optional registry dates)
    column = pick(
        sorted(c for c, s in spec.columns.items() if s.kind == "timestamp" and c in frame.columns)
    )
    text = frame[column].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object)
    text[row] = "31/02/2025?"
    return frame.assign(**{column: text}), column, f"(row {row};"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(TABLES), st.sampled_from(DEFECTS), st.integers(0, 10_000), st.data())
def test_each_defect_names_table_column_and_offending_rows(
    heads, location, defect, row, data
) -> None:
    task, table = location
    frame = heads[location]
    broken, column, shown = _corrupt(
        frame, task, table, defect, row, lambda xs: data.draw(st.sampled_from(xs))
    )
    with pytest.raises(RawDataError) as caught:
        validate_table(task, table, broken)
    error = caught.value
    assert error.table == f"{task}/{table}"
    assert error.column == column or column in error.column.split(", ")
    message = str(error)
    assert f"{task}/{table}" in message and column in message
    assert shown in message and "\n" not in message


def test_csv_style_text_timestamps_are_parsed(city_tables) -> None:
    frame = city_tables["telecom_fraud"]["fraud_cases"].head(20)
    text = frame.assign(
        event_time=frame["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S.%f"),
        available_at=frame["available_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f"),
    )
    parsed = validate_table("telecom_fraud", "fraud_cases", text)
    assert parsed["event_time"].dtype == "datetime64[ns]"
    assert (parsed["event_time"] - frame["event_time"]).abs().max() < pd.Timedelta(milliseconds=1)


def test_a_missing_table_is_named(city_tables) -> None:
    tables = dict(city_tables["dispute_escalation"])
    del tables["grid_visits"]
    with pytest.raises(RawDataError, match=r"dispute_escalation/grid_visits.*missing"):
        validate_tables("dispute_escalation", tables)


def test_unknown_category_values_are_rejected(city_tables) -> None:
    frame = city_tables["dispute_escalation"]["disputes"].head(10)
    broken = frame.assign(dispute_type=["ethnic", *frame["dispute_type"].iloc[1:]])
    with pytest.raises(
        RawDataError,
        match=r"dispute_type'?: values not among the allowed ones \(.*\) in 1 of 10 rows \(row 0;",
    ) as caught:
        validate_table("dispute_escalation", "disputes", broken)
    assert "ethnic" not in str(caught.value)


@pytest.mark.parametrize("where", ["next to the original", "at the end"])
def test_duplicate_keys_are_found_in_sorted_and_unsorted_tables(city_tables, where) -> None:
    """Sorted tables take the one-pass path, shuffled ones pandas' hashing; both must catch it."""
    frame = city_tables["telecom_fraud"]["bank_outflows"].head(300)
    copy = frame.iloc[[120]]
    if where == "at the end":
        broken = pd.concat([frame, copy], ignore_index=True)
    else:
        broken = pd.concat([frame.iloc[:121], copy, frame.iloc[121:]], ignore_index=True)
    with pytest.raises(RawDataError, match=r"duplicate key \(resident_id, event_time\) in 2 of"):
        validate_table("telecom_fraud", "bank_outflows", broken)
    validate_table("telecom_fraud", "bank_outflows", frame.sample(frac=1.0, random_state=3))


KEYED_TABLES = [
    ("telecom_fraud", "bank_outflows"),
    ("telecom_fraud", "app_alerts"),
    ("dispute_escalation", "dispute_parties"),
    ("wage_arrears", "project_instalments"),
]


def _arrange(frame: pd.DataFrame, key: list[str], order: str) -> pd.DataFrame:
    """Rows as drawn, sorted by key, or grouped by the first key column in drawn order."""
    if order == "sorted":
        frame = frame.sort_values(key, kind="stable")
    elif order == "grouped":
        codes = pd.factorize(frame[key[0]])[0]
        frame = frame.iloc[np.argsort(codes, kind="stable")]
    return frame.reset_index(drop=True)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(KEYED_TABLES),
    st.lists(st.integers(0, 29), min_size=2, max_size=40),
    st.sampled_from(["as drawn", "sorted", "grouped"]),
)
def test_duplicate_keys_are_counted_exactly_in_any_row_order(heads, location, picks, order) -> None:
    """The neighbour comparison, Arrow's hashing and pandas must agree row for row."""
    task, table = location
    key = list(TABLE_SPECS[task][table].key)
    frame = _arrange(heads[location].iloc[picks], key, order)
    expected = int(frame.duplicated(subset=key, keep=False).sum())
    if expected == 0:
        validate_table(task, table, frame)
        return
    shown = rf"duplicate key \({', '.join(key)}\) in {expected} of {len(frame)} rows"
    with pytest.raises(RawDataError, match=shown):
        validate_table(task, table, frame)


@pytest.mark.parametrize(
    ("column", "missing"),
    [("alert_id", None), ("alert_type", None), ("event_time", pd.NaT), ("available_at", pd.NaT)],
)
def test_missing_values_are_counted_in_any_column_kind(city_tables, column, missing) -> None:
    frame = city_tables["telecom_fraud"]["app_alerts"].head(10).copy()
    frame.loc[[2, 7], column] = missing
    with pytest.raises(
        RawDataError, match=rf"{column}'?: missing values in 2 of 10 rows \(rows 2, 7;"
    ):
        validate_table("telecom_fraud", "app_alerts", frame)


def test_missing_values_in_a_nullable_integer_column_are_counted(city_tables) -> None:
    frame = city_tables["telecom_fraud"]["bank_outflows"].head(10)
    counts = frame["new_payees"].astype("Int64").where(frame.index != 3)
    with pytest.raises(
        RawDataError, match=r"new_payees'?: missing values in 1 of 10 rows \(row 3;"
    ):
        validate_table("telecom_fraud", "bank_outflows", frame.assign(new_payees=counts))


def test_columns_already_in_contract_dtype_are_not_copied(city_tables) -> None:
    """A copy of every timestamp column is gigabytes of fresh memory on a large city."""
    frame = city_tables["telecom_fraud"]["bank_outflows"]
    validated = validate_table("telecom_fraud", "bank_outflows", frame)
    for column in ("event_time", "available_at", "amount_out", "new_payees"):
        assert np.shares_memory(validated[column].to_numpy(), frame[column].to_numpy()), column


def test_text_columns_are_judged_by_dtype_or_value_by_value(city_tables) -> None:
    """Text dtypes pass whole; an object column is checked value by value and names the odd row."""
    frame = city_tables["telecom_fraud"]["app_alerts"].head(8)
    validate_table(
        "telecom_fraud", "app_alerts", frame.assign(alert_id=frame["alert_id"].astype("string"))
    )
    ids = frame["alert_id"].astype(object).to_numpy(copy=True)
    ids[3] = 7
    with pytest.raises(
        RawDataError,
        match=r"wrong dtype object, expected str \(identifier\): values that are not text "
        r"in 1 of 8 rows \(row 3; counted from 0\)$",
    ):
        validate_table("telecom_fraud", "app_alerts", frame.assign(alert_id=ids))


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([1.5, np.nan, 2.0]),
        pd.Series([1.5, np.inf, -np.inf]),
        pd.Series(pd.to_datetime(["2025-01-01", None]).astype("datetime64[ns]")),
        pd.Series(pd.to_datetime(["2025-01-01", "1677-09-22"]).astype("datetime64[ns]")),
        pd.Series(pd.to_timedelta([1, None], unit="D")),
        pd.Series([3, -(2**63)]),
        pd.Series([True, False]),
        pd.Series(["a", None], dtype="str"),
        pd.Series(["a", "b"], dtype="str"),
        pd.Series(["a", None], dtype="string"),
        pd.Series(["a", None, 3], dtype=object),
        pd.Series([1, None], dtype="Int64"),
        pd.Series([], dtype="float64"),
    ],
)
def test_missing_values_are_found_as_pandas_finds_them(values: pd.Series) -> None:
    """The reductions that replace pandas' per-row mask must agree with it for every dtype."""
    assert has_missing(values) == values.hasnans


_DAY = st.one_of(st.none(), st.integers(0, 4))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_DAY, _DAY), max_size=12))
def test_the_time_order_check_agrees_with_pandas_also_on_missing_times(days) -> None:
    """The Arrow shortcut may only say "all in order" where pandas' comparison says so too."""

    def times(picks: list[int | None]) -> pd.Series:
        start = pd.Timestamp("2025-01-01")
        stamps = [pd.NaT if d is None else start + pd.Timedelta(days=d) for d in picks]
        return pd.Series(stamps, dtype="datetime64[ns]")

    frame = pd.DataFrame(
        {"event_time": times([e for e, _ in days]), "available_at": times([a for _, a in days])}
    )
    expected = frame["available_at"] >= frame["event_time"]
    verdict = times_in_order(frame)
    if verdict is True:
        assert expected.all()
    else:
        assert verdict.equals(expected)
