"""The feature catalog: one entry per model feature, the single source of feature metadata.

Reason sentences, monotone constraints, API schemas, reports and docs are all generated from
these entries; nothing else restates a feature's label, unit, direction or range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.tasks import TASKS, get_task

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
            `None` if it measures none. A feature that reads a driver's source columns carries
            its name (a category such as `sector` too: its `construction` value is the
            driver), so fidelity checks give the driver all the credit the model gives it.
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


_COUNT_MAX = 10_000.0
_MONEY_MAX = 1e12


def _count(
    name: str,
    label_en: str,
    label_zh: str,
    table: str,
    columns: tuple[str, ...],
    **kw: Any,
) -> FeatureDef:
    """A non-negative integer count (events, months, persons)."""
    return FeatureDef(
        name=name,
        dtype="int",
        unit=kw.pop("unit", "count"),
        label_en=label_en,
        label_zh=label_zh,
        source_table=table,
        source_columns=columns,
        min_value=0.0,
        max_value=kw.pop("max_value", _COUNT_MAX),
        **kw,
    )


WAGE_ARREARS: tuple[FeatureDef, ...] = (
    _count(
        "si_arrears_months_3m",
        "Social-insurance arrears months (last 3 reported)",
        "近3个申报月社保欠缴月数",
        "social_insurance",
        ("amount_due", "amount_paid", "available_at"),
        unit="months",
        max_value=3.0,
        direction=1,
        actionable=True,
        driver="si_arrears",
        reason_en="{value:.0f} of the last 3 reported months with unpaid social insurance",
        reason_zh="近3个申报月中{value:.0f}个月社保欠缴",
    ),
    _count(
        "si_arrears_months_6m",
        "Social-insurance arrears months (last 6 reported)",
        "近6个申报月社保欠缴月数",
        "social_insurance",
        ("amount_due", "amount_paid", "available_at"),
        unit="months",
        max_value=6.0,
        direction=1,
        actionable=True,
        driver="si_arrears",
        reason_en="{value:.0f} of the last 6 reported months with unpaid social insurance",
        reason_zh="近6个申报月中{value:.0f}个月社保欠缴",
    ),
    _count(
        "si_unpaid_streak_months",
        "Consecutive months of unpaid social insurance",
        "社保连续欠缴月数",
        "social_insurance",
        ("amount_due", "amount_paid", "available_at"),
        unit="months",
        max_value=12.0,
        direction=1,
        actionable=True,
        driver="si_arrears",
        reason_en="social insurance unpaid for {value:.0f} consecutive months",
        reason_zh="社保已连续{value:.0f}个月欠缴",
    ),
    FeatureDef(
        name="si_shortfall_ratio_3m",
        dtype="float",
        unit="ratio",
        label_en="Share of social insurance due left unpaid (last 3 reported months)",
        label_zh="近3个申报月社保未缴比例",
        source_table="social_insurance",
        source_columns=("amount_due", "amount_paid", "available_at"),
        direction=1,
        actionable=True,
        driver="si_arrears",
        min_value=0.0,
        max_value=1.0,
        reason_en="{value:.0%} of social insurance due in the last 3 reported months unpaid",
        reason_zh="近3个申报月应缴社保中{value:.0%}未缴",
    ),
    FeatureDef(
        name="insured_headcount_change_6m",
        dtype="float",
        unit="ratio",
        label_en="Change in insured headcount over 6 months",
        label_zh="参保人数6个月变化率",
        source_table="social_insurance",
        source_columns=("insured_headcount", "available_at"),
        direction=-1,
        actionable=True,
        driver="headcount_drop",
        min_value=-1.0,
        max_value=100.0,
        reason_en="insured headcount changed by {value:+.0%} over 6 months",
        reason_zh="参保人数6个月内变化{value:+.0%}",
    ),
    FeatureDef(
        name="electricity_yoy_change",
        dtype="float",
        unit="ratio",
        label_en="Electricity use vs. the same month last year",
        label_zh="用电量同比变化率",
        source_table="utilities",
        source_columns=("electricity_kwh", "available_at"),
        direction=-1,
        actionable=True,
        driver="electricity_drop",
        min_value=-1.0,
        max_value=100.0,
        reason_en="electricity use {value:+.0%} vs. the same month last year",
        reason_zh="用电量同比变化{value:+.0%}",
    ),
    FeatureDef(
        name="electricity_change_3m",
        dtype="float",
        unit="ratio",
        label_en="Electricity use, last 3 reported months vs. the 3 before",
        label_zh="近3个月用电量环比变化率",
        source_table="utilities",
        source_columns=("electricity_kwh", "available_at"),
        direction=-1,
        actionable=True,
        driver="electricity_drop",
        min_value=-1.0,
        max_value=100.0,
        reason_en="electricity use {value:+.0%} over the last 3 reported months vs. the 3 before",
        reason_zh="近3个月用电量较前3个月变化{value:+.0%}",
    ),
    FeatureDef(
        name="water_yoy_change",
        dtype="float",
        unit="ratio",
        label_en="Water use vs. the same month last year",
        label_zh="用水量同比变化率",
        source_table="utilities",
        source_columns=("water_m3", "available_at"),
        direction=0,
        actionable=False,
        noise=True,
        min_value=-1.0,
        max_value=100.0,
        reason_en="water use {value:+.0%} vs. the same month last year",
        reason_zh="用水量同比变化{value:+.0%}",
    ),
    FeatureDef(
        name="tax_overdue_amount",
        dtype="float",
        unit="CNY",
        label_en="Overdue tax (latest report)",
        label_zh="欠缴税款（最近申报）",
        source_table="tax",
        source_columns=("tax_overdue", "available_at"),
        direction=1,
        actionable=True,
        driver="tax_overdue",
        min_value=0.0,
        max_value=_MONEY_MAX,
        reason_en="CNY {value:,.0f} of tax overdue",
        reason_zh="欠缴税款{value:,.0f}元",
    ),
    _count(
        "tax_overdue_months_3m",
        "Months with overdue tax (last 3 reported)",
        "近3个申报月欠税月数",
        "tax",
        ("tax_overdue", "available_at"),
        unit="months",
        max_value=3.0,
        direction=1,
        actionable=True,
        driver="tax_overdue",
        reason_en="tax overdue in {value:.0f} of the last 3 reported months",
        reason_zh="近3个申报月中{value:.0f}个月欠税",
    ),
    FeatureDef(
        name="sales_trend_6m",
        dtype="float",
        unit="ratio",
        label_en="Monthly trend of declared sales (last 6 reported months)",
        label_zh="近6个月申报销售额月均变化趋势",
        source_table="tax",
        source_columns=("declared_sales", "available_at"),
        direction=-1,
        actionable=True,
        driver="sales_decline",
        min_value=-10.0,
        max_value=10.0,
        reason_en="declared sales trending {value:+.0%} a month over the last 6 reported months",
        reason_zh="近6个月申报销售额月均变化{value:+.0%}",
    ),
    FeatureDef(
        name="sales_change_3m",
        dtype="float",
        unit="ratio",
        label_en="Declared sales, last 3 reported months vs. the 3 before",
        label_zh="近3个月申报销售额环比变化率",
        source_table="tax",
        source_columns=("declared_sales", "available_at"),
        direction=-1,
        actionable=True,
        driver="sales_decline",
        min_value=-1.0,
        max_value=1000.0,
        reason_en="declared sales {value:+.0%} over the last 3 reported months vs. the 3 before",
        reason_zh="近3个月申报销售额较前3个月变化{value:+.0%}",
    ),
    _count(
        "creditor_suits_6m",
        "New creditor lawsuits (6 months)",
        "近6个月新增债权诉讼数",
        "court_cases",
        ("case_type", "available_at"),
        direction=1,
        actionable=True,
        driver="creditor_suits",
        reason_en="{value:.0f} new creditor lawsuits in the last 6 months",
        reason_zh="近6个月新增{value:.0f}起债权诉讼",
    ),
    _count(
        "creditor_suits_12m",
        "New creditor lawsuits (12 months)",
        "近12个月新增债权诉讼数",
        "court_cases",
        ("case_type", "available_at"),
        direction=1,
        actionable=True,
        driver="creditor_suits",
        reason_en="{value:.0f} new creditor lawsuits in the last 12 months",
        reason_zh="近12个月新增{value:.0f}起债权诉讼",
    ),
    _count(
        "enforcement_listings_12m",
        "Enforcement and dishonest-debtor listings (12 months)",
        "近12个月被执行及失信被执行记录数",
        "court_cases",
        ("case_type", "available_at"),
        direction=1,
        actionable=True,
        driver="creditor_suits",
        reason_en="{value:.0f} enforcement or dishonest-debtor listings in the last 12 months",
        reason_zh="近12个月{value:.0f}条被执行或失信记录",
    ),
    FeatureDef(
        name="abnormal_listed",
        dtype="bool",
        unit="",
        label_en="Listed for abnormal operation (24 months)",
        label_zh="近24个月被列入经营异常名录",
        source_table="abnormal_listings",
        source_columns=("employer_id", "available_at"),
        direction=1,
        actionable=True,
        driver="abnormal_listing",
        min_value=0.0,
        max_value=1.0,
        reason_en="listed for abnormal operation in the last 24 months",
        reason_zh="近24个月被列入经营异常名录",
    ),
    FeatureDef(
        name="owner_payment_shortfall_ratio",
        dtype="float",
        unit="ratio",
        label_en="Share of owners' instalments due 15-180 days ago still unpaid",
        label_zh="业主到期工程款（15-180天前到期）未付比例",
        source_table="project_payments",
        source_columns=("project_instalments.scheduled_amount", "amount", "available_at"),
        direction=1,
        actionable=True,
        driver="owner_payment_delay",
        min_value=0.0,
        max_value=1.0,
        reason_en="{value:.0%} of project instalments due from owners unpaid",
        reason_zh="业主到期工程款{value:.0%}未支付",
    ),
    _count(
        "labour_complaints_12m",
        "Complaints about social insurance, hours or other matters (12 months)",
        "近12个月社保、工时等劳动投诉数",
        "labour_complaints",
        ("topic", "available_at"),
        direction=1,
        actionable=True,
        driver="prior_complaints",
        reason_en="{value:.0f} complaints about social insurance, hours or other matters in the last 12 months",
        reason_zh="近12个月{value:.0f}起社保、工时等劳动投诉",
    ),
    _count(
        "prior_wage_complaints_12m",
        "Wage complaints (12 months)",
        "近12个月欠薪投诉数",
        "labour_complaints",
        ("topic", "available_at"),
        direction=0,
        actionable=True,
        reason_en="{value:.0f} wage complaints in the last 12 months",
        reason_zh="近12个月{value:.0f}起欠薪投诉",
    ),
    _count(
        "prior_arrears_events_24m",
        "Confirmed wage-arrears cases (24 months)",
        "近24个月确认欠薪案件数",
        "arrears_events",
        ("event_id", "available_at"),
        direction=0,
        actionable=True,
        reason_en="{value:.0f} confirmed wage-arrears cases in the last 24 months",
        reason_zh="近24个月确认{value:.0f}起欠薪案件",
    ),
    FeatureDef(
        name="months_to_spring_festival",
        dtype="float",
        unit="months",
        label_en="Months to Spring Festival",
        label_zh="距春节月数",
        source_table="",
        source_columns=(),
        direction=-1,
        actionable=False,
        driver="spring_festival",
        min_value=0.0,
        max_value=13.0,
        reason_en="Spring Festival in {value:.1f} months",
        reason_zh="距春节{value:.1f}个月",
    ),
    FeatureDef(
        name="firm_age_years",
        dtype="float",
        unit="years",
        label_en="Firm age",
        label_zh="企业成立年限",
        source_table="employers",
        source_columns=("founded_on",),
        direction=-1,
        actionable=False,
        driver="young_firm",
        min_value=0.0,
        max_value=200.0,
        reason_en="firm founded {value:.1f} years ago",
        reason_zh="企业成立{value:.1f}年",
    ),
    FeatureDef(
        name="is_construction",
        dtype="bool",
        unit="",
        label_en="Construction sector",
        label_zh="建筑业",
        source_table="employers",
        source_columns=("sector",),
        direction=1,
        actionable=False,
        driver="construction_sector",
        min_value=0.0,
        max_value=1.0,
        reason_en="construction sector",
        reason_zh="属建筑业",
    ),
    FeatureDef(
        name="sector",
        dtype="category",
        unit="",
        label_en="Sector",
        label_zh="行业",
        source_table="employers",
        source_columns=("sector",),
        direction=0,
        actionable=False,
        driver="construction_sector",
        categories=(
            "construction",
            "manufacturing",
            "retail",
            "hospitality",
            "logistics",
            "services",
            "it",
        ),
        reason_en="sector: {value}",
        reason_zh="行业：{value}",
    ),
    FeatureDef(
        name="size_band",
        dtype="category",
        unit="",
        label_en="Size band",
        label_zh="企业规模",
        source_table="employers",
        source_columns=("size_band",),
        direction=0,
        actionable=False,
        categories=("micro", "small", "medium", "large"),
        reason_en="size band: {value}",
        reason_zh="企业规模：{value}",
    ),
    FeatureDef(
        name="insured_headcount",
        dtype="float",
        unit="persons",
        label_en="Insured headcount (latest report)",
        label_zh="参保人数（最近申报）",
        source_table="social_insurance",
        source_columns=("insured_headcount", "available_at"),
        direction=0,
        actionable=False,
        min_value=0.0,
        max_value=1e6,
        reason_en="{value:,.0f} insured employees",
        reason_zh="参保{value:,.0f}人",
    ),
    FeatureDef(
        name="registered_capital",
        dtype="float",
        unit="CNY",
        label_en="Registered capital",
        label_zh="注册资本",
        source_table="employers",
        source_columns=("registered_capital",),
        direction=0,
        actionable=False,
        min_value=0.0,
        max_value=_MONEY_MAX,
        reason_en="registered capital CNY {value:,.0f}",
        reason_zh="注册资本{value:,.0f}元",
    ),
    _count(
        "trademark_count",
        "Registered trademarks",
        "注册商标数",
        "employers",
        ("trademark_count",),
        direction=0,
        actionable=False,
        noise=True,
        reason_en="{value:.0f} registered trademarks",
        reason_zh="注册商标{value:.0f}件",
    ),
)

_AGE_WHY = (
    "Kept because the risk is age-specific by scam type (people aged 18-35 were 65.5% of 2021 "
    "victims and Zhejiang police name 18-27 as the highest-risk band; older people living alone "
    "are targeted by impersonation and investment scams): without it the "
    "model would under-warn the groups most at risk. Audited by age band and sex in every "
    "report; it only raises a warning for a human check, never a sanction."
)

TELECOM_FRAUD: tuple[FeatureDef, ...] = (
    _count(
        "flagged_contacts_30d",
        "Calls and SMS from flagged numbers (30 days)",
        "近30天涉诈号码来电短信数",
        "flagged_contacts",
        ("flagged_calls", "flagged_sms", "available_at"),
        direction=1,
        actionable=True,
        driver="flagged_contacts",
        reason_en="{value:.0f} calls or SMS from flagged numbers in the last 30 days",
        reason_zh="近30天接到{value:.0f}次涉诈号码来电或短信",
    ),
    _count(
        "overseas_calls_30d",
        "Overseas calls (30 days)",
        "近30天境外来电数",
        "flagged_contacts",
        ("overseas_calls", "available_at"),
        direction=1,
        actionable=True,
        driver="flagged_contacts",
        reason_en="{value:.0f} overseas calls in the last 30 days",
        reason_zh="近30天{value:.0f}次境外来电",
    ),
    _count(
        "screen_sharing_alerts_30d",
        "Screen-sharing app alerts (30 days)",
        "近30天屏幕共享预警数",
        "app_alerts",
        ("alert_type", "available_at"),
        direction=1,
        actionable=True,
        driver="risky_app_alerts",
        reason_en="{value:.0f} screen-sharing alerts in the last 30 days",
        reason_zh="近30天{value:.0f}次屏幕共享预警",
    ),
    _count(
        "phishing_alerts_30d",
        "Phishing-URL alerts (30 days)",
        "近30天钓鱼网址预警数",
        "app_alerts",
        ("alert_type", "available_at"),
        direction=1,
        actionable=True,
        driver="risky_app_alerts",
        reason_en="{value:.0f} phishing-URL alerts in the last 30 days",
        reason_zh="近30天{value:.0f}次钓鱼网址预警",
    ),
    _count(
        "flagged_app_alerts_30d",
        "Flagged-app alerts (30 days)",
        "近30天涉诈App预警数",
        "app_alerts",
        ("alert_type", "available_at"),
        direction=1,
        actionable=True,
        driver="risky_app_alerts",
        reason_en="{value:.0f} flagged-app alerts in the last 30 days",
        reason_zh="近30天{value:.0f}次涉诈App预警",
    ),
    _count(
        "new_payees_30d",
        "New payees (30 days)",
        "近30天新增收款人数",
        "bank_outflows",
        ("new_payees", "available_at"),
        direction=1,
        actionable=True,
        driver="new_payees",
        reason_en="{value:.0f} new payees in the last 30 days",
        reason_zh="近30天新增{value:.0f}个收款人",
    ),
    FeatureDef(
        name="outflow_spike_ratio",
        dtype="float",
        unit="ratio",
        label_en="Largest daily outflow (30 days) vs. the usual active day",
        label_zh="近30天单日最大转出金额与平常日均之比",
        source_table="bank_outflows",
        source_columns=("amount_out", "available_at"),
        direction=1,
        actionable=True,
        driver="outflow_spike",
        min_value=0.0,
        max_value=1e6,
        reason_en="largest daily outflow in the last 30 days {value:.1f}x the usual day",
        reason_zh="近30天单日最大转出金额为平常日均的{value:.1f}倍",
    ),
    FeatureDef(
        name="outflow_30d",
        dtype="float",
        unit="CNY",
        label_en="Bank outflow (30 days)",
        label_zh="近30天银行转出金额",
        source_table="bank_outflows",
        source_columns=("amount_out", "available_at"),
        direction=0,
        actionable=False,
        min_value=0.0,
        max_value=_MONEY_MAX,
        reason_en="CNY {value:,.0f} transferred out in the last 30 days",
        reason_zh="近30天转出{value:,.0f}元",
    ),
    _count(
        "night_transfers_30d",
        "Night-time transfers (30 days)",
        "近30天夜间转账次数",
        "bank_outflows",
        ("night_transfers", "available_at"),
        direction=0,
        actionable=True,
        reason_en="{value:.0f} night-time transfers in the last 30 days",
        reason_zh="近30天{value:.0f}次夜间转账",
    ),
    FeatureDef(
        name="card_payments_per_day_30d",
        dtype="float",
        unit="count",
        label_en="Card payments per day with bank activity (30 days)",
        label_zh="近30天有交易日的日均刷卡消费次数",
        source_table="bank_outflows",
        source_columns=("card_payment_count", "available_at"),
        direction=0,
        actionable=False,
        noise=True,
        min_value=0.0,
        max_value=10_000.0,
        reason_en="{value:.1f} card payments a day in the last 30 days",
        reason_zh="近30天日均刷卡消费{value:.1f}次",
    ),
    _count(
        "prior_fraud_victimisations",
        "Earlier reported fraud victimisations",
        "既往电诈受害次数",
        "fraud_cases",
        ("case_id", "available_at"),
        direction=1,
        actionable=True,
        driver="prior_victimisation",
        reason_en="victim of {value:.0f} earlier reported fraud(s)",
        reason_zh="既往{value:.0f}次电诈受害",
    ),
    _count(
        "warnings_received_30d",
        "Anti-fraud warnings received (30 days)",
        "近30天收到反诈预警数",
        "antifraud_warnings",
        ("warning_id", "available_at"),
        direction=0,
        actionable=True,
        reason_en="{value:.0f} anti-fraud warnings in the last 30 days",
        reason_zh="近30天收到{value:.0f}次反诈预警",
    ),
    _count(
        "warnings_answered_30d",
        "Anti-fraud warnings answered (30 days)",
        "近30天接听/回应反诈预警数",
        "antifraud_warnings",
        ("answered", "available_at"),
        direction=-1,
        actionable=True,
        driver="warning_answered",
        reason_en="{value:.0f} anti-fraud warnings answered in the last 30 days",
        reason_zh="近30天回应{value:.0f}次反诈预警",
    ),
    FeatureDef(
        name="antifraud_app_installed",
        dtype="bool",
        unit="",
        label_en="Anti-fraud app installed",
        label_zh="已安装国家反诈中心App",
        source_table="app_installs",
        source_columns=("resident_id", "available_at"),
        direction=-1,
        actionable=True,
        driver="app_installed",
        min_value=0.0,
        max_value=1.0,
        reason_en="anti-fraud app installed",
        reason_zh="已安装国家反诈中心App",
    ),
    FeatureDef(
        name="is_young_adult",
        dtype="bool",
        unit="",
        label_en="Aged 18-30",
        label_zh="年龄18-30岁",
        source_table="residents",
        source_columns=("birth_year",),
        direction=1,
        actionable=False,
        driver="young_adult",
        min_value=0.0,
        max_value=1.0,
        reason_en="aged 18-30, the most targeted age group",
        reason_zh="处于18-30岁高发年龄段",
        why_kept=_AGE_WHY,
    ),
    FeatureDef(
        name="elderly_living_alone",
        dtype="bool",
        unit="",
        label_en="Aged 65 or over and living alone",
        label_zh="65岁以上独居",
        source_table="residents",
        source_columns=("birth_year", "lives_alone"),
        direction=1,
        actionable=True,
        driver="elderly_alone",
        min_value=0.0,
        max_value=1.0,
        reason_en="aged 65 or over and living alone",
        reason_zh="65岁以上独居老人",
        why_kept=_AGE_WHY,
    ),
    FeatureDef(
        name="education_level",
        dtype="category",
        unit="",
        label_en="Education level",
        label_zh="受教育程度",
        source_table="residents",
        source_columns=("education_level",),
        direction=0,
        actionable=False,
        noise=True,
        categories=("primary", "secondary", "tertiary"),
        reason_en="education: {value}",
        reason_zh="受教育程度：{value}",
    ),
)

DISPUTE_ESCALATION: tuple[FeatureDef, ...] = (
    FeatureDef(
        name="dispute_type",
        dtype="category",
        unit="",
        label_en="Dispute type",
        label_zh="纠纷类型",
        source_table="disputes",
        source_columns=("dispute_type",),
        direction=0,
        actionable=False,
        driver="high_risk_type",
        categories=(
            "labour",
            "neighbour",
            "family",
            "land",
            "property_management",
            "lending",
            "consumer",
            "other",
        ),
        reason_en="dispute type: {value}",
        reason_zh="纠纷类型：{value}",
    ),
    FeatureDef(
        name="is_high_risk_type",
        dtype="bool",
        unit="",
        label_en="Labour, land, property-management or lending dispute",
        label_zh="劳资、土地、物业或借贷纠纷",
        source_table="disputes",
        source_columns=("dispute_type",),
        direction=1,
        actionable=False,
        driver="high_risk_type",
        min_value=0.0,
        max_value=1.0,
        reason_en="a labour, land, property-management or lending dispute",
        reason_zh="属劳资、土地、物业或借贷类纠纷",
    ),
    FeatureDef(
        name="dispute_amount",
        dtype="float",
        unit="CNY",
        label_en="Amount in dispute",
        label_zh="争议金额",
        source_table="disputes",
        source_columns=("amount",),
        direction=1,
        actionable=False,
        driver="large_amount",
        min_value=0.0,
        max_value=_MONEY_MAX,
        reason_en="CNY {value:,.0f} in dispute",
        reason_zh="争议金额{value:,.0f}元",
    ),
    _count(
        "n_parties",
        "Number of parties",
        "当事人数",
        "disputes",
        ("n_parties",),
        unit="persons",
        max_value=1000.0,
        direction=1,
        actionable=False,
        driver="many_parties",
        reason_en="{value:.0f} parties involved",
        reason_zh="涉及{value:.0f}名当事人",
    ),
    FeatureDef(
        name="group_flag",
        dtype="bool",
        unit="",
        label_en="Group dispute",
        label_zh="群体性纠纷",
        source_table="disputes",
        source_columns=("group_flag",),
        direction=1,
        actionable=False,
        driver="group_dispute",
        min_value=0.0,
        max_value=1.0,
        reason_en="a group dispute",
        reason_zh="属群体性纠纷",
    ),
    _count(
        "party_prior_police_calls",
        "Police calls involving the parties (12 months)",
        "当事人近12个月110报警次数",
        "police_calls",
        ("party_id", "available_at"),
        direction=1,
        actionable=True,
        driver="prior_police_calls",
        reason_en="{value:.0f} police calls involving the parties in the last 12 months",
        reason_zh="当事人近12个月{value:.0f}次110报警",
    ),
    _count(
        "party_prior_petitions",
        "Petitions by the parties (12 months)",
        "当事人近12个月信访次数",
        "petitions",
        ("party_id", "available_at"),
        direction=1,
        actionable=True,
        driver="prior_petitions",
        reason_en="{value:.0f} petitions by the parties in the last 12 months",
        reason_zh="当事人近12个月信访{value:.0f}次",
    ),
    _count(
        "mediation_attempts",
        "Mediation sessions so far",
        "已调解次数",
        "mediation_sessions",
        ("session_id", "available_at"),
        direction=0,
        actionable=True,
        reason_en="{value:.0f} mediation sessions so far",
        reason_zh="已调解{value:.0f}次",
    ),
    _count(
        "mediation_failures",
        "Failed or missed mediation sessions so far",
        "调解失败或缺席次数",
        "mediation_sessions",
        ("outcome", "available_at"),
        direction=1,
        actionable=True,
        driver="failed_mediation",
        reason_en="{value:.0f} failed or missed mediation sessions",
        reason_zh="{value:.0f}次调解失败或当事人缺席",
    ),
    FeatureDef(
        name="mediation_agreement",
        dtype="bool",
        unit="",
        label_en="Mediation agreement reached",
        label_zh="已达成调解协议",
        source_table="mediation_sessions",
        source_columns=("outcome", "available_at"),
        direction=-1,
        actionable=True,
        driver="failed_mediation",
        min_value=0.0,
        max_value=1.0,
        reason_en="a mediation agreement has been reached",
        reason_zh="已达成调解协议",
    ),
    _count(
        "threat_flag_visits",
        "Grid visits flagging threats",
        "网格走访发现威胁言行次数",
        "grid_visits",
        ("threat_flag", "available_at"),
        direction=1,
        actionable=True,
        driver="threat_emotion",
        reason_en="threats noted on {value:.0f} grid visits",
        reason_zh="{value:.0f}次网格走访发现威胁言行",
    ),
    _count(
        "emotion_flag_visits",
        "Grid visits flagging strong emotion",
        "网格走访发现情绪激动次数",
        "grid_visits",
        ("emotion_flag", "available_at"),
        direction=1,
        actionable=True,
        driver="threat_emotion",
        reason_en="strong emotion noted on {value:.0f} grid visits",
        reason_zh="{value:.0f}次网格走访发现当事人情绪激动",
    ),
    _count(
        "grid_visits",
        "Grid visits so far",
        "网格走访次数",
        "grid_visits",
        ("visit_id", "available_at"),
        direction=0,
        actionable=True,
        reason_en="{value:.0f} grid visits so far",
        reason_zh="已网格走访{value:.0f}次",
    ),
    FeatureDef(
        name="district_visit_duration_min",
        dtype="float",
        unit="minutes",
        label_en="Mean duration of the district's latest 30 grid visits",
        label_zh="本区最近30次网格走访平均时长",
        source_table="grid_visits",
        source_columns=("visit_duration_min", "available_at"),
        direction=0,
        actionable=False,
        noise=True,
        min_value=0.0,
        max_value=1440.0,
        reason_en="grid visits in the district lasted {value:.0f} minutes on average",
        reason_zh="本区网格走访平均{value:.0f}分钟",
    ),
    FeatureDef(
        name="handling_level",
        dtype="category",
        unit="",
        label_en="Handling level",
        label_zh="受理层级",
        source_table="disputes",
        source_columns=("handling_level",),
        direction=0,
        actionable=True,
        driver="county_handling",
        categories=("grid", "township", "county"),
        reason_en="handled at {value} level",
        reason_zh="受理层级：{value}",
    ),
    FeatureDef(
        name="county_handling",
        dtype="bool",
        unit="",
        label_en="Handled by the county centre",
        label_zh="由县级矛调中心受理",
        source_table="disputes",
        source_columns=("handling_level",),
        direction=-1,
        actionable=True,
        driver="county_handling",
        min_value=0.0,
        max_value=1.0,
        reason_en="handled by the county mediation centre",
        reason_zh="由县级矛调中心受理",
    ),
    FeatureDef(
        name="registration_channel",
        dtype="category",
        unit="",
        label_en="Registration channel",
        label_zh="登记渠道",
        source_table="disputes",
        source_columns=("registration_channel",),
        direction=0,
        actionable=False,
        noise=True,
        categories=("walk_in", "hotline", "online"),
        reason_en="registered via {value}",
        reason_zh="登记渠道：{value}",
    ),
    FeatureDef(
        name="days_since_registration",
        dtype="float",
        unit="days",
        label_en="Days since registration",
        label_zh="登记至今天数",
        source_table="disputes",
        source_columns=("event_time",),
        direction=0,
        actionable=False,
        min_value=0.0,
        max_value=3650.0,
        reason_en="registered {value:.0f} days ago",
        reason_zh="登记已{value:.0f}天",
    ),
)

#: Every task's entries by slug, in registry order (the registry names each task's constant).
CATALOG: dict[str, tuple[FeatureDef, ...]] = {
    task.slug: globals()[task.catalog_constant] for task in TASKS.values()
}


def _content_version(catalog: Mapping[str, tuple[FeatureDef, ...]]) -> str:
    """A version that changes whenever any entry changes, so a stale model is always noticed."""
    digest = hashlib.sha256(repr(sorted(catalog.items())).encode()).hexdigest()
    return f"1.{digest[:10]}"


#: Catalog version recorded in datasets and models: derived from the entries' content.
CATALOG_VERSION = _content_version(CATALOG)

AUDIT_COLUMNS: dict[str, tuple[str, ...]] = {
    task.slug: task.audit_columns for task in TASKS.values()
}

AGE_BANDS = ("under_18", "18_30", "31_59", "60_plus")


def slug(task: str) -> str:
    """Python slug of a task given by CLI name (`wage-arrears`) or slug (`wage_arrears`)."""
    return get_task(task).slug


def features(task: str) -> tuple[FeatureDef, ...]:
    """The catalog entries of a task, in model order."""
    return CATALOG[slug(task)]


def feature_names(task: str) -> list[str]:
    """Feature column names of a task, in model order."""
    return [feature.name for feature in features(task)]


def feature(task: str, name: str) -> FeatureDef:
    """One catalog entry by name."""
    for entry in features(task):
        if entry.name == name:
            return entry
    raise KeyError(f"{task} has no feature {name!r}")


def monotone_constraints(task: str) -> list[int]:
    """LightGBM monotone constraints in model order (0 for category features)."""
    return [0 if f.dtype == "category" else int(f.direction) for f in features(task)]


def category_features(task: str) -> list[str]:
    """Names of the task's category features."""
    return [f.name for f in features(task) if f.dtype == "category"]


def driver_features(task: str) -> dict[str, list[str]]:
    """Feature names per planted driver, for fidelity checks."""
    by_driver: dict[str, list[str]] = {}
    for entry in features(task):
        if entry.driver is not None:
            by_driver.setdefault(entry.driver, []).append(entry.name)
    return by_driver


def noise_features(task: str) -> list[str]:
    """Names of features derived from documented noise signals."""
    return [f.name for f in features(task) if f.noise]


def _feature_column(
    entry: FeatureDef, values: np.ndarray | pd.Series
) -> np.ndarray | pd.Categorical[Any]:
    """Values cast to the catalog dtype (category features get exactly the catalog's categories).

    Category values may come as labels or, faster, as integer codes into `entry.categories`
    (-1 for missing).
    """
    if entry.dtype == "category":
        array = np.asarray(values)
        if array.dtype.kind in "iu":
            return pd.Categorical.from_codes(array, categories=pd.Index(list(entry.categories)))
        return pd.Categorical(np.asarray(values, dtype=object), categories=list(entry.categories))
    if entry.dtype == "bool":
        return np.asarray(values).astype(bool, copy=False)
    if entry.dtype == "int":
        return np.asarray(values).astype(np.int64, copy=False)
    return np.asarray(values, dtype=np.float64)


def dataset_frame(
    task: str,
    entity_ids: np.ndarray | pd.Series,
    as_of: np.ndarray | pd.Series,
    values: Mapping[str, np.ndarray | pd.Series],
    audit: Mapping[str, np.ndarray | pd.Series],
    label: np.ndarray | None = None,
) -> pd.DataFrame:
    """A dataset frame in the contract's column order and dtypes.

    `entity_id`, `as_of`, `label` (int8, when given), the features in catalog order, then the
    task's audit columns. Raises `KeyError` when `values` or `audit` do not match the catalog
    exactly, so a builder cannot silently drop or add a feature.
    """
    names = feature_names(task)
    audit_names = AUDIT_COLUMNS[slug(task)]
    if set(values) != set(names):
        raise KeyError(
            f"{task}: feature values do not match the catalog "
            f"(missing {sorted(set(names) - set(values))}, extra {sorted(set(values) - set(names))})"
        )
    if set(audit) != set(audit_names):
        raise KeyError(f"{task}: audit columns {sorted(audit)} != {sorted(audit_names)}")
    columns: dict[str, object] = {
        "entity_id": _text(entity_ids),
        "as_of": np.asarray(as_of).astype("datetime64[ns]", copy=False),
    }
    if label is not None:
        columns["label"] = np.asarray(label).astype(np.int8, copy=False)
    for entry in features(task):
        columns[entry.name] = _feature_column(entry, values[entry.name])
    for name in audit_names:
        columns[name] = _text(audit[name])
    # No copy and no consolidation into 2-D blocks: builders pass arrays made for this frame,
    # and stacking a large dataset's columns would copy gigabytes.
    return pd.DataFrame(columns, copy=False)


def _text(values: np.ndarray | pd.Series) -> pd.api.extensions.ExtensionArray:
    """A `str` array, without a round trip through Python objects when it already is one."""
    if isinstance(values, pd.Series) and values.dtype == "str":
        return values.array
    return pd.array(np.asarray(values, dtype=object), dtype="str")
