"""Moments people read in messages are the city's time (+08:00) to the second, as `riskloop
audit` and the console print them: a 409's "changed ... at", a lock's "until"."""

from datetime import UTC, datetime

from serving.store.common import StaleWarning, city_moment


def test_a_stale_case_names_its_last_change_in_the_citys_time() -> None:
    message = str(StaleWarning("w-1", 4, "key:ops-admin", "2026-12-05T04:28:09.358694+00:00"))
    assert "by key:ops-admin at 2026-12-05T12:28:09+08:00)" in message
    assert "+00:00" not in message


def test_city_moment_reads_stored_utc_as_text_naive_or_aware() -> None:
    expected = "2026-12-06T07:30:00+08:00"
    assert city_moment("2026-12-05T23:30:00") == expected  # SQLite's naive UTC
    assert city_moment("2026-12-05T23:30:00+00:00") == expected
    assert city_moment(datetime(2026, 12, 5, 23, 30, tzinfo=UTC)) == expected
    assert city_moment(None) is None and city_moment("") is None
