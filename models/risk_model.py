"""`RiskModel`: a LightGBM booster, its probability calibrator and its warning thresholds.

Saved as plain files a reviewer can read: the booster in LightGBM's native text format and a
JSON file with the calibrator's numbers, thresholds, spec name, catalog version and metrics.
No pickle, so a saved model never executes code when loaded.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.spec import RISK_LEVELS, CalibrationKind, LightGBMParams, RiskLevel, TaskSpec, get_spec

if TYPE_CHECKING:
    from models.explainer import TreeExplainer

# Scoring runs LightGBM on one thread: on 2 shared cores OpenMP's start-up made a one-row
# TreeSHAP call 3.2 ms instead of 0.11 ms, and 1,000-row batches were no faster on two.
PREDICT_THREADS = 1
SMALL_FRAME_ROWS = 64
BOOSTER_FILE = "booster.txt"
META_FILE = "risk_model.json"
#: the folder a saved risk model is logged under in an MLflow model's artifacts
RISK_MODEL_ARTIFACT = "risk_model"
FORMAT_VERSION = 1
_LEVEL_NAMES = np.array(RISK_LEVELS)  # `Thresholds.levels` indexes it: red first


class ModelLoadError(Exception):
    """A saved model directory is missing, incomplete, corrupt or does not fit the catalog."""


class FeatureMismatchError(ValueError):
    """A frame's columns do not provide the features the spec needs."""


def checked_meta(source: Path, spec: TaskSpec | None = None) -> tuple[dict[str, Any], TaskSpec]:
    """A saved model's metadata (`META_FILE` in `source`) checked without loading the booster:
    its format version, its task (`spec`'s, when given) and its features against the catalog;
    with the spec the model is to be loaded with.

    Raises:
        ModelLoadError: the file is missing or corrupt, the model is another task's, or its
            feature list differs from the catalog's.
    """
    try:
        meta = json.loads((source / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelLoadError(
                f"{source / META_FILE}: format version {meta.get('format_version')!r}, "
                f"expected {FORMAT_VERSION}"
            )
        saved_task = get_spec(meta["task"]).task
        spec = spec or get_spec(saved_task)
        if saved_task != spec.task:
            raise ModelLoadError(
                f"the model in {source} is a {saved_task} model, not a {spec.task} one"
            )
        features = [str(name) for name in meta["features"]]
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{source / META_FILE} is corrupt: {exc!r}") from exc
    spec = _spec_for_saved_features(spec, features)
    if list(spec.feature_names) != features:
        raise ModelLoadError(
            f"model in {source} was trained on catalog {meta.get('catalog_version')} features "
            f"that differ from the current catalog {spec.catalog_version} for {spec.task}"
        )
    return meta, spec


def _spec_for_saved_features(spec: TaskSpec, saved: list[str]) -> TaskSpec:
    """The spec a saved model was trained on: the catalog's, less optional features its city
    lacked (the saved list is then the catalog's in order, without them)."""
    from features.dataset import optional_features

    left_out = [name for name in spec.feature_names if name not in saved]
    if left_out and set(left_out) <= optional_features(spec.task):
        reduced = spec.without(left_out)
        if list(reduced.feature_names) == saved:
            return reduced
    return spec


def _check_columns(spec: TaskSpec, frame: pd.DataFrame) -> None:
    missing = [name for name in spec.feature_names if name not in frame.columns]
    if missing:
        raise FeatureMismatchError(
            f"{spec.task}: the input lacks {len(missing)} feature column(s) the model needs: "
            + ", ".join(missing)
        )


def _category_codes(values: np.ndarray, categories: tuple[str, ...]) -> np.ndarray:
    """Codes in the catalog's category order (what LightGBM saw in training), NaN if unknown."""
    lookup = {category: float(code) for code, category in enumerate(categories)}
    return np.fromiter(
        (lookup.get(value, np.nan) if isinstance(value, str) else np.nan for value in values),
        dtype="float64",
        count=len(values),
    )


def feature_columns(spec: TaskSpec, frame: pd.DataFrame) -> list[np.ndarray]:
    """Each feature's values as a numpy array, in model order.

    A few rows (an API request) go through one object copy of the frame: a pandas column
    lookup per feature cost about 1.5 ms for a one-row frame, the copy 0.45 ms.
    """
    _check_columns(spec, frame)
    if len(frame) <= SMALL_FRAME_ROWS:
        values = frame.to_numpy(dtype=object)
        return [
            values[:, position]
            for position in frame.columns.get_indexer(pd.Index(spec.feature_names))
        ]
    return [frame[name].to_numpy() for name in spec.feature_names]


def model_matrix(spec: TaskSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The spec's features, in model order, typed the way the booster is trained.

    Category features get exactly the catalog's categories (unknown values become missing),
    booleans and counts become floats, and missing optional features stay NaN.
    """
    _check_columns(spec, frame)
    columns: dict[str, pd.Series] = {}
    for feature in spec.features:
        column = frame[feature.name]
        if feature.dtype == "category":
            values = column.astype("object").where(column.notna(), None)
            columns[feature.name] = pd.Series(
                pd.Categorical(values, categories=list(feature.categories)), index=frame.index
            )
        else:
            columns[feature.name] = pd.to_numeric(column.astype("object"), errors="raise").astype(
                "float64"
            )
    return pd.DataFrame(columns, index=frame.index)


def _numeric(values: np.ndarray) -> np.ndarray:
    """Object values as floats (None -> NaN); pandas parses what numpy cannot (pd.NA, "3")."""
    try:
        return np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype="object"), errors="raise").to_numpy(
            dtype="float64", na_value=np.nan
        )


def feature_matrix(
    spec: TaskSpec, frame: pd.DataFrame, columns: list[np.ndarray] | None = None
) -> np.ndarray:
    """The same values as `model_matrix`, as a float array: the fast path for scoring.

    Category features become their index in the catalog's categories, which is how LightGBM
    encodes the pandas categories it was trained on, so both paths predict identically.
    `columns` (from `feature_columns`) saves looking the columns up twice.
    """
    columns = columns if columns is not None else feature_columns(spec, frame)
    matrix = np.empty((len(frame), len(spec.features)), dtype="float64")
    for index, (feature, values) in enumerate(zip(spec.features, columns, strict=True)):
        if feature.dtype == "category":
            matrix[:, index] = _category_codes(values, feature.categories)
        elif values.dtype.kind in "biuf":
            matrix[:, index] = values
        else:
            matrix[:, index] = _numeric(values)
    return matrix


@dataclass(frozen=True)
class Calibrator:
    """Maps the booster's raw margin (log-odds) to a calibrated probability.

    Platt: `sigmoid(slope * margin + intercept)`. Isotonic: linear interpolation through the
    knots `(x, y)` fitted by scikit-learn's `IsotonicRegression`, clipped at the ends.
    """

    kind: CalibrationKind
    slope: float = 1.0
    intercept: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    @classmethod
    def fit(cls, kind: CalibrationKind, margin: np.ndarray, label: np.ndarray) -> Calibrator:
        """Fit on a held-out slice (never the rows the booster learned from)."""
        margin = np.asarray(margin, dtype="float64")
        label = np.asarray(label, dtype="float64")
        if kind == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(margin, label)
            return cls(
                kind="isotonic",
                x=tuple(float(v) for v in iso.X_thresholds_),
                y=tuple(float(v) for v in iso.y_thresholds_),
            )
        from sklearn.linear_model import LogisticRegression

        platt = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000).fit(
            margin.reshape(-1, 1), label
        )
        return cls(
            kind="platt", slope=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0])
        )

    def transform(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw margins."""
        margin = np.asarray(margin, dtype="float64")
        if self.kind == "isotonic":
            return np.interp(margin, np.asarray(self.x), np.asarray(self.y))
        return 1.0 / (1.0 + np.exp(-(self.slope * margin + self.intercept)))


def planned_shares(spec: TaskSpec) -> dict[RiskLevel, float]:
    """The share of the scored population planned at or above each warning level: red, then
    orange and above, then yellow and above (the spec's `capacities` summed down the levels)."""
    own = {capacity.level: capacity.share for capacity in spec.capacities}
    cumulative = np.cumsum([own["red"], own["orange"], own["yellow"]])
    return {
        "red": float(cumulative[0]),
        "orange": float(cumulative[1]),
        "yellow": float(cumulative[2]),
    }


@dataclass(frozen=True)
class Thresholds:
    """The lowest calibrated score of each warning level, set from capacity on validation."""

    red: float
    orange: float
    yellow: float

    @classmethod
    def from_capacity(cls, spec: TaskSpec, scores: np.ndarray) -> Thresholds:
        """Cut points so that each level holds its share of a population scored like `scores`.

        Each cut is one of the scores: the one whose share of `scores` at or above it is
        nearest the planned share (`planned_shares`) as a ratio, the smaller share on a tie.
        Tied scores (a calibrator's steps, a model of few trees) cannot be split: a quantile
        cut falling inside a block of them let the whole block in, up to twice the planned
        share; nearest as a ratio never leaves a level empty for want of an exact fit.
        `Thresholds.shares` says what each cut holds.
        """
        ordered = np.sort(np.asarray(scores, dtype="float64"))
        if not len(ordered) or np.isnan(ordered[-1]):
            raise ValueError("thresholds need scores, none of them missing")
        candidates = np.unique(ordered)[::-1]  # highest first: the smaller share wins a tie
        held = (len(ordered) - np.searchsorted(ordered, candidates, side="left")) / len(ordered)
        cuts = []
        for planned in planned_shares(spec).values():
            if planned <= 0.0:  # a level planned empty: a cut above every score
                cuts.append(float(np.nextafter(ordered[-1], np.inf)))
                continue
            cuts.append(float(candidates[np.argmin(np.abs(np.log(held / planned)))]))
        return cls(red=cuts[0], orange=cuts[1], yellow=cuts[2])

    def shares(self, scores: np.ndarray) -> dict[RiskLevel, float]:
        """The share of `scores` at or above each warning level's cut (red, then orange and
        above, then yellow and above): what the levels hold of a population scored so."""
        values = np.asarray(scores, dtype="float64")
        return {
            level: float(np.mean(values >= cut)) if len(values) else float("nan")
            for level, cut in self.as_dict().items()
        }

    def levels(self, scores: np.ndarray) -> np.ndarray:
        """The risk level of each score (`red` >= red threshold, ..., else `green`)."""
        scores = np.asarray(scores, dtype="float64")
        # the first level whose threshold the score reaches (nested `where`, not `np.select`:
        # the same answer at a fraction of its fixed cost, which a one-record request pays)
        index = np.where(
            scores >= self.red,
            0,
            np.where(scores >= self.orange, 1, np.where(scores >= self.yellow, 2, 3)),
        )
        return _LEVEL_NAMES[index]

    def as_dict(self) -> dict[RiskLevel, float]:
        return {"red": self.red, "orange": self.orange, "yellow": self.yellow}


class RiskModel:
    """One task's fitted model: booster + calibrator + thresholds, for one spec.

    Args:
        spec: the task's spec (features, monotone constraints, capacities, calibration kind).
        params: LightGBM parameters; the spec's defaults when omitted.
    """

    def __init__(self, spec: TaskSpec, params: LightGBMParams | None = None) -> None:
        self.spec = spec
        self.params = params

    @property
    def params_(self) -> LightGBMParams:
        """The parameters in effect: `params`, or the spec's defaults when none were given."""
        return self.params or self.spec.params

    def fit(
        self,
        train: pd.DataFrame,
        train_label: np.ndarray,
        valid: pd.DataFrame,
        valid_label: np.ndarray,
        calibration: pd.DataFrame | None = None,
        calibration_label: np.ndarray | None = None,
    ) -> RiskModel:
        """Train with early stopping on `valid`, calibrate, and set thresholds on `valid`.

        The calibrator is fitted on `calibration` (default: `valid`): rows the booster never
        learned from. More of them than the validation slice cuts the calibrator's own noise,
        which on a few thousand rows is as large as the miscalibration it corrects.
        """
        import lightgbm as lgb

        params = self.params_
        lgb_params = params.to_lightgbm(self.spec.monotone_constraints)
        train_set = lgb.Dataset(
            model_matrix(self.spec, train),
            label=np.asarray(train_label, dtype="float64"),
            params={"feature_pre_filter": False},
            free_raw_data=False,
        )
        valid_set = train_set.create_valid(
            model_matrix(self.spec, valid), label=np.asarray(valid_label, dtype="float64")
        )
        self.booster_ = lgb.train(
            lgb_params,
            train_set,
            num_boost_round=params.num_boost_round,
            valid_sets=[valid_set],
            valid_names=["valid"],
            callbacks=[
                lgb.early_stopping(
                    params.early_stopping_rounds, first_metric_only=True, verbose=False
                ),
            ],
        )
        self.best_iteration_ = int(
            self.booster_.best_iteration or self.booster_.current_iteration()
        )
        if self.best_iteration_ < self.booster_.current_iteration():
            self.booster_ = lgb.Booster(
                model_str=self.booster_.model_to_string(num_iteration=self.best_iteration_)
            )
        valid_margin = self.raw_margin(valid)
        if calibration is None:
            self.calibrator_ = Calibrator.fit(self.spec.calibration, valid_margin, valid_label)
        else:
            if calibration_label is None:
                raise ValueError("calibration rows need their calibration_label")
            self.calibrator_ = Calibrator.fit(
                self.spec.calibration, self.raw_margin(calibration), calibration_label
            )
        self.thresholds_ = Thresholds.from_capacity(
            self.spec, self.calibrator_.transform(valid_margin)
        )
        self.metrics_: dict[str, float] = {}
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise RuntimeError("this RiskModel is not fitted yet: call fit() or RiskModel.load()")

    @property
    def explainer_(self) -> TreeExplainer:
        """The booster's precomputed TreeSHAP tables (`models.explainer`), built once per booster.

        `load` builds them, so a service pays the cost at start-up, not on its first request;
        a booster replaced after that (a new `fit`) gets new tables on next use.
        """
        self._check_fitted()
        explainer: TreeExplainer | None = self.__dict__.get("_explainer")
        if explainer is None or explainer.booster is not self.booster_:
            from models.explainer import TreeExplainer

            explainer = TreeExplainer.from_booster(self.booster_)
            self._explainer = explainer
        return explainer

    def raw_margin(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's log-odds for each row."""
        self._check_fitted()
        return np.asarray(
            self.booster_.predict(
                feature_matrix(self.spec, frame), raw_score=True, num_threads=PREDICT_THREADS
            ),
            dtype="float64",
        )

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the label for each row."""
        return self.calibrator_.transform(self.raw_margin(frame))

    def model_text(self) -> str:
        """The booster in LightGBM's text format (bit-identical for the same seed and data)."""
        self._check_fitted()
        return str(self.booster_.model_to_string())

    def metadata(self) -> dict[str, Any]:
        """Everything but the booster, as saved in `risk_model.json`."""
        self._check_fitted()
        return {
            "format_version": FORMAT_VERSION,
            "task": self.spec.task,
            "catalog_version": self.spec.catalog_version,
            "features": list(self.spec.feature_names),
            "params": dataclasses.asdict(self.params_),
            "best_iteration": self.best_iteration_,
            "calibrator": dataclasses.asdict(self.calibrator_),
            "thresholds": self.thresholds_.as_dict(),
            "capacities": {c.level: c.share for c in self.spec.capacities},
            "metrics": dict(self.metrics_),
        }

    def save(self, directory: str | Path) -> Path:
        """Write `booster.txt` and `risk_model.json` into `directory` (created if needed)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / BOOSTER_FILE).write_text(self.model_text(), encoding="utf-8")
        (out / META_FILE).write_text(
            json.dumps(self.metadata(), indent=2, sort_keys=True), encoding="utf-8"
        )
        return out

    @classmethod
    def load(cls, directory: str | Path, spec: TaskSpec | None = None) -> RiskModel:
        """Read a `save`d directory; the spec comes from the current catalog unless given.

        Raises:
            ModelLoadError: a file is missing or corrupt, the model is another task's, or the
                saved feature list differs from the spec's (the catalog changed under the model).
        """
        import lightgbm as lgb

        source = Path(directory)
        for name in (BOOSTER_FILE, META_FILE):
            if not (source / name).is_file():
                raise ModelLoadError(f"model directory {source} has no {name}")
        meta, spec = checked_meta(source, spec)
        try:
            calibrator = Calibrator(
                kind=meta["calibrator"]["kind"],
                slope=float(meta["calibrator"]["slope"]),
                intercept=float(meta["calibrator"]["intercept"]),
                x=tuple(float(v) for v in meta["calibrator"]["x"]),
                y=tuple(float(v) for v in meta["calibrator"]["y"]),
            )
            thresholds = Thresholds(**{k: float(v) for k, v in meta["thresholds"].items()})
            params = LightGBMParams(**meta["params"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{source / META_FILE} is corrupt: {exc!r}") from exc
        try:
            booster = lgb.Booster(model_str=(source / BOOSTER_FILE).read_text(encoding="utf-8"))
        except (lgb.basic.LightGBMError, ValueError) as exc:
            raise ModelLoadError(f"{source / BOOSTER_FILE} is corrupt: {exc}") from exc
        if booster.feature_name() != list(spec.feature_names):
            raise ModelLoadError(f"{source / BOOSTER_FILE} does not match {META_FILE}'s features")
        model = cls(spec, params)
        model.booster_ = booster
        model.best_iteration_ = int(meta["best_iteration"])
        model.calibrator_ = calibrator
        model.thresholds_ = thresholds
        model.metrics_ = {k: float(v) for k, v in meta.get("metrics", {}).items()}
        model.explainer_  # noqa: B018 - precompute the explanation tables while loading
        return model
