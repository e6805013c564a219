"""Quality and fidelity benchmark: what riskloop's models recover of the simulated city's truth.

For each profile (realistic, then clean) and seed, a default-size city is generated (or taken
from `RISKLOOP_BENCH_QUALITY_DIR/<profile>-<seed>` when present) and, per task:

- the champion recipe (`fit_model` with the spec's parameters as `recipe_params` fits them to
  the training slice, on the purged time split; the hyper-parameters, early stopping and
  calibration are chosen on the validation slice only)
  is scored on the test slice: AUC, the oracle's AUC (`true_prob`) on the same rows,
  `lift_recovered = (AUC - 0.5) / (oracle AUC - 0.5)`, ECE and the oracle's own ECE (its
  sampling-noise floor);
- the crude baseline: a logistic regression on yes/no driver observables recomputed from the
  raw tables (`data_samples.city.observables`), cross-validated by entity over every truth row,
  against the oracle's AUC on the same rows;
- explanation fidelity on up to 5,000 test rows (`training.report.fidelity`, feature roles from
  truth/drivers.json): every planted driver above every noise and proxy feature in mean |SHAP|,
  and the share of single-driver units whose dominant driver is among their top-3 reasons, both
  as the scorer ranks them (|contribution|, `dominant_in_top3_share`) and among the top-3
  reasons that raise the risk (`dominant_in_top3_raising_share`): the truth's dominant driver
  is the largest push *up* on the event's log-odds, while a reason that lowers the observed
  risk (a micro firm's arrears are rarely detected) can outrank it by |contribution|.

`RISKLOOP_BENCH_QUALITY_SEEDS` (default "0,1,2") and `RISKLOOP_BENCH_QUALITY_PROFILES`
(default "realistic,clean") choose the runs. The commit measured is recorded with the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIDELITY_ROWS = 5_000
TOP_K = 3


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def crude_baseline(city: Path, slug: str) -> dict[str, float]:
    """Cross-validated AUC of the crude baseline and the oracle's AUC over every truth row."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    from data_samples.city.observables import SPLITS, labels

    tables = {p.stem: pd.read_parquet(p) for p in sorted((city / slug).glob("*.parquet"))}
    truth = pd.read_parquet(city / "truth" / f"{slug}_units.parquet")
    y = labels(slug, tables, truth)
    masks = [mask for pair in SPLITS[slug](tables, truth).values() for mask in pair]
    scores = cross_val_predict(
        LogisticRegression(max_iter=2000),
        np.column_stack(masks).astype(float),
        y,
        cv=GroupKFold(5),
        groups=truth["entity_id"],
        method="predict_proba",
    )[:, 1]
    auc, oracle = roc_auc_score(y, scores), roc_auc_score(y, truth["true_prob"])
    return {
        "crude_roc_auc": auc,
        "crude_oracle_roc_auc": oracle,
        "crude_lift_recovered": (auc - 0.5) / (oracle - 0.5),
    }


def champion(city: Path, task: str) -> dict[str, Any]:
    """Test-slice quality and explanation fidelity of the champion recipe."""
    from models.scorer import score_arrays
    from models.spec import get_spec
    from training.datasets import build_from_raw, split_dataset
    from training.evaluate import attach_truth, expected_calibration_error
    from training.report_metrics import FeatureRoles, fidelity
    from training.train import fit_model, recipe_params

    spec = get_spec(task)
    data = build_from_raw(spec, city)
    splits = split_dataset(spec, data.frame)
    model = fit_model(spec, splits, recipe_params(spec.params, splits.train))
    test = splits.test
    label = test["label"].to_numpy()
    true_prob = attach_truth(test, data.truth)
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(label, model.raw_margin(test))
    oracle = roc_auc_score(label, true_prob)
    figures: dict[str, Any] = {
        "test_rows": len(test),
        "roc_auc": auc,
        "oracle_roc_auc": oracle,
        "lift_recovered": (auc - 0.5) / (oracle - 0.5),
        "ece": expected_calibration_error(label, model.predict_proba(test)),
        "oracle_ece": expected_calibration_error(label, true_prob),
    }
    rows = np.arange(len(test))
    if len(rows) > FIDELITY_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(rows, FIDELITY_ROWS, replace=False))
    sample = test.iloc[rows]
    explained = score_arrays(model, sample, explain=True)
    document = json.loads((city / "truth" / "drivers.json").read_text(encoding="utf-8"))
    planted = document[spec.slug]
    units = pd.read_parquet(city / "truth" / f"{spec.slug}_units.parquet")
    keys = units[["entity_id", "as_of", "dominant_driver"]].assign(
        entity_id=lambda t: t["entity_id"].astype(str)
    )
    dominant = (
        sample[["entity_id", "as_of"]]
        .assign(entity_id=lambda t: t["entity_id"].astype(str))
        .merge(keys, on=["entity_id", "as_of"], how="left")["dominant_driver"]
        .tolist()
    )
    result = fidelity(
        explained.contributions,
        spec.features,
        dominant,
        top_k=TOP_K,
        planted_drivers=tuple(d["name"] for d in planted["drivers"]),
        roles=FeatureRoles.from_document(planted["features"]),
    )
    figures.update(
        drivers_above_noise_and_proxies=result["drivers_above_noise"],
        drivers_below_noise=result["drivers_below_noise"],
        strongest_noise_or_proxy=result["strongest_noise_feature"],
        single_driver_units=result["single_driver_units"],
        dominant_in_top3_share=result["top_reason_share"],
        dominant_in_top3_raising_share=result["top_raising_share"],
    )
    return figures


def _city(profile: str, seed: int, scratch: Path) -> Path:
    from data_samples.city import generate_city

    given = os.environ.get("RISKLOOP_BENCH_QUALITY_DIR")
    if given and (Path(given) / f"{profile}-{seed}" / "manifest.json").is_file():
        return Path(given) / f"{profile}-{seed}"
    out = scratch / f"{profile}-{seed}"
    generate_city(out, size="default", seed=seed, profile=profile)
    return out


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        key: round(float(value), 4) if isinstance(value, float | np.floating) else value
        for key, value in figures.items()
    }


def run() -> dict[str, Any]:
    """Measure and return the figures (written to bench/results/quality.json by bench.run)."""
    from features.tasks import TASKS
    from models.settings import apply_offline_defaults

    apply_offline_defaults()
    seeds = [int(s) for s in os.environ.get("RISKLOOP_BENCH_QUALITY_SEEDS", "0,1,2").split(",")]
    profiles = os.environ.get("RISKLOOP_BENCH_QUALITY_PROFILES", "realistic,clean").split(",")
    commit = _commit()  # the code measured: taken before the runs, not after
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="riskloop-bench-quality-") as scratch_dir:
        for profile in profiles:
            for seed in seeds:
                started = time.perf_counter()
                city = _city(profile, seed, Path(scratch_dir))
                tasks = {
                    info.name: _rounded({**champion(city, info.name), **crude_baseline(city, slug)})
                    for slug, info in TASKS.items()
                }
                runs[f"{profile}-{seed}"] = {
                    "profile": profile,
                    "seed": seed,
                    "size": "default",
                    "seconds": round(time.perf_counter() - started, 1),
                    "tasks": tasks,
                }
                print(json.dumps({f"{profile}-{seed}": tasks}, indent=1), flush=True)
    return {"commit": commit, "runs": runs}
