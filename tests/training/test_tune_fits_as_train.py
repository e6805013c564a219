"""A tuning trial's figure is the one the model `train` fits with its parameters gets.

A QA re-check of a small city (`train --task wage-arrears --trials 6`) found the recipe's trial
stopped at round 4 while the untuned model with the same parameters and seed stopped at 56:
the objective trained its own booster and stopped on validation AUC, `fit_model` stops on
validation log loss. The study's best was compared with a model `train` never built.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from models.spec import get_spec
from training.datasets import TrainingData, split_dataset
from training.train import _params, fit_model, validation_auc
from training.tune import RECIPE_ATTR

WAGE = "wage-arrears"
SEED = 19
TRIALS = 3


def test_the_recipe_trial_is_the_untuned_model_and_the_best_trial_the_tuned_one(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    from models.settings import get_settings

    spec = get_spec(WAGE)
    splits = split_dataset(spec, city_data[WAGE].frame)
    untuned_params, _, _ = _params(spec, splits, SEED, None, 0, None, None, print)
    untuned = fit_model(spec, splits, untuned_params)
    tuned_params, tuning, _ = _params(spec, splits, SEED, None, TRIALS, "fits", None, print)
    assert tuning is not None

    study = optuna.load_study(study_name="fits", storage=get_settings().resolved_optuna_storage)
    recipe = study.trials[0]
    assert recipe.user_attrs[RECIPE_ATTR] is True
    assert recipe.user_attrs["best_iteration"] == untuned.best_iteration_
    assert recipe.value is not None
    assert abs(recipe.value - validation_auc(untuned, splits.valid)) < 1e-9

    # the final model, refit with the best trial's parameters, scores what that trial scored
    tuned = fit_model(spec, splits, tuned_params)
    assert abs(tuning.best_valid_auc - validation_auc(tuned, splits.valid)) < 1e-9
    assert tuning.best_valid_auc >= recipe.value
