"""Argon2id's cost: RFC 9106's low-memory profile unless `RISKLOOP_PASSWORD_*` says otherwise,
a password hashed at other parameters re-hashed at its next sign-in, and production refusing
less work than the default (the suite itself runs at the least cost: tests/conftest.py)."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters
from pydantic import ValidationError
from typer.testing import CliRunner

from models.settings import Settings, get_settings
from serving.store import WarningStore
from serving.store.people import SignInRefused

PASSWORD = "correct-horse-battery"
COST = (
    "RISKLOOP_PASSWORD_TIME_COST",
    "RISKLOOP_PASSWORD_MEMORY_KIB",
    "RISKLOOP_PASSWORD_PARALLELISM",
)


def _stored(store: WarningStore, name: str) -> str:
    with store.engine.connect() as connection:
        return str(
            connection.exec_driver_sql(
                "SELECT password_hash FROM users WHERE name = ?"
                if store.engine.dialect.name == "sqlite"
                else "SELECT password_hash FROM users WHERE name = %s",
                (name,),
            ).scalar()
        )


def _cost(monkeypatch: pytest.MonkeyPatch, **cost: int) -> None:
    for name in COST:
        monkeypatch.delenv(name, raising=False)
    for name, value in cost.items():
        monkeypatch.setenv(f"RISKLOOP_PASSWORD_{name.upper()}", str(value))
    get_settings.cache_clear()


def test_the_default_is_rfc_9106s_low_memory_profile(
    store: WarningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cost(monkeypatch)
    try:
        store.create_user("dflt", department="county_centre", role="officer", password=PASSWORD)
        stored = _stored(store, "dflt")
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    finally:
        get_settings.cache_clear()


def test_a_password_hashed_at_other_parameters_is_re_hashed_at_its_next_sign_in(
    store: WarningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        _cost(monkeypatch, time_cost=1, memory_kib=8, parallelism=1)
        store.create_user("moved", department="county_centre", role="officer", password=PASSWORD)
        before = _stored(store, "moved")
        assert before.startswith("$argon2id$v=19$m=8,t=1,p=1$"), before
        _cost(monkeypatch, time_cost=2, memory_kib=32, parallelism=2)
        with pytest.raises(SignInRefused):
            store.sign_in("moved", "not-the-password!")
        assert _stored(store, "moved") == before  # a wrong password changes nothing
        assert store.sign_in("moved", PASSWORD).name == "moved"
        after = _stored(store, "moved")
        parameters = extract_parameters(after)
        assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (2, 32, 2)
        assert store.sign_in("moved", PASSWORD).name == "moved"  # and the new hash still fits
        assert _stored(store, "moved") == after
    finally:
        get_settings.cache_clear()


def test_production_refuses_less_work_than_the_default_and_accepts_more_memory_for_fewer_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for weaker in (
        {"password_time_cost": 1},
        {"password_memory_kib": 32_768, "password_time_cost": 8},
        {"password_time_cost": 1, "password_memory_kib": 8, "password_parallelism": 1},
    ):
        with pytest.raises(ValidationError, match="refuses password hashing weaker"):
            Settings(env="production", **weaker)  # type: ignore[arg-type]
        Settings(env="test", **weaker)  # type: ignore[arg-type]
    # RFC 9106's first recommended profile: one pass over 2 GiB
    Settings(env="production", password_time_cost=1, password_memory_kib=2 * 1024 * 1024)
    with pytest.raises(ValidationError, match="8 KiB a lane"):
        Settings(password_parallelism=4, password_memory_kib=16)

    from training.cli import app

    _cost(monkeypatch, time_cost=1)
    monkeypatch.setenv("RISKLOOP_ENV", "production")
    try:
        result = CliRunner().invoke(app, ["users", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "RISKLOOP_PASSWORD_MEMORY_KIB" in lines[0], result.output
    assert "asked for 1 x 65536 KiB" in lines[0] and "Traceback" not in result.output
