"""CLI commands for the service: `serve`, `keys create|list|revoke`, `materialize`."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from features.tasks import TASK_NAMES, names_in_words
from training.commands import cli_actor
from training.commands.people import (
    city_time,
    existing_pseudonym_secret,
    open_existing_store,
    open_store,
)
from training.errors import UserError, user_errors

if TYPE_CHECKING:
    import pandas as pd

    from models.settings import Settings
    from serving.auth import KeyRecord
    from serving.store import WarningStore

SERVICE_IMPORT = "serving.service:RiskloopService"

keys_app = typer.Typer(
    name="keys", help="Manage API keys (stored hashed in RISKLOOP_KEYS_FILE).", no_args_is_help=True
)


def bentoml_command() -> Path:
    """This installation's `bentoml` (beside its Python: a shell without the venv on its PATH
    finds none)."""
    return Path(sys.executable).with_name("bentoml")


def serve_command(host: str, port: int) -> list[str]:
    """The `bentoml serve` command line `riskloop serve` runs."""
    return [str(bentoml_command()), "serve", SERVICE_IMPORT, "--host", host, "--port", str(port)]


def absolute_sqlite_url(url: str, base: Path) -> str:
    """`sqlite:///relative.db` anchored at `base`; other URLs and absolute paths unchanged."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path = url.removeprefix(prefix)
    if not path or path.startswith("/") or path == ":memory:" or path.startswith("file:"):
        return url
    return f"{prefix}{(base / path).resolve()}"


def default_public_url(host: str, port: int) -> str:
    """The base URL of notification links when `RISKLOOP_PUBLIC_URL` is not set: the address the
    service listens on, loopback for "every interface" (which no browser can open)."""
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{port}"


def metrics_home(data_dir: Path, host: str, port: int) -> Path:
    """The BentoML home of the service listening on `host`:`port`: `<data_dir>/serve/<host>-<port>`,
    made 0700 (its own `/metrics` counters).

    BentoML keeps the counters `/metrics` publishes in `$BENTOML_HOME/prometheus_multiproc_dir`
    (the home is the only way to choose that folder) and empties it at start: two services on
    one host sharing the default home published each other's traffic, and the second start
    wiped the first's. One address is one live service, so the folder is that service's alone.
    """
    address = host.replace(":", "_")  # an IPv6 address
    home = data_dir / "serve" / f"{address}-{port}"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def serve_environment(
    settings: Settings, environ: dict[str, str], base: Path, host: str, port: int
) -> dict[str, str]:
    """The service's environment: `environ` with every relative setting anchored at `base`,
    and the notification links' base URL the service's own address unless it is set.

    `riskloop serve` runs BentoML in the caller's working directory; anchoring the relative
    paths and SQLite URLs as well means no worker (or a BentoML that changes directory) can
    read another folder's registry, store, keys or online features than the one the user's
    `riskloop run` or `riskloop train` wrote in that directory.

    BentoML's home is the service's own (`metrics_home`), unless the champions come from
    BentoML's model store (`RISKLOOP_MODEL_SOURCE=bento`), which lives in the home it has.
    """
    from models.secret_keys import secrets_path

    data_dir = (base / settings.data_dir).resolve()
    env = {
        **environ,
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "RISKLOOP_MLFLOW_URI": absolute_sqlite_url(settings.mlflow_uri, base),
        "RISKLOOP_STORE_URL": absolute_sqlite_url(settings.store_url, base),
        "RISKLOOP_DATA_DIR": str(data_dir),
        "RISKLOOP_REPORTS_DIR": str((base / settings.reports_dir).resolve()),
        "RISKLOOP_KEYS_FILE": str((base / settings.keys_file).resolve()),
        "RISKLOOP_SECRETS_FILE": str((base / secrets_path(settings)).resolve()),
    }
    env.setdefault("RISKLOOP_PUBLIC_URL", default_public_url(host, port))
    if settings.model_source == "registry":
        env["BENTOML_HOME"] = str(metrics_home(data_dir, host, port))
    if settings.artifact_location is not None and "://" not in settings.artifact_location:
        env["RISKLOOP_ARTIFACT_LOCATION"] = str((base / settings.artifact_location).resolve())
    return env


def build_scoring_set(task: str, raw_dir: Path) -> pd.DataFrame:
    """The unlabelled scoring set of `task` from a raw city folder (latest as-of per entity)."""
    from features.dataset import build_dataset
    from training.raw_io import load_raw_tables

    tables = load_raw_tables(raw_dir, task)
    return build_dataset(task, tables, unlabelled=True)


def check_host(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """`--host` as the IP address it must be (BentoML takes an IP address only), else refused
    in one line."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        raise UserError(
            f"--host {host!r} is not an IP address (127.0.0.1, or 0.0.0.0 for every interface)"
        ) from None


def check_address_free(host: str, port: int) -> None:
    """Refuse a host:port this process cannot bind, before anything is started or touched.

    BentoML binds the port only after it has emptied `$BENTOML_HOME/prometheus_multiproc_dir`,
    the metrics files of a service that may be running on that very port (`metrics_home`
    gives each address its own): a second start on a busy port would blank the first one's
    /metrics and end in a long traceback.
    """
    family = socket.AF_INET6 if check_host(host).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as BentoML's own socket does: a port left in TIME_WAIT by a stopped service is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"{host}:{port} is already in use; stop the other service or choose --port"
                ) from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def preflight() -> None:
    """Refuse to start a service that could not serve: checked before BentoML forks workers.

    BentoML restarts a worker whose start-up fails, again and again, so a missing champion or
    a production service without keys would loop instead of exiting; say why here, once.
    """
    from models.registry import RegistryError
    from models.secret_keys import SecretsFileError, load_secrets
    from models.settings import get_settings
    from serving.auth import KeyRing
    from training.tracking import require_registry

    require_registry()  # a mistyped path: said before the secrets file or the store is made
    settings = get_settings()
    try:
        load_secrets(settings)  # made on first use; refused when others may read it
    except SecretsFileError as exc:
        raise UserError(str(exc)) from None
    if settings.env == "production" and KeyRing(settings.keys_file).active_count() == 0:
        raise UserError(
            f"RISKLOOP_ENV=production and no active API key in {settings.keys_file}: "
            "create one with `riskloop keys create NAME --scopes score,...`"
        )
    from models.registry import RegistryUnavailable, check_version, load_registered_version
    from models.risk_model import ModelLoadError
    from models.spec import get_spec
    from serving.store import WarningStore

    WarningStore.from_settings(settings).close()  # StoreUnavailable: one line, not a loop
    for task in TASK_NAMES:
        try:
            client, version = load_registered_version(task, "champion", settings.mlflow_uri)
            # a champion that is not a riskloop model of this task would fail every worker's
            # start-up: its metadata is checked here (no booster loaded)
            check_version(client, version, settings.mlflow_uri, get_spec(task))
        except (RegistryUnavailable, ModelLoadError) as exc:
            raise UserError(str(exc)) from None
        except RegistryError:
            raise UserError(
                f"no champion model for task {task} in the MLflow registry at "
                f"{settings.mlflow_uri}; train one with `riskloop train --task {task}`"
            ) from None


def _task_name(task: str) -> str:
    from models.spec import UnknownTaskError, get_spec

    try:
        return get_spec(task).task
    except UnknownTaskError as exc:
        raise UserError(str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app."""

    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 exposes it)."),
        port: int = typer.Option(3000, min=1, max=65535, help="TCP port."),
    ) -> None:
        """Start the scoring service (BentoML) with each task's champion model."""
        with user_errors():
            check_address_free(host, port)
            preflight()
        from models.settings import get_settings

        command = serve_command(host, port)
        env = serve_environment(get_settings(), dict(os.environ), Path.cwd(), host, port)
        os.execve(command[0], command, env)

    def _check_store_key(secret: str) -> None:
        """Where the warnings store exists, the online rows must be keyed as its pseudonyms
        are: a machine with another RISKLOOP_PSEUDONYM_SECRET (or another installation's
        secrets file) materialized rows the service then never found ("not materialized"),
        saying no error. The store refuses another key (`KeyMismatch`) in one line."""
        from models.secret_keys import existing_store
        from models.settings import get_settings
        from serving.store import WarningStore

        settings = get_settings()
        if existing_store(settings) is not None:
            WarningStore(settings.store_url, secret).close()

    @app.command()
    def materialize(
        task: str = typer.Option(..., help=f"{names_in_words()}."),
        raw: Path = typer.Option(..., help="Raw city folder (as `riskloop generate` writes)."),
    ) -> None:
        """Write each entity's latest features to the online store for `entity_ids` scoring.

        The rows are keyed by the deployment's pseudonym key: a secrets file that is not there
        (run from another folder) is refused before the features are built, never made with a
        new key, and so is a key the warnings store, where it exists, was not made with."""
        from functools import partial

        from features.dataset import build_dataset
        from serving.online_store import materialize as write_online
        from serving.store.pseudonym import pseudonymise
        from training.raw_io import load_raw_tables

        with user_errors():
            name = _task_name(task)
            tables = load_raw_tables(raw, name)  # a bad folder is named first, as it was
            secret = existing_pseudonym_secret()  # before the features are built
            _check_store_key(secret)
            frame = build_dataset(name, tables, unlabelled=True)
            if frame.empty:  # an empty export must not wipe the features being served
                raise UserError(
                    f"no {name} entities to materialize from {raw}; the online store is "
                    "left as it was"
                )
            try:
                path = write_online(name, frame, pseudonymise=partial(pseudonymise, secret))
            except OSError as exc:
                raise UserError(
                    f"cannot write the online store under RISKLOOP_DATA_DIR: {exc.strerror or exc}"
                    f" ({exc.filename})"
                ) from None
            typer.echo(f"materialized {frame['entity_id'].nunique()} {name} entities -> {path}")

    @keys_app.command("create")
    def keys_create(
        name: str = typer.Argument(..., help="Who holds the key (shown in the audit log)."),
        scopes: str = typer.Option(
            ..., help="Comma-separated scopes: score, review, feedback, reveal, audit, admin."
        ),
        department: str | None = typer.Option(
            None, help="Bind the key to a department code: it sees only that department's cases."
        ),
    ) -> None:
        """Create a key and print it alone on stdout, once: only its hash is stored."""
        from serving.auth import KeyManagementError, issue_key, list_keys
        from serving.policy import unusable_scopes

        with user_errors():
            unusable = unusable_scopes([scope.strip() for scope in scopes.split(",")])
            if unusable:
                raise UserError(f"key {name!r} not created: {unusable}")
            try:  # a damaged keys file refused before the store is opened (or made)
                list_keys()
            except KeyManagementError as exc:
                raise UserError(str(exc)) from None
        with user_errors(), open_store() as store:  # the store first: no key without its row
            if any(user.name == name for user in store.list_users()):
                raise UserError(
                    f"{name!r} is a person's name (riskloop users list): the audit log would tell "
                    "the key's rows from the person's by prefix only; choose another name"
                )
            try:
                secret, record = issue_key(name, scopes.split(","), department=department)
            except KeyManagementError as exc:
                raise UserError(str(exc)) from None
            except OSError as exc:
                raise UserError(_keys_file_unwritable(exc)) from None
            audit_key_change(store, "api_key_created", record)
        typer.echo(secret)

    @keys_app.command("list")
    def keys_list() -> None:
        """List keys: name, id, scopes, created, revoked (never the key itself). A keys file
        that is not there is refused: run from another folder, "no keys" is not the
        deployment's answer."""
        from models.settings import get_settings
        from serving.auth import KeyManagementError, list_keys

        with user_errors():
            keys_file = get_settings().keys_file
            if not keys_file.exists():
                raise UserError(
                    f"no keys file at {keys_file.absolute()} (RISKLOOP_KEYS_FILE={keys_file}): "
                    "run riskloop from the folder it was set up in or set RISKLOOP_KEYS_FILE; "
                    "`riskloop keys create` creates it"
                )
            try:
                records = list_keys()
            except KeyManagementError as exc:
                raise UserError(str(exc)) from None
        if not records:
            typer.echo("no keys")
            return
        for record in records:
            state = f"revoked {city_time(record.revoked_at)}" if record.revoked_at else "active"
            typer.echo(
                f"{record.name}\t{record.key_id}\t{','.join(record.scopes)}\t"
                f"{record.department or '-'}\tcreated {city_time(record.created_at)}\t{state}"
            )

    @keys_app.command("revoke")
    def keys_revoke(
        name: str = typer.Argument(
            ..., help="Name or id of the key to revoke (`riskloop keys list` shows both)."
        ),
    ) -> None:
        """Revoke a key: requests with it get 401 from then on (the service needs no restart)."""
        from serving.auth import KeyManagementError, list_keys, revoke_key

        with user_errors():
            try:  # a damaged keys file named before the store is looked at
                records = list_keys()
            except KeyManagementError as exc:
                raise UserError(str(exc)) from None
        with user_errors(), open_existing_store() as store:
            try:
                record = revoke_key(key_name(name, records))
            except KeyManagementError as exc:
                raise UserError(str(exc)) from None
            except OSError as exc:
                raise UserError(_keys_file_unwritable(exc)) from None
            audit_key_change(store, "api_key_revoked", record)
        typer.echo(f"revoked {record.name} ({record.key_id})")

    app.add_typer(keys_app)


def key_name(given: str, records: list[KeyRecord]) -> str:
    """The name of the active key `given` names: its name, or else its id (`keys list` shows
    both, and ids are unique), or a `UserError` saying what `given` is instead."""
    if any(record.name == given and record.active for record in records):
        return given
    for record in records:
        if record.key_id == given:
            if record.revoked_at is None:
                return record.name
            raise UserError(
                f"key {given} ({record.name}) was already revoked {city_time(record.revoked_at)}"
            )
    if any(record.name == given for record in records):
        raise UserError(f"the key named {given!r} was already revoked (riskloop keys list)")
    raise UserError(
        f"no active key named {given!r} or with that id; riskloop keys list shows each key's "
        "name and id"
    )


def audit_key_change(store: WarningStore, action: str, record: KeyRecord) -> None:
    """The audit row of a key created or revoked (`api_key_created`, `api_key_revoked`): its
    name, id, scopes and department, never the secret or its hash."""
    detail = {
        "key": record.name,
        "key_id": record.key_id,
        "scopes": list(record.scopes),
        "department": record.department,
    }
    store.audit(actor=cli_actor(), action=action, detail=detail)


def _keys_file_unwritable(exc: OSError) -> str:
    from models.settings import get_settings

    return f"cannot write the keys file {get_settings().keys_file}: {exc.strerror or exc}"
