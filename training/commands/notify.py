"""Notifications and deadlines from the command line.

- `riskloop notify --once | --loop | --dead | --requeue`: deliver the outbox (for deployments
  that run delivery as its own process instead of the service's thread), list dead letters,
  put them back in line.
- `riskloop overdue [--task T] [--department D[,D]]`: note the newly missed deadlines of
  those cases (one `overdue` event each; every case's without a filter) and list every
  overdue one with the department it waits on.
- `riskloop departments set-webhook DEPT URL --secret-file FILE`: a department's endpoint; the
  signing secret is read from FILE (or, when FILE does not exist yet, generated into it with
  mode 0600 for handing to the receiving system). It is never printed; a FILE group or others
  may read, or a guessable secret in it, is refused, and so is a URL whose host the HTTP client
  cannot send to. URLs are printed with their query values and userinfo masked.
- `riskloop departments remove-webhook DEPT`: the department gets no more notifications; its
  signing secret is deleted, and its pending ones are held (not posted, not dead-lettered)
  until a webhook is set again.
- `riskloop departments set-capacity DEPT N`: how many warnings a month the department can
  handle (audited); the console's dashboard sets this month's volume against it.
"""

from __future__ import annotations

import logging
import os
import secrets as secrets_module
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer

from features.tasks import names_in_words
from training.commands import cli_actor
from training.errors import UserError, user_errors

if TYPE_CHECKING:
    from models.settings import Settings
    from serving.store import WarningStore
    from serving.store.outbox import Outbox

OVERDUE_ACTOR = "system:overdue"

departments_app = typer.Typer(
    name="departments",
    help="Departments' notification endpoints (webhooks) and monthly capacities.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add `notify`, `overdue` and the `departments` group to the app."""
    app.command("notify")(notify)
    app.command("overdue")(overdue)
    departments_app.command("set-webhook")(set_webhook)
    departments_app.command("remove-webhook")(remove_webhook)
    departments_app.command("webhooks")(list_webhooks)
    departments_app.command("ping")(ping)
    # "-5" is the capacity asked for (refused below), not an unknown option
    departments_app.command("set-capacity", context_settings={"ignore_unknown_options": True})(
        set_capacity
    )
    app.add_typer(departments_app)


def _open_store() -> WarningStore:
    """The settings' warnings store; every command here works on what a deployment holds
    (delivery, overdue sweeps, listings, a department's webhook or capacity), so a SQLite
    store whose file is not there is refused in one line instead of created in the folder
    the command ran from, where the deployment would never see what was set."""
    from training.commands.people import open_existing_store

    return open_existing_store()


def notify(
    once: bool = typer.Option(False, "--once", help="Deliver everything due now, then exit."),
    loop: bool = typer.Option(False, "--loop", help="Keep delivering until interrupted."),
    dead: bool = typer.Option(False, "--dead", help="List dead-lettered notifications."),
    requeue: bool = typer.Option(
        False, "--requeue", help="Put dead notifications back in line (all, or --event ids)."
    ),
    event: list[str] = typer.Option(
        [], "--event", help="With --requeue: only this event id (repeatable)."
    ),
    interval: float = typer.Option(
        5.0, "--interval", min=0.1, help="With --loop: seconds between rounds when idle."
    ),
) -> None:
    """Deliver department notifications (the outbox), or inspect and requeue dead letters.

    With --loop it keeps going while the warnings store restarts (rounds are skipped and
    logged, delivery resumes by itself); --once, --dead and --requeue end in one error line
    (exit 2) when the store does not answer.
    """
    from models.settings import get_settings
    from serving.delivery import Deliverer
    from serving.store.outbox import Outbox

    with user_errors(), _outage_in_one_line():
        chosen = [
            name
            for name, on in (
                ("--once", once),
                ("--loop", loop),
                ("--dead", dead),
                ("--requeue", requeue),
            )
            if on
        ]
        if len(chosen) != 1:
            raise UserError("choose exactly one of --once, --loop, --dead, --requeue")
        if event and not requeue:
            raise UserError("--event goes with --requeue")
        if loop:
            settings = get_settings()
            _check_public_url(settings)
            _deliver_forever(settings, interval)
            return
        with _open_store() as store:
            outbox = Outbox(store)
            if dead:
                rows = outbox.dead()
                for row in rows:
                    typer.echo(
                        f"{row['event_id']}\t{row['type']}\t{row['department']}\t"
                        f"{row['warning_id']}\tattempts {row['attempts']}\t{row['last_error']}"
                    )
                typer.echo(f"{len(rows)} dead notification(s)")
                return
            if requeue:
                if event:  # all or nothing: a mistyped id requeues none of the others
                    _check_dead(outbox, list(dict.fromkeys(event)))
                count = outbox.requeue(event or None, now=datetime.now(UTC), actor=cli_actor())
                typer.echo(f"requeued {count} notification(s)")
                return
            settings = get_settings()
            _check_public_url(settings)
            deliverer = Deliverer(store, settings)
            try:
                report = deliverer.drain()
                typer.echo(
                    f"delivered {report.delivered}, retrying {report.retried}, "
                    f"dead {report.dead}, newly overdue {len(report.overdue)}; "
                    f"{_dead_letters(outbox)}"
                )
            finally:
                deliverer.close()


def _deliver_forever(settings: Settings, interval: float) -> None:
    """`notify --loop`: deliver until Ctrl-C, outliving the warnings store's outages.

    The unit that runs it (systemd `Restart=always`) must not crash-loop while the database
    restarts: a store that does not answer at start is waited for, and a round it does not
    answer is skipped, as in the service's own delivery thread (`Deliverer.run_forever`; the
    outage is logged when it starts, about once a minute while it lasts and when it ends).
    A store that cannot be opened for any other reason (a wrong URL) is one error line, exit 2.
    """
    from serving.delivery import Deliverer, RoundReport, logger
    from serving.store.outbox import Outbox

    if not logger.hasHandlers():  # Python's last resort prints warnings only: a department's
        logger.addHandler(logging.StreamHandler())  # deliveries recovering is an INFO line
    try:
        with _store_when_it_answers(interval) as store:
            outbox = Outbox(store)
            deliverer = Deliverer(store, settings)
            said_backlog = False

            def after_round(report: RoundReport) -> None:
                nonlocal said_backlog
                if report.dead:
                    typer.echo(
                        f"{report.dead} notification(s) dead-lettered; {_dead_letters(outbox)}",
                        err=True,
                    )
                elif not said_backlog:  # at start: how many dead letters wait
                    typer.echo(_dead_letters(outbox), err=True)
                said_backlog = True

            try:
                deliverer.run_forever(threading.Event(), interval, after_round=after_round)
            finally:
                deliverer.close()
    except KeyboardInterrupt:
        typer.echo("stopped")


def _store_when_it_answers(interval: float) -> WarningStore:
    """The warnings store, opened once its server answers (waiting `interval` between tries,
    the wait logged as a delivery outage); any other reason it cannot be opened is raised."""
    from serving.delivery import OutageLog, logger
    from serving.store.common import StoreUnavailable, is_outage

    outage = OutageLog(logger, "notification round")
    while True:
        try:
            store = _open_store()
        except StoreUnavailable as exc:
            if exc.__cause__ is None or not is_outage(exc.__cause__):
                raise
            outage.failed(exc.__cause__)
            time.sleep(interval)
            continue
        outage.answered()
        return store


@contextmanager
def _outage_in_one_line() -> Iterator[None]:
    """A warnings store that stops answering during a command: one error line, exit 2 (with
    `user_errors` around it), not SQLAlchemy's traceback."""
    from sqlalchemy.exc import DBAPIError

    from serving.store.common import OUTAGE_MESSAGE, is_outage, outage_cause

    try:
        yield
    except DBAPIError as exc:
        if not is_outage(exc):
            raise
        raise UserError(f"{OUTAGE_MESSAGE} ({outage_cause(exc)})") from None


def _check_public_url(settings: Settings) -> None:
    """A command that delivers outside the service says when its links may go nowhere.

    `riskloop serve` makes an unset `RISKLOOP_PUBLIC_URL` its own address; this process has no
    address, so its events would link to the default one whichever port the service has. With
    RISKLOOP_ENV=production that is refused (nothing is sent, the events wait); elsewhere one
    line on stderr says so.
    """
    if settings.public_url_is_set:
        return
    problem = (
        f"RISKLOOP_PUBLIC_URL is not set: the case links in notifications would start with "
        f"{settings.public_url}, which departments may not reach; set it to the address they "
        "reach the service at"
    )
    if settings.env == "production":
        raise UserError(f"{problem} (RISKLOOP_ENV=production: nothing sent)")
    typer.echo(f"warning: {problem}", err=True)


def _dead_letters(outbox: Outbox) -> str:
    """How many dead letters wait in the outbox, and where to see them."""
    dead = outbox.counts()["dead"]
    hint = " (`riskloop notify --dead` lists them, --requeue sends them again)" if dead else ""
    return f"{dead} dead letter(s) in the outbox{hint}"


def _check_dead(outbox: Outbox, event_ids: list[str]) -> None:
    states = outbox.states(event_ids)
    unknown = [e for e in event_ids if e not in states]
    if unknown:
        raise UserError(
            f"no notification {', '.join(unknown)}; `riskloop notify --dead` lists the dead ones"
            " (nothing requeued)"
        )
    alive = [f"{e} ({states[e]})" for e in event_ids if states[e] != "dead"]
    if alive:
        raise UserError(
            f"not dead letters: {', '.join(alive)}; only dead ones are requeued (nothing requeued)"
        )


def overdue(
    task: str | None = typer.Option(None, "--task", help=f"Only this task: {names_in_words()}."),
    department: list[str] | None = typer.Option(
        None,
        "--department",
        help="Only cases waiting on this department (its code, or its Chinese or English "
        "name); `outside` (or 外部机构, as the console's filter) for the cases dispatched to "
        "outside bodies. Repeat it or separate departments with commas.",
    ),
) -> None:
    """Note newly missed deadlines, then list every overdue case, most late first.

    With --task or --department, only those cases' deadlines are noted and listed.
    """
    from models.departments import OUTSIDE_BODIES, department_code
    from models.spec import UnknownTaskError, get_spec
    from serving.store.deadlines import DEADLINE_OF_STATUS, holder
    from training.commands.people import city_time

    with user_errors(), _outage_in_one_line():
        spec_task = None
        if task is not None:
            try:
                spec_task = get_spec(task).task
            except UnknownTaskError as exc:
                raise UserError(str(exc)) from None
        codes = None if not department else _department_codes(department)
        with _open_store() as store:
            noted: list[str] = []
            sweeps: list[str | None] = [*codes] if codes else [None]
            for swept in sweeps:  # one sweep a department: a case waits on one
                noted += store.note_overdue(actor=OVERDUE_ACTOR, task=spec_task, department=swept)
            items = _all_overdue(store, spec_task)
    now = datetime.now(UTC)
    rows = []
    for item in items:
        waiting_on = holder(item["task"], item["status"], item["department"])
        if codes is not None:
            known = department_code(waiting_on) if waiting_on else None
            at_outside_body = bool(waiting_on) and known is None
            if (OUTSIDE_BODIES if at_outside_body else known) not in codes:
                continue
        due = datetime.fromisoformat(item["due_at"])
        rows.append((due, item, waiting_on))
    rows.sort(key=lambda row: row[0])
    for due, item, waiting_on in rows:
        late_h = (now - due).total_seconds() / 3600
        typer.echo(
            f"{item['id']}\t{item['task']}\t{item['risk_level']}\t{item['status']}\t"
            f"{DEADLINE_OF_STATUS.get(item['status'], '-')}\t{waiting_on}\t"
            f"due {city_time(due)}\tlate {late_h:.1f} h"
        )
    typer.echo(f"{len(rows)} overdue case(s); {len(noted)} newly overdue recorded")


def _department_codes(given: list[str]) -> list[str]:
    """The departments `--department` names (each value may list several, comma-separated),
    as codes, `OUTSIDE_BODIES` for the outside bodies; an item naming none is refused."""
    from models.departments import OUTSIDE_BODIES, department_code
    from serving.console.i18n import outside_bodies_spellings

    named = [part.strip() for text in given for part in text.split(",") if part.strip()]
    if not named:
        raise UserError("--department needs a department's code or name, e.g. labour_inspection")
    codes: list[str] = []
    for name in named:
        code = department_code(name)  # as a dispatch reads it
        if name.casefold() in outside_bodies_spellings():  # as the console's filter
            code = OUTSIDE_BODIES
        if code is None:
            raise UserError(
                f"unknown department {name!r}; give its code or its Chinese or English name, "
                f"or `{OUTSIDE_BODIES}` for every outside body (several: comma-separated)"
            )
        codes.append(code)
    return list(dict.fromkeys(codes))


def _all_overdue(store, task: str | None) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every overdue warning: a walk, so a warning falling due meanwhile moves nothing."""
    from serving.store.walk import WALK_START

    items: list[dict] = []
    cursor: str | None = WALK_START
    while cursor is not None:
        found = store.list_warnings(task=task, overdue=True, cursor=cursor, page_size=500)
        items += found["items"]
        cursor = found["next_cursor"]
    return items


def set_webhook(
    department: str = typer.Argument(..., help="Department code, e.g. labour_inspection."),
    url: str = typer.Argument(..., help="Endpoint URL (https:// required in production)."),
    secret_file: Path = typer.Option(
        ...,
        "--secret-file",
        help="The signing secret: read from this file, or generated into it (mode 0600) when "
        "it does not exist yet, for handing to the receiving system.",
    ),
) -> None:
    """Set a department's webhook URL and signing secret (the secret is never printed)."""
    from models.secret_keys import SecretsFileError, check_file_mode
    from models.settings import get_settings
    from serving.store.common import utc_now
    from serving.store.outbox import Outbox, shown_url
    from serving.webhook_secrets import SecretBook, WebhookSecretError, check_secret, set_secret

    with user_errors():
        _known_department(department)
        settings = get_settings()
        _check_url(url, production=settings.env == "production")
        try:  # before anything is written: a damaged file would stop it halfway
            SecretBook(settings.webhook_secrets_file).check()
        except SecretsFileError as exc:
            raise UserError(f"{exc}; no webhook was set") from None
        if secret_file.is_dir():  # before its mode: a folder's 0755 is no leak to chmod away
            raise UserError(
                f"--secret-file {secret_file} is a folder, not a file; give the path of the "
                "file holding (or to hold) the signing secret; no webhook was set"
            )
        if secret_file.exists():
            try:  # the rule of riskloop's own secrets files: readable by its owner only
                check_file_mode(secret_file)
                secret = check_secret(secret_file.read_text(encoding="utf-8"))
            except SecretsFileError as exc:
                raise UserError(f"{exc}; no webhook was set") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"cannot read {secret_file}: {exc}") from None
            except WebhookSecretError as exc:
                raise UserError(f"{secret_file}: {exc}; no webhook was set") from None
            generated = False
        else:
            secret = secrets_module.token_urlsafe(32)
            generated = True
        with _open_store() as store:
            if generated:
                _write_private(secret_file, secret)
            try:
                set_secret(department, secret)
            except OSError as exc:
                raise UserError(
                    f"cannot write the webhook secrets file {settings.webhook_secrets_file}: "
                    f"{exc.strerror or exc}; no webhook was set"
                ) from None
            Outbox(store).set_webhook(department, url, now=utc_now(), actor=cli_actor())
    origin = "generated into" if generated else "read from"
    typer.echo(f"{department}: webhook {shown_url(url)}; signing secret {origin} {secret_file}")


def remove_webhook(
    department: str = typer.Argument(..., help="Department code, e.g. labour_inspection."),
) -> None:
    """Remove a department's webhook and its signing secret (audited): it gets no new
    notifications, and those pending wait, not posted, until a webhook is set again."""
    from models.secret_keys import SecretsFileError
    from models.settings import get_settings
    from serving.store.common import utc_now
    from serving.store.outbox import Outbox, shown_url
    from serving.webhook_secrets import remove_secret

    with user_errors(), _outage_in_one_line():
        _known_department(department)
        with _open_store() as store:
            try:
                url, held = Outbox(store).remove_webhook(
                    department, now=utc_now(), actor=cli_actor()
                )
            except LookupError:
                raise UserError(
                    f"department {department} has no webhook; nothing removed "
                    "(`riskloop departments webhooks` lists them)"
                ) from None
        secrets_file = get_settings().webhook_secrets_file
        try:
            remove_secret(department, secrets_file)
        except (OSError, SecretsFileError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise UserError(
                f"{department}: webhook removed, but its signing secret is still in "
                f"{secrets_file}: {problem}"
            ) from None
    shown = "(its sealed URL did not open here)" if url is None else shown_url(url)
    typer.echo(
        f"{department}: webhook {shown} removed, signing secret deleted; "
        f"{held} pending notification(s) held (not posted) until a webhook is set again; "
        "new events are not queued"
    )


def set_capacity(
    department: str = typer.Argument(..., help="Department code, e.g. labour_inspection."),
    per_month: str = typer.Argument(
        ..., metavar="N_PER_MONTH", help="Warnings a month it can handle (a whole number >= 0)."
    ),
) -> None:
    """Set how many warnings a month a department can handle (audited)."""
    from serving.store import PeopleError
    from serving.store.people import MAX_CAPACITY

    with user_errors():
        text = per_month.strip()
        if not text.isascii() or not text.isdigit():
            raise UserError(f"capacity {per_month!r} is not a whole number of 0 or more")
        # the store refuses a number past its limit; one with more digits than the limit (int()
        # of thousands of them would fail) is refused here, naming the same limit
        if len(text.lstrip("0")) > len(str(MAX_CAPACITY)):
            raise UserError(
                f"capacity {per_month!r} is too large: at most {MAX_CAPACITY:,} warnings a month"
            )
        with _open_store() as store:
            try:
                before = store.set_capacity(department, int(text), actor=cli_actor())
            except PeopleError as exc:
                raise UserError(str(exc)) from None
    was = "not set" if before is None else f"{before}"
    typer.echo(f"{department}: capacity {int(text)} warnings a month (was {was})")


def list_webhooks() -> None:
    """Departments with a webhook, and their URLs (secrets, query values and userinfo are
    never shown: a token may sit there); then those without one whose pending notifications
    are held (its webhook was removed)."""
    from serving.store.outbox import Outbox, shown_url

    with user_errors(), _open_store() as store:
        outbox = Outbox(store)
        hooks, unopened = outbox.webhook_urls()
        backlog = outbox.backlog()
    for department, url in hooks.items():
        typer.echo(f"{department}\t{shown_url(url)}")
    for department, why in unopened.items():
        typer.echo(
            f"{department}\tnot posted to: {why}; set its webhook again with `riskloop "
            "departments set-webhook`"
        )
    for department, waiting in sorted(backlog.items()):
        if department not in hooks and department not in unopened and waiting["pending"]:
            typer.echo(
                f"{department}\tno webhook\t{waiting['pending']} pending notification(s) held"
                " until one is set"
            )
    typer.echo(f"{len(hooks) + len(unopened)} webhook(s)")


def ping(
    department: str = typer.Argument(..., help="Department code."),
) -> None:
    """Send a signed `ping` to a department's webhook and show the answer's status."""
    from models.settings import get_settings
    from serving.delivery import Deliverer, EndpointRefused, PostFailed
    from serving.store.outbox import Outbox, shown_url

    with user_errors(), _outage_in_one_line():
        _known_department(department)
        with _open_store() as store:
            hooks, unopened_by_department = Outbox(store).webhook_urls()
            url = hooks.get(department)
            unopened = unopened_by_department.get(department)
            if unopened is not None:
                raise UserError(
                    f"department {department}: {unopened}; set its webhook again with "
                    "`riskloop departments set-webhook`"
                )
            if url is None:
                raise UserError(
                    f"department {department} has no webhook; set one with "
                    "`riskloop departments set-webhook`"
                )
            settings = get_settings()
            _check_public_url(settings)
            deliverer = Deliverer(store, settings)
            try:
                status = deliverer.ping(department, url)
            except EndpointRefused as exc:
                raise UserError(f"{shown_url(url)}: {exc}") from None
            except LookupError as exc:
                raise UserError(str(exc)) from None
            except PostFailed as exc:
                raise UserError(f"{shown_url(url)}: {exc}") from None
            finally:
                deliverer.close()
        if not 200 <= status < 300:
            raise UserError(f"{shown_url(url)} answered HTTP {status}")
    typer.echo(f"{department}: {shown_url(url)} answered HTTP {status}")


def _check_url(url: str, *, production: bool) -> None:
    """An absolute http(s) URL with a host that reads one way (`read_one_way`: what is shown is
    where notifications go) and that the HTTP client can send to (`_unsendable`); https only
    when RISKLOOP_ENV=production."""
    from serving.store.outbox import read_one_way, shown_url
    from serving.store.sealed_urls import MAX_URL_CHARS

    if len(url) > MAX_URL_CHARS:
        raise UserError(
            f"a webhook URL is at most {MAX_URL_CHARS} characters; this one has {len(url)}"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        # shown masked: a password holding '/', '#' or '[' made the parser read it as the
        # host and port, and the message echoed it
        raise UserError(
            f"{shown_url(url)!r} is not a URL with a host and a numeric port (a password "
            "holding / # ? @ [ must be percent-encoded)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{shown_url(url)!r} is not an http(s) URL with a host")
    if any(char.isspace() for char in parts.netloc):
        raise UserError(f"{shown_url(url)!r}: a host holds no white space")
    if parts.port == 0:
        raise UserError(f"{shown_url(url)!r}: port 0 is no port a receiver listens on")
    if read_one_way(url) is None:
        # an @ after the host: a password holding / ? or # made the user name the host and
        # the start of the password its port (https://bob:2024/xyz@hooks.example.org/in)
        raise UserError(
            f"{shown_url(url)!r} does not read one way (an @ after its host, outside a query "
            "value): a password holding / ? # @ must be percent-encoded (%2F %3F %23 %40)"
        )
    if production and parts.scheme != "https":
        raise UserError(
            f"{shown_url(url)!r}: RISKLOOP_ENV=production requires an https:// webhook URL"
        )
    problem = _unsendable(url)
    if problem is not None:
        raise UserError(f"{shown_url(url)!r}: {problem}")


def _unsendable(url: str) -> str | None:
    """Why the HTTP client could not send to `url`, a URL `_check_url` read one way, or None:
    a host it refuses (a soft hyphen, a zero-width space), an `xn--` label that is not valid
    Punycode, or a host the resolver cannot encode (an empty label as in `a..b`, one over 63
    characters). Each was accepted once and then failed every delivery attempt."""
    import httpx

    try:
        target = httpx.URL(url)
        target.host  # noqa: B018 - decodes its xn-- labels, as a request does
        host = target.raw_host.decode("ascii")
        if ":" not in host:  # an IPv6 literal needs no encoding
            host.encode("idna")  # as the resolver does
    except (httpx.InvalidURL, UnicodeError) as exc:
        return (
            f"its host is not one the HTTP client can send to ({exc}); a host name's labels "
            "are 1 to 63 letters, digits or hyphens (an xn-- label valid Punycode)"
        )
    return None


def _write_private(path: Path, secret: str) -> None:
    """Create `path` (not overwrite) readable by its owner only, holding the secret."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UserError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")


def _known_department(department: str) -> None:
    """Refuse, in one line, a department code riskloop does not know (it names the codes)."""
    from models.departments import UnknownDepartmentError, get_department

    try:
        get_department(department)
    except UnknownDepartmentError as exc:
        raise UserError(str(exc)) from None
