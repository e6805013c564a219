"""Modelling commands: `riskloop train`, `promote` and `models` (`score`: `scoring`).

Thin wrappers: parse options, call `training.train` / `training.promote` / `models.scorer`,
print the result. LightGBM, MLflow and Optuna are imported inside the command bodies.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from features.tasks import names_in_words
from training.errors import UserError, user_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlflow import MlflowClient
    from rich.console import Console

    from models.spec import TaskSpec
    from training.datasets import FeedbackUse, TrainingData
    from training.train import TrainOutcome

TaskOption = Annotated[str, typer.Option("--task", help=f"{names_in_words()}.")]
RawOption = Annotated[
    Path | None, typer.Option("--raw", help="A raw city folder (as `riskloop generate` writes).")
]
DatasetOption = Annotated[
    Path | None, typer.Option("--dataset", help="A labelled dataset parquet (`build-dataset`).")
]
TruthOption = Annotated[
    Path | None,
    typer.Option(
        "--truth",
        help="With --dataset: the folder holding its `<task>_units.parquet` truth (a city's "
        "`truth/`), for oracle metrics. A --raw city brings its own.",
    ),
]
FeedbackOption = Annotated[
    bool,
    typer.Option(
        "--with-feedback",
        help="With --raw: take labels from closed warnings in the warnings store "
        "(see `riskloop build-dataset --with-feedback`); recorded on the run.",
    ),
]
#: `riskloop promote`'s exit code when the rule refused the challenger and the champion stays.
KEPT_EXIT_CODE = 3
HEADLINE = ("roc_auc", "pr_auc", "brier", "ece", "oracle_roc_auc", "lift_recovered")


def quiet_libraries() -> None:
    """Keep MLflow's and Alembic's INFO lines (store creation, migrations, signature checks)
    off the terminal. MLflow sets its logger's level from `MLFLOW_LOGGING_LEVEL` when it is
    imported, so that variable is what counts for a command that has not imported it yet.

    psycopg's warnings too: they are about its own objects, not the command's work (two
    screens racing on PostgreSQL printed `error ignored terminating <psycopg.Pipeline ...>:
    pipeline aborted` while the store retried and the data came out right). An error that
    matters reaches riskloop as an exception and is said in its own `error:` line. psycopg
    keeps a level set before it is imported, so this holds whenever it is imported.
    """
    import logging

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("psycopg").setLevel(logging.ERROR)


def task_spec(task: str) -> TaskSpec:
    from models.spec import UnknownTaskError, get_spec

    quiet_libraries()
    try:
        return get_spec(task)
    except UnknownTaskError as exc:
        raise UserError(str(exc)) from None


def _check_sources(raw: Path | None, dataset: Path | None, with_feedback: bool) -> None:
    """Refuse contradictory data options before any work (and before a progress bar draws)."""
    if raw is not None and dataset is not None:
        raise UserError("give either --raw or --dataset, not both")
    if with_feedback and raw is None:
        raise UserError(
            "--with-feedback needs --raw (a dataset file built with "
            "`riskloop build-dataset --with-feedback` already carries its feedback)"
        )


def check_truth_folder(spec: TaskSpec, truth: Path | None, dataset: Path | None) -> None:
    """Refuse, before any work, a `--truth` that is not a folder holding the task's truth
    file, or one given without `--dataset` (a raw city reads its own `truth/`; with no data
    option the challenger's recorded data and truth are used): it was ignored silently."""
    if truth is None:
        return
    name = f"{spec.slug}_units.parquet"
    if not truth.is_dir():
        what = "a file, not a folder" if truth.exists() else "no such folder"
        raise UserError(f"--truth {truth} holds no {name}: {what}")
    if dataset is None:
        raise UserError(
            "--truth goes with --dataset (a --raw city's truth is read from its own truth/ "
            "folder; without a data option, the challenger's recorded data and truth are used)"
        )


def truth_note(data: TrainingData, metrics: dict[str, float]) -> str | None:
    """A line saying why a truth file given gave no oracle figures (None when it did, or none
    was given): it matched none, or too few, of the dataset's rows by (entity_id, as_of)
    (another city's truth, or another dataset's)."""
    from training.evaluate import ORACLE_MIN_COVERAGE, truth_values

    if data.truth is None or "oracle_rows" in metrics:
        return None
    matched = int(truth_values(data.frame, data.truth, "true_prob").notna().sum())
    return (
        f"no oracle figures: the truth file {data.truth_source} matched {matched:,} of the "
        f"dataset's {len(data.frame):,} rows by entity_id and as_of (oracle figures need "
        f"{ORACLE_MIN_COVERAGE:.0%} of the test slice); is it another city's truth?"
    )


def _data(
    spec: TaskSpec,
    raw: Path | None,
    dataset: Path | None,
    truth: Path | None,
    on_progress: Callable[[int, int], None] | None = None,
    with_feedback: bool = False,
) -> TrainingData:
    from training.datasets import build_from_raw, read_dataset

    _check_sources(raw, dataset, with_feedback)
    if dataset is not None:
        return read_dataset(spec, dataset, truth)
    if raw is not None:
        return build_from_raw(spec, raw, on_progress, with_feedback=with_feedback)
    raise UserError("give the data: --raw DIR (a city folder) or --dataset FILE (a parquet)")


def check_study_name(study: str | None) -> None:
    """Refuse an empty or blank `--study`: Optuna would run (and `tune` register) a study of
    that name, one workers meaning different studies all join, and `train` took "" as none."""
    if study is not None and not study.strip():
        raise UserError(
            f"--study needs a name (the one every worker of the study shares), got {study!r}"
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _check_engine(engine: str, scheduler: str | None, with_feedback: bool) -> None:
    """Refuse an unknown engine or options that do not go with it."""
    if engine not in ("pandas", "dask"):
        raise UserError(f"unknown engine {engine!r}; expected pandas or dask")
    if scheduler is not None and engine != "dask":
        raise UserError("--scheduler applies to --engine dask")
    if scheduler is not None:  # a malformed address: said before the dataset is read
        from training.engines import check_scheduler_address

        check_scheduler_address(scheduler)
    if with_feedback and engine == "dask":
        raise UserError("--with-feedback runs with --engine pandas")


def _print_outcome(
    console: Console, spec: TaskSpec, data: TrainingData, outcome: TrainOutcome, trials: int
) -> None:
    """The registered version, the feedback it learnt from and its headline metrics."""
    metrics = outcome.metrics
    console.print(
        f"[bold]{spec.task}[/]: run {outcome.run_id}, {outcome.name} version {outcome.version} "
        f"({', '.join(outcome.aliases)})"
    )
    if data.feedback:
        console.print(
            f"  feedback: {data.feedback.get('labels', 0)} labels from closed warnings "
            f"({data.feedback.get('changed', '-')} changed, {data.feedback.get('added', '-')} added)"
        )
        for line in feedback_lines(outcome.feedback):
            console.print(f"    {line}")
    for note in (truth_note(data, metrics), *outcome.notes):
        if note:
            typer.echo(f"note: {note}", err=True)
    if outcome.leakage:
        typer.echo(
            f"warning: trained past the label-leakage guard (--allow-label-leakage): "
            f"{outcome.leakage}; v{outcome.version} becomes champion only by "
            f"`riskloop promote --task {spec.task} --force`",
            err=True,
        )
    console.print(
        "  "
        + "  ".join(f"{key}={_fmt(metrics.get(key))}" for key in HEADLINE)
        + f"  fit={outcome.train_seconds:.1f}s"
        + (f"  tune={outcome.tune_seconds:.1f}s" if trials else "")
    )


def feedback_lines(use: FeedbackUse) -> list[str]:
    """Where the dataset's feedback labels went: how many the model was fit or calibrated on,
    whether they change it, and why the others were not learnt from."""
    if use.reached:
        slices = f"{use.fit} in the training slice, {use.calibration} in validation/calibration"
        if use.changed:
            what = (
                f"{use.changed} change what it learns ({use.changed - use.added} relabelled, "
                f"{use.added} units the raw tables do not label)"
            )
        else:
            what = "none changes a label: the model is the one trained without feedback"
        lines = [f"{use.reached} reached the fit or calibration ({slices}); {what}"]
    else:
        lines = [
            "0 reached the fit or calibration: the model is the one trained without feedback "
            "(recorded so: riskloop.feedback_used=false)"
        ]
    if use.in_test:
        lines.append(
            f"{use.in_test} in the test slice, which is measured on the raw tables' labels "
            "(never on feedback)"
        )
    if use.in_gap:
        lines.append(
            f"{use.in_gap} left out in a purge gap (their label window overlaps the next slice)"
        )
    if use.after_test:
        lines.append(
            f"{use.after_test} left out at or after the test slice's start (newer than any "
            "slice the model learns from; a later retrain on newer tables takes them)"
        )
    return lines


def train(
    task: TaskOption,
    raw: RawOption = None,
    dataset: DatasetOption = None,
    truth: TruthOption = None,
    trials: Annotated[int, typer.Option(help="Optuna trials (0: spec defaults).", min=0)] = 0,
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="Seed for LightGBM and the TPE sampler.")
    ] = 7,
    max_rounds: Annotated[
        int | None, typer.Option(help="Cap on boosting rounds (quick checks).", min=1)
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="Optuna study name, shared by parallel workers.")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="pandas (local LightGBM) or dask (dataset on Dask, booster by lightgbm.dask)."
        ),
    ] = "pandas",
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address for --engine dask; default: 2 local workers."),
    ] = None,
    with_feedback: FeedbackOption = False,
    allow_label_leakage: Annotated[
        bool,
        typer.Option(
            "--allow-label-leakage",
            help="Train and register even when the leakage guard finds a feature that alone "
            "(nearly) determines the label, or a model whose test ROC-AUC is too good to be "
            "true. The run is tagged riskloop.leakage_override; `riskloop promote` never makes "
            "it champion by the rule (only --force does), and a task's first version is "
            "refused.",
        ),
    ] = False,
) -> None:
    """Train, evaluate and register a new version of a task's model (alias `challenger`).

    The run records whether feedback labels reached the fit or calibration (tag
    `riskloop.feedback_used`, with their count; the test slice keeps the raw tables' labels,
    and a label in a purge gap or after the test slice's start is left out: the output and
    the `n_feedback_*` parameters say how many) and logs a sample of the labelled dataset as
    `reference/dataset.parquet`, the reference `riskloop monitor` compares recent requests
    with (without the units feedback added that no slice holds). A task's first version
    becomes champion at once, recorded in the audit log as a `model_promotion` row (decision
    `first`, actor the CLI's runner), as `riskloop promote` records each later one.

    Label leakage is refused (exit 2, nothing registered) in one line naming the feature and
    its figure: a feature whose values alone rank the training slice's labels with a ROC-AUC
    of 0.99 or more (either way; at the simulated cities' normal rates honest features stay
    below 0.8), or a model whose test ROC-AUC reaches 0.995 (their true probabilities stay
    below 0.9 at normal rates). On a slice of fewer than 50 positives (a city at a low rate),
    where a strong driver reaches those figures by chance, only a figure whose 95% interval's
    lower end reaches the limit too is refused (a perfect 1.0 always is); one it spares is said
    in a `note:` line. A test slice of fewer than 30 positives gets a `note:` line with the
    count and the ROC-AUC's 95% interval.
    """
    from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

    from training import tracking
    from training.commands import table_console, transient_progress
    from training.train import train_task

    console = table_console()
    with user_errors(), tracking.registry_errors():
        check_study_name(study)
        spec = task_spec(task)
        _check_engine(engine, scheduler, with_feedback)
        if allow_label_leakage and engine == "dask":
            raise UserError("--allow-label-leakage runs with --engine pandas")
        _check_sources(raw, dataset, with_feedback)
        check_truth_folder(spec, truth, dataset)
        tracking.configure_tracking()  # a registry that cannot be reached: before the training
        if with_feedback:  # an unusable store: refused before the progress bar draws a line
            from training.datasets import feedback_store_secret

            feedback_store_secret()
        with transient_progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        ) as progress:
            step = progress.add_task(f"{spec.task}: loading data", total=None)
            if engine == "dask" and raw is not None and dataset is None:
                from training.engines import training_data_dask

                progress.update(step, description=f"{spec.task}: building features on Dask")
                data = training_data_dask(spec, raw.resolve(), scheduler)  # recorded absolute
            else:
                data = _data(
                    spec,
                    raw,
                    dataset,
                    truth,
                    lambda done, total: progress.update(
                        step,
                        description=f"{spec.task}: building features",
                        completed=done,
                        total=total,
                    ),
                    with_feedback=with_feedback,
                )
            progress.update(step, total=None, completed=0)
            trial_bar = progress.add_task("Optuna trials", total=trials, visible=trials > 0)
            from functools import partial

            run: Callable[..., TrainOutcome] = partial(
                train_task, allow_leakage=allow_label_leakage
            )
            if engine == "dask":
                from training.engines import train_dask

                run = partial(train_dask, scheduler_address=scheduler)
            outcome = run(
                spec,
                data,
                trials=trials,
                seed=seed,
                max_rounds=max_rounds,
                study_name=study,
                on_step=lambda message: progress.update(
                    step, description=f"{spec.task}: {message}"
                ),
                on_trial=lambda done: progress.update(trial_bar, completed=done),
            )
    _print_outcome(console, spec, data, outcome, trials)


def promote(
    task: TaskOption,
    raw: RawOption = None,
    dataset: DatasetOption = None,
    truth: TruthOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the rule refuses (recorded).")
    ] = False,
    with_feedback: FeedbackOption = False,
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            min=1,
            help="Judge this registered version instead of the challenger: the way back to "
            "an earlier champion (`--version 3`, with --force if the rule refuses it on the "
            "data now). The challenger alias stays where it is; `riskloop models` lists the "
            "versions.",
        ),
    ] = None,
) -> None:
    """Move `champion` to the challenger if it is not worse on the newest test slice.

    Rule: AUC at most 0.005 lower and ECE at most 0.01 higher than the champion's. On a test
    slice of fewer than 30 positives a `note:` line gives both ROC-AUCs' 95% intervals and says
    when they overlap, the comparison then unable to tell the versions apart (the rule is still
    applied as it stands). Data
    defaults to the challenger's own training data (with feedback if it was trained with it);
    the output names the dataset both were judged on (path, rows, test slice) and notes when
    the champion was trained on other data or tested on a newer slice. A challenger trained
    with --allow-label-leakage, or judged on data where one feature gives the label away, is
    never promoted by the rule (only --force does).
    The decision is recorded in MLflow and in the warnings store's audit log (actor:
    RISKLOOP_ACTOR, else the OS user); the promoted version is tagged with how it became
    champion (riskloop.promotion: rule or forced) and why, and `riskloop models` marks a
    forced one.

    A challenger that is the same model as the champion (same booster, calibrator and
    thresholds, as a retrain on unchanged tables gives) is not promoted, even with --force:
    nothing to promote, recorded as `unchanged`, so open warnings are not re-scored for it.
    The warnings store must exist (run from the folder it was set up in, or set
    RISKLOOP_STORE_URL): without it nothing is decided.

    To roll back, name the earlier version: `--version N` judges it in the challenger's place
    (on its own training data unless --raw or --dataset says otherwise), and --force moves
    champion to it whatever the rule says (recorded as forced, with the rule's verdict).

    Exit codes: 0 the challenger is the champion (promoted now, or already was, or is the same
    model as it); 3 the rule refused it and the champion was kept (a script can tell, as with
    `monitor`'s 3); 2 bad input or an error, nothing decided.
    """
    from models.registry import RegistryError
    from models.risk_model import ModelLoadError
    from training import tracking
    from training.promote import promote as run_promotion

    with user_errors(), tracking.registry_errors():
        spec = task_spec(task)
        tracking.require_registry()
        check_truth_folder(spec, truth, dataset)
        data = (
            _data(spec, raw, dataset, truth, with_feedback=with_feedback)
            if (raw or dataset or with_feedback)
            else None
        )
        try:
            decision = run_promotion(spec, data, force=force, version=version)
        except (RegistryError, ModelLoadError) as exc:
            raise UserError(str(exc)) from None
    if decision.promoted:
        verdict = "promoted"
    elif decision.outcome == "unchanged":  # already the champion, or the same model: exit 0
        verdict = "nothing to promote"
    else:
        verdict = "kept the champion"
    typer.echo(
        f"{spec.task}: {verdict} (challenger v{decision.challenger_version}, champion "
        f"v{decision.champion_before} -> v{decision.champion_after}): {decision.reason}"
    )
    typer.echo(f"  compared on {decision.compared_on}")
    for label, metrics in (
        ("challenger", decision.challenger_metrics),
        ("champion", decision.champion_metrics),
    ):
        if metrics:
            typer.echo(
                f"  {label:10s} " + "  ".join(f"{k}={_fmt(metrics.get(k))}" for k in HEADLINE)
            )
    typer.echo(f"  recorded in MLflow run {decision.run_id}")
    note = truth_note(data, decision.challenger_metrics) if data is not None else None
    for line in (*decision.notes, *([note] if note else [])):
        typer.echo(f"note: {line}", err=True)
    if decision.outcome == "refused":
        raise typer.Exit(KEPT_EXIT_CODE)


def list_models() -> None:
    """List each task's registered versions, aliases, how each became champion and headline
    test metrics.

    The promotion column reads the version's `riskloop.promotion` tag: `first` (the task's
    first version), `rule` (promoted by the rule) or `FORCED` (`promote --force` past it).
    """
    from training import tracking

    quiet_libraries()
    with user_errors(), tracking.registry_errors():
        tracking.configure_tracking(existing=True)
        client = tracking.tracking_client()
        _print_versions(client)


def _print_versions(client: MlflowClient) -> None:
    """`riskloop models`' table: every task's versions, newest first, and the store's URI."""
    from mlflow.exceptions import MlflowException

    from models.settings import get_settings, hide_password
    from models.spec import TASK_NAMES, get_spec
    from training.train import FEW_TEST_POSITIVES, few_positives_caveat

    typer.echo(
        f"{'task':20s} {'version':>7s}  {'aliases':22s} {'promotion':9s} {'created (UTC)':16s} "
        f"{'AUC':>7s} {'ECE':>7s} {'lift':>7s}"
    )
    no_truth = 0  # versions with test metrics but no lift: trained without the truth
    few = 0  # versions tested on a slice of few positives: their AUC marked *
    for task in TASK_NAMES:
        name = get_spec(task).registered_model_name
        try:
            aliases = client.get_registered_model(name).aliases
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise  # the store itself (`registry_errors` says it in one line)
            typer.echo(f"{task:20s} {'-':>7s}  no model registered")
            continue
        by_version: dict[int, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(int(version), []).append(alias)
        versions = client.search_model_versions(f"name = '{name}'")
        for version in sorted(versions, key=lambda v: int(v.version), reverse=True):
            metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
            no_truth += "roc_auc" in metrics and "lift_recovered" not in metrics
            rough = bool(few_positives_caveat(metrics))
            few += rough
            auc = _fmt(metrics.get("roc_auc")) + ("*" if rough else "")
            typer.echo(
                f"{task:20s} {version.version!s:>7s}  "
                f"{', '.join(sorted(by_version.get(int(version.version), []))):22s} "
                f"{_promotion(version.tags):9s} {_utc(version.creation_timestamp):16s} {auc:>7s} "
                f"{_fmt(metrics.get('ece')):>7s} {_fmt(metrics.get('lift_recovered')):>7s}"
            )
    if no_truth:
        typer.echo(
            "lift -: the training run recorded no oracle figures (trained without ground "
            "truth: --dataset without --truth); `riskloop report` measures them when the city "
            "folder holds truth/, and says so"
        )
    if few:
        typer.echo(
            f"AUC *: measured on a test slice of fewer than {FEW_TEST_POSITIVES} positives, its "
            "95% interval wide (`riskloop train` said it; `riskloop report` shows it)"
        )
    typer.echo(f"tracking store: {hide_password(get_settings().mlflow_uri)}")


def _promotion(tags: dict[str, str] | None) -> str:
    """How a version became champion, a forced promotion in capitals; "-" if it never was."""
    from models.registry import PROMOTION_TAG, PROMOTIONS

    how = (tags or {}).get(PROMOTION_TAG, "")
    if how not in PROMOTIONS:
        return "-"
    return how.upper() if how == "forced" else how


def _utc(millis: int | None) -> str:
    import datetime as dt

    if not millis:
        return ""
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app."""
    app.command("train")(train)
    app.command("promote")(promote)
    app.command("models")(list_models)
