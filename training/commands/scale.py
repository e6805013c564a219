"""Scale-out commands: `riskloop tune` (workers sharing one Optuna study) and `riskloop bundle`.

`tune` is meant to run as several processes on one study in a shared database
(`--storage postgresql+psycopg://...`): each contributes trials until the study holds
`--trials`, and the worker that finds it complete trains and registers the best trial, once.
"Once" is a row in the study's user attributes, inserted under a row lock on the study (and
its unique key), so two workers finishing together cannot both train.

`bundle` packages the champions into a BentoML bento (`bentoml build` with package locking
off, so it works without internet) that `bentoml serve` and `bentoml containerize` take. The
bento carries its environment (`BENTO_ENV`: serve the packaged champions, usage tracking off)
as BentoML 1.4 keeps it: the bento's `envs`, which the image's Dockerfile sets and the
service applies under `bentoml serve` (`serving.service`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from features.tasks import names_in_words
from training.errors import UserError, user_errors

if TYPE_CHECKING:
    from models.spec import LightGBMParams, TaskSpec
    from training.datasets import Splits, TrainingData
    from training.train import TrainOutcome

CLAIM_KEY = "riskloop.training_claimed_by"
VERSION_KEY = "riskloop.registered_version"  # training.tune.REGISTERED_VERSION_ATTR
BENTO_NAME = "riskloop"
# What the bento's code needs at run time (pinned to this environment's versions when built).
BENTO_PACKAGES = (
    "bentoml",
    # uvicorn's C HTTP parser and event loop (pyproject.toml says why)
    "httptools",
    "uvloop",
    "mlflow",
    "lightgbm",
    # models/treeshap_kernels.py: the fast exact TreeSHAP kernels
    "numba",
    "jinja2",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "pandera",
    "pydantic",
    "pydantic-settings",
    # serving/score_body.py: plainly valid score bodies decoded in one pass
    "msgspec",
    "SQLAlchemy",
    "alembic",
    # with its own libpq: an image need not carry the system's
    "psycopg[binary]",
    "fastapi",
    "httpx",
    # the console: Argon2 password hashes, its forms, the sealed identifiers of reveals
    "argon2-cffi",
    "python-multipart",
    "cryptography",
)
OFFLINE_ENV = (
    ("BENTOML_DO_NOT_TRACK", "true"),
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("DO_NOT_TRACK", "true"),
)
#: The bento's own environment: each replica serves the champions packaged in it (no registry)
#: and calls no usage-tracking host. The environment a replica starts with wins over these.
BENTO_ENV = (("RISKLOOP_MODEL_SOURCE", "bento"), *OFFLINE_ENV)
BENTO_SOURCES = (
    "features/**/*.py",
    "models/**/*.py",
    "serving/**/*.py",
    "serving/**/*.mako",
    # the page templates and stylesheet (models.pages loads them as package data)
    "models/templates/*",
    "serving/**/templates/*",
    # the review console's pages, words (one catalog per language) and static files
    "serving/console/templates/**/*",
    "serving/console/messages/*",
    "serving/console/static/*",
)


def _spec(task: str) -> TaskSpec:
    from models.spec import UnknownTaskError, get_spec

    try:
        return get_spec(task)
    except UnknownTaskError as exc:
        raise UserError(str(exc)) from None


def _data(spec: TaskSpec, raw: Path | None, dataset: Path | None) -> TrainingData:
    from features.validation import RawDataError
    from training.datasets import build_from_raw, read_dataset

    if (raw is None) == (dataset is None):
        raise UserError("give the data: either --raw DIR (a city folder) or --dataset FILE")
    if dataset is not None:
        return read_dataset(spec, dataset)
    assert raw is not None
    try:
        return build_from_raw(spec, raw)
    except RawDataError as exc:
        raise UserError(f"bad raw data in {raw}: {exc}") from None


def worker_name() -> str:
    """This worker's name in the study: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_training(storage: str, study_name: str, owner: str) -> bool:
    """Record `owner` as the one worker that trains the study's best trial; False if taken.

    The study's row is locked (`SELECT ... FOR UPDATE` on PostgreSQL/MySQL) while the claim is
    checked and inserted; the unique (study, key) constraint of Optuna's user-attribute table
    settles the race on SQLite, which has no row locks.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import IntegrityError

    engine = create_engine(storage)
    lock = " FOR UPDATE" if engine.dialect.name in ("postgresql", "mysql") else ""
    try:
        with engine.begin() as connection:
            study_id: int = connection.execute(
                text(f"SELECT study_id FROM studies WHERE study_name = :name{lock}"),
                {"name": study_name},
            ).scalar_one()
            taken = connection.execute(
                text("SELECT 1 FROM study_user_attributes WHERE study_id = :id AND key = :key"),
                {"id": study_id, "key": CLAIM_KEY},
            ).first()
            if taken:
                return False
            connection.execute(
                text(
                    "INSERT INTO study_user_attributes (study_id, key, value_json) "
                    "VALUES (:id, :key, :value)"
                ),
                {"id": study_id, "key": CLAIM_KEY, "value": json.dumps(owner)},
            )
        return True
    except IntegrityError:
        return False
    finally:
        engine.dispose()


def _finished(study: object) -> int:
    import optuna

    states = (
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    )
    return len(study.get_trials(deepcopy=False, states=states))  # type: ignore[attr-defined]


# PostgreSQL's "duplicate object" and "duplicate table": another worker created the enum type
# or table between this one's check and its CREATE
_CREATED_MEANWHILE = frozenset({"42710", "42P07"})


def _created_meanwhile(exc: BaseException) -> bool:
    """Whether a database error says another worker created the object first."""
    original = getattr(exc, "orig", None)
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return code in _CREATED_MEANWHILE


def check_storage_place(storage: str) -> None:
    """Refuse, before anything is written, a `--storage` SQLite file that is riskloop's own
    state (`training.raw_io.refuse_writing_over_sources`: the warnings store, the registry,
    keys, secrets...), but for the configured Optuna studies database, where studies go."""
    from models.settings import get_settings, hide_password, sqlite_file
    from training.raw_io import refuse_writing_over_sources

    path = sqlite_file(storage)
    if path is None:  # a server's database: `_foreign_tables` looks inside it
        return
    studies = sqlite_file(get_settings().resolved_optuna_storage)
    if studies is not None and path.resolve() == studies.resolve():
        return
    refuse_writing_over_sources(path, f"--storage {hide_password(storage)}")


def _foreign_tables(storage: str) -> list[str]:
    """The tables of `storage` if none is Optuna's (another application's database, as the
    warnings store on a server); else none. Reads only; never creates a SQLite file."""
    from optuna.storages._rdb.models import BaseModel
    from sqlalchemy import create_engine, inspect

    from models.settings import sqlite_file

    path = sqlite_file(storage)
    if storage.startswith("sqlite") and (path is None or not path.is_file()):
        return []  # in memory, or a new database
    engine = create_engine(storage)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    optuna_tables = set(BaseModel.metadata.tables)  # `alembic_version` is not among them
    return sorted(tables) if tables and not tables & optuna_tables else []


def _open_storage(storage: str, attempts: int = 5) -> object:
    """Optuna's storage, created if new; retried because workers starting together race to
    create its tables and, on PostgreSQL, its enum types (a unique-key or an "already exists"
    error for all but one of them). Refused in one line: riskloop's own state or another
    application's database (before Optuna writes), a storage of another Optuna schema."""
    import time

    import optuna
    from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, OperationalError

    from models.settings import first_line, hide_password

    check_storage_place(storage)
    for attempt in range(1, attempts + 1):
        try:
            foreign = _foreign_tables(storage)
            if foreign:
                raise UserError(
                    f"--storage {hide_password(storage)} holds another application's tables "
                    f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}) and no "
                    "Optuna study: give Optuna a database of its own"
                )
            return optuna.storages.RDBStorage(storage)
        except ArgumentError as exc:
            raise UserError(f"--storage is not a database URL: {exc}") from None
        except DatabaseError as exc:  # IntegrityError and OperationalError are among them
            raced = isinstance(exc, IntegrityError | OperationalError) or _created_meanwhile(exc)
            if not raced or attempt == attempts:
                raise UserError(f"cannot open the Optuna storage: {first_line(exc)}") from None
            time.sleep(0.5 * attempt)
        except ImportError as exc:  # no driver for the URL
            raise UserError(f"cannot open the Optuna storage: {first_line(exc)}") from None
        except RuntimeError as exc:  # Optuna's: the tables' schema is another version's
            raise UserError(
                f"cannot use the Optuna storage {hide_password(storage)}: {first_line(exc)}"
            ) from None
    raise AssertionError("unreachable")


def _existing_study(storage: str, study_name: str) -> object | None:
    import optuna

    _open_storage(storage)
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return None


def _best_params(spec: TaskSpec, study: object, base: LightGBMParams) -> LightGBMParams:
    import optuna

    best = study.best_params  # type: ignore[attr-defined]
    return spec.search_space.suggest(optuna.trial.FixedTrial(best), base)


def _contribute_trials(
    spec: TaskSpec,
    splits: Splits,
    base: LightGBMParams,
    study: str,
    storage: str,
    trials: int,
    seed: int,
) -> list[int]:
    """Run this worker's trials of the shared study until it holds `trials`; their numbers.

    A study of another task, dataset or round settings is refused before anything runs
    (`training.tune.bind_study`), also when it is already complete.
    """
    from training.tune import StudyMismatchError, bind_study, study_identity, tune

    ran: list[int] = []
    existing = _existing_study(storage, study)
    if existing is not None and _finished(existing) >= trials:
        try:
            bind_study(existing, study_identity(spec, splits.train, splits.valid, base))
        except StudyMismatchError as exc:
            raise UserError(str(exc)) from None
        return ran
    try:
        tune(
            spec,
            splits.train,
            splits.valid,
            trials,
            base,
            study_name=study,
            storage=storage,
            on_trial=ran.append,
            total_trials=trials,
            sampler_seed=(seed * 100_003 + os.getpid()) % 2**32,  # the range Optuna takes
        )
    except StudyMismatchError as exc:
        raise UserError(str(exc)) from None
    except (ValueError, ImportError) as exc:
        raise UserError(f"cannot use Optuna storage for study {study!r}: {exc}") from None
    return ran


def _train_best(
    spec: TaskSpec,
    data: TrainingData,
    shared: Any,
    base: LightGBMParams,
    seed: int,
    max_rounds: int | None,
    finished: int,
) -> TrainOutcome:
    """Train and register the study's best trial; tag the run with the study it came from."""
    from training import tracking
    from training.train import train_task

    params = _best_params(spec, shared, base)
    typer.echo(
        f"  best trial {shared.best_trial.number} (valid AUC {shared.best_value:.4f}): training it"
    )
    outcome = train_task(
        dataclasses.replace(spec, params=params), data, seed=seed, max_rounds=max_rounds
    )
    client = tracking.tracking_client()
    for key, value in {
        "riskloop.optuna_study": shared.study_name,
        "riskloop.optuna_best_trial": str(shared.best_trial.number),
        "riskloop.optuna_best_value": f"{shared.best_value:.6f}",
        "riskloop.optuna_trials": str(finished),
    }.items():
        client.set_tag(outcome.run_id, key, value)
    shared.set_user_attr(VERSION_KEY, outcome.version)
    shared.set_user_attr("riskloop.run_id", outcome.run_id)
    return outcome


def tune_command(
    task: Annotated[str, typer.Option("--task", help=f"{names_in_words()}.")],
    storage: Annotated[
        str,
        typer.Option(
            "--storage",
            help="Optuna storage URL shared by the workers (postgresql+psycopg://user@host/db).",
        ),
    ],
    study: Annotated[str, typer.Option("--study", help="Study name, the same for every worker.")],
    trials: Annotated[
        int,
        typer.Option("--trials", min=1, help="Trials the whole study runs, all workers together."),
    ] = 20,
    raw: Annotated[Path | None, typer.Option("--raw", help="A raw city folder.")] = None,
    dataset: Annotated[
        Path | None, typer.Option("--dataset", help="A labelled dataset parquet.")
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="LightGBM seed of trials and final fit.")
    ] = 7,
    max_rounds: Annotated[
        int | None, typer.Option(help="Cap on boosting rounds (quick checks).", min=1)
    ] = None,
) -> None:
    """Contribute trials to a shared Optuna study; the worker that completes it registers the best.

    Run it several times in parallel (on one or many machines) with the same --storage and
    --study. Each worker runs trials until the study holds --trials of them; the first worker to
    find the study complete trains the best trial's parameters and registers the model version
    (alias challenger) exactly once; the others report and exit.
    """
    import optuna

    from training import tracking
    from training.commands.modelling import check_study_name, quiet_libraries
    from training.datasets import split_dataset
    from training.train import recipe_params

    quiet_libraries()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with user_errors(), tracking.registry_errors():
        check_study_name(study)
        check_storage_place(storage)  # before the data is built
        spec = _spec(task)
        data = _data(spec, raw, dataset)
        splits = split_dataset(spec, data.frame)
        # the task's defaults fitted to the slice's size, as `riskloop train` starts from them
        base = recipe_params(dataclasses.replace(spec.params, seed=seed), splits.train)
        if max_rounds is not None:
            base = dataclasses.replace(base, num_boost_round=max_rounds)
        owner = worker_name()
        ran = _contribute_trials(spec, splits, base, study, storage, trials, seed)
        shared = optuna.load_study(study_name=study, storage=storage)
        finished = _finished(shared)
        typer.echo(
            f"{spec.task}: study {study}: worker {owner} ran {len(ran)} trial(s); "
            f"the study holds {finished} finished of {trials}"
        )
        if finished < trials:
            typer.echo("  not complete yet: the worker that completes it trains the best trial")
            return
        if not claim_training(storage, study, owner):
            claimed = shared.user_attrs.get(VERSION_KEY)
            typer.echo(
                f"  the study was already completed and its best trial registered as "
                f"{spec.registered_model_name} version {claimed}; nothing to train"
                if claimed is not None
                else "  another worker is training the best trial"
            )
            return
        outcome = _train_best(spec, data, shared, base, seed, max_rounds, finished)
    typer.echo(
        f"  registered {outcome.name} version {outcome.version} ({', '.join(outcome.aliases)}), "
        f"run {outcome.run_id}"
    )


def bento_packages() -> list[str]:
    """`BENTO_PACKAGES` pinned to the versions installed here, extras kept
    (`psycopg[binary]==` the installed psycopg's version)."""
    from importlib import metadata

    return [
        f"{requirement}=={metadata.version(requirement.split('[', 1)[0])}"
        for requirement in BENTO_PACKAGES
    ]


def check_champion(spec: TaskSpec, version: int) -> None:
    """Refuse to package a champion the bento's service could not load (a version registered
    outside riskloop, or another task's model): the replicas would fail at every start."""
    from models.registry import check_version
    from models.risk_model import ModelLoadError
    from models.settings import get_settings
    from training import tracking

    client = tracking.tracking_client()
    try:
        check_version(
            client,
            client.get_model_version(spec.registered_model_name, str(version)),
            get_settings().mlflow_uri,
            spec,
        )
    except ModelLoadError as exc:
        raise UserError(str(exc)) from None


def import_champions(tasks: list[str]) -> list[str]:
    """Copy each task's champion from the MLflow registry into BentoML's model store; the tags.

    A champion already in the store is reused rather than copied again: the entry copied from
    the same registered version of the same MLflow run. BentoML's store is shared by every
    installation on the host, and version numbers restart with each registry: a version
    number alone matched another registry's model, which the bento then served under this
    champion's number.
    """
    import bentoml

    from training import tracking

    tracking.configure_tracking(existing=True)  # a mistyped path is not made an empty registry
    tags: list[str] = []
    for task in tasks:
        spec = _spec(task)
        name = spec.registered_model_name
        version = tracking.alias_version(name, tracking.CHAMPION)
        if version is None:
            raise UserError(f"{spec.task} has no champion in the registry: train and promote first")
        check_champion(spec, version)  # before BentoML's store is touched
        registered = tracking.tracking_client().get_model_version(name, str(version))
        origin = {"mlflow_version": str(version), "mlflow_run_id": str(registered.run_id)}
        try:
            stored = bentoml.models.list(name)
        except bentoml.exceptions.NotFound:
            stored = []
        packaged = [
            model
            for model in stored
            if all(model.info.labels.get(key) == value for key, value in origin.items())
        ]
        if packaged:
            tags.append(str(packaged[0].tag))
            continue
        model = bentoml.mlflow.import_model(
            name,
            f"models:/{name}/{version}",
            labels={"task": spec.task, "alias": tracking.CHAMPION, **origin},
            metadata={"catalog_version": spec.catalog_version, **_promotion(registered.tags)},
        )
        tags.append(str(model.tag))
    return tags


def _promotion(tags: dict[str, str] | None) -> dict[str, str]:
    """How the version became champion, from its registry tags, for the packaged model's
    metadata: a bento's `GET /v1/models` says it without the registry."""
    from models.registry import PROMOTION_REASON_TAG, PROMOTION_TAG

    tags = tags or {}
    kept = {
        "promotion": tags.get(PROMOTION_TAG),
        "promotion_reason": tags.get(PROMOTION_REASON_TAG),
    }
    return {key: value for key, value in kept.items() if value}


def check_bento_version(version: str | None) -> None:
    """Refuse, before any model is copied, a `--version` BentoML's tag rules refuse (at most
    63 lowercase letters, digits, `_`, `-`, `.`; a letter or digit at each end: BentoML's own
    check) and one a bento in the store already has."""
    if version is None:
        return
    import bentoml
    from bentoml._internal.tag import validate_tag_str

    try:
        validate_tag_str(version)
    except ValueError as exc:
        rules = str(exc).partition(": ")[2]  # "<value> is not a valid BentoML tag: <rules>"
        raise UserError(f"--version {version!r} is not a bento version: {rules}") from None
    try:
        bentoml.bentos.get(f"{BENTO_NAME}:{version}")
    except bentoml.exceptions.NotFound:
        return
    raise UserError(_bento_exists(version))


def _bento_exists(version: str) -> str:
    tag = f"{BENTO_NAME}:{version}"
    return (
        f"a bento {tag} already exists in BentoML's store: give another --version, or leave "
        f"it out for a generated one, or delete the old one first (bentoml delete {tag})"
    )


def build_bento(model_tags: list[str], version: str | None = None) -> str:
    """`bentoml build` of the service with the models; the bento's tag (a bad or taken
    `version` is a `UserError`: `check_bento_version`)."""
    import bentoml
    from bentoml._internal.bento.build_config import BentoEnvSchema  # `build(envs=...)`'s type

    import models

    check_bento_version(version)
    root = Path(models.__file__).resolve().parent.parent
    try:
        bento = bentoml.bentos.build(
            "serving.service:RiskloopService",
            name=BENTO_NAME,
            description="riskloop scoring service with the champions of each task",
            include=list(BENTO_SOURCES),
            exclude=["**/__pycache__", "tests/**"],
            models=list[Any](model_tags),
            python={"packages": bento_packages(), "lock_packages": False},
            # not `docker={"env": ...}`: BentoML 1.4 builds an image spec and drops it
            envs=[BentoEnvSchema(name=name, value=value) for name, value in BENTO_ENV],
            labels={"champions": ",".join(tag.replace(":", "@") for tag in model_tags)},
            version=version,
            build_ctx=str(root),
        )
    except bentoml.exceptions.BentoMLException as exc:
        if version is not None and "already exists" in str(exc):  # built meanwhile
            raise UserError(_bento_exists(version)) from None
        raise
    return str(bento.tag)


def _absolute(location: str, base: Path) -> str:
    """A path or SQLite URL anchored at `base` (server URLs unchanged)."""
    from training.commands.service import absolute_sqlite_url

    if location.startswith("sqlite:"):
        return absolute_sqlite_url(location, base)
    if "://" in location:
        return location
    return str((base / location).resolve())


def _replica_environment() -> tuple[dict[str, str], dict[str, str]]:
    """What a pasted serve line must set: the variables to print with their values, and those
    holding a secret (a password in a URL, the pseudonym key), which the line reads from the
    shell, each with what may be shown of it (the URL with its password masked).

    A bento's service needs its state's locations (`serving.service.state_locations`: a bento
    refuses relative ones, which would resolve inside it); the mode, the links' base URL and
    the pseudonym key are carried when this shell sets them: left out, a pasted line started
    a replica out of production mode, linking to the default address, or pseudonymising with
    the secrets file's key instead of the one every machine shares.
    """
    from models.settings import get_settings, hide_password
    from serving.service import state_locations

    settings = get_settings()
    env = {"BENTOML_DO_NOT_TRACK": "true"}  # the `bentoml` command reads it before the bento's
    if "BENTOML_HOME" in os.environ:
        env["BENTOML_HOME"] = str(Path(os.environ["BENTOML_HOME"]).resolve())
    env |= {name: _absolute(value, Path.cwd()) for name, value in state_locations(settings).items()}
    if "env" in settings.model_fields_set:
        env["RISKLOOP_ENV"] = settings.env
    if settings.public_url_is_set:
        env["RISKLOOP_PUBLIC_URL"] = settings.public_url
    secret = {
        name: f" ({hide_password(value)})"
        for name, value in env.items()
        if hide_password(value) != value
    }
    if settings.pseudonym_secret is not None:
        secret["RISKLOOP_PSEUDONYM_SECRET"] = ""
    return {name: value for name, value in env.items() if name not in secret}, secret


def serve_instructions(tag: str) -> list[str]:
    """How to serve the bento here, as lines to print: `bentoml serve` with the variables a
    replica needs (`_replica_environment`) set to this directory's store, keys and secrets.

    The line runs as printed: a secret is never printed, neither in clear nor masked (a masked
    password pasted back is the password `***`); the line reads it from the shell
    (`NAME="$NAME"`) and a note says which to export there first.
    """
    from training.commands.service import bentoml_command

    env, secret = _replica_environment()
    command = " ".join(
        [
            *(f"{name}={shlex.quote(value)}" for name, value in env.items()),
            *(f'{name}="${name}"' for name in secret),
        ]
    )
    bentoml = shlex.quote(str(bentoml_command()))  # a new shell has no venv on its PATH
    lines = [
        "serve it here (this directory's warnings store, keys and secrets):",
        f"  {command} {bentoml} serve {tag} --host 127.0.0.1 --port 3000",
        f"or make an image: {bentoml} containerize {tag} (a replica's environment: docs/deploy.md)",
    ]
    for name, shown in secret.items():
        lines.append(
            f"note: {name} holds a secret and is not printed: the line reads it from your "
            f"shell, so export {name}{shown} there first"
        )
    secrets = Path(env["RISKLOOP_SECRETS_FILE"])
    if not secrets.exists():
        lines.append(
            f"note: no secrets file at {secrets}, and a bento never makes one: if this "
            "directory's warnings store holds data, restore the file backed up with it "
            "(docs/privacy.md); only for a new installation does `riskloop store upgrade` "
            "create it here (back it up)"
        )
    return lines


def bundle_command(
    task: Annotated[
        str, typer.Option("--task", help="A task, or `all` for the three champions.")
    ] = "all",
    version: Annotated[str | None, typer.Option(help="Bento version (default: generated).")] = None,
) -> None:
    """Build a BentoML bento of the scoring service with the champions (works offline).

    The champions are copied into BentoML's model store and packaged with the service code.
    The bento's environment says RISKLOOP_MODEL_SOURCE=bento: each replica serves the packaged
    champions and needs no registry (set RISKLOOP_MODEL_SOURCE=registry to follow the registry
    instead); it also switches BentoML's and MLflow's usage tracking off. `bentoml serve
    riskloop:<version>` runs it with the printed variables (the warnings store, keys and
    secrets it must be given: a bento never makes them) and `bentoml containerize
    riskloop:<version>` makes an image.
    """
    from models.spec import TASK_NAMES

    with user_errors():
        tasks = list(TASK_NAMES) if task == "all" else [_spec(task).task]
        check_bento_version(version)  # before any champion is copied into BentoML's store
        tags = import_champions(tasks)
        tag = build_bento(tags, version)
        instructions = serve_instructions(tag)
    for model_tag in tags:
        typer.echo(f"packaged model {model_tag}")
    typer.echo(
        f"built bento {tag}: serves the packaged champions (RISKLOOP_MODEL_SOURCE=bento), "
        "usage tracking off"
    )
    for line in instructions:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add `riskloop tune` and `riskloop bundle` to the app."""
    app.command("tune")(tune_command)
    app.command("bundle")(bundle_command)
