"""`riskloop run`: the main job behind `make run`.

Idempotent: each step is skipped when its output already exists (a dataset and the online
features only when made from the city's raw tables as they are, and the features under the
secrets file's key), so a second `make run` goes straight to serving. Generate the default city if missing, build each task's labelled dataset,
train each task that has no champion, materialize the latest features for `entity_ids`
scoring, create a local development key on first run (its secret in a 0600 file beside the
keys file, never printed), then serve.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from features.tasks import TASK_NAMES
from training.dev_key import DEV_KEY_NAME, dev_key_path
from training.errors import UserError, user_errors

if TYPE_CHECKING:
    from models.settings import Settings


def _say(message: str) -> None:
    typer.secho(f"riskloop run: {message}", fg=typer.colors.CYAN, err=True)


def _ensure_city(city: Path, size: str, seed: int, profile: str, rate_multiplier: float) -> None:
    from data_samples.city import generate_city
    from training.commands.city import check_city_options

    check_city_options(size, seed, profile, rate_multiplier)  # refused whether or not it is used
    manifest = city / "manifest.json"
    if manifest.is_file():
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            found = exc
        if not isinstance(found, dict):
            raise UserError(
                f"{manifest} is no city manifest ({found}): delete the folder {city} to "
                "generate the city again"
            )
        # a city made before the profiles carries no profile: it is the clean one
        _say(
            f"city found at {city} ({found.get('size', '?')} {found.get('profile', 'clean')} "
            f"city, seed {found.get('seed', '?')}, rate multiplier "
            f"{found.get('rate_multiplier', 1.0):g}; delete it to generate another)"
        )
        return
    rate = f", rate multiplier {rate_multiplier:g}" if rate_multiplier != 1.0 else ""
    _say(f"generating the {size} {profile} simulated city (seed {seed}{rate}) into {city}")
    generate_city(
        city,
        size=size,
        seed=seed,
        profile=profile,
        rate_multiplier=rate_multiplier,
        progress=lambda m: _say(f"  {m}"),
    )


def _ensure_dataset(task: str, city: Path, datasets: Path) -> tuple[Path, str]:
    """The task's labelled dataset of `city`, and the fingerprint of the raw tables it is built
    from. One found is kept only when its sidecar names those tables' fingerprint: after
    `generate --force` (another city in the same folder) it is rebuilt, as the online features
    are (`_ensure_online_features`). Before, `run` kept both, and a dispute scored by id got
    another city's dispute's features under the same number (QA, 2026-12-07)."""
    from features.dataset import build_dataset, dataset_sidecar, input_fingerprint
    from features.tasks import get_task
    from training.raw_io import load_raw_tables, sidecar_path, write_dataset

    out = datasets / f"{get_task(task).slug}.parquet"
    tables = load_raw_tables(city, task)
    fingerprint = input_fingerprint(tables)
    if out.is_file():
        if _recorded(sidecar_path(out), "input_fingerprint") == fingerprint:
            _say(f"{task}: dataset found at {out}")
            return out, fingerprint
        _say(
            f"{task}: the dataset at {out} was built from other raw tables than {city}'s: rebuilding"
        )
    _say(f"{task}: building the labelled dataset")
    frame = build_dataset(task, tables)
    write_dataset(frame, dataset_sidecar(frame, tables), out)
    _say(f"{task}: {len(frame):,} rows, positive rate {frame['label'].mean():.2%} -> {out}")
    return out, fingerprint


def _recorded(sidecar: Path, key: str) -> object:
    """`key` of a JSON sidecar; None when the file or the key is missing or unreadable."""
    try:
        found = json.loads(sidecar.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return found.get(key) if isinstance(found, dict) else None


def _champion_version(task: str, tracking_uri: str) -> str | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    from models.spec import get_spec

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        name = get_spec(task).registered_model_name
        return str(client.get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        return None


def _has_champion(task: str, tracking_uri: str) -> bool:
    return _champion_version(task, tracking_uri) is not None


def _ensure_report(task: str, city: Path, reports_dir: Path, tracking_uri: str) -> None:
    """The champion's model report in both editions, so the console's reports page has it
    from the first run (written once per champion version)."""
    from models.pages import REPORT_LANGS, report_file_name
    from models.spec import get_spec
    from training.commands.reporting import write_report

    version = _champion_version(task, tracking_uri)
    if version is None:
        return
    names = [report_file_name(task, version, lang) for lang in REPORT_LANGS]
    if all((reports_dir / name).is_file() for name in names):
        return
    _say(f"{task}: writing the model report of v{version} (en, zh) to {reports_dir}")
    write_report(get_spec(task), city, reports_dir)


def _ensure_champion(task: str, dataset: Path, truth: Path, tracking_uri: str) -> None:
    from models.spec import get_spec
    from training.datasets import read_dataset
    from training.train import train_task

    if _has_champion(task, tracking_uri):
        _say(f"{task}: champion found in {tracking_uri}")
        return
    _say(f"{task}: no champion yet, training")
    spec = get_spec(task)
    known = truth if truth.is_dir() else None  # a city without truth (an export) trains too
    outcome = train_task(spec, read_dataset(spec, dataset, known), on_step=lambda m: _say(f"  {m}"))
    metrics = outcome.metrics
    _say(
        f"{task}: registered {outcome.name} v{outcome.version} {list(outcome.aliases)} "
        f"AUC {metrics.get('roc_auc', float('nan')):.3f} "
        f"lift recovered {metrics.get('lift_recovered', float('nan')):.2f} "
        f"ECE {metrics.get('ece', float('nan')):.4f}"
    )
    for note in outcome.notes:  # as `riskloop train` gives them: few test positives, level shares
        _say(f"  note: {note}")


def _ensure_online_features(task: str, city: Path, data_dir: Path, fingerprint: str) -> None:
    """The latest features of `city`'s units for `entity_ids` scoring, keyed by the secrets
    file's pseudonym key. A file found is kept only when its sidecar (`<slug>.json` beside
    it) names the same raw tables (`fingerprint`) and the same key: another city in the
    folder, or a new secrets file (a copied data folder, `secrets start-over`), had `run` keep
    features no id found, or another unit's under the same id (QA, 2026-12-07)."""
    from features.tasks import get_task
    from models.secret_keys import load_secrets
    from serving.online_store import materialize, online_path
    from serving.store.pseudonym import key_check
    from training.commands.service import build_scoring_set
    from training.raw_io import private_output

    path = online_path(get_task(task).slug, data_dir)
    made_for = {
        "input_fingerprint": fingerprint,
        "key_check": key_check(load_secrets().pseudonym_secret),
    }
    sidecar = path.with_suffix(".json")
    if path.exists():
        if all(_recorded(sidecar, key) == value for key, value in made_for.items()):
            return
        _say(
            f"{task}: the online features at {path} were made from other raw tables or under another pseudonym key: materializing again"
        )
    else:
        _say(f"{task}: materializing the latest features for entity_ids scoring")
    materialize(task, build_scoring_set(task, city), data_dir)
    with private_output(sidecar) as temporary:
        temporary.write_text(json.dumps(made_for, indent=2) + "\n", encoding="utf-8")


def _ensure_dev_key(base_url: str = "http://127.0.0.1:3000") -> None:
    """Create the development key on a first run and put its secret in a 0600 file whose path
    is printed: never the secret itself, as stderr is the service's log stream (a nohup file,
    the journal) that others read."""
    import shlex

    from models.settings import get_settings
    from serving.auth import issue_key, list_keys
    from training.commands.people import open_store
    from training.commands.service import audit_key_change
    from training.raw_io import private_output

    path = dev_key_path(get_settings()).absolute()
    active = [key for key in list_keys() if key.active]
    if active:
        names = ", ".join(sorted({key.name for key in active}))
        kept = (
            f"; the {DEV_KEY_NAME!r} key's secret is in {path}"
            if path.is_file() and any(key.name == DEV_KEY_NAME for key in active)
            else "; a key is shown only when it is created"
        )
        typer.echo(
            f"API keys already exist ({names}){kept}. "
            "For a new one: riskloop keys create NAME --scopes score",
            err=True,
        )
        return
    with open_store() as store:
        secret, record = issue_key(DEV_KEY_NAME, ["score", "review", "feedback", "admin"])
        audit_key_change(store, "api_key_created", record)
    try:
        with private_output(path) as temporary:
            temporary.write_text(secret + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(
            f"cannot write the development key's secret to {path}: {exc.strerror or exc}; "
            f"revoke the key (riskloop keys revoke {DEV_KEY_NAME}) and run again"
        ) from None
    typer.secho(
        f"\nCreated the local development API key {DEV_KEY_NAME!r} (scopes "
        f"{', '.join(record.scopes)}; stored hashed). Its secret is in {path}, readable by you "
        f"only, and is never printed. Use it as:\n"
        f'  curl -H "Authorization: Bearer $(cat {shlex.quote(str(path))})" '
        f"{base_url}/v1/warnings\n",
        fg=typer.colors.GREEN,
        err=True,
    )


def register(app: typer.Typer) -> None:
    """Add `riskloop run` to the app."""

    @app.command("run")
    def run_main_job(
        size: str = typer.Option("default", help="City size to generate if none exists."),
        seed: int = typer.Option(0, help="City seed to generate if none exists."),
        profile: str = typer.Option(
            "realistic",
            help="City profile to generate if none exists: realistic or clean (as in "
            "`riskloop generate --profile`).",
        ),
        rate_multiplier: float = typer.Option(
            1.0,
            help="City event rate multiplier to generate with if none exists (as in "
            "`riskloop generate --rate-multiplier`).",
        ),
        host: str = typer.Option("127.0.0.1", help="Interface the service binds."),
        port: int = typer.Option(3000, min=1, max=65535, help="Service port."),
        serve: bool = typer.Option(
            True, help="Start the service at the end (--no-serve stops before)."
        ),
    ) -> None:
        """The main job: city, datasets, champions, online features, reports, dev key, then serve."""
        from models.settings import get_settings
        from training.commands.modelling import quiet_libraries
        from training.commands.service import check_address_free, check_host

        quiet_libraries()
        settings = get_settings()
        city = settings.data_dir / "city"
        with user_errors():
            # a host name is said now, not after minutes of training, even with --no-serve
            # (the development key's links are made from it); a busy port when serving
            check_host(host)
            if serve:
                check_address_free(host, port)
            try:
                _ensure_city(city, size, seed, profile, rate_multiplier)
                for task in TASK_NAMES:
                    dataset, fingerprint = _ensure_dataset(
                        task, city, settings.data_dir / "datasets"
                    )
                    _ensure_champion(task, dataset, city / "truth", settings.mlflow_uri)
                    _ensure_online_features(task, city, settings.data_dir, fingerprint)
                    _ensure_report(task, city, settings.reports_dir, settings.mlflow_uri)
            except ValueError as exc:
                raise UserError(str(exc)) from exc
            _ensure_dev_key(base_url(settings, host, port))
        _say(f"see the runs: mlflow ui --backend-store-uri {settings.mlflow_uri}")
        if serve:
            start_serving(settings, host, port)


def base_url(settings: Settings, host: str, port: int) -> str:
    """Where people reach the service: `RISKLOOP_PUBLIC_URL`, else the address served on."""
    from training.commands.service import default_public_url

    if settings.public_url_is_set:
        return settings.public_url.rstrip("/")
    return default_public_url(host, port)


def start_serving(settings: Settings, host: str, port: int) -> None:
    """Say where the service and its console answer, then become the service (`os.execve`).

    The address is checked again here: minutes of training since the first check leave time
    for another process to take the port, and BentoML would then end in a long traceback.
    """
    from training.commands.service import check_address_free, serve_command, serve_environment

    with user_errors():
        check_address_free(host, port)
    command = serve_command(host, port)
    _say(f"serving on http://{host}:{port} ({' '.join(command)})")
    announce_console(base_url(settings, host, port))
    sys.stdout.flush()
    os.execve(
        command[0],
        command,
        serve_environment(settings, dict(os.environ), Path.cwd(), host, port),
    )


def announce_console(base_url: str) -> None:
    """Say where the console is (under `base_url`: `RISKLOOP_PUBLIC_URL`, else the address
    served on), and how to make its first account when it has none (any
    account counts, a disabled one too: the hint is for a first run)."""
    from training.commands.people import open_store

    _say(f"console: {base_url}/console/")
    with user_errors(), open_store() as store:
        if store.list_users():
            return
    _say(
        f"no console account yet: create one first, e.g. {riskloop_command()} users create "
        "admin --department data_office --role admin (it asks for the password)"
    )


def riskloop_command() -> str:
    """How to call this `riskloop` from the current folder: `riskloop` when the shell finds
    this one by name, else its path (`.venv/bin/riskloop` after `make install`, which puts
    nothing on PATH), so a printed hint works when pasted."""
    import shutil

    command = Path(sys.executable).with_name("riskloop")
    if shutil.which("riskloop") == str(command):
        return "riskloop"
    try:
        return str(command.relative_to(Path.cwd()))
    except ValueError:
        return str(command)
