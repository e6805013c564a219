"""The report's fairness and fidelity figures agree with direct computations."""

from __future__ import annotations

import math
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from features.catalog import FeatureDef
from models.risk_model import RiskModel
from models.scorer import score_arrays
from training.report_metrics import FeatureRoles, fairness_flags, fairness_table, fidelity


def _direct_fairness(frame: pd.DataFrame, scores: np.ndarray, levels: np.ndarray, column: str):
    """Group figures by plain loops: the obviously-correct reference."""
    rows = {}
    for group in sorted(frame[column].astype(str).unique()):
        mask = (frame[column].astype(str) == group).to_numpy()
        label = frame["label"].to_numpy()[mask]
        warned = np.isin(levels[mask], ["red", "orange", "yellow"])
        hits = int(np.sum(label[warned] == 1))
        rows[group] = {
            "n": int(mask.sum()),
            "positives": int(label.sum()),
            "warned": int(warned.sum()),
            "base_rate": label.mean(),
            "warning_rate": warned.mean(),
            "precision": hits / warned.sum() if warned.sum() else math.nan,
            "recall": hits / label.sum() if label.sum() else math.nan,
            "mean_score": scores[mask].mean(),
            "score_ratio": scores[mask].mean() / label.mean() if label.sum() else math.inf,
            "fpr": int(np.sum(label[warned] == 0)) / np.sum(label == 0)
            if np.sum(label == 0)
            else math.nan,
        }
    return rows


def test_fairness_table_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "label": rng.integers(0, 2, 400),
            "audit_sex": rng.choice(["f", "m", "x"], 400, p=[0.5, 0.49, 0.01]),
        }
    )
    frame.loc[frame["audit_sex"] == "x", "label"] = 0  # a group with no positive: recall undefined
    scores = rng.random(400)
    levels = np.select(
        [scores > 0.9, scores > 0.8, scores > 0.6], ["red", "orange", "yellow"], "green"
    )
    table = fairness_table(frame, scores, levels, "audit_sex").set_index("group")
    expected = _direct_fairness(frame, scores, levels, "audit_sex")
    assert list(table.index) == list(expected)
    for group, figures in expected.items():
        for key, value in figures.items():
            got = table.at[group, key]
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(got), (group, key)
            else:
                assert got == pytest.approx(value, abs=1e-12), (group, key)


def test_fairness_flags_follow_the_stated_thresholds() -> None:
    table = pd.DataFrame(
        {
            "group": ["a", "b", "tiny", "rare events"],
            "mean_score": [0.10, 0.10, 0.50, 0.04],
            "base_rate": [0.10, 0.07, 0.10, 0.0],
            "base_rate_low": [0.09, 0.06, 0.0, 0.0],
            "base_rate_high": [0.11, 0.08, 0.60, 0.054],
        }
    )
    for rate, values in {
        "precision": [0.30, 0.45, 0.90, 0.90],
        "recall": [0.50, 0.52, 0.0, 0.10],
        "fpr": [0.10, 0.10, 0.10, 0.10],
    }.items():
        table[rate] = values
        table[f"{rate}_low"] = [v - 0.05 for v in values[:2]] + [0.0, 0.0]
        table[f"{rate}_high"] = [v + 0.05 for v in values[:2]] + [0.95, 0.95]
    flags = fairness_flags(table, {"precision": 0.32, "recall": 0.51, "fpr": 0.10})
    assert flags.to_dict("list") == {
        "calibration": ["", "gap", "too_few", "too_few"],
        "precision": ["", "gap", "too_few", "too_few"],
        "recall": ["", "", "too_few", "too_few"],
        "fpr": ["", "", "", ""],
    }


def _feature(name: str) -> FeatureDef:
    return FeatureDef(name, "float", "", name, name, "t", (name,), 0, False)


#: What truth/drivers.json would say of these features.
ROLES = FeatureRoles(driver_of={"a1": "a", "a2": "a", "b1": "b"}, noise=("n1",))


def test_fidelity_ranks_drivers_and_counts_top_reasons() -> None:
    features = [
        _feature("a1"),
        _feature("a2"),
        _feature("b1"),
        _feature("n1"),
        _feature("other"),
    ]
    contributions = np.array(
        [
            [2.0, 0.1, 0.0, 0.2, 0.5],  # top 3: a1, other, n1 -> driver a found
            [0.0, 0.1, -1.5, 0.2, 0.5],  # top 3: b1, other, n1 -> b found; a not
            [0.0, 0.1, 0.0, 0.2, 0.5],  # dominant b, top 3: other, n1, a2 -> miss
            [0.3, 0.1, 0.0, 0.2, 0.5],  # dominant none: not counted
        ]
    )
    result = fidelity(contributions, features, ["a", "b", "b", "none"], roles=ROLES)
    assert result["importance"]["a1"] == pytest.approx(2.3 / 4)
    assert result["driver_importance"] == pytest.approx({"a": 2.7 / 4, "b": 1.5 / 4})
    assert result["strongest_noise_feature"] == ("n1", pytest.approx(0.2))
    assert result["weakest_driver_feature"] == ("a2", pytest.approx(0.1))
    assert result["features_above_noise"] is False  # a2 (0.1) is below n1 (0.2)
    assert result["drivers_above_noise"] is True
    assert (result["single_driver_units"], result["top_reason_hits"]) == (3, 2)
    assert result["top_reason_share"] == pytest.approx(2 / 3)
    # Risk-raising top 3: row 0 a1 (+2.0) hit; row 1 b1 is negative: miss; row 2 miss.
    assert (result["top_raising_hits"], result["top_raising_share"]) == (1, pytest.approx(1 / 3))
    assert result["per_driver"] == {
        "a": {"units": 1, "hits": 1, "share": 1.0, "raising_hits": 1, "raising_share": 1.0},
        "b": {"units": 2, "hits": 1, "share": 0.5, "raising_hits": 0, "raising_share": 0.0},
    }
    with_unmeasured = fidelity(
        contributions, features, ["a", "b", "b", "c"], planted_drivers=("a", "b", "c"), roles=ROLES
    )
    assert (with_unmeasured["single_driver_units"], with_unmeasured["top_reason_hits"]) == (4, 2)
    assert with_unmeasured["per_driver"]["c"]["share"] == 0.0


class _FairnessTables(HTMLParser):
    """Collects the rows of each `div.fairness-group` table, keyed by its audit column: the
    figures a cell shows (its visually hidden "a gap beyond the bounds" left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._group: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._hidden = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "div" and attributes.get("class") == "fairness-group":
            self._group = attributes["data-group"]
            self.tables[self._group] = []
        elif self._group and tag == "tr":
            self._row = []
        elif self._row is not None and tag == "td":
            self._cell = []
        elif self._cell is not None and attributes.get("class") == "visually-hidden":
            self._hidden = True

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._hidden:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._hidden = False
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._group].append(self._row)
            self._row = None
        elif tag == "div" and self._group is not None and self._row is None:
            self._group = None


def _share(text: str) -> float:
    return math.nan if text == "–" else float(text.rstrip("%")) / 100


def test_report_fairness_section_agrees_with_a_direct_computation(
    synthetic_model: RiskModel,
    synthetic_test_slice: tuple[pd.DataFrame, pd.DataFrame],
    synthetic_report: str,
) -> None:
    frame, _ = synthetic_test_slice
    parser = _FairnessTables()
    parser.feed(synthetic_report)
    assert set(parser.tables) == {"audit_district", "audit_size_band"}
    scored = score_arrays(synthetic_model, frame, explain=False)
    for column, rows in parser.tables.items():
        expected = _direct_fairness(frame, scored.scores, scored.levels, column)
        assert [row[0].removesuffix(" (small)") for row in rows] == list(expected)
        for row in rows:
            figures = expected[row[0].removesuffix(" (small)")]
            assert int(row[1].replace(",", "")) == figures["n"]
            assert int(row[2].replace(",", "")) == figures["positives"]
            assert int(row[3].replace(",", "")) == figures["warned"]
            for text, key in zip(
                [row[4], row[7], row[8], row[9], row[5], row[10]],
                ["base_rate", "warning_rate", "precision", "recall", "mean_score", "fpr"],
                strict=True,
            ):  # a rate's cell: the figure, then its interval
                assert _share(text.split()[0]) == pytest.approx(
                    figures[key], abs=5e-5, nan_ok=True
                ), key
            ratio = row[6].split()[0]
            assert float(ratio.replace("∞", "inf")) == pytest.approx(
                figures["score_ratio"], abs=5e-3
            )


def test_the_chinese_reports_groups_are_named_in_chinese(synthetic_report_zh: str) -> None:
    """A Chinese reader saw `micro`, `anji` or `construction` where the console says 微型,
    安吉县 or 建筑业: each group is named as the console and the reasons name it."""
    parser = _FairnessTables()
    parser.feed(synthetic_report_zh)
    names = {row[0].removesuffix("（样本过少）") for row in parser.tables["audit_size_band"]}
    assert names == {"微型", "小型", "大型"}


@pytest.mark.parametrize(
    ("lang", "column", "value", "named"),
    [
        ("zh", "audit_district", "anji", "安吉县"),
        ("en", "audit_district", "anji", "Anji"),
        ("zh", "audit_sector", "construction", "建筑业"),
        ("zh", "audit_dispute_type", "property_management", "物业"),
        ("en", "audit_dispute_type", "property_management", "property management"),
        ("zh", "audit_sex", "f", "女"),
        ("en", "audit_sex", "m", "male"),
        ("zh", "audit_age_band", "30-44", "30-44"),  # numbers need no words
        ("zh", "audit_district", "north", "north"),  # a group without words: as it is
    ],
)
def test_audit_groups_are_named_in_the_reports_language(
    lang: str, column: str, value: str, named: str
) -> None:
    from training.report_words import words

    assert words(lang).audit_value(column, value) == named
