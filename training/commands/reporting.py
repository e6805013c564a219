"""`riskloop report`: the self-contained HTML model report a reviewer signs off.

The report is built for a registered model version (by number or alias) on the test slice of a
dataset rebuilt from the raw city folder, written to `reports/<task>-v<N>.html` (English) and
`reports/<task>-v<N>.zh.html` (Chinese), and logged to that version's MLflow run as an artifact
when that folder holds the version's own training data. A report rebuilt from other data is
written as `<task>-v<N>-on-<folder>-<6 hex>.html` (and `.zh.html`) instead, never over the official
files the console serves.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from features.tasks import names_in_words
from models.pages import REPORT_LANGS, report_file_name
from models.settings import hide_password
from training.errors import UserError, check_raw_folder, user_errors

if TYPE_CHECKING:
    import pandas as pd

    from models.risk_model import RiskModel
    from models.spec import TaskSpec
    from training.report import RunInfo, Truth

REPORT_ARTIFACT_DIR = "reports"
LANG_CHOICES = (*REPORT_LANGS, "both")


def report(
    task: str = typer.Option(..., "--task", help=f"{names_in_words()}."),
    version: int | None = typer.Option(None, "--version", help="Registered model version number."),
    alias: str | None = typer.Option(
        None, "--alias", help="Registry alias (champion, challenger); default champion."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the HTML file; default RISKLOOP_REPORTS_DIR (reports/)."
    ),
    raw: Path | None = typer.Option(
        None,
        "--raw",
        help="Raw city folder to rebuild the test slice from; default the folder the version "
        "was trained on (its run's riskloop.dataset_source) while it exists, else "
        "`<RISKLOOP_DATA_DIR>/city`; a line on stderr says which.",
    ),
    lang: str = typer.Option(
        "both", "--lang", help="Edition: en, zh or both (`<task>-v<N>.html` and `.zh.html`)."
    ),
) -> None:
    """Write the model report (model card, performance, explanations, fairness, fidelity).

    Each edition is one HTML file with every image and style inline (no network needed to read
    it), English and Chinese by default. Prints the path of each file written.

    Each edition is also logged to the model version's MLflow run under `reports/`, the
    version's official report, when the test slice was rebuilt from the version's own training
    data (the same dataset fingerprint as the run's). A report on other data (--raw naming
    another city, or the city changed since training) is not the version's report: it is not
    logged, never replaces the official files (logged, and served by the console) and is
    written as `<task>-v<N>-on-<folder>-<6 hex>.html` (`.zh.html`); a line on stderr says so. Its model
    card keeps the version's training facts (from its run) and says the test slice is other
    data.
    """
    from training.tracking import registry_errors, require_registry

    with user_errors(), registry_errors():
        from models.settings import get_settings
        from models.spec import UnknownTaskError, get_spec

        if lang not in LANG_CHOICES:
            raise UserError(f"--lang must be en, zh or both, not {lang!r}")
        if version is not None and alias is not None:
            raise UserError("give --version or --alias, not both")
        try:
            spec = get_spec(task)
        except UnknownTaskError as exc:
            raise UserError(str(exc)) from None
        require_registry()
        settings = get_settings()
        out_dir = out if out is not None else settings.reports_dir
        langs = REPORT_LANGS if lang == "both" else (lang,)
        paths = write_report(
            spec, raw, out_dir, version=version, alias=alias or "champion", langs=langs
        )
        for path in paths:
            typer.echo(str(path))


def write_report(
    spec: TaskSpec,
    raw_dir: Path | None,
    out_dir: Path,
    *,
    version: int | None = None,
    alias: str = "champion",
    langs: Sequence[str] = REPORT_LANGS,
) -> list[Path]:
    """Build and write the report of one registered version in each of `langs`; the HTML
    files' paths, in the order of `langs`.

    `raw_dir` None: the folder the version was trained on, else the default city
    (`_default_raw_dir`, which says on stderr which it used). The files are logged to the
    version's run only when the rebuilt data is the run's training data (`_not_logged_because`);
    otherwise a one-line note on stderr says why they were not.
    """
    from training.datasets import build_from_raw, split_dataset
    from training.report import build_reports

    if raw_dir is not None:
        check_raw_folder(raw_dir, "generate it with `riskloop generate` or pass --raw")
    from training.raw_io import refuse_writing_over_sources

    # before the work: an --out among what riskloop reads (a folder laid out as raw tables,
    # the store, the registry and its artifacts, the online features, the dashboard's
    # monitoring), a file, a folder that cannot be made
    refuse_writing_over_sources(out_dir, f"--out {out_dir}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write reports to {out_dir}: {exc.strerror or exc}") from None
    model, run_info = _load_model(spec, version, alias)
    if raw_dir is None:
        raw_dir = _default_raw_dir(run_info.trained_on)
    # a model trained on closed warnings' outcomes too is judged on the slice it was split from
    data = build_from_raw(spec, raw_dir, with_feedback=run_info.feedback_used)
    splits = split_dataset(spec, data.frame)
    run_info = _with_training_slice(run_info, splits.train, data.source, data.fingerprint)
    truth = _read_truth(spec, raw_dir / "truth")
    pages = build_reports(spec.task, model, splits.test, truth, run_info, langs=langs)
    not_logged = _not_logged_because(run_info)
    paths = []
    for lang, page in pages.items():
        name = report_file_name(spec.task, run_info.version, lang)
        if not_logged:
            name = other_data_file_name(spec.task, run_info.version, raw_dir, lang)
        path = out_dir / name
        try:
            path.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
        paths.append(path)
    if not_logged:
        official = out_dir / report_file_name(spec.task, run_info.version, langs[0])
        beside = (
            f" beside the official {official.name}, which it never replaces"
            if official.is_file()
            else f" in {out_dir}"
        )
        typer.echo(
            f"note: not logged to MLflow run {run_info.run_id}: {not_logged}; written as "
            f"{paths[0].name}{beside}",
            err=True,
        )
    else:
        for path in paths:
            _log_artifact(run_info.run_id, path)
    return paths


def other_data_file_name(task: str, version: object, raw_dir: Path, lang: str = "en") -> str:
    """The file of a report rebuilt from data other than the version's training data:
    `<task>-v<N>-on-<folder>-<6 hex>.html` (`.zh.html`), never the official `report_file_name`
    the console serves, whose editions must agree. The hex is of the folder's whole path: two
    cities in folders of one name (`m11/city`, `m12/city`), or named in Chinese (`嘉兴`, read
    as `data`), wrote one file, the second report over the first (QA, 2026-12-07)."""
    resolved = raw_dir.resolve()
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "-", resolved.name).strip("-.") or "data"
    where = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:6]
    return report_file_name(task, f"{version}-on-{folder}-{where}", lang)


def _default_raw_dir(recorded: str) -> Path:
    """The folder to rebuild the test slice from when --raw is not given: the one the
    version's run recorded (`recorded`, its `riskloop.dataset_source`) while it is a folder
    that exists, as `riskloop promote` does; else `<RISKLOOP_DATA_DIR>/city`. Says which on
    stderr."""
    from models.settings import get_settings

    if recorded and Path(recorded).is_dir():
        typer.echo(
            f"note: test slice rebuilt from {recorded}, the folder the version was trained on",
            err=True,
        )
        return Path(recorded)
    default = get_settings().data_dir / "city"
    if not recorded:
        why = "the version's run records no training data"
    elif Path(recorded).is_file():
        why = f"the version was trained on the dataset file {recorded}, not a city folder"
    else:
        why = f"the folder the version was trained on, {recorded}, is gone"
    check_raw_folder(default, f"{why}; generate it with `riskloop generate` or pass --raw")
    typer.echo(f"note: test slice rebuilt from the default {default}: {why}", err=True)
    return default


def _not_logged_because(run_info: RunInfo) -> str:
    """Why the report must not be logged as the version's own ("" when it may be).

    The run's logged report is the version's official one: a report rebuilt from other data
    (another city's folder, or the city changed since training) would silently replace it with
    figures the version was never judged on. A run that recorded no fingerprint (trained
    before riskloop logged it) cannot be told apart and is logged as before.
    """
    logged = run_info.params.get("dataset_fingerprint")
    if not run_info.run_id or not logged or run_info.rebuilt_training_data:
        return ""
    # the folder the version was trained on, its tables changed since (a city generated anew
    # there): said so, not as if it were another folder
    same_folder = bool(run_info.trained_on) and _same_path(
        run_info.trained_on, run_info.test_source
    )
    where = (
        f"the folder the version was trained on, {run_info.test_source}, has changed since: its "
        if same_folder
        else f"the test slice was rebuilt from {run_info.test_source}, whose "
    )
    return (
        f"{where}dataset fingerprint {run_info.test_fingerprint} is not the version's training "
        f"data ({logged}); the version's logged report is unchanged"
    )


def _same_path(first: str, second: str) -> bool:
    """Whether two recorded paths name the same place (either may be relative)."""
    return bool(first and second) and Path(first).resolve() == Path(second).resolve()


def _with_training_slice(
    run_info: RunInfo, train: pd.DataFrame, raw_dir: str, fingerprint: str
) -> RunInfo:
    """`run_info` with the rebuilt data's source and fingerprint, and the training slice's
    rows and positive rate only when that data is the run's own (`rebuilt_training_data`):
    another city's training slice, or one changed since, is not what the version learnt from,
    and the run logs no positive rate to show instead."""
    import dataclasses

    rebuilt = dataclasses.replace(run_info, test_source=raw_dir, test_fingerprint=fingerprint)
    if not rebuilt.rebuilt_training_data:
        return rebuilt
    return dataclasses.replace(
        rebuilt,
        train_rows=len(train),
        train_positive_rate=float(train["label"].mean()) if len(train) else None,
    )


def _load_model(spec: TaskSpec, version: int | None, alias: str) -> tuple[RiskModel, RunInfo]:
    """The registered model (by version or alias) and its run's metadata."""
    from mlflow.exceptions import MlflowException

    from models.registry import PROMOTION_REASON_TAG, PROMOTION_TAG, load_version
    from models.risk_model import ModelLoadError
    from training.report import RunInfo
    from training.tracking import configure_tracking, tracking_client

    configure_tracking()  # `models:/` downloads resolve against the global registry URI
    client = tracking_client()
    name = spec.registered_model_name
    uri = client.tracking_uri
    try:
        if version is not None:
            model_version = client.get_model_version(name, str(version))
        else:
            model_version = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        wanted = f"version {version}" if version is not None else f"alias {alias!r}"
        raise UserError(
            f"no {wanted} of {name} in the MLflow registry at {hide_password(uri)}; "
            f"train one with `riskloop train --task {spec.task}`"
        ) from None
    try:
        model = load_version(client, model_version, uri, spec)
    except ModelLoadError as exc:
        raise UserError(str(exc)) from None
    params: dict[str, str] = {}
    trained_at = commit = trained_on = ""
    feedback_used = False
    run_has_oracle = True
    if model_version.run_id:
        run = client.get_run(model_version.run_id)
        params = dict(run.data.params)
        trained_at = datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).strftime(
            "%Y-%m-%d %H:%M UTC"
        )
        commit = run.data.tags.get("mlflow.source.git.commit", "")
        trained_on = run.data.tags.get("riskloop.dataset_source", "")
        feedback_used = run.data.tags.get("riskloop.feedback_used") == "true"
        run_has_oracle = "oracle_roc_auc" in run.data.metrics
    aliases = ", ".join(getattr(model_version, "aliases", []) or [])
    return model, RunInfo(
        name=name,
        version=str(model_version.version),
        alias=aliases,
        run_id=model_version.run_id or "",
        trained_at=trained_at,
        params=params,
        git_commit=commit,
        trained_on=trained_on,
        feedback_used=feedback_used,
        promotion=str((model_version.tags or {}).get(PROMOTION_TAG, "")),
        promotion_reason=str((model_version.tags or {}).get(PROMOTION_REASON_TAG, "")),
        run_has_oracle=run_has_oracle,
    )


def _read_truth(spec: TaskSpec, truth_dir: Path) -> Truth | None:
    """The task's unit truth and planted driver names, when the city folder has them."""
    import pandas as pd

    from training.report_metrics import FeatureRoles, Truth

    units_file = truth_dir / f"{spec.slug}_units.parquet"
    if not units_file.is_file():
        return None
    units = pd.read_parquet(units_file)
    drivers: tuple[str, ...] = ()
    noise: tuple[str, ...] = ()
    roles = FeatureRoles()
    drivers_file = truth_dir / "drivers.json"
    if drivers_file.is_file():
        planted = json.loads(drivers_file.read_text(encoding="utf-8")).get(spec.slug, {})
        drivers = tuple(item["name"] for item in planted.get("drivers", []))
        noise = tuple(item["name"] for item in planted.get("noise", []))
        roles = FeatureRoles.from_document(planted.get("features", {}))
    return Truth(units=units, drivers=drivers, noise=noise, roles=roles)


def _log_artifact(run_id: str, path: Path) -> None:
    """Attach the report to the version's training run (skipped for a run-less version)."""
    if not run_id:
        return
    from training.tracking import tracking_client

    tracking_client().log_artifact(run_id, str(path), artifact_path=REPORT_ARTIFACT_DIR)


def register(app: typer.Typer) -> None:
    """Add `riskloop report` to the app."""
    app.command("report")(report)
