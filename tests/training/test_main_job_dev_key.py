"""`riskloop run`'s development key: made and shown once, and a later run says why none shows."""

from pathlib import Path

import pytest


def test_a_second_run_names_the_existing_keys_and_how_to_make_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from models.settings import get_settings
    from serving.auth import authenticate, list_keys
    from training.commands.main_job import _ensure_dev_key

    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("RISKLOOP_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    get_settings.cache_clear()
    try:
        _ensure_dev_key()
        first = capsys.readouterr().err
        secret = first.split("Bearer ")[1].split()[0]
        assert authenticate(f"Bearer {secret}", "score").name == list_keys()[0].name
        _ensure_dev_key()
        second = capsys.readouterr().err
        assert len(list_keys()) == 1  # no second key
        assert secret not in second
        name = list_keys()[0].name
        assert f"API keys already exist ({name})" in second
        assert "riskloop keys create NAME --scopes score" in second
    finally:
        get_settings.cache_clear()
