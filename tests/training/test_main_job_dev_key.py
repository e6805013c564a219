"""`riskloop run`'s development key: made once, its secret in a 0600 file and never on stderr
(the service's log stream under nohup or systemd), and a later run says where it is."""

import stat
from pathlib import Path

import pytest


def test_the_dev_key_goes_to_an_owner_only_file_and_never_to_stderr(
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
        _ensure_dev_key("http://127.0.0.1:3100")
        first = capsys.readouterr()
        kept = tmp_path / "riskloop-local-dev.key"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        secret = kept.read_text(encoding="utf-8").strip()
        assert authenticate(f"Bearer {secret}", "score").name == list_keys()[0].name
        assert secret not in first.err + first.out
        assert "rk_" not in first.err + first.out
        assert (
            f'curl -H "Authorization: Bearer $(cat {kept})" http://127.0.0.1:3100/v1/warnings'
            in first.err
        )
        _ensure_dev_key()
        second = capsys.readouterr().err
        assert len(list_keys()) == 1  # no second key
        assert secret not in second
        name = list_keys()[0].name
        assert f"API keys already exist ({name}); the 'local-dev' key's secret is in {kept}" in (
            second
        )
        assert "riskloop keys create NAME --scopes score" in second
    finally:
        get_settings.cache_clear()
