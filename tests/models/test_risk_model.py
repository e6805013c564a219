"""RiskModel: fitting, determinism, saving and loading with clear errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.risk_model import (
    BOOSTER_FILE,
    META_FILE,
    Calibrator,
    FeatureMismatchError,
    ModelLoadError,
    RiskModel,
    Thresholds,
    feature_matrix,
    model_matrix,
)
from models.spec import get_spec


def test_same_seed_and_data_give_bit_identical_model(fit_model_on_synthetic: Any) -> None:
    first, _ = fit_model_on_synthetic("wage-arrears", seed=3)
    second, _ = fit_model_on_synthetic("wage-arrears", seed=3)
    assert first.model_text() == second.model_text()
    assert first.calibrator_ == second.calibrator_
    assert first.thresholds_ == second.thresholds_


def test_save_and_load_round_trip(
    telecom_model: tuple[RiskModel, pd.DataFrame], tmp_path: Path
) -> None:
    model, frame = telecom_model
    model.save(tmp_path / "m")
    loaded = RiskModel.load(tmp_path / "m")
    assert loaded.model_text() == model.model_text()
    assert np.array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert loaded.thresholds_ == model.thresholds_
    assert (tmp_path / "m" / BOOSTER_FILE).read_text().startswith("tree")


def test_thresholds_follow_capacity(telecom_model: tuple[RiskModel, pd.DataFrame]) -> None:
    model, _ = telecom_model
    thresholds = model.thresholds_
    assert thresholds.red >= thresholds.orange >= thresholds.yellow
    scores = np.linspace(0, 1, 10001)
    levels = Thresholds.from_capacity(model.spec, scores).levels(scores)
    assert abs((levels == "red").mean() - 0.01) < 0.001
    assert abs((levels == "orange").mean() - 0.04) < 0.001
    assert abs((levels == "yellow").mean() - 0.10) < 0.001


def test_calibrators_are_monotone_and_bounded() -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 2, 4000)
    label = (rng.random(4000) < 1 / (1 + np.exp(-(0.5 * margin - 1)))).astype(float)
    grid = np.linspace(-8, 8, 200)
    for kind in ("platt", "isotonic"):
        calibrated = Calibrator.fit(kind, margin, label).transform(grid)
        assert np.all(np.diff(calibrated) >= 0) and calibrated.min() >= 0 and calibrated.max() <= 1
    platt = Calibrator.fit("platt", margin, label)
    assert abs(platt.slope - 0.5) < 0.1 and abs(platt.intercept + 1) < 0.15


def test_model_matrix_types_and_missing_columns(make_frame: Any) -> None:
    spec = get_spec("dispute-escalation")
    frame = make_frame(spec, n_rows=5)
    frame["dispute_type"] = ["labour", "not-a-type", None, "land", "other"]
    matrix = model_matrix(spec, frame)
    assert list(matrix.columns) == list(spec.feature_names)
    assert matrix["dispute_type"].isna().tolist() == [False, True, True, False, False]
    assert list(matrix["dispute_type"].cat.categories) == list(
        spec.feature("dispute_type").categories
    )
    assert matrix["group_flag"].dtype == "float64"
    with pytest.raises(FeatureMismatchError, match="n_parties"):
        model_matrix(spec, frame.drop(columns=["n_parties"]))


def test_load_errors_are_clear(
    telecom_model: tuple[RiskModel, pd.DataFrame], tmp_path: Path
) -> None:
    model, _ = telecom_model
    with pytest.raises(ModelLoadError, match=r"has no booster\.txt"):
        RiskModel.load(tmp_path / "nowhere")

    corrupt_meta = model.save(tmp_path / "meta")
    (corrupt_meta / META_FILE).write_text("{not json")
    with pytest.raises(ModelLoadError, match="corrupt"):
        RiskModel.load(corrupt_meta)

    corrupt_booster = model.save(tmp_path / "booster")
    (corrupt_booster / BOOSTER_FILE).write_text("garbage")
    with pytest.raises(ModelLoadError, match="corrupt"):
        RiskModel.load(corrupt_booster)

    other_catalog = model.save(tmp_path / "features")
    meta = json.loads((other_catalog / META_FILE).read_text())
    # The first feature is required (the last, education_level, is optional: a model trained
    # on a city without its column is a valid model, tests/e2e/test_optional_columns.py).
    meta["features"] = meta["features"][1:]
    (other_catalog / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="differ from the current catalog"):
        RiskModel.load(other_catalog)


def test_fast_feature_matrix_predicts_like_the_pandas_path(
    dispute_model: tuple[RiskModel, pd.DataFrame],
) -> None:
    model, frame = dispute_model
    rows = frame.head(50).copy()
    rows["dispute_type"] = rows["dispute_type"].astype("object")
    rows.loc[rows.index[:3], "dispute_type"] = ["not-a-type", None, "land"]
    rows["n_parties"] = rows["n_parties"].astype("object")
    rows.loc[rows.index[3], "n_parties"] = None
    rows.loc[rows.index[4], "n_parties"] = pd.NA
    fast = feature_matrix(model.spec, rows)
    assert np.isnan(fast[:2, model.spec.feature_names.index("dispute_type")]).all()
    assert np.isnan(fast[3:5, model.spec.feature_names.index("n_parties")]).all()
    for batch in (rows, rows.head(1), frame):  # few rows and many rows take different paths
        for kind in ({"raw_score": True}, {"pred_contrib": True}):
            np.testing.assert_array_equal(
                model.booster_.predict(feature_matrix(model.spec, batch), **kind),
                model.booster_.predict(model_matrix(model.spec, batch), **kind),
            )


def test_calibrator_learns_from_the_calibration_rows_only(make_frame: Any) -> None:
    task_spec = get_spec("dispute-escalation")
    spec = dataclasses.replace(
        task_spec, params=dataclasses.replace(task_spec.params, num_boost_round=40)
    )
    train, valid, extra = (make_frame(spec, seed=seed) for seed in (20, 21, 22))
    calibration = pd.concat([extra, valid], ignore_index=True)
    plain = RiskModel(spec).fit(train, train["label"], valid, valid["label"])
    pooled = RiskModel(spec).fit(
        train, train["label"], valid, valid["label"], calibration, calibration["label"].to_numpy()
    )
    assert pooled.model_text() == plain.model_text()
    assert pooled.calibrator_ == Calibrator.fit(
        spec.calibration, pooled.raw_margin(calibration), calibration["label"].to_numpy()
    )
    assert pooled.calibrator_ != plain.calibrator_
    assert pooled.thresholds_ == Thresholds.from_capacity(spec, pooled.predict_proba(valid))
