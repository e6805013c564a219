"""Dispute escalation's declared structure: horizon, as-of delay, dispute types and their
shares, base rates, planted drivers, noise."""

from __future__ import annotations

import numpy as np

from data_samples.city.truth import Driver, NoiseSignal

SLUG = "dispute_escalation"
HORIZON_DAYS = 90
AS_OF_DELAY_DAYS = 7
BASE_LOG_ODDS = -4.7
INTENSITY_BETA = 0.45
MAX_LISTED_PARTIES = 8

DISPUTE_TYPES = (
    "labour",
    "neighbour",
    "family",
    "land",
    "property_management",
    "lending",
    "consumer",
    "other",
)
TYPE_SHARES = np.array([0.18, 0.20, 0.14, 0.10, 0.10, 0.12, 0.10, 0.06])
HIGH_RISK = np.array([True, False, False, True, True, True, False, False])
GROUP_PROB = np.array([0.22, 0.02, 0.0, 0.18, 0.28, 0.04, 0.05, 0.02])
AMOUNT_LOG_MEAN = np.log(np.array([40_000, 3_000, 20_000, 80_000, 15_000, 120_000, 5_000, 10_000]))
VIOLENCE_PRONE = np.array([False, True, True, True, False, True, False, False])

DRIVERS: tuple[Driver, ...] = (
    Driver(
        "high_risk_type",
        "disputes",
        ("dispute_type",),
        1,
        "Labour, land, property-management or lending dispute.",
        0.7,
    ),
    Driver(
        "many_parties",
        "disputes",
        ("n_parties",),
        1,
        "log(n_parties / 2): more parties, more ways to escalate.",
        0.5,
    ),
    Driver(
        "group_dispute",
        "disputes",
        ("group_flag",),
        1,
        "Registered as a group dispute (5 or more people).",
        0.6,
    ),
    Driver(
        "large_amount",
        "disputes",
        ("amount",),
        1,
        "clip(log10(amount) - 4, 0, 2): amounts above 10,000 CNY.",
        0.45,
    ),
    Driver(
        "prior_police_calls",
        "police_calls",
        ("party_id", "event_time"),
        1,
        "log(1 + 110 calls by the dispute's listed parties in the 365 days before the as-of date, on record).",
        0.75,
    ),
    Driver(
        "prior_petitions",
        "petitions",
        ("party_id", "event_time"),
        1,
        "log(1 + petitions by the listed parties in the 365 days before the as-of date, on record).",
        0.8,
    ),
    Driver(
        "failed_mediation",
        "mediation_sessions",
        ("outcome",),
        1,
        "Failed or no-show mediation sessions on record by the as-of date (capped at 2).",
        0.8,
    ),
    Driver(
        "threat_emotion",
        "grid_visits",
        ("threat_flag", "emotion_flag"),
        1,
        "Grid visits on record by the as-of date: any threat flag (1) + any emotion flag (0.5).",
        1.0,
    ),
    Driver(
        "county_handling",
        "disputes",
        ("handling_level",),
        -1,
        "Handled by the county mediation centre, which resolves more.",
        -0.8,
    ),
)
DRIVER_INDEX = {driver.name: i for i, driver in enumerate(DRIVERS)}
NOISE: tuple[NoiseSignal, ...] = (
    NoiseSignal("registration_channel", "disputes", ("registration_channel",)),
    NoiseSignal("visit_duration", "grid_visits", ("visit_duration_min",)),
)
