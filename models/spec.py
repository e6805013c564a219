"""What each risk model is: one frozen, typed `TaskSpec` per task.

The spec ties the feature catalog (features, directions, actionability) to everything training
and scoring need: the label horizon, LightGBM parameters and monotone constraints, the Optuna
search space, capacity-based risk levels and the actions a department is advised to take
(the steps themselves, and what of a record each needs, are in `models.actions`).
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
from features.tasks import UnknownTaskError as UnknownTaskError  # re-exported: callers catch it
from features.tasks import get_task
from models.actions import TASK_ACTIONS, ValueFit, distinct_fits
from models.actions import Action as Action  # re-exported: callers name a step from here
from models.levels import RISK_LEVELS as RISK_LEVELS  # re-exported, as are the three below
from models.levels import WARNING_LEVELS as WARNING_LEVELS
from models.levels import Lang as Lang
from models.levels import RiskLevel as RiskLevel

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

    def point(self, params: LightGBMParams) -> dict[str, Any]:
        """`params`' values of the searched fields, as a trial draws them (a trial to enqueue)."""
        return {
            spec_field.name: getattr(params, spec_field.name)
            for spec_field in dataclasses.fields(self)
        }

    def capped(self, num_leaves: int, max_depth: int) -> SearchSpace:
        """The space with trees of at most `num_leaves` leaves and depth `max_depth` (a lower
        bound above a cap comes down to it, so the range holds the cap alone)."""

        def cap(bounds: IntRange, top: int) -> IntRange:
            return dataclasses.replace(bounds, low=min(bounds.low, top), high=min(bounds.high, top))

        return dataclasses.replace(
            self,
            num_leaves=cap(self.num_leaves, num_leaves),
            max_depth=cap(self.max_depth, max_depth),
        )


@dataclass(frozen=True)
class LevelCapacity:
    """How many units a level may hold, as a share of the scored population.

    `share` is the level's own slice: red = top 1%, orange = the next 4%, yellow = the next 10%.
    """

    level: RiskLevel
    share: float


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
        return {level: distinct_fits(actions) for level, actions in self.level_actions.items()}

    @cached_property
    def _reason_fits(self) -> dict[str, tuple[ValueFit, ...]]:
        """Each feature's `ValueFit`s of the actions its reasons can give."""
        return {f.name: distinct_fits(self.reason_actions(f)) for f in self.features}

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
            parts.append(fits if fits is not None else distinct_fits(self.reason_actions(feature)))
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


def task_slug(task: str) -> str:
    """`wage-arrears` or `wage_arrears` -> `wage_arrears`; unknown names raise `UnknownTaskError`."""
    return get_task(task).slug


def build_spec(task: str, features: tuple[FeatureDef, ...], catalog_version: str) -> TaskSpec:
    """A task's spec over the given catalog entries (`get_spec` passes the real catalog)."""
    entry = get_task(task)
    actions = TASK_ACTIONS[entry.slug]
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
