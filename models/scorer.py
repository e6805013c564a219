"""The one place that turns a feature frame into calibrated scores, risk levels and reasons.

Batch scoring, the service and the reports all call `score_arrays` (vectorised) or
`score_frame` (one `ScoredRecord` per row). Explanations are exact TreeSHAP from the model's
precomputed tables (`models.explainer`, equal to LightGBM's `pred_contrib` within float
rounding at a fraction of its cost), computed once per batch, so for every row the
contributions plus the base value equal the raw margin, and the calibrated score is a function
of that margin.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.catalog import FeatureDef
from models.actions import ValueFit
from models.explain_plots import Contribution, display_value
from models.explanation_cache import ExplanationCache
from models.risk_model import PREDICT_THREADS, RiskModel, feature_columns, feature_matrix
from models.spec import WARNING_LEVELS, Lang, RiskLevel, TaskSpec

Direction = Literal["raises", "lowers", "neutral"]
ReasonValue = float | int | bool | str | None

_SUFFIX: dict[Lang, dict[Direction, str]] = {
    "en": {"raises": " (raises risk)", "lowers": " (lowers risk)", "neutral": " (no effect)"},
    "zh": {"raises": "（风险上升）", "lowers": "（风险下降）", "neutral": "（无影响）"},
}
_MISSING: dict[Lang, str] = {"en": "{label}: no data", "zh": "{label}：无数据"}


@dataclass(frozen=True)
class Reason:
    """One feature's part in a score, worded for a case worker.

    `contribution` is in log-odds (the SHAP value); `direction` is its sign in words
    (`neutral` for exactly 0: a feature the trees never split on still fills a top-k slot).
    """

    feature: str
    label: str
    value: ReasonValue
    contribution: float
    direction: Direction
    actionable: bool
    sentence: str


@dataclass(frozen=True)
class RecommendedAction:
    """A department's recommended step; `trigger` is `level:<level>` or `reason:<feature>`."""

    department: str
    action: str
    trigger: str


@dataclass(frozen=True)
class ScoredRecord:
    """A scored unit: calibrated score, level, exact SHAP contributions, reasons and actions.

    `sum(contributions.values()) + base_value == raw_margin` (up to float rounding);
    `contributions` and `reasons` are empty when scored without explanations.
    """

    entity_id: str
    score: float
    risk_level: RiskLevel
    raw_margin: float
    base_value: float
    contributions: dict[str, float]
    reasons: list[Reason]
    actions: list[RecommendedAction]


@dataclass(frozen=True)
class ScoredArrays:
    """Vectorised scoring output for a batch, row-aligned with the input frame.

    `contributions` has one column per feature in model order (None without explanations);
    `base_value` is the model's expected margin, the same for every row.
    """

    entity_ids: np.ndarray
    scores: np.ndarray
    levels: np.ndarray
    raw_margin: np.ndarray
    base_value: float
    contributions: np.ndarray | None
    #: rows whose contributions an `ExplanationCache` supplied (same model, same feature row)
    reused_explanations: int = 0


def _entity_ids(frame: pd.DataFrame) -> np.ndarray:
    if "entity_id" in frame.columns:
        return frame["entity_id"].astype(str).to_numpy(dtype=object)
    return frame.index.astype(str).to_numpy(dtype=object)


def score_arrays(
    model: RiskModel,
    frame: pd.DataFrame,
    explain: bool = True,
    columns: list[np.ndarray] | None = None,
    cache: ExplanationCache | None = None,
) -> ScoredArrays:
    """Scores, levels and (with `explain`) the TreeSHAP matrix for every row of `frame`.

    `frame` holds the catalog's feature columns (extra columns such as `entity_id`, `as_of`,
    `label` or `audit_*` are ignored); category features as catalog strings; missing optional
    features as NaN. `columns` (from `models.risk_model.feature_columns`) avoids a second
    column lookup when the caller needs the raw values too.
    """
    matrix = feature_matrix(model.spec, frame, columns)
    return score_matrix(model, matrix, _entity_ids(frame), explain=explain, cache=cache)


def score_matrix(
    model: RiskModel,
    matrix: np.ndarray,
    entity_ids: np.ndarray,
    explain: bool = True,
    cache: ExplanationCache | None = None,
) -> ScoredArrays:
    """`score_arrays` on a ready float matrix (`feature_matrix`'s encoding), no pandas.

    The service builds the matrix straight from validated request records: for a one-record
    request the frame round trip cost more than the TreeSHAP call itself. With `cache` (which
    must belong to `model`), rows explained before are reused: the same numbers.
    """
    booster = model.booster_
    contributions: np.ndarray | None = None
    reused = 0
    if not len(matrix):
        raw_margin = np.empty(0)
        expected = base_value(model)
        contributions = np.empty((0, len(model.spec.features))) if explain else None
    elif explain:
        if cache is None:
            contrib = model.explainer_.contributions(matrix)
        else:
            contrib, reused = cache.contributions(matrix, model.explainer_.contributions)
        contributions = contrib[:, :-1]
        expected = float(contrib[0, -1])
        # the booster's own sum, not the contributions' (which differs in the last bits): a
        # record's score is the same whether it is explained or not, and the same as the
        # registered pyfunc's, so re-scoring it with or without reasons changes no warning
        raw_margin = np.asarray(
            booster.predict(matrix, raw_score=True, num_threads=PREDICT_THREADS), dtype="float64"
        )
    else:
        raw_margin = np.asarray(
            booster.predict(matrix, raw_score=True, num_threads=PREDICT_THREADS), dtype="float64"
        )
        expected = base_value(model)
    scores = model.calibrator_.transform(raw_margin)
    return ScoredArrays(
        entity_ids=entity_ids,
        scores=scores,
        levels=model.thresholds_.levels(scores),
        raw_margin=raw_margin,
        base_value=expected,
        contributions=contributions,
        reused_explanations=reused,
    )


def base_value(model: RiskModel) -> float:
    """The expected margin (TreeSHAP's bias column), kept by the model's explainer: where a
    waterfall chart of a record's contributions starts."""
    return float(model.explainer_.expected_value)


def margin_from_score(model: RiskModel, score: float) -> float | None:
    """The raw log-odds behind a calibrated score, when the calibrator can be inverted.

    Platt scaling is a strictly monotone logistic map, so the margin is exact; an isotonic
    calibrator is a step function with flat stretches and gives None.
    """
    calibrator = model.calibrator_
    if calibrator.kind != "platt" or calibrator.slope <= 0 or not 0.0 < score < 1.0:
        return None
    return (math.log(score / (1.0 - score)) - calibrator.intercept) / calibrator.slope


def _is_missing(value: object) -> bool:
    """A raw feature value that is not there (None, NaN, pd.NA): "no data"."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _native_value(feature: FeatureDef, value: object) -> ReasonValue:
    """The feature's value as JSON-friendly Python, `None` when missing."""
    if _is_missing(value):
        return None
    if feature.dtype == "category":
        return str(value)
    if feature.dtype == "bool":
        return bool(value)
    if feature.dtype == "int":
        return int(value)  # type: ignore[call-overload]
    return float(value)  # type: ignore[arg-type]


def contribution_direction(contribution: float) -> Direction:
    """`raises` above 0, `lowers` below, `neutral` at exactly 0 (no effect on this score)."""
    if contribution > 0:
        return "raises"
    if contribution < 0:
        return "lowers"
    return "neutral"


def reason_sentence(
    feature: FeatureDef, value: ReasonValue, direction: Direction, lang: Lang
) -> str:
    """The catalog's reason template filled with `value`, plus the direction in words.

    Boolean templates describe the true state ("anti-fraud app installed"), so a false value
    reads "<label>: no" instead.
    """
    label = feature.label_zh if lang == "zh" else feature.label_en
    template = feature.reason_zh if lang == "zh" else feature.reason_en
    if value is None:
        text = _MISSING[lang].format(label=label)
    elif value is False:
        text = f"{label}: no" if lang == "en" else f"{label}：否"
    elif template:
        text = feature.reason_text(value, lang)
    else:
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        text = f"{label}: {shown}" if lang == "en" else f"{label}：{shown}"
    return text + _SUFFIX[lang][direction]


@dataclass(frozen=True)
class ReasonRow:
    """A stored reason as a page shows it, re-worded from the catalog in the page's language
    (the console's case page, the explanation page, their waterfall charts)."""

    feature: str
    label: str  # in the page's language
    label_en: str
    label_zh: str
    value: str  # as a reader sees it, in the page's language
    raw_value: Any
    contribution: float
    sentence: str
    actionable: bool = False
    definition: FeatureDef | None = None  # the catalog entry, when the feature is known

    def bar(self, lang: str) -> Contribution:
        """The reason as one bar of a waterfall chart drawn in `lang`."""
        value = display_value(self.raw_value, lang, self.definition)
        return Contribution(self.label_en, self.label_zh, value, self.contribution)


def reason_rows(
    reasons: Sequence[Mapping[str, Any]], spec: TaskSpec, lang: Lang
) -> list[ReasonRow]:
    """Stored reasons re-worded from the catalog in `lang`, whatever language they were scored
    in; a feature the catalog no longer knows (or a value its template cannot take) keeps its
    stored label and sentence."""
    known = set(spec.feature_names)
    rows = []
    for reason in reasons:
        name = str(reason.get("feature", ""))
        contribution = float(reason.get("contribution", 0.0))
        value = reason.get("value")
        feature: FeatureDef | None = None
        if name in known:
            feature = spec.feature(name)
            label_en, label_zh = feature.label_en, feature.label_zh
            try:
                sentence = reason_sentence(
                    feature, value, contribution_direction(contribution), lang
                )
            except (ValueError, TypeError):
                sentence = str(reason.get("sentence", ""))
        else:
            label_en = label_zh = str(reason.get("label") or name)
            sentence = str(reason.get("sentence", ""))
        rows.append(
            ReasonRow(
                feature=name,
                label=label_zh if lang == "zh" else label_en,
                label_en=label_en,
                label_zh=label_zh,
                value=display_value(value, lang, feature),
                raw_value=value,
                contribution=contribution,
                sentence=sentence,
                actionable=bool(reason.get("actionable", False)),
                definition=feature,
            )
        )
    return rows


#: A unit's actions are its level's and those of the actionable, risk-raising features among
#: its this many largest contributions, however many reasons a caller asks to see (so the same
#: record gets the same actions at any `top_k`); a warning stores this many reasons. A feature
#: whose value is missing triggers no action: "no data" on overdue tax raises the risk, but
#: asking the tax bureau to review overdue tax the firm may not owe is no action to take. Nor
#: is an action given to a record it does not fit (`models.actions.Action.fits`), read on the
#: record's own values whichever reason or level asks it: a case handled at county level is not
#: asked to move there, a resident who received no warning not to have it repeated.
ACTION_REASONS = 5

#: `(feature position, ValueFit)`: a fit some candidate action needs, and where its value is
_FitColumns = tuple[tuple[int, ValueFit], ...]


def _fit_columns(
    spec: TaskSpec,
    level: RiskLevel,
    reasons: tuple[FeatureDef, ...],
    positions: Mapping[str, int],
) -> _FitColumns:
    """The fits the actions a level and reasons can give need, with their features' positions
    (a feature the model lacks is missing on every record: left out, as `_present_fit_values`
    leaves it out)."""
    return tuple(
        (positions[fit.feature], fit)
        for fit in spec.candidate_fits(level, reasons)
        if fit.feature in positions
    )


def _present_fit_values(
    fitted: _FitColumns, values: Sequence[Sequence[Any]] | Sequence[np.ndarray], row: int
) -> dict[str, Any]:
    """A row's present values of the features `fitted` names, by name (`TaskSpec.actions_for`)."""
    return {
        fit.feature: values[index][row]
        for index, fit in fitted
        if not _is_missing(values[index][row])
    }


def score_frame(
    model: RiskModel,
    frame: pd.DataFrame,
    explain: bool = True,
    top_k: int = 5,
    lang: Lang = "en",
) -> list[ScoredRecord]:
    """One `ScoredRecord` per row of `frame`, in order, with top-k reasons and actions.

    Reasons are the `top_k` features by |contribution| (ties kept in catalog order). Actions
    come from the spec: the level's actions, then those of the actionable features that raise
    risk among the `ACTION_REASONS` largest contributions (whatever `top_k` is) and hold a
    value (a missing one triggers none), each given only when it fits the record's values.
    """
    if lang not in _SUFFIX:
        raise ValueError(f"unknown language {lang!r}; expected 'en' or 'zh'")
    columns = feature_columns(model.spec, frame)
    arrays = score_arrays(model, frame, explain=explain, columns=columns)
    return scored_records(model, arrays, columns, explain=explain, top_k=top_k, lang=lang)


def scored_records(
    model: RiskModel,
    arrays: ScoredArrays,
    values: Sequence[Sequence[Any]] | Sequence[np.ndarray],
    explain: bool = True,
    top_k: int = 5,
    lang: Lang = "en",
) -> list[ScoredRecord]:
    """`ScoredRecord`s from scored arrays; `values[i][row]` is feature i's raw value of a row.

    The top-k ordering is one vectorised stable argsort for the whole batch.
    """
    if lang not in _SUFFIX:
        raise ValueError(f"unknown language {lang!r}; expected 'en' or 'zh'")
    spec = model.spec
    features = spec.features
    names = spec.feature_names
    positions = {name: index for index, name in enumerate(names)}
    n_rows = len(arrays.scores)
    levels: list[RiskLevel] = arrays.levels.tolist()
    scores = arrays.scores.tolist()
    margins = arrays.raw_margin.tolist()
    explained = explain and arrays.contributions is not None and n_rows > 0
    if explained:
        contrib = arrays.contributions
        assert contrib is not None
        ranked = max(top_k, ACTION_REASONS, 0)
        orders = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :ranked].tolist()
        contrib_rows = contrib.tolist()
    records: list[ScoredRecord] = []
    for row in range(n_rows):
        level = levels[row]
        reasons: list[Reason] = []
        contributions: dict[str, float] = {}
        raising: list[int] = []
        if explained:
            row_contrib = contrib_rows[row]
            contributions = dict(zip(names, row_contrib, strict=True))
            raising = [
                index
                for index in orders[row][:ACTION_REASONS]
                if contribution_direction(row_contrib[index]) == "raises"
                and not _is_missing(values[index][row])
            ]
            for index in orders[row][: max(top_k, 0)]:
                feature = features[index]
                contribution = row_contrib[index]
                direction = contribution_direction(contribution)
                value = _native_value(feature, values[index][row])
                reasons.append(
                    Reason(
                        feature=feature.name,
                        label=feature.label_zh if lang == "zh" else feature.label_en,
                        value=value,
                        contribution=contribution,
                        direction=direction,
                        actionable=feature.actionable,
                        sentence=reason_sentence(feature, value, direction, lang),
                    )
                )
        raising_features = tuple(features[index] for index in raising)
        fitted = _fit_columns(spec, level, raising_features, positions)
        actions = [
            RecommendedAction(
                department=action.department(lang), action=action.text(lang), trigger=trigger
            )
            for trigger, action in spec.actions_for(
                level, raising_features, _present_fit_values(fitted, values, row)
            )
        ]
        records.append(
            ScoredRecord(
                entity_id=str(arrays.entity_ids[row]),
                score=scores[row],
                risk_level=level,
                raw_margin=margins[row],
                base_value=arrays.base_value,
                contributions=contributions,
                reasons=reasons,
                actions=actions,
            )
        )
    return records


def with_warning_reasons(
    model: RiskModel,
    arrays: ScoredArrays,
    matrix: np.ndarray | None,
    values: Sequence[Sequence[Any]] | Sequence[np.ndarray],
    scored: list[dict[str, Any]],
    *,
    explain: bool,
    top_k: int,
    lang: Lang = "en",
) -> list[dict[str, Any]]:
    """`scored` (`scored_dicts`' rows) as a warning keeps them: a row at a warning level
    carries its `ACTION_REASONS` reasons and their actions whatever the caller asked to see
    (no reasons without `explain`, or another `top_k`); other rows are the same dicts.

    A warning raised by a probabilities-only batch had no reasons, and the reasons a case
    worker read depended on the first caller's `top_k`. Rows the request did not explain are
    explained here, the warned ones only, from `matrix` (`arrays`' float matrix: needed only
    when `arrays` holds no contributions).
    """
    warned = [row for row, level in enumerate(arrays.levels.tolist()) if level in WARNING_LEVELS]
    if not warned or (explain and top_k == ACTION_REASONS and arrays.contributions is not None):
        return scored
    rows = np.asarray(warned)
    if explain and arrays.contributions is not None:
        subset = dataclasses.replace(
            arrays,
            entity_ids=arrays.entity_ids[rows],
            scores=arrays.scores[rows],
            levels=arrays.levels[rows],
            raw_margin=arrays.raw_margin[rows],
            contributions=arrays.contributions[rows],
            reused_explanations=0,
        )
    else:
        if matrix is None:
            raise ValueError("explaining the warned rows needs their feature matrix")
        subset = score_matrix(model, matrix[rows], arrays.entity_ids[rows], explain=True)
    own = scored_dicts(
        model,
        subset,
        [[column[row] for row in warned] for column in values],
        explain=True,
        top_k=ACTION_REASONS,
        lang=lang,
    )
    kept = list(scored)
    for row, canonical in zip(warned, own, strict=True):
        kept[row] = {
            **scored[row],
            "reasons": canonical["reasons"],
            "actions": canonical["actions"],
        }
    return kept


def _reason_dict(
    feature: FeatureDef,
    label: str,
    index: int,
    contribution: float,
    raw_value: Any,
    lang: Lang,
    sentences: dict[tuple[Any, ...], str],
) -> dict[str, Any]:
    """One `Reason` as a dict; `sentences` remembers the batch's sentences by feature, value
    and direction (a float's key also holds its sign: -0.0 == 0.0, yet they can read
    differently)."""
    direction = contribution_direction(contribution)
    value = _native_value(feature, raw_value)
    key: tuple[Any, ...] = (
        (index, value, direction, math.copysign(1.0, value))
        if type(value) is float
        else (index, value, direction)
    )
    sentence = sentences.get(key)
    if sentence is None:
        sentence = sentences[key] = reason_sentence(feature, value, direction, lang)
    return {
        "feature": feature.name,
        "label": label,
        "value": value,
        "contribution": contribution,
        "direction": direction,
        "actionable": feature.actionable,
        "sentence": sentence,
    }


def scored_dicts(
    model: RiskModel,
    arrays: ScoredArrays,
    values: Sequence[Sequence[Any]] | Sequence[np.ndarray],
    explain: bool = True,
    top_k: int = 5,
    lang: Lang = "en",
) -> list[dict[str, Any]]:
    """`scored_records` as plain dicts: the same fields, reasons and actions as dicts.

    The service's shape (what it answers and stores), made without the dataclasses and
    without wording one sentence twice. Within a batch, these are made once: a feature's
    sentence for a given value (sign included) and direction, and the actions of a given
    level, set of risk-raising actionable features and fit of the record's values to the
    actions they can give (`TaskSpec.candidate_fits`, read for those features only). The
    values are those of `scored_records` (a property test holds the two together).
    """
    if lang not in _SUFFIX:
        raise ValueError(f"unknown language {lang!r}; expected 'en' or 'zh'")
    spec = model.spec
    features = spec.features
    names = spec.feature_names
    labels = [f.label_zh if lang == "zh" else f.label_en for f in features]
    n_rows = len(arrays.scores)
    levels: list[RiskLevel] = arrays.levels.tolist()
    scores = arrays.scores.tolist()
    margins = arrays.raw_margin.tolist()
    entity_ids = arrays.entity_ids.tolist()
    base_value = arrays.base_value
    explained = explain and arrays.contributions is not None and n_rows > 0
    orders: list[list[int]] = []
    contrib_rows: list[list[float]] = []
    if explained:
        contrib = arrays.contributions
        assert contrib is not None
        ranked = max(top_k, ACTION_REASONS, 0)
        orders = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :ranked].tolist()
        contrib_rows = contrib.tolist()
    shown = max(top_k, 0)
    sentences: dict[tuple[Any, ...], str] = {}
    positions = {name: index for index, name in enumerate(names)}
    # the only part of a record's values its actions read: which fits of the actions its level
    # and reasons can give pass (a missing value passes an `unless` fit only)
    fit_lists: dict[tuple[RiskLevel, tuple[int, ...]], _FitColumns] = {}
    action_lists: dict[
        tuple[tuple[RiskLevel, tuple[int, ...]], tuple[bool, ...]], list[dict[str, str]]
    ] = {}
    records: list[dict[str, Any]] = []
    for row in range(n_rows):
        level = levels[row]
        reasons: list[dict[str, Any]] = []
        contributions: dict[str, float] = {}
        raising: list[int] = []
        if explained:
            row_contrib = contrib_rows[row]
            contributions = dict(zip(names, row_contrib, strict=True))
            raising = [
                index
                for index in orders[row][:ACTION_REASONS]
                if features[index].actionable
                and contribution_direction(row_contrib[index]) == "raises"
                and not _is_missing(values[index][row])
            ]
            for index in orders[row][:shown]:
                reasons.append(
                    _reason_dict(
                        features[index],
                        labels[index],
                        index,
                        row_contrib[index],
                        values[index][row],
                        lang,
                        sentences,
                    )
                )
        candidates = (level, tuple(raising))
        fitted = fit_lists.get(candidates)
        if fitted is None:
            reasons_of = tuple(features[i] for i in raising)
            fitted = fit_lists[candidates] = _fit_columns(spec, level, reasons_of, positions)
        passed = (
            tuple(
                [
                    fit.admits(value)
                    if not _is_missing(value := values[i][row])
                    else fit.admits_missing
                    for i, fit in fitted
                ]
            )
            if fitted
            else ()
        )
        action_key = (candidates, passed)
        actions = action_lists.get(action_key)
        if actions is None:
            actions = action_lists[action_key] = [
                {"department": a.department(lang), "action": a.text(lang), "trigger": trigger}
                for trigger, a in spec.actions_for(
                    level,
                    tuple(features[i] for i in raising),
                    _present_fit_values(fitted, values, row),
                )
            ]
        records.append(
            {
                "entity_id": str(entity_ids[row]),
                "score": scores[row],
                "risk_level": level,
                "raw_margin": margins[row],
                "base_value": base_value,
                "contributions": contributions,
                "reasons": reasons,
                "actions": [dict(action) for action in actions],
            }
        )
    return records
