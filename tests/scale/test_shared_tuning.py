"""Two `riskloop tune` processes share one Optuna study; the best trial is registered once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from typer.testing import CliRunner

from features.dataset import build_dataset
from training import tracking
from training.cli import app
from training.commands.scale import VERSION_KEY, claim_training
from training.raw_io import load_raw_tables

TRIALS = 6
STUDY = "shared-wage"
ROUNDS = 4


def test_two_workers_contribute_trials_and_one_registers(
    small_city: Path, isolated_env: Path, shared_db_url: str
) -> None:
    dataset = isolated_env / "wage.parquet"
    build_dataset("wage_arrears", load_raw_tables(small_city, "wage_arrears")).to_parquet(dataset)
    riskloop = str(Path(sys.executable).with_name("riskloop"))
    command = [riskloop, "tune", "--task", "wage-arrears", "--storage", shared_db_url]
    command += ["--study", STUDY, "--trials", str(TRIALS), "--dataset", str(dataset)]
    command += ["--max-rounds", "60"]
    workers = [
        subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=180)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs

    ran = [int(re.search(r"ran (\d+) trial", output).group(1)) for output in outputs]  # type: ignore[union-attr]
    assert all(count >= 1 for count in ran), outputs
    assert sum(output.count("registered riskloop-wage-arrears version") for output in outputs) == 1

    study = optuna.load_study(study_name=STUDY, storage=shared_db_url)
    assert len(study.trials) >= TRIALS and sum(ran) == len(study.trials)
    versions = tracking.tracking_client().search_model_versions("name = 'riskloop-wage-arrears'")
    assert [int(v.version) for v in versions] == [1]
    assert study.user_attrs[VERSION_KEY] == 1
    run = tracking.tracking_client().get_run(versions[0].run_id)
    assert run.data.tags["riskloop.optuna_study"] == STUDY
    assert run.data.tags["riskloop.optuna_best_trial"] == str(study.best_trial.number)
    # the small city's slice has a few hundred positives: the workers start from the
    # small-slice recipe, as `riskloop train` does (`training.train.recipe_params`)
    assert run.data.params["extra_trees"] == "True"
    # a late worker, or a retry after both finished, cannot claim the training again
    assert not claim_training(shared_db_url, STUDY, "late-worker")
    # (in this process: the study's storage, not the process, tells a worker it is late)
    late = CliRunner().invoke(app, command[1:])
    assert late.exit_code == 0, late.output
    assert (
        "the study was already completed and its best trial registered as "
        "riskloop-wage-arrears version 1; nothing to train"
    ) in late.stdout
    # a worker of another task is refused in one line, even when the study is complete: it
    # took the wage study's trials as its own and named a version its task did not have
    disputes = isolated_env / "disputes.parquet"
    tables = load_raw_tables(small_city, "dispute_escalation")
    build_dataset("dispute_escalation", tables).to_parquet(disputes)
    other = ["tune", "--task", "dispute-escalation", "--storage", shared_db_url]
    other += ["--study", STUDY, "--trials", str(TRIALS), "--dataset", str(disputes)]
    refused = CliRunner().invoke(app, other)
    assert refused.exit_code == 2, (refused.stdout, refused.stderr)
    lines = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "wage-arrears" in lines[0], refused.stderr
    assert "registered" not in refused.stdout


def _open_when_all_are_ready(url: str, together: Any, answers: Any) -> None:
    from training.commands.scale import _open_storage
    from training.errors import UserError

    together.wait()
    try:
        answers.put(type(_open_storage(url)).__name__)
    except UserError as exc:
        answers.put(str(exc))


def test_workers_opening_a_new_study_storage_together_all_get_it(
    new_shared_db: Callable[[], str],
) -> None:
    """Worker processes started together race to create Optuna's tables (on PostgreSQL also
    its enum types: 'type "studydirection" already exists'); each still opens the storage.
    Several rounds on new databases: on PostgreSQL, before the retry, 2 of the 90 openings in 15
    such rounds failed; none of 180 in 30 rounds after."""
    import multiprocessing

    import training.commands.scale  # noqa: F401  (imported before the fork, not in each child)

    context = multiprocessing.get_context("fork")
    workers = 6
    for _ in range(ROUNDS):
        url = new_shared_db()
        together = context.Barrier(workers)
        answers = context.Queue()
        processes = [
            context.Process(target=_open_when_all_are_ready, args=(url, together, answers))
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
        opened = [answers.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert opened == ["RDBStorage"] * workers, opened


def test_an_object_another_worker_created_meanwhile_is_told_from_other_errors(
    shared_db_url: str,
) -> None:
    """The errors the storage's opening retries: a real "already exists" from the database
    (PostgreSQL's enum type, or SQLite's table), never a plain mistake."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DatabaseError

    from training.commands.scale import _created_meanwhile

    engine = create_engine(shared_db_url)
    postgres = engine.dialect.name == "postgresql"
    create = "CREATE TYPE colour AS ENUM ('red')" if postgres else "CREATE TABLE colour (x)"
    errors = {}
    with engine.begin() as connection:
        connection.execute(text(create))
    for name, statement in (("again", create), ("mistake", "SELEC 1")):
        try:
            with engine.begin() as connection:
                connection.execute(text(statement))
        except DatabaseError as exc:
            errors[name] = exc
    engine.dispose()
    assert set(errors) == {"again", "mistake"}
    assert _created_meanwhile(errors["again"]) is postgres  # SQLite's is an OperationalError
    assert not _created_meanwhile(errors["mistake"])
