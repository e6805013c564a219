"""The serve line `riskloop bundle` prints runs as printed in a new shell: it carries the mode,
the links' base URL and the pseudonym key when they are set, and it never prints a secret.
With a password in the store URL it printed `RISKLOOP_STORE_URL='...rl:***@...'`, which pasted
connects with the password `***`, and it left RISKLOOP_ENV and RISKLOOP_PUBLIC_URL out."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.settings import get_settings
from training.commands.scale import serve_instructions
from training.commands.service import bentoml_command

PASSWORD = "s3cr-et.pw"
STORE_URL = f"postgresql+psycopg://rl:{PASSWORD}@127.0.0.1:32001/riskloop"
PSEUDONYM_KEY = "pseudonym-key-shared-by-every-machine-0123"
PUBLIC_URL = "https://riskloop.city.example.gov"


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with no RISKLOOP_* variable of the session's."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("RISKLOOP_")]:
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    get_settings.cache_clear()


def _pasted(lines: list[str], shell_env: dict[str, str]) -> dict[str, str]:
    """The environment `bentoml serve` would get from the printed line pasted into a new shell
    holding `shell_env` (the line's command replaced by `env`, which prints what it gets)."""
    (line,) = [line for line in lines if " serve riskloop:" in line]
    bentoml = shlex.quote(str(bentoml_command()))
    prefix = line.strip().split(f" {bentoml} serve ", 1)[0]
    exports = "".join(f"export {name}={shlex.quote(value)}; " for name, value in shell_env.items())
    done = subprocess.run(
        ["/bin/bash", "--norc", "--noprofile", "-c", f"{exports}{prefix} /usr/bin/env"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(item.split("=", 1) for item in done.stdout.splitlines() if "=" in item)


def test_a_pasted_serve_line_carries_the_mode_links_and_secrets_without_printing_them(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_STORE_URL", STORE_URL)
    monkeypatch.setenv("RISKLOOP_ENV", "production")
    monkeypatch.setenv("RISKLOOP_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", PSEUDONYM_KEY)
    get_settings.cache_clear()
    lines = serve_instructions("riskloop:abc123")
    printed = "\n".join(lines)
    assert PASSWORD not in printed and PSEUDONYM_KEY not in printed, printed
    notes = [line for line in lines if line.startswith("note: ") and "not printed" in line]
    assert notes == [
        "note: RISKLOOP_STORE_URL holds a secret and is not printed: the line reads it from "
        "your shell, so export RISKLOOP_STORE_URL "
        "(postgresql+psycopg://rl:***@127.0.0.1:32001/riskloop) there first",
        "note: RISKLOOP_PSEUDONYM_SECRET holds a secret and is not printed: the line reads it "
        "from your shell, so export RISKLOOP_PSEUDONYM_SECRET there first",
    ]
    # pasted into a shell that exports the two secrets, as the notes say
    got = _pasted(
        lines, {"RISKLOOP_STORE_URL": STORE_URL, "RISKLOOP_PSEUDONYM_SECRET": PSEUDONYM_KEY}
    )
    assert got["RISKLOOP_STORE_URL"] == STORE_URL
    assert got["RISKLOOP_PSEUDONYM_SECRET"] == PSEUDONYM_KEY
    assert got["RISKLOOP_ENV"] == "production"
    assert got["RISKLOOP_PUBLIC_URL"] == PUBLIC_URL
    assert got["RISKLOOP_SECRETS_FILE"] == str(here / "riskloop-secrets.json")
    assert got["RISKLOOP_KEYS_FILE"] == str(here / "riskloop-keys.json")


def test_without_secrets_or_settings_the_line_holds_values_only(here: Path) -> None:
    lines = serve_instructions("riskloop:abc123")
    assert not [line for line in lines if "not printed" in line]
    (line,) = [line for line in lines if " serve riskloop:" in line]
    assert "$" not in line and "RISKLOOP_ENV" not in line and "RISKLOOP_PUBLIC_URL" not in line
    got = _pasted(lines, {})
    assert got["RISKLOOP_STORE_URL"] == f"sqlite:///{here / 'riskloop.db'}"
    assert "RISKLOOP_PSEUDONYM_SECRET" not in got
