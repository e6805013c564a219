"""The registered pyfunc holds feature values to the catalog's rules, as the API does.

A champion loaded through MLflow scored a negative count and an infinite amount that the API
and `riskloop score` refuse ("inf == floor(inf)" passed the whole-number check too). It now
refuses any value outside the catalog's `min_value`/`max_value` and any infinite number,
naming the column and the rule; a missing value (None, NaN) stays allowed, as in both.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from models.registry import PyfuncInputError
from models.risk_model import RiskModel

from .conftest import fit_synthetic

TASK = "wage-arrears"
COUNT = "si_arrears_months_3m"  # a count from 0 to 3
AMOUNT = "tax_overdue_amount"  # CNY from 0 to 1e12


@pytest.fixture(scope="module")
def champion(
    tmp_path_factory: pytest.TempPathFactory,
    empty_mlflow_store: Path,
) -> Iterator[tuple[RiskModel, mlflow.pyfunc.PyFuncModel, pd.DataFrame]]:
    """A small model registered in a temp SQLite store, its champion loaded through MLflow,
    and rows that keep every catalog rule."""
    from models.settings import get_settings
    from training.tracking import configure_tracking, log_and_register

    folder = tmp_path_factory.mktemp("pyfunc-rules")
    shutil.copyfile(empty_mlflow_store, folder / "mlruns.db")
    uri = f"sqlite:///{folder / 'mlruns.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RISKLOOP_MLFLOW_URI", uri)
        patch.setenv("RISKLOOP_ARTIFACT_LOCATION", str(folder / "mlartifacts"))
        get_settings.cache_clear()
        model, frame = fit_synthetic(TASK)
        rows = _within_the_catalog(model, frame.head(40))
        try:
            configure_tracking()
            with mlflow.start_run():
                log_and_register(model, rows)
            pyfunc = mlflow.pyfunc.load_model(
                f"models:/{model.spec.registered_model_name}@champion"
            )
            yield model, pyfunc, rows
        finally:
            mlflow.set_tracking_uri("")
            mlflow.set_registry_uri("")
            get_settings.cache_clear()


def _within_the_catalog(model: RiskModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The synthetic rows with each number clipped into its catalog range (NaN kept)."""
    clipped = {
        f.name: frame[f.name].clip(f.min_value, f.max_value)
        for f in model.spec.features
        if f.dtype in ("int", "float")
    }
    return frame.assign(**clipped).reset_index(drop=True)


def test_rows_within_the_rules_score_as_the_model_does(
    champion: tuple[RiskModel, mlflow.pyfunc.PyFuncModel, pd.DataFrame],
) -> None:
    model, pyfunc, rows = champion
    gaps = rows.assign(
        **{
            AMOUNT: rows[AMOUNT].astype("object").where(rows.index % 3 != 0, None),
            COUNT: rows[COUNT].astype("float64").where(rows.index % 4 != 0, np.nan),
        }
    )
    assert gaps[AMOUNT].isna().any() and gaps[COUNT].isna().any()
    for frame in (rows, gaps):
        np.testing.assert_array_equal(np.asarray(pyfunc.predict(frame)), model.predict_proba(frame))


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        (COUNT, -1, "must be between 0 and 3"),
        (COUNT, 4, "must be between 0 and 3"),
        (COUNT, np.inf, "must be a finite number"),
        (COUNT, -np.inf, "must be a finite number"),
        (AMOUNT, -5.0, "must be between 0 and 1e+12"),
        (AMOUNT, 2e12, "must be between 0 and 1e+12"),
        (AMOUNT, np.inf, "must be a finite number"),
        (AMOUNT, -np.inf, "must be a finite number"),
    ],
)
def test_values_the_api_refuses_are_refused_naming_column_and_rule(
    champion: tuple[RiskModel, mlflow.pyfunc.PyFuncModel, pd.DataFrame],
    column: str,
    value: float,
    rule: str,
) -> None:
    _, pyfunc, rows = champion
    bad = rows.assign(**{column: rows[column].where(rows.index != 2, value)})
    with pytest.raises(PyfuncInputError, match=f"^column {column} {re.escape(rule)}: 1 of "):
        pyfunc.predict(bad)
