"""The score helper's life in process (`serving.score_helper.ScoreHelper` with the session's
registered champion, a real spawned helper): its part equals the service's own scoring; a
request that fails between sending and reading its part ends the helper (never leaving the
pipe's lock held or a reply for the next request); a hung helper is given up on and killed;
a reload's version is loaded, and a request still holding the older model never loads it back.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import serving.score_helper as score_helper
from models.settings import get_settings
from serving import schemas
from serving.champions import ServedModel, load_champion
from serving.encoding import result_json
from serving.score_helper import ScoreHelper, record_results, with_districts
from serving.store import WarningStore
from serving.store.stored_forms import StoredForms

from .conftest import TASKS, Served
from .test_score_helper import _ended
from .test_service import as_records, materialized

TASK = TASKS[0]
OPTIONS = {"explain": True, "top_k": 4, "lang": "zh"}
ROWS = 1000
SECRET = "lifecycle-test-secret"
#: the records' districts (some sent without one) and the request's day, for the stored rows
DISTRICTS = ["吴兴区" if i % 3 else None for i in range(ROWS)]
DAY = date(2026, 3, 1)


@pytest.fixture()
def champion(served: Served) -> ServedModel:
    return load_champion(TASK, get_settings())


@pytest.fixture()
def encoded(served: Served, champion: ServedModel) -> tuple[Any, list[list[Any]], np.ndarray]:
    """`ROWS` validated records of the task, encoded as the service does (their helper's
    part is more than a pipe holds: its send waits for the helper to read)."""
    records = as_records(TASK, materialized(served, TASK))
    while len(records) < ROWS:
        records = records + records
    rows = [{**r, "entity_id": f"life-{i}"} for i, r in enumerate(records[:ROWS])]
    request = schemas.score_request_model(schemas.TASK_SLUGS[TASK])
    return champion.encoder.encode(request.model_validate({"records": rows}).records)


@pytest.fixture()
def helper() -> Iterator[ScoreHelper]:
    made = ScoreHelper(True, StoredForms(SECRET))
    yield made
    made.close()


def _running(made: ScoreHelper, served: ServedModel, encoded: Any) -> None:
    """Start `made`'s helper the way a service does: the first large request (scored alone)."""
    matrix, values, ids = encoded
    made.offer(served)
    assert made._helper is None  # nothing is started before a large request
    assert made.start(served, matrix, values, ids, OPTIONS, DISTRICTS, DAY) is None
    assert made.wait_ready(120), "the helper did not load the champion"


def test_the_helpers_part_is_the_services_own(
    helper: ScoreHelper, champion: ServedModel, encoded: Any, tmp_path: Path
) -> None:
    """Its answer's bytes, and the rows the store keeps: the store's own `prepare_scores`
    (scrubbing and pseudonymising in this process) makes the same rows, but the sealed id."""
    matrix, values, ids = encoded
    _running(helper, champion, encoded)
    part = helper.start(champion, matrix, values, ids, OPTIONS, DISTRICTS, DAY)
    assert part is not None and 0 < part.start < len(ids)
    answer = helper.finish(part, 0.05)
    assert answer is not None
    rest = slice(part.start, None)
    results, kept = record_results(
        champion.model,
        champion.ref,
        matrix[rest],
        [column[rest] for column in values],
        ids[rest],
        **OPTIONS,
    )
    assert answer[0] == [result_json(r) for r in results]
    names = champion.encoder.names
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", SECRET) as store:
        want = store.prepare_scores(
            with_districts(kept, DISTRICTS[rest]),
            as_of=DAY,
            scrubbed_features=store.scrub_feature_columns(names, [c[rest] for c in values]),
            from_catalog=True,
        )
    assert len(answer[1]) == len(want) == ROWS - part.start
    for got, made in zip(answer[1], want, strict=True):
        assert got == {k: v for k, v in made.items() if k not in ("entity_cipher", "key_id")}
    assert any(row["district"] for row in answer[1]) and any(row["reasons"] for row in answer[1])
    assert score_helper.SHARE_BOUNDS[0] <= helper.share <= score_helper.SHARE_BOUNDS[1]


def test_a_request_failing_before_it_reads_its_part_ends_the_helper(
    helper: ScoreHelper, champion: ServedModel, encoded: Any
) -> None:
    matrix, values, ids = encoded
    _running(helper, champion, encoded)
    running = helper._helper
    assert running is not None
    part = helper.start(champion, matrix, values, ids, OPTIONS, DISTRICTS, DAY)
    assert part is not None
    helper.abandon(part)
    running.process.join(10)
    assert not running.process.is_alive()
    assert helper._helper is None
    assert helper._busy.acquire(blocking=False)  # the pipe's lock is free again
    helper._busy.release()
    helper.abandon(part)  # twice is once
    # within the retry delay, large requests are scored in the service, no helper started
    assert helper.start(champion, matrix, values, ids, OPTIONS, DISTRICTS, DAY) is None
    assert helper._helper is None and helper._loader is None


def test_a_hung_helper_is_given_up_on(
    helper: ScoreHelper,
    champion: ServedModel,
    encoded: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    matrix, values, ids = encoded
    _running(helper, champion, encoded)
    monkeypatch.setattr(score_helper, "ANSWER_WITHIN_S", 1.0)  # loaded within the real limit
    running = helper._helper
    assert running is not None
    os.kill(running.process.pid, signal.SIGSTOP)
    # the part goes into the pipe's buffer (or, larger than it, blocks the send until the
    # watchdog ends the helper); no answer comes: the request scores all its rows itself
    part = helper.start(champion, matrix, values, ids, OPTIONS, DISTRICTS, DAY)
    assert part is None or helper.finish(part, 0.05) is None
    # killed by the watchdog's thread or this one, whichever came first (which reaps it is
    # theirs: the kernel's view, not `is_alive`, which a join racing the other reads wrong)
    deadline = time.monotonic() + 10
    while not _ended(running.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ended(running.process.pid)
    assert helper._helper is None
    assert "no answer within 1 s" in caplog.text


def test_a_reload_is_loaded_and_an_older_model_never_comes_back(
    helper: ScoreHelper, champion: ServedModel, encoded: Any
) -> None:
    matrix, values, ids = encoded
    _running(helper, champion, encoded)
    reloaded = dataclasses.replace(champion, version=f"{champion.version}-next")
    helper.offer(reloaded)  # the service's reload: loaded at once, the helper running
    assert helper.wait_ready(120)
    assert helper._ready == {helper.key(reloaded)}
    # a request that began before the reload still holds the older model: scored alone,
    # and the older model is not loaded back over the new one
    assert helper.start(champion, matrix, values, ids, OPTIONS, DISTRICTS, DAY) is None
    assert not helper._wanted and helper._loader is None
    part = helper.start(reloaded, matrix, values, ids, OPTIONS, DISTRICTS, DAY)
    assert part is not None and helper.finish(part, 0.05) is not None


class _Unreadable:
    """Pickles in the service; unpickling it in the helper raises (as a model needing a
    module the helper cannot import would)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (int, ("not a model",))


@pytest.mark.parametrize("kind", ["explains nothing", "cannot be read there"])
def test_a_version_the_helper_cannot_load_is_scored_alone_and_the_helper_kept(
    helper: ScoreHelper,
    champion: ServedModel,
    encoded: Any,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    """The helper answers that it cannot load a reloaded version: that version's requests are
    scored in the service alone, said once, never offered again; the helper lives on and
    still takes the parts of the model it holds (it was ended, for every task, each minute)."""
    matrix, values, ids = encoded
    _running(helper, champion, encoded)
    running = helper._helper
    unusable: Any = copy.copy(champion.model)
    if kind == "explains nothing":
        unusable.booster_ = None  # goes over the pipe; explaining anything with it fails there
    else:
        unusable = _Unreadable()
    broken = dataclasses.replace(champion, version=f"{champion.version}-broken", model=unusable)
    helper.offer(broken)
    deadline = time.monotonic() + 60
    while (helper._loader is not None or helper._wanted) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert helper._loader is None and not helper._wanted
    assert helper._helper is running and running is not None and running.process.is_alive()
    said = [r.getMessage() for r in caplog.records if "cannot load" in r.getMessage()]
    assert len(said) == 1 and f"version {broken.version}" in said[0], said
    assert helper.start(broken, matrix, values, ids, OPTIONS, DISTRICTS, DAY) is None
    helper.offer(broken)  # offered again (a second reload check): not tried again
    assert helper._loader is None and not helper._wanted
    part = helper.start(champion, matrix, values, ids, OPTIONS, DISTRICTS, DAY)
    assert part is not None and helper.finish(part, 0.05) is not None
    assert len([r for r in caplog.records if "cannot load" in r.getMessage()]) == 1
