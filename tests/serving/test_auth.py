"""API keys: only hashes stored, scopes enforced, revocation effective, CLI prints the key alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from serving.auth import (
    AuthError,
    KeyManagementError,
    KeyRing,
    create_key,
    list_keys,
    revoke_key,
)
from training.commands import cli_actor


def test_key_file_holds_only_a_salted_hash(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    secret = create_key("bureau", ["score", "review"], path)
    stored = path.read_text()
    assert secret not in stored
    assert secret.split("_", 2)[2] not in stored
    (record,) = json.loads(stored)["keys"]
    assert record["name"] == "bureau" and record["scopes"] == ["score", "review"]
    assert len(record["salt"]) == 32 and len(record["secret_hash"]) == 64
    assert path.stat().st_mode & 0o077 == 0


def test_authenticate_checks_key_and_scope(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    secret = create_key("bureau", ["score"], path)
    ring = KeyRing(path)
    assert ring.authenticate(f"Bearer {secret}", "score").name == "bureau"
    assert ring.authenticate(f"bearer {secret}", None).name == "bureau"
    for header in (
        None,
        "",
        "Bearer",
        "Basic abc",
        f"Bearer {secret}x",
        "Bearer rk_00000000_" + "a" * 43,
    ):
        with pytest.raises(AuthError) as caught:
            ring.authenticate(header, "score")
        assert caught.value.status == 401
    with pytest.raises(AuthError) as caught:
        ring.authenticate(f"Bearer {secret}", "admin")
    assert caught.value.status == 403 and "admin" in caught.value.message


def test_same_secret_under_another_key_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = create_key("a", ["score"], path)
    second = create_key("b", ["score"], path)
    forged = "_".join([*second.split("_")[:2], first.split("_", 2)[2]])
    with pytest.raises(AuthError):
        KeyRing(path).authenticate(f"Bearer {forged}", "score")


def test_revocation_takes_effect_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    secret = create_key("temp", ["score"], path)
    ring = KeyRing(path)
    ring.authenticate(f"Bearer {secret}", "score")
    revoke_key("temp", path)
    with pytest.raises(AuthError) as caught:
        ring.authenticate(f"Bearer {secret}", "score")
    assert caught.value.status == 401
    assert [k.active for k in list_keys(path)] == [False]
    renewed = create_key("temp", ["score"], path)
    assert ring.authenticate(f"Bearer {renewed}", "score").name == "temp"


@pytest.mark.parametrize(
    ("name", "scopes"),
    [("bad name", ["score"]), ("ok", ["root"]), ("ok", []), ("-dash", ["score"])],
)
def test_invalid_key_requests_are_refused(tmp_path: Path, name: str, scopes: list[str]) -> None:
    with pytest.raises(KeyManagementError):
        create_key(name, scopes, tmp_path / "keys.json")
    assert not (tmp_path / "keys.json").exists()


@pytest.mark.parametrize("name", ["13812345678", "ops-13812345678", "330501199001011234"])
def test_a_key_name_holding_an_id_is_refused(tmp_path: Path, name: str) -> None:
    """A key's name is its actor in the audit log, where no raw identifier may be."""
    with pytest.raises(KeyManagementError, match="must not hold a phone") as refused:
        create_key(name, ["score"], tmp_path / "keys.json")
    assert name not in str(refused.value)
    assert not (tmp_path / "keys.json").exists()


def test_an_audit_key_is_never_bound_to_one_department(tmp_path: Path) -> None:
    """A key with the `audit` scope bound to labour inspection read every department's cases
    in the log (dispositions, reveal purposes, people); the log has no department to bind to."""
    path = tmp_path / "keys.json"
    with pytest.raises(KeyManagementError, match="spans every department"):
        create_key("desk", ["review", "audit"], path, department="labour_inspection")
    assert not path.exists()
    create_key("desk", ["review"], path, department="labour_inspection")  # without audit: fine


def test_duplicate_active_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    create_key("one", ["score"], path)
    with pytest.raises(KeyManagementError, match="already exists"):
        create_key("one", ["admin"], path)


def test_cli_create_prints_the_key_alone_and_list_never_shows_it(isolated_env: Path) -> None:
    from training.cli import app

    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "ops", "--scopes", "score,admin"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("rk_") and "\n" not in secret
    assert KeyRing(isolated_env / "keys.json").authenticate(f"Bearer {secret}", "admin")
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and "ops" in listed.stdout and secret not in listed.stdout
    bad = runner.invoke(app, ["keys", "create", "x", "--scopes", "root"])
    assert bad.exit_code == 2 and "unknown scope" in bad.output
    revoked = runner.invoke(app, ["keys", "revoke", "ops"])
    assert revoked.exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "ops"]).exit_code == 2
    # each change of the keys is an audit row by the CLI, naming the key, never its secret
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        rows = store.audit_rows(actor=cli_actor())
    key_id = secret.split("_")[1]
    changes = [(r["action"], r["detail"]) for r in rows if r["action"].startswith("api_key")]
    expected = {
        "key": "ops",
        "key_id": key_id,
        "scopes": ["score", "admin"],
        "department": None,
        "channel": "cli",
    }
    assert changes == [("api_key_created", expected), ("api_key_revoked", expected)]
    assert all(secret.split("_", 2)[2] not in str(r) for r in rows)


def test_serve_refuses_production_without_keys_and_missing_champions(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.settings import get_settings
    from training.cli import app

    runner = CliRunner()
    monkeypatch.setenv("RISKLOOP_ENV", "production")
    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", "a-private-production-secret")
    get_settings.cache_clear()
    refused = runner.invoke(app, ["serve", "--port", "3999"])
    assert refused.exit_code == 2 and "no active API key" in refused.output
    create_key("ops", ["score"], isolated_env / "keys.json")
    missing = runner.invoke(app, ["serve", "--port", "3999"])
    assert missing.exit_code == 2
    assert "wage-arrears" in missing.output and str(isolated_env / "mlruns.db") in missing.output


def test_a_keys_file_broken_under_a_running_service_accepts_no_key_until_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hand-edit gone wrong: every key is refused with a 401 (closed, not open, and not a
    500), one log line says why, and the repaired file is read again."""
    path = tmp_path / "keys.json"
    secret = create_key("bureau", ["score"], path)
    ring = KeyRing(path)
    assert ring.authenticate(f"Bearer {secret}", "score").name == "bureau"
    good = path.read_text()
    for broken in ('{"keys": [', '{"x": 1}'):
        path.write_text(broken)
        with (
            caplog.at_level("ERROR", logger="riskloop.serving"),
            pytest.raises(AuthError) as refused,
        ):
            ring.authenticate(f"Bearer {secret}", "score")
        assert refused.value.status == 401
        assert "no API key is accepted until it is repaired" in caplog.text
        caplog.clear()
    path.write_text(good)
    assert ring.authenticate(f"Bearer {secret}", "score").name == "bureau"
