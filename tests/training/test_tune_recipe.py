"""Tuning starts from the recipe: the parameters training uses untuned are the study's first
trial, and on a small training slice the search keeps the recipe's tree caps.

A model reviewer tuned the wage task of a small city (3 trials): the trials drew 26, 13 and 29
leaves at depth 4, 4 and 3 although the small-slice recipe grows at most 7 leaves at depth 3,
the recipe itself was never tried, and the tuned champion was worse than the untuned one, on
validation too. All three tasks got the same tuned parameters: TPE's random start-up trials
were seeded with the LightGBM seed alone, so every task drew the same sets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna

from models.spec import get_spec
from training.datasets import TrainingData, split_dataset
from training.train import SMALL_SLICE_DEPTH, SMALL_SLICE_LEAVES, _params, recipe_params
from training.tune import RECIPE_ATTR, tune

WAGE = "wage-arrears"
TRIALS = 4


def test_the_recipe_is_the_first_trial_and_a_small_slice_keeps_its_caps(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    from models.settings import get_settings

    spec = get_spec(WAGE)
    splits = split_dataset(spec, city_data[WAGE].frame)
    params, tuning, _ = _params(spec, splits, 7, 20, TRIALS, "recipe-first", None, print)
    assert tuning is not None
    recipe = recipe_params(dataclasses.replace(spec.params, num_boost_round=20), splits.train)
    assert recipe.extra_trees, "the small city's wage slice should get the small-slice recipe"

    study = optuna.load_study(
        study_name="recipe-first", storage=get_settings().resolved_optuna_storage
    )
    first, *sampled = study.trials
    assert first.params == spec.search_space.point(recipe)
    assert first.user_attrs[RECIPE_ATTR] is True
    assert len(sampled) == TRIALS - 1
    for trial in study.trials:
        assert trial.params["num_leaves"] <= SMALL_SLICE_LEAVES, trial.params
        assert trial.params["max_depth"] <= SMALL_SLICE_DEPTH, trial.params
    # the best by the objective: never below the recipe's validation AUC
    assert first.value is not None
    assert tuning.best_valid_auc == study.best_value >= first.value
    assert params.extra_trees and params.num_leaves <= SMALL_SLICE_LEAVES
    assert params.max_depth <= SMALL_SLICE_DEPTH


def test_a_study_run_again_does_not_repeat_the_recipe(
    tmp_path: Path, city_data: dict[str, TrainingData]
) -> None:
    spec = get_spec(WAGE)
    splits = split_dataset(spec, city_data[WAGE].frame)
    base = recipe_params(
        dataclasses.replace(spec.params, num_boost_round=10, early_stopping_rounds=5),
        splits.train,
    )
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tune(spec, splits.train, splits.valid, 1, base, "again", storage)
    tune(spec, splits.train, splits.valid, 1, base, "again", storage)
    trials = optuna.load_study(study_name="again", storage=storage).trials
    assert [RECIPE_ATTR in trial.user_attrs for trial in trials] == [True, False]


def test_tasks_searched_with_one_seed_draw_their_own_trials(
    tmp_path: Path, city_data: dict[str, TrainingData]
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    drawn = []
    for task in (WAGE, "telecom-fraud"):
        spec = get_spec(task)
        splits = split_dataset(spec, city_data[task].frame)
        base = recipe_params(
            dataclasses.replace(spec.params, num_boost_round=10, early_stopping_rounds=5),
            splits.train,
        )
        tune(spec, splits.train, splits.valid, 2, base, task, storage)
        drawn.append(optuna.load_study(study_name=task, storage=storage).trials[1].params)
    assert drawn[0]["learning_rate"] != drawn[1]["learning_rate"], drawn


def test_the_space_is_capped_only_on_a_small_slice() -> None:
    import numpy as np
    import pandas as pd

    from training.train import SMALL_SLICE_MINORITY_ROWS, recipe_space

    space = get_spec(WAGE).search_space
    params = get_spec(WAGE).params

    def labels(positives: int) -> pd.DataFrame:
        return pd.DataFrame({"label": np.r_[np.ones(positives), np.zeros(20_000 - positives)]})

    assert recipe_space(space, params, labels(SMALL_SLICE_MINORITY_ROWS)) is space
    few = labels(SMALL_SLICE_MINORITY_ROWS - 1)
    small = recipe_space(space, recipe_params(params, few), few)
    assert (small.num_leaves.low, small.num_leaves.high) == (space.num_leaves.low, 7)
    assert (small.max_depth.low, small.max_depth.high) == (space.max_depth.low, 3)
    assert dataclasses.replace(small, num_leaves=space.num_leaves, max_depth=space.max_depth) == (
        space
    )
    tiny = dataclasses.replace(params, num_leaves=4, max_depth=2)
    capped = recipe_space(space, recipe_params(tiny, few), few)
    assert (capped.num_leaves.low, capped.num_leaves.high, capped.max_depth.high) == (4, 4, 2)
