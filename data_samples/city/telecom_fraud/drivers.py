"""Telecom fraud's declared structure: horizon, base rates, scam types, planted drivers, noise."""

from __future__ import annotations

import numpy as np

from data_samples.city.truth import Driver, NoiseSignal

SLUG = "telecom_fraud"
HORIZON_DAYS = 30
BASE_LOG_ODDS = -5.9
HIDDEN_BETA = 0.45
#: An outflow counts as a spike only beyond this multiple of the resident's usual active day.
SPIKE_FACTOR = 3.0

SCAM_TYPES = ("online_shopping", "loan", "fake_order_job", "impersonation", "investment", "other")
SCAM_MIX_YOUNG = np.array([0.30, 0.18, 0.22, 0.06, 0.06, 0.18])
SCAM_MIX_OLDER = np.array([0.12, 0.08, 0.05, 0.25, 0.30, 0.20])

DRIVERS: tuple[Driver, ...] = (
    Driver(
        "flagged_contacts",
        "flagged_contacts",
        ("flagged_calls", "flagged_sms", "overseas_calls"),
        1,
        "log(1 + calls, SMS and overseas calls from flagged numbers in the 30 days before the as-of date).",
        0.75,
    ),
    Driver(
        "risky_app_alerts",
        "app_alerts",
        ("alert_type",),
        1,
        "log(1 + flagged-app, screen-sharing and phishing-URL alerts in the last 30 days).",
        0.9,
    ),
    Driver(
        "new_payees",
        "bank_outflows",
        ("new_payees",),
        1,
        "log(1 + new payees in the last 30 days).",
        0.8,
    ),
    Driver(
        "outflow_spike",
        "bank_outflows",
        ("amount_out",),
        1,
        "max(0, log(largest daily outflow in the last 30 days / (3 x mean daily outflow on active days in the 90 days before that))): outflows beyond three usual days.",
        0.45,
    ),
    Driver(
        "prior_victimisation",
        "fraud_cases",
        ("event_time", "available_at"),
        1,
        "Reported fraud cases on record at the as-of date (capped at 2).",
        0.9,
    ),
    Driver(
        "warning_answered",
        "antifraud_warnings",
        ("answered",),
        -1,
        "An anti-fraud warning issued in the last 30 days was answered.",
        -1.1,
    ),
    Driver(
        "app_installed",
        "app_installs",
        ("event_time",),
        -1,
        "The anti-fraud app is installed (on record at the as-of date).",
        -0.6,
    ),
    Driver(
        "young_adult",
        "residents",
        ("birth_year",),
        1,
        "Aged 18-30 at the as-of date (18-35 year-olds were 65.5% of 2021 victims).",
        0.6,
    ),
    Driver(
        "elderly_alone",
        "residents",
        ("birth_year", "lives_alone"),
        1,
        "Aged 65 or more and living alone.",
        0.8,
    ),
)
DRIVER_INDEX = {driver.name: i for i, driver in enumerate(DRIVERS)}
NOISE: tuple[NoiseSignal, ...] = (
    NoiseSignal("education", "residents", ("education_level",)),
    NoiseSignal("card_payments", "bank_outflows", ("card_payment_count",)),
)
