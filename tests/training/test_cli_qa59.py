"""QA round 59: what a data scientist met on the CLI.

- `run --no-serve --host localhost` built the whole city, datasets, champions and reports, then
  ended in a traceback (the host was checked only when serving).
- `tune --seed 50000` failed for a valid seed with "cannot use Optuna storage": the sampler's
  seed was derived past Optuna's range (2**32 - 1), and the option had no range.
- `promote` after the city was generated anew in the same folder said nothing of the champion
  having been trained on other tables; `report` then said "rebuilt from X, the folder the
  version was trained on" and "rebuilt from X, whose fingerprint is not the version's training
  data", which read as two stories.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from tests.training.test_cli_qa58 import _refused
from training.cli import app
from training.commands.reporting import _not_logged_because
from training.datasets import TrainingData
from training.promote import _champion_notes
from training.report import RunInfo

TASK = "telecom-fraud"


def test_run_refuses_a_host_name_before_any_work_even_without_serving(isolated_env: Path) -> None:
    for host in ("localhost", "", "999.1.1.1"):
        _refused(
            ["run", "--no-serve", "--size", "small", "--host", host],
            f"--host {host!r} is not an IP address",
        )
    assert not (isolated_env / "data").exists()  # no city, no dataset: refused first


def test_tune_takes_every_seed_train_takes(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    dataset = isolated_env / "fraud.parquet"
    city_data[TASK].frame.to_parquet(dataset)
    storage = f"sqlite:///{isolated_env / 'shared.db'}"
    common = ["tune", "--task", TASK, "--storage", storage, "--trials", "1"]
    common += ["--dataset", str(dataset), "--max-rounds", "5"]
    runner = CliRunner()
    big = runner.invoke(app, [*common, "--study", "big", "--seed", str(2**32 - 1)])
    assert big.exit_code == 0, (big.output, big.exception)
    for seed in ("-1", str(2**32)):
        refused = runner.invoke(app, [*common, "--study", "out", "--seed", seed])
        assert refused.exit_code == 2 and "--seed" in refused.output, refused.output


def _data(source: str, fingerprint: str) -> TrainingData:
    return TrainingData(pd.DataFrame(), source, fingerprint)


def test_promote_says_the_champions_folder_held_other_tables_then() -> None:
    splits = type("Splits", (), {"test": pd.DataFrame({"as_of": pd.to_datetime(["2026-01-01"])})})
    tags = {"riskloop.dataset_source": "/city"}
    same = _champion_notes(tags, {"dataset_fingerprint": "aaaa"}, _data("/city", "aaaa"), splits)
    assert same == ()  # type: ignore[comparison-overlap]
    [changed] = _champion_notes(
        tags, {"dataset_fingerprint": "aaaa"}, _data("/city", "bbbb"), splits
    )
    assert changed == (
        "the champion was trained on /city as it was then (dataset fingerprint aaaa); both were "
        "judged on the data there now (bbbb)"
    )
    [other] = _champion_notes(tags, {"dataset_fingerprint": "aaaa"}, _data("/x", "bbbb"), splits)
    assert other == "the champion was trained on /city; both were judged on /x"


def test_a_report_on_the_same_folder_changed_since_says_so(tmp_path: Path) -> None:
    run = RunInfo(run_id="r1", params={"dataset_fingerprint": "aaaa"}, trained_on=str(tmp_path))
    changed = RunInfo(**{**run.__dict__, "test_source": str(tmp_path), "test_fingerprint": "bb"})
    said = _not_logged_because(changed)
    assert said.startswith(f"the folder the version was trained on, {tmp_path}, has changed")
    assert "dataset fingerprint bb is not the version's training data (aaaa)" in said
    elsewhere = RunInfo(**{**run.__dict__, "test_source": "/other", "test_fingerprint": "bb"})
    assert _not_logged_because(elsewhere).startswith(
        "the test slice was rebuilt from /other, whose dataset fingerprint bb"
    )
    same = RunInfo(**{**run.__dict__, "test_source": str(tmp_path), "test_fingerprint": "aaaa"})
    assert _not_logged_because(same) == ""
