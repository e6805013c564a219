"""`riskloop generate`: write the simulated city (raw department tables + ground truth)."""

from __future__ import annotations

from pathlib import Path

import typer

from training.errors import UserError, user_errors

_PUBLIC_SIZES = ("small", "default", "large")


def generate(
    size: str = typer.Option(
        "default",
        "--size",
        help="City size: small (tests, seconds), default (10,000 employers x 36 months, 50,000 residents x 12 months, 20,000 disputes; about a minute) or large (10x default, for scaling benchmarks).",
    ),
    seed: int = typer.Option(
        0, "--seed", help="Random seed. The same seed writes byte-identical files."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder to write into (`<task>/<table>.parquet`, `truth/`, `manifest.json`). Default: `<data dir>/city`, the data dir coming from RISKLOOP_DATA_DIR.",
    ),
    rate_multiplier: float = typer.Option(
        1.0,
        "--rate-multiplier",
        help="Scale every task's base odds of an event (1.0: the documented simulated rates; "
        "above 0, at most 1000).",
    ),
    profile: str = typer.Option(
        "realistic",
        "--profile",
        help="realistic (default: non-additive effects, missing declarations, drift in the last months, partial reporting; see data_samples/README.md) or clean (the additive city of generator 1.0.0, byte for byte).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace a city of other options already in --out (datasets, models and "
        "materialized features built from it no longer match it), or write into a folder "
        "that holds other files and no city.",
    ),
) -> None:
    """Generate the simulated city: each department's raw tables for the three risk tasks.

    Writes one Parquet file per table (keyed, with event_time and available_at), the ground truth under truth/ (true probability and dominant driver per unit and as-of date, the planted drivers and the noise signals) and manifest.json. Every table and column, and the causal structure, are documented in data_samples/README.md.
    """
    with user_errors():
        check_city_options(size, seed, profile, rate_multiplier)
        if out is None:
            from models.settings import get_settings

            out = get_settings().data_dir / "city"
        _check_writable(out)
        if not force:
            _check_not_another_city(out, size, seed, profile, rate_multiplier)
        manifest = _run(out, size, seed, rate_multiplier, profile)
        for slug, task in manifest["tasks"].items():
            typer.echo(
                f"{slug}: {task['units']:,} units, {task['truth_rows']:,} unit-dates, "
                f"mean true probability {task['mean_true_prob']:.2%}"
            )
        typer.echo(f"city written to {out}")


def _check_not_another_city(
    out: Path, size: str, seed: int, profile: str, rate_multiplier: float
) -> None:
    """Refuse to write over a city of other options (the same options write the same bytes):
    a service, datasets and champions may have been built from it; and over a folder holding
    anything but a city (a department's export of its tables, the folder the command runs in,
    a city a stopped run left without its manifest)."""
    import json

    try:
        held = json.loads((out / "manifest.json").read_text("utf-8"))
    except FileNotFoundError:
        found = sorted(path.name for path in out.iterdir())
        if found:
            shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
            raise UserError(
                f"--out {out} is not empty and holds no city (no manifest.json; it holds "
                f"{shown}): the city's tables would replace or sit beside what is there. "
                "Choose an empty or new folder, or pass --force to write there anyway"
            ) from None
        return
    except (OSError, ValueError):
        held = {}
    asked = {"size": size, "seed": seed, "profile": profile, "rate_multiplier": rate_multiplier}
    if held:
        held.setdefault("profile", "clean")  # the clean city's manifest is generator 1.0.0's
    if all(held.get(key) == value for key, value in asked.items()):
        return
    described = ", ".join(f"{key} {held.get(key, '?')}" for key in asked)
    raise UserError(
        f"--out {out} already holds a city ({described}); datasets, models and materialized "
        "features built from it would no longer match: pass --force to replace it, or choose "
        "another --out"
    )


def _check_writable(out: Path) -> None:
    """Fail early, with one clear line, when the output folder cannot be written."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".riskloop-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to {out}: {exc.strerror or exc}") from None


def check_city_options(size: str, seed: int, profile: str, rate_multiplier: float = 1.0) -> None:
    """Refuse, as the command line words it, city options the generator cannot take."""
    from data_samples.city import MAX_RATE_MULTIPLIER, PROFILES, SIZES

    if size not in SIZES:
        raise UserError(f"unknown size {size!r}: choose one of {', '.join(SIZES)}")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    if not 0 < rate_multiplier <= MAX_RATE_MULTIPLIER:  # also refuses nan
        raise UserError(
            f"--rate-multiplier must be above 0 and at most {MAX_RATE_MULTIPLIER:g}, "
            f"got {rate_multiplier:g}"
        )
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")


def _run(out: Path, size: str, seed: int, rate_multiplier: float, profile: str) -> dict:
    """Generate with a progress bar (one step per task chunk) on standard error, where that is a
    terminal (`transient_progress`): `generate | tee log` shows it while the city is written,
    and the log holds the summary lines that follow, not a bar cut at 80 columns."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

    from data_samples.city import generate_city
    from training.commands import transient_progress

    with transient_progress(
        TextColumn("[bold]generate[/bold] {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task(f"{size} {profile} city, seed {seed}", total=None)

        def report(message: str) -> None:
            bar.update(task, description=message, advance=1)

        try:
            return generate_city(
                out,
                size=size,
                seed=seed,
                progress=report,
                rate_multiplier=rate_multiplier,
                profile=profile,
            )
        except OSError as exc:
            raise UserError(f"cannot write the city to {out}: {exc}") from None


def register(app: typer.Typer) -> None:
    """Add `riskloop generate` to the app."""
    app.command("generate")(generate)
