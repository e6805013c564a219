"""The fast explainer on the small city's models: the same numbers as LightGBM's `pred_contrib`.

The models are fitted with each task's spec (depth, leaves, monotone constraints, categorical
catalog features) on the small city; the bench (`bench/explain.py`) repeats the comparison on
the default city's champions. The scorer, and so the service, reports and `riskloop score`,
must return these contributions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.tasks import TASK_NAMES
from models.explainer import TreeExplainer
from models.risk_model import RiskModel, feature_matrix
from models.scorer import score_arrays
from training.datasets import Splits


@pytest.mark.parametrize("task", TASK_NAMES)
def test_city_models_match_pred_contrib(
    task: str, fast_models: dict[str, tuple[RiskModel, Splits]], tmp_path: Path
) -> None:
    model, splits = fast_models[task]
    frame = splits.test if len(splits.test) else splits.valid
    matrix = feature_matrix(model.spec, frame)
    expected = np.asarray(model.booster_.predict(matrix, pred_contrib=True, num_threads=1))

    explainer = TreeExplainer.from_booster(model.booster_)
    assert explainer.fallback_reason is None
    assert np.abs(explainer.contributions(matrix) - expected).max() <= 1e-9

    arrays = score_arrays(model, frame, explain=True)
    assert arrays.contributions is not None
    assert np.abs(arrays.contributions - expected[:, :-1]).max() <= 1e-9
    assert arrays.base_value == pytest.approx(float(expected[0, -1]), abs=1e-9)

    loaded = RiskModel.load(model.save(tmp_path / task))
    assert loaded.__dict__.get("_explainer") is not None, "load should build the tables"
    reloaded = score_arrays(loaded, frame, explain=True)
    assert reloaded.contributions is not None
    assert np.abs(reloaded.contributions - expected[:, :-1]).max() <= 1e-9
