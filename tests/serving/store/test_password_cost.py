"""Argon2id's cost: RFC 9106's low-memory profile unless `RISKLOOP_PASSWORD_*` says otherwise,
a password hashed at other parameters re-hashed at its next sign-in, and production never
hashing with less work than the default (the suite itself runs at the least cost: tests/conftest.py)."""

from __future__ import annotations

import logging

import pytest
from argon2 import extract_parameters
from pydantic import ValidationError

from models.settings import DEFAULT_PASSWORD_COST, PasswordCost, Settings, get_settings
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


def test_production_hashes_at_no_less_than_the_default_and_keeps_more_memory_for_fewer_passes(
    store: WarningStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    default = DEFAULT_PASSWORD_COST
    for weaker in (
        {"password_time_cost": 1},
        {"password_memory_kib": 32_768, "password_time_cost": 8},
        {"password_time_cost": 1, "password_memory_kib": 8, "password_parallelism": 1},
    ):
        assert Settings(env="production", **weaker).password_cost == default  # type: ignore[arg-type]
        assert Settings(env="test", **weaker).password_cost != default  # type: ignore[arg-type]
    # RFC 9106's first recommended profile (one pass over 2 GiB) and more lanes are kept
    for more in (PasswordCost(1, 2 * 1024 * 1024, 4), PasswordCost(4, 65_536, 8)):
        kept = Settings(
            env="production",
            password_time_cost=more.time_cost,
            password_memory_kib=more.memory_kib,
            password_parallelism=more.parallelism,
        )
        assert kept.password_cost == more
    with pytest.raises(ValidationError, match="8 KiB a lane"):
        Settings(password_parallelism=4, password_memory_kib=16)

    # the suite's least cost, in production: hashed at the default, said once in the log
    _cost(monkeypatch, time_cost=1, memory_kib=8, parallelism=1)
    monkeypatch.setenv("RISKLOOP_ENV", "production")
    get_settings.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="serving.store.passwords"):
            store.create_user("prod", department="county_centre", role="officer", password=PASSWORD)
            assert store.sign_in("prod", PASSWORD).name == "prod"
    finally:
        get_settings.cache_clear()
    assert _stored(store, "prod").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    said = [r.getMessage() for r in caplog.records if "less work asked for" in r.getMessage()]
    assert len(said) <= 1 and all("RISKLOOP_ENV=production" in line for line in said)
