"""The risk levels and page languages every model module names (`models.spec` re-exports them)."""

from __future__ import annotations

from typing import Literal

RiskLevel = Literal["red", "orange", "yellow", "green"]
RISK_LEVELS: tuple[RiskLevel, ...] = ("red", "orange", "yellow", "green")
#: the levels that raise a warning (green raises none)
WARNING_LEVELS: tuple[RiskLevel, ...] = ("yellow", "orange", "red")
Lang = Literal["en", "zh"]
