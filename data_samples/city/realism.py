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
import pandas as pd

from data_samples.city.common import sigmoid

PROFILES: tuple[str, ...] = ("realistic", "clean")
DEFAULT_PROFILE = "realistic"


@dataclass(frozen=True)
class Realism:
    """The realistic profile's random streams (independent of the clean profile's draws).

    `history` draws the population's history (entries, exits, moves, readings before the
    window: city/history.py) apart from `rng`, so that adding it left every other realistic
    draw as it was.
    """

    rng: np.random.Generator
    history: np.random.Generator


#: Added to each task's base log-odds so that the realistic city's observed label rates stay
#: near the clean city's (thresholds and partial reporting remove risk that was additive).
BASE_SHIFT: dict[str, float] = {
    "wage_arrears": 0.9,
    "telecom_fraud": 0.55,
    "dispute_escalation": 1.6,
}


# --- wage arrears -----------------------------------------------------------------------------
# Sector order: construction, manufacturing, retail, hospitality, logistics, services, it.
#: An electricity drop means idle machines in manufacturing and idle sites in construction; a
#: shop or an office uses little power whatever its trouble (multiplies electricity_drop).
WAGE_POWER_BY_SECTOR = np.array([1.6, 2.2, 0.1, 0.1, 0.8, 0.05, 0.05])
#: A meter's three-month mean moves by about 5% from one quarter to the next in an ordinary
#: firm (weather, orders, holidays: 7% of firm-months show a fall beyond 8%); a larger fall is
#: idle machines or sites, and then weighs in proportion (slope on the fall beyond it).
WAGE_POWER_THRESHOLD, WAGE_POWER_SLOPE = 0.08, 2.5
#: Year-end settlement pressure: construction and factories pay migrant workers before the
#: lunar new year; services pay monthly all year (multiplies spring_festival).
WAGE_FESTIVAL_BY_SECTOR = np.array([2.6, 1.6, 0.1, 0.1, 1.0, 0.0, 0.0])
# Size order: micro, small, medium, large.
#: A micro firm often pays social insurance late as a habit; in a larger firm arrears are news.
WAGE_SI_BY_SIZE = np.array([0.4, 1.0, 1.8, 1.8])
#: Two of five people leaving a micro firm is turnover; a falling headcount in a larger firm is
#: lay-offs.
WAGE_HEADCOUNT_BY_SIZE = np.array([0.2, 1.2, 2.0, 2.0])
#: Social-insurance arrears saturate: a firm that stopped paying says so in its first months.
WAGE_SI_SCALE = 0.15
#: ...and they weigh more with overdue tax beside them (two departments see the same trouble).
WAGE_SI_TAX_AMPLIFIER = 1.8
#: One creditor suit or one complaint is ordinary business; repeated ones are a pattern: the
#: effect starts at the second in 365 days (slope on log(1 + count) beyond log 2).
WAGE_REPEAT_SLOPE = 2.5
#: Headcount falls below this are ordinary turnover and carry no risk.
WAGE_HEADCOUNT_THRESHOLD = 0.08
#: Declared sales matter once their three-month mean falls by more than about a ninth (log
#: fall 0.12, twice the quarter-to-quarter noise of an ordinary firm's declarations: 7% of
#: firm-months), and then in proportion to the fall (a firm whose sales halve cannot pay).
WAGE_SALES_THRESHOLD, WAGE_SALES_SLOPE = 0.12, 5.0
#: An abnormal-operation listing (address unreachable, annual report missing) weighs double:
#: in Huzhou's reported case the alert fired on social-insurance arrears plus such a listing.
WAGE_LISTING_WEIGHT = 2.0
#: Owner payment delays matter once a quarter of the due instalments is unpaid.
WAGE_OWNER_THRESHOLD = 0.25
#: A month's social-insurance or tax declaration is missing with probability
#: sigmoid(WAGE_MISSING_BASE + WAGE_MISSING_STRESS * stress): firms in trouble miss more.
WAGE_MISSING_BASE = -4.2
WAGE_MISSING_STRESS = 1.3
#: Meter readings are missing at random in this share of months.
WAGE_UTILITY_MISSING = 0.02
#: Back-payments: this share of short social-insurance declarations is later revised to paid
#: in full (the firm settles its arrears, often after an inspection), the revision reaching the
#: agency WAGE_BACKPAY_DAYS (uniform range) after the first declaration.
WAGE_BACKPAY_SHARE = 0.35
WAGE_BACKPAY_DAYS = (30.0, 150.0)
#: Detection: micro firms (few, often migrant, workers) hide arrears more, and firms whose
#: workers already complain about other matters are found out more.
WAGE_DETECT_BY_SIZE = np.array([0.25, 0.65, 1.0, 1.0])
#: ...and by sector: migrant-heavy construction, hospitality and logistics crews complain
#: least; IT staff and factory workers with contracts most.
WAGE_DETECT_BY_SECTOR = np.array([0.55, 0.85, 0.7, 0.45, 0.55, 0.8, 0.95])
WAGE_DETECT_NO_COMPLAINTS = 0.75


def wage_effects(
    x: np.ndarray, sector: np.ndarray, size_band: np.ndarray, index: dict[str, int]
) -> np.ndarray:
    """g_d(x) for the wage-arrears drivers; `x` is (firms, months, drivers)."""
    g = x.copy()
    sector_col, size_col = sector[:, None], size_band[:, None]
    si = 1.0 - np.exp(-x[..., index["si_arrears"]] / WAGE_SI_SCALE)
    g[..., index["si_arrears"]] = (
        0.45
        * si
        * WAGE_SI_BY_SIZE[size_col]
        * (0.3 + WAGE_SI_TAX_AMPLIFIER * x[..., index["tax_overdue"]])
    )
    for name in ("creditor_suits", "prior_complaints"):
        g[..., index[name]] = WAGE_REPEAT_SLOPE * np.clip(x[..., index[name]] - np.log(2), 0, None)
    power = WAGE_POWER_SLOPE * np.clip(
        x[..., index["electricity_drop"]] - WAGE_POWER_THRESHOLD, 0, None
    )
    g[..., index["electricity_drop"]] = power * WAGE_POWER_BY_SECTOR[sector_col]
    g[..., index["spring_festival"]] = (
        x[..., index["spring_festival"]] * WAGE_FESTIVAL_BY_SECTOR[sector_col]
    )
    g[..., index["headcount_drop"]] = (
        1.6
        * WAGE_HEADCOUNT_BY_SIZE[size_col]
        * np.clip(x[..., index["headcount_drop"]] - WAGE_HEADCOUNT_THRESHOLD, 0.0, 0.25)
    )
    g[..., index["tax_overdue"]] = 1.5 * np.clip(x[..., index["tax_overdue"]] - 0.34, 0, None)
    g[..., index["sales_decline"]] = WAGE_SALES_SLOPE * np.clip(
        x[..., index["sales_decline"]] - WAGE_SALES_THRESHOLD, 0, None
    )
    g[..., index["abnormal_listing"]] = WAGE_LISTING_WEIGHT * x[..., index["abnormal_listing"]]
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


def wage_revisions(
    realism: Realism, social_insurance: pd.DataFrame, end: np.datetime64
) -> pd.DataFrame:
    """The social-insurance table with back-payment revisions: a later row for the same
    (employer, month) that shows the contribution paid in full.

    The hazard acted on what the firm paid at the time (the first row); a model that reads the
    revised history at an earlier as-of date would see arrears vanish that were there.
    """
    short = (social_insurance["amount_paid"] < social_insurance["amount_due"]).to_numpy()
    revised = short & (realism.rng.random(len(social_insurance)) < WAGE_BACKPAY_SHARE)
    delay = realism.rng.uniform(*WAGE_BACKPAY_DAYS, len(social_insurance))
    rows = social_insurance[revised].assign(
        amount_paid=lambda t: t["amount_due"],
        available_at=lambda t: t["available_at"] + pd.to_timedelta(delay[revised], unit="D"),
    )
    rows = rows[rows["available_at"].to_numpy() < end]
    both = pd.concat([social_insurance, rows], ignore_index=True)
    return both.sort_values(["employer_id", "month", "available_at"], kind="stable").reset_index(
        drop=True
    )


def wage_detection(sector: np.ndarray, size_band: np.ndarray, complaints: np.ndarray) -> np.ndarray:
    """(firms, months) detection probability: who the firm is and whether workers speak up."""
    speaking = np.where(complaints > 0, 1.0, WAGE_DETECT_NO_COMPLAINTS)
    by_firm = WAGE_DETECT_BY_SECTOR[sector] * WAGE_DETECT_BY_SIZE[size_band]
    return by_firm[:, None] * speaking


# --- telecom fraud ---------------------------------------------------------------------------
#: Only a resident contacted repeatedly by flagged numbers is being worked on by a scam ring:
#: the effect starts above log(1 + FRAUD_CONTACT_THRESHOLD) contacts in 30 days.
FRAUD_CONTACT_THRESHOLD = 12
#: ...and then grows with every contact (slope on the log count).
FRAUD_CONTACT_SLOPE = 3.5
#: Screen-sharing and risky-app alerts matter most for older residents living alone (no one to
#: ask before following the caller's instructions) and little for young adults, who see many.
FRAUD_ALERT_YOUNG, FRAUD_ALERT_ALONE = 0.3, 3.0
#: A few weighted alerts in 30 days are background noise (everyone installs something odd, a
#: phishing link reaches most phones); beyond a weighted count of 3 (one screen-sharing alert)
#: it is a pattern (slope beyond log 4).
FRAUD_ALERT_FLOOR = 3
#: ...and then grows with every alert (slope on the log of the weighted count).
FRAUD_ALERT_SLOPE = 4.5
#: ...up to a saturation: once a scam is under way, more alerts add nothing (cap on the log
#: excess).
FRAUD_ALERT_CAP = 1.5
#: Fake-order job scams pay young adults to new payees; older victims transfer to one account.
FRAUD_PAYEE_YOUNG, FRAUD_PAYEE_OTHER = 4.0, 1.0
#: A sudden large transfer says most about an older resident living alone.
FRAUD_SPIKE_ALONE, FRAUD_SPIKE_OTHER = 3.0, 0.4
#: Up to three new payees a month are ordinary; from the fourth on they are a pattern.
FRAUD_PAYEE_FLOOR = float(np.log1p(3.0))
#: Drift: in the last FRAUD_DRIFT_MONTHS months a new screen-sharing script spreads: alerts
#: weigh FRAUD_DRIFT_ALERT times more, flagged calls FRAUD_DRIFT_CONTACT times as much (the
#: script reaches victims through apps rather than calls), and alerts become more frequent
#: (FRAUD_DRIFT_EXTRA_ALERTS extra alerts a month at average exposure).
FRAUD_DRIFT_MONTHS = 6
FRAUD_DRIFT_ALERT = 1.5
FRAUD_DRIFT_CONTACT = 0.7
FRAUD_DRIFT_EXTRA_ALERTS = 0.6
#: Reporting: young adults report most (online, used to apps); older residents living alone
#: least (shame, no one to tell). Replaces the clean profile's age-only rates.
FRAUD_REPORT_YOUNG, FRAUD_REPORT_MIDDLE, FRAUD_REPORT_OLD, FRAUD_REPORT_OLD_ALONE = (
    0.95,
    0.6,
    0.35,
    0.12,
)


#: Scam centres call from abroad: an overseas call from a flagged number weighs this many
#: domestic calls or SMS in the contact count the effect reads.
FRAUD_OVERSEAS_WEIGHT = 4.0
#: Alert types weigh differently: a screen-sharing alert means a scammer is on the line, a
#: phishing link is common, a flagged app less telling still.
FRAUD_ALERT_TYPE_WEIGHT = {"screen_sharing": 3.0, "phishing_url": 1.0, "flagged_app": 0.3}


def fraud_contact_weight(calls: np.ndarray, sms: np.ndarray, overseas: np.ndarray) -> np.ndarray:
    """Per contact day: the weighted contact count (overseas calls weigh more)."""
    return (calls + sms + FRAUD_OVERSEAS_WEIGHT * overseas).astype(float)


def fraud_alert_weight(alert_type: np.ndarray) -> np.ndarray:
    """Per alert: its weight by type."""
    weights = np.zeros(len(alert_type))
    for name, weight in FRAUD_ALERT_TYPE_WEIGHT.items():
        weights[alert_type == name] = weight
    return weights


def fraud_drift_months(n_months: int) -> np.ndarray:
    """Boolean per month: True for the months after the drift."""
    return np.arange(n_months) >= n_months - FRAUD_DRIFT_MONTHS


def fraud_extra_alerts(realism: Realism, exposure: np.ndarray) -> np.ndarray:
    """(residents, months) count of the new script's screen-sharing alerts."""
    drift = fraud_drift_months(exposure.shape[1])[None, :]
    rate = FRAUD_DRIFT_EXTRA_ALERTS * np.exp(0.8 * exposure - 0.3) * drift
    return realism.rng.poisson(rate)


def fraud_effects(x: np.ndarray, drifted: bool, index: dict[str, int]) -> np.ndarray:
    """g_d(x) for one month of telecom-fraud drivers; `x` is (residents, drivers).

    The groups come from the drivers themselves: `young_adult` (18-30) and `elderly_alone`
    (65+ living alone), so a model that sees those two features can learn every interaction.
    """
    g = x.copy()
    young = x[:, index["young_adult"]] > 0
    alone = x[:, index["elderly_alone"]] > 0
    contacts = np.clip(x[:, index["flagged_contacts"]] - np.log1p(FRAUD_CONTACT_THRESHOLD), 0, None)
    g[:, index["flagged_contacts"]] = (
        FRAUD_CONTACT_SLOPE * contacts * (FRAUD_DRIFT_CONTACT if drifted else 1.0)
    )
    alert_weight = np.where(alone, FRAUD_ALERT_ALONE, np.where(young, FRAUD_ALERT_YOUNG, 1.0))
    alerts = np.clip(
        x[:, index["risky_app_alerts"]] - np.log1p(FRAUD_ALERT_FLOOR), 0.0, FRAUD_ALERT_CAP
    )
    g[:, index["risky_app_alerts"]] = (
        FRAUD_ALERT_SLOPE * alerts * alert_weight * (FRAUD_DRIFT_ALERT if drifted else 1.0)
    )
    payees = np.clip(x[:, index["new_payees"]] - FRAUD_PAYEE_FLOOR, 0.0, None)
    g[:, index["new_payees"]] = payees * np.where(young, FRAUD_PAYEE_YOUNG, FRAUD_PAYEE_OTHER)
    prior = x[:, index["prior_victimisation"]]
    g[:, index["prior_victimisation"]] = prior * prior / 2.0
    g[:, index["outflow_spike"]] = x[:, index["outflow_spike"]] * np.where(
        alone, FRAUD_SPIKE_ALONE, FRAUD_SPIKE_OTHER
    )
    return g


def fraud_detection(age0: np.ndarray, lives_alone: np.ndarray) -> np.ndarray:
    """Per resident: probability that a fraud is reported (age at the window's start)."""
    old = np.where(lives_alone, FRAUD_REPORT_OLD_ALONE, FRAUD_REPORT_OLD)
    return np.where(age0 <= 30, FRAUD_REPORT_YOUNG, np.where(age0 >= 65, old, FRAUD_REPORT_MIDDLE))


# --- dispute escalation -----------------------------------------------------------------------
#: Threats and anger escalate a group dispute far more than a quarrel between two people.
DISPUTE_THREAT_GROUP = 1.4
#: One failed or missed mediation session is common; the second one is the warning sign.
#: The amount at stake works by type, and grows with it (log10 of the amount over 10,000 CNY):
#: in a labour dispute it is the wages owed to a crew, so every extra zero is more workers who
#: will march; in a land dispute it is the compensation; a large lending or consumer claim goes
#: to court instead (a formal channel, no escalation on the street), so a larger amount lowers
#: escalation there (order of DISPUTE_TYPES).
DISPUTE_AMOUNT_BY_TYPE = np.array([3.5, 0.0, 0.0, 2.0, 0.5, -3.0, -1.5, 0.0])
#: The high-risk types are not equally risky: labour (wages owed to many) and land disputes
#: escalate, property-management and lending disputes much less (order of DISPUTE_TYPES:
#: labour, neighbour, family, land, property_management, lending, consumer, other).
DISPUTE_TYPE_WEIGHT = np.array([1.6, 0.5, 0.0, 1.2, 0.2, 0.0, 0.0, 0.4])
#: Police calls by the parties matter from the third call in a year, and then with every call
#: (dose-response: slope on log(1 + calls) beyond log 3).
DISPUTE_CALLS_SLOPE = 3.0
#: A grid worker's "emotional" flag is common and says little; a threat is what escalates
#: (the clean city counts an emotion flag as half a threat).
DISPUTE_EMOTION_WEIGHT = 0.1
#: County handling calms group disputes (the county can convene every department); a dispute
#: between a few people reaches the county centre when the grid and township gave up on it, so
#: there it marks the intractable cases and raises the risk (a negative weight on a protective
#: driver).
DISPUTE_COUNTY_GROUP, DISPUTE_COUNTY_OTHER = 2.5, -0.6
#: A group dispute is often registered by its representatives: in this share of group
#: disputes only 2-4 representatives are listed as parties, so the party count understates
#: the crowd and the group flag carries what the count does not.
DISPUTE_REPRESENTED_SHARE = 0.4
#: Prior petitions matter for the high-risk types (labour, land, property, lending).
DISPUTE_PETITION_HIGH, DISPUTE_PETITION_OTHER = 1.8, 0.1
#: Many parties matter once a dispute is a group dispute (people organise); three neighbours
#: instead of two change little.
DISPUTE_PARTIES_GROUP, DISPUTE_PARTIES_OTHER = 1.8, 0.2
#: Recording: family disputes are kept quiet, group incidents are always on record, and an
#: escalation of a dispute handled at grid level is recorded less often than one the county
#: centre follows.
DISPUTE_RECORD_FAMILY, DISPUTE_RECORD_GROUP, DISPUTE_RECORD_OTHER = 0.3, 0.98, 0.9
DISPUTE_RECORD_BY_LEVEL = np.array([0.3, 0.75, 1.0])


def dispute_effects(
    x: np.ndarray, group: np.ndarray, dtype: np.ndarray, index: dict[str, int]
) -> np.ndarray:
    """g_d(x) for the dispute-escalation drivers; `x` is (disputes, drivers); `dtype` indexes
    the simulator's DISPUTE_TYPES."""
    g = x.copy()
    high_type = x[:, index["high_risk_type"]] > 0
    g[:, index["high_risk_type"]] = DISPUTE_TYPE_WEIGHT[dtype]
    calls = x[:, index["prior_police_calls"]]
    g[:, index["prior_police_calls"]] = DISPUTE_CALLS_SLOPE * np.clip(calls - np.log(3), 0, None)
    g[:, index["threat_emotion"]] = x[:, index["threat_emotion"]] * np.where(
        group, DISPUTE_THREAT_GROUP + 1.0, 0.3
    )
    failed = x[:, index["failed_mediation"]]
    g[:, index["failed_mediation"]] = 0.2 * np.minimum(failed, 1.0) + 1.4 * np.clip(
        failed - 1.0, 0.0, None
    )
    g[:, index["large_amount"]] = x[:, index["large_amount"]] * DISPUTE_AMOUNT_BY_TYPE[dtype]
    g[:, index["county_handling"]] = x[:, index["county_handling"]] * np.where(
        group, DISPUTE_COUNTY_GROUP, DISPUTE_COUNTY_OTHER
    )
    g[:, index["prior_petitions"]] = x[:, index["prior_petitions"]] * np.where(
        high_type, DISPUTE_PETITION_HIGH, DISPUTE_PETITION_OTHER
    )
    g[:, index["many_parties"]] = x[:, index["many_parties"]] * np.where(
        group, DISPUTE_PARTIES_GROUP, DISPUTE_PARTIES_OTHER
    )
    return g


def dispute_listed_parties(
    realism: Realism, group: np.ndarray, n_parties: np.ndarray
) -> np.ndarray:
    """Per dispute: the parties listed at registration (representatives for some groups)."""
    represented = group & (realism.rng.random(len(group)) < DISPUTE_REPRESENTED_SHARE)
    representatives = realism.rng.integers(2, 5, len(group))
    return np.where(represented, representatives, n_parties).astype(np.int64)


def dispute_detection(
    dtype_is_family: np.ndarray, group: np.ndarray, handling: np.ndarray
) -> np.ndarray:
    """Per dispute: probability that an escalation is recorded (handling: grid, township,
    county as 0, 1, 2)."""
    by_kind = np.where(
        group,
        DISPUTE_RECORD_GROUP,
        np.where(dtype_is_family, DISPUTE_RECORD_FAMILY, DISPUTE_RECORD_OTHER),
    )
    return np.minimum(by_kind * DISPUTE_RECORD_BY_LEVEL[handling], 1.0)


def parameters() -> dict[str, dict[str, object]]:
    """The realistic profile's parameters, as recorded in truth/drivers.json ("realism")."""
    document: dict[str, dict[str, object]] = {
        "wage_arrears": {
            "electricity_drop_x_sector": dict(
                zip(_SECTORS, WAGE_POWER_BY_SECTOR.tolist(), strict=True)
            ),
            "electricity_drop": "2.5 max(0, x - 0.08) x the sector's weight (a fall of the "
            "three-month mean beyond 8%)",
            "spring_festival_x_sector": dict(
                zip(_SECTORS, WAGE_FESTIVAL_BY_SECTOR.tolist(), strict=True)
            ),
            "si_arrears": "0.45 (1 - exp(-x / 0.15)) (0.3 + 1.8 tax_overdue) "
            "(micro 0.4, small 1.0, medium and large 1.8)",
            "headcount_drop": "1.6 clip(x - 0.08, 0, 0.25) (micro 0.2, small 1.2, medium and "
            "large 2.0)",
            "creditor_suits / prior_complaints": "2.5 max(0, x - log 2)",
            "tax_overdue": "1.5 max(0, x - 0.34) (two of the last three months or more)",
            "sales_decline": "5 max(0, x - 0.12) (log fall of sales beyond 0.12)",
            "abnormal_listing": "2 x (a listing weighs double)",
            "owner_payment_delay": "0.7 if x > 0.25 else 0.1 x",
            "missing_declarations": "P = sigmoid(-4.2 + 1.3 stress) per month (SI, tax)",
            "missing_meter_readings": WAGE_UTILITY_MISSING,
            "backpay_revisions": "35% of short social-insurance declarations get a later row "
            "(same employer and month) paid in full, 30-150 days after the first",
            "detection": "sector (construction 0.55, manufacturing 0.85, retail 0.7, hospitality "
            "0.45, logistics 0.55, services 0.8, it 0.95) x size (micro 0.25, small "
            "0.65, medium and large 1.0) x 0.75 when no other complaint in 365 days",
        },
        "telecom_fraud": {
            "flagged_contacts": "3.5 max(0, x - log 13), x = log(1 + calls + SMS + 4 x overseas "
            "calls in 30 days)",
            "alert_types": FRAUD_ALERT_TYPE_WEIGHT,
            "risky_app_alerts": "4.5 clip(x - log 4, 0, 1.5) (3.0 elderly alone, 0.3 young "
            "adults, 1.0 others), x = log(1 + alerts weighted by type)",
            "new_payees": "max(0, x - log 4) (4.0 young adults, 1.0 others)",
            "prior_victimisation": "x^2 / 2 (a second case weighs four times the first)",
            "outflow_spike": "x (3.0 elderly alone, 0.4 others)",
            "drift_months": FRAUD_DRIFT_MONTHS,
            "drift": "alerts x1.5, flagged contacts x0.7, +0.6 exp(0.8 exposure - 0.3) "
            "screen-sharing alerts a month",
            "detection": "18-30: 0.95, 31-64: 0.6, 65+: 0.35 (0.12 living alone)",
        },
        "dispute_escalation": {
            "threat_emotion": "x (2.4 group, 0.3 otherwise), x = any threat + 0.1 any emotion",
            "failed_mediation": "0.2 min(x, 1) + 1.4 max(0, x - 1)",
            "large_amount": "x by type (labour 3.5, land 2.0, property_management 0.5, lending "
            "-3.0, consumer -1.5, others 0), x = clip(log10(amount) - 4, 0, 2)",
            "high_risk_type": "labour 1.6, land 1.2, neighbour 0.5, other 0.4, property_management 0.2, others 0",
            "prior_police_calls": "3 max(0, x - log 3)",
            "county_handling": "x (2.5 group, -0.6 otherwise: the county gets the intractable "
            "individual cases)",
            "represented_groups": "in 40% of group disputes only 2-4 representatives are "
            "listed as parties",
            "prior_petitions": "x (1.8 high-risk types, 0.1 otherwise)",
            "many_parties": "x (1.8 group, 0.2 otherwise)",
            "detection": "group 0.98, family 0.3, other 0.9; x0.3 at grid level, x0.75 at "
            "township level",
        },
    }
    for slug, shift in BASE_SHIFT.items():
        document[slug]["base_shift"] = shift
    return document


_SECTORS = ("construction", "manufacturing", "retail", "hospitality", "logistics", "services", "it")
