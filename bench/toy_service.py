"""The toy baseline for the serving benchmark: the least a BentoML service can do.

No authentication, no validation beyond BentoML's own typing, no warnings, no reasons: it loads
one task's champion (`RISKLOOP_BENCH_TASK`) and answers the raw `pred_contrib` matrix (SHAP
values plus the base value) for the rows it is sent. riskloop's service is compared with it.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import numpy as np
import pandas as pd

from models.registry import load_registered
from models.risk_model import model_matrix
from models.settings import get_settings


@bentoml.service(name="toy", logging={"access": {"enabled": False}})
class ToyService:
    """`pred_contrib` for a list of feature rows."""

    def __init__(self) -> None:
        uri = get_settings().mlflow_uri
        self.model, _ = load_registered(os.environ["RISKLOOP_BENCH_TASK"], tracking_uri=uri)

    @bentoml.api
    def contrib(self, rows: list[dict[str, Any]]) -> list[list[float]]:
        matrix = model_matrix(self.model.spec, pd.DataFrame(rows))
        values = self.model.booster_.predict(matrix, pred_contrib=True)
        return np.asarray(values, dtype="float64").tolist()
