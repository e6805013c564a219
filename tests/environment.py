"""This process's riskloop settings pointed at a set of stores for a block, then put back.

A plain module (conftests are not importable under `--import-mode=importlib`). Fixtures that
own stores (the serving, console and end-to-end suites) use it for the tests of their own
folder only, module by module, never for the rest of the session: a session fixture that left
`os.environ` pointed at its stores made the outcome of other suites depend on which ran first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest


@contextmanager
def settings_env(env: Mapping[str, str]) -> Iterator[None]:
    """Set `env` in this process (and drop cached settings) for the block; restore after."""
    from models.settings import get_settings

    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            get_settings.cache_clear()
            yield
    finally:
        get_settings.cache_clear()
