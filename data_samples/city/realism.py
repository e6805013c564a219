"""The realistic profile: the imperfections of a real city's records, planted on purpose.

The clean profile is the city of generator 1.0.0: additive effects of the driver quantities on
the log-odds, complete monthly records, constant effects, detection that depends only on sector
or age. A real city is messier, and a model that does well on the clean city may do badly on
it. `riskloop generate --profile realistic` (the default) adds, per task, the imperfections
below; each is documented with its parameters in data_samples/README.md ("The realistic
profile") and recorded in the truth files (`truth/drivers.json` under "realism", the unit
files' `event_prob`).

Every draw the realistic profile adds comes from its own random stream (`Realism.rng`, seeded
from `[seed, task, chunk, 1]`), so the clean profile's draws, and therefore its bytes, are
exactly those of generator 1.0.0.

The effect functions return `g_d(x)` per driver: the driver's contribution to the log-odds is
`beta_d * g_d(x)`, with `g_d(x) = x_d` in the clean profile. Keeping one term per driver keeps
the dominant-driver rule (truth.dominant_driver) meaningful while the shape of each term is no
longer linear in what the tables show (thresholds, saturation) and depends on who the unit is
(interactions with sector, age, group disputes) or when (seasonality by sector, drift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_samples.city.common import sigmoid

PROFILES: tuple[str, ...] = ("realistic", "clean")
DEFAULT_PROFILE = "realistic"


@dataclass(frozen=True)
class Realism:
    """The realistic profile's random stream (independent of the clean profile's draws)."""

    rng: np.random.Generator


# --- wage arrears -----------------------------------------------------------------------------
# Sector order: construction, manufacturing, retail, hospitality, logistics, services, it.
#: An electricity drop means idle machines in manufacturing and idle sites in construction; a
#: shop or an office uses little power whatever its trouble (multiplies electricity_drop).
WAGE_POWER_BY_SECTOR = np.array([1.6, 2.2, 0.1, 0.1, 0.8, 0.05, 0.05])
#: Year-end settlement pressure: construction and factories pay migrant workers before the
#: lunar new year; services pay monthly all year (multiplies spring_festival).
WAGE_FESTIVAL_BY_SECTOR = np.array([2.6, 1.6, 0.1, 0.1, 1.0, 0.0, 0.0])
#: Social-insurance arrears saturate: a firm that stopped paying says so in its first months.
WAGE_SI_SCALE = 0.15
#: ...and they weigh more with overdue tax beside them (two departments see the same trouble).
WAGE_SI_TAX_AMPLIFIER = 1.8
#: One creditor suit or one complaint is ordinary business; repeated ones are a pattern: the
#: effect starts at the second in 365 days (slope on log(1 + count) beyond log 2).
WAGE_REPEAT_SLOPE = 2.5
#: Headcount falls below this are ordinary turnover and carry no risk.
WAGE_HEADCOUNT_THRESHOLD = 0.08
#: Owner payment delays matter once a quarter of the due instalments is unpaid.
WAGE_OWNER_THRESHOLD = 0.25
#: A month's social-insurance or tax declaration is missing with probability
#: sigmoid(WAGE_MISSING_BASE + WAGE_MISSING_STRESS * stress): firms in trouble miss more.
WAGE_MISSING_BASE = -4.2
WAGE_MISSING_STRESS = 1.3
#: Meter readings are missing at random in this share of months.
WAGE_UTILITY_MISSING = 0.02
#: Detection: micro firms (few, often migrant, workers) hide arrears more, and firms whose
#: workers already complain about other matters are found out more.
WAGE_DETECT_MICRO = 0.6
WAGE_DETECT_NO_COMPLAINTS = 0.75


def wage_effects(x: np.ndarray, sector: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """g_d(x) for the wage-arrears drivers; `x` is (firms, months, drivers)."""
    g = x.copy()
    sector_col = sector[:, None]
    si = 1.0 - np.exp(-x[..., index["si_arrears"]] / WAGE_SI_SCALE)
    g[..., index["si_arrears"]] = (
        0.45 * si * (0.3 + WAGE_SI_TAX_AMPLIFIER * x[..., index["tax_overdue"]])
    )
    for name in ("creditor_suits", "prior_complaints"):
        g[..., index[name]] = WAGE_REPEAT_SLOPE * np.clip(x[..., index[name]] - np.log(2), 0, None)
    g[..., index["electricity_drop"]] = (
        x[..., index["electricity_drop"]] * WAGE_POWER_BY_SECTOR[sector_col]
    )
    g[..., index["spring_festival"]] = (
        x[..., index["spring_festival"]] * WAGE_FESTIVAL_BY_SECTOR[sector_col]
    )
    g[..., index["headcount_drop"]] = 1.6 * np.clip(
        x[..., index["headcount_drop"]] - WAGE_HEADCOUNT_THRESHOLD, 0.0, 0.25
    )
    owner = x[..., index["owner_payment_delay"]]
    g[..., index["owner_payment_delay"]] = np.where(owner > WAGE_OWNER_THRESHOLD, 0.7, 0.1 * owner)
    return g


def wage_missing(realism: Realism, stress: np.ndarray) -> dict[str, np.ndarray]:
    """(firms, months) masks of declarations the departments never received."""
    p = sigmoid(WAGE_MISSING_BASE + WAGE_MISSING_STRESS * stress)
    shape = stress.shape
    return {
        "social_insurance": realism.rng.random(shape) < p,
        "tax": realism.rng.random(shape) < p,
        "utilities": realism.rng.random(shape) < WAGE_UTILITY_MISSING,
    }


def wage_detection(
    detect: np.ndarray, headcount0: np.ndarray, complaints: np.ndarray
) -> np.ndarray:
    """(firms, months) detection probability: who the firm is and whether workers speak up."""
    small = np.where(headcount0 < 10, WAGE_DETECT_MICRO, 1.0)
    speaking = np.where(complaints > 0, 1.0, WAGE_DETECT_NO_COMPLAINTS)
    return detect[:, None] * small[:, None] * speaking


# --- telecom fraud ---------------------------------------------------------------------------
#: Only a resident contacted repeatedly by flagged numbers is being worked on by a scam ring:
#: the effect starts above log(1 + FRAUD_CONTACT_THRESHOLD) contacts in 30 days.
FRAUD_CONTACT_THRESHOLD = 8
#: Screen-sharing and risky-app alerts matter more for residents of 60 and over.
FRAUD_ALERT_YOUNG, FRAUD_ALERT_OLD = 0.2, 2.4
#: New payees saturate: the third new payee in a month adds little to the first two.
FRAUD_PAYEE_CAP = float(np.log1p(2.0))
#: Drift: in the last FRAUD_DRIFT_MONTHS months a new screen-sharing script spreads: alerts
#: weigh FRAUD_DRIFT_ALERT times more, flagged calls FRAUD_DRIFT_CONTACT times as much (the
#: script reaches victims through apps rather than calls), and alerts become more frequent
#: (FRAUD_DRIFT_EXTRA_ALERTS extra alerts a month at average exposure).
FRAUD_DRIFT_MONTHS = 5
FRAUD_DRIFT_ALERT = 2.0
FRAUD_DRIFT_CONTACT = 0.5
FRAUD_DRIFT_EXTRA_ALERTS = 0.6
#: Reporting: residents living alone report less (no one to tell), on top of the age effect.
FRAUD_REPORT_ALONE = 0.7


def fraud_drift_months(n_months: int) -> np.ndarray:
    """Boolean per month: True for the months after the drift."""
    return np.arange(n_months) >= n_months - FRAUD_DRIFT_MONTHS


def fraud_extra_alerts(realism: Realism, exposure: np.ndarray) -> np.ndarray:
    """(residents, months) count of the new script's screen-sharing alerts."""
    drift = fraud_drift_months(exposure.shape[1])[None, :]
    rate = FRAUD_DRIFT_EXTRA_ALERTS * np.exp(0.8 * exposure - 0.3) * drift
    return realism.rng.poisson(rate)


def fraud_effects(
    x: np.ndarray, elderly: np.ndarray, drifted: bool, index: dict[str, int]
) -> np.ndarray:
    """g_d(x) for one month of telecom-fraud drivers; `x` is (residents, drivers)."""
    g = x.copy()
    contacts = np.clip(x[:, index["flagged_contacts"]] - np.log1p(FRAUD_CONTACT_THRESHOLD), 0, None)
    g[:, index["flagged_contacts"]] = 2.5 * contacts * (FRAUD_DRIFT_CONTACT if drifted else 1.0)
    alert_weight = np.where(elderly, FRAUD_ALERT_OLD, FRAUD_ALERT_YOUNG)
    g[:, index["risky_app_alerts"]] = (
        x[:, index["risky_app_alerts"]] * alert_weight * (FRAUD_DRIFT_ALERT if drifted else 1.0)
    )
    g[:, index["new_payees"]] = np.minimum(x[:, index["new_payees"]], FRAUD_PAYEE_CAP) * 1.4
    g[:, index["outflow_spike"]] = x[:, index["outflow_spike"]] * np.where(elderly, 2.5, 0.2)
    return g


def fraud_detection(detect: np.ndarray, lives_alone: np.ndarray) -> np.ndarray:
    """Per resident: probability that a fraud is reported."""
    return detect * np.where(lives_alone, FRAUD_REPORT_ALONE, 1.0)


# --- dispute escalation -----------------------------------------------------------------------
#: Threats and anger escalate a group dispute far more than a quarrel between two people.
DISPUTE_THREAT_GROUP = 1.4
#: One failed mediation says most of it.
DISPUTE_FAILED_CAP = 1.0
#: Only amounts above 10^(4 + DISPUTE_AMOUNT_THRESHOLD) CNY push escalation.
DISPUTE_AMOUNT_THRESHOLD = 1.0
#: County handling calms group disputes (the county can convene every department); for a
#: dispute between two people it changes little.
DISPUTE_COUNTY_GROUP, DISPUTE_COUNTY_OTHER = 2.5, 0.0
#: Prior petitions matter for the high-risk types (labour, land, property, lending).
DISPUTE_PETITION_HIGH, DISPUTE_PETITION_OTHER = 1.8, 0.1
#: Recording: family disputes are kept quiet, group incidents are always on record.
DISPUTE_RECORD_FAMILY, DISPUTE_RECORD_GROUP, DISPUTE_RECORD_OTHER = 0.6, 0.98, 0.9


def dispute_effects(
    x: np.ndarray, group: np.ndarray, high_type: np.ndarray, index: dict[str, int]
) -> np.ndarray:
    """g_d(x) for the dispute-escalation drivers; `x` is (disputes, drivers)."""
    g = x.copy()
    g[:, index["threat_emotion"]] = x[:, index["threat_emotion"]] * np.where(
        group, DISPUTE_THREAT_GROUP + 1.0, 0.3
    )
    g[:, index["failed_mediation"]] = 1.4 * np.minimum(
        x[:, index["failed_mediation"]], DISPUTE_FAILED_CAP
    )
    g[:, index["large_amount"]] = 2.0 * np.clip(
        x[:, index["large_amount"]] - DISPUTE_AMOUNT_THRESHOLD, 0.0, None
    )
    g[:, index["county_handling"]] = x[:, index["county_handling"]] * np.where(
        group, DISPUTE_COUNTY_GROUP, DISPUTE_COUNTY_OTHER
    )
    g[:, index["prior_petitions"]] = x[:, index["prior_petitions"]] * np.where(
        high_type, DISPUTE_PETITION_HIGH, DISPUTE_PETITION_OTHER
    )
    return g


def dispute_detection(dtype_is_family: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per dispute: probability that an escalation is recorded."""
    return np.where(
        group,
        DISPUTE_RECORD_GROUP,
        np.where(dtype_is_family, DISPUTE_RECORD_FAMILY, DISPUTE_RECORD_OTHER),
    )


def parameters() -> dict[str, dict[str, object]]:
    """The realistic profile's parameters, as recorded in truth/drivers.json ("realism")."""
    return {
        "wage_arrears": {
            "electricity_drop_x_sector": dict(
                zip(_SECTORS, WAGE_POWER_BY_SECTOR.tolist(), strict=True)
            ),
            "spring_festival_x_sector": dict(
                zip(_SECTORS, WAGE_FESTIVAL_BY_SECTOR.tolist(), strict=True)
            ),
            "si_arrears": "0.45 (1 - exp(-x / 0.15)) (1 + 0.8 tax_overdue)",
            "headcount_drop": "1.6 clip(x - 0.08, 0, 0.25)",
            "owner_payment_delay": "0.7 if x > 0.25 else 0.1 x",
            "missing_declarations": "P = sigmoid(-4.2 + 1.3 stress) per month (SI, tax)",
            "missing_meter_readings": WAGE_UTILITY_MISSING,
            "detection": "base x 0.6 (under 10 insured at start) x 0.75 (no other complaint "
            "in 365 days)",
        },
        "telecom_fraud": {
            "flagged_contacts": "1.8 max(0, x - log 4)",
            "risky_app_alerts": "x (0.5 under 60, 1.6 at 60+)",
            "new_payees": "1.4 min(x, log 3)",
            "outflow_spike": "x (0.6 under 60, 1.8 at 60+)",
            "drift_months": FRAUD_DRIFT_MONTHS,
            "drift": "alerts x2.0, flagged contacts x0.5, +0.6 exp(0.8 exposure - 0.3) "
            "screen-sharing alerts a month",
            "detection": "base x 0.7 when living alone",
        },
        "dispute_escalation": {
            "threat_emotion": "x (2.4 group, 0.7 otherwise)",
            "failed_mediation": "1.4 min(x, 1)",
            "large_amount": "2 max(0, x - 1)",
            "county_handling": "x (1.6 group, 0.2 otherwise)",
            "prior_petitions": "x (1.3 high-risk types, 0.4 otherwise)",
            "detection": "group 0.98, family 0.6, other 0.9",
        },
    }


_SECTORS = ("construction", "manufacturing", "retail", "hospitality", "logistics", "services", "it")
