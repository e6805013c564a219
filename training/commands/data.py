"""`riskloop build-dataset`: raw department tables -> one point-in-time dataset file + sidecar."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from features.tasks import TASKS
from training.errors import UserError, parse_as_of, user_errors


class Engine(StrEnum):
    """Where the features are computed."""

    pandas = "pandas"
    dask = "dask"


#: The registry's tasks as CLI choices (Typer lists an enum's values in the help and rejects others).
TaskName = StrEnum("TaskName", {task.slug: task.name for task in TASKS.values()})  # type: ignore[misc]


def build_dataset_command(
    task: TaskName = typer.Option(..., "--task", help="Risk task to build the dataset of."),
    raw: Path = typer.Option(
        ...,
        "--raw",
        help="Raw data folder: a city folder as `riskloop generate` writes it, or a department "
        "export with the same `<task>/<table>.parquet` (or `.csv`) files.",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Dataset file to write (Parquet); a JSON sidecar (row count, positive rate, as-of "
        "range, catalog version, input fingerprint) is written beside it with a .json suffix.",
    ),
    unlabelled: bool = typer.Option(
        False,
        "--unlabelled",
        help="Build the scoring set for the latest as-of date (no label) instead of the "
        "labelled dataset.",
    ),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Scoring date (YYYY-MM-DD) for --unlabelled; default: the latest date the data "
        "supports.",
    ),
    engine: Engine = typer.Option(
        "pandas",
        "--engine",
        help="pandas (one process) or dask (entity partitions on a Dask cluster; the same "
        "dataset, rows sorted by entity_id then as_of).",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler address (tcp://host:8786) for --engine dask; default: a local "
        "cluster of two workers.",
    ),
    with_feedback: bool = typer.Option(
        False,
        "--with-feedback",
        help="Take labels from closed warnings in the warnings store (RISKLOOP_STORE_URL): "
        "confirmed and prevented -> 1, false_alarm -> 0, unreachable left out; warnings of "
        "periods not labelled yet add their unit as a row. The sidecar records the counts.",
    ),
) -> None:
    """Build a point-in-time dataset: entity_id, as_of, label, the catalog's features, audit columns.

    Every feature at as-of date t uses only rows with available_at <= t. The labelled dataset holds every unit whose label window is complete (3 months / 30 days / 90 days after as_of).

    On bad input (missing table or column, wrong dtype, duplicate key, available_at before event_time, unparseable date) it prints one error line, exits 2 and writes nothing. So it does for an --out (or its sidecar) inside the --raw folder or any raw data folder, or that is riskloop's warnings store, MLflow registry, keys or secrets.
    """
    with user_errors():
        when = parse_as_of(as_of) if as_of is not None else None
        if when is not None and not unlabelled:
            raise UserError("--as-of applies to the scoring set: add --unlabelled")
        if scheduler is not None and engine != Engine.dask:
            raise UserError("--scheduler applies to --engine dask")
        if scheduler is not None:  # a malformed address: said before the tables are read
            from training.engines import check_scheduler_address

            check_scheduler_address(scheduler)
        if with_feedback and unlabelled:
            raise UserError("--with-feedback adds labels: it does not apply to --unlabelled")
        from training.datasets import feedback_store_secret

        # before any work: no --out folder, no secrets file made here, no build to throw away
        secret = feedback_store_secret() if with_feedback else None
        from training.raw_io import check_dataset_path, refuse_writing_over_sources, sidecar_path

        if not out.name:  # "" or "/": no file to write the dataset to
            raise UserError(f"--out {str(out)!r} names no file: give the dataset's path (.parquet)")
        refuse_writing_over_sources(out, f"--out {out}", raw)
        beside = sidecar_path(out)
        refuse_writing_over_sources(beside, f"--out {out}'s JSON sidecar {beside}", raw)
        check_dataset_path(out)
        if engine == Engine.dask:
            frame, sidecar = _build_dask(task.value, raw, unlabelled, when, scheduler)
        else:
            frame, sidecar = _build(task.value, raw, unlabelled, when)
        if frame.empty:  # e.g. an export whose registry came empty: keep any earlier --out
            raise UserError(f"{raw} gives no {task.value} rows; nothing written")
        if secret is not None:
            frame, sidecar = _with_feedback(task.value, raw, frame, secret)
        elif not unlabelled:
            sidecar["feedback"] = {"used": False}
        from training.raw_io import write_dataset

        try:
            path = write_dataset(frame, sidecar, out)
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
        rate = sidecar["positive_rate"]
        summary = (
            f"{sidecar['rows']:,} rows, as-of {sidecar['as_of_min']} .. {sidecar['as_of_max']}"
        )
        if rate is not None:
            summary += f", positive rate {rate:.2%}"
        typer.echo(f"{task.value}: {summary}")
        for name, column in sidecar.get("left_out", {}).items():
            typer.echo(
                f"note: {raw} has no {column} column; feature {name} left out of the dataset"
            )
        feedback = sidecar.get("feedback", {})
        if feedback.get("used"):
            typer.echo(
                f"feedback: {feedback['closed_warnings']} closed warnings -> "
                f"{feedback['labels']} labels ({feedback['changed']} changed, "
                f"{feedback['added']} rows added)"
            )
        typer.echo(f"dataset written to {path} (sidecar {path.with_suffix('.json').name})")


def _build(task: str, raw: Path, unlabelled: bool, as_of) -> tuple:
    """Load, validate and build with a progress bar (on standard error, where that is a
    terminal: `transient_progress`); raw-data problems become `UserError`."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from features.dataset import (
        ScoringDateError,
        build_dataset,
        dataset_sidecar,
        features_left_out,
    )
    from features.schemas import absent_optional_columns
    from features.tasks import get_task
    from features.validation import RawDataError
    from training.commands import transient_progress
    from training.raw_io import load_raw_tables

    with transient_progress(
        TextColumn("[bold]build-dataset[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bar:
        step = bar.add_task(f"{task}: loading {raw}", total=None)
        tables = load_raw_tables(raw, task)

        def report(done: int, total: int) -> None:
            bar.update(step, description=f"{task}: features", completed=done, total=total)

        bar.update(step, description=f"{task}: validating tables")
        try:
            frame = build_dataset(
                task, tables, unlabelled=unlabelled, as_of=as_of, with_progress=report
            )
        except RawDataError as exc:
            raise UserError(f"bad raw data in {raw}: {exc}") from None
        except ScoringDateError as exc:
            raise UserError(f"--as-of {exc}") from None
        bar.update(step, description=f"{task}: fingerprinting inputs")
        sidecar = dataset_sidecar(frame, tables, task)
        left_out = features_left_out(task, absent_optional_columns(tables, get_task(task).slug))
        if left_out:
            sidecar["left_out"] = left_out
        bar.update(step, description=f"{task}: done")
    return frame, sidecar


def _with_feedback(task: str, raw: Path, frame, secret: str) -> tuple:
    """The labelled dataset with the warnings store's outcomes applied (read under the
    pseudonym key `secret`), and its new sidecar."""
    from sqlalchemy.exc import SQLAlchemyError

    from features.dataset import dataset_sidecar
    from models.settings import get_settings
    from training.feedback import apply_feedback
    from training.raw_io import load_raw_tables

    tables = load_raw_tables(raw, task)
    try:
        merged, summary = apply_feedback(task, frame, tables, get_settings().store_url, secret)
    except SQLAlchemyError as exc:
        raise UserError(
            f"cannot read the warnings store: {exc.__class__.__name__}: {exc}"
        ) from None
    sidecar = dataset_sidecar(merged, tables, task)
    sidecar["feedback"] = summary.as_dict()
    return merged, sidecar


def _build_dask(task: str, raw: Path, unlabelled: bool, as_of, scheduler: str | None) -> tuple:
    """The same build on Dask (`training.engines`); raw-data problems become `UserError`."""
    from features.validation import RawDataError
    from training.engines import build_with_sidecar

    try:
        return build_with_sidecar(task, raw, scheduler, unlabelled, as_of)
    except RawDataError as exc:
        raise UserError(f"bad raw data in {raw}: {exc}") from None


def register(app: typer.Typer) -> None:
    """Add `riskloop build-dataset` to the app."""
    app.command("build-dataset")(build_dataset_command)
