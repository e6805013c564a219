"""How `make test` hands tests to its xdist workers: a test file per work unit, as `--dist
loadfile` does, except that the tests sharing a session-wide service are a few units.

The console's tests share one service with trained champions, people and scored warnings
(tests/console/conftest.py), the serving suite's one with its own (tests/serving/conftest.py)
and the loop's services on the same champions (tests/serving/loop/conftest.py); each takes
tens of seconds to build. Handed out a file at a time, every worker met every suite and built
every service. Each suite is now one unit or two: the console's files in two halves by name
(about 200 s each; a worker building the console's service for its half is cheaper than one
worker running 400 s of browser tests while the others have nothing left), the serving
suite's loop folder and the rest. Which half a file falls in changes only the balance, never
a result. (xdist's `--dist loadgroup` would say the same with markers, but under pytest 9 it
groups nothing: it renames a test through `item._nodeid`, which pytest no longer reads.)

A plain module, not a conftest: conftests are not importable under `--import-mode=importlib`.
"""

from __future__ import annotations

import re

from xdist.scheduler import LoadScopeScheduling

# path pattern (from the start of a test's id) -> the work unit of every test it matches; the
# first match wins
SHARED_SERVICES = (
    (r"tests/serving/store/", None),  # the store's own tests start no service
    (r"tests/serving/loop/", "tests/serving/loop/ (the loop's services, the suite's champions)"),
    (r"tests/serving/", "tests/serving/ (one service, its trained champions)"),
    (r"tests/console/test_[a-p]", "tests/console/test_[a-p]* (one service, people, warnings)"),
    (r"tests/console/", "tests/console/test_[q-z]* (one service, people, warnings)"),
)
_PATTERNS = tuple((re.compile(pattern), unit) for pattern, unit in SHARED_SERVICES)


def shared_unit(nodeid: str) -> str | None:
    """The shared service's work unit `nodeid` belongs to, None if it needs none."""
    for pattern, unit in _PATTERNS:
        if pattern.match(nodeid):
            return unit
    return None


def shares_a_service(nodeid: str) -> bool:
    return shared_unit(nodeid) is not None


#: Files of the rest that take 20 s or more each (a whole main job, a Dask cluster, a full
#: closed loop): queued right after the shared units, so that none of them starts last while
#: the other workers have finished (xdist hands units out in collection order). Only the
#: balance depends on this list.
LONG_FILES = (
    "tests/training/test_registry_round_trip.py",
    "tests/e2e/",
    "tests/scale/",
    "tests/training/test_report_on_another_city.py",
    "tests/serving/store/test_store_concurrency.py",
    "tests/reports/test_reporting_cli.py",
    "tests/training/test_feedback_outside_tables.py",
)


def queue_rank(nodeid: str) -> int:
    """Where a test's unit goes in the queue: the shared services' first, the long files
    next, the rest last (each group in collection order)."""
    if shares_a_service(nodeid):
        return 0
    return 1 if nodeid.startswith(LONG_FILES) else 2


class SharedServiceScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with a test file per scope but for the shared services' units."""

    def _split_scope(self, nodeid: str) -> str:
        return shared_unit(nodeid) or nodeid.split("::", 1)[0]
