"""The local development API key `riskloop run` creates: its name and where its secret lives.

Apart from the command so that the output checks (`training.raw_io`) can refuse writing over
the secret without importing command code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.settings import Settings

DEV_KEY_NAME = "local-dev"


def dev_key_path(settings: Settings) -> Path:
    """Where `riskloop run` keeps the development key's secret: beside the keys file, 0600."""
    return settings.keys_file.with_name(f"riskloop-{DEV_KEY_NAME}.key")
