"""Workers sharing a study on SQLite never take the same queued trial (`training.tune.study_storage`).

Each `riskloop tune` worker queues the recipe's trial and then takes it from the queue;
SQLite has no row locks, so workers starting together took the same trial, ran it each, and
all but one died telling it ("Cannot tell a COMPLETE trial"; seen once in the shared-tuning
test under load, reproduced here at once without the fix). Three processes meet at a barrier
before each of ten studies and ask for a trial together: exactly one gets the queued one.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

ROUNDS = 10
WORKERS = 3


def _ask_together(url: str, barrier: Any, answers: Any) -> None:
    import optuna

    from training.tune import study_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = study_storage(url)
    for round_ in range(ROUNDS):
        study = optuna.load_study(study_name=f"study-{round_}", storage=storage)
        barrier.wait(timeout=60)
        trial = study.ask()
        answers.put((round_, trial.number, trial.params))


def test_workers_asking_together_take_the_queued_trial_once(tmp_path: Path) -> None:
    import optuna

    from training.tune import study_storage

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = study_storage(url)
    for round_ in range(ROUNDS):
        study = optuna.create_study(study_name=f"study-{round_}", storage=storage)
        study.enqueue_trial({"x": 1.0})
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(WORKERS), context.Queue()
    workers = [
        context.Process(target=_ask_together, args=(url, barrier, answers)) for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    got = [answers.get(timeout=120) for _ in range(ROUNDS * WORKERS)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    for round_ in range(ROUNDS):
        numbers = sorted(number for r, number, _ in got if r == round_)
        assert numbers == list(range(WORKERS)), (round_, numbers)  # trial 0 (queued) once
    for round_ in range(ROUNDS):
        trials = optuna.load_study(study_name=f"study-{round_}", storage=storage).trials
        assert [t.state for t in trials] == [optuna.trial.TrialState.RUNNING] * WORKERS


def test_a_study_in_memory_keeps_its_trials() -> None:
    """`--storage sqlite://` (taken: one process) is not opened again under the file's lock."""
    import optuna

    from training.tune import study_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="in-memory", storage=study_storage("sqlite://"))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    assert len(study.trials) == 3
