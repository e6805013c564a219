"""`riskloop screen`: the monthly whole-population screening with the champion.

Builds the scoring set as of a date (default: the newest the tables allow), scores every unit
with the champion and raises or updates warnings through the store exactly as the score API
does (`serving.screening`, actor `system:screen`), logs a `screen` run to MLflow (counts by
level, model version, input fingerprint, each department's month) and prints the counts, with
a note wherever a level holds more warnings than its spec's share or a department more than its
capacity. A department's month is the dashboard's (`serving.store.capacity`): the warnings
raised this month that it holds, over every task. `--dry-run` writes nothing (no warnings, no
MLflow run) and says what the real run would raise, update and leave unchanged.

The store must exist: a SQLite file that is not there is refused before any work
(`open_existing_store`), not created with a new secrets file where the command ran.

A month earlier than the newest one a screening covered is a backfill, refused without
`--backfill`. Without it, a unit holding a warning of a later month (a score sent to the API is
dated today, months ahead of the exports) is left out and counted, rather than given a second
case of an older month.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from features.tasks import names_in_words
from training.errors import UserError, parse_as_of, user_errors

if TYPE_CHECKING:
    import pandas as pd

    from models.spec import TaskSpec
    from serving.screening import ScreenReport
    from serving.store import WarningStore

DRY_RUN_SHOWN = 20


def register(app: typer.Typer) -> None:
    """Add `riskloop screen` to the app."""
    app.command("screen")(screen_command)


def screen_command(
    task: str = typer.Option(..., "--task", help=f"{names_in_words()}."),
    raw: Path | None = typer.Option(
        None, "--raw", help="Raw city folder (default: `<RISKLOOP_DATA_DIR>/city`)."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Screening date YYYY-MM-DD (default: the newest the tables allow)."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Write nothing; print what the real run would raise, update and leave unchanged "
        "(refused as the real run would be: an earlier month needs --backfill here too).",
    ),
    backfill: bool = typer.Option(
        False,
        "--backfill",
        help="Screen a month earlier than the newest one screened: its warnings open as new "
        "cases, with deadlines from today, beside the newer month's, also for units holding a "
        "later month's warning (left out without it).",
    ),
    part_rows: int = typer.Option(
        2000, "--part-rows", min=100, max=100_000, help="Rows scored and written per part."
    ),
    engine: str = typer.Option(
        "pandas",
        "--engine",
        help="Build the scoring set with pandas (one process) or dask (entity partitions on a "
        "Dask cluster, for the large city; see docs/deploy.md).",
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address for --engine dask (default: local)."
    ),
) -> None:
    """Screen a task's whole population with its champion and raise warnings as the API does."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from models.risk_model import FeatureMismatchError
    from models.settings import get_settings
    from serving.screening import screen
    from serving.store.common import as_date
    from training.commands import transient_progress
    from training.commands.people import open_existing_store
    from training.tracking import require_registry

    with user_errors():
        spec = _spec(task)
        require_registry()
        if engine not in ("pandas", "dask"):
            raise UserError(f"unknown engine {engine!r}; expected pandas or dask")
        if scheduler is not None and engine != "dask":
            raise UserError("--scheduler goes with --engine dask")
        if scheduler is not None:  # a malformed address: said before the tables are read
            from training.engines import check_scheduler_address

            check_scheduler_address(scheduler)
        store = open_existing_store()  # before any work: a missing store is refused, not made
        raw_dir = raw or get_settings().data_dir / "city"
        model, info = _champion(spec.task)
        guard = not backfill  # a dry run says what the real run would: the same refusal
        with store:
            frame, fingerprint = _scoring_set(
                spec.task,
                raw_dir,
                as_of,
                engine,
                scheduler,
                # a date given is checked before the set is built
                lambda day: _refuse_backfill(store, spec.task, day) if guard else None,
            )
            if frame.empty:
                raise UserError(
                    f"no {spec.task} units to screen as of {as_of or 'the newest date'}"
                )
            if guard and as_of is None:  # the tables' newest date, which may still be older
                _refuse_backfill(store, spec.task, as_date(frame["as_of"].max()))
            with transient_progress(
                TextColumn(f"[bold]screen[/bold] {spec.task}"), BarColumn(), MofNCompleteColumn()
            ) as bar:
                step = bar.add_task(spec.task, total=len(frame))
                try:
                    report = screen(
                        model,
                        frame,
                        store,
                        model_name=info.name,
                        model_version=str(info.version),
                        dry_run=dry_run,
                        backfill=backfill,
                        part_rows=part_rows,
                        progress=lambda done: bar.update(step, advance=done),
                    )
                except FeatureMismatchError as exc:
                    raise UserError(f"the champion cannot score this scoring set: {exc}") from None
            capacities = _department_capacities(store)
            month, held = _held_after(store, spec, report, dry_run)
        notes = _capacity_notes(spec, report, month, held, capacities, dry_run)
        run_id = None
        if not dry_run:
            run_id = _log_run(report, info, fingerprint, month, held, notes)
    _print(report, month, held, capacities, notes, dry_run)
    if run_id:
        typer.echo(f"mlflow run: {run_id}")


def _spec(task: str) -> TaskSpec:
    from models.spec import UnknownTaskError, get_spec

    try:
        return get_spec(task)
    except UnknownTaskError as exc:
        raise UserError(str(exc)) from None


def _champion(task: str) -> tuple[Any, Any]:
    """The task's champion, or a clear error when there is none."""
    from models.registry import RegistryError, load_registered
    from models.risk_model import ModelLoadError

    try:
        return load_registered(task, "champion")
    except (RegistryError, ModelLoadError) as exc:
        raise UserError(f"cannot screen {task}: {exc}") from None


def _scoring_set(
    task: str,
    raw_dir: Path,
    as_of: str | None,
    engine: str,
    scheduler: str | None,
    check: Callable[[date], None],
) -> tuple[pd.DataFrame, str]:
    """The scoring set at `as_of` (checked against the tables' span, then by `check`) and the
    input fingerprint.

    The date is checked on the tables loaded here; with `engine="dask"` the features are then
    built on the cluster (`training.engines`), which is where the large city's time goes.
    """

    from features.dataset import build_dataset, get_task, input_fingerprint, scoring_range
    from features.validation import RawDataError, validate_tables
    from training.raw_io import load_raw_tables

    tables = load_raw_tables(raw_dir, task)
    info = get_task(task)
    try:
        validated = validate_tables(info.slug, tables)
    except RawDataError as exc:
        raise UserError(f"bad raw data in {raw_dir}: {exc}") from None
    when = None
    if as_of is not None:
        when = parse_as_of(as_of)
        earliest, latest = scoring_range(info.slug, validated)
        if not earliest <= when <= latest:
            raise UserError(
                f"--as-of {when.date()} is outside the tables: {task} can be screened from "
                f"{earliest.date()} to {latest.date()}"
            )
        check(when.date())
    if engine == "dask":
        from training.engines import build_with_sidecar

        frame, sidecar = build_with_sidecar(task, raw_dir, scheduler, unlabelled=True, as_of=when)
        return frame, str(sidecar["input_fingerprint"])
    frame = build_dataset(task, validated, unlabelled=True, as_of=when)
    return frame, input_fingerprint(tables)


def _department_capacities(store: Any) -> dict[str, int]:
    """Department code -> capacity (warnings a month), where the departments table sets one."""
    return {
        row["code"]: int(row["capacity"])
        for row in store.list_departments()
        if row.get("capacity") is not None
    }


def _held_after(
    store: WarningStore, spec: TaskSpec, report: ScreenReport, dry_run: bool
) -> tuple[date, dict[str, int]]:
    """This month and each department's warnings raised in it that it holds after the screen,
    over every task (`serving.store.capacity`, the dashboard's count). A dry run adds the
    warnings it would raise to the task's owner, who holds a case until it is dispatched."""
    from features.tasks import get_task

    month, held = store.held_in_month(datetime.now(UTC))
    if dry_run and report.would_raise:
        owner = get_task(spec.task).owner
        held[owner] = held.get(owner, 0) + len(report.would_raise)
    return month, held


def _capacity_notes(
    spec: TaskSpec,
    report: ScreenReport,
    month: date,
    held: dict[str, int],
    capacities: dict[str, int],
    dry_run: bool,
) -> list[str]:
    """A sentence for each level over its spec share and each department over its capacity."""
    notes = []
    for capacity in spec.capacities:
        allowed = int(capacity.share * report.rows)
        count = report.levels[capacity.level]
        if count > allowed:
            notes.append(
                f"{capacity.level}: {count} warnings exceed the capacity of {allowed} "
                f"({capacity.share:.0%} of {report.rows} units) by {count - allowed}"
            )
    verb = "would hold" if dry_run else "holds"
    for code, limit in sorted(capacities.items()):
        count = held.get(code, 0)
        if count > limit:
            notes.append(
                f"{code} {verb} {count} warnings raised in {month:%Y-%m} (all tasks), over its "
                f"capacity of {limit} by {count - limit}"
            )
    return notes


def _log_run(
    report: ScreenReport,
    info: Any,
    fingerprint: str,
    month: date,
    held: dict[str, int],
    notes: list[str],
) -> str:
    """One MLflow run tagged `riskloop.kind=screen`: counts, model version, input fingerprint."""
    import mlflow

    from training.tracking import configure_tracking, finite_metrics

    configure_tracking()
    tags = {
        "riskloop.kind": "screen",
        "riskloop.task": report.task,
        "riskloop.as_of": report.as_of,
        "riskloop.model_version": str(info.version),
        "riskloop.input_fingerprint": fingerprint,
        "riskloop.over_capacity": str(bool(notes)).lower(),
    }
    metrics = {
        "n_rows": float(report.rows),
        "n_explained": float(report.explained),
        "n_raised": float(report.raised),
        "n_updated": float(report.updated),
        "n_after_close": float(report.after_close),
        "n_unchanged": float(report.unchanged),
        "n_left_out": float(report.left_out),
        "seconds": report.seconds,
        "rows_per_s": report.rows / report.seconds if report.seconds else 0.0,
        "treeshap_share": report.seconds_treeshap / report.seconds if report.seconds else 0.0,
    }
    metrics |= {
        f"n_{level}": float(report.levels[level]) for level in ("red", "orange", "yellow", "green")
    }
    with mlflow.start_run(run_name=f"screen-{report.task}-{report.as_of}", tags=tags) as run:
        mlflow.log_param("model_name", info.name)
        mlflow.log_param("model_version", str(info.version))
        mlflow.log_metrics(finite_metrics(metrics))
        mlflow.log_dict(
            {
                "task": report.task,
                "as_of": report.as_of,
                "levels": dict(report.levels),
                # each department's month after the screen, as the dashboard counts it
                "month": f"{month:%Y-%m}",
                "departments_held": dict(sorted(held.items())),
                "capacity_notes": notes,
            },
            "screen.json",
        )
        return str(run.info.run_id)


def _print(
    report: ScreenReport,
    month: date,
    held: dict[str, int],
    capacities: dict[str, int],
    notes: list[str],
    dry_run: bool,
) -> None:
    """The counts table (levels, then departments), capacity notes and, dry, the would-be raises."""
    from rich.table import Table

    from training.commands import print_table, table_console

    console = table_console()
    levels = Table(title=f"{report.task} screened as of {report.as_of}: {report.rows} units")
    for column in ("level", "units", "share"):
        levels.add_column(column, justify="right" if column != "level" else "left")
    for level in ("red", "orange", "yellow", "green"):
        count = report.levels[level]
        levels.add_row(level, str(count), f"{count / report.rows:.1%}" if report.rows else "-")
    print_table(console, levels)
    by_department = Table(
        title=f"warnings raised in {month:%Y-%m} each department "
        f"{'would hold' if dry_run else 'holds'} after this screen (all tasks)"
    )
    for column in ("department", "warnings", "capacity"):
        by_department.add_column(column, justify="left" if column == "department" else "right")
    for code in sorted(set(held) | set(capacities)):
        by_department.add_row(code, str(held.get(code, 0)), str(capacities.get(code, "-")))
    print_table(console, by_department)
    for note in notes:
        typer.echo(f"capacity: {note}")
    if report.left_out:
        units = "unit" if report.left_out == 1 else "units"
        typer.echo(
            f"{'would leave' if dry_run else 'left'} out {report.left_out} {units} holding a "
            f"newer month's warning (no case of {report.as_of[:7]} opened for them; "
            "--backfill opens one)"
        )
    if dry_run:
        typer.echo(
            f"dry run: would raise {report.raised} new warnings, update {report.updated}, leave "
            f"{report.unchanged} unchanged, note {report.after_close} after close "
            f"({report.warned} of the units scored at yellow or above); nothing was written"
        )
        shown = sorted(report.would_raise, key=lambda item: -item["score"])[:DRY_RUN_SHOWN]
        for item in shown:
            typer.echo(
                f"  {item['risk_level']:<6} {item['score']:.3f} {item['entity']} {item['as_of']}"
            )
        if len(report.would_raise) > len(shown):
            typer.echo(f"  ... and {len(report.would_raise) - len(shown)} more (highest shown)")
        return
    typer.echo(
        f"raised {report.raised}, updated {report.updated}, unchanged {report.unchanged}, "
        f"after close {report.after_close} (closed: the new score noted, the figures kept); "
        f"TreeSHAP on {report.explained} of {report.rows} rows "
        f"({report.seconds_treeshap:.2f} s of the {report.seconds:.2f} s spent scoring and writing)"
    )


def _refuse_backfill(store: WarningStore, task: str, day: date) -> None:
    """Refuse to screen `day`'s month when a screening of `task` covered a later month, unless
    --backfill. A later month only scored over the API is no refusal: its units are left out."""
    from serving.screening import screened_after

    later = screened_after(store, task, day)
    if later is not None:
        raise UserError(
            f"{task} was already screened for {later:%Y-%m}, after {day:%Y-%m}: screening the "
            "earlier month would open its warnings as new cases, with deadlines from today, "
            "beside the newer month's; add --backfill to do so"
        )
