"""`riskloop screen` (QA, operations and programme office):

- run where the warnings store is not, it created an empty store and a new secrets file (a new
  pseudonym key) there and raised its warnings into them; `train --with-feedback` opened a
  missing store the same way. Both are now refused in one line, and nothing is created.
- its capacity note counted, per task, the department each level's action names, while the
  dashboard counted the warnings each department holds this month over every task: the two
  said different departments were over. Both now read one count (`serving.store.capacity`).
- it counted a closed warning whose new score was only noted (`score_after_close`, figures
  kept) as updated, and its dry run said only what it would raise. Closed ones are counted
  apart (output and audit row), and the dry run gives every count the real run then gives.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from mlflow import MlflowClient
from typer.testing import CliRunner

from models.registry import registered_model_name
from models.settings import get_settings
from serving.console.dashboard import capacity_rows
from serving.store import WarningStore
from training.cli import app

TASK = "wage-arrears"  # owned by county_centre, as dispute-escalation is


def _store() -> WarningStore:
    return WarningStore.from_settings(get_settings())


def _dashboard_volumes() -> dict[str, int]:
    """The city view's capacity table, as the console's dashboard renders it."""
    with _store() as store:
        _, volumes = store.held_in_month(datetime.now(UTC))
        rows = capacity_rows(store.list_departments(), volumes, "en", "unlisted")
    return {row["code"]: row["volume"] for row in rows}


def test_screen_and_train_with_feedback_refuse_a_missing_store_and_create_nothing(
    isolated_env: Path, small_city: Path
) -> None:
    runner = CliRunner()
    before = sorted(path.name for path in isolated_env.iterdir())
    for args in (
        ["screen", "--task", TASK, "--raw", str(small_city)],
        ["screen", "--task", TASK, "--raw", str(small_city), "--dry-run"],
        ["train", "--task", TASK, "--raw", str(small_city), "--with-feedback"],
        [
            "build-dataset", "--task", TASK, "--raw", str(small_city), "--with-feedback",
            "--out", str(isolated_env / "out" / "dataset.parquet"),
        ],
    ):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: no warnings store at "), result.stderr
        assert str(isolated_env / "riskloop.db") in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        # no store, no secrets file, no MLflow artifacts: refused before any work
        assert sorted(path.name for path in isolated_env.iterdir()) == before, args


def test_screen_counts_capacity_as_the_dashboard_and_closed_warnings_apart(
    isolated_env: Path, small_city: Path
) -> None:
    runner = CliRunner()
    raw = ["--raw", str(small_city)]
    assert runner.invoke(app, ["store", "upgrade"]).exit_code == 0
    for rounds in ("10", "12"):  # two versions: the second re-scores what the first raised
        trained = runner.invoke(app, ["train", "--task", TASK, *raw, "--max-rounds", rounds])
        assert trained.exit_code == 0, trained.output
    client, name = MlflowClient(), registered_model_name(TASK)
    client.set_registered_model_alias(name, "champion", "1")
    with _store() as store:
        store.set_capacity("county_centre", 1)
        store.set_capacity("labour_inspection", 0)
        # another task's case of this month, held by the same owner: a capacity spans tasks
        store.record_scores(
            actor="clerk",
            task="dispute-escalation",
            model_name="m",
            model_version="1",
            results=[
                {
                    "entity_id": "D-1",
                    "score": 0.9,
                    "risk_level": "red",
                    "reasons": [],
                    "actions": [],
                    "features": {},
                }
            ],
        )

    dry = runner.invoke(app, ["screen", "--task", TASK, *raw, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    first_dry = r"would raise (\d+) new warnings, update 0, leave 0 "
    would = int(re.search(first_dry, dry.stdout)[1])
    assert would > 2
    assert f"county_centre would hold {would + 1} warnings raised in" in dry.stdout
    with _store() as store:  # read-only
        assert len(store.warnings_frame(task=TASK)) == 0

    screened = runner.invoke(app, ["screen", "--task", TASK, *raw])
    assert screened.exit_code == 0, screened.output
    assert f"raised {would}, updated 0, unchanged 0, after close 0 " in screened.stdout
    assert f"county_centre holds {would + 1} warnings raised in" in screened.stdout
    assert _dashboard_volumes()["county_centre"] == would + 1

    with _store() as store:  # one case dispatched to labour inspection, two red ones closed
        warnings = store.warnings_frame(task=TASK).sort_values("score", ascending=False)
        second, third, first = warnings["id"].tolist()[:3]
        store.add_feedback(
            first,
            actor="clerk",
            status="dispatched",
            department="labour_inspection",
            outcome=None,
            note=None,
        )
        for warning_id in (second, third):
            store.add_feedback(
                warning_id,
                actor="clerk",
                status="closed",
                department=None,
                outcome="false_alarm",
                note=None,
            )
    client.set_registered_model_alias(name, "champion", "2")

    dry = runner.invoke(app, ["screen", "--task", TASK, *raw, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    counts = re.search(
        r"would raise (\d+) new warnings, update (\d+), leave (\d+) "
        r"unchanged, note (\d+) after close",
        dry.stdout,
    )
    assert counts is not None, dry.stdout
    raised, updated, unchanged, after_close = (int(n) for n in counts.groups())
    assert after_close == 2 and updated > 0 and updated + unchanged <= would - 2
    assert "labour_inspection would hold 1 warnings raised in" in dry.stdout
    assert f"county_centre would hold {would + raised} warnings raised in" in dry.stdout

    screened = runner.invoke(app, ["screen", "--task", TASK, *raw])
    assert screened.exit_code == 0, screened.output
    assert (
        f"raised {raised}, updated {updated}, unchanged {unchanged}, after close 2 (closed: "
        "the new score noted, the figures kept);" in screened.stdout
    )
    assert "labour_inspection holds 1 warnings raised in" in screened.stdout
    assert f"county_centre holds {would + raised} warnings raised in" in screened.stdout
    volumes = _dashboard_volumes()
    assert volumes["county_centre"] == would + raised and volumes["labour_inspection"] == 1
    with _store() as store:
        audit = [row for row in store.audit_rows() if row["action"] == "screen"][-1]
    assert audit["detail"]["n_after_close"] == 2
    assert audit["detail"]["n_updated"] == updated
