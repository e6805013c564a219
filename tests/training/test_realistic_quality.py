"""Honest quality floors on the small realistic city (seed 7): the champion recipe against the
oracle, and the crude baseline held below it.

Measured on this city (bench/quality.py's `champion` and `crude_baseline`, the same code as
below; wage re-measured at 63080ae, after `court_cases_12m`): champion lift recovered
0.983 / 0.951 / 0.884 (wage / fraud / dispute), ECE 0.0128 / 0.0019 / 0.0329 (the oracle's own ECE on the same slices
0.0091 / 0.0022 / 0.0275: the wage and dispute test slices hold 2,929 and 602 rows), crude
baseline 0.650 / 0.817 / 0.775. Floors sit LIFT_TOLERANCE below the measured lift; the crude baseline must stay within
CRUDE_TOLERANCE of its measured value and below the champion on every task (the realistic
city's dose-responses and sign changes by group leave a yes/no model behind even on the small
city; the default city's figures, three seeds, are in bench/results/quality.json).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.quality import champion, crude_baseline
from features.tasks import TASKS

LIFT_TOLERANCE = 0.04
CRUDE_TOLERANCE = 0.04
#: task -> (measured champion lift, measured ECE, measured crude lift) on the small city.
MEASURED = {
    "wage-arrears": (0.983, 0.0128, 0.650),
    "telecom-fraud": (0.951, 0.0019, 0.817),
    "dispute-escalation": (0.884, 0.0329, 0.775),
}
SLUGS = {info.name: slug for slug, info in TASKS.items()}


@pytest.mark.parametrize("task", list(MEASURED))
def test_champion_recipe_recovers_the_oracle_lift_and_the_crude_baseline_does_not(
    task: str, realistic_city: Path, isolated_env: Path
) -> None:
    lift, ece, crude = MEASURED[task]
    figures = champion(realistic_city, task)
    baseline = crude_baseline(realistic_city, SLUGS[task])
    assert figures["lift_recovered"] >= lift - LIFT_TOLERANCE, figures
    # ECE: a hundredth above the measured value or the oracle's own noise floor on the slice.
    assert figures["ece"] <= max(ece, figures["oracle_ece"]) + 0.01, figures
    assert abs(baseline["crude_lift_recovered"] - crude) <= CRUDE_TOLERANCE, baseline
    assert baseline["crude_lift_recovered"] < figures["lift_recovered"], (baseline, figures)
