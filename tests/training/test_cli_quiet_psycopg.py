"""psycopg's warnings about its own objects stay off the CLI's terminal; riskloop's own error
lines do not. Two `riskloop screen` runs racing on PostgreSQL printed psycopg's
`error ignored terminating <psycopg.Pipeline [INERROR, pipeline=ON] (host=... user=...
database=...) ...>: pipeline aborted` first, although the store's retry left the data right."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import PrivatePostgres

PG_URL_ENV = "RISKLOOP_TEST_PG_URL"

# A process as the `riskloop` command runs: no logging set up but what the CLI does. A command
# runs (and fails with its own error line), then psycopg ends a pipeline that the server
# aborted while an exception was on its way out: what the racing screens' store retry met.
_SCRIPT = """
import sys

import psycopg

from training.cli import app

try:
    app(["screen", "--task", "parking-fines"])
except SystemExit as exit:
    print(f"exit {exit.code}")
with psycopg.connect(sys.argv[1], autocommit=True) as connection:
    connection.execute("CREATE TEMP TABLE claimed (k int PRIMARY KEY)")
    try:
        with connection.pipeline():
            connection.execute("INSERT INTO claimed VALUES (1)")
            connection.execute("INSERT INTO claimed VALUES (1)")
            raise LookupError("the caller's own exception")
    except LookupError as exc:
        print(f"caught {exc}")
"""


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL psycopg takes: the given server's, or (`auto` or unset) a private
    one's, from the Debian binaries `make install` puts in place. Never skipped: the warning
    this test keeps off the terminal comes from psycopg itself, so it needs a server."""
    given = os.environ.get(PG_URL_ENV) or "auto"
    if given != "auto":
        yield given.replace("postgresql+psycopg://", "postgresql://", 1)
        return
    server = PrivatePostgres(prefix="riskloop-quiet-pg-")
    try:
        yield f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    finally:
        server.remove()


def test_psycopg_warnings_stay_off_the_terminal_and_riskloop_errors_do_not(
    pg_url: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, pg_url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["exit 2", "caught the caller's own exception"]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and "parking-fines" in lines[0], lines[0]
    assert "psycopg" not in done.stderr and "pipeline" not in done.stderr, done.stderr
