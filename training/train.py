"""Train one task end to end: dataset -> time split -> (tune) -> fit -> evaluate -> MLflow.

`fit_model` is the pure part (no tracking), used by tests and benchmarks; `train_task` adds
tuning, evaluation on the test slice, the MLflow run and registration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.risk_model import RiskModel
from models.spec import LightGBMParams, TaskSpec
from training.errors import UserError
from training.leakage import (
    LEAKAGE_FINDING_TAG,
    LEAKAGE_OVERRIDE_TAG,
    leakage_findings,
    model_leakage_finding,
    refuse_leakage,
)
from training.reference import log_reference, reference_sample

if TYPE_CHECKING:
    from training.tracking import RegisteredVersion
    from training.tune import TuneResult

ID_COLUMNS = ("entity_id", "as_of", "label")
FEEDBACK_COLUMN = "audit_feedback_outcome"
#: A feedback dataset's own labels from the raw tables (`training.feedback.merge_feedback`):
#: the held-out truth of the test slice; missing for a unit feedback added.
RAW_LABEL_COLUMN = "label_before_feedback"


@dataclass(frozen=True)
class TrainingData:
    """A labelled dataset and where it came from (for the run's lineage)."""

    frame: pd.DataFrame
    source: str
    fingerprint: str
    truth: pd.DataFrame | None = None
    truth_source: str | None = None
    feedback: dict[str, object] | None = None
    left_out: dict[str, str] = dataclasses.field(default_factory=dict)

    def notes(self) -> list[str]:
        """One line per feature left out because the city's tables lack its optional column."""
        return [
            f"note: {self.source} has no {column} column; feature {name} left out of the "
            "dataset and the model"
            for name, column in self.left_out.items()
        ]

    def without_feedback(self) -> TrainingData:
        """The dataset as built without feedback: the raw tables' rows and labels, no feedback
        columns, its own fingerprint (the one `promote` and `report` get rebuilding it so).

        `feedback` keeps the record of what the warnings store offered."""
        frame = self.frame
        columns = [c for c in (FEEDBACK_COLUMN, RAW_LABEL_COLUMN) if c in frame.columns]
        if not columns:
            return self
        raw = frame[~_added_by_feedback(frame)]
        if RAW_LABEL_COLUMN in raw.columns:
            raw = raw.assign(label=raw[RAW_LABEL_COLUMN].astype(frame["label"].dtype))
        raw = raw.drop(columns=columns).reset_index(drop=True)
        return dataclasses.replace(self, frame=raw, fingerprint=dataset_fingerprint(raw))


@dataclass(frozen=True)
class FeedbackUse:
    """Where a dataset's feedback labels went in the time split (`split_dataset`).

    A feedback label is learnt from only in the training slice (`fit`) or among the validation
    and calibration rows (`calibration`: early stopping and the calibrator). In the test slice
    (`in_test`) the row keeps the raw tables' label; a row in a purge gap (`in_gap`) and a unit
    feedback added at a date in or after the test period (`after_test`) are neither learnt from
    nor tested. `changed` and `added` count the learnt-from labels that differ from the raw
    tables' (a unit feedback added has none): when both are 0 the model is the one the dataset
    without feedback gives.
    """

    fit: int = 0
    calibration: int = 0
    changed: int = 0
    added: int = 0
    in_test: int = 0
    in_gap: int = 0
    after_test: int = 0

    @property
    def reached(self) -> int:
        """Feedback labels the model was fit or calibrated on."""
        return self.fit + self.calibration

    @property
    def left_out(self) -> int:
        """Feedback rows neither learnt from nor tested (purge gaps, the test period or later)."""
        return self.in_gap + self.after_test


@dataclass(frozen=True)
class Splits:
    """Train / validation / test slices by as-of date, separated by the label horizon.

    `calibration` holds the rows the probability calibrator is fitted on (see
    `calibration_rows`); `None` means the validation slice alone. `feedback` says where the
    dataset's feedback labels went; `unplaced` marks (by position in the split dataset) the
    units feedback added that no slice holds.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    calibration: pd.DataFrame | None = None
    feedback: FeedbackUse = FeedbackUse()
    unplaced: np.ndarray | None = None

    @property
    def calibration_slice(self) -> pd.DataFrame:
        """The rows to fit the calibrator on."""
        return self.valid if self.calibration is None else self.calibration

    @property
    def feedback_left_out(self) -> int:
        """Feedback rows neither learnt from nor tested (`FeedbackUse.left_out`)."""
        return self.feedback.left_out


def dataset_fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of the dataset (values and column names), stable across file copies."""
    digest = hashlib.sha256()
    digest.update("|".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def check_dataset(spec: TaskSpec, frame: pd.DataFrame, source: str) -> None:
    """Refuse a dataset that does not fit the spec, naming the first problems.

    Feature columns are held to the catalog's rules as `riskloop score` and the API hold them
    (`features.frame_checks`: categories, ranges, whole counts, numbers as numbers, never as
    text): a model must not learn from values it would refuse to score. `entity_id` is not
    held to the API's id pattern here: training only groups rows by it.
    """
    from features.frame_checks import describe_breaches, rule_breaches

    missing = [c for c in (*ID_COLUMNS, *spec.feature_names) if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise UserError(
            f"{source} does not match the {spec.task} spec (catalog {spec.catalog_version}): "
            f"missing column(s) {shown}"
        )
    if frame.empty:
        raise UserError(f"{source} has no rows")
    labels = set(pd.unique(frame["label"]))
    if not labels <= {0, 1} or len(labels) < 2:
        found = ", ".join(sorted({str(label) for label in labels}))  # any types, plain text
        raise UserError(f"{source}: column 'label' must hold both 0 and 1, found {found}")
    breaches = [b for b in rule_breaches(spec.features, frame) if b.column != "entity_id"]
    if breaches:
        raise UserError(f"{source}: {describe_breaches(breaches, len(frame))}; nothing trained")


def _truth_file(spec: TaskSpec, truth_dir: Path) -> Path:
    return truth_dir / f"{spec.slug}_units.parquet"


def _read_truth(
    spec: TaskSpec, truth_dir: Path | None, *, required: bool = False
) -> tuple[pd.DataFrame | None, str | None]:
    """The truth's unit file, if any: a raw city may have none (a department export), while a
    folder the user names (`--truth`) must hold it."""
    if truth_dir is None:
        return None, None
    path = _truth_file(spec, truth_dir)
    if not path.is_file():
        if required:
            raise UserError(f"--truth {truth_dir} holds no {path.name}")
        return None, None
    try:
        truth = pd.read_parquet(path, columns=["entity_id", "as_of", "true_prob"])
        return truth, str(path.resolve())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read truth file {path}: {exc}") from None


def read_dataset(spec: TaskSpec, dataset: Path, truth_dir: Path | None = None) -> TrainingData:
    """A labelled dataset parquet (as `riskloop build-dataset` writes it), checked against the spec.

    Its sidecar names no truth folder, so oracle metrics need `truth_dir` (`--truth`). The
    source is recorded as an absolute path: `promote` and `report` find it from anywhere.
    """
    if not dataset.is_file():
        raise UserError(f"dataset file {dataset} does not exist")
    try:
        frame = pd.read_parquet(dataset)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read dataset {dataset}: {exc}") from exc
    from features.dataset import optional_features

    left_out = {
        name: f"{name} (dataset)"
        for name in sorted(optional_features(spec.task))
        if name not in frame.columns
    }
    check_dataset(spec.without(left_out), frame, str(dataset))
    truth, truth_source = _read_truth(spec, truth_dir, required=True)
    return TrainingData(
        frame,
        str(dataset.resolve()),
        dataset_fingerprint(frame),
        truth,
        truth_source,
        _dataset_feedback(dataset, frame),
        left_out,
    )


def _dataset_feedback(dataset: Path, frame: pd.DataFrame) -> dict[str, object] | None:
    """What feedback a dataset file holds: its sidecar's record, else its feedback column."""
    import json

    sidecar = dataset.with_suffix(".json")
    if sidecar.is_file():
        try:
            recorded = json.loads(sidecar.read_text()).get("feedback")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if isinstance(recorded, dict) and recorded.get("used"):
            return recorded
    if FEEDBACK_COLUMN in frame.columns:
        return {"used": True, "labels": int((frame[FEEDBACK_COLUMN].astype(str) != "").sum())}
    return None


def build_from_raw(
    spec: TaskSpec,
    raw_dir: Path,
    on_progress: Callable[[int, int], None] | None = None,
    with_feedback: bool = False,
) -> TrainingData:
    """Build the labelled dataset from a raw city folder; its truth files come along if present.

    `on_progress(done, total)` follows the feature build, unit by unit. `with_feedback` takes
    labels from the warnings store's closed warnings (`training.feedback.apply_feedback`).
    """
    from features.dataset import build_dataset, features_left_out
    from features.schemas import absent_optional_columns
    from features.validation import RawDataError
    from training.raw_io import load_raw_tables

    tables = load_raw_tables(raw_dir, spec.task)
    try:
        frame = build_dataset(spec.task, tables, with_progress=on_progress)
    except RawDataError as exc:
        raise UserError(str(exc)) from None
    feedback = None
    if with_feedback:
        frame, feedback = _apply_store_feedback(spec, frame, tables)
    left_out = features_left_out(spec.task, absent_optional_columns(tables, spec.slug))
    check_dataset(spec.without(left_out), frame, str(raw_dir))
    truth, truth_source = _read_truth(spec, raw_dir / "truth")
    return TrainingData(
        frame,
        str(raw_dir.resolve()),  # absolute: `promote` and `report` find it from anywhere
        dataset_fingerprint(frame),
        truth,
        truth_source,
        feedback,
        left_out,
    )


def _apply_store_feedback(
    spec: TaskSpec, frame: pd.DataFrame, tables: dict[str, pd.DataFrame]
) -> tuple[pd.DataFrame, dict[str, object]]:
    from sqlalchemy.exc import SQLAlchemyError

    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from training.feedback import apply_feedback

    settings = get_settings()
    try:
        merged, summary = apply_feedback(
            spec.task,
            frame,
            tables,
            settings.store_url,
            load_secrets(settings).pseudonym_secret,
        )
    except SQLAlchemyError as exc:
        raise UserError(
            f"cannot read the warnings store: {exc.__class__.__name__}: {exc}"
        ) from None
    return merged, summary.as_dict()


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


def calibration_rows(frame: pd.DataFrame, train: pd.DataFrame, valid: pd.DataFrame) -> pd.DataFrame:
    """The validation slice plus the purge-gap rows before it whose entity never trained.

    The time split drops the rows between training and validation so that no training label
    window overlaps the validation period. A dropped row whose entity has no training row
    (every dispute is its own entity) is as held out as a validation row, and its label is
    known before the test period starts, so the calibrator may learn from it. On the default
    city that doubles the dispute calibrator's rows (about 3,000 -> 5,900): fitted on the
    validation slice alone, its intercept's sampling noise moved the mean test score by about
    one percentage point. Panel tasks (an employer or resident every month) gain almost nothing
    and keep their large validation slices.
    """
    if valid.empty:
        return valid
    before_valid = frame["as_of"] < valid["as_of"].min()
    untrained = ~frame["entity_id"].isin(pd.unique(train["entity_id"]))
    gap = frame[np.asarray(before_valid & untrained)]
    return pd.concat([gap, valid]) if len(gap) else valid


def _added_by_feedback(frame: pd.DataFrame) -> np.ndarray:
    """Rows without a label of the raw tables: units closed warnings added. In a dataset file
    written before `RAW_LABEL_COLUMN` existed, every row with a feedback outcome."""
    if RAW_LABEL_COLUMN in frame.columns:
        return np.asarray(frame[RAW_LABEL_COLUMN].isna())
    if FEEDBACK_COLUMN in frame.columns:
        return np.asarray(frame[FEEDBACK_COLUMN].astype(str) != "")
    return np.zeros(len(frame), dtype=bool)


def _with_feedback_rows(
    spec: TaskSpec,
    added: pd.DataFrame,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test_start: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and validation slices with the units feedback added placed by the split's own
    rule; one in the test period or a purge gap is left out."""
    if valid.empty or added.empty:
        return train, valid
    valid_start = pd.Timestamp(valid["as_of"].min())
    label_end = pd.DatetimeIndex(added["as_of"]) + spec.horizon
    to_train = np.asarray(label_end <= valid_start)
    to_valid = np.asarray(
        (label_end <= test_start) & (pd.DatetimeIndex(added["as_of"]) >= valid_start)
    )
    return (
        pd.concat([train, added[to_train]]) if to_train.any() else train,
        pd.concat([valid, added[to_valid]]) if to_valid.any() else valid,
    )


def _feedback_use(
    frame: pd.DataFrame, added: np.ndarray, splits: Splits
) -> tuple[FeedbackUse, np.ndarray]:
    """Where `frame`'s feedback rows went in `splits` (its slices hold `frame`'s index), and
    which units feedback added no slice holds (by position)."""
    with_feedback = added | (
        np.asarray(frame[FEEDBACK_COLUMN].astype(str) != "")
        if FEEDBACK_COLUMN in frame.columns
        else np.zeros(len(frame), dtype=bool)
    )
    if not with_feedback.any():
        return FeedbackUse(), np.zeros(len(frame), dtype=bool)
    index = frame.index
    fit = np.asarray(index.isin(splits.train.index))
    calibration = np.asarray(index.isin(splits.calibration_slice.index))
    tested = np.asarray(index.isin(splits.test.index))
    learnt = with_feedback & (fit | calibration)
    differs = added.copy()
    if RAW_LABEL_COLUMN in frame.columns:
        relabelled = frame["label"].astype("Int8") != frame[RAW_LABEL_COLUMN].astype("Int8")
        differs |= np.asarray(relabelled.fillna(False), dtype=bool)
    nowhere = with_feedback & ~(fit | calibration | tested)
    after_test = np.asarray(frame["as_of"] >= splits.test["as_of"].min())
    use = FeedbackUse(
        fit=int((with_feedback & fit).sum()),
        calibration=int((with_feedback & calibration).sum()),
        changed=int((learnt & differs).sum()),
        added=int((learnt & added).sum()),
        in_test=int((with_feedback & tested).sum()),
        in_gap=int((nowhere & ~after_test).sum()),
        after_test=int((nowhere & after_test).sum()),
    )
    return use, added & ~(fit | calibration)


def split_dataset(spec: TaskSpec, frame: pd.DataFrame) -> Splits:
    """Time split with a gap equal to the label horizon (`features.dataset.time_split`).

    Feedback labels train and calibrate but are never test rows: the test slice is measured on
    the raw tables' labels (`RAW_LABEL_COLUMN`), so a version has one AUC whether training,
    `promote` or the report rebuild its data with feedback or without. The slices' dates come
    from the raw tables' rows alone; a unit feedback added (a warning case workers chose
    because the model warned it) joins the training or validation slice by the same rule, and
    is left out when it falls in the test period or a purge gap.
    """
    from features.dataset import time_split

    if not frame.index.is_unique:  # the slices are told apart by the rows' index
        frame = frame.reset_index(drop=True)
    added = _added_by_feedback(frame)
    train, valid, test = time_split(frame[~added], spec.horizon)
    if added.any() and not test.empty:
        train, valid = _with_feedback_rows(
            spec, frame[added], train, valid, pd.Timestamp(test["as_of"].min())
        )
    if RAW_LABEL_COLUMN in test.columns:
        test = test.assign(label=test[RAW_LABEL_COLUMN].astype("int8"))
    for name, part in (("train", train), ("validation", valid), ("test", test)):
        if part.empty:
            raise UserError(
                f"{spec.task}: the {name} slice has no rows; the dataset covers too short a period"
            )
        if part["label"].nunique() < 2:
            positives = int(part["label"].sum())
            raise UserError(
                f"{spec.task}: the {name} slice ({len(part):,} rows, {positives:,} positive) "
                "holds a single label class; the dataset has too few events "
                f"({int(frame['label'].sum()):,} positive of {len(frame):,} rows) or covers too "
                "short a period"
            )
    splits = Splits(
        train=train, valid=valid, test=test, calibration=calibration_rows(frame, train, valid)
    )
    use, unplaced = _feedback_use(frame, added, splits)
    return dataclasses.replace(splits, feedback=use, unplaced=unplaced)


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
    label = train["label"].to_numpy()
    minority = int(min(label.sum(), len(label) - label.sum()))
    if minority >= SMALL_SLICE_MINORITY_ROWS:
        return params
    return dataclasses.replace(
        params,
        extra_trees=True,
        num_leaves=min(params.num_leaves, SMALL_SLICE_LEAVES),
        max_depth=min(params.max_depth, SMALL_SLICE_DEPTH),
    )


def fit_model(spec: TaskSpec, splits: Splits, params: LightGBMParams) -> RiskModel:
    """Fit booster, calibrator and thresholds (no tracking): the reproducible core."""
    calibration = splits.calibration_slice
    return RiskModel(spec, params).fit(
        splits.train,
        splits.train["label"].to_numpy(),
        splits.valid,
        splits.valid["label"].to_numpy(),
        calibration,
        calibration["label"].to_numpy(),
    )


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
    feedback: FeedbackUse = FeedbackUse()


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
        # the spec's defaults, fitted to the slice's size (and tuning starts from them);
        # parameters chosen for this run (a tuned study's best) are used as they are
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
    feedback: FeedbackUse = FeedbackUse()


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
    training slice's label (`leakage_findings`) or the model's test ROC-AUC reaches
    `LEAKY_MODEL_AUC`; with `allow_leakage` it trains and registers anyway, and tags the run
    (`LEAKAGE_OVERRIDE_TAG`, `LEAKAGE_FINDING_TAG`) so the promotion rule never takes it.

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
    findings = leakage_findings(spec, splits.train)
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
    if not findings:  # a leak no single feature shows, seen in the model's own figure
        findings = [finding] if (finding := model_leakage_finding(metrics)) else []
        refuse_leakage(spec, data.source, findings, allow_leakage)
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
    )
