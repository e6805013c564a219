"""Train one task end to end: dataset -> time split -> (tune) -> fit -> evaluate -> MLflow.

`fit_model` is the pure part (no tracking), used by tests and benchmarks; `train_task` adds
tuning, evaluation on the test slice, the MLflow run and registration.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.risk_model import RiskModel, planned_shares
from models.spec import LightGBMParams, SearchSpace, TaskSpec
from training.datasets import FeedbackUse, Splits, TrainingData, split_dataset
from training.errors import UserError
from training.leakage import (
    LEAKAGE_FINDING_TAG,
    LEAKAGE_OVERRIDE_TAG,
    auc_interval,
    refuse_leakage,
    screen_features,
    screen_model,
    slice_counts,
)
from training.reference import log_reference, reference_sample

if TYPE_CHECKING:
    from training.tracking import RegisteredVersion
    from training.tune import TuneResult


def _feedback_tags(feedback: dict[str, object] | None, use: FeedbackUse) -> dict[str, str]:
    """The run's feedback tags: `riskloop.feedback_used` and `_labels` say what the model was
    fit or calibrated on (`FeedbackUse.reached`), not what the dataset held; a dataset built
    with feedback also records its closed warnings, its feedback labels and where they went."""
    tags = {
        "riskloop.feedback_used": str(use.reached > 0).lower(),
        "riskloop.feedback_labels": str(use.reached),
    }
    if not feedback or not feedback.get("used"):
        return tags
    if use.reached:
        tags |= {
            "riskloop.feedback_changed": str(use.changed),
            "riskloop.feedback_added": str(use.added),
        }
    for key, tag in (("closed_warnings", "closed_warnings"), ("labels", "dataset_labels")):
        if key in feedback:
            tags[f"riskloop.feedback_{tag}"] = str(feedback[key])
    tags["riskloop.feedback_in_test"] = str(use.in_test)
    tags["riskloop.feedback_left_out"] = str(use.left_out)
    return tags


#: A training slice whose rarer label class has fewer rows than this gets the small-slice trees
#: of `recipe_params`.
SMALL_SLICE_MINORITY_ROWS = 500
#: The small-slice trees' largest leaf count and depth.
SMALL_SLICE_LEAVES = 7
SMALL_SLICE_DEPTH = 3


def recipe_params(params: LightGBMParams, train: pd.DataFrame) -> LightGBMParams:
    """The default parameters fitted to the training slice's size: on a slice with fewer than
    `SMALL_SLICE_MINORITY_ROWS` rows of its rarer class, smaller trees (at most
    `SMALL_SLICE_LEAVES` leaves, depth `SMALL_SLICE_DEPTH`) with random split thresholds
    (LightGBM's `extra_trees`); on a larger slice, `params` unchanged.

    On a few hundred positives the greedy search for the best threshold favours many-valued
    columns: among hundreds of candidate cuts of insured headcount or registered capital one
    fits the noise better than the one cut of a rare count (three months of social-insurance
    arrears) fits the signal, and early stopping ends training (about 40 rounds) before the
    rare signal gets a split. On a small realistic city (seed 61, rate x1.6, 209 training
    positives) the wage champion split 92 times on insured headcount, gave
    si_arrears_months_3m a mean |SHAP| of 0.0006, and its 50 highest scores held 10% events;
    with random thresholds a column's number of values no longer buys it splits, and small
    trees do not carve the slice thin: mean |SHAP| 0.025, top 50 32%, PR-AUC 0.115 -> 0.196,
    ROC-AUC 0.816 -> 0.857 (13 small cities of both profiles: README, "Model quality on the
    simulated city"). On the default city the greedy search won on wage and fraud (ROC-AUC
    0.003 higher, on 3,710 and 2,835 training positives), and on subsamples of it the small
    trees stopped paying between about 400 and 900 positives: a slice with 500 or more keeps
    `params`, so the default city's models are unchanged.
    """
    if not _small_slice(train):
        return params
    return dataclasses.replace(
        params,
        extra_trees=True,
        num_leaves=min(params.num_leaves, SMALL_SLICE_LEAVES),
        max_depth=min(params.max_depth, SMALL_SLICE_DEPTH),
    )


def recipe_space(space: SearchSpace, recipe: LightGBMParams, train: pd.DataFrame) -> SearchSpace:
    """The search space for the training slice: on a small slice (`recipe_params`) trees no
    larger than `recipe`'s (the recipe's own: at most `SMALL_SLICE_LEAVES` leaves and depth
    `SMALL_SLICE_DEPTH`), on a larger one `space` unchanged.

    Tuning on a small city drew 13 to 29 leaves at depth 4 and gave a worse champion than the
    recipe, on validation too: the trees the small-slice recipe keeps small grew back.
    """
    if not _small_slice(train):
        return space
    return space.capped(num_leaves=recipe.num_leaves, max_depth=recipe.max_depth)


def _small_slice(train: pd.DataFrame) -> bool:
    """Whether the slice's rarer label class has fewer than `SMALL_SLICE_MINORITY_ROWS` rows."""
    label = train["label"].to_numpy()
    return int(min(label.sum(), len(label) - label.sum())) < SMALL_SLICE_MINORITY_ROWS


#: A test slice with fewer positives than this gives headline metrics too uncertain to state
#: bare: `riskloop train`, `promote`, `models` and the report say how many positives they rest
#: on and the ROC-AUC's 95% interval (`few_positives_caveat`). Below it the interval's
#: half-width passes 0.05-0.1 at the AUCs the simulated cities give (at 0.9: 0.07 on 30
#: positives, 0.17 on 6, the wage test slice of small city seed 31 at rate x0.1), wider than
#: any difference the promotion rule weighs.
FEW_TEST_POSITIVES = 30


def few_positives_caveat(metrics: Mapping[str, float]) -> str:
    """What a reader of the test metrics must know when the slice holds fewer than
    `FEW_TEST_POSITIVES` positives: how many, and the ROC-AUC's 95% interval (Hanley &
    McNeil, `training.leakage.auc_interval`); "" with enough positives or without counts."""
    counts = slice_counts(metrics)
    if counts is None or counts[0] >= FEW_TEST_POSITIVES:
        return ""
    positives, negatives = counts
    low, high = auc_interval(metrics.get("roc_auc", float("nan")), positives, negatives)
    auc = (
        f"its ROC-AUC {metrics['roc_auc']:.3f} has a 95% interval of {low:.3f}-{high:.3f} "
        "(Hanley & McNeil)"
        if positives and negatives
        else "no ROC-AUC can be measured on it"
    )
    return (
        f"the test slice holds only {positives} positives (of {positives + negatives:,} rows, "
        f"fewer than {FEW_TEST_POSITIVES}): {auc}; PR-AUC, ECE and lift are as uncertain, so "
        "read the headline metrics as rough"
    )


#: A level whose share of the validation slice (where its cut is set) is off its planned share
#: by this factor or more, either way, is said in a note (`level_shares_note`).
LEVEL_SHARE_FACTOR = 1.5
_LEVEL_SHARE_WORDS = {"red": "red", "orange": "orange and above", "yellow": "yellow and above"}


def level_shares_note(model: RiskModel, valid: pd.DataFrame) -> str:
    """What a reader must know when tied scores kept the levels from their planned shares on
    the validation slice (`Thresholds.from_capacity` cannot split a block of equal scores):
    each level's share against its plan, and how many distinct scores there were; "" when
    every level is within `LEVEL_SHARE_FACTOR` of its plan."""
    scores = model.predict_proba(valid)
    planned = planned_shares(model.spec)
    held = model.thresholds_.shares(scores)
    if all(
        1 / LEVEL_SHARE_FACTOR < held[level] / planned[level] < LEVEL_SHARE_FACTOR
        for level in planned
        if planned[level] > 0
    ):
        return ""
    figures = ", ".join(
        f"{_LEVEL_SHARE_WORDS[level]} {held[level]:.1%} (planned {planned[level]:.0%})"
        for level in planned
    )
    return (
        f"the warning levels cannot hold their planned shares: on the validation slice {figures}; "
        f"its {len(np.unique(scores))} distinct scores tie in blocks no cut can split (a model "
        "of few trees, or a step-wise calibrator on little data): more rounds or more data "
        "give finer scores"
    )


def fit_model(spec: TaskSpec, splits: Splits, params: LightGBMParams) -> RiskModel:
    """Fit booster, calibrator and thresholds (no tracking): the reproducible core.

    Tuning's trials fit with it too (`training.tune.tune`), so a trial's validation ROC-AUC
    is the one the model `train_task` fits with its parameters gets.
    """
    calibration = splits.calibration_slice
    return RiskModel(spec, params).fit(
        splits.train,
        splits.train["label"].to_numpy(),
        splits.valid,
        splits.valid["label"].to_numpy(),
        calibration,
        calibration["label"].to_numpy(),
    )


def validation_auc(model: RiskModel, valid: pd.DataFrame) -> float:
    """The booster's ROC-AUC on the validation slice: what a tuning trial scores.

    Taken on the raw margin, not the calibrated score: a step-wise calibrator ties rows the
    booster ranks apart, and the trials compare boosters.
    """
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(valid["label"].to_numpy(), model.raw_margin(valid)))


@dataclass(frozen=True)
class TrainOutcome:
    """What one `riskloop train` produced."""

    run_id: str
    name: str
    version: int
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    model: RiskModel
    train_seconds: float
    tune_seconds: float
    #: what the leakage guard found and `allow_leakage` let through ("" when nothing)
    leakage: str = ""
    #: where the dataset's feedback labels went (all zero without feedback)
    feedback: FeedbackUse = field(default_factory=FeedbackUse)
    #: what a reader of the outcome should know, one line each: figures at a leakage limit the
    #: guard did not refuse on few positives, and a test slice with few positives
    notes: tuple[str, ...] = ()


def _as_of_range(part: pd.DataFrame) -> str:
    return f"{part['as_of'].min():%Y-%m-%d}..{part['as_of'].max():%Y-%m-%d}"


def _params(
    spec: TaskSpec,
    splits: Splits,
    seed: int,
    max_rounds: int | None,
    trials: int,
    study_name: str | None,
    on_trial: Callable[[int], None] | None,
    step: Callable[[str], None],
) -> tuple[LightGBMParams, TuneResult | None, float]:
    """The spec's parameters with the run's seed and round cap (`recipe_params` for the slice
    when they are the task's defaults), tuned when `trials` > 0.

    Returns the parameters, the tuning result (None untuned) and the seconds tuning took.
    """
    from models.spec import get_spec
    from training.tune import StudyMismatchError, tune

    params = dataclasses.replace(spec.params, seed=seed)
    if spec.params == get_spec(spec.task).params:
        # the spec's defaults, fitted to the slice's size: tuning runs them as its first trial
        # and keeps a small slice's tree caps (`recipe_space`); parameters chosen for this run
        # (a tuned study's best) are used as they are
        params = recipe_params(params, splits.train)
    if max_rounds is not None:
        params = dataclasses.replace(params, num_boost_round=max_rounds)
    started = time.perf_counter()
    if trials <= 0:
        return params, None, time.perf_counter() - started
    step(f"tuning: {trials} Optuna trials")
    try:
        tuning = tune(
            spec,
            splits.train,
            splits.valid,
            trials,
            params,
            study_name=study_name or f"riskloop-{spec.task}-{time.strftime('%Y%m%dT%H%M%S')}",
            on_trial=on_trial,
        )
    except StudyMismatchError as exc:
        raise UserError(str(exc)) from None
    return tuning.params, tuning, time.perf_counter() - started


@dataclass(frozen=True)
class _Fitted:
    """A fitted and evaluated model with what its training run logs beside it."""

    model: RiskModel
    params: LightGBMParams
    tuning: TuneResult | None
    trials: int
    seed: int
    importance: dict[str, float]
    train_seconds: float
    tune_seconds: float
    leakage: str = ""
    feedback: FeedbackUse = field(default_factory=FeedbackUse)


def _run_tags(
    spec: TaskSpec, data: TrainingData, fitted: _Fitted, commit: str | None
) -> dict[str, str]:
    return {
        "riskloop.kind": "training",
        "riskloop.task": spec.task,
        "riskloop.dataset_source": data.source,
        "riskloop.truth_source": data.truth_source or "",
        **_feedback_tags(data.feedback, fitted.feedback),
        "riskloop.optuna_study": fitted.tuning.study_name if fitted.tuning else "",
        **(
            {LEAKAGE_OVERRIDE_TAG: "true", LEAKAGE_FINDING_TAG: fitted.leakage[:4000]}
            if fitted.leakage
            else {}
        ),
        **({"mlflow.source.git.commit": commit} if commit else {}),
    }


def _run_params(
    spec: TaskSpec, data: TrainingData, splits: Splits, fitted: _Fitted
) -> dict[str, Any]:
    from training.evaluate import ECE_BINS

    return {
        **dataclasses.asdict(fitted.params),
        "task": spec.task,
        "catalog_version": spec.catalog_version,
        "calibration": spec.calibration,
        "trials": fitted.trials,
        "ece_bins": f"{ECE_BINS} equal-frequency",
        "best_iteration": fitted.model.best_iteration_,
        "dataset_fingerprint": data.fingerprint,
        "train_as_of": _as_of_range(splits.train),
        "valid_as_of": _as_of_range(splits.valid),
        "test_as_of": _as_of_range(splits.test),
        "n_train": len(splits.train),
        # the report's model card shows it whatever data a report is rebuilt from
        "train_positive_rate": (
            round(float(splits.train["label"].mean()), 6) if len(splits.train) else None
        ),
        "n_valid": len(splits.valid),
        "n_calibration": len(splits.calibration_slice),
        "n_test": len(splits.test),
        "n_feedback_fit": fitted.feedback.fit,
        "n_feedback_calibration": fitted.feedback.calibration,
        "n_feedback_in_test": fitted.feedback.in_test,
        "n_feedback_left_out": fitted.feedback.left_out,
    }


def _run_metrics(fitted: _Fitted) -> dict[str, float]:
    tuning = fitted.tuning
    return {
        **fitted.model.metrics_,
        "train_seconds": fitted.train_seconds,
        "tune_seconds": fitted.tune_seconds,
        **(
            {"tune_best_valid_auc": tuning.best_valid_auc, "tune_pruned": tuning.n_pruned}
            if tuning
            else {}
        ),
    }


def _reference_rows(frame: pd.DataFrame, splits: Splits) -> pd.DataFrame:
    """The dataset's rows the monitoring reference samples: all but the units feedback added
    that no slice holds (warned units the model never saw, often this month's: they would
    stand in the reference's newest months as if they were the population)."""
    if splits.unplaced is None or not splits.unplaced.any():
        return frame
    return frame[~splits.unplaced]


def _log_and_register(
    spec: TaskSpec, data: TrainingData, splits: Splits, fitted: _Fitted
) -> tuple[str, RegisteredVersion]:
    """One MLflow training run: tags, parameters, spec, thresholds, metrics, importance,
    reference sample and the registered pyfunc. Returns the run id and the new version."""
    import mlflow

    from training import tracking

    model = fitted.model
    tracking.configure_tracking()
    commit = tracking.git_commit()
    with mlflow.start_run(run_name=f"train-{spec.task}") as run:
        mlflow.set_tags(_run_tags(spec, data, fitted, commit))
        mlflow.log_params(_run_params(spec, data, splits, fitted))
        mlflow.log_dict(spec.to_dict(), "spec.json")
        mlflow.log_dict(
            {
                "thresholds": model.thresholds_.as_dict(),
                "calibrator": dataclasses.asdict(model.calibrator_),
            },
            "thresholds.json",
        )
        mlflow.log_metrics(_run_metrics(fitted))
        tracking.log_importance(fitted.importance)
        log_reference(reference_sample(model, _reference_rows(data.frame, splits), fitted.seed))
        registered = tracking.log_and_register(model, splits.test)
        mlflow.set_tag("riskloop.registered_version", str(registered.version))
    return run.info.run_id, registered


def train_task(
    spec: TaskSpec,
    data: TrainingData,
    trials: int = 0,
    seed: int = 7,
    max_rounds: int | None = None,
    study_name: str | None = None,
    on_step: Callable[[str], None] | None = None,
    on_trial: Callable[[int], None] | None = None,
    fit: Callable[[TaskSpec, Splits, LightGBMParams], RiskModel] = fit_model,
    allow_leakage: bool = False,
) -> TrainOutcome:
    """Tune (if `trials`), fit, evaluate on the test slice, log to MLflow and register.

    `fit` replaces `fit_model` for another engine (`training.engines.fit_dask`); everything
    around it (split, evaluation, logging, registration) stays the same.

    Raises `LeakageFound` (nothing registered) when a feature alone nearly determines the
    training slice's label (`screen_features`) or the model's test ROC-AUC reaches
    `LEAKY_MODEL_AUC` (`screen_model`; on few positives only when its interval's lower end does
    too, a figure spared being said in `TrainOutcome.notes`); with `allow_leakage` it trains
    and registers anyway, and tags the run (`LEAKAGE_OVERRIDE_TAG`, `LEAKAGE_FINDING_TAG`) so
    the promotion rule never takes it. A test slice of few positives is said there too
    (`few_positives_caveat`).

    A dataset whose feedback labels all miss the training and calibration rows (in the test
    slice, a purge gap or after it: `FeedbackUse`) gives the model the dataset without
    feedback gives: the run is that one (`TrainingData.without_feedback`), tagged
    `riskloop.feedback_used=false`, so `promote` and `report` rebuild the data it was trained
    on. The task's first version, champion at once, is a `model_promotion` audit row as a
    promotion is (`training.promote.audit_first_champion`).
    """
    from training import tracking
    from training.evaluate import evaluate_model, mean_abs_shap
    from training.promote import audit_first_champion

    step = on_step or (lambda _message: None)
    spec = spec.without(data.left_out)
    for note in data.notes():
        step(note)
    splits = split_dataset(spec, data.frame)
    feedback = splits.feedback
    if data.feedback and not feedback.reached:
        data = data.without_feedback()
        splits = split_dataset(spec, data.frame)
    step("checking the training slice for label leakage")
    screened = screen_features(spec, splits.train)
    findings = screened.findings
    refuse_leakage(spec, data.source, findings, allow_leakage)
    params, tuning, tune_seconds = _params(
        spec, splits, seed, max_rounds, trials, study_name, on_trial, step
    )
    step("fitting LightGBM with early stopping")
    fit_started = time.perf_counter()
    model = fit(spec, splits, params)
    train_seconds = time.perf_counter() - fit_started
    step("evaluating on the test slice")
    metrics = evaluate_model(model, splits.test, data.truth)
    model.metrics_ = tracking.finite_metrics(metrics)
    notes = [screened.note]
    if not findings:  # a leak no single feature shows, seen in the model's own figure
        screened = screen_model(metrics)
        findings = screened.findings
        refuse_leakage(spec, data.source, findings, allow_leakage)
        notes.append(screened.note)
    notes.append(few_positives_caveat(metrics))
    notes.append(level_shares_note(model, splits.valid))
    fitted = _Fitted(
        model=model,
        params=params,
        tuning=tuning,
        trials=trials,
        seed=seed,
        importance=mean_abs_shap(model, splits.test),
        train_seconds=train_seconds,
        tune_seconds=tune_seconds,
        leakage="; ".join(findings),
        feedback=feedback,
    )
    step("logging to MLflow and registering")
    run_id, registered = _log_and_register(spec, data, splits, fitted)
    if tracking.CHAMPION in registered.aliases:
        audit_first_champion(spec.task, registered.version, run_id)
    return TrainOutcome(
        run_id=run_id,
        name=registered.name,
        version=registered.version,
        aliases=registered.aliases,
        metrics=model.metrics_,
        model=model,
        train_seconds=train_seconds,
        tune_seconds=tune_seconds,
        leakage=fitted.leakage,
        feedback=feedback,
        notes=tuple(note for note in notes if note),
    )
