"""A small, readable CSV excerpt of a generated city (committed under data_samples/sample/).

The excerpt follows a handful of units through every table, so a reader sees one employer's
social-insurance months next to its court cases and arrears, or one dispute's parties next to
their police calls, without running anything.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

#: How many units of each task the excerpt follows, and how many of them must have a label event.
_UNITS = {"wage_arrears": (12, 5), "telecom_fraud": (5, 2), "dispute_escalation": (40, 10)}
#: Tables whose rows are rare: the excerpt includes a couple of units that have some.
_SHOWCASE = {
    "wage_arrears": ("abnormal_listings", "construction_projects"),
    "telecom_fraud": ("app_installs",),
    "dispute_escalation": (),
}
_LABEL_TABLES = {
    "wage_arrears": ("employers", "employer_id", "arrears_events"),
    "telecom_fraud": ("residents", "resident_id", "fraud_cases"),
    "dispute_escalation": ("disputes", "dispute_id", "escalation_events"),
}
MAX_ROWS = 400


def _pick(
    units: pd.Series, with_event: pd.Series, showcase: list[pd.Series], n_units: int, n_event: int
) -> list[str]:
    """`n_event` units with a label event, two from each showcase table, topped up in key order."""
    chosen = sorted(set(with_event))[:n_event]
    for rows in showcase:
        chosen += [unit for unit in sorted(set(rows)) if unit not in chosen][:2]
    others = [unit for unit in sorted(units) if unit not in set(chosen)]
    return sorted(chosen + others[: max(n_units - len(chosen), 0)])


def _excerpt(task: str, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    registry, key, label = _LABEL_TABLES[task]
    n_units, n_event = _UNITS[task]
    showcase = [tables[name][key] for name in _SHOWCASE[task]]
    chosen = _pick(tables[registry][key], tables[label][key], showcase, n_units, n_event)
    picked: dict[str, pd.DataFrame] = {}
    for name, frame in tables.items():
        if key in frame.columns:
            picked[name] = frame[frame[key].isin(chosen)]
    if task == "wage_arrears":
        projects = picked["construction_projects"]["project_id"]
        for name in ("project_instalments", "project_payments"):
            picked[name] = tables[name][tables[name]["project_id"].isin(projects)]
    if task == "dispute_escalation":
        parties = picked["dispute_parties"]["party_id"]
        picked["police_calls"] = tables["police_calls"][
            tables["police_calls"]["party_id"].isin(parties)
        ]
        picked["petitions"] = tables["petitions"][tables["petitions"]["party_id"].isin(parties)]
    return {name: frame.head(MAX_ROWS) for name, frame in picked.items()}


def write_csv_sample(city_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write the CSV excerpt of the city in `city_dir` to `out_dir`; return rows per file.

    Layout mirrors the city: `<task>/<table>.csv`, `truth/<task>_units.csv` (the truth rows of
    the same units), `truth/drivers.json` and `manifest.json`. Rows keep the city's order.
    """
    city_dir, out_dir = Path(city_dir), Path(out_dir)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for task in _UNITS:
        tables = {
            path.stem: pd.read_parquet(path) for path in sorted((city_dir / task).glob("*.parquet"))
        }
        excerpt = _excerpt(task, tables)
        (out_dir / task).mkdir(exist_ok=True)
        for name, frame in excerpt.items():
            target = out_dir / task / f"{name}.csv"
            frame.to_csv(target, index=False, lineterminator="\n")
            written[f"{task}/{name}.csv"] = len(frame)
        registry, key, _ = _LABEL_TABLES[task]
        truth = pd.read_parquet(city_dir / "truth" / f"{task}_units.parquet")
        truth = truth[truth["entity_id"].isin(excerpt[registry][key])].head(MAX_ROWS)
        truth.to_csv(out_dir / "truth" / f"{task}_units.csv", index=False, lineterminator="\n")
        written[f"truth/{task}_units.csv"] = len(truth)
    shutil.copyfile(city_dir / "truth" / "drivers.json", out_dir / "truth" / "drivers.json")
    shutil.copyfile(city_dir / "manifest.json", out_dir / "manifest.json")
    return written
