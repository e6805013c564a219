"""A warnings store made at an earlier revision of its schema, for the tests of an upgrade. A
plain module, not a conftest: conftests are not importable under `--import-mode=importlib`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import serving.store


def upgrade_to(url: str, revision: str) -> None:
    """Run the store's own migrations on `url` up to `revision` (an empty database: from none)."""
    config = Config()
    config.set_main_option(
        "script_location", str(Path(serving.store.__file__).with_name("migrations"))
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)
