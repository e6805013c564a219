"""QA round 60 on `--engine dask --scheduler ADDR`: a malformed address, an address where no
Dask scheduler answers (an HTTP server, the scheduler's own dashboard port, a worker), a
scheduler without workers and a damaged Parquet part (footer or pages) each give one `error:`
line and exit 2, not a traceback or a wait without end; the Dask sidecar notes features left
out as the pandas one does.

The clusters are real `distributed` schedulers and workers in this process, on loopback TCP.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import LocalCluster
from typer.testing import CliRunner, Result

from tests.cli_results import one_error_line
from training import engines
from training.cli import app


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _run_within(seconds: float, *args: str) -> Result:
    """The command's result; a test failure (not a stuck test) if it has none after `seconds`."""
    results: list[Result] = []
    thread = threading.Thread(target=lambda: results.append(_run(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert results, f"riskloop {' '.join(args)}: no answer within {seconds} s"
    return results[0]


def _build(
    raw: Path, out: str, *options: str, task: str = "wage-arrears", within: float = 60
) -> Result:
    """`riskloop build-dataset` of `task` from `raw` to `out`; `within`: a real build's time."""
    args = ("build-dataset", "--task", task, "--raw", str(raw), "--out", out, *options)
    return _run_within(within, *args)


def _local_cluster(n_workers: int) -> LocalCluster:
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A real scheduler with one worker (threads, to start fast), listening on loopback TCP."""
    with _local_cluster(1) as started:
        yield started


@pytest.fixture()
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """2 s for a scheduler to accept a connection and to have a worker, 1 s more to answer."""
    monkeypatch.setattr(engines, "SCHEDULER_WAIT_S", 2)
    monkeypatch.setattr(engines, "ANSWER_WAIT_S", 1)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Nothing on standard error, where the command under test writes its one line."""


@pytest.fixture()
def http_server() -> Iterator[str]:
    """A plain HTTP server's address, written as a scheduler's."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _nobody_listening() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(
    "address", ["http://127.0.0.1:8799", "tcp://127.0.0.1:notaport", "garbage"]
)
@pytest.mark.parametrize("command", ["build-dataset", "train"])
def test_a_malformed_scheduler_address_is_refused_in_one_line(
    isolated_env: Path, small_city: Path, command: str, address: str
) -> None:
    """`distributed` raised `ValueError: unknown address scheme 'http'` (or `invalid literal
    for int()`, `missing port number`) from inside the client: a traceback, exit 1."""
    out = ("--out", "out/ds.parquet") if command == "build-dataset" else ("--max-rounds", "5")
    result = _run(
        command,
        "--task",
        "wage-arrears",
        "--raw",
        str(small_city),
        *out,
        "--engine",
        "dask",
        "--scheduler",
        address,
    )

    one_error_line(
        result, f"--scheduler {address!r} is not a Dask scheduler address", "tcp://host:8786"
    )
    assert not (isolated_env / "out").exists()


NOT_DASK = "is not a Dask scheduler (no answer in Dask's protocol within 3 s"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("the scheduler's dashboard port", NOT_DASK),
        ("a plain HTTP server", NOT_DASK),
        ("a worker", "is a Dask Worker, not the scheduler"),
        ("nobody listening", "cannot reach the Dask scheduler at"),
    ],
)
def test_an_address_where_no_scheduler_answers_is_refused_within_a_bounded_wait(
    isolated_env: Path,
    small_city: Path,
    cluster: LocalCluster,
    http_server: str,
    short_waits: None,
    where: str,
    expected: str,
) -> None:
    """The commands waited with no output for ever at an HTTP server (over 500 s at the
    dashboard's port) although the client was given `timeout="20s"`: it bounds the connection,
    not the answer. A scheduler that is down keeps its line, after the (shortened) wait; the
    guard of 15 s fails a command that waits for ever instead of hanging the test."""
    from urllib.parse import urlsplit

    address = {
        "the scheduler's dashboard port": f"tcp://127.0.0.1:{urlsplit(cluster.dashboard_link).port}",
        "a plain HTTP server": http_server,
        "a worker": next(iter(cluster.scheduler_info["workers"])),
        "nobody listening": _nobody_listening(),
    }[where]
    started = time.monotonic()

    result = _build(
        small_city, "out/ds.parquet", "--engine", "dask", "--scheduler", address, within=15
    )

    one_error_line(result, address, expected)
    assert time.monotonic() - started < 3 + 5  # the waits, and a little for the CLI
    assert not (isolated_env / "out").exists()


def test_a_scheduler_without_workers_is_refused_then_used_once_one_joins(
    isolated_env: Path, small_city: Path, short_waits: None
) -> None:
    """A live scheduler with no worker took the work and waited for ever for a worker."""
    with _local_cluster(0) as lonely:
        address = lonely.scheduler_address
        refused = _build(small_city, "out/ds.parquet", "--engine", "dask", "--scheduler", address)

        one_error_line(
            refused,
            f"the Dask scheduler at {address} has no workers after 2 s",
            f"start some with `dask worker {address}`",
        )
        assert not (isolated_env / "out").exists()

        lonely.scale(1)
        lonely.wait_for_workers(1)
        built = _build(small_city, "out/ds.parquet", "--engine", "dask", "--scheduler", address)

    assert built.exit_code == 0, built.output
    sidecar = json.loads((isolated_env / "out" / "ds.json").read_text())
    assert sidecar["engine"] == "dask"


@pytest.fixture()
def damaged_part(small_city: Path, tmp_path: Path) -> Path:
    """A telecom_fraud city whose app_alerts table is a folder of two Parquet parts, the second
    overwritten with text (`echo garbage > .../part-00001.parquet`)."""
    raw = tmp_path / "raw"
    shutil.copytree(small_city / "telecom_fraud", raw / "telecom_fraud")
    table = raw / "telecom_fraud" / "app_alerts.parquet"
    whole = pd.read_parquet(table)
    table.unlink()
    table.mkdir()
    half = len(whole) // 2
    for number, part in enumerate((whole.iloc[:half], whole.iloc[half:])):
        pq.write_table(
            pa.Table.from_pandas(part, preserve_index=False), table / f"part-0000{number}.parquet"
        )
    (table / "part-00001.parquet").write_text("garbage\n")
    return raw


def _both_engines(raw: Path, cluster: LocalCluster) -> tuple[Any, Any]:
    """The telecom-fraud dataset built from `raw` by each engine (Dask on `cluster`)."""
    pandas = _build(raw, "out/ds.parquet", "--engine", "pandas", task="telecom-fraud")
    dask = _build(
        raw,
        "out/ds.parquet",
        "--engine",
        "dask",
        "--scheduler",
        cluster.scheduler_address,
        task="telecom-fraud",
    )
    return pandas, dask


def test_a_damaged_parquet_part_gets_the_pandas_engines_line(
    isolated_env: Path, damaged_part: Path, cluster: LocalCluster
) -> None:
    """The Dask engine printed a 100-line traceback ending in `pyarrow.lib.ArrowInvalid`."""
    pandas, dask = _both_engines(damaged_part, cluster)

    expected = (
        f"cannot read {damaged_part / 'telecom_fraud' / 'app_alerts.parquet'}: ",
        "part-00001.parquet",
        "Parquet magic bytes not found",
    )
    assert one_error_line(dask, *expected) == one_error_line(pandas, *expected)
    assert not (isolated_env / "out").exists()


def test_a_part_whose_pages_are_damaged_is_refused_in_one_line(
    isolated_env: Path, damaged_part: Path, cluster: LocalCluster
) -> None:
    """A part whose footer reads but whose pages do not fails on the worker that reads it:
    the Dask engine printed the worker's traceback, exit 1. Which part it was is not known
    there, so the line names the task's folder, with pyarrow's reason as pandas gives it."""
    table = damaged_part / "telecom_fraud" / "app_alerts.parquet"
    whole = pd.read_parquet(table / "part-00000.parquet")
    part = table / "part-00001.parquet"
    pq.write_table(pa.Table.from_pandas(whole, preserve_index=False), part, compression="none")
    damaged = bytearray(part.read_bytes())
    damaged[100 : len(damaged) // 2] = b"\xff" * (len(damaged) // 2 - 100)
    part.write_bytes(bytes(damaged))

    pandas, dask = _both_engines(damaged_part, cluster)

    reason = one_error_line(pandas, f"cannot read {table}: ").removeprefix(
        f"error: cannot read {table}: "
    )
    assert one_error_line(dask) == f"error: cannot read {table.parent}: {reason}"
    assert not (isolated_env / "out").exists()


def test_the_dask_sidecar_is_the_pandas_one_plus_its_engine(
    isolated_env: Path, small_city: Path, tmp_path: Path, cluster: LocalCluster
) -> None:
    """Without an optional column the pandas sidecar records the features left out (and the
    command notes them); the Dask one did neither (docs/deploy.md, section 1)."""
    raw = tmp_path / "raw"
    shutil.copytree(small_city / "telecom_fraud", raw / "telecom_fraud")
    outflows = raw / "telecom_fraud" / "bank_outflows.parquet"
    pd.read_parquet(outflows).drop(columns=["card_payment_count"]).to_parquet(outflows, index=False)
    sidecars = {}
    for engine, options in (
        ("pandas", ()),
        ("dask", ("--scheduler", cluster.scheduler_address)),
    ):
        result = _build(
            raw, f"out/{engine}.parquet", "--engine", engine, *options, task="telecom-fraud"
        )
        assert result.exit_code == 0, result.output
        assert "feature card_payments_per_day_30d left out" in result.stdout, engine
        sidecars[engine] = json.loads((isolated_env / "out" / f"{engine}.json").read_text())

    assert sidecars["dask"].pop("engine") == "dask"
    assert sidecars["dask"] == sidecars["pandas"]
    assert sidecars["pandas"]["left_out"] == {
        "card_payments_per_day_30d": "bank_outflows.card_payment_count"
    }
