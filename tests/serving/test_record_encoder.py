"""The service's pandas-free record encoding equals the scorer's frame encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.risk_model import feature_matrix
from models.spec import get_spec
from serving import schemas
from serving.encoding import ROW_WISE_MAX_ROWS, RecordEncoder


@pytest.mark.parametrize("task", list(schemas.TASK_SLUGS))
def test_encoder_matches_feature_matrix(task: str) -> None:
    spec = get_spec(task)
    record_model = schemas.record_model(schemas.TASK_SLUGS[task])
    rng = np.random.default_rng(3)
    raw: list[dict[str, object]] = []
    for row in range(40):
        values: dict[str, object] = {"entity_id": f"unit-{row}"}
        for feature in spec.features:
            if rng.random() < 0.2:
                continue  # omitted: missing
            if feature.dtype == "category":
                values[feature.name] = str(rng.choice(list(feature.categories)))
            elif feature.dtype == "bool":
                values[feature.name] = bool(rng.random() < 0.5)
            elif feature.dtype == "int":
                values[feature.name] = int(feature.min_value or 0) + int(rng.integers(0, 3))
            else:
                low = feature.min_value if feature.min_value is not None else -5.0
                values[feature.name] = float(low) + float(rng.random())
        raw.append(values)
    records = [record_model.model_validate(values) for values in raw]
    encoder = RecordEncoder.for_spec(spec)
    matrix, columns, ids = encoder.encode(records)
    frame = pd.DataFrame([{f: r.get(f) for f in spec.feature_names} for r in raw])
    np.testing.assert_array_equal(matrix, feature_matrix(spec, frame))
    # small requests take the row-wise conversion: the same matrix, row for row
    for n_rows in (0, 1, ROW_WISE_MAX_ROWS - 1):
        small, small_columns, _ = encoder.encode(records[:n_rows])
        assert small.shape == (n_rows, len(spec.feature_names))
        np.testing.assert_array_equal(small, matrix[:n_rows])
        assert small_columns == [column[:n_rows] for column in columns]
    assert ids.tolist() == [r["entity_id"] for r in raw]
    assert columns[0] == [r.get(spec.feature_names[0]) for r in raw]
