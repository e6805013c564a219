"""Closed-loop commands: `riskloop monitor` (drift, volume, precision, calibration, groups) and
`riskloop store upgrade` (the warnings store's schema migrations).

Command bodies import MLflow, the registry and the store lazily, so `riskloop --help` stays fast.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from features.tasks import names_in_words
from training.commands.people import city_time, parse_day, store_purge
from training.errors import UserError, check_output_file, user_errors
from training.monitor_groups import fmt, monitor_groups, print_groups

if TYPE_CHECKING:
    import pandas as pd

    from serving.store import WarningStore

DRIFT_EXIT_CODE = 3
DEFAULT_PSI_THRESHOLD = 0.25
SCORE = "score"
#: a seasonal score reference needs this many rows per PSI bin, else the newest quarter is used
SEASONAL_MIN_ROWS_PER_BIN = 20
_REFERENCE_HINTS = ("reference", "train", "dataset")


def register(app: typer.Typer) -> None:
    """Add `monitor` and the `store` group to the app."""
    app.command("monitor")(monitor)
    store_app = typer.Typer(
        help="The warnings store (warnings, feedback, audit log).", no_args_is_help=True
    )
    store_app.command("upgrade")(store_upgrade)
    store_app.command("purge")(store_purge)
    app.add_typer(store_app, name="store")


def monitor(
    task: str = typer.Option(..., "--task", help=f"{names_in_words()}."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only scored records and warnings from this date on (YYYY-MM-DD, from the city's "
        "midnight; or a time with its zone).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Also write the JSON report here; it always goes to `reports/monitor/<task>.json`, "
        "the latest run the console's dashboard shows.",
    ),
    threshold: float = typer.Option(
        DEFAULT_PSI_THRESHOLD, "--threshold", help="Exit 3 when any PSI is above this."
    ),
    reference: Path | None = typer.Option(
        None,
        "--reference",
        help="Parquet with the training data's features (and optionally `score`); default: the "
        "dataset logged with the champion's run.",
    ),
    bins: int = typer.Option(10, "--bins", min=2, max=100, help="Quantile bins for PSI."),
) -> None:
    """Compare recent scored requests with the champion's training data; exit 3 on drift.

    Prints population stability (PSI) per feature and for the score, warning volume by level against capacity, precision of closed warnings by level, calibration against observed outcomes, and warning rate and outcomes by group (district and the task's audit groups, a group's rate flagged beside the whole's); writes the figures as JSON and logs them to MLflow as a `monitor` run.
    """
    from training.tracking import require_registry

    with user_errors():
        if not (math.isfinite(threshold) and threshold > 0):
            raise UserError(f"--threshold must be a positive number, got {threshold}")
        if out is not None:
            _check_out(out, task, reference)
        # the champion's reference and the monitor run: a mistyped path is not made a registry
        require_registry()
        report = build_monitor_report(
            task, since=_parse_since(since), reference=reference, bins=bins, threshold=threshold
        )
        report["mlflow_run_id"] = _log_to_mlflow(report)
        # every run refreshes the default file, --out or not: the dashboard shows the latest
        # run from there, and a run written only elsewhere left it showing an older one
        default = _default_out(report["task"])
        paths = [out] if out is not None else []
        if out is None or out.resolve() != default.resolve():
            paths.append(default)
        for path in paths:
            _write_report(report, path)
        _print_report(report)
        for path in paths:
            typer.echo(f"report: {path}")
    if report["drift"]:
        typer.echo(f"drift: PSI above {threshold} for {', '.join(report['drifted'])}", err=True)
        raise typer.Exit(DRIFT_EXIT_CODE)


def _check_out(out: Path, task: str, reference: Path | None) -> None:
    """Refuse, before any work, an --out that is a folder, cannot be made, is not a `.json`
    file, or would write over the --reference read, what riskloop cannot rebuild (raw tables,
    stores, keys, secrets) or another task's monitor file (the dashboard shows it for that task).
    The `.json` rule keeps off the datasets, online features and HTML reports the loop reads."""
    from features.tasks import TASK_NAMES
    from training.raw_io import refuse_writing_over_sources, task_slug

    if reference is not None and out.resolve() == reference.resolve():
        raise UserError(f"--out {out} is the --reference file; give another path")
    refuse_writing_over_sources(out, f"--out {out}", monitor_report=True)
    if out.is_dir():  # said as what it is, before the `.json` rule
        check_output_file(out, "--out", "a .json file path")
    if out.suffix.lower() != ".json":
        raise UserError(f"--out {out}: the report is JSON; give a .json file path")
    own = task_slug(task)
    for other in TASK_NAMES:
        if task_slug(other) != own and out.resolve() == _default_out(other).resolve():
            raise UserError(
                f"--out {out} is the monitor file of {other}, which the console's dashboard "
                "shows for it; give another path"
            )
    check_output_file(out, "--out", "a .json file path")


def _write_report(report: dict[str, Any], path: Path) -> None:
    """Write the report's JSON to `path`; a failure names the MLflow run that holds it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_json_safe(report), indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise UserError(
            f"cannot write {path}: {exc.strerror or exc} (the figures are in MLflow run "
            f"{report['mlflow_run_id']})"
        ) from None


def store_upgrade() -> None:
    """Bring the warnings store's schema to the newest revision (idempotent)."""
    from sqlalchemy import text

    from models.settings import get_settings, hide_password
    from serving.store.outbox import Outbox

    with user_errors():
        store = _open_store(existing=False)
        try:
            with store.engine.connect() as connection:
                revision = connection.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar()
            sealed = Outbox(store).seal_plain_webhooks()  # URLs set before they were sealed
        finally:
            store.close()
        # masked as every message masks a URL (a secret-named query value too)
        shown = hide_password(get_settings().store_url)
        typer.echo(f"warnings store {shown}: schema at revision {revision} (head)")
        if sealed:
            typer.echo(f"{sealed} webhook URL(s) kept plain until now are sealed")


def build_monitor_report(
    task: str,
    *,
    since: datetime | None,
    reference: Path | None,
    bins: int = 10,
    threshold: float = DEFAULT_PSI_THRESHOLD,
) -> dict[str, Any]:
    """All monitoring figures for `task` as one JSON-ready dict (NaN where undefined).

    Records whose features retention purged (`riskloop store purge`) are left out of the
    feature PSI only (`_feature_sample`); their scores and levels, which the purge keeps for
    monitoring, still count in the score PSI, the volumes and `current.units`.
    `current.features_purged` says how many units were left out, `current.feature_units` how
    many the feature PSI compared.
    """
    from models.spec import UnknownTaskError, get_spec
    from serving.store.monitoring import (
        WATCH_PSI,
        calibration,
        feature_psi,
        latest_per_unit,
        level_volume,
        observed_labels,
        precision_by_level,
        psi,
        psi_states,
        recent_rows,
    )

    try:
        spec = get_spec(task)
    except (UnknownTaskError, KeyError, ValueError) as exc:
        raise UserError(str(exc)) from None
    store = _open_store()
    try:
        current = store.scored_records(task=spec.task, since=since)
        warnings = store.warnings_frame(task=spec.task, since=since)
    finally:
        store.close()
    if current.empty:
        window = f" since {_since_words(since)}" if since else ""
        raise UserError(
            f"no scored records of {spec.task}{window} in the warnings store"
            " (the service's score calls and `riskloop screen` record them)"
        )
    ref_frame, source, model_version = _reference_frame(spec, reference)
    features = [name for name in spec.feature_names if name in ref_frame.columns]
    if not features:
        raise UserError(f"the reference ({source}) has none of {spec.task}'s feature columns")
    scored = len(current)
    current = latest_per_unit(current)
    seasonal = _seasonal_reference(spec, ref_frame, current, bins)
    ref_frame = recent_rows(ref_frame)
    score_ref = ref_frame if seasonal is None else seasonal
    sample = _feature_sample(current)
    feature_figures = (
        feature_psi(ref_frame, sample, features, bins=bins)
        if not sample.empty
        else dict.fromkeys(features, math.nan)  # every unit purged: NaN, as `psi` of no sample
    )
    score_psi = psi(score_ref[SCORE], current[SCORE], bins=bins) if SCORE in score_ref else math.nan
    psi_all = {**feature_figures, SCORE: score_psi}
    not_alarmed = _not_alarmed(spec, ref_frame, features)
    drifted, watched = psi_states(psi_all, threshold, not_alarmed)
    closed = warnings[warnings["status"] == "closed"]
    return {
        "task": spec.task,
        "generated_at": datetime.now(UTC).isoformat(),
        "since": since.isoformat() if since else None,
        "threshold": threshold,
        "reference": {
            "source": source,
            "rows": len(ref_frame),
            "model_version": model_version,
            "as_of": _as_of_range(ref_frame),
            "score_as_of": _as_of_range(score_ref),
        },
        "not_alarmed": not_alarmed,
        "current": {
            "rows": scored,
            "units": len(current),
            "feature_units": len(sample),
            "features_purged": len(current) - len(sample),
            "model_versions": sorted(current["model_version"].astype(str).unique().tolist()),
        },
        "psi": {"features": feature_figures, "score": score_psi},
        "drift": bool(drifted),
        "drifted": drifted,
        "watch_threshold": WATCH_PSI,
        "watched": watched,
        "volume": level_volume(current["risk_level"], {c.level: c.share for c in spec.capacities}),
        "warnings_by_level": {
            level: int((warnings["risk_level"] == level).sum())
            for level in ("red", "orange", "yellow")
        },
        "warnings_by_status": {
            str(k): int(v) for k, v in warnings["status"].value_counts().sort_index().items()
        },
        "precision": precision_by_level(warnings),
        "calibration": calibration(closed["score"], observed_labels(closed["outcome"])),
        "groups": monitor_groups(spec.task, current, warnings),
    }


def _feature_sample(current: pd.DataFrame) -> pd.DataFrame:
    """The units whose features are still stored: the population feature drift is measured on.

    Retention empties the features of old records and keeps their scores (docs/privacy.md).
    Counted in, a purged record is a unit with every feature missing, and `monitor` reads every
    record unless given `--since`: after the first purge each monthly run alarmed on every
    feature (PSI 4.6 with half the units purged, the score's 0.001). Purged records are told
    by the store's marker (`features_purged`), not by missing values, which are real drift.
    """
    return current[~current["features_purged"]]


def _seasonal_reference(
    spec: Any, reference: pd.DataFrame, current: pd.DataFrame, bins: int
) -> pd.DataFrame | None:
    """For a seasonal task, the reference rows to compare the score with: the newest year's
    rows at the current population's months of the year.

    A task with a calendar feature (months to Spring Festival) scores the winter months higher
    by construction, so its score against the newest training months (late summer and autumn
    for a model trained on data up to October) alarmed after every January screening though no
    feature had moved (wage arrears, small cities of seeds 2, 29 and 77: score PSI 0.19-3.5;
    0.01-0.04 against the reference's newest January). The features are still compared with
    the newest quarter: a year back, ages and year-on-year features differ for reasons that are
    not drift. None for a task without a calendar feature, or when the reference has fewer than
    `SEASONAL_MIN_ROWS_PER_BIN` rows a bin at those months (the newest quarter is used then).
    """
    import pandas as pd

    seasonal = any(not feature.source_table for feature in spec.features)
    if not seasonal or "as_of" not in reference.columns or reference.empty:
        return None
    dates = pd.to_datetime(reference["as_of"])
    same = dates.dt.month.isin(set(pd.to_datetime(current["as_of"]).dt.month))
    if not same.any():
        return None
    newest = reference[same & (dates.dt.year == dates[same].dt.year.max())]
    return newest if len(newest) >= SEASONAL_MIN_ROWS_PER_BIN * bins else None


def _not_alarmed(spec: Any, reference: pd.DataFrame, features: list[str]) -> dict[str, str]:
    """Features whose PSI is reported but cannot raise the drift alarm, with the reason.

    A calendar feature (no source table, e.g. months to Spring Festival) takes one value per
    month by construction, and a feature constant in the reference is one the model never split
    on: neither shift says anything about the population.
    """
    by_name = {feature.name: feature for feature in spec.features}
    reasons: dict[str, str] = {}
    for name in features:
        if not by_name[name].source_table:
            reasons[name] = "calendar feature: one value per month by construction"
        elif reference[name].nunique(dropna=False) <= 1:
            reasons[name] = "constant in the reference: the model cannot use it"
    return reasons


def _as_of_range(frame: pd.DataFrame) -> str | None:
    import pandas as pd

    if "as_of" not in frame.columns or frame.empty:
        return None
    dates = pd.to_datetime(frame["as_of"])
    return f"{dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d}"


def _since_words(since: datetime) -> str:
    """`--since` as a message says it: the date for the city's midnight (how a date is read),
    else the moment to the second in the city's time with its offset (as `audit` prints one)."""
    from models.pages import CITY_TIME

    local = since.astimezone(CITY_TIME)
    return local.date().isoformat() if local.time() == time(0) else city_time(since)


def _open_store(existing: bool = True) -> WarningStore:
    """The settings' warnings store; with `existing` (reading commands), a SQLite store whose
    file is not there is refused in one line instead of created (`open_existing_store`)."""
    from serving.store import WarningStore
    from training.commands.people import open_existing_store

    return open_existing_store() if existing else WarningStore.from_settings()


def _parse_since(since: str | None) -> datetime | None:
    """`--since` as the city's midnight of its date, or a time with its zone (as `audit
    --since` reads one)."""
    return parse_day(since, "--since")


def _reference_frame(spec: Any, reference: Path | None) -> tuple[pd.DataFrame, str, str | None]:
    """The training-data sample to compare against, its source, and the champion's version.

    A `--reference` file with a `score` column needs nothing else. Otherwise the champion is
    loaded: its run's logged dataset is the reference when no file is given, and it scores the
    reference when the file has no `score` column.
    """
    import pandas as pd

    if reference is None:
        champion = _load_champion(spec.task)
        if champion is None:
            raise UserError(
                f"no champion model for {spec.task} to take the reference data from; "
                "pass --reference FILE.parquet"
            )
        frame, source = _champion_dataset(spec.task, champion[1])
    else:
        if not reference.is_file():
            raise UserError(f"reference dataset not found: {reference}")
        try:
            frame = pd.read_parquet(reference)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read reference dataset {reference}: {exc}") from None
        source = str(reference)
        if frame.empty:
            raise UserError(f"the reference ({source}) has no rows to compare with")
        champion = None if SCORE in frame.columns else _load_champion(spec.task)
        if champion is None:
            return frame, source, None
    model, info = champion
    try:
        scores = model.predict_proba(frame)
    except (KeyError, ValueError) as exc:
        raise UserError(f"the champion cannot score the reference ({source}): {exc}") from None
    return frame.assign(**{SCORE: scores}), source, str(info.version)


def _load_champion(task: str) -> tuple[Any, Any] | None:
    """The champion `RiskModel` and its version info, or None when there is none.

    A champion that cannot be loaded (not a riskloop model of this task, a corrupt artifact) is
    named as such, not reported as missing.
    """
    from models.registry import RegistryError, RegistryUnavailable, load_registered
    from models.risk_model import ModelLoadError

    try:
        return load_registered(task, alias="champion")
    except (RegistryUnavailable, ModelLoadError) as exc:  # not "no champion"
        raise UserError(str(exc)) from None
    except RegistryError:
        return None


def _champion_dataset(task: str, info: Any) -> tuple[pd.DataFrame, str]:
    """The first Parquet artifact of the champion's run (preferring reference/training data)."""
    import tempfile

    import mlflow
    import pandas as pd

    client = mlflow.MlflowClient(tracking_uri=info.tracking_uri)
    paths: list[str] = []
    pending = [""]
    while pending and info.run_id:
        folder = pending.pop()
        for item in client.list_artifacts(info.run_id, folder or None):
            if item.is_dir:
                pending.append(item.path)
            elif item.path.endswith(".parquet"):
                paths.append(item.path)
    if not paths:
        raise UserError(
            f"the champion of {task} (version {info.version}) logged no training dataset; "
            "pass --reference FILE.parquet (e.g. the dataset `riskloop build-dataset` wrote)"
        )
    paths.sort(key=lambda path: (not any(hint in path for hint in _REFERENCE_HINTS), path))
    with tempfile.TemporaryDirectory(prefix="riskloop-monitor-") as tmp:
        local = client.download_artifacts(info.run_id, paths[0], tmp)
        frame = pd.read_parquet(local)
    return frame, f"runs:/{info.run_id}/{paths[0]}"


def _metrics(report: dict[str, Any]) -> dict[str, float]:
    """Finite figures under MLflow-friendly names."""
    figures: dict[str, float] = {"n_scored": float(report["current"]["rows"])}
    figures |= {f"psi_{name}": value for name, value in report["psi"]["features"].items()}
    figures["psi_score"] = report["psi"]["score"]
    for row in report["volume"]:
        figures[f"volume_share_{row['level']}"] = row["share"]
        figures[f"volume_load_{row['level']}"] = row["load"]
    for row in report["precision"]:
        figures[f"precision_{row['level']}"] = row["precision"]
        figures[f"closed_{row['level']}"] = float(row["closed"])
    figures["calibration_ece_observed"] = report["calibration"]["ece"]
    figures["calibration_n"] = float(report["calibration"]["n"])
    figures["groups_flagged"] = float(
        sum(bool(row["flag"]) for entry in report["groups"]["columns"] for row in entry["groups"])
    )
    return {name: float(value) for name, value in figures.items() if math.isfinite(value)}


def _log_to_mlflow(report: dict[str, Any]) -> str:
    """Log the figures as one run tagged `riskloop.kind=monitor`; the run id."""
    import mlflow

    from training.tracking import configure_tracking

    configure_tracking()
    tags = {
        "riskloop.kind": "monitor",
        "riskloop.task": report["task"],
        "riskloop.drift": str(report["drift"]).lower(),
        "riskloop.drifted": ",".join(report["drifted"]),
        "riskloop.since": report["since"] or "",
        "riskloop.model_versions": ",".join(report["current"]["model_versions"]),
    }
    with mlflow.start_run(run_name=f"monitor-{report['task']}", tags=tags) as run:
        mlflow.log_param("psi_threshold", report["threshold"])
        mlflow.log_param("reference", report["reference"]["source"])
        mlflow.log_metrics(_metrics(report))
        mlflow.log_dict(_json_safe(report), "monitor.json")
        return str(run.info.run_id)


def _default_out(task: str) -> Path:
    from models.settings import get_settings

    return get_settings().reports_dir / "monitor" / f"{task}.json"


def _json_safe(value: Any) -> Any:
    """NaN and infinity become null: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table

    from training.commands import print_table, table_console

    console = table_console()
    threshold = report["threshold"]
    drift = Table(
        title=f"{report['task']}: population stability vs {report['reference']['source']}"
    )
    drift.add_column("feature")
    drift.add_column("PSI", justify="right")
    drift.add_column("state")
    rows = [*report["psi"]["features"].items(), (SCORE, report["psi"]["score"])]
    for name, value in rows:
        if not math.isfinite(value):
            state = "n/a"
        elif name in report["not_alarmed"]:  # reported, but it cannot raise the alarm
            state = "[dim]not alarmed[/]"
        elif value > threshold:
            state = "[bold red]DRIFT[/]"
        elif name in report["watched"]:
            state = "[yellow]watch[/]"
        else:
            state = "stable"
        drift.add_row(name, fmt(value), state)
    print_table(console, drift)
    purged = report["current"]["features_purged"]
    if purged:
        console.print(
            f"features of {purged} of {report['current']['units']} units purged by retention: "
            "left out of the feature PSI (their scores count)"
        )

    units, rows = report["current"]["units"], report["current"]["rows"]
    # the shares are over units (`latest_per_unit`), not over the scored records
    volume = Table(title=f"warning volume: shares of {units} units")
    for column in ("level", "count", "share", "capacity", "load"):
        volume.add_column(column, justify="left" if column == "level" else "right")
    for row in report["volume"]:
        volume.add_row(
            row["level"],
            str(row["count"]),
            fmt(row["share"]),
            fmt(row["capacity_share"]),
            fmt(row["load"], 2),
        )
    print_table(console, volume)
    if rows > units:
        console.print(
            f"{rows} scored records: a unit scored again for the same date counts once, "
            "with its latest score"
        )

    precision = Table(title="closed warnings")
    for column in (
        "level",
        "closed",
        "confirmed",
        "prevented",
        "false_alarm",
        "unreachable",
        "precision",
    ):
        precision.add_column(column, justify="left" if column == "level" else "right")
    for row in report["precision"]:
        precision.add_row(
            row["level"],
            *(
                str(row[key])
                for key in ("closed", "confirmed", "prevented", "false_alarm", "unreachable")
            ),
            fmt(row["precision"]),
        )
    print_table(console, precision)
    calibration = report["calibration"]
    console.print(
        f"calibration against observed outcomes: ECE {fmt(calibration['ece'])} "
        f"over {calibration['n']} closed warnings"
    )
    print_groups(console, report["groups"])
