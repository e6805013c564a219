"""Helpers the test suites share for the servers they start: a free port, a clean stop, a
private PostgreSQL server.

A plain module (conftests are not importable under `--import-mode=importlib`).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

#: The one TLS context the tests' HTTP clients carry (`verify=LOOPBACK_TLS`). httpx builds a new
#: context for every client it makes, `httpx.get` included, loading the CA bundle each time
#: (about 25 ms of CPU): hundreds of clients in a run, all to plain-HTTP loopback servers.
LOOPBACK_TLS = ssl.create_default_context()


def free_port() -> int:
    """A loopback TCP port nobody listens on right now, below the kernel's ephemeral range.

    A port the kernel hands out for `bind(0)` comes from that range, which is also where every
    outgoing connection's local port comes from: between the probe's release and the server's
    bind, one of the suite's many clients (httpx, PostgreSQL, Chromium) could take it, and the
    service then failed to start ("Could not bind"). A random port below the range is never
    given to a client."""
    low = _ephemeral_low()
    chooser = random.SystemRandom()
    for _ in range(200):
        port = chooser.randrange(10_000, low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # every try taken: the kernel's choice
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux; 32768 where it cannot be read)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768
    return low if low > 11_000 else 32_768


def descendants(root: int) -> set[int]:
    """The live processes below `root` (Linux `/proc`), whatever their session or group."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # the process ended meanwhile
            continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's whole group (server and workers), SIGKILL if it lingers.

    BentoML starts its workers in sessions of their own: they are found as the server's
    descendants before the signal and stopped too, so no worker outlives its test.
    """
    workers = descendants(process.pid)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    _stop(workers)


def kill_now(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server, its group and its workers at once: a crash, not a shutdown."""
    workers = descendants(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    _stop(workers, graceful=False)
    process.wait(timeout=10)


def _stop(pids: set[int], graceful: bool = True) -> None:
    """SIGTERM the processes still alive, SIGKILL those left after a few seconds."""
    steps = ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)) if graceful else ((signal.SIGKILL, 0.0),)
    for sig, pause in steps:
        alive = set()
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.add(pid)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + pause
        while alive and time.monotonic() < deadline:
            alive = {pid for pid in alive if _running(pid)}
            time.sleep(0.1)
        pids = alive


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class PrivatePostgres:
    """A PostgreSQL server of its own on a free loopback port, from the Debian package's
    binaries (/usr/lib/postgresql/*/bin), run as the package's `postgres` user when we are root
    (PostgreSQL refuses to run as root); `stop()` and `start()` again keep its data and port."""

    def __init__(self, prefix: str = "riskloop-pg-") -> None:
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        assert binaries, "a private PostgreSQL server needs the Debian package postgresql"
        self._bindir = binaries[-1].parent
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.folder, user="postgres")
        self._data = self.folder / "data"
        self.port = free_port()
        initdb = [str(self._bindir / "initdb"), "-D", str(self._data), "-A", "trust"]
        subprocess.run(
            [*self._as_user, *initdb, "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        self.start()

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        command = [str(self._bindir / "pg_ctl"), "-D", str(self._data), *args]
        subprocess.run([*self._as_user, *command], check=check, capture_output=True)

    def start(self) -> None:
        # no fsync: a test server's data needs to outlive its processes (a kill, a fast stop),
        # not a crash of the machine; commits still reach the kernel before they return
        sync = "-c fsync=off -c full_page_writes=off"
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} {sync}"
        self._pg_ctl("-l", str(self.folder / "server.log"), "-w", "-o", options, "start")

    def stop(self, check: bool = True) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop", check=check)

    def remove(self) -> None:
        """Stop the server and delete its data."""
        self.stop(check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
