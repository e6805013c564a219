"""`riskloop screen` of the data's month after the API raised a warning of a later month.

A score sent to the API by value is dated today in the city (months after the departments'
exports); the monthly job's screen of the exports' month then stopped at the backfill guard
(exit 2, and under `set -eu` nothing after it ran). Now only a later month a screening covered
is refused; a unit holding a later month's warning is left out of the earlier month and
counted, in the output and in the run's `screen` audit row.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sqlalchemy import select
from typer.testing import CliRunner

from features.catalog import CATALOG
from models.pages import CITY_TIME
from models.settings import get_settings
from serving import screening
from serving.screening import SCREEN_ACTOR
from serving.store import WarningStore
from serving.store.models import AuditEntry, RiskWarning
from tests.processes import LOOPBACK_TLS
from tests.serving.loop.conftest import LoopService
from training.cli import app
from training.commands.service import build_scoring_set

TASK = "wage-arrears"
LEFT_OUT = "left out 1 unit holding a newer month's warning"


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """A scoring-set row as the API's record by value (catalog types, missing values left out)."""
    record: dict[str, Any] = {"entity_id": str(row["entity_id"])}
    for feature in CATALOG[TASK.replace("-", "_")]:
        value = row[feature.name]
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            continue
        record[feature.name] = {"int": int, "bool": bool, "float": float}.get(
            feature.dtype, lambda v: v
        )(value)
    return record


def _screen(*args: str) -> str:
    result = CliRunner().invoke(app, ["screen", "--task", TASK, *args])
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result.stdout


def _periods(store: WarningStore, entity_id: str) -> list[date]:
    with store.read_session() as session:
        return sorted(
            session.scalars(
                select(RiskWarning.period).where(
                    RiskWarning.task == TASK,
                    RiskWarning.entity_hash == store.pseudonymise(entity_id),
                )
            )
        )


def _screen_audits(store: WarningStore) -> list[dict[str, Any]]:
    with store.read_session() as session:
        return [
            row.detail
            for row in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "screen", AuditEntry.actor == SCREEN_ACTOR)
                .order_by(AuditEntry.id)
            )
        ]


def test_a_later_months_api_warning_leaves_its_unit_out_of_the_exports_month(
    loop_service: LoopService, small_city: Path
) -> None:
    from models.registry import load_registered
    from models.scorer import score_frame

    frame = build_scoring_set(TASK, small_city)
    data_month = pd.Timestamp(frame["as_of"].max()).date().replace(day=1)
    today_month = datetime.now(CITY_TIME).date().replace(day=1)
    assert today_month > data_month  # the shipped city's exports are months behind the clock
    model, _ = load_registered(TASK, "champion")
    levels = [record.risk_level for record in score_frame(model, frame, explain=False)]
    warned = [
        row for row, level in zip(frame.to_dict("records"), levels, strict=True) if level != "green"
    ]
    assert len(warned) > 2
    unit = str(warned[0]["entity_id"])
    with httpx.Client(
        base_url=loop_service.url, headers=loop_service.headers(), timeout=60, verify=LOOPBACK_TLS
    ) as client:
        response = client.post(f"/v1/{TASK}/score", json={"records": [_record(warned[0])]})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["risk_level"] != "green"
    with WarningStore.from_settings(get_settings()) as store:
        assert _periods(store, unit) == [today_month]  # the API's warning, dated today
    raw = ["--raw", str(small_city)]

    dry = _screen(*raw, "--dry-run")
    assert LEFT_OUT.replace("left", "would leave") in dry, dry
    # the left-out unit is no warning of this month: not in the level and capacity counts
    assert f"would raise {len(warned) - 1} new warnings, " in dry, dry
    assert f"({len(warned) - 1} of the units scored at yellow or above)" in dry, dry

    out = _screen(*raw)
    assert LEFT_OUT in out, out
    assert f"raised {len(warned) - 1}," in out, out
    with WarningStore.from_settings(get_settings()) as store:
        assert _periods(store, unit) == [today_month]  # no second case of the older month
        assert _periods(store, str(warned[1]["entity_id"])) == [data_month]
        (audit,) = _screen_audits(store)
        assert audit["n_left_out"] == 1 and audit["n_raised"] == len(warned) - 1
        assert audit["period"] == data_month.isoformat() and audit["backfill"] is False
        # the exports' month is now screened; the API's month never was
        assert screening.screened_after(store, TASK, data_month - timedelta(days=1)) == data_month
        assert screening.screened_after(store, TASK, data_month) is None

    again = _screen(*raw)  # next month's job, the exports still a month behind
    assert LEFT_OUT in again and "raised 0," in again, again

    earlier = (data_month - timedelta(days=1)).replace(day=1)
    refused = CliRunner().invoke(app, ["screen", "--task", TASK, *raw, "--as-of", str(earlier)])
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.startswith(
        f"error: {TASK} was already screened for {data_month:%Y-%m}, after {earlier:%Y-%m}"
    ), refused.stderr

    backfilled = _screen(*raw, "--backfill")  # asked for: the unit's older case opens too
    assert "raised 1," in backfilled and "left out" not in backfilled, backfilled
    with WarningStore.from_settings(get_settings()) as store:
        assert _periods(store, unit) == [data_month, today_month]
        assert _screen_audits(store)[-1]["backfill"] is True


def test_a_month_counts_as_screened_by_its_audit_row_or_a_screen_event_not_by_an_api_score(
    tmp_path: Path,
) -> None:
    """Stores from before the run's audit row: a warning event by the screen still counts."""

    def write(store: WarningStore, actor: str, entity: str, as_of: str, score: float) -> None:
        store.record_scores(
            actor=actor,
            task=TASK,
            model_name="m",
            model_version="1",
            results=[
                {
                    "entity_id": entity,
                    "as_of": as_of,
                    "score": score,
                    "risk_level": "red",
                    "reasons": [],
                    "actions": [],
                    "features": {},
                }
            ],
        )

    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "test-secret") as store:
        write(store, "key:scorer", "E-1", "2026-03-05", 0.9)  # over the API only
        assert screening.screened_after(store, TASK, date(2026, 1, 10)) is None
        write(store, SCREEN_ACTOR, "E-1", "2026-03-06", 0.95)  # a screen re-scored it
        assert screening.screened_after(store, TASK, date(2026, 1, 10)) == date(2026, 3, 1)
        assert screening.screened_after(store, TASK, date(2026, 3, 31)) is None
        assert screening.screened_after(store, "telecom-fraud", date(2026, 1, 10)) is None
        store.audit(
            actor=SCREEN_ACTOR,
            action="screen",
            task=TASK,
            detail={"as_of": "2026-05-02", "period": "2026-05-01", "n_left_out": 0},
        )
        assert screening.screened_after(store, TASK, date(2026, 1, 10)) == date(2026, 5, 1)
        assert screening.screened_after(store, TASK, date(2026, 4, 1)) == date(2026, 5, 1)
