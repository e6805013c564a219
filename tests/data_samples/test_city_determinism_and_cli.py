"""Same seed, same bytes; a different seed, different data; and the `riskloop generate` command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_samples.city import SIZES, generate_city
from training.cli import app


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_same_seed_same_bytes_and_other_seed_other_data(tmp_path: Path) -> None:
    first = generate_city(tmp_path / "a", size="tiny", seed=11)
    generate_city(tmp_path / "b", size="tiny", seed=11)
    generate_city(tmp_path / "c", size="tiny", seed=12)
    a, b, c = (_digests(tmp_path / name) for name in "abc")
    assert a == b
    assert (
        len(a) == 1 + 11 + 7 + 7 + 4
    )  # manifest, the three tasks' tables, drivers.json + 3 unit files
    changed = [name for name in a if name.endswith(".parquet") and a[name] != c[name]]
    assert len(changed) == sum(name.endswith(".parquet") for name in a)
    assert first == json.loads((tmp_path / "a" / "manifest.json").read_text())


def test_unknown_size_is_refused_by_the_library(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown city size"):
        generate_city(tmp_path, size="huge")


def test_generate_help_explains_itself() -> None:
    result = CliRunner().invoke(app, ["generate", "--help"])
    assert result.exit_code == 0
    for size in SIZES:
        assert size in result.output
    assert "--seed" in result.output and "--out" in result.output


def test_generate_rejects_a_bogus_size_with_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--size", "bogus", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "error: unknown size 'bogus'" in result.output
    assert "Traceback" not in result.output


def test_generate_rejects_an_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        app, ["generate", "--size", "small", "--out", str(blocker / "city")]
    )
    assert result.exit_code == 2
    assert "error: cannot write to" in result.output


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--seed", "-1", "error: --seed must be 0 or more"),
        ("--rate-multiplier", "nan", "error: --rate-multiplier must be above 0 and at most 1000"),
        ("--rate-multiplier", "1e9", "error: --rate-multiplier must be above 0 and at most 1000"),
    ],
)
def test_generate_refuses_out_of_range_numbers_with_one_line(
    tmp_path: Path, option: str, value: str, expected: str
) -> None:
    out = tmp_path / "city"
    result = CliRunner().invoke(
        app, ["generate", "--size", "small", option, value, "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
    assert not out.exists()


def test_a_seed_beyond_64_bits_generates_and_the_library_refuses_a_negative_one(
    tmp_path: Path,
) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warning either
        manifest = generate_city(tmp_path / "big", size="tiny", seed=2**64 + 3)
    assert manifest["seed"] == 2**64 + 3
    with pytest.raises(ValueError, match="seed must be a whole number of 0 or more"):
        generate_city(tmp_path / "negative", size="tiny", seed=-1)


def test_generate_refuses_to_write_over_a_city_of_other_options_without_force(
    tmp_path: Path,
) -> None:
    """The same options write the same bytes again; other options would replace a city that
    datasets and champions were built from: refused in one line unless `--force`."""
    out = tmp_path / "city"
    first = ["generate", "--size", "small", "--seed", "1", "--profile", "clean", "--out", str(out)]
    made = CliRunner().invoke(app, first)
    assert made.exit_code == 0, made.output
    # output not on a terminal: the summary alone, no bar's last frame cut at 80 columns
    assert made.stdout.splitlines()[-1] == f"city written to {out}", made.stdout
    assert "━" not in made.stdout and "generate " not in made.stdout, made.stdout
    assert CliRunner().invoke(app, first).exit_code == 0  # the same city again
    other = [*first[:4], "2", *first[5:]]
    refused = CliRunner().invoke(app, other)
    assert refused.exit_code == 2, refused.output
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "already holds a city (size small, seed 1" in lines[0], lines
    assert "--force" in lines[0]
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1
    assert CliRunner().invoke(app, [*other, "--force"]).exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2


def test_a_city_too_rare_for_some_events_generates_and_training_says_why(tmp_path: Path) -> None:
    """At a tiny rate multiplier some event tables hold no row at all: the city is still
    written (each table with its columns) and a task without events is refused in one line."""
    import pandas as pd

    from models.spec import get_spec
    from training.datasets import build_from_raw
    from training.errors import UserError

    generate_city(tmp_path, size="tiny", seed=5, rate_multiplier=1e-4)
    events = pd.read_parquet(tmp_path / "wage_arrears" / "arrears_events.parquet")
    assert len(events) == 0 and "event_id" in events.columns
    with pytest.raises(UserError, match="column 'label' must hold both 0 and 1, found 0"):
        build_from_raw(get_spec("wage-arrears"), tmp_path)
