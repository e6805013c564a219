"""Whole-population screening: score every unit with the champion, warn as the API does.

`screen` takes a scoring set (one row per unit at one as-of date), scores it in parts, and for
each part:

1. scores every row without explanations (a prediction costs ~1/150 of a TreeSHAP row);
2. runs TreeSHAP only on the rows at yellow or above, whose warnings need reasons, and turns
   them into the same reasons and actions the score API returns (`serving.encoding`'s
   `result_reasons` and `result_actions`, the shape the score routes answer);
3. writes the part through `WarningStore.record_scores` with actor `system:screen`: the API's
   one write path, so dedup per entity and period, history events, audit rows, deadlines and
   notifications are the API's. A warning whose score, level and model have not changed since
   the last score of the period is left alone (as every score write leaves it), so a second
   run raises nothing and appends `score_update` only where a score moved.

A run writes one audit row of its own (action `screen`, actor `system:screen`: the month
screened and the counts), so a month screened is known as screened even when the screening
found every warning unchanged and wrote nothing else into it (`screened_after`).

A unit that already holds a warning of a later month (any source: a score sent to the API is
dated today) is left out of a screening of an earlier month unless `backfill`: its
earlier-month warning would open as a second case beside the newer one. The report counts
those units (`left_out`).

`dry_run` does steps 1-2 and only reads the store to tell what step 3 would do: the same
counts (`WarningStore.plan_scores`) and the warnings it would raise.
Green rows' scored records are kept like the API's (the monitoring sample).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from features.tasks import DISTRICT_COLUMN, UnknownTaskError, get_task
from models.risk_model import RiskModel, feature_columns, feature_matrix
from models.scorer import ACTION_REASONS, score_matrix, scored_records
from models.spec import Lang
from serving.encoding import result_actions, result_reasons
from serving.store import WarningStore
from serving.store.common import as_date
from serving.store.models import WARNING_LEVELS, AuditEntry, RiskWarning, WarningEvent

SCREEN_ACTOR = "system:screen"
#: the audit action of a screening run's own row (`screen`'s summary; `screened_after` reads it)
SCREEN_AUDIT_ACTION = "screen"
LEVELS = ("red", "orange", "yellow", "green")
DEFAULT_PART_ROWS = 2000
# a warning's reasons (`models.scorer.ACTION_REASONS`, as the API stores them) in the API's
# default language: screened warnings read like scored ones
API_LANG: Lang = "en"


@dataclass
class ScreenReport:
    """What a screening run found and did (counts, timings, ids)."""

    task: str
    as_of: str
    rows: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    explained: int = 0
    raised: int = 0
    updated: int = 0
    #: closed warnings whose new score was only noted (`score_after_close`, figures kept)
    after_close: int = 0
    unchanged: int = 0
    #: warned units left out: each holds a warning of a later month and none of this one
    left_out: int = 0
    seconds: float = 0.0
    seconds_scoring: float = 0.0
    seconds_treeshap: float = 0.0
    seconds_store: float = 0.0
    warning_ids: list[str] = field(default_factory=list)
    would_raise: list[dict[str, Any]] = field(default_factory=list)

    @property
    def warned(self) -> int:
        return sum(self.levels[level] for level in WARNING_LEVELS)


def screen(
    model: RiskModel,
    frame: pd.DataFrame,
    store: WarningStore,
    *,
    model_name: str,
    model_version: str,
    dry_run: bool = False,
    backfill: bool = False,
    explain_green: bool = False,
    part_rows: int = DEFAULT_PART_ROWS,
    progress: Callable[[int], None] | None = None,
) -> ScreenReport:
    """Screen every row of `frame` (a scoring set with `entity_id` and `as_of`).

    Args:
        model: the champion.
        frame: the scoring set; all rows share one as-of period in normal use.
        store: the warnings store (read only when `dry_run`).
        model_name / model_version: the champion's registry name and version (stored).
        dry_run: write nothing; the counts are those a real run would give, and
            `would_raise` lists the warnings it would create.
        backfill: also open a case for a unit that holds a warning of a later month (left out
            otherwise, and counted in `left_out`).
        explain_green: run TreeSHAP on green rows too (the benchmark's "before").
        part_rows: rows per part (memory and progress granularity).
        progress: called with the number of rows finished after each part.
    """
    started = time.perf_counter()
    as_of_values = pd.to_datetime(frame["as_of"])
    report = ScreenReport(
        task=model.spec.task,
        as_of=as_of_values.max().date().isoformat() if len(frame) else "",
    )
    # one aggregate first: in the usual month nothing later exists and no unit is looked up
    newer_possible = (
        len(frame) > 0
        and not backfill
        and not _scored_once(model.spec.task)
        and warned_after(store, model.spec.task, as_of_values.min().date()) is not None
    )
    for start in range(0, len(frame), part_rows):
        part = frame.iloc[start : start + part_rows]
        results = _score_part(
            model, part, as_of_values.iloc[start : start + part_rows], report, explain_green
        )
        if newer_possible:
            results = _without_newer(store, model.spec.task, results, report)
        warned = [item for item in results if item["risk_level"] in WARNING_LEVELS]
        began = time.perf_counter()
        names = {"task": model.spec.task, "model_name": model_name, "model_version": model_version}
        if dry_run:
            changed, new = store.plan_scores(**names, results=warned)
            report.would_raise += [
                {
                    "entity": state["entity_hash"],
                    "as_of": state["as_of"].isoformat(),
                    "score": state["score"],
                    "risk_level": state["risk_level"],
                }
                for state in new
            ]
        else:
            ids, changed = store.record_scores_counted(actor=SCREEN_ACTOR, **names, results=results)
            report.warning_ids += [warning_id for warning_id in ids if warning_id]
        report.raised += changed["raised"]
        report.updated += changed["updated"]
        report.after_close += changed["after_close"]
        report.unchanged += changed["unchanged"]
        report.seconds_store += time.perf_counter() - began
        if progress is not None:
            progress(len(part))
    report.rows = len(frame)
    report.seconds = time.perf_counter() - started
    if not dry_run:
        store.audit(
            actor=SCREEN_ACTOR,
            action=SCREEN_AUDIT_ACTION,
            task=model.spec.task,
            model_version=model_version,
            detail={
                "as_of": report.as_of,
                "period": _period(as_of_values.max().date()).isoformat() if len(frame) else None,
                "model_name": model_name,
                "backfill": backfill,
                "n_rows": report.rows,
                "n_raised": report.raised,
                "n_updated": report.updated,
                "n_after_close": report.after_close,
                "n_unchanged": report.unchanged,
                "n_left_out": report.left_out,
            },
        )
    return report


def _scored_once(task: str) -> bool:
    """Whether `task`'s unit has one warning in its life (a dispute): the store then finds
    that warning in any month, so a screening never opens a second case for it."""
    try:
        return get_task(task).scored_once
    except UnknownTaskError:
        return False


def _without_newer(
    store: WarningStore, task: str, results: list[dict[str, Any]], report: ScreenReport
) -> list[dict[str, Any]]:
    """`results` without the warned units whose warning would open a new case while they hold
    a warning of a later month (any source); counts them in `report.left_out`, and out of
    `report.levels` (the warnings the capacity notes and department counts read).

    A unit that already holds a warning of its row's own month keeps its row: that warning is
    re-scored (or left unchanged) as usual, no case is opened.
    """
    warned = {
        index: (store.pseudonymise(str(item["entity_id"])), _period(item["as_of"]))
        for index, item in enumerate(results)
        if item["risk_level"] in WARNING_LEVELS
    }
    if not warned:
        return results
    held = _periods_held(store, task, warned.values())
    left = {
        index
        for index, (entity, period) in warned.items()
        if period not in held.get(entity, ()) and any(p > period for p in held.get(entity, ()))
    }
    report.left_out += len({warned[index][0] for index in left})
    for index in left:  # no case of this month: not counted against levels or capacities
        report.levels[results[index]["risk_level"]] -= 1
    return [item for index, item in enumerate(results) if index not in left]


def _periods_held(
    store: WarningStore, task: str, keys: Iterable[tuple[str, date]]
) -> dict[str, set[date]]:
    """The months (from the earliest of `keys`' on) in which each unit of `keys` holds a
    warning of `task`, read by the (task, entity_hash, period) unique index."""
    keys = list(keys)
    earliest = min(period for _, period in keys)
    held: dict[str, set[date]] = {}
    for entity, period in _warned_units(
        store, task, {entity for entity, _ in keys}, RiskWarning.period >= earliest
    ):
        held.setdefault(entity, set()).add(period)
    return held


def _warned_units(
    store: WarningStore, task: str, hashes: Iterable[str], in_periods: Any
) -> Iterator[tuple[str, date]]:
    """(entity hash, period) of `task`'s warnings of the units `hashes` in the periods the
    condition `in_periods` keeps, read by the (task, entity_hash, period) unique index in
    batches of 1,000 units."""
    ordered = sorted(hashes)
    with store.read_session() as session:
        for start in range(0, len(ordered), 1000):
            rows = session.execute(
                select(RiskWarning.entity_hash, RiskWarning.period).where(
                    RiskWarning.task == task,
                    RiskWarning.entity_hash.in_(ordered[start : start + 1000]),
                    in_periods,
                )
            )
            for entity, period in rows:
                yield entity, as_date(period)


def _score_part(
    model: RiskModel,
    part: pd.DataFrame,
    as_of: pd.Series,
    report: ScreenReport,
    explain_green: bool,
) -> list[dict[str, Any]]:
    """One part's results in the store's input form (reasons only on warned rows)."""
    spec = model.spec
    columns = feature_columns(spec, part)
    matrix = feature_matrix(spec, part, columns)
    ids = part["entity_id"].astype(str).to_numpy(dtype=object)
    began = time.perf_counter()
    if explain_green:  # the benchmark's "before": TreeSHAP on every row, as `riskloop score` does
        explained = score_matrix(model, matrix, ids, explain=True)
        report.seconds_treeshap += time.perf_counter() - began
        plain = explained
        rows = np.arange(len(part))
    else:
        plain = score_matrix(model, matrix, ids, explain=False)
        report.seconds_scoring += time.perf_counter() - began
        rows = np.flatnonzero(np.isin(plain.levels, WARNING_LEVELS))
        began = time.perf_counter()
        explained = score_matrix(model, matrix[rows], ids[rows], explain=True)
        report.seconds_treeshap += time.perf_counter() - began
    report.explained += len(rows)
    scored = scored_records(
        model,
        explained,
        [column[rows] for column in columns],
        explain=True,
        top_k=ACTION_REASONS,
        lang=API_LANG,
    )
    days = [value.date() for value in as_of]
    districts = _districts(part)
    names = spec.feature_names
    feature_rows = zip(*(_native_list(column) for column in columns), strict=True)
    scores = plain.scores.tolist()
    levels = plain.levels.tolist()
    results: list[dict[str, Any]] = [
        {
            "entity_id": ids[row],
            "as_of": days[row],
            "district": districts[row],
            "score": scores[row],
            "risk_level": str(levels[row]),
            "reasons": [],
            "actions": [],
            "features": dict(zip(names, values, strict=True)),
        }
        for row, values in enumerate(feature_rows)
    ]
    for position, row in enumerate(rows.tolist()):
        record = scored[position]
        if record.risk_level not in WARNING_LEVELS:
            continue
        results[row].update(
            score=record.score,
            risk_level=record.risk_level,
            reasons=result_reasons(record),
            actions=result_actions(record),
        )
    for item in results:
        report.levels[item["risk_level"]] += 1
    return results


def _districts(part: pd.DataFrame) -> list[str | None]:
    """Each row's district (the scoring set's `DISTRICT_COLUMN`; None where it is missing)."""
    if DISTRICT_COLUMN not in part.columns:
        return [None] * len(part)
    return [None if pd.isna(value) else str(value) for value in part[DISTRICT_COLUMN].tolist()]


def _native_list(column: np.ndarray) -> list[Any]:
    """A feature column as JSON-ready Python values (NaN -> None), converted column-wise:
    per value, the conversion cost more than TreeSHAP on the warned rows."""
    values = np.asarray(column)
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        converted = values.tolist()
        if missing.any():
            for index in np.flatnonzero(missing).tolist():
                converted[index] = None
        return converted
    if values.dtype.kind in "iub":
        return values.tolist()
    return [
        None
        if value is None or (isinstance(value, float) and value != value)
        else (value.item() if isinstance(value, np.generic) else value)
        for value in values.tolist()
    ]


def screened_after(store: WarningStore, task: str, day: date) -> date | None:
    """The newest month after `day`'s that a screening of `task` covered, or None: screening
    `day`'s month then is a backfill (`riskloop screen` refuses it without --backfill), whose
    warnings would open as new cases, with deadlines from today, beside the screened month's.

    A month is screened when a screening run's own audit row names it (`SCREEN_AUDIT_ACTION`,
    written even when the run found every warning unchanged), or when one of its warnings
    holds an event by `SCREEN_ACTOR` (runs from before that row was written). A month only
    scored over the API is not: a single score by value is dated today, months ahead of the
    departments' exports; its units are left out of the earlier screening instead.
    """
    period = _period(day)
    with store.read_session() as session:
        runs = session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.action == SCREEN_AUDIT_ACTION,
                AuditEntry.task == task,
                AuditEntry.actor == SCREEN_ACTOR,
            )
        )
        months = [
            date.fromisoformat(str(detail["period"]))
            for detail in runs
            if isinstance(detail, dict) and detail.get("period")
        ]
        by_events = session.scalar(
            select(func.max(RiskWarning.period))
            .join(WarningEvent, WarningEvent.warning_id == RiskWarning.id)
            .where(
                RiskWarning.task == task,
                RiskWarning.period > period,
                WarningEvent.actor == SCREEN_ACTOR,
            )
        )
    if by_events is not None:
        months.append(as_date(by_events))
    later = [month for month in months if month > period]
    return max(later) if later else None


def warned_after(store: WarningStore, task: str, day: date) -> date | None:
    """The newest month after `day`'s that holds warnings of `task` (any source), or None:
    when None, no unit of a screening of `day`'s month can hold a later month's warning.

    One aggregate over the task's rows of the (task, entity_hash, period) unique index,
    which holds every column it reads: no table rows and no history are read.
    """
    with store.read_session() as session:
        newest = session.scalar(
            select(func.max(RiskWarning.period)).where(
                RiskWarning.task == task, RiskWarning.period > _period(day)
            )
        )
    return None if newest is None else as_date(newest)


def _period(day: date) -> date:
    return day.replace(day=1)
