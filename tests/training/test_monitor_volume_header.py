"""`riskloop monitor`'s warning-volume table says what its shares are over: units (the latest
score of each unit and date). It was headed "warning volume (5947 scored records)" while its
shares were over 743 units (20/743 = 0.027)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tests.training.test_monitor import TASK, _levels, _population, _record
from training.cli import app


def test_the_volume_table_names_the_units_its_shares_are_over(isolated_env: Path) -> None:
    rng = np.random.default_rng(23)
    reference = isolated_env / "reference.parquet"
    _population(rng, 1000, arrears_rate=0.1).to_parquet(reference)
    population = _population(rng, 300, arrears_rate=0.1)
    _record(population, "V", n_closed=0)
    _record(population.iloc[:200], "V", n_closed=0)  # scored again for the same date
    result = CliRunner().invoke(
        app,
        ["monitor", "--task", TASK, "--reference", str(reference), "--out", "volume.json"],
        terminal_width=120,
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "warning volume: shares of 300 units" in out, out
    assert "500 scored records: a unit scored again for the same date counts once" in out
    counts = pd.Series(_levels(population["score"])).value_counts()
    for level in ("red", "orange", "yellow"):
        count = int(counts.get(level, 0))
        row = re.search(rf"│ {level} +│ +(\d+) │ +([\d.]+) │", out)
        assert row is not None, out
        assert int(row.group(1)) == count
        assert row.group(2) == f"{count / 300:.3f}"  # the share is over the 300 units named
