"""The labelled dataset a task trains on: read from a file or built from a raw city folder
(with feedback labels from closed warnings when asked), checked against the spec, and split in
time into training, validation (calibration) and test slices; where feedback labels fall among
them (`FeedbackUse`).

`training.train` fits, evaluates and registers a model on these slices.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.spec import TaskSpec
from training.errors import UserError

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

    secret = feedback_store_secret() if with_feedback else None  # before any work
    tables = load_raw_tables(raw_dir, spec.task)
    try:
        frame = build_dataset(spec.task, tables, with_progress=on_progress)
    except RawDataError as exc:
        raise UserError(str(exc)) from None
    feedback = None
    if secret is not None:
        frame, feedback = _apply_store_feedback(spec, frame, tables, secret)
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


def feedback_store_secret() -> str:
    """The pseudonym key to read the warnings store's feedback with, once the store is known
    to be usable: it exists (`require_store`), the deployment's secrets are there (never made
    here: `existing_pseudonym_secret`) and it opens under their key. A command that takes
    feedback calls this before any work: it used to build the whole dataset first (35 s and
    6.6 GB on the large city) and only then find the store unusable."""
    from models.settings import get_settings
    from serving.store import WarningStore
    from training.commands.people import existing_pseudonym_secret
    from training.errors import require_store

    store_url = get_settings().store_url
    require_store(store_url)
    secret = existing_pseudonym_secret()
    WarningStore(store_url, secret).close()  # another key, or a store that cannot be read
    return secret


def _apply_store_feedback(
    spec: TaskSpec, frame: pd.DataFrame, tables: dict[str, pd.DataFrame], secret: str
) -> tuple[pd.DataFrame, dict[str, object]]:
    from sqlalchemy.exc import SQLAlchemyError

    from models.settings import get_settings
    from training.feedback import apply_feedback

    try:
        merged, summary = apply_feedback(spec.task, frame, tables, get_settings().store_url, secret)
    except SQLAlchemyError as exc:
        raise UserError(
            f"cannot read the warnings store: {exc.__class__.__name__}: {exc}"
        ) from None
    return merged, summary.as_dict()


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
