"""The model report's model card: what the model is, where it came from and on what data, how
it warns, and which features come from protected or proxy attributes (with their stated
reason). Used by `training.report`, which builds the rest of each edition."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.tasks import get_task
from models import pages
from training.report_metrics import WARNING_LEVELS, Truth, protected_features
from training.report_words import Words

if TYPE_CHECKING:
    import pandas as pd

    from models.risk_model import RiskModel
    from training.report import RunInfo


def _horizon(model: RiskModel, t: Words) -> str:
    spec = model.spec
    if spec.horizon_months:
        return t("card.horizon_months", n=spec.horizon_months)
    return t("card.horizon_days", n=spec.horizon_days)


def _data_note(run_info: RunInfo, t: Words) -> str:
    """Where the test slice came from, and whether its data is the training run's."""
    if not run_info.test_source:
        return ""
    logged = run_info.params.get("dataset_fingerprint")
    key = "card.data_rebuilt"
    if logged and not run_info.rebuilt_training_data:
        # the folder the run was trained on, changed since; else another city's data
        same_folder = run_info.trained_on and (
            Path(run_info.trained_on).resolve() == Path(run_info.test_source).resolve()
        )
        key = "card.data_changed" if same_folder else "card.data_other"
    shown = _shown_folder(run_info.test_source)
    return t(key, raw=shown, fingerprint=run_info.test_fingerprint, logged=logged)


def _shown_folder(raw: str) -> str:
    """A raw folder as a report shows it to every console user: relative to the data folder
    (`RISKLOOP_DATA_DIR`) when it lies inside, else by its own name; never the server's
    absolute path (the command line's note names it whole)."""
    from models.settings import get_settings

    folder = Path(raw).resolve()
    try:
        return folder.relative_to(Path(get_settings().data_dir).resolve()).as_posix() or "."
    except ValueError:
        return folder.name or raw


def city_time(moment: datetime, t: Words) -> str:
    """A moment on the city's clock, saying so ("2026-12-05 23:09 (Beijing time)"): every time
    in either edition, so readers of both, and of the console, see one moment as one time."""
    return t("city_time", time=pages.local_time(moment))


def _trained_at(text: str, t: Words) -> str:
    """The run's start ("YYYY-MM-DD HH:MM UTC") on the city's clock."""
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
    except ValueError:
        return text or "–"
    return city_time(moment, t)


def model_card(
    model: RiskModel, test: pd.DataFrame, run_info: RunInfo, truth: Truth | None, t: Words
) -> dict[str, Any]:
    """The model card's facts: what the model is, where it came from, how it warns."""
    spec = model.spec
    task = get_task(spec.slug)
    params = run_info.params
    # the run's own figures, never the rebuilt data's (another city's, or changed since)
    train_rows = int(params["n_train"]) if "n_train" in params else run_info.train_rows
    logged_rate = params.get("train_positive_rate") or "None"
    rate = None if logged_rate == "None" else float(logged_rate)
    if rate is None:  # a version trained before the run logged it
        rate = run_info.train_positive_rate
    train_rate = pages.format_share(rate)
    if rate is None and run_info.run_id:
        train_rate = t("card.not_recorded")
    test_positive = float(test["label"].mean()) if len(test) else math.nan
    chinese = t.lang == "zh"
    reason = t.promotion_reason(run_info.promotion_reason) if run_info.promotion_reason else "–"
    card = [
        ("card.task", t("card.task_value", title=task.title_zh, task=spec.task, slug=spec.slug)),
        ("card.unit", task.unit_zh if chinese else spec.unit),
        ("card.label", task.label_zh if chinese else spec.label),
        ("card.horizon", _horizon(model, t)),
        (
            "card.model",
            t(
                "card.model_value",
                name=run_info.name or spec.registered_model_name,
                version=run_info.version or "–",
            )
            + (t("card.alias", alias=t.aliases(run_info.alias)) if run_info.alias else ""),
        ),
        *(
            [("card.promotion", t(f"card.promotion_{run_info.promotion}", reason=reason))]
            if run_info.promotion in ("first", "rule", "forced")
            else []
        ),
        ("card.run", run_info.run_id or "–"),
        ("card.trained_at", _trained_at(run_info.trained_at, t)),
        ("card.commit", run_info.git_commit or "–"),
        (
            "card.catalog",
            t("card.catalog_value", version=spec.catalog_version, n=len(spec.features)),
        ),
        ("card.train_range", params.get("train_as_of", "") or "–"),
        ("card.train_rows", train_rows),
        ("card.train_rate", train_rate),
        ("card.valid_range", params.get("valid_as_of", "–")),
        (
            "card.calibrator",
            t("card.calibration_rows", n=f"{int(params['n_calibration']):,}")
            if "n_calibration" in params
            else t("card.calibration_valid"),
        ),
        (
            "card.test",
            t(
                "card.test_value",
                rows=f"{len(test):,}",
                first=f"{test['as_of'].min():%Y-%m-%d}",
                last=f"{test['as_of'].max():%Y-%m-%d}",
                rate=pages.format_share(test_positive),
            )
            if len(test)
            else t("card.test_empty"),
        ),
        ("card.fingerprint", params.get("dataset_fingerprint", "–")),
        ("card.truth", t("card.truth_files") if truth is not None else t("card.truth_none")),
    ]
    lightgbm = {
        **vars(model.params_),
        "best_iteration": model.best_iteration_,
        "calibration": model.calibrator_.kind,
    }
    capacities: dict[str, float] = {c.level: c.share for c in spec.capacities}
    return {
        "card": [(t(key), value) for key, value in card],
        # a switch reads yes/no in the edition's language; names and codes stay as they are
        "parameters": [
            (name, t("card.yes" if value else "card.no") if isinstance(value, bool) else value)
            for name, value in sorted(lightgbm.items())
        ],
        "thresholds": [
            [
                t.level(level),
                pages.format_share(capacities.get(level)),
                f"{getattr(model.thresholds_, level):.4f}",
            ]
            for level in WARNING_LEVELS
        ],
        "intended_use": task.intended_use_zh if chinese else task.intended_use,
        "data_note": _data_note(run_info, t),
        "protected": [
            {
                "feature": item.feature,
                "attributes": t("list.separator").join(
                    t(f"card.attribute_{name}") for name in item.attributes
                )
                or "–",
                "reason": (item.feature.why_kept_zh if chinese else "") or item.feature.why_kept,
            }
            for item in protected_features(spec.features)
        ],
    }
