"""The pyfunc's own input check against the catalog, and its catalog signature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.tasks import TASK_NAMES
from models.registry import (
    SIGNATURE_TYPES,
    PyfuncInputError,
    catalog_signature,
    pyfunc_input,
)
from models.risk_model import FeatureMismatchError
from models.spec import TaskSpec, get_spec


def _frame(spec: TaskSpec) -> pd.DataFrame:
    """Two valid rows in the dataset's own types (categories as pandas categories)."""
    columns = {}
    for f in spec.features:
        if f.dtype == "category":
            columns[f.name] = pd.Categorical([f.categories[0], None], categories=f.categories)
        elif f.dtype == "int":
            columns[f.name] = np.array([1, 0], dtype="int64")
        elif f.dtype == "bool":
            columns[f.name] = np.array([True, False])
        else:
            columns[f.name] = np.array([0.5, np.nan])
    return pd.DataFrame(columns)


def _first(spec: TaskSpec, dtype: str) -> str:
    return next(f.name for f in spec.features if f.dtype == dtype)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_signature_types_come_from_the_catalog(task: str) -> None:
    spec = get_spec(task)
    signature = catalog_signature(spec)
    assert [(c.name, c.type.name) for c in signature.inputs.inputs] == [
        (f.name, SIGNATURE_TYPES[f.dtype]) for f in spec.features
    ]
    assert signature._is_signature_from_type_hint  # the model checks its own input


def test_dataset_types_text_floats_and_flags_as_numbers_are_accepted() -> None:
    spec = get_spec("wage-arrears")
    frame = _frame(spec)
    category, count, flag = (_first(spec, kind) for kind in ("category", "int", "bool"))
    variants = [
        frame,
        frame.assign(**{category: frame[category].astype("object")}),
        frame.assign(**{category: frame[category].astype("str").where(frame[category].notna())}),
        frame.assign(**{count: frame[count].astype("float64")}),
        frame.assign(**{count: [2.0, np.nan]}),
        frame.assign(**{flag: [1.0, 0.0]}),
        frame.assign(extra_column="ignored"),
    ]
    for variant in variants:
        assert pyfunc_input(spec, variant) is variant
    records = frame.astype({category: "object"}).to_dict("records")
    assert len(pyfunc_input(spec, records)) == 2


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        ("category", ["no-such", None], "holds no-such; expected one of"),
        ("category", [1, 2], "holds int64 values; expected the category as text"),
        ("int", [1.5, 0.0], "holds fractions"),
        ("int", ["3", "4"], "holds object values; expected numbers"),
        ("int", [True, False], "holds booleans; expected numbers"),
        ("bool", [2, 0], "holds numbers other than 0 and 1"),
        ("float", ["x", "y"], "holds object values; expected numbers"),
    ],
)
def test_values_that_do_not_fit_are_refused_naming_the_column(
    kind: str, values: list[object], message: str
) -> None:
    spec = get_spec("wage-arrears")
    name = _first(spec, kind)
    bad = _frame(spec).assign(
        **{name: pd.Series(values, dtype="object" if kind != "category" else None)}
    )
    with pytest.raises(PyfuncInputError, match=f"column {name} {message}"):
        pyfunc_input(spec, bad)


def test_a_missing_feature_column_is_named() -> None:
    spec = get_spec("telecom-fraud")
    name = spec.features[0].name
    with pytest.raises(FeatureMismatchError, match=f"lacks 1 feature column.*{name}"):
        pyfunc_input(spec, _frame(spec).drop(columns=[name]))
