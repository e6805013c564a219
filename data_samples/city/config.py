"""City sizes, calendars and the fixed category lists shared by the three simulated departments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

GENERATOR_VERSION = "1.0.0"

#: Public size names accepted by `riskloop generate`.
SIZES: tuple[str, ...] = ("small", "default", "large")

#: Every simulated window ends here (exclusive), so data from different sizes line up in time.
CITY_END = date(2026, 1, 1)

#: Huzhou's five county-level districts (lower-case pinyin) and their share of the population.
DISTRICTS: tuple[str, ...] = ("wuxing", "nanxun", "deqing", "changxing", "anji")
DISTRICT_SHARES = np.array([0.32, 0.15, 0.16, 0.21, 0.16])
#: Administrative division codes used inside unified social credit codes.
DISTRICT_CODES: tuple[str, ...] = ("330502", "330503", "330521", "330522", "330523")

#: Lunar new year (Spring Festival) dates; wage arrears peak in the months before them.
LUNAR_NEW_YEAR: tuple[date, ...] = (
    date(2020, 1, 25),
    date(2021, 2, 12),
    date(2022, 2, 1),
    date(2023, 1, 22),
    date(2024, 2, 10),
    date(2025, 1, 29),
    date(2026, 2, 17),
    date(2027, 2, 6),
)


@dataclass(frozen=True)
class CitySize:
    """How many units each department holds and how long the simulated window is.

    Chunk sizes bound memory: each chunk of units is simulated and written on its own, so
    `large` never holds a whole table in memory.
    """

    employers: int
    wage_months: int
    residents: int
    fraud_months: int
    disputes: int
    dispute_months: int
    employer_chunk: int = 10_000
    resident_chunk: int = 25_000
    dispute_chunk: int = 20_000


SIZE_CONFIG: dict[str, CitySize] = {
    # `tiny` exists for fast determinism tests only; it is not offered by the CLI.
    "tiny": CitySize(
        employers=150, wage_months=12, residents=600, fraud_months=6, disputes=400, dispute_months=8
    ),
    "small": CitySize(
        employers=800,
        wage_months=24,
        residents=4_000,
        fraud_months=12,
        # Two years of disputes: the time split's two 90-day gaps still leave a useful training slice.
        disputes=4_000,
        dispute_months=24,
    ),
    "default": CitySize(
        employers=10_000,
        wage_months=36,
        residents=50_000,
        fraud_months=12,
        disputes=20_000,
        dispute_months=24,
    ),
    "large": CitySize(
        employers=100_000,
        wage_months=36,
        residents=500_000,
        fraud_months=12,
        disputes=200_000,
        dispute_months=24,
    ),
}
