"""A store opened under another pseudonym key is refused, not silently split in two.

Before, a store whose secrets file was lost (or a machine given another
`RISKLOOP_PSEUDONYM_SECRET`) opened as ever, and a new key made new pseudonyms: new scores,
warnings and outcomes no longer met the stored ones, without a word. The store keeps a check
of its key (an HMAC of a fixed text, never the key) and refuses any other, in one line and
before writing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from models.settings import get_settings
from serving.store import StoreUnavailable, WarningStore
from serving.store.common import table_of
from serving.store.identity import EntityCipher
from serving.store.models import KeyCheck
from serving.store.pseudonym import key_check
from tests.cli_results import one_error_line
from tests.serving.loop.conftest import run_cli

SECRET = "test-pseudonym-secret"
OTHER = "another-pseudonym-secret-of-32-chars"


def _checks(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            table = table_of(KeyCheck)
            return [
                tuple(row) for row in connection.execute(select(table.c.name, table.c.check_value))
            ]
    finally:
        engine.dispose()


def test_a_new_store_keeps_a_check_of_its_key_never_the_key(store_url: str) -> None:
    WarningStore(store_url, SECRET).close()
    assert _checks(store_url) == [("pseudonym", key_check(SECRET))]
    assert SECRET not in key_check(SECRET) and key_check(SECRET) != key_check(OTHER)
    WarningStore(store_url, SECRET).close()  # the same key opens it again
    assert _checks(store_url) == [("pseudonym", key_check(SECRET))]


def test_another_key_is_refused_and_nothing_is_written(
    store_url: str, scored: Callable[..., dict[str, object]]
) -> None:
    with WarningStore(store_url, SECRET) as store:
        store.record_scores(
            actor="ops",
            task="wage-arrears",
            model_name="m",
            model_version="1",
            results=[scored("91330500MA2B000001", 0.9, "red")],
        )
    with pytest.raises(StoreUnavailable, match="another pseudonym key") as refused:
        WarningStore(store_url, OTHER)
    assert OTHER not in str(refused.value) and SECRET not in str(refused.value)
    assert _checks(store_url) == [("pseudonym", key_check(SECRET))]
    with WarningStore(store_url, SECRET) as store:  # the right key still opens it, data whole
        assert len(store.scored_records(task="wage-arrears")) == 1
        assert store.list_warnings(task="wage-arrears")["total"] == 1


def test_a_store_made_before_the_check_takes_the_next_key(store_url: str) -> None:
    WarningStore(store_url, SECRET).close()
    engine = create_engine(store_url)
    with engine.begin() as connection:  # as a store made before revision r0008 is
        connection.execute(text("DELETE FROM key_checks"))
    engine.dispose()
    WarningStore(store_url, OTHER).close()
    assert _checks(store_url) == [("pseudonym", key_check(OTHER))]
    with pytest.raises(StoreUnavailable, match="another pseudonym key"):
        WarningStore(store_url, SECRET)


@pytest.mark.parametrize("pseudonym_from_env", [False, True])
def test_a_lost_secrets_file_stops_the_cli_in_one_line_and_none_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pseudonym_from_env: bool
) -> None:
    """A command run after the secrets file was lost made a new one (new keys) before the
    store refused it: a running service took those keys up for new warnings, which the
    restored backup could then never reveal. Where the store exists, a missing file is refused
    and none is made, the pseudonym key from the environment or not."""
    secrets = tmp_path / "riskloop-secrets.json"
    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("RISKLOOP_SECRETS_FILE", str(secrets))
    if pseudonym_from_env:
        monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", "machine-a-pseudonym-secret-0123456789")
    else:
        monkeypatch.delenv("RISKLOOP_PSEUDONYM_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        assert run_cli(["store", "upgrade"]).exit_code == 0
        backup = secrets.read_bytes()
        store_bytes = (tmp_path / "store.db").read_bytes()
        secrets.unlink()  # lost
        for command in (["store", "upgrade"], ["users", "list"], ["secrets", "rotate"]):
            line = one_error_line(run_cli(command), "no secrets file at", "restore")
            assert str(tmp_path / "store.db") in line and "none was made" in line
            assert not secrets.exists()
        assert (tmp_path / "store.db").read_bytes() == store_bytes
        secrets.write_bytes(backup)  # restored from the backup: the store opens again
        secrets.chmod(0o600)
        assert run_cli(["store", "upgrade"]).exit_code == 0
    finally:
        get_settings.cache_clear()


def test_existing_store_names_a_store_only_once_riskloop_made_it(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.secret_keys import existing_store

    monkeypatch.setenv("RISKLOOP_STORE_URL", store_url)
    get_settings.cache_clear()
    try:
        assert existing_store(get_settings()) is None  # an empty database: first use
        WarningStore(store_url, SECRET).close()
        named = existing_store(get_settings())
        password = make_url(store_url).password
        assert named is not None and (not password or str(password) not in named)
    finally:
        get_settings.cache_clear()


def _cipher(seed: int) -> EntityCipher:
    return EntityCipher({f"k{seed}": bytes([seed]) * 32}, f"k{seed}")


def test_a_store_made_before_the_check_takes_no_key_its_ids_refute(
    store_url: str, scored: Callable[..., dict[str, object]]
) -> None:
    """A store made before revision r0008 took the key of whatever secrets file first opened
    it, another installation's included; the real backup was then refused. Where the store
    keeps an encrypted id, the key must open it and give the warning's pseudonym."""
    with WarningStore(store_url, SECRET, _cipher(1)) as store:
        store.record_scores(
            actor="ops",
            task="wage-arrears",
            model_name="m",
            model_version="1",
            results=[scored("91330500MA2B000001", 0.9, "red")],
        )
    engine = create_engine(store_url)
    with engine.begin() as connection:  # as a store made before revision r0008 is
        connection.execute(text("DELETE FROM key_checks"))
    engine.dispose()
    for secret, cipher in ((OTHER, _cipher(2)), (OTHER, _cipher(1)), (SECRET, _cipher(2))):
        with pytest.raises(StoreUnavailable, match="another pseudonym key"):
            WarningStore(store_url, secret, cipher)
    assert _checks(store_url) == []  # nothing taken
    WarningStore(store_url, SECRET, _cipher(1)).close()  # its own keys: taken
    assert _checks(store_url) == [("pseudonym", key_check(SECRET))]


def test_a_store_of_a_newer_riskloop_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store upgraded by a newer riskloop (a backup restored onto an older host, two
    machines mid-upgrade) gave a 100-line Alembic traceback on every command and at start."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("RISKLOOP_STORE_URL", url)
    monkeypatch.setenv("RISKLOOP_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.delenv("RISKLOOP_PSEUDONYM_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        assert run_cli(["store", "upgrade"]).exit_code == 0
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'r9999_future'"))
        engine.dispose()
        with pytest.raises(StoreUnavailable, match="revision r9999_future, which this riskloop"):
            WarningStore(url, SECRET)
        one_error_line(run_cli(["users", "list"]), "r9999_future", "does not know")
    finally:
        get_settings.cache_clear()
