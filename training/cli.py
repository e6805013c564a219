"""The `riskloop` command line: one Typer app, thin commands, heavy imports deferred.

Each command family lives in `training/commands/<family>.py` and registers itself here; command
bodies import their heavy dependencies (mlflow, lightgbm, bentoml) lazily so that
`riskloop --help` stays fast.
"""

from __future__ import annotations

import typer

from features.tasks import TASK_NAMES
from models.settings import (
    Settings,
    apply_memory_defaults,
    apply_offline_defaults,
    registry_uri_problem,
    settings_problems,
)
from training.commands import (
    city,
    data,
    loop,
    main_job,
    modelling,
    notify,
    people,
    reporting,
    scale,
    scoring,
    screen,
    service,
)

app = typer.Typer(
    name="riskloop",
    help=(
        "riskloop: the scoring engine of a city's risk closed loop "
        f"({', '.join(TASK_NAMES)}). "
        "Generate a simulated city, build point-in-time datasets, train and promote LightGBM "
        "models tracked in MLflow, serve scores with SHAP reasons, and learn from feedback."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # a docstring's paragraphs reflow to the terminal's width: its own line breaks (at 96
    # columns in the code) broke an 80-column terminal's lines in two
    rich_markup_mode="markdown",
)


@app.callback()
def _main(ctx: typer.Context = None) -> None:  # type: ignore[assignment]
    """riskloop command line (`ctx` is Typer's; None when called outside a command)."""
    _audit_as_cli(ctx)
    apply_offline_defaults()
    apply_memory_defaults()
    # every command: MLflow's INFO lines (a new store's tables, migrations) are not riskloop's
    modelling.quiet_libraries()
    _check_settings()


def _audit_as_cli(ctx: typer.Context | None) -> None:
    """What the command does is audited as coming through the `cli` channel, until it ends (a
    test running commands in its own process goes on outside it; called outside a command,
    nothing is marked)."""
    if ctx is None:
        return
    from serving.audit_channel import AUDIT_CHANNEL

    token = AUDIT_CHANNEL.set("cli")
    ctx.call_on_close(lambda: AUDIT_CHANNEL.reset(token))


def _check_settings() -> None:
    """The `RISKLOOP_*` variables, validated at start-up: one line naming each bad one, exit 2
    (a fresh `Settings`, so the cached one is read as before)."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        typer.echo(f"error: invalid setting {settings_problems(exc)}", err=True)
        raise typer.Exit(2) from None
    problem = registry_uri_problem(settings.mlflow_uri)
    if problem is not None:
        typer.echo(f"error: invalid setting RISKLOOP_MLFLOW_URI: {problem}", err=True)
        raise typer.Exit(2)


for _family in (
    main_job,
    city,
    data,
    modelling,
    scoring,
    service,
    loop,
    reporting,
    scale,
    people,
    screen,
    notify,
):
    _family.register(app)


def main() -> None:
    """The `riskloop` executable: `app`, with a usage error (an unknown command or option, a
    missing or malformed value) as one line on stderr and exit 2, like every other refusal of
    bad input, instead of a framed box over several lines."""
    import sys

    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # Typer's click errors: usage errors carry `ctx`
        message = " ".join(exc.format_message().split())
        if not message:  # no command given: the help was shown already
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        hint = ""
        if ctx is not None:  # a group (`riskloop`, `riskloop users`) lists its commands
            group = hasattr(ctx.command, "list_commands")
            listed = "commands and options" if group else "options"
            hint = f" ('{ctx.command_path} --help' lists the {listed})"
        typer.echo(f"error: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    if code == _INTERRUPTED:  # Typer's answer to Ctrl-C (KeyboardInterrupt), said in a line
        typer.echo(
            "interrupted: stopped before the end (files are written whole or not at all; run "
            "the command again to finish)",
            err=True,
        )
    sys.exit(code if isinstance(code, int) else 0)


#: the exit code Typer gives a command stopped by Ctrl-C (128 + SIGINT), as a shell's
_INTERRUPTED = 130


if __name__ == "__main__":  # `python -m training.cli ...` is the installed `riskloop`
    main()
