"""How `make test` hands tests to its xdist workers: a test file per work unit, as `--dist
loadfile` does, except that the tests sharing a session-wide service are one unit.

The console's tests share one service with trained champions, people and scored warnings
(tests/console/conftest.py), the serving suite's one with its own (tests/serving/conftest.py,
the loop's tests included); each takes tens of seconds to build. Handed out a file at a time,
both workers met both suites and built both services: twice the work. A worker builds each
once now. (xdist's `--dist loadgroup` would say the same with markers, but under pytest 9 it
groups nothing: it renames a test through `item._nodeid`, which pytest no longer reads.)

A plain module, not a conftest: conftests are not importable under `--import-mode=importlib`.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

# folder prefix -> the work unit of every test under it; the first match wins
SHARED_SERVICES = (
    ("tests/serving/store/", None),  # the store's own tests start no service
    ("tests/serving/", "tests/serving/ (one service, its trained champions)"),
    ("tests/console/", "tests/console/ (one service, people and warnings)"),
)


def shared_unit(nodeid: str) -> str | None:
    """The shared service's work unit `nodeid` belongs to, None if it needs none."""
    for folder, unit in SHARED_SERVICES:
        if nodeid.startswith(folder):
            return unit
    return None


def shares_a_service(nodeid: str) -> bool:
    return shared_unit(nodeid) is not None


class SharedServiceScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with a test file per scope but for the shared services' units."""

    def _split_scope(self, nodeid: str) -> str:
        return shared_unit(nodeid) or nodeid.split("::", 1)[0]
