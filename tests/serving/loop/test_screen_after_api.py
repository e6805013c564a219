"""`riskloop screen`'s backfill guard counts a month screened even when the screening wrote
nothing of its own into it: an outside operator scored every resident over the API, screened
the same month (nothing changed; the run's own `screen` audit row names the month) and then
screened the month before without --backfill, which opened a second month of cases beside the
first.

On the store the screening modules share (tests/serving/loop/conftest.py): this module writes
telecom-fraud's warnings only, and reads its own task's."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select
from typer.testing import CliRunner

from models.settings import get_settings
from serving.store import WarningStore
from serving.store.models import RiskWarning, WarningEvent
from tests.processes import LOOPBACK_TLS
from tests.serving.loop.conftest import LoopEnv, LoopService
from training.cli import app
from training.commands.service import build_scoring_set

TASK = "telecom-fraud"
PER_REQUEST = 200


def _counts(store: WarningStore) -> tuple[int, int]:
    with store.read_session() as session:
        return (
            int(session.scalar(select(func.count()).select_from(RiskWarning)) or 0),
            int(session.scalar(select(func.count()).select_from(WarningEvent)) or 0),
        )


def _actors(store: WarningStore) -> set[str]:
    """Who wrote the history of the task's warnings."""
    with store.read_session() as session:
        return set(
            session.scalars(
                select(WarningEvent.actor)
                .join(RiskWarning, RiskWarning.id == WarningEvent.warning_id)
                .where(RiskWarning.task == TASK)
                .distinct()
            )
        )


def test_a_month_the_api_raised_needs_backfill_before_an_earlier_screen(
    screening_env: LoopEnv, screening_service: LoopService, small_city: Path
) -> None:
    ids = build_scoring_set(TASK, small_city)["entity_id"].astype(str).tolist()
    with httpx.Client(
        base_url=screening_service.url,
        headers=screening_service.headers(),
        timeout=120,
        verify=LOOPBACK_TLS,
    ) as client:
        for start in range(0, len(ids), PER_REQUEST):
            response = client.post(
                f"/v1/{TASK}/score", json={"entity_ids": ids[start : start + PER_REQUEST]}
            )
            assert response.status_code == 200, response.text
    with WarningStore.from_settings(get_settings()) as store:
        frame = store.warnings_frame(task=TASK)
        assert len(frame) > 0
        newest = frame["as_of"].max().date()
        actors = _actors(store)  # raised by the API's key, not by a screen
        assert actors and "system:screen" not in actors, actors
    runner = CliRunner()
    same = runner.invoke(app, ["screen", "--task", TASK, "--raw", str(small_city)])
    assert same.exit_code == 0, same.output
    assert re.search(r"raised 0, updated \d+, unchanged \d+", same.stdout), same.stdout
    with WarningStore.from_settings(get_settings()) as store:
        assert "system:screen" not in _actors(store)
    with WarningStore.from_settings(get_settings()) as store:
        before = _counts(store)
    earlier = (newest.replace(day=1) - timedelta(days=1)).replace(day=1)
    refused = runner.invoke(
        app, ["screen", "--task", TASK, "--raw", str(small_city), "--as-of", str(earlier)]
    )
    assert refused.exit_code == 2, refused.output
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith(
        f"error: {TASK} was already screened for {newest:%Y-%m}, after {earlier:%Y-%m}"
    ), lines[0]
    assert "--backfill" in lines[0]
    with WarningStore.from_settings(get_settings()) as store:
        assert _counts(store) == before  # nothing written, no case opened, no notification
