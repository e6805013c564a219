"""`riskloop monitor` stays quiet on an unshifted population and exits 3 on an injected shift."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from models.secret_keys import load_secrets
from models.settings import get_settings
from models.spec import get_spec
from serving.store import WarningStore
from training.cli import app

TASK = "wage-arrears"
DRIVER = "si_arrears_months_6m"


def _population(rng: np.random.Generator, n: int, arrears_rate: float) -> pd.DataFrame:
    """Feature rows in the task's catalog types; `arrears_rate` moves the planted driver."""
    columns: dict[str, object] = {}
    for feature in get_spec(TASK).features:
        if feature.dtype == "category":
            columns[feature.name] = rng.choice(list(feature.categories), size=n)
        elif feature.dtype == "bool":
            columns[feature.name] = rng.random(n) < 0.2
        elif feature.dtype == "int":
            columns[feature.name] = rng.poisson(1.0, size=n).clip(0, feature.max_value)
        else:
            columns[feature.name] = rng.gamma(2.0, 1.0, size=n)
    frame = pd.DataFrame(columns)
    frame[DRIVER] = rng.binomial(6, arrears_rate, size=n)
    margin = -3.0 + 0.8 * frame[DRIVER].to_numpy()
    frame["score"] = 1.0 / (1.0 + np.exp(-margin))
    return frame


def _levels(scores: pd.Series) -> list[str]:
    return (
        pd.cut(scores, [-1, 0.3, 0.5, 0.7, 2], labels=["green", "yellow", "orange", "red"])
        .astype(str)
        .tolist()
    )


def _record(
    population: pd.DataFrame, prefix: str, n_closed: int = 6, as_of: date | None = None
) -> None:
    """Store the population as the service would have scored it (for `as_of`, default today),
    then close `n_closed` of its warnings."""
    settings = get_settings()
    features = population.drop(columns="score")
    results = [
        {
            "entity_id": f"{prefix}{i:05d}",
            "score": float(score),
            "risk_level": level,
            "reasons": [],
            "actions": [],
            "features": row,
        }
        for i, (score, level, row) in enumerate(
            zip(
                population["score"],
                _levels(population["score"]),
                features.to_dict(orient="records"),
                strict=True,
            )
        )
    ]
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        ids = store.record_scores(
            actor="scorer",
            task=TASK,
            model_name="riskloop-wage-arrears",
            model_version="1",
            results=results,
            as_of=as_of,
        )
        warned = [warning_id for warning_id in ids if warning_id]
        for warning_id, outcome in zip(
            warned[:n_closed], ["false_alarm", "unreachable"] * 3, strict=False
        ):
            store.add_feedback(
                warning_id,
                actor="clerk",
                status="closed",
                department=None,
                outcome=outcome,
                note=None,
            )


def _bad_input_gives_one_line(runner: CliRunner, reference: Path) -> None:
    nowhere = runner.invoke(app, ["monitor", "--task", TASK, "--reference", str(reference)])
    assert nowhere.exit_code == 2 and "no warnings store at" in nowhere.output
    assert runner.invoke(app, ["store", "upgrade"]).exit_code == 0  # an empty store
    empty = runner.invoke(app, ["monitor", "--task", TASK, "--reference", str(reference)])
    assert empty.exit_code == 2
    assert empty.output.strip() == (
        "error: no scored records of wage-arrears in the warnings store"
        " (the service's score calls and `riskloop screen` record them)"
    )
    _record(_population(np.random.default_rng(5), 20, arrears_rate=0.1), "B", n_closed=0)
    missing = runner.invoke(app, ["monitor", "--task", TASK, "--reference", "nowhere.parquet"])
    assert missing.exit_code == 2
    assert missing.output.strip() == "error: reference dataset not found: nowhere.parquet"
    no_champion = runner.invoke(app, ["monitor", "--task", TASK])
    assert no_champion.exit_code == 2 and "--reference" in no_champion.output
    bad_date = runner.invoke(app, ["monitor", "--task", TASK, "--since", "yesterday"])
    assert bad_date.exit_code == 2 and "--since" in bad_date.output
    unknown = runner.invoke(app, ["monitor", "--task", "weather"])
    assert unknown.exit_code == 2 and "weather" in unknown.output
    upgraded = runner.invoke(app, ["store", "upgrade"])
    assert upgraded.exit_code == 0 and f"revision {_head_revision()} (head)" in upgraded.output


def _head_revision() -> str:
    """The newest schema migration's id (the revisions form one chain)."""
    import serving.store

    migrations = Path(serving.store.__file__).with_name("migrations")
    (head,) = ScriptDirectory(str(migrations)).get_heads()
    return str(head)


def test_monitor_quiet_then_alerts_on_a_shift(isolated_env: Path) -> None:
    """Bad input first (one clear line, exit 2), then an unshifted and a shifted population."""
    rng = np.random.default_rng(11)
    reference = isolated_env / "reference.parquet"
    _population(rng, 3000, arrears_rate=0.1).to_parquet(reference)
    runner = CliRunner()
    _bad_input_gives_one_line(runner, reference)

    _record(_population(rng, 800, arrears_rate=0.1), "E")
    quiet_out = isolated_env / "quiet.json"
    quiet = runner.invoke(
        app, ["monitor", "--task", TASK, "--reference", str(reference), "--out", str(quiet_out)]
    )
    assert quiet.exit_code == 0, quiet.output
    report = json.loads(quiet_out.read_text())
    assert report["drift"] is False
    assert max(report["psi"]["features"].values()) < 0.25
    assert report["psi"]["score"] < 0.25
    assert report["current"]["rows"] == 820  # with the 20 of the bad-input checks
    assert {row["level"] for row in report["volume"]} == {"red", "orange", "yellow"}
    assert sum(row["closed"] for row in report["precision"]) == 6
    assert sum(report["warnings_by_level"].values()) == sum(report["warnings_by_status"].values())
    assert report["warnings_by_status"]["closed"] == 6
    assert report["mlflow_run_id"]

    _record(_population(rng, 800, arrears_rate=0.5), "S")
    shifted_out = isolated_env / "shifted.json"
    shifted = runner.invoke(
        app,
        [
            "monitor",
            "--task",
            TASK,
            "--reference",
            str(reference),
            "--out",
            str(shifted_out),
            "--since",
            "2000-01-01",
        ],
    )
    assert shifted.exit_code == 3, shifted.output
    report = json.loads(shifted_out.read_text())
    assert report["drift"] is True
    assert DRIVER in report["drifted"] and "score" in report["drifted"]
    assert report["psi"]["features"]["sector"] < 0.25  # untouched features stay quiet
    # a move worth a look but under the alarm is "watched" (the dashboard names it)
    figures = {**report["psi"]["features"], "score": report["psi"]["score"]}
    assert report["watch_threshold"] == 0.1
    assert report["watched"] == [
        name
        for name, value in figures.items()
        if 0.1 < value <= 0.25 and name not in report["not_alarmed"]
    ]
    assert not set(report["watched"]) & set(report["drifted"])

    import mlflow

    runs = mlflow.search_runs(
        search_all_experiments=True, filter_string="tags.`riskloop.kind` = 'monitor'"
    )
    assert sorted(runs["tags.riskloop.drift"]) == ["false", "true"]
    assert runs["metrics.psi_score"].notna().all()


def test_monitor_reads_the_champions_logged_training_data(isolated_env: Path) -> None:
    """No --reference: the champion's run artifact is the reference, and the champion scores it."""
    import dataclasses

    import mlflow

    from models.scorer import score_frame
    from training.datasets import Splits
    from training.tracking import configure_tracking, log_and_register
    from training.train import fit_model

    spec = get_spec(TASK)
    rng = np.random.default_rng(21)
    frame = _population(rng, 3000, arrears_rate=0.1)
    frame["label"] = (rng.random(len(frame)) < frame.pop("score")).astype("int8")
    train, valid = frame.iloc[:2000], frame.iloc[2000:]
    model = fit_model(
        spec, Splits(train, valid, valid), dataclasses.replace(spec.params, num_boost_round=20)
    )
    configure_tracking()
    with mlflow.start_run(run_name="train-wage-arrears"):
        log_and_register(model, train.head(5))
        train.to_parquet(isolated_env / "train.parquet")
        mlflow.log_artifact(str(isolated_env / "train.parquet"), "reference")

    def record(population: pd.DataFrame, prefix: str) -> None:
        population = population.assign(entity_id=[f"{prefix}{i}" for i in range(len(population))])
        scored = score_frame(model, population, explain=True, top_k=3)
        settings = get_settings()
        features = population.loc[:, list(spec.feature_names)].to_dict(orient="records")
        with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
            store.record_scores(
                actor="scorer",
                task=TASK,
                model_name=spec.registered_model_name,
                model_version="1",
                results=[
                    {
                        "entity_id": item.entity_id,
                        "score": item.score,
                        "risk_level": item.risk_level,
                        "reasons": [dataclasses.asdict(reason) for reason in item.reasons],
                        "actions": [dataclasses.asdict(action) for action in item.actions],
                        "features": row,
                    }
                    for item, row in zip(scored, features, strict=True)
                ],
            )

    record(_population(rng, 600, arrears_rate=0.1).drop(columns="score"), "E")
    runner = CliRunner()
    quiet = runner.invoke(app, ["monitor", "--task", TASK, "--out", str(isolated_env / "q.json")])
    assert quiet.exit_code == 0, quiet.output
    report = json.loads((isolated_env / "q.json").read_text())
    assert report["reference"]["source"].endswith("reference/train.parquet")
    assert report["reference"]["model_version"] == "1"
    assert report["psi"]["score"] < 0.25

    record(_population(rng, 600, arrears_rate=0.6).drop(columns="score"), "S")
    shifted = runner.invoke(app, ["monitor", "--task", TASK, "--out", str(isolated_env / "s.json")])
    assert shifted.exit_code == 3, shifted.output
    assert "si_arrears_months_6m" in json.loads((isolated_env / "s.json").read_text())["drifted"]


def test_reference_sample_is_small_seeded_and_holds_no_identifiers() -> None:
    """What training logs as `reference/dataset.parquet`: at most 50,000 rows, features and score,
    the rows the seed picks."""
    import dataclasses

    from training.datasets import Splits
    from training.reference import REFERENCE_MAX_ROWS, reference_sample
    from training.train import fit_model

    spec = get_spec(TASK)
    rng = np.random.default_rng(3)
    frame = _population(rng, REFERENCE_MAX_ROWS + 5000, arrears_rate=0.1)
    frame["label"] = (rng.random(len(frame)) < frame.pop("score")).astype("int8")
    frame["entity_id"] = [f"91110000{i:010d}" for i in range(len(frame))]
    frame["as_of"] = pd.Timestamp("2025-01-01")
    fit_rows = frame.iloc[:3000]
    model = fit_model(
        spec,
        Splits(fit_rows, fit_rows, fit_rows),
        dataclasses.replace(spec.params, num_boost_round=10),
    )
    sample = reference_sample(model, frame, seed=7)
    assert len(sample) == REFERENCE_MAX_ROWS
    assert list(sample.columns) == ["as_of", *spec.feature_names, "score"]

    # the seed picks the rows; their order is an unseeded permutation (position links nothing)
    def rows(picked: pd.DataFrame) -> pd.DataFrame:
        return picked.sort_values(list(picked.columns)).reset_index(drop=True)

    assert rows(sample).equals(rows(reference_sample(model, frame, seed=7)))
    assert not rows(sample).equals(rows(reference_sample(model, frame, seed=8)))
    assert np.allclose(sample["score"], model.predict_proba(sample))
    small = reference_sample(model, fit_rows, seed=7)
    assert len(small) == len(fit_rows)


def test_monitor_computes_precision_from_outcomes_kept_by_a_purge(isolated_env: Path) -> None:
    """`riskloop store purge` empties old features and ids; the outcomes monitoring needs stay:
    precision by level is the same before and after."""
    rng = np.random.default_rng(3)
    reference = isolated_env / "reference.parquet"
    _population(rng, 2000, arrears_rate=0.1).to_parquet(reference)
    _record(_population(rng, 800, arrears_rate=0.1), "P")
    runner = CliRunner()

    def precision(name: str) -> list[dict[str, object]]:
        out = isolated_env / f"{name}.json"
        monitored = runner.invoke(
            app, ["monitor", "--task", TASK, "--reference", str(reference), "--out", str(out)]
        )
        assert monitored.exit_code == 0, monitored.output  # purged features are no drift
        return list(json.loads(out.read_text())["precision"])

    before = precision("before")
    assert sum(int(row["closed"]) for row in before) == 6  # type: ignore[call-overload]
    purged = runner.invoke(app, ["store", "purge", "--before", "now"])
    assert purged.exit_code == 0, purged.output
    assert purged.output.startswith("removed: features of 800 scored records")
    assert "encrypted ids of" in purged.output
    assert precision("after") == before
    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        actions = [row["action"] for row in store.audit_rows()]
        assert actions.count("store_purge") == 1
        assert store.scored_records(task=TASK).columns.tolist()[:7] == [
            "entity_hash", "as_of", "model_name", "model_version", "score", "risk_level", "created_at"
        ]  # fmt: skip


def test_monitor_refuses_bad_numbers_paths_and_an_empty_reference(isolated_env: Path) -> None:
    """One `error:` line and exit 2, before any run is logged, for what cannot be monitored."""
    rng = np.random.default_rng(3)
    reference = isolated_env / "reference.parquet"
    _population(rng, 300, arrears_rate=0.1).to_parquet(reference)
    empty = isolated_env / "empty.parquet"
    _population(rng, 300, arrears_rate=0.1).head(0).to_parquet(empty)
    _record(_population(rng, 50, arrears_rate=0.1), "P", n_closed=0)
    (isolated_env / "a-file").write_text("in the way")
    runner = CliRunner()
    base = ["monitor", "--task", TASK, "--reference", str(reference)]
    cases = {
        "--threshold must be a positive number": [*base, "--threshold", "nan"],
        "--threshold must be a positive number, got -1.0": [*base, "--threshold", "-1"],
        "is a folder": [*base, "--out", str(isolated_env)],
        "cannot write": [*base, "--out", str(isolated_env / "a-file" / "m.json")],
        "has no rows to compare with": ["monitor", "--task", TASK, "--reference", str(empty)],
    }
    for expected, args in cases.items():
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
        assert expected in lines[0], (args, lines[0])

    import mlflow

    mlflow.set_tracking_uri(get_settings().mlflow_uri)
    runs = mlflow.search_runs(search_all_experiments=True)
    assert runs.empty  # nothing was logged for any of them


def test_a_feature_that_cannot_raise_the_alarm_is_not_printed_as_drift(
    isolated_env: Path,
) -> None:
    """A calendar feature far from the reference is reported, marked `not alarmed`, exit 0."""
    rng = np.random.default_rng(4)
    reference = isolated_env / "reference.parquet"
    _population(rng, 2000, arrears_rate=0.1).to_parquet(reference)
    current = _population(rng, 600, arrears_rate=0.1).assign(months_to_spring_festival=11)
    _record(current, "C", n_closed=0)
    out = isolated_env / "calendar.json"
    result = CliRunner().invoke(
        app, ["monitor", "--task", TASK, "--reference", str(reference), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["psi"]["features"]["months_to_spring_festival"] > 0.25
    assert "months_to_spring_festival" in report["not_alarmed"] and not report["drifted"]
    (row,) = [line for line in result.stdout.splitlines() if "months_to_spring_festival" in line]
    assert "not alarmed" in row and "DRIFT" not in result.stdout


def test_a_unit_scored_twice_for_the_same_date_counts_once(isolated_env: Path) -> None:
    """A screening run again (here: 200 of 500 employers scored a second time for the same
    date) leaves the month's population at 500 units: volumes are not inflated and the drift
    figures weigh each unit once, with its latest score."""
    rng = np.random.default_rng(7)
    reference = isolated_env / "reference.parquet"
    _population(rng, 2000, arrears_rate=0.1).to_parquet(reference)
    population = _population(rng, 500, arrears_rate=0.1)
    _record(population, "R", n_closed=0)
    _record(population.iloc[:200], "R", n_closed=0)
    out = isolated_env / "twice.json"
    result = CliRunner().invoke(
        app, ["monitor", "--task", TASK, "--reference", str(reference), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["current"]["rows"] == 700 and report["current"]["units"] == 500
    expected = pd.Series(_levels(population["score"])).value_counts()
    assert {row["level"]: row["count"] for row in report["volume"]} == {
        level: int(expected.get(level, 0)) for level in ("red", "orange", "yellow")
    }
