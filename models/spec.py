"""What each risk model is: one frozen, typed `TaskSpec` per task.

The spec ties the feature catalog (features, directions, actionability) to everything training
and scoring need: the label horizon, LightGBM parameters and monotone constraints, the Optuna
search space, capacity-based risk levels and the actions a department is advised to take.
Nothing here trains or reads files; `get_spec` only combines constants with the catalog.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

import pandas as pd

from features import catalog as feature_catalog
from features.catalog import FeatureDef
from features.tasks import TASK_NAMES as TASK_NAMES  # re-exported: callers list tasks here
from features.tasks import TASKS, get_task
from features.tasks import UnknownTaskError as UnknownTaskError  # re-exported: callers catch it
from models.departments import department_names

RiskLevel = Literal["red", "orange", "yellow", "green"]
RISK_LEVELS: tuple[RiskLevel, ...] = ("red", "orange", "yellow", "green")
#: the levels that raise a warning (green raises none)
WARNING_LEVELS: tuple[RiskLevel, ...] = ("yellow", "orange", "red")
Lang = Literal["en", "zh"]
CalibrationKind = Literal["platt", "isotonic"]


class _Trial(Protocol):
    """The part of `optuna.trial.Trial` the search space uses (keeps optuna out of models/)."""

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...


@dataclass(frozen=True)
class LightGBMParams:
    """LightGBM settings for one task, kept small because TreeSHAP cost grows with tree size.

    `deterministic`, `force_row_wise` and a fixed `num_threads` make retraining with the same
    seed and data give a bit-identical model text. One thread by default: on the shared 2-core
    machine two OpenMP threads were 4-9x slower than one (measured on an 8,000-row dataset),
    and "intermediate" monotone constraints cost 2.5x "basic" but 0.3x "advanced".
    """

    learning_rate: float = 0.05
    num_leaves: int = 15
    max_depth: int = 5
    min_child_samples: int = 40
    reg_lambda: float = 1.0
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.9
    bagging_freq: int = 1
    num_boost_round: int = 400
    early_stopping_rounds: int = 40
    extra_trees: bool = False  # random split thresholds (training.train.recipe_params)
    num_threads: int = 1
    seed: int = 7

    def to_lightgbm(self, monotone_constraints: tuple[int, ...]) -> dict[str, Any]:
        """The `params` dict for `lightgbm.train` (rounds and early stopping are passed apart)."""
        return {
            "objective": "binary",
            "metric": ["binary_logloss", "auc"],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_samples": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "extra_trees": self.extra_trees,
            "monotone_constraints": list(monotone_constraints),
            "monotone_constraints_method": "intermediate",
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "feature_pre_filter": False,
            "verbosity": -1,
        }


@dataclass(frozen=True)
class IntRange:
    """An integer hyper-parameter range for Optuna."""

    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    """A float hyper-parameter range for Optuna."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class SearchSpace:
    """The Optuna search space; bounds keep trees small enough for fast exact TreeSHAP."""

    learning_rate: FloatRange = FloatRange(0.02, 0.15, log=True)
    num_leaves: IntRange = IntRange(7, 31)
    max_depth: IntRange = IntRange(3, 6)
    min_child_samples: IntRange = IntRange(20, 200, log=True)
    reg_lambda: FloatRange = FloatRange(1e-3, 20.0, log=True)
    feature_fraction: FloatRange = FloatRange(0.6, 1.0)
    bagging_fraction: FloatRange = FloatRange(0.6, 1.0)

    def suggest(self, trial: _Trial, base: LightGBMParams) -> LightGBMParams:
        """Draw one set of parameters from the trial, keeping the rest of `base`."""
        drawn: dict[str, Any] = {}
        for spec_field in dataclasses.fields(self):
            bounds = getattr(self, spec_field.name)
            if isinstance(bounds, IntRange):
                drawn[spec_field.name] = trial.suggest_int(
                    spec_field.name, bounds.low, bounds.high, log=bounds.log
                )
            else:
                drawn[spec_field.name] = trial.suggest_float(
                    spec_field.name, bounds.low, bounds.high, log=bounds.log
                )
        return dataclasses.replace(base, **drawn)


@dataclass(frozen=True)
class LevelCapacity:
    """How many units a level may hold, as a share of the scored population.

    `share` is the level's own slice: red = top 1%, orange = the next 4%, yellow = the next 10%.
    """

    level: RiskLevel
    share: float


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


def _distinct_fits(actions: Sequence[Action]) -> tuple[ValueFit, ...]:
    """Every `ValueFit` of `actions`, once each."""
    return tuple(dict.fromkeys(fit for action in actions for fit in action.value_fits))


@dataclass(frozen=True)
class ResponseDeadline:
    """How fast a warning of one level must be handled: the programme's response rules.

    A new warning must be dispatched to a department within `dispatch_hours` of being raised;
    the department must take its first action (start handling) within `first_action_hours` of
    being dispatched (a re-route restarts that clock: the new department has not seen it yet).
    """

    level: RiskLevel
    dispatch_hours: int
    first_action_hours: int


DEFAULT_DEADLINES: tuple[ResponseDeadline, ...] = (
    ResponseDeadline("red", 24, 3 * 24),
    ResponseDeadline("orange", 3 * 24, 7 * 24),
    ResponseDeadline("yellow", 7 * 24, 30 * 24),
)

DEFAULT_CAPACITIES: tuple[LevelCapacity, ...] = (
    LevelCapacity("red", 0.01),
    LevelCapacity("orange", 0.04),
    LevelCapacity("yellow", 0.10),
)


@dataclass(frozen=True)
class TaskSpec:
    """Everything that defines one task's model apart from the data it is fitted on.

    Attributes:
        task: CLI/API name (`wage-arrears`).
        slug: python name (`wage_arrears`), also the catalog key.
        unit: what one row is (employer x month, ...).
        label: what the label means, in words.
        horizon_months / horizon_days: label horizon; exactly one is non-zero.
        features: catalog entries in model order.
        catalog_version: the catalog version the features were read from.
        params: LightGBM parameters.
        search_space: Optuna space over `params`.
        calibration: probability calibrator fitted on the validation slice.
        capacities: each warning level's share of the scored population.
        deadlines: each warning level's response deadlines (dispatch, first action).
        level_actions: actions for each warning level (green has none).
        driver_actions: actions triggered by an actionable reason, keyed by the catalog's
            `signal` name (the fixed driver names of the contract, not column names).
        feature_actions: actions of actionable features that measure no planted driver, keyed
            by feature name.

    A feature triggers actions only when the catalog marks it `actionable` (a department can
    act on it); each of its actions says which of its values it fits (`Action.fits`).
    """

    task: str
    slug: str
    unit: str
    label: str
    horizon_months: int
    horizon_days: int
    features: tuple[FeatureDef, ...]
    catalog_version: str
    params: LightGBMParams = LightGBMParams()
    search_space: SearchSpace = SearchSpace()
    calibration: CalibrationKind = "platt"
    capacities: tuple[LevelCapacity, ...] = DEFAULT_CAPACITIES
    deadlines: tuple[ResponseDeadline, ...] = DEFAULT_DEADLINES
    level_actions: Mapping[RiskLevel, tuple[Action, ...]] = field(default_factory=dict)
    driver_actions: Mapping[str, tuple[Action, ...]] = field(default_factory=dict)
    feature_actions: Mapping[str, tuple[Action, ...]] = field(default_factory=dict)

    @property
    def horizon(self) -> pd.DateOffset:
        """The label horizon as a calendar offset (3 months, 30 days, 90 days)."""
        if self.horizon_months:
            return pd.DateOffset(months=self.horizon_months)
        return pd.DateOffset(days=self.horizon_days)

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    @cached_property
    def monotone_constraints(self) -> tuple[int, ...]:
        """The catalog's directions; category features cannot carry a monotone constraint."""
        return tuple(
            0 if feature.dtype == "category" else int(feature.direction)
            for feature in self.features
        )

    @cached_property
    def categorical_features(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features if feature.dtype == "category")

    @property
    def registered_model_name(self) -> str:
        return f"riskloop-{self.task}"

    def without(self, names: Collection[str]) -> TaskSpec:
        """This spec without the named features: the model of a city whose tables lack an
        optional column (features.dataset.features_left_out) is trained and served on it."""
        if not names:
            return self
        return dataclasses.replace(
            self, features=tuple(f for f in self.features if f.name not in set(names))
        )

    def feature(self, name: str) -> FeatureDef:
        """The catalog entry of one model feature."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"{name!r} is not a feature of {self.task}")

    def deadline(self, level: str) -> ResponseDeadline | None:
        """The response deadlines of a warning level (None for green, which raises nothing)."""
        for deadline in self.deadlines:
            if deadline.level == level:
                return deadline
        return None

    def reason_actions(self, feature: FeatureDef) -> tuple[Action, ...]:
        """Every action a reason of `feature` can trigger: its own, then its signal's (none
        for a feature that is not actionable)."""
        if not feature.actionable:
            return ()
        actions = self.feature_actions.get(feature.name, ())
        if feature.signal is not None:
            actions = (*actions, *self.driver_actions.get(feature.signal, ()))
        return actions

    @cached_property
    def _level_fits(self) -> dict[str, tuple[ValueFit, ...]]:
        """Each level's actions' `ValueFit`s (made once: `candidate_fits` is on the hot path)."""
        return {level: _distinct_fits(actions) for level, actions in self.level_actions.items()}

    @cached_property
    def _reason_fits(self) -> dict[str, tuple[ValueFit, ...]]:
        """Each feature's `ValueFit`s of the actions its reasons can give."""
        return {f.name: _distinct_fits(self.reason_actions(f)) for f in self.features}

    def candidate_fits(
        self, level: RiskLevel, risk_raising_reasons: tuple[FeatureDef, ...]
    ) -> tuple[ValueFit, ...]:
        """The distinct `ValueFit`s of every action the level and reasons can give.

        Which of them the record's values admit is all `actions_for` reads of those values:
        a memo of its answers keys a record by those booleans (none for a level and reasons
        whose actions fit every record, and green, which gets none)."""
        if level == "green":
            return ()
        parts = [self._level_fits.get(level, ())]
        for feature in risk_raising_reasons:
            fits = self._reason_fits.get(feature.name)
            parts.append(fits if fits is not None else _distinct_fits(self.reason_actions(feature)))
        return tuple(dict.fromkeys(fit for part in parts for fit in part))

    def actions_for(
        self,
        level: RiskLevel,
        risk_raising_reasons: tuple[FeatureDef, ...],
        values: Mapping[str, Any] | None = None,
    ) -> list[tuple[str, Action]]:
        """`(trigger, action)` pairs: the level's actions, then those of actionable reasons.

        Triggers read `level:<level>` or `reason:<feature>`. Green units get no action, an action
        appears once, and non-actionable features (age, sector, ...) never trigger one.
        `values` are the record's present values by feature name (a missing one left out),
        those of every feature the candidate actions' fits name (`candidate_fits`), not only
        the reasons': an action is given only when it fits the record, whichever reason or
        level asks it (a case handled at county level is not asked to move there, a resident
        with no flagged contacts not to have them checked), and a reason gives it only when its
        own value fits. Without `values`, every action the level and reasons can give at some
        values is given.
        """
        if level == "green":
            return []
        known = values if values is not None else {}

        def fits(action: Action) -> bool:
            return level in action.levels and (values is None or action.fits_record(known))

        chosen: dict[Action, str] = {
            action: f"level:{level}" for action in self.level_actions.get(level, ()) if fits(action)
        }
        for feature in risk_raising_reasons:
            for action in self.reason_actions(feature):
                if action in chosen or not fits(action):
                    continue
                if values is None or action.fits_reason(feature.name, known):
                    chosen[action] = f"reason:{feature.name}"
        return [(trigger, action) for action, trigger in chosen.items()]

    def localised_actions(
        self, actions: Sequence[Mapping[str, Any]], lang: Lang
    ) -> list[tuple[str, str]]:
        """Stored actions (a warning's `actions`, in the language they were scored in) as
        (department, action) in `lang`, matched against every action of the spec: its
        levels', drivers' and features'. One no longer in the spec is shown as stored."""
        known = [
            action
            for group in (
                *self.level_actions.values(),
                *self.driver_actions.values(),
                *self.feature_actions.values(),
            )
            for action in group
        ]
        rows = []
        for item in actions:
            text = str(item.get("action", ""))
            match = next((a for a in known if text in (a.text_en, a.text_zh)), None)
            if match is None:
                rows.append((str(item.get("department", "")), text))
            else:
                rows.append((match.department(lang), match.text(lang)))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, logged with every training run."""
        data = dataclasses.asdict(self)
        data["monotone_constraints"] = list(self.monotone_constraints)
        data["level_actions"] = {
            level: [dataclasses.asdict(action) for action in actions]
            for level, actions in self.level_actions.items()
        }
        data["driver_actions"] = {
            driver: [dataclasses.asdict(action) for action in actions]
            for driver, actions in self.driver_actions.items()
        }
        data["feature_actions"] = {
            name: [dataclasses.asdict(action) for action in actions]
            for name, actions in self.feature_actions.items()
        }
        return data


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
class _TaskActions:
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

WAGE_ARREARS_ACTIONS = _TaskActions(
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


TELECOM_FRAUD_ACTIONS = _TaskActions(
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

DISPUTE_ESCALATION_ACTIONS = _TaskActions(
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
_ACTIONS: dict[str, _TaskActions] = {
    task.slug: globals()[task.actions_constant] for task in TASKS.values()
}


def task_slug(task: str) -> str:
    """`wage-arrears` or `wage_arrears` -> `wage_arrears`; unknown names raise `UnknownTaskError`."""
    return get_task(task).slug


def build_spec(task: str, features: tuple[FeatureDef, ...], catalog_version: str) -> TaskSpec:
    """A task's spec over the given catalog entries (`get_spec` passes the real catalog)."""
    entry = get_task(task)
    actions = _ACTIONS[entry.slug]
    if not features:
        raise ValueError(f"the catalog has no features for {entry.name}")
    return TaskSpec(
        task=entry.name,
        slug=entry.slug,
        unit=entry.unit,
        label=entry.label,
        horizon_months=entry.horizon_months,
        horizon_days=entry.horizon_days,
        features=tuple(features),
        catalog_version=catalog_version,
        level_actions=actions.level_actions,
        driver_actions=actions.driver_actions,
        feature_actions=actions.feature_actions,
    )


def get_spec(task: str) -> TaskSpec:
    """The spec of `task` (`wage-arrears` or `wage_arrears`) over the current feature catalog."""
    slug = task_slug(task)
    return build_spec(slug, tuple(feature_catalog.CATALOG[slug]), feature_catalog.CATALOG_VERSION)
