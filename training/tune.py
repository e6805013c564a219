"""Hyper-parameter search with Optuna: TPE sampling, pruning on validation AUC.

One `lightgbm.Dataset` is built and reused across trials (`feature_pre_filter` off, so
`min_child_samples` may vary). The study lives in the settings' Optuna storage (SQLite beside
the MLflow store by default, or a database URL shared by parallel workers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.risk_model import model_matrix
from models.settings import get_settings
from models.spec import LightGBMParams, TaskSpec

TUNING_METRIC = "auc"
# Each pruning report is a write to the study storage (~40 ms with SQLite here): reporting
# every round made a 400-round trial spend most of its time committing.
REPORT_EVERY_ROUNDS = 10


@dataclass(frozen=True)
class TuneResult:
    """The best parameters found, and how the study went."""

    params: LightGBMParams
    best_valid_auc: float
    study_name: str
    storage: str
    n_complete: int
    n_pruned: int


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

    Same seed, data and trial count give the same best parameters (seeded TPE, deterministic
    LightGBM); `on_trial` receives the number of finished trials, for progress bars.
    Workers sharing a study pass `total_trials` (this process stops once the study holds that
    many trials, whoever ran them) and each their own `sampler_seed` (the same seed everywhere
    would make them propose the same parameters).
    """
    import lightgbm as lgb
    import optuna
    from optuna_integration import LightGBMPruningCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage_url = storage or get_settings().resolved_optuna_storage
    train_set = lgb.Dataset(
        model_matrix(spec, train),
        label=train["label"].to_numpy(dtype="float64"),
        params={"feature_pre_filter": False},
        free_raw_data=False,
    )
    valid_set = train_set.create_valid(
        model_matrix(spec, valid), label=valid["label"].to_numpy(dtype="float64")
    )

    def objective(trial: optuna.Trial) -> float:
        params = spec.search_space.suggest(trial, base)
        lgb_params = params.to_lightgbm(spec.monotone_constraints) | {"metric": TUNING_METRIC}
        booster = lgb.train(
            lgb_params,
            train_set,
            num_boost_round=params.num_boost_round,
            valid_sets=[valid_set],
            valid_names=["valid"],
            callbacks=[
                lgb.early_stopping(params.early_stopping_rounds, verbose=False),
                LightGBMPruningCallback(
                    trial, TUNING_METRIC, valid_name="valid", report_interval=REPORT_EVERY_ROUNDS
                ),
            ],
        )
        trial.set_user_attr("best_iteration", int(booster.best_iteration))
        return float(booster.best_score["valid"][TUNING_METRIC])

    study = optuna.create_study(
        study_name=study_name,
        storage=storage_url,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=base.seed if sampler_seed is None else sampler_seed
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=30),
        load_if_exists=True,
    )
    callbacks = [lambda s, t: on_trial(len(s.trials))] if on_trial else []
    if total_trials is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(total_trials, states=None))
    study.optimize(objective, n_trials=trials, callbacks=callbacks)
    states = [trial.state for trial in study.trials]
    best = spec.search_space.suggest(optuna.trial.FixedTrial(study.best_params), base)
    return TuneResult(
        params=best,
        best_valid_auc=float(study.best_value),
        study_name=study_name,
        storage=storage_url,
        n_complete=int(np.sum([s == optuna.trial.TrialState.COMPLETE for s in states])),
        n_pruned=int(np.sum([s == optuna.trial.TrialState.PRUNED for s in states])),
    )
