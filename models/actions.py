"""What departments are advised to do: one `Action` per step, each task's steps by level, driver
and feature, and what of the record a step needs (`ValueFit`).

`models.spec.TaskSpec` chooses among them for a scored record (`actions_for`); the registry
(`features.tasks`, `actions_constant`) names each task's constant here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from features.tasks import TASKS
from models.departments import department_names
from models.levels import WARNING_LEVELS, Lang, RiskLevel

#: a feature value a `ValueFit` names: a category, a flag or a number
FitValue = str | bool | int | float


@dataclass(frozen=True)
class ValueFit:
    """The values of one feature that a step fits (`Action.fits`).

    A value fits unless it is one of `unless`, and, for numbers, only below `below` and above
    `above` when they are set: `unless=("county",)` for "move the case to county level",
    `below=0.0` for "share the sales decline" (a +5% change is no decline). A missing value
    shows nothing the step asks about: it fits an `unless` (nothing rules the step out) and no
    bound (nothing shows the decline or the warning the step speaks of).
    """

    feature: str
    unless: tuple[FitValue, ...] = ()
    below: float | None = None
    above: float | None = None

    @property
    def admits_missing(self) -> bool:
        """Whether a record with no value of `feature` fits."""
        return self.below is None and self.above is None

    def admits(self, value: Any) -> bool:
        """Whether a present value of `feature` fits."""
        if value in self.unless:
            return False
        if self.below is not None and not value < self.below:
            return False
        return self.above is None or value > self.above

    def fits(self, values: Mapping[str, Any]) -> bool:
        """Whether a record's present values by feature name (a missing one left out) fit."""
        if self.feature not in values:
            return self.admits_missing
        return self.admits(values[self.feature])


@dataclass(frozen=True)
class Action:
    """A recommended step for a department, in both languages.

    A step may not fit every record whose level or reasons can give it: a case handled at
    county level is no case to move to county level, an installed app no reason to help
    install it, a warning never received none to repeat. `fits` names what the step needs of
    the record: each requirement is met when one of its `ValueFit`s admits the record's value
    of its feature (`_any`: arrears shown by any of four features), checked whichever reason
    or level gives the step; a reason does not give it either when its own value does not fit
    (a month without arrears is no reason to urge payment, though another month's arrears may
    be). `levels` are the warning levels whose cases it fits (a red case's level moves it to
    the county; a reason does not propose it again). `fits` and `levels` are left out of
    equality: a step is what it says, offered once however many reasons ask it.
    """

    department_en: str
    department_zh: str
    text_en: str
    text_zh: str
    fits: tuple[tuple[ValueFit, ...], ...] = field(default=(), compare=False)
    levels: tuple[RiskLevel, ...] = field(default=WARNING_LEVELS, compare=False)

    def department(self, lang: Lang) -> str:
        return self.department_zh if lang == "zh" else self.department_en

    def text(self, lang: Lang) -> str:
        return self.text_zh if lang == "zh" else self.text_en

    @cached_property
    def value_fits(self) -> tuple[ValueFit, ...]:
        """Every `ValueFit` of the step, once each."""
        return tuple(dict.fromkeys(fit for requirement in self.fits for fit in requirement))

    def fits_record(self, values: Mapping[str, Any]) -> bool:
        """Whether a record's present values by feature name meet every requirement."""
        return all(any(fit.fits(values) for fit in requirement) for requirement in self.fits)

    def fits_reason(self, feature: str, values: Mapping[str, Any]) -> bool:
        """Whether a reason of `feature` may give this step: its own value fits."""
        return all(fit.fits(values) for fit in self.value_fits if fit.feature == feature)


def distinct_fits(actions: Sequence[Action]) -> tuple[ValueFit, ...]:
    """Every `ValueFit` of `actions`, once each."""
    return tuple(dict.fromkeys(fit for action in actions for fit in action.value_fits))


_LABOUR_INSPECTION = department_names("labour_inspection")
_TOWNSHIP_LABOUR = department_names("township_labour")
_GRID = department_names("grid")
_HOUSING = department_names("housing")
_SOCIAL_INSURANCE = department_names("social_insurance")
_TAX = department_names("tax")
_MARKET = department_names("market")
_COURT = department_names("court")
_ANTI_FRAUD = department_names("anti_fraud")
_COMMUNITY_POLICE = department_names("community_police")
_BANK = department_names("bank")
_RESIDENTS_COMMITTEE = department_names("residents_committee")
_COUNTY_CENTRE = department_names("county_centre")
_TOWNSHIP_CENTRE = department_names("township_centre")
_MEDIATION = department_names("mediation")
_POLICE_STATION = department_names("police_station")
_PETITION = department_names("petition")


def _action(
    department: tuple[str, str],
    text_en: str,
    text_zh: str,
    *fits: ValueFit | tuple[ValueFit, ...],
    levels: tuple[RiskLevel, ...] = WARNING_LEVELS,
) -> Action:
    """A step that needs every one of `fits` of the record (a tuple: any one of them)."""
    requirements = tuple(fit if isinstance(fit, tuple) else (fit,) for fit in fits)
    return Action(department[0], department[1], text_en, text_zh, requirements, levels)


def _unless(feature: str, *values: FitValue) -> ValueFit:
    """The step does not fit these values of `feature` (they show the state it asks for, or
    show there is nothing to act on: no complaints to review, no app to install); a record
    with no value of it fits."""
    return ValueFit(feature, unless=values)


def _below(feature: str, bound: float) -> ValueFit:
    """The step fits values of `feature` below `bound` only (a decline, an unanswered call);
    a record with no value of it does not fit."""
    return ValueFit(feature, below=bound)


def _above(feature: str, bound: float) -> ValueFit:
    """The step fits values of `feature` above `bound` only (flagged numbers to check, a
    warning received); a record with no value of it does not fit."""
    return ValueFit(feature, above=bound)


def _any(*fits: ValueFit) -> tuple[ValueFit, ...]:
    """One requirement met by any of `fits`: arrears shown by one of several features."""
    return fits


@dataclass(frozen=True)
class TaskActions:
    """What departments are advised to do for one task's warnings (the registry names the rest)."""

    level_actions: Mapping[RiskLevel, tuple[Action, ...]]
    driver_actions: Mapping[str, tuple[Action, ...]]
    feature_actions: Mapping[str, tuple[Action, ...]]


#: asked by complaints about wages and by those about other labour matters alike
_REVIEW_COMPLAINTS = _action(
    _LABOUR_INSPECTION,
    "Review earlier complaints and how they were closed.",
    "复查以往投诉及办结情况。",
    _any(_unless("labour_complaints_12m", 0), _unless("prior_wage_complaints_12m", 0)),
)

WAGE_ARREARS_ACTIONS = TaskActions(
    level_actions={
        "red": (
            _action(
                _LABOUR_INSPECTION,
                "On-site inspection within 5 working days: check payroll and wage payments.",
                "5个工作日内现场检查，核查工资台账和工资支付记录。",
            ),
        ),
        "orange": (
            _action(
                _TOWNSHIP_LABOUR,
                "Call the employer within 10 days and check the last 3 months' wage payments.",
                "10日内约谈用人单位，核查近3个月工资发放情况。",
            ),
        ),
        "yellow": (
            _action(
                _GRID,
                "Add the employer to this month's visit list and watch for new signals.",
                "列入本月走访名单，关注新的风险信号。",
            ),
        ),
    },
    driver_actions={
        "owner_payment_delay": (
            _action(
                _HOUSING,
                "Check the project owner's payments to the contractor and the wage guarantee account.",
                "核查建设单位工程款拨付和工资保证金专户。",
                _unless("owner_payment_shortfall_ratio", 0),
            ),
        ),
        "si_arrears": (
            _action(
                _SOCIAL_INSURANCE,
                "Verify the social-insurance arrears and urge payment.",
                "核实社保欠缴情况并催缴。",
                _any(
                    _unless("si_arrears_months_3m", 0),
                    _unless("si_arrears_months_6m", 0),
                    _unless("si_unpaid_streak_months", 0),
                    _unless("si_shortfall_ratio_3m", 0),
                ),
            ),
        ),
        "headcount_drop": (
            _action(
                _LABOUR_INSPECTION,
                "Check for lay-offs and unpaid final wages.",
                "核查裁员情况及离职工资结清情况。",
                _below("insured_headcount_change_6m", 0.0),
            ),
        ),
        "electricity_drop": (
            _action(
                _GRID,
                "Visit the site and confirm whether the firm is still operating.",
                "实地走访，确认企业是否正常经营。",
                _any(_below("electricity_yoy_change", 0.0), _below("electricity_change_3m", 0.0)),
            ),
        ),
        "tax_overdue": (
            _action(
                _TAX,
                "Review the overdue tax and the firm's payment plan.",
                "核查欠税情况及补缴计划。",
                _any(_unless("tax_overdue_amount", 0), _unless("tax_overdue_months_3m", 0)),
            ),
        ),
        "sales_decline": (
            _action(
                _TAX,
                "Share the sales decline with the labour office for a joint check.",
                "将销售额下滑情况通报劳动保障部门联合核查。",
                _any(_below("sales_trend_6m", 0.0), _below("sales_change_3m", 0.0)),
            ),
        ),
        "creditor_suits": (
            _action(
                _COURT,
                "Check enforcement cases and make sure wages are paid first from seized assets.",
                "关注执行案件，确保查封财产优先支付工资。",
                _any(
                    _unless("creditor_suits_6m", 0),
                    _unless("creditor_suits_12m", 0),
                    _unless("enforcement_listings_12m", 0),
                    _unless("court_cases_12m", 0),
                ),
            ),
        ),
        "abnormal_listing": (
            _action(
                _MARKET,
                "Verify the registered address and the annual report.",
                "核查登记住所和年报情况。",
                _unless("abnormal_listed", False),
            ),
        ),
        "prior_complaints": (_REVIEW_COMPLAINTS,),
    },
    feature_actions={
        "prior_wage_complaints_12m": (_REVIEW_COMPLAINTS,),
        "prior_arrears_events_24m": (
            _action(
                _LABOUR_INSPECTION,
                "Check that earlier arrears were paid in full and none are building up again.",
                "核查既往欠薪是否已足额清偿，防止再次发生。",
                _unless("prior_arrears_events_24m", 0),
            ),
        ),
    },
)


TELECOM_FRAUD_ACTIONS = TaskActions(
    level_actions={
        "red": (
            _action(
                _COMMUNITY_POLICE,
                "Call now (96110) and visit in person within 24 hours.",
                "立即96110电话劝阻，24小时内上门见面劝阻。",
            ),
        ),
        "orange": (
            _action(
                _ANTI_FRAUD,
                "Warning call (96110) within 48 hours.",
                "48小时内96110电话预警。",
            ),
        ),
        "yellow": (
            _action(
                _ANTI_FRAUD,
                "Send a 12381 warning text message.",
                "发送12381预警短信。",
            ),
        ),
    },
    driver_actions={
        "flagged_contacts": (
            _action(
                _ANTI_FRAUD,
                "Check the flagged numbers and warn the resident about that scam type.",
                "核查涉诈号码，针对相应诈骗类型开展提醒。",
                _above("flagged_contacts_30d", 0),
            ),
        ),
        "risky_app_alerts": (
            _action(
                _ANTI_FRAUD,
                "Contact the resident about the flagged app or screen sharing; advise removing it.",
                "就涉诈应用或屏幕共享联系本人，劝其卸载。",
                _any(_above("screen_sharing_alerts_30d", 0), _above("flagged_app_alerts_30d", 0)),
            ),
        ),
        "new_payees": (
            _action(
                _BANK,
                "Confirm new payees with the resident before large transfers.",
                "大额转账前向本人核实新增收款人。",
                _unless("new_payees_30d", 0),
            ),
        ),
        "outflow_spike": (
            _action(
                _BANK,
                "Call the resident back about the unusual outflows.",
                "就异常资金流出回访本人。",
                _above("outflow_spike_ratio", 1.0),
            ),
        ),
        "prior_victimisation": (
            _action(
                _COMMUNITY_POLICE,
                "Revisit the earlier victim; repeat victimisation is common.",
                "回访既往受害人，防止二次受骗。",
                _unless("prior_fraud_victimisations", 0),
            ),
        ),
        "warning_answered": (
            _action(
                _ANTI_FRAUD,
                "The last warning went unanswered: repeat it by phone or visit.",
                "此前预警未接通：再次电话或上门预警。",
                _below("warnings_answered_30d", 1),
                _above("warnings_received_30d", 0),
            ),
        ),
        "app_installed": (
            _action(
                _COMMUNITY_POLICE,
                "Help the resident install the national anti-fraud app.",
                "协助本人安装国家反诈中心App。",
                _unless("antifraud_app_installed", True),
            ),
        ),
        "elderly_alone": (
            _action(
                _RESIDENTS_COMMITTEE,
                "Arrange a volunteer check-in with the older resident living alone.",
                "安排志愿者走访独居老人。",
                _unless("elderly_living_alone", False),
            ),
        ),
    },
    feature_actions={
        "overseas_calls_30d": (
            _action(
                _ANTI_FRAUD,
                "Warn the resident about scam calls from abroad; offer to block overseas calls.",
                "提醒本人警惕境外来电诈骗，可协助开通境外来电拦截。",
                _above("overseas_calls_30d", 0),
            ),
        ),
        "phishing_alerts_30d": (
            _action(
                _ANTI_FRAUD,
                "Warn the resident about the flagged phishing links: never enter passwords or codes.",
                "就涉诈钓鱼链接提醒本人，切勿填写密码或验证码。",
                _above("phishing_alerts_30d", 0),
            ),
        ),
        "night_transfers_30d": (
            _action(
                _BANK,
                "Review the night-time transfers with the resident.",
                "与本人核实夜间转账情况。",
                _unless("night_transfers_30d", 0),
            ),
        ),
        "warnings_received_30d": (
            _action(
                _COMMUNITY_POLICE,
                "Several warnings received: confirm in person that the resident understood them.",
                "多次收到预警：上门确认本人已知悉风险。",
                _above("warnings_received_30d", 1),
            ),
        ),
    },
)


#: a case the county centre handles already (the handling level, or its county flag, says so)
_NOT_AT_COUNTY = (_unless("handling_level", "county"), _unless("county_handling", True))

DISPUTE_ESCALATION_ACTIONS = TaskActions(
    level_actions={
        "red": (
            _action(
                _TOWNSHIP_CENTRE,
                "Refer the case to the county centre for county-level handling.",
                "提请县级矛调中心提级处置。",
                *_NOT_AT_COUNTY,
            ),
            _action(
                _COUNTY_CENTRE,
                "Joint meeting with police and petition office within 3 days.",
                "3日内会同公安、信访联合研判。",
            ),
        ),
        "orange": (
            _action(
                _TOWNSHIP_CENTRE,
                "Assign a lead mediator and hold a mediation session within 7 days.",
                "指定专人包案，7日内组织调解。",
            ),
        ),
        "yellow": (
            _action(
                _GRID,
                "Visit the parties again within 14 days.",
                "14日内回访当事人。",
            ),
        ),
    },
    driver_actions={
        "failed_mediation": (
            _action(
                _MEDIATION,
                "Change the mediator or move to a higher-level mediation.",
                "更换调解员或提请上级调解。",
                _above("mediation_failures", 0),
                _unless("mediation_agreement", True),
            ),
        ),
        "prior_police_calls": (
            _action(
                _POLICE_STATION,
                "Bring the police station into the follow-up.",
                "派出所参与跟进化解。",
                _unless("party_prior_police_calls", 0),
            ),
        ),
        "prior_petitions": (
            _action(
                _PETITION,
                "Petition bureau to contact the parties and review earlier petitions.",
                "信访部门联系当事人，复核既往信访事项。",
                _unless("party_prior_petitions", 0),
            ),
        ),
        "threat_emotion": (
            _action(
                _POLICE_STATION,
                "Safety assessment of the parties; inform the police station within 24 hours.",
                "开展当事人安全评估，24小时内通报派出所。",
                _any(_unless("threat_flag_visits", 0), _unless("emotion_flag_visits", 0)),
            ),
        ),
        "group_dispute": (
            _action(
                _TOWNSHIP_CENTRE,
                "Name a responsible official and meet the group's representatives.",
                "明确包案领导，约谈群体代表。",
                _unless("group_flag", False),
            ),
        ),
        # one step up per level of handling; a red case's level refers it to the county
        "county_handling": (
            _action(
                _TOWNSHIP_CENTRE,
                "Consider taking the case up to the township centre.",
                "研究提级至乡镇综治中心处置。",
                _unless("handling_level", "township", "county"),
                *_NOT_AT_COUNTY,
                levels=("orange", "yellow"),
            ),
            _action(
                _COUNTY_CENTRE,
                "Consider moving the case to county-level handling.",
                "研究提级至县级处置。",
                _unless("handling_level", "grid", "county"),
                *_NOT_AT_COUNTY,
                levels=("orange", "yellow"),
            ),
        ),
    },
    feature_actions={
        "mediation_agreement": (
            _action(
                _MEDIATION,
                "No agreement yet: schedule a mediation session.",
                "尚未达成协议：安排调解。",
                _unless("mediation_agreement", True),
            ),
        ),
        "mediation_attempts": (
            _action(
                _MEDIATION,
                "Review the mediation record and change the approach.",
                "复盘调解过程，调整调解方式。",
                _unless("mediation_attempts", 0),
                _unless("mediation_agreement", True),
            ),
        ),
        "grid_visits": (
            _action(
                _GRID,
                "Visit the parties more often until the dispute settles.",
                "加密走访频次直至纠纷化解。",
            ),
        ),
    },
)

#: The actions of each task by slug, in registry order (the registry names each constant).
TASK_ACTIONS: dict[str, TaskActions] = {
    task.slug: globals()[task.actions_constant] for task in TASKS.values()
}
