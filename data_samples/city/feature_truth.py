"""Which of riskloop's catalog features read a planted driver, a noise signal or a proxy.

This is the simulator's knowledge, not the catalog's: a real city's features have no such
labels. It is written to truth/drivers.json ("features"), where the fidelity report reads it to
check that explanations credit the planted causes. A proxy is an observed signal the simulator
derives from a driver's causes that has no effect of its own on the outcome (it tests whether
explanations credit the cause or its shadow).
"""

from __future__ import annotations

#: task slug -> planted driver -> the catalog features that measure it.
DRIVER_FEATURES: dict[str, dict[str, list[str]]] = {
    "wage_arrears": {
        "si_arrears": [
            "si_arrears_months_3m",
            "si_arrears_months_6m",
            "si_unpaid_streak_months",
            "si_shortfall_ratio_3m",
        ],
        "headcount_drop": ["insured_headcount_change_6m"],
        "electricity_drop": ["electricity_yoy_change", "electricity_change_3m"],
        "tax_overdue": ["tax_overdue_amount", "tax_overdue_months_3m"],
        "sales_decline": ["sales_trend_6m", "sales_change_3m"],
        "creditor_suits": [
            "creditor_suits_6m",
            "creditor_suits_12m",
            "enforcement_listings_12m",
            "court_cases_12m",
        ],
        "abnormal_listing": ["abnormal_listed"],
        "owner_payment_delay": ["owner_payment_shortfall_ratio"],
        "prior_complaints": ["labour_complaints_12m"],
        "spring_festival": ["months_to_spring_festival"],
        "young_firm": ["firm_age_years"],
        "construction_sector": ["is_construction", "sector"],
    },
    "telecom_fraud": {
        "flagged_contacts": ["flagged_contacts_30d", "overseas_calls_30d"],
        "risky_app_alerts": [
            "screen_sharing_alerts_30d",
            "phishing_alerts_30d",
            "flagged_app_alerts_30d",
        ],
        "new_payees": ["new_payees_30d"],
        "outflow_spike": ["outflow_spike_ratio"],
        "prior_victimisation": ["prior_fraud_victimisations"],
        "warning_answered": ["warnings_answered_30d"],
        "app_installed": ["antifraud_app_installed"],
        "young_adult": ["is_young_adult"],
        "elderly_alone": ["elderly_living_alone"],
    },
    "dispute_escalation": {
        "high_risk_type": ["dispute_type", "is_high_risk_type"],
        "large_amount": ["dispute_amount"],
        "many_parties": ["n_parties"],
        "group_dispute": ["group_flag"],
        "prior_police_calls": ["party_prior_police_calls"],
        "prior_petitions": ["party_prior_petitions"],
        "failed_mediation": ["mediation_failures", "mediation_agreement"],
        "threat_emotion": ["threat_flag_visits", "emotion_flag_visits"],
        "county_handling": ["handling_level", "county_handling"],
    },
}

#: task slug -> features derived from a documented pure-noise column.
NOISE_FEATURES: dict[str, list[str]] = {
    "wage_arrears": ["water_yoy_change", "trademark_count"],
    "telecom_fraud": ["card_payments_per_day_30d", "education_level"],
    "dispute_escalation": ["district_visit_duration_min", "registration_channel"],
}

#: task slug -> proxy feature -> what it shadows (no effect of its own on the outcome).
PROXY_FEATURES: dict[str, dict[str, str]] = {
    "wage_arrears": {},
    "telecom_fraud": {
        "warnings_received_30d": "warnings go to residents with flagged contacts or alerts "
        "(flagged_contacts, risky_app_alerts); only an answered warning acts",
        "night_transfers_30d": "night transfers rise with the hidden scam pressure that also "
        "brings new payees (new_payees)",
    },
    "dispute_escalation": {},
}


def features_document(slug: str) -> dict[str, object]:
    """The "features" entry of truth/drivers.json for one task."""
    return {
        "drivers": DRIVER_FEATURES[slug],
        "noise": NOISE_FEATURES[slug],
        "proxies": PROXY_FEATURES[slug],
    }
