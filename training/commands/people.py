"""CLI commands for people: `users create|list|disable|reset-password`.

Passwords come from a hidden prompt (asked twice) or, for scripts, the first line of stdin
with `--password-stdin`; they never appear on the command line, where `ps` and shell history
would keep them. Every change is an audit row (actor `system:cli`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from training.errors import UserError, user_errors

if TYPE_CHECKING:
    from serving.store import WarningStore

CLI_ACTOR = "system:cli"

users_app = typer.Typer(
    name="users",
    help="Manage people who sign in to the console (stored in RISKLOOP_STORE_URL).",
    no_args_is_help=True,
)


def open_store() -> WarningStore:
    """The warnings store named by the settings (migrated on open)."""
    from serving.store import WarningStore

    return WarningStore.from_settings()


def read_password(from_stdin: bool) -> str:
    """A new password: stdin's first line, or a hidden prompt asked twice."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UserError("--password-stdin: no password on stdin")
        return password
    first = typer.prompt("password", hide_input=True)
    second = typer.prompt("repeat password", hide_input=True)
    if first != second:
        raise UserError("the two passwords differ")
    return str(first)


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
        """Create a person's account (password hashed with Argon2; at least 12 characters)."""
        from serving.store import PeopleError
        from serving.store.models import ROLES
        from serving.store.people import check_password_strength

        with user_errors():
            # refuse what needs no store before asking for a password
            if role not in ROLES:
                raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
            password = read_password(password_stdin)
            try:
                check_password_strength(password)
                with open_store() as store:
                    user = store.create_user(
                        name,
                        department=department,
                        role=role,
                        password=password,
                        display_name=display_name,
                        lang=lang,
                        actor=CLI_ACTOR,
                    )
            except PeopleError as exc:
                raise UserError(str(exc)) from None
        typer.echo(f"created {user.name} ({user.role}, {user.department})")

    @users_app.command("list")
    def users_list() -> None:
        """List people: name, department, role, language, created, state."""
        with open_store() as store:
            users = store.list_users()
        if not users:
            typer.echo("no users")
            return
        for user in users:
            public = user.public()
            state = f"disabled {public['disabled_at']}" if user.disabled_at else "active"
            if user.locked_until is not None and user.disabled_at is None:
                state = f"locked until {public['locked_until']}"
            typer.echo(
                f"{user.name}\t{user.display_name}\t{user.department}\t{user.role}\t"
                f"{user.lang}\tcreated {public['created_at']}\t{state}"
            )

    @users_app.command("disable")
    def users_disable(name: str = typer.Argument(..., help="Sign-in name.")) -> None:
        """Disable an account (kept for the record; it can no longer sign in)."""
        from serving.store import PeopleError, UserNotFound

        with user_errors():
            try:
                with open_store() as store:
                    user = store.disable_user(name, actor=CLI_ACTOR)
            except (PeopleError, UserNotFound) as exc:
                raise UserError(str(exc)) from None
        typer.echo(f"disabled {user.name}")

    @users_app.command("reset-password")
    def users_reset_password(
        name: str = typer.Argument(..., help="Sign-in name."),
        password_stdin: bool = typer.Option(
            False, "--password-stdin", help="Read the password from stdin's first line."
        ),
    ) -> None:
        """Set a new password and lift a lockout."""
        from serving.store import PeopleError, UserNotFound

        with user_errors():
            password = read_password(password_stdin)
            try:
                with open_store() as store:
                    user = store.reset_password(name, password, actor=CLI_ACTOR)
            except (PeopleError, UserNotFound) as exc:
                raise UserError(str(exc)) from None
        typer.echo(f"password reset for {user.name}")

    app.add_typer(users_app)
