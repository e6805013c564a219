"""The score helper (`serving.score_helper`): a second process scoring the last rows of a
large request. Its answers are the service's own, byte for byte in content; it is counted at
/metrics; a helper that dies costs no request (they are scored in the service)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from models.secret_keys import load_secrets
from models.settings import get_settings
from serving.score_helper import HELPER_MIN_ROWS
from serving.store import WarningStore
from tests.processes import descendants, free_port, stop_process_group

from .conftest import TASKS, Served, start_service
from .test_service import _metric_by_label, as_records, materialized, score

ROWS = 2 * HELPER_MIN_ROWS + 50
#: How long a fresh service's helper may take to load the champions (spawned interpreter,
#: imports, three models) on a busy 2-core machine.
READY_WITHIN_S = 120


def _helped_rows(served: Served, task: str) -> float:
    return _metric_by_label(served, "riskloop_score_helper_rows_total", "task").get(task, 0.0)


def _large(served: Served, task: str, prefix: str) -> list[dict[str, Any]]:
    """`ROWS` materialised records under ids of the test's own (`<prefix>-N`), every third
    with a district (a warning keeps it, a scored record too)."""
    records = as_records(task, materialized(served, task))
    while len(records) < ROWS:
        records = records + records
    return [
        {**record, "entity_id": f"{prefix}-{i}", **({"district": "c330502"} if i % 3 == 0 else {})}
        for i, record in enumerate(records[:ROWS])
    ]


def _without_ids(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("entity_id", "warning_id")} for r in results]


def _kept(served: Served, task: str, results: list[dict[str, Any]]) -> list[Any]:
    """What the store kept of each result, in order: the scored record (score, level,
    district, features) and, for a warning, its reasons, actions and district."""
    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        recorded = store.scored_records(task=task)
        hashes = [store.pseudonymise(r["entity_id"]) for r in results]
    latest = recorded.drop_duplicates("entity_hash", keep="last").set_index("entity_hash")
    columns = [c for c in latest.columns if c not in ("as_of", "created_at", "model_version")]
    kept: list[Any] = []
    with served.client() as client:
        for result, unit in zip(results, hashes, strict=True):
            row = latest.loc[unit, columns].to_dict()
            if result["warning_id"]:
                shown = client.get(f"/v1/warnings/{result['warning_id']}", headers=served.headers())
                assert shown.status_code == 200, shown.text
                warning = shown.json()
                row["warning"] = [warning[k] for k in ("reasons", "actions", "district")]
            kept.append(row)
    return kept


def _helped_answer(served: Served, task: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """`body` scored once the helper took part of it (a fresh service's helper is loading)."""
    deadline = time.monotonic() + READY_WITHIN_S
    while True:
        before = _helped_rows(served, task)
        answer = score(served, task, body)
        assert answer.status_code == 200, answer.text
        helped = _helped_rows(served, task) - before
        if helped:
            # the service scored the first rows itself, the helper the others
            assert 0 < helped < len(body["records"])
            return list(answer.json()["results"])
        assert time.monotonic() < deadline, "the helper never took part of a large request"
        time.sleep(0.5)


@pytest.mark.parametrize(
    ("task", "options"),
    [
        (TASKS[0], {"lang": "zh", "top_k": 3}),
        (TASKS[1], {"explain": False}),
        (TASKS[2], {}),
    ],
)
def test_a_request_shared_with_the_helper_answers_as_the_service_alone(
    served: Served, task: str, options: dict[str, Any]
) -> None:
    """A large request's answer, part of it scored in the helper, is the one the service
    gives the same records (under other ids) in requests too small to share: scores, levels,
    reasons in the asked language, contributions, in request order; and the store kept the
    same of both: scored records with their districts and features, warnings with their
    reasons, actions and districts (with `explain` false, the reasons a warning keeps)."""
    records = _large(served, task, f"helper-{task}")
    helped = _helped_answer(served, task, {"records": records, **options})
    twins = [{**r, "entity_id": f"alone-{r['entity_id']}"} for r in records]
    alone: list[dict[str, Any]] = []
    step = HELPER_MIN_ROWS - 1
    for start in range(0, len(twins), step):
        answer = score(served, task, {"records": twins[start : start + step], **options})
        assert answer.status_code == 200, answer.text
        alone += answer.json()["results"]
    assert [r["entity_id"] for r in helped] == [r["entity_id"] for r in records]
    assert _without_ids(helped) == _without_ids(alone)
    assert any(r["warning_id"] for r in helped)  # warnings were raised
    assert [bool(r["warning_id"]) for r in helped] == [bool(r["warning_id"]) for r in alone]
    assert _kept(served, task, helped) == _kept(served, task, alone)


def _ended(pid: int) -> bool:
    """The process is gone, or dead and not yet reaped (a zombie: whoever adopted it reaps)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


@contextmanager
def _own_service(served: Served, env: dict[str, str]) -> Iterator[Served]:
    """A service of the test's own (settings `env`) on the session's stores, stopped after."""
    port = free_port()
    process, log = start_service(served.root, port, env)
    try:
        assert process.poll() is None, log.read_text()[-4000:]
        yield Served(
            f"http://127.0.0.1:{port}", served.root, served.keys, process, log, served.city
        )
    finally:
        stop_process_group(process)


def _helper_pids(process_pid: int) -> set[int]:
    """The service's helper processes (spawned interpreters below its worker)."""
    found = set()
    for pid in descendants(process_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
            found.add(pid)
    return found


def test_a_killed_helper_costs_no_request(served: Served) -> None:
    """The helper killed (SIGKILL) between requests: the next large request is answered in
    full by the service alone, the same results as before, said in one log line without a
    traceback; the service stays up and ready."""
    with _own_service(served, {"RISKLOOP_NOTIFY_INTERVAL_S": "0"}) as own:
        task = TASKS[0]
        records = _large(own, task, "helper-killed")
        first = _helped_answer(own, task, {"records": records})
        helpers = _helper_pids(own.process.pid)
        assert len(helpers) == 1, helpers
        os.kill(helpers.pop(), signal.SIGKILL)
        before = _helped_rows(own, task)
        again = score(own, task, {"records": records})
        assert again.status_code == 200, again.text
        assert again.json()["results"] == first
        assert _helped_rows(own, task) == before  # all scored in the service
        assert own.healthy()
        written = own.log.read_text(errors="replace")
        assert "the score helper failed" in written
        assert "Traceback" not in written


def test_the_helper_ends_with_its_worker(served: Served) -> None:
    """A worker killed without a word (SIGKILL: no exit handler runs) leaves no helper."""
    with _own_service(served, {"RISKLOOP_NOTIFY_INTERVAL_S": "0"}) as own:
        task = TASKS[2]
        _helped_answer(own, task, {"records": _large(own, task, "helper-orphan")})
        (helper,) = _helper_pids(own.process.pid)
        worker = int(Path(f"/proc/{helper}/stat").read_text().rsplit(")", 1)[1].split()[1])
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not _ended(helper) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ended(helper), "the helper outlived its worker"


def test_the_helper_can_be_turned_off(served: Served) -> None:
    """`RISKLOOP_SCORE_HELPER=0`: no second process, and a large request is answered."""
    with _own_service(served, {"RISKLOOP_SCORE_HELPER": "0"}) as own:
        task = TASKS[1]
        answer = score(own, task, {"records": _large(own, task, "helper-off")})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["results"]) == ROWS
        assert _helped_rows(own, task) == 0
        assert not _helper_pids(own.process.pid)
