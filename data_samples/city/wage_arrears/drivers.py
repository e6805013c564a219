"""Wage arrears' declared structure: horizon, sectors and size bands, base rates, planted
drivers, noise."""

from __future__ import annotations

import numpy as np

from data_samples.city.truth import Driver, NoiseSignal

SLUG = "wage_arrears"
HORIZON_MONTHS = 3
EPISODE_MONTHS = 2

SECTORS = ("construction", "manufacturing", "retail", "hospitality", "logistics", "services", "it")
SECTOR_SHARES = np.array([0.16, 0.30, 0.14, 0.10, 0.10, 0.14, 0.06])
SIZE_BANDS = ("micro", "small", "medium", "large")
SIZE_SHARES = np.array([0.45, 0.33, 0.16, 0.06])
HEADCOUNT_LOG_MEAN = np.array([1.7, 3.1, 4.7, 6.3])
CAPITAL_LOG_MEAN = np.log(np.array([5e5, 2e6, 1e7, 5e7]))
MONTHLY_WAGE = np.array([6_800, 6_200, 4_600, 4_400, 5_600, 5_200, 9_500])

BASE_LOG_ODDS = -5.8
STRESS_BETA = 0.2

DRIVERS: tuple[Driver, ...] = (
    Driver(
        "construction_sector",
        "employers",
        ("sector",),
        1,
        "Employer is in construction, where arrears concentrate (NBS 2016: 1.8% of construction migrant workers owed wages vs 0.6% in manufacturing).",
        0.7,
    ),
    Driver(
        "owner_payment_delay",
        "project_instalments",
        ("scheduled_amount", "event_time"),
        1,
        "Share of the owner's instalments due in the last 180 days (more than 15 days ago) that the contractor's payment records do not show as paid; uses project_payments.amount and available_at.",
        1.6,
    ),
    Driver(
        "si_arrears",
        "social_insurance",
        ("amount_due", "amount_paid"),
        1,
        "Unpaid share of social-insurance contributions over the latest three months on record.",
        2.6,
    ),
    Driver(
        "headcount_drop",
        "social_insurance",
        ("insured_headcount",),
        1,
        "Relative fall of insured headcount: latest month on record vs six months earlier.",
        3.0,
    ),
    Driver(
        "electricity_drop",
        "utilities",
        ("electricity_kwh",),
        1,
        "Relative fall of electricity use: mean of the latest three months on record vs the three months before them.",
        3.0,
    ),
    Driver(
        "tax_overdue",
        "tax",
        ("tax_overdue",),
        1,
        "Share of the latest three months on record with overdue tax.",
        1.1,
    ),
    Driver(
        "sales_decline",
        "tax",
        ("declared_sales",),
        1,
        "Log fall of declared sales: latest three months on record vs the three before them.",
        2.0,
    ),
    Driver(
        "creditor_suits",
        "court_cases",
        ("case_type", "event_time"),
        1,
        "log(1 + court cases naming the employer filed in the last 365 days and on record).",
        0.9,
    ),
    Driver(
        "abnormal_listing",
        "abnormal_listings",
        ("reason", "event_time"),
        1,
        "Employer is on the abnormal-operation list (listed in the last 2 years, on record).",
        0.9,
    ),
    Driver(
        "prior_complaints",
        "labour_complaints",
        ("topic", "event_time"),
        1,
        "log(1 + labour complaints about social insurance, hours or other matters in the last 365 days). Complaints about wages are the arrears' own trace, not a cause.",
        0.7,
    ),
    Driver(
        "young_firm",
        "employers",
        ("founded_on",),
        1,
        "Firm younger than three years: max(0, 1 - age_years / 3).",
        0.8,
    ),
    Driver(
        "spring_festival",
        None,
        (),
        1,
        "Months before the lunar new year: max(0, 1 - days_to_new_year / 120) at the as-of date (from the calendar, no raw table).",
        1.5,
    ),
)
DRIVER_INDEX = {driver.name: i for i, driver in enumerate(DRIVERS)}
NOISE: tuple[NoiseSignal, ...] = (
    NoiseSignal("water_use", "utilities", ("water_m3",)),
    NoiseSignal("trademarks", "employers", ("trademark_count",)),
)
