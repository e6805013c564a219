"""`riskloop monitor` by group: units scored, warning rate and outcomes per district and per the
task's audit groups, a group's rate flagged beside the whole's on groups large enough to tell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from models.secret_keys import load_secrets
from models.settings import get_settings
from models.spec import get_spec
from serving.store import WarningStore
from training.cli import app
from training.commands.loop import build_monitor_report

# sector -> (units, warned): the whole warns 75 of 300 (0.25); construction's 0.375 is above
# 1.25x, retail's 0.1 below 0.8x, manufacturing's 0.2 exactly 0.8x (not flagged: "less
# than"), and services' 0.2 comes from 20 units, too few to flag
SECTORS = {
    "construction": (120, 45),
    "manufacturing": (100, 20),
    "retail": (60, 6),
    "services": (20, 4),
}
DISTRICT_OF = {"construction": "wuxing", "manufacturing": "anji", "retail": "anji"}
# outcomes of the first warnings of a sector
OUTCOMES = {
    "construction": ["confirmed"] * 6 + ["prevented"] * 2 + ["false_alarm", "unreachable"],
    "retail": ["false_alarm", "false_alarm"],
}


def _features(task: str, rng: np.random.Generator, n: int) -> pd.DataFrame:
    """`n` rows of the task's features in their catalog types."""
    columns: dict[str, Any] = {}
    for feature in get_spec(task).features:
        if feature.dtype == "category":
            columns[feature.name] = rng.choice(list(feature.categories), size=n)
        elif feature.dtype == "bool":
            columns[feature.name] = rng.random(n) < 0.3
        elif feature.dtype == "int":
            columns[feature.name] = rng.poisson(1.0, size=n).clip(0, feature.max_value)
        else:
            columns[feature.name] = rng.gamma(2.0, 1.0, size=n)
    return pd.DataFrame(columns)


def _record(
    task: str, frame: pd.DataFrame, warned: np.ndarray, districts: list[str | None]
) -> list[str | None]:
    """Score `frame` as the service records it (warned rows yellow, 0.6; others green, 0.1)."""
    results = [
        {
            "entity_id": f"U{i:05d}",
            "score": 0.6 if flag else 0.1,
            "risk_level": "yellow" if flag else "green",
            "reasons": [],
            "actions": [],
            "features": row,
            "district": district,
        }
        for i, (flag, row, district) in enumerate(
            zip(warned, frame.to_dict(orient="records"), districts, strict=True)
        )
    ]
    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        return store.record_scores(
            actor="scorer",
            task=task,
            model_name=f"riskloop-{task}",
            model_version="1",
            results=results,
        )


def _close(ids: list[str], outcomes: list[str]) -> None:
    """Close each warning with its outcome, handled first (dispatched, in progress) where the
    outcome needs it."""
    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        for warning_id, outcome in zip(ids, outcomes, strict=False):
            steps = [("closed", None, outcome)]
            if outcome in ("confirmed", "prevented"):
                steps = [("dispatched", "county_centre", None), ("in_progress", None, None), *steps]
            for status, department, closing in steps:
                store.add_feedback(
                    warning_id,
                    actor="clerk",
                    status=status,
                    department=department,
                    outcome=closing,
                    note=None,
                )


def _reference(task: str, folder: Path) -> Path:
    path = folder / f"{task}-reference.parquet"
    _features(task, np.random.default_rng(1), 200).assign(score=0.2).to_parquet(path)
    return path


def _by_group(report: dict[str, Any], column: str) -> dict[str, dict[str, Any]]:
    (entry,) = [e for e in report["groups"]["columns"] if e["column"] == column]
    return {row["group"]: row for row in entry["groups"]}


def test_monitor_rates_outcomes_and_flags_by_group(isolated_env: Path) -> None:
    task = "wage-arrears"
    rng = np.random.default_rng(46)
    parts, warned, districts = [], [], []
    for sector, (units, n_warned) in SECTORS.items():
        parts.append(_features(task, rng, units).assign(sector=sector))
        warned += [True] * n_warned + [False] * (units - n_warned)
        districts += [DISTRICT_OF.get(sector)] * units
    frame = pd.concat(parts, ignore_index=True)
    ids = _record(task, frame, np.array(warned), districts)
    start = 0
    for sector, (units, _) in SECTORS.items():
        sector_ids = [i for i in ids[start : start + units] if i]
        _close(sector_ids, OUTCOMES.get(sector, []))
        start += units

    out = isolated_env / "monitor.json"
    reference = _reference(task, isolated_env)
    done = CliRunner().invoke(
        app, ["monitor", "--task", task, "--reference", str(reference), "--out", str(out)]
    )
    assert done.exit_code in (0, 3), done.output
    report = json.loads(out.read_text())
    groups = report["groups"]
    assert groups["whole"] == {
        "scored": 300,
        "warned": 75,
        "warning_rate": 0.25,
        "warnings": 75,
        "judged": 11,
        "confirmed_or_prevented": 8,
        "precision": 8 / 11,
    }
    assert "1.25x" in groups["rule"] and "0.8x" in groups["rule"] and "50" in groups["rule"]
    assert groups["bounds"] == {"low": 0.8, "high": 1.25} and groups["min_units"] == 50
    assert "audited at training" in groups["note"]
    assert [e["column"] for e in groups["columns"]] == [
        "audit_district",
        "audit_sector",
        "audit_size_band",
    ]
    assert groups["not_held"] == []

    sectors = _by_group(report, "audit_sector")
    assert set(sectors) == set(SECTORS)
    figures = {
        name: (row["scored"], row["warned"], row["warnings"], row["flag"])
        for name, row in sectors.items()
    }
    assert figures == {
        "construction": (120, 45, 45, "high"),
        "manufacturing": (100, 20, 20, None),
        "retail": (60, 6, 6, "low"),
        "services": (20, 4, 4, None),
    }
    construction = sectors["construction"]
    assert construction["warning_rate"] == 45 / 120
    assert (construction["judged"], construction["confirmed_or_prevented"]) == (9, 8)
    assert construction["precision"] == 8 / 9
    assert (sectors["retail"]["judged"], sectors["retail"]["precision"]) == (2, 0.0)
    assert sectors["services"]["precision"] is None  # none judged: null, not 0

    # the district comes from the scored records as from the warnings: units scored, warning
    # rate and flag by district (anji: manufacturing's 100 and retail's 60, 26 warned, 0.1625,
    # below 0.8x the whole's; services' 20 units came without a district, too few to flag)
    (district_entry,) = [e for e in groups["columns"] if e["column"] == "audit_district"]
    assert district_entry["source"] == "scored records"
    by_district = _by_group(report, "audit_district")
    figures = {
        name: (row["scored"], row["warned"], row["warnings"], row["flag"])
        for name, row in by_district.items()
    }
    assert figures == {
        "wuxing": (120, 45, 45, "high"),
        "anji": (160, 26, 26, "low"),
        "missing": (20, 4, 4, None),  # sent without a district
    }
    assert by_district["anji"]["warning_rate"] == 26 / 160
    assert by_district["anji"]["judged"] == 2 and by_district["anji"]["precision"] == 0.0

    assert "by audit_sector" in done.output and "1.25x" in done.output
    assert "audited at training" in done.output


def test_telecom_fraud_age_groups_stand_in_for_the_age_band(isolated_env: Path) -> None:
    """Telecom fraud's age band is no model feature: its age-group features stand in, and the
    audit columns nothing holds are named."""
    task = "telecom-fraud"
    rng = np.random.default_rng(7)
    frame = _features(task, rng, 80).assign(is_young_adult=[True] * 20 + [False] * 60)
    warned = np.array([True] * 10 + [False] * 10 + [True] * 10 + [False] * 50)
    _record(task, frame, warned, ["deqing"] * 80)
    report = build_monitor_report(
        task, since=None, reference=_reference(task, isolated_env), bins=5
    )
    groups = report["groups"]
    columns = {e["column"]: e for e in groups["columns"]}
    assert list(columns) == ["audit_district", "is_young_adult", "elderly_living_alone"]
    assert columns["is_young_adult"]["stands_for"] == "audit_age_band"
    assert groups["not_held"] == ["audit_sex"]
    young = _by_group(report, "is_young_adult")
    assert (young["True"]["scored"], young["True"]["warned"]) == (20, 10)
    assert (young["False"]["scored"], young["False"]["warned"]) == (60, 10)
    # 0.5 against the whole's 0.25, but 20 units are too few; the 60 others (0.167) are flagged
    assert young["True"]["flag"] is None
    assert young["False"]["flag"] == "low"
