"""Hyper-parameter search with Optuna: TPE sampling on validation ROC-AUC.

A trial fits its parameters with `training.train.fit_model`, the function `riskloop train` fits
the final model with (same slices, early stopping on validation log loss with the same
patience and rounds cap), and scores the model it returns (`training.train.validation_auc`):
a trial's figure is the one the model trained with its parameters gets. The objective once
trained its own booster and stopped on validation AUC instead: on a small city the recipe's
trial stopped at round 4 where the untuned model with the same parameters and seed stopped at
56, so the study's best was compared with a model `train` never built. Trials are not pruned: a model is
only scored once fitted as `train` fits it. The study lives in the settings' Optuna storage
(SQLite beside the MLflow store by default, or a database URL shared by parallel workers).

A study records what makes its trials comparable (`study_identity`: the task, the fingerprint
of the training and validation slices, the round settings and how a trial fits, the LightGBM
seed) as user attributes when it is created; a worker of another task, dataset, settings or
seed is refused (`StudyMismatchError`), and so is one that would extend a study whose best
trial was already registered (its version is in `REGISTERED_VERSION_ATTR`): the better trials
it ran would never be registered.

The first trial is the recipe, the parameters training uses untuned (`base`, marked
`RECIPE_ATTR`): its value is the untuned model's validation ROC-AUC. On a small training slice
the space keeps the recipe's tree caps (`training.train.recipe_space`); the best trial is never
worse on validation than the recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.settings import get_settings
from models.spec import LightGBMParams, TaskSpec

#: How a trial fits, in the study's identity: studies whose trials stopped on validation AUC
#: (before `fit_model` fitted them) hold figures no final model had, and are refused.
TRIAL_FIT = "fit as train fits (early stopping on validation log loss)"
#: The study user attribute holding the model version registered from the study's best trial.
REGISTERED_VERSION_ATTR = "riskloop.registered_version"
#: What a study records about its trials, as study user attributes.
TASK_ATTR = "riskloop.task"
DATASET_ATTR = "riskloop.dataset_fingerprint"
SETTINGS_ATTR = "riskloop.trial_settings"
#: The LightGBM seed of the study's trials (`--seed`); a study made before riskloop recorded
#: it has none and takes any worker, as it did.
SEED_ATTR = "riskloop.lightgbm_seed"
#: The trial user attribute marking the recipe's trial (the study's first).
RECIPE_ATTR = "riskloop.recipe"
#: How long a worker waits for another one to finish writing a new study's identity.
IDENTITY_WAIT_S = 5.0


class StudyMismatchError(ValueError):
    """The study cannot take this worker's trials: another task, dataset or trial settings, or
    its best trial is already registered."""


def study_identity(
    spec: TaskSpec, train: pd.DataFrame, valid: pd.DataFrame, base: LightGBMParams
) -> dict[str, str]:
    """What makes two workers' trials comparable, as the study's user attributes record it."""
    from training.datasets import dataset_fingerprint

    return {
        TASK_ATTR: spec.task,
        DATASET_ATTR: dataset_fingerprint(pd.concat([train, valid], ignore_index=True)),
        SETTINGS_ATTR: (
            f"catalog {spec.catalog_version}, {len(spec.features)} features, "
            f"max rounds {base.num_boost_round}, early stopping {base.early_stopping_rounds}, "
            f"{TRIAL_FIT}"
        ),
        SEED_ATTR: str(base.seed),
    }


def _mismatch(name: str, key: str, recorded: object, wanted: str) -> str:
    """One line saying how the study differs from this worker's search."""
    advice = "give this search its own --study name"
    if key == TASK_ATTR:
        return f"study {name!r} was made for task {recorded}, not {wanted}; {advice}"
    if key == SEED_ATTR:
        return (
            f"study {name!r} runs its trials with LightGBM seed {recorded}, not {wanted}: its "
            f"trials would mix seeds; run this worker with --seed {recorded}, or {advice}"
        )
    if key == DATASET_ATTR:
        return (
            f"study {name!r} was made on another dataset (fingerprint {recorded}, this one "
            f"{wanted}); its trials' scores are not comparable: {advice}"
        )
    return (
        f"study {name!r} was made with other trial settings ({recorded}; here: {wanted}); {advice}"
    )


def bind_study(study: Any, identity: dict[str, str]) -> None:
    """Record `identity` on a new study, or check that an existing one was made for it.

    Raises:
        StudyMismatchError: the study records another task, dataset, settings or LightGBM
            seed, or records none but holds trials (made by an older riskloop). A study
            recording no seed (made before it was recorded) takes any.
    """
    name = study.study_name
    if not any(key in study.user_attrs for key in identity):
        if study.get_trials(deepcopy=False):
            raise StudyMismatchError(
                f"study {name!r} holds trials but records no task or dataset (made by an older "
                "riskloop); give this search its own --study name"
            )
        # The seed first: a worker that reads the other attributes then reads it too.
        for key in sorted(identity, key=lambda key: key != SEED_ATTR):
            study.set_user_attr(key, identity[key])
    recorded = study.user_attrs  # read back: a worker starting at the same time may have won
    recorded = _finished_identity(study, identity, recorded)
    for key, wanted in identity.items():
        if key == SEED_ATTR and key not in recorded:
            continue  # made before the seed was recorded: its seed is unknown, as it was
        if recorded.get(key) != wanted:
            raise StudyMismatchError(_mismatch(name, key, recorded.get(key), wanted))


def _finished_identity(
    study: Any, identity: dict[str, str], recorded: dict[str, Any]
) -> dict[str, Any]:
    """The study's identity attributes once a worker that is still writing them has finished.

    The attributes are written one at a time, so a worker starting with another one can read
    the task but not yet the dataset. A study with no trials whose identity is incomplete is
    re-read for up to `IDENTITY_WAIT_S`; a writer that stopped half-way leaves the rest to this
    worker (a study without trials holds nothing to compare with). The seed is not waited for:
    it is written first, and a study made before it was recorded has none.
    """
    import time

    def missing(attrs: dict[str, Any]) -> list[str]:
        return [key for key in identity if key != SEED_ATTR and key not in attrs]

    if not missing(recorded) or study.get_trials(deepcopy=False):
        return recorded
    deadline = time.monotonic() + IDENTITY_WAIT_S
    while missing(recorded) and time.monotonic() < deadline:
        time.sleep(0.1)
        recorded = study.user_attrs
    for key in missing(recorded):
        study.set_user_attr(key, identity[key])
    return study.user_attrs


def refuse_registered(study: Any, registered_model: str) -> None:
    """Refuse to add trials to a study whose best trial was already registered.

    Raises:
        StudyMismatchError: the study holds `REGISTERED_VERSION_ATTR`.
    """
    version = study.user_attrs.get(REGISTERED_VERSION_ATTR)
    if version is not None:
        raise StudyMismatchError(
            f"study {study.study_name!r} was already completed and its best trial registered "
            f"as {registered_model} version {version}; a finished study is not extended (a "
            "better new trial would never be registered): give a new --study name to search again"
        )


def task_sampler_seed(task: str, seed: int) -> int:
    """The TPE sampler's seed for one task's search at LightGBM seed `seed`.

    TPE draws its first ten trials at random: seeded with `seed` alone, every task drew the
    same parameter sets, and three-trial searches of all three tasks picked identical ones.
    """
    import zlib

    return zlib.crc32(f"{task}:{seed}".encode())


@dataclass(frozen=True)
class TuneResult:
    """The best parameters found, and how the study went."""

    params: LightGBMParams
    best_valid_auc: float
    study_name: str
    storage: str
    n_complete: int
    #: trials pruned: none, trials are fitted to the end as `train` fits (kept for the callers
    #: that report it)
    n_pruned: int


def study_storage(url: str) -> Any:
    """Optuna's storage at `url`, whose queue of trials two workers never pop together.

    Workers sharing a study each take the recipe's queued trial by reading it as waiting and
    then marking it running; PostgreSQL locks the row between the two (`FOR UPDATE`), SQLite
    has no row locks, so workers starting together took the same trial, ran it each and all
    but one died telling it ("Cannot tell a COMPLETE trial"; optuna/optuna#4621). On SQLite
    every transaction therefore takes the database's write lock as it begins (`BEGIN
    IMMEDIATE`, SQLAlchemy's recipe for pysqlite), waiting up to a minute for another's. An
    in-memory SQLite study has one process and keeps its connection (opened again, it would
    be another, empty database).
    """
    import optuna
    from sqlalchemy import event

    from models.settings import sqlite_file

    if sqlite_file(url) is None:  # another database, or SQLite in memory
        return optuna.storages.RDBStorage(url)
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})

    @event.listens_for(storage.engine, "connect")
    def _driver_begins_nothing(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(storage.engine, "begin")
    def _begin_with_the_write_lock(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    storage.engine.dispose()  # the connections made before the hooks: opened again with them
    return storage


def tune(
    spec: TaskSpec,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    trials: int,
    base: LightGBMParams,
    study_name: str,
    storage: str | None = None,
    on_trial: Callable[[int], None] | None = None,
    total_trials: int | None = None,
    sampler_seed: int | None = None,
) -> TuneResult:
    """Search `spec.search_space` for `trials` trials; the best set keeps `base`'s other fields.

    `base` is the recipe (`training.train.recipe_params`): its values are the study's first
    trial (a study that already ran them does not run them again), and on a small training
    slice trials grow no more leaves, nor deeper, than it (`training.train.recipe_space`).
    Each trial is fitted by `training.train.fit_model` on `train` with early stopping on
    `valid`, as `riskloop train` fits: the recipe's trial scores the untuned model's validation
    ROC-AUC, the best trial the model its parameters train. Same seed, task, data and trial
    count give the same best parameters (TPE seeded by the task and seed, deterministic
    LightGBM); `on_trial` receives the number of finished trials, for progress bars.
    Workers sharing a study pass `total_trials` (this process stops once the study holds that
    many trials, whoever ran them) and each their own `sampler_seed` (the same seed everywhere
    would make them propose the same parameters). A study of another task, dataset or round
    settings, or one already registered, raises `StudyMismatchError` before any trial runs.
    """
    import optuna

    from training.datasets import Splits
    from training.train import fit_model, recipe_space, validation_auc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage_url = storage or get_settings().resolved_optuna_storage
    space = recipe_space(spec.search_space, base, train)
    # the calibration and test slices change neither the booster nor its validation ROC-AUC
    slices = Splits(train=train, valid=valid, test=valid.iloc[:0])

    def objective(trial: optuna.Trial) -> float:
        model = fit_model(spec, slices, space.suggest(trial, base))
        trial.set_user_attr("best_iteration", model.best_iteration_)
        return validation_auc(model, valid)

    study = optuna.create_study(
        study_name=study_name,
        storage=study_storage(storage_url),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=task_sampler_seed(spec.task, base.seed) if sampler_seed is None else sampler_seed
        ),
        pruner=optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    bind_study(study, study_identity(spec, train, valid, base))
    refuse_registered(study, spec.registered_model_name)
    study.enqueue_trial(space.point(base), user_attrs={RECIPE_ATTR: True}, skip_if_exists=True)
    callbacks = [lambda s, t: on_trial(len(s.trials))] if on_trial else []
    if total_trials is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(total_trials, states=None))
    study.optimize(objective, n_trials=trials, callbacks=callbacks)
    states = [trial.state for trial in study.trials]
    best = space.suggest(optuna.trial.FixedTrial(study.best_params), base)
    return TuneResult(
        params=best,
        best_valid_auc=float(study.best_value),
        study_name=study_name,
        storage=storage_url,
        n_complete=int(np.sum([s == optuna.trial.TrialState.COMPLETE for s in states])),
        n_pruned=int(np.sum([s == optuna.trial.TrialState.PRUNED for s in states])),
    )
