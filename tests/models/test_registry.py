"""Registry loading errors name the task and the registry URI."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.registry import RegistryError, load_registered


def test_missing_champion_names_task_and_uri(isolated_env: Path) -> None:
    uri = f"sqlite:///{isolated_env / 'mlruns.db'}"
    with pytest.raises(RegistryError) as caught:
        load_registered("dispute-escalation", tracking_uri=uri)
    message = str(caught.value)
    assert "dispute-escalation" in message and uri in message and "champion" in message
