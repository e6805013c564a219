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

from models.registry import load_registered
from models.settings import get_settings


@bentoml.service(name="toy", logging={"access": {"enabled": False}})
class ToyService:
    """`pred_contrib` for a list of feature rows."""

    def __init__(self) -> None:
        uri = get_settings().mlflow_uri
        self.model, _ = load_registered(os.environ["RISKLOOP_BENCH_TASK"], tracking_uri=uri)
        spec = self.model.spec
        self.names = spec.feature_names
        self.codes = [
            {c: float(i) for i, c in enumerate(f.categories)} if f.dtype == "category" else None
            for f in spec.features
        ]

    @bentoml.api
    def contrib(self, rows: list[dict[str, Any]]) -> list[list[float]]:
        """No pandas: the float matrix the booster was trained on, built straight from rows."""
        matrix = np.array(
            [
                [
                    row.get(name) if codes is None else codes.get(row.get(name), np.nan)  # type: ignore[arg-type]
                    for name, codes in zip(self.names, self.codes, strict=True)
                ]
                for row in rows
            ],
            dtype="float64",
        )
        values = self.model.booster_.predict(matrix, pred_contrib=True, num_threads=1)
        return np.asarray(values, dtype="float64").tolist()
