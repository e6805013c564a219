"""CLI commands for people and their data: `users ...`, `audit`, `store purge`, `secrets rotate`.

(`store purge` joins the `store` group that training/commands/loop.py registers.)

Passwords come from a hidden prompt (asked twice) or, for scripts, the first line of stdin
with `--password-stdin`; they never appear on the command line, where `ps` and shell history
would keep them. Every change is an audit row by the person who ran the command (`cli_actor`:
`RISKLOOP_ACTOR`, else the operating-system login).
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from features.tasks import names_in_words
from training.commands import cli_actor
from training.errors import UserError, require_store, user_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from serving.store import WarningStore

_Changed = TypeVar("_Changed")

secrets_app = typer.Typer(
    name="secrets", help="Manage the generated secrets file (0600).", no_args_is_help=True
)
users_app = typer.Typer(
    name="users",
    help="Manage people who sign in to the console (stored in RISKLOOP_STORE_URL).",
    no_args_is_help=True,
)


#: said to the administrator who set a password: it is for the first sign-in only
_OWN_PASSWORD_NOTE = (
    "note: give {name} this password for their next sign-in only; they then choose their own "
    "on the console's password page (修改密码, /console/password)"
)
#: added where the deployment requires it (`RISKLOOP_REQUIRE_OWN_PASSWORD`)
_REQUIRED_NOTE = (
    "; until they do, the console opens only that page for them and the API gives them no "
    "session (RISKLOOP_REQUIRE_OWN_PASSWORD)"
)


def own_password_note(name: str) -> str:
    """What the administrator who set `name`'s password is told, as the deployment has it."""
    from models.settings import get_settings

    required = _REQUIRED_NOTE if get_settings().require_own_password else ""
    return _OWN_PASSWORD_NOTE.format(name=name) + required


def open_store() -> WarningStore:
    """The warnings store named by the settings (migrated on open; an embedded SQLite store
    and the secrets file are created on first use)."""
    from serving.store import WarningStore

    return WarningStore.from_settings()


def open_existing_store() -> WarningStore:
    """`open_store` for a command that only reads the store or changes what is in it: a
    SQLite store whose file is not there is refused in one line. Opening would create an
    empty store (and a new secrets file) in the folder the command ran from, and the command
    then reported no rows, no user or no key as if that were the deployment's answer."""
    require_store()
    return open_store()


def existing_pseudonym_secret() -> str:
    """The deployment's pseudonym key (`RISKLOOP_PSEUDONYM_SECRET`, else the secrets file's),
    for a command that keys data by pseudonym; a secrets file that is not there is refused in
    one line, never created: a new file holds a new key, and pseudonyms made under it match
    none the deployment holds (the service would then find nobody, and say no error)."""
    from models.secret_keys import load_secrets, secrets_path
    from models.settings import get_settings

    settings = get_settings()
    if settings.pseudonym_secret is not None:
        return settings.pseudonym_secret.get_secret_value()
    path = secrets_path(settings)
    if not path.exists():
        raise UserError(
            f"no secrets file at {path.absolute()} (the deployment's pseudonym key): run "
            "riskloop from the folder it was set up in or set RISKLOOP_SECRETS_FILE; if it "
            "was lost, restore it from its backup (docs/privacy.md): a new one would hold "
            "another key. Only a new installation gets one from `riskloop store upgrade`"
        )
    return load_secrets(settings, create=False).pseudonym_secret


def read_password(from_stdin: bool) -> str:
    """A new password: stdin's first line, or a hidden prompt asked twice on the terminal.

    Without a terminal (a scheduler, a pipe, `< /dev/null` with no controlling terminal) the
    prompt is refused before it is asked: `getpass` would warn that the password may be
    echoed, read an empty line and end in an `Abort`."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UserError("--password-stdin: no password on stdin")
        return password
    if not _has_terminal():
        raise UserError("no terminal to ask the password on: use --password-stdin")
    first = typer.prompt("password", hide_input=True)
    second = typer.prompt("repeat password", hide_input=True)
    if first != second:
        raise UserError("the two passwords differ")
    return str(first)


def _has_terminal() -> bool:
    """Whether a hidden prompt can be asked: where `getpass` asks it, stdin when it is a
    terminal, else the process's controlling terminal (`/dev/tty`, so a redirected stdin is
    no obstacle when a person sits at a terminal)."""
    if sys.stdin.isatty():
        return True
    try:
        terminal = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(terminal)
    return True


def parse_day(text: str | None, option: str) -> datetime | None:
    """A date option as the city's midnight (`models.pages.CITY_TIME`, the day its people and
    the console's timelines count in), or a moment with its time zone (as the API's `since`
    takes); a clear error for anything else, and for a day or moment outside the days the
    store holds (`serving.store.reads.out_of_range`: 1970 to 9998). Answered in UTC."""
    from models.pages import CITY_TIME
    from serving.store.reads import out_of_range

    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        _check_in_range(out_of_range(day, option))
        return datetime(day.year, day.month, day.day, tzinfo=CITY_TIME).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or not _offset_is_a_clock_reading(text):
        raise UserError(
            f"{option} must be a date like 2026-11-01 or a time with its zone like "
            f"2026-11-01T08:00:00+08:00, got {text!r}"
        )
    _check_in_range(out_of_range(moment, option))
    return moment.astimezone(UTC)


def _check_in_range(problem: str | None) -> None:
    if problem is not None:
        raise UserError(problem)


#: A time's zone offset as written: hours, minutes and seconds, each with or without a colon
_OFFSET = re.compile(r"[+-]\d{2}:?(?P<minutes>\d{2})(?::?(?P<seconds>\d{2})(?:\.\d+)?)?$")


def _offset_is_a_clock_reading(text: str) -> bool:
    """False for an offset with 60 or more minutes or seconds: `datetime.fromisoformat` reads
    `+09:99` as +10:39, a typo taken silently for another moment."""
    found = _OFFSET.search(text)
    if found is None:  # "Z", or no offset
        return True
    return all(int(part) < 60 for part in found.group("minutes", "seconds") if part is not None)


def city_time(moment: str | datetime) -> str:
    """A stored moment as every command prints it: the city's time with its offset
    (`2026-12-06T09:30:00+08:00`), as the console's timelines and `--since` read it."""
    from serving.store.common import city_moment

    return city_moment(moment) or ""


def audit_line(row: dict[str, Any]) -> str:
    """One audit row as one line: when (`city_time`), who, what, on which task, its details,
    and the model version (`-` for a row without one). The version comes last, so that the
    columns before it keep the places scripts split them from. The actor is written escaped
    (`one_line`): a row kept from before the store escaped a name typed at a failed sign-in
    may hold a tab or a line break, which would forge a row of its own here."""
    from serving.store.free_text import one_line

    detail = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
    actor = one_line(str(row["actor"]))
    version = one_line(str(row["model_version"])) if row["model_version"] else "-"
    return "\t".join(
        (city_time(row["at"]), actor, row["action"], row["task"] or "-", detail, version)
    )


def store_purge(
    before: str | None = typer.Option(
        None,
        help="Purge what is older than this date (YYYY-MM-DD, from the city's midnight; not "
        "after today), or 'now' for everything until now (default: RISKLOOP_RETENTION_DAYS).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would go."),
) -> None:
    """Delete old scored records' features and old closed warnings' encrypted ids."""
    from models.pages import CITY_TIME
    from models.settings import get_settings

    with user_errors():
        now = datetime.now(UTC)
        if before is not None and before.strip().lower() == "now":
            moment = now
        else:
            moment = parse_day(before, "--before") or (
                now - timedelta(days=get_settings().retention_days)
            )
        day, today = moment.astimezone(CITY_TIME).date(), now.astimezone(CITY_TIME).date()
        if day > today:
            raise UserError(
                f"--before {day} is after today ({today} in the city); give a past "
                "date, 'now' to purge everything scored until now, or leave it out to keep "
                "RISKLOOP_RETENTION_DAYS"
            )
        with open_existing_store() as store:
            counts = store.purge(before=moment, actor=cli_actor(), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    typer.echo(
        f"{verb}: features of {counts.scored_records} scored records and the encrypted ids "
        f"of {counts.warning_ids} warnings closed before {city_time(counts.before)}"
        + ("" if dry_run else " (audit log and outcome figures kept)")
    )
    if not counts.compacted:
        typer.echo(
            "error: the removed values are still in the database's files (other processes' "
            "checkpoints kept its log busy for over a minute); run the purge again when the "
            "service is quieter",
            err=True,
        )
        raise typer.Exit(1)


def _key_names() -> set[str]:
    """The names of every API key ever created (revoked ones too: their rows stay in the log)."""
    from serving.auth import KeyManagementError, list_keys

    try:
        return {record.name for record in list_keys()}
    except KeyManagementError as exc:
        raise UserError(str(exc)) from None


def _looked_up_actor(text: str) -> str:
    """`--actor` as the audit log records a CLI runner's name (`actor_name`: spaces and
    invisible characters folded, at most 64 characters), for a bare NAME or `cli:NAME`; another
    kind (`user:`, `key:`, `system:`) is looked up as typed. An empty name is refused."""
    from training.commands import actor_name

    kind, colon, name = text.partition(":")
    if not actor_name(name if colon else text):
        raise UserError("--actor needs a name: user:NAME, key:NAME, cli:NAME or a bare NAME")
    if not colon:
        return actor_name(text)
    return f"cli:{actor_name(name)}" if kind == "cli" else text


def _audit_bound(text: str | None, option: str) -> datetime | date | None:
    """`--since` or `--until` as `audit_window` takes it: a day of the city (a date), or a
    moment with its zone (`parse_day`'s refusal for anything else)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return parse_day(text, option)


def _known_task(given: str) -> str:
    """A `--task` given to `audit` as the audit log records it (its name, `wage-arrears`);
    a name no task has is one line listing those there are."""
    from features.tasks import UnknownTaskError, get_task

    try:
        return get_task(given.strip()).name
    except UnknownTaskError as exc:
        raise UserError(f"--task: {exc}") from None


def _said_warning(store: WarningStore, given: str) -> str:
    """The warning id `given` names (`WarningStore.audit_warning`), said on stderr when it was
    not given whole; a refusal is one line."""
    from serving.store.reads import AuditFilterError

    try:
        found = store.audit_warning(given)
    except AuditFilterError as exc:
        raise UserError(f"--warning: {exc}") from None
    if found != given:
        typer.echo(f"{given} is warning {found}", err=True)
    return found


#: The bounds of `riskloop audit` as its refusals name them
_BOUNDS = ("--since", "--until")


def _check_one_actor(store: WarningStore, name: str) -> None:
    """Refuse a bare `--actor NAME` that names both a person and an API key (an older store,
    or a key created after the person): their rows would print as one actor's story."""
    from serving.store import UserNotFound

    try:
        store.get_user(name)
    except UserNotFound:
        return
    if name in _key_names():
        raise UserError(
            f"{name!r} is both a person and an API key: give --actor user:{name} or "
            f"--actor key:{name}"
        )


def _change_account(typed: str, change: Callable[[WarningStore, str], _Changed]) -> _Changed:
    """One change to the account named `typed`, given its name as sign-in folds it (`ZHAO`
    is zhao: `typed_user_name`); a refusal is one line and exit 2."""
    from serving.store import PeopleError, UserNotFound
    from serving.store.people import typed_user_name

    with user_errors():
        try:
            with open_existing_store() as store:
                return change(store, typed_user_name(typed))
        except (PeopleError, UserNotFound) as exc:
            raise UserError(str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app."""

    @users_app.command("create")
    def users_create(
        name: str = typer.Argument(..., help="Sign-in name: lower-case letters, digits, _ . -"),
        department: str = typer.Option(..., help="Department code, e.g. labour_inspection."),
        role: str = typer.Option(..., help="officer, supervisor, auditor or admin."),
        display_name: str | None = typer.Option(None, help="Name shown in the console."),
        lang: str = typer.Option("zh", help="Console language: zh or en."),
        password_stdin: bool = typer.Option(
            False, "--password-stdin", help="Read the password from stdin's first line."
        ),
    ) -> None:
        """Create a person's account (password hashed with Argon2; at least 12 characters, 6
        of them different, no pattern repeated, no walk along the digits, the alphabet or a
        keyboard row, not holding the sign-in name)."""
        from models.departments import UnknownDepartmentError, get_department
        from serving.store import PeopleError
        from serving.store.models import ROLES
        from serving.store.passwords import check_password_strength

        with user_errors():
            # refuse what needs no store before asking for a password
            if role not in ROLES:
                raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
            try:
                get_department(department)  # the store checks again, against its own table
            except UnknownDepartmentError as exc:
                raise UserError(str(exc)) from None
            if name in _key_names():
                raise UserError(
                    f"{name!r} is the name of an API key (RISKLOOP_KEYS_FILE): the audit log "
                    "would tell the person's rows from the key's by prefix only; choose another name"
                )
            password = read_password(password_stdin)
            try:
                check_password_strength(password, name)
                with open_store() as store:
                    user = store.create_user(
                        name,
                        department=department,
                        role=role,
                        password=password,
                        display_name=display_name,
                        lang=lang,
                        actor=cli_actor(),
                    )
            except PeopleError as exc:
                raise UserError(str(exc)) from None
        typer.echo(f"created {user.name} ({user.role}, {user.department})")
        typer.echo(own_password_note(user.name), err=True)

    @users_app.command("list")
    def users_list() -> None:
        """List people: name, department, role, language, created, state."""
        with user_errors(), open_existing_store() as store:
            users = store.list_users()
        if not users:
            typer.echo("no users")
            return
        for user in users:
            state = f"disabled {city_time(user.disabled_at)}" if user.disabled_at else "active"
            if (
                user.locked_until is not None
                and user.disabled_at is None
                and (user.locked_until > datetime.now(UTC))
            ):
                state = f"locked until {city_time(user.locked_until)}"
            typer.echo(
                f"{user.name}\t{user.display_name}\t{user.department}\t{user.role}\t"
                f"{user.lang}\tcreated {city_time(user.created_at)}\t{state}"
            )

    @users_app.command("disable")
    def users_disable(name: str = typer.Argument(..., help="Sign-in name.")) -> None:
        """Disable an account (kept for the record; it can no longer sign in)."""
        user = _change_account(
            name, lambda store, folded: store.disable_user(folded, actor=cli_actor())
        )
        typer.echo(f"disabled {user.name}")

    @users_app.command("enable")
    def users_enable(name: str = typer.Argument(..., help="Sign-in name.")) -> None:
        """Let a disabled account sign in again (password and department unchanged)."""
        user = _change_account(
            name, lambda store, folded: store.enable_user(folded, actor=cli_actor())
        )
        typer.echo(f"enabled {user.name}")

    @users_app.command("reset-password")
    def users_reset_password(
        name: str = typer.Argument(..., help="Sign-in name."),
        password_stdin: bool = typer.Option(
            False, "--password-stdin", help="Read the password from stdin's first line."
        ),
    ) -> None:
        """Set a new password (not the current one) and lift a lockout (`users unlock` lifts
        one and keeps the password)."""
        with user_errors():
            password = read_password(password_stdin)
        user = _change_account(
            name, lambda store, folded: store.reset_password(folded, password, actor=cli_actor())
        )
        typer.echo(f"password reset for {user.name}")
        typer.echo(own_password_note(user.name), err=True)
        if user.disabled_at is not None:
            typer.echo(
                f"{user.name} is still disabled: `riskloop users enable {user.name}` lets the "
                "account sign in again"
            )

    @users_app.command("unlock")
    def users_unlock(name: str = typer.Argument(..., help="Sign-in name.")) -> None:
        """Lift a lockout after too many wrong passwords (password and sessions unchanged)."""
        lifted = _change_account(
            name, lambda store, folded: store.unlock_user(folded, actor=cli_actor())
        )
        name = lifted.user.name
        if lifted.locked_until is not None:
            typer.echo(
                f"unlocked {name} (was locked until {city_time(lifted.locked_until)}); its "
                "password and sessions are unchanged"
            )
        elif lifted.changed:
            typer.echo(
                f"{name} was not locked; its count of wrong passwords in a row "
                f"({lifted.failed_attempts}) is back to 0 (password and sessions unchanged)"
            )
        else:
            typer.echo(f"{name} is not locked: nothing to lift")
        if lifted.user.disabled_at is not None:
            typer.echo(
                f"{name} is still disabled: `riskloop users enable {name}` lets the account "
                "sign in again"
            )

    @app.command("audit")
    def audit(
        warning: str | None = typer.Option(
            None,
            help="Every row about this warning: its id, or the start of it that names one "
            "warning (at least the 8 digits of the short id, W- optional, any case).",
        ),
        actor: str | None = typer.Option(
            None, help="Every row by this actor (user:alice, key:ingest, or a bare name)."
        ),
        task: str | None = typer.Option(
            None,
            help=f"Only rows about this task ({names_in_words()}): its warnings, scorings, "
            "screens and models.",
        ),
        action: list[str] | None = typer.Option(
            None,
            help="Only rows of this action (identity_reveal, warning_read...); repeat it or "
            "separate actions with commas. An unknown action is refused with the list.",
        ),
        since: str | None = typer.Option(
            None,
            help="Only rows on or after this date (from the city's midnight, Asia/Shanghai) or "
            "time with its zone; not after now.",
        ),
        until: str | None = typer.Option(
            None,
            help="Only rows before this time with its zone, or through this whole date (before "
            "the next day's midnight in the city).",
        ),
    ) -> None:
        """Print the audit log's story in order: of one warning, one actor, one task, or
        actions.

        Give at least one of --warning, --actor, --task and --action; every filter given
        holds, and --since/--until bound any of them. One row a line, tab-separated: the time (the city's,
        UTC+8), the actor, the action, the task, the details as JSON and the model version
        (`-` when the row has none). The read is audited itself, as the API's is: an
        `audit_read` row by the person running it, with the filter asked and the number of
        rows printed.
        """
        from serving.store.reads import AuditFilterError, audit_window

        with user_errors():
            if warning is None and actor is None and task is None and not action:
                raise UserError(
                    "give at least one of --warning ID, --actor NAME, --task NAME or --action NAME"
                )
            if task is not None:
                task = _known_task(task)
            if actor is not None:
                actor = _looked_up_actor(actor)
            bounds = _audit_bound(since, "--since"), _audit_bound(until, "--until")
            try:
                start, end = audit_window(*bounds, now=datetime.now(UTC), names=_BOUNDS)
            except AuditFilterError as exc:
                raise UserError(str(exc)) from None
            with open_existing_store() as store:
                try:
                    actions = store.checked_audit_actions(action) if action else None
                except AuditFilterError as exc:
                    raise UserError(f"--action: {exc}") from None
                if actor is not None and ":" not in actor:
                    _check_one_actor(store, actor)
                if warning is not None:
                    warning = _said_warning(store, warning)
                rows = store.audit_rows(
                    warning_id=warning,
                    actor=actor,
                    actions=actions,
                    since=start,
                    until=end,
                    task=task,
                )
                store.audit_read(
                    actor=cli_actor(),
                    rows=len(rows),
                    warning_id=warning,
                    of_actor=actor,
                    task=task,
                    actions=actions,
                    since=start,
                    until=end,
                )
        if not rows:
            typer.echo("no audit rows", err=True)  # stderr: the output holds rows only
            return
        for row in rows:
            typer.echo(audit_line(row))

    @secrets_app.command("rotate")
    def secrets_rotate() -> None:
        """Add a new encryption key and make it current (old keys stay for old ids)."""
        from models.secret_keys import SecretsFileError, rotate_encryption_key, secrets_path

        with (
            user_errors(),
            open_existing_store() as store,
        ):  # the store first: no rotation without its row
            try:
                key_id = rotate_encryption_key()
            except SecretsFileError as exc:
                raise UserError(str(exc)) from None
            detail = {"key_id": key_id, "file": str(secrets_path())}
            store.audit(actor=cli_actor(), action="encryption_key_rotated", detail=detail)
        typer.echo(
            f"new encryption key {key_id} in {secrets_path()}: new warnings use it from now on "
            "(a running service within a second, no restart); back the file up now"
        )

    @secrets_app.command("start-over")
    def secrets_start_over(
        lost: bool = typer.Option(
            False,
            "--lost-without-backup",
            help="Say that the store's secrets file is lost and no backup of it exists.",
        ),
    ) -> None:
        """Give the warnings store a new secrets file where its own is lost for good.

        Only where no backup exists: restore the file from its backup otherwise
        (docs/privacy.md). Every warning, outcome and audit row is kept, but the ids of the
        warnings raised so far can never be revealed again (their encryption keys were in
        the lost file), and the units scored from now on get pseudonyms that meet none of the
        stored ones. Audited (`secrets_start_over`).
        """
        from models.secret_keys import (
            SecretsFileError,
            existing_store,
            load_secrets,
            make_secrets_anew,
        )
        from models.settings import get_settings
        from serving.store import WarningStore
        from serving.store.identity import EntityCipher
        from serving.store.outbox import Outbox

        with user_errors():
            if not lost:
                raise UserError(
                    "start-over gives the store new keys for good: the ids of its warnings can "
                    "never be revealed again. Restore the secrets file from its backup instead "
                    "(docs/privacy.md); if none exists, run again with --lost-without-backup"
                )
            settings = get_settings()
            if settings.pseudonym_secret is not None:
                raise UserError(
                    "RISKLOOP_PSEUDONYM_SECRET is set: the pseudonym key comes from it, not "
                    "from a secrets file; set the value the store was made with instead"
                )
            try:
                store_name = existing_store(settings)
                if store_name is None:
                    raise UserError(
                        f"there is no warnings store at {settings.store_url} yet: nothing to "
                        "start over (the first command that needs keys makes them)"
                    )
                path = make_secrets_anew(settings)
            except SecretsFileError as exc:
                raise UserError(str(exc)) from None
            try:
                keys = load_secrets(settings, create=False)
                cipher = EntityCipher(keys.encryption_keys, keys.current_key_id)
                with WarningStore(
                    settings.store_url, keys.pseudonym_secret, cipher, start_over_by=cli_actor()
                ) as store:
                    started = store.started_over
                    # sealed with the lost keys (`serving.store.sealed_urls`)
                    unopened = sorted(Outbox(store).unopened_webhooks())
            except BaseException:
                path.unlink(missing_ok=True)  # made just now: the store did not take it
                raise
        if started is None:
            typer.echo(
                f"new secrets file {path}: the store {store_name} had no key of its own to "
                "lose and took it; back the file up now with the store (docs/privacy.md)"
            )
            return
        typer.echo(
            f"new secrets file {path}: the store {store_name} now uses its keys; back it up "
            "now with the store (docs/privacy.md)\n"
            f"kept: {started.warnings} warnings with their history, outcomes and audit rows\n"
            f"lost: the ids of {started.sealed_ids} warnings can no longer be revealed; units "
            "scored from now on get new pseudonyms, so a unit warned before is warned anew, "
            "not updated; console sessions end\n"
            + (
                f"lost: the webhook URLs of {', '.join(unopened)}, sealed with the old keys; "
                "their notifications are held until each is set again with `riskloop "
                "departments set-webhook`\n"
                if unopened
                else ""
            )
            + "next: `riskloop materialize` again before scoring by id, and restart the service"
        )

    app.add_typer(users_app)
    app.add_typer(secrets_app)
