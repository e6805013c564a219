"""A PostgreSQL store URL naming a host that takes the TCP connection and never answers (a
wrong port on a proxy, a firewall that accepts, a server frozen before its greeting): a command
waited 134 s before "connection timeout expired"; libpq's `connect_timeout` (10 s by default,
`RISKLOOP_STORE_CONNECT_TIMEOUT_S`) now ends it in one line, exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for connection in held:
        connection.close()
    server.close()


def test_a_host_that_never_answers_ends_a_command_in_one_line(
    silent_port: int, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "RISKLOOP_STORE_URL": f"postgresql+psycopg://rl:S3cret@127.0.0.1:{silent_port}/rl",
        "RISKLOOP_SECRETS_FILE": str(tmp_path / "secrets.json"),
        "RISKLOOP_STORE_CONNECT_TIMEOUT_S": "2",  # the default, 10 s, is the same path
    }
    riskloop = Path(sys.executable).with_name("riskloop")
    started = time.monotonic()
    done = subprocess.run(
        [str(riskloop), "users", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,  # it waited 134 s
        check=False,
    )
    waited = time.monotonic() - started
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: cannot open the warnings store") and "S3cret" not in line
    assert "timeout" in line, line
    assert waited < 30, waited
