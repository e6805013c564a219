"""Every number among the `RISKLOOP_*` settings is finite and bounded: a value past its bound
is one line at start, not a process that crashes later (Argon2 taking 2^32 passes as a uint32,
SQLite's busy time-out of 1e308 s overflowing, a negative body limit refusing every request)."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from models.settings import Settings, get_settings

NUMBERS = sorted(
    name for name, field in Settings.model_fields.items() if field.annotation in (int, float)
)


def test_the_settings_hold_numbers() -> None:
    assert {"store_busy_timeout_s", "password_time_cost", "max_body_bytes"} <= set(NUMBERS)


@pytest.mark.parametrize("name", NUMBERS)
def test_each_number_refuses_a_huge_value_and_a_float_infinity_and_nan(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("PASSWORD_TIME_COST", "PASSWORD_MEMORY_KIB", "PASSWORD_PARALLELISM"):
        monkeypatch.delenv(f"RISKLOOP_{variable}", raising=False)  # the suite's least cost
    default = Settings.model_fields[name].default
    Settings(**{name: default})  # the default itself is within its bounds
    with pytest.raises(ValidationError, match="less than or equal"):
        Settings(**{name: 10**12})
    if Settings.model_fields[name].annotation is float:
        for value in (math.inf, -math.inf, math.nan):
            with pytest.raises(ValidationError, match="finite"):
                Settings(**{name: value})


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("RISKLOOP_PASSWORD_TIME_COST", "4294967296", "less than or equal to 100"),
        ("RISKLOOP_PASSWORD_MEMORY_KIB", "4294967296", "less than or equal to 4194304"),
        ("RISKLOOP_STORE_BUSY_TIMEOUT_S", "1e308", "less than or equal to 3600"),
        ("RISKLOOP_STORE_BUSY_TIMEOUT_S", "0.0001", "greater than or equal to 0.001"),
        ("RISKLOOP_MAX_BODY_BYTES", "-5", "greater than or equal to 1024"),
        ("RISKLOOP_LOCKOUT_S", "inf", "finite number"),
    ],
)
def test_the_cli_says_a_value_out_of_bounds_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    from training.cli import app

    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["users", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: invalid setting {variable}: ") and said in lines[0]


def test_a_refused_lane_count_is_said_once_not_again_as_a_memory_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKLOOP_PASSWORD_PARALLELISM", "0")
    monkeypatch.setenv("RISKLOOP_PASSWORD_MEMORY_KIB", "16")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert [error["loc"] for error in refused.value.errors()] == [("password_parallelism",)]
