"""A time's zone offset with 60 or more minutes is refused, not read as another moment.

`datetime.fromisoformat` reads `+09:99` as +10:39: `store purge --before
2026-12-01T00:00:00+09:99 --dry-run` and `audit --since ...+09:99` answered as if that typo
were a moment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serving.test_people_cli import _one_error_line, _run


@pytest.mark.parametrize("offset", ["+09:99", "+0960", "-05:30:60"])
@pytest.mark.parametrize(
    "command",
    [
        ("store", "purge", "--dry-run", "--before"),
        ("audit", "--actor", "ops-zhang", "--since"),
        ("monitor", "--task", "wage-arrears", "--since"),
    ],
)
def test_an_impossible_offset_is_one_error_line(
    isolated_env: Path, command: tuple[str, ...], offset: str
) -> None:
    moment = f"2026-12-01T00:00:00{offset}"

    code, _, err = _run(*command, moment)

    assert code == 2
    _one_error_line(code, err, f"{command[-1]} must be a date", repr(moment))


def test_real_offsets_and_dates_still_read(isolated_env: Path) -> None:
    assert _run("store", "upgrade")[0] == 0  # an empty store: the dates are read, no rows
    for moment in ("2026-12-01T00:00:00+09:59", "2026-12-01T00:00:00-0530", "2026-12-01"):
        code, out, err = _run("audit", "--actor", "ops-zhang", "--since", moment)
        assert (code, out, err.strip()) == (0, "", "no audit rows"), err
