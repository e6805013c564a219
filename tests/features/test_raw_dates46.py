"""Messy dates and ids in raw tables: read as the city's local time or refused, never guessed.

Times are naive Asia/Shanghai time (docs/architecture.md). A zone-aware column is the same
instant in the city's time; numbers, day/month-ambiguous text and months off their first day
are refused with their rows; ids lose the spaces a fixed-width export pads them with.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from features.dataset import build_dataset
from features.validation import RawDataError, validate_table
from training.raw_io import load_raw_tables

MONTHS = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])
EMPLOYER = "91330502P341PK5E1T"


def _tax(**columns: object) -> pd.DataFrame:
    """Four months of one employer's tax declarations, with `columns` replaced."""
    frame = pd.DataFrame(
        {
            "employer_id": [EMPLOYER] * 4,
            "month": MONTHS,
            "declared_sales": [1.0, 2.0, 3.0, 4.0],
            "tax_paid": [0.1, 0.2, 0.3, 0.4],
            "tax_overdue": [0.0, 0.0, 0.0, 0.0],
            "event_time": MONTHS + pd.offsets.MonthEnd(0),
            "available_at": MONTHS + pd.Timedelta(days=45),
        }
    )
    return frame.assign(**columns)


def _complaints(**columns: object) -> pd.DataFrame:
    times = pd.to_datetime(["2024-02-29 10:00", "2024-03-01 03:00", "2024-03-02 09:30"])
    frame = pd.DataFrame(
        {
            "complaint_id": ["c1", "c2", "c3"],
            "employer_id": [EMPLOYER, "0091330502", "0091 330502"],
            "channel": ["hotline_12345"] * 3,
            "topic": ["wages"] * 3,
            "event_time": times,
            "available_at": times,
        }
    )
    return frame.assign(**columns)


def _refusal(table: str, frame: pd.DataFrame) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RawDataError) as refused:
            validate_table("wage_arrears", table, frame)
    assert [str(w.message) for w in caught] == []  # no pandas "Parsing dates in ..." blocks
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_zoned_months_are_the_same_instant_in_the_citys_time() -> None:
    spark = MONTHS.tz_localize("Asia/Shanghai").tz_convert("UTC")  # 2023-12-31 16:00 UTC, ...
    validated = validate_table("wage_arrears", "tax", _tax(month=spark))
    assert validated["month"].dtype == "datetime64[ns]"
    assert validated["month"].tolist() == MONTHS.tolist()
    text = [f"{m:%Y-%m-%d} 00:00+08:00" for m in MONTHS]
    assert validate_table("wage_arrears", "tax", _tax(month=text))["month"].tolist() == (
        MONTHS.tolist()
    )


def test_a_complaint_seen_before_dawn_on_the_first_is_not_in_that_days_features() -> None:
    """Read as UTC, 03:00 local on 1 March became 19:00 on 29 February: visible as of 1 March."""
    local = _complaints()["available_at"]
    frame = _complaints(
        event_time=local.dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC"),
        available_at=local.dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC"),
    )
    validated = validate_table("wage_arrears", "labour_complaints", frame)
    assert validated["available_at"].tolist() == local.tolist()
    as_of = pd.Timestamp("2024-03-01")
    assert (validated["available_at"] <= as_of).tolist() == [True, False, False]


@pytest.mark.parametrize(
    "numbers",
    [
        np.array([45292, 45323, 45352, 45383]),  # Excel serial days
        np.array([1704038400, 1706716800, 1709222400, 1711900800]),  # seconds since 1970
        ["45292", "45323", "2024-03-01", "45383"],  # CSV text
    ],
)
def test_numbers_in_a_date_column_are_refused(numbers: object) -> None:
    message = _refusal("tax", _tax(month=numbers))
    assert message.startswith("table 'wage_arrears/tax', column 'month': holds numbers, not dates")
    assert "write dates as YYYY-MM-DD" in message
    assert "(rows 0, 1, " in message and "45292" not in message


def test_day_first_or_month_first_text_is_refused_not_guessed() -> None:
    text = ["2024-01-01", "01/02/2024", "2024-03-01", "13.04.2024"]
    message = _refusal("tax", _tax(month=text))
    assert "column 'month': dates that read day-first or month-first alike" in message
    assert "in 2 of 4 rows (rows 1, 3; counted from 0)" in message
    assert "write dates as YYYY-MM-DD" in message


def test_year_first_text_with_or_without_a_time_is_read() -> None:
    text = ["2024/1/1", "2024-02-01 00:00", "2024-3-1T00:00:00", " 2024-04-01 00:00:00.000 "]
    assert validate_table("wage_arrears", "tax", _tax(month=text))["month"].tolist() == (
        MONTHS.tolist()
    )


@pytest.mark.parametrize(
    "months",
    [
        pd.to_datetime(
            ["2024-01-01", "2024-02-15", "2024-03-01", "2024-04-01 08:00"], format="ISO8601"
        ),
        ["2024-01-01", "2024-02-15", "2024-03-01", "2024-04-01 08:00"],
    ],
)
def test_a_month_off_its_first_day_is_refused(months: object) -> None:
    message = _refusal("tax", _tax(month=months))
    assert "column 'month': months that are not the first day of a month" in message
    assert "in 2 of 4 rows (rows 1, 3; counted from 0)" in message


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        (
            ["2024年1月1日", "2024年2月1日", "2024年3月1日", "2024年4月1日"],
            "4 of 4 rows (rows 0, 1",
        ),
        (["2024-01-01", "2024.01.31", "soon", "2024-02-30"], "3 of 4 rows (rows 1, 2, 3;"),
    ],
)
def test_unparseable_dates_name_their_rows_without_warnings(text: list[str], rows: str) -> None:
    message = _refusal("tax", _tax(event_time=text))
    assert "column 'event_time': unparseable dates in " + rows in message
    assert "write dates as YYYY-MM-DD" in message


def test_spaces_around_ids_are_stripped_and_nothing_else() -> None:
    padded = [f"{EMPLOYER} ", " 0091330502\t", "0091 330502"]
    validated = validate_table("wage_arrears", "labour_complaints", _complaints(employer_id=padded))
    assert validated["employer_id"].tolist() == [EMPLOYER, "0091330502", "0091 330502"]


def test_a_spark_export_with_padded_ids_builds_the_same_features(small_city) -> None:
    """Zoned times and padded ids in the linked tables change nothing in the scoring set."""
    tables = load_raw_tables(small_city, "wage_arrears")
    complaints, insurance = tables["labour_complaints"], tables["social_insurance"]

    def utc(times: pd.Series) -> pd.Series:
        return times.dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")

    exported = {
        **tables,
        "labour_complaints": complaints.assign(
            employer_id=complaints["employer_id"] + " ",
            event_time=utc(complaints["event_time"]),
            available_at=utc(complaints["available_at"]),
        ),
        "social_insurance": insurance.assign(month=utc(insurance["month"])),
    }
    expected = build_dataset("wage_arrears", tables, unlabelled=True)
    built = build_dataset("wage_arrears", exported, unlabelled=True)
    assert expected["labour_complaints_12m"].sum() > 0
    pd.testing.assert_frame_equal(built, expected)
