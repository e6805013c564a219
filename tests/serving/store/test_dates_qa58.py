"""An audit read bounded by a date the store cannot hold (year 1, year 9999) is refused as a
filter naming the parameter (the API's 422), not an `OverflowError` (a 500)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from serving.store.reads import FIRST_DAY, LAST_DAY, AuditFilterError, audit_window

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until", "parameter"),
    [
        (date(1, 1, 1), None, "since"),
        (None, date(9999, 12, 31), "until"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8))), None, "since"),
        (None, datetime(9999, 12, 31, 20, tzinfo=timezone(timedelta(hours=-8))), "until"),
        (date(1969, 12, 31), None, "since"),
    ],
)
def test_a_bound_out_of_range_is_a_filter_error(
    since: date | None, until: date | None, parameter: str
) -> None:
    with pytest.raises(AuditFilterError, match="is out of range: give a date from") as refused:
        audit_window(since, until, now=NOW)
    assert refused.value.parameter == parameter
    assert refused.value.kind == "range"


def test_the_ends_of_the_range_are_answered() -> None:
    start, end = audit_window(FIRST_DAY, LAST_DAY, now=NOW)
    assert start == datetime(1969, 12, 31, 16, tzinfo=UTC)
    assert end == datetime(9998, 12, 31, 16, tzinfo=UTC)
