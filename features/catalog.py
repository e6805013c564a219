"""The feature catalog: one entry per model feature, the single source of feature metadata.

Reason sentences, monotone constraints, API schemas, reports and docs are all generated from
these entries; nothing else restates a feature's label, unit, direction or range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal[-1, 0, 1]
FeatureDtype = Literal["float", "int", "bool", "category"]


@dataclass(frozen=True)
class FeatureDef:
    """Metadata of one model feature.

    Attributes:
        name: column name in datasets and API records.
        dtype: value type; `category` features list their `categories`.
        unit: unit of the value ("months", "CNY", "count", "ratio", "" for none).
        label_en / label_zh: short human labels for reports and reasons.
        source_table / source_columns: the raw table and columns it is derived from.
        direction: expected effect on risk (+1 raises, -1 lowers, 0 no stated direction);
            becomes the LightGBM monotone constraint.
        actionable: whether a department can act on it (fixed attributes such as age are not).
        driver: name of the simulated city's planted driver it measures (truth/drivers.json),
            `None` if it measures none.
        noise: True if it is derived from a documented pure-noise signal.
        min_value / max_value: valid range, checked on API input.
        categories: allowed values of a category feature.
        reason_en / reason_zh: sentence templates formatted with `value`.
        why_kept: for age/sex-derived features, why the model may use them.
    """

    name: str
    dtype: FeatureDtype
    unit: str
    label_en: str
    label_zh: str
    source_table: str
    source_columns: tuple[str, ...]
    direction: Direction
    actionable: bool
    driver: str | None = None
    noise: bool = False
    min_value: float | None = None
    max_value: float | None = None
    categories: tuple[str, ...] = ()
    reason_en: str = ""
    reason_zh: str = ""
    why_kept: str = ""
