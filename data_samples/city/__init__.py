"""The simulated city: departmental raw tables for the three risk tasks, plus their ground truth.

`generate_city(out, size, seed)` writes the layout of docs/architecture.md ("Raw city layout"):
one Parquet file per raw table under `out/<task_slug>/`, `out/truth/` with the per-unit true
probability and dominant driver, and `out/manifest.json`. Same seed, same bytes (the truth's
probabilities to the last bit only on CPUs with the same vector instructions: data_samples/README.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from data_samples.city import dispute_escalation, history, telecom_fraud, wage_arrears
from data_samples.city.config import CITY_END, GENERATOR_VERSION, SIZE_CONFIG, SIZES, CitySize
from data_samples.city.feature_truth import features_document
from data_samples.city.realism import DEFAULT_PROFILE, PROFILES, Realism, parameters
from data_samples.city.sample import write_csv_sample
from data_samples.city.writer import TableWriter, write_json

__all__ = [
    "DEFAULT_PROFILE",
    "MAX_RATE_MULTIPLIER",
    "PROFILES",
    "SIZES",
    "TASK_MODULES",
    "drivers_document",
    "generate_city",
    "write_csv_sample",
]

#: The largest `rate_multiplier` accepted: at 100,000 the event draws already fail (log1p(-1)).
MAX_RATE_MULTIPLIER = 1000.0

#: Task slug -> simulator module, in the order the city is generated.
TASK_MODULES: dict[str, ModuleType] = {
    wage_arrears.SLUG: wage_arrears,
    telecom_fraud.SLUG: telecom_fraud,
    dispute_escalation.SLUG: dispute_escalation,
}


def _plan(slug: str, size: CitySize) -> tuple[int, int, int]:
    """(units, months, chunk size) of one task at one city size."""
    if slug == wage_arrears.SLUG:
        return size.employers, size.wage_months, size.employer_chunk
    if slug == telecom_fraud.SLUG:
        return size.residents, size.fraud_months, size.resident_chunk
    return size.disputes, size.dispute_months, size.dispute_chunk


def drivers_document(profile: str = DEFAULT_PROFILE) -> dict[str, dict[str, object]]:
    """The content of truth/drivers.json: per task, the planted drivers and the noise signals,
    which catalog features measure them (and which are proxies), and in the realistic profile
    the parameters of its imperfections."""
    realism = parameters()
    realism["wage_arrears"].update(history.wage_parameters())
    realism["telecom_fraud"].update(history.resident_parameters())
    document: dict[str, dict[str, object]] = {}
    for slug, module in TASK_MODULES.items():
        entry: dict[str, object] = {
            "drivers": [driver.as_json() for driver in module.DRIVERS],
            "noise": [noise.as_json() for noise in module.NOISE],
            "features": features_document(slug),
        }
        if profile == "realistic":
            entry["realism"] = realism[slug]
        document[slug] = entry
    return document


def _iso(value: np.datetime64 | pd.Timestamp) -> str:
    return pd.Timestamp(value).isoformat()


def generate_city(
    out: Path,
    size: str = "default",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    *,
    rate_multiplier: float = 1.0,
    profile: str = DEFAULT_PROFILE,
) -> dict:
    """Simulate the city and write it under `out`; return the manifest.

    Args:
        out: Target folder (created if missing; existing city files are overwritten).
        size: One of SIZES (plus "tiny", used by tests).
        seed: Random seed; the same seed gives byte-identical files.
        progress: Called with a short message as each chunk of each task is written.
        rate_multiplier: Scales every task's base odds of an event (1.0: the documented rates).
        profile: "realistic" (imperfect records, non-additive effects, drift; see
            city/realism.py) or "clean" (generator 1.0.0's city, byte for byte: its manifest
            carries no `profile` key, as no city before the profiles did).
    """
    if size not in SIZE_CONFIG:
        raise ValueError(f"unknown city size {size!r}; choose one of {', '.join(SIZES)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a whole number of 0 or more, got {seed!r}")
    if not 0 < rate_multiplier <= MAX_RATE_MULTIPLIER:  # also refuses NaN
        raise ValueError(
            f"rate_multiplier must be above 0 and at most {MAX_RATE_MULTIPLIER:g}, "
            f"got {rate_multiplier!r}"
        )
    if profile not in PROFILES:
        raise ValueError(f"unknown city profile {profile!r}; choose one of {', '.join(PROFILES)}")
    realistic = profile == "realistic"
    config = SIZE_CONFIG[size]
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    notify = progress or (lambda _message: None)

    manifest: dict = {
        "generator": "riskloop simulated city",
        "generator_version": GENERATOR_VERSION,
        "size": size,
        "seed": seed,
        "rate_multiplier": rate_multiplier,
        "end": _iso(np.datetime64(pd.Timestamp(CITY_END))),
        "tasks": {},
    }
    if realistic:
        manifest["profile"] = profile
    for task_no, (slug, module) in enumerate(TASK_MODULES.items()):
        n_units, n_months, chunk_size = _plan(slug, config)
        (out / slug).mkdir(exist_ok=True)
        writers: dict[str, TableWriter] = {}
        truth = TableWriter(out / "truth" / f"{slug}_units.parquet")
        as_of_seen: list[pd.Timestamp] = []
        prob_sum = 0.0
        n_chunks = max(1, -(-n_units // chunk_size))
        for chunk in range(n_chunks):
            start = chunk * chunk_size
            count = min(chunk_size, n_units - start)
            rng = np.random.default_rng(np.random.SeedSequence([seed, task_no, chunk]))
            realism = (
                Realism(
                    np.random.default_rng(np.random.SeedSequence([seed, task_no, chunk, 1])),
                    np.random.default_rng(np.random.SeedSequence([seed, task_no, chunk, 2])),
                )
                if realistic
                else None
            )
            simulated = module.simulate(
                rng, count, n_months, chunk, start, seed, rate_multiplier, realism=realism
            )
            for name, frame in simulated.tables.items():
                if name not in writers:
                    writers[name] = TableWriter(out / slug / f"{name}.parquet")
                writers[name].write(frame)
            truth.write(simulated.units)
            prob_sum += float(simulated.units["true_prob"].sum())
            as_of_seen += [simulated.units["as_of"].min(), simulated.units["as_of"].max()]
            notify(
                f"{slug}: chunk {chunk + 1}/{n_chunks} written ({start + count:,}/{n_units:,} units)"
            )
        for writer in writers.values():
            writer.close()
        truth.close()
        start_date = pd.Timestamp(CITY_END) - pd.DateOffset(months=n_months)
        manifest["tasks"][slug] = {
            "units": n_units,
            "start": _iso(start_date),
            "end": _iso(pd.Timestamp(CITY_END)),
            "as_of_first": _iso(min(as_of_seen)),
            "as_of_last": _iso(max(as_of_seen)),
            "truth_rows": truth.rows,
            "mean_true_prob": round(prob_sum / max(truth.rows, 1), 6),
            "tables": {name: writer.rows for name, writer in writers.items()},
        }
    manifest["start"] = min(task["start"] for task in manifest["tasks"].values())
    write_json(out / "truth" / "drivers.json", drivers_document(profile))
    write_json(out / "manifest.json", manifest)
    return manifest
