"""`riskloop keys revoke` takes what `keys list` shows: a key's name or its id. The id was
refused as `no active key named '05292dc5'`, with no hint that revoke wanted the name."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.auth import AuthError, KeyRing, list_keys
from tests.serving.test_people_cli import _one_error_line, _run


def _created(name: str) -> tuple[str, str]:
    """A new key's secret and id."""
    code, out, err = _run("keys", "create", name, "--scopes", "score")
    assert code == 0, err
    secret = out.strip()
    return secret, secret.split("_")[1]


def test_a_key_is_revoked_by_its_id_as_keys_list_shows_it(isolated_env: Path) -> None:
    keys = isolated_env / "keys.json"
    secret, key_id = _created("ingest")
    kept, _ = _created("desk")
    code, out, _ = _run("keys", "list")
    assert f"ingest\t{key_id}\t" in out
    code, out, err = _run("keys", "revoke", key_id)
    assert code == 0, err
    assert out.strip() == f"revoked ingest ({key_id})"
    with pytest.raises(AuthError):
        KeyRing(keys).authenticate(f"Bearer {secret}", "score")
    assert KeyRing(keys).authenticate(f"Bearer {kept}", "score")  # only that key
    assert [r.name for r in list_keys(keys) if r.revoked_at is not None] == ["ingest"]
    # the same id again: said what happened to it, not "no active key named"
    code, _, err = _run("keys", "revoke", key_id)
    _one_error_line(code, err, f"key {key_id} (ingest) was already revoked 20")
    code, _, err = _run("keys", "revoke", "ingest")
    _one_error_line(code, err, "the key named 'ingest' was already revoked")
    code, _, err = _run("keys", "revoke", "0000beef")
    _one_error_line(code, err, "no active key named '0000beef' or with that id", "keys list")


def test_a_name_wins_over_another_keys_id(isolated_env: Path) -> None:
    """A name may look like an id: the active key of that name is the one revoked."""
    _, first_id = _created("first")
    _created(first_id)  # a key named like the first key's id
    code, out, err = _run("keys", "revoke", first_id)
    assert code == 0, err
    assert out.strip().startswith(f"revoked {first_id} (")
    assert {r.name for r in list_keys(isolated_env / "keys.json") if r.active} == {"first"}
