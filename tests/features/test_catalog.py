"""The catalog is complete and consistent, and datasets follow it column by column."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from features import catalog
from features.catalog import AUDIT_COLUMNS, CATALOG, FeatureDef
from features.catalog.entries import fill_reason
from features.schemas import TABLE_SPECS
from features.tasks import TASKS

CONTRACT_DRIVERS = {
    "wage_arrears": {
        "construction_sector",
        "owner_payment_delay",
        "si_arrears",
        "headcount_drop",
        "electricity_drop",
        "tax_overdue",
        "sales_decline",
        "creditor_suits",
        "abnormal_listing",
        "prior_complaints",
        "young_firm",
        "spring_festival",
    },
    "telecom_fraud": {
        "flagged_contacts",
        "risky_app_alerts",
        "new_payees",
        "outflow_spike",
        "prior_victimisation",
        "warning_answered",
        "app_installed",
        "young_adult",
        "elderly_alone",
    },
    "dispute_escalation": {
        "high_risk_type",
        "many_parties",
        "group_dispute",
        "large_amount",
        "prior_police_calls",
        "prior_petitions",
        "failed_mediation",
        "threat_emotion",
        "county_handling",
    },
}
SENSITIVE = re.compile(r"ethnic|religio|hukou|household_reg|nation|minzu", re.IGNORECASE)
AGE_OR_SEX = re.compile(r"birth_year|sex\b", re.IGNORECASE)


def _sample_value(feature: FeatureDef) -> object:
    if feature.dtype == "category":
        return feature.categories[0]
    return 1.0 if feature.dtype != "bool" else True


@pytest.mark.parametrize("slug", list(CATALOG))
def test_entries_are_complete_and_consistent(slug: str) -> None:
    entries = CATALOG[slug]
    names = [f.name for f in entries]
    assert len(names) == len(set(names))
    assert {f.signal for f in entries if f.signal} == CONTRACT_DRIVERS[slug]
    tables = set(TABLE_SPECS[slug]) | {""}
    for f in entries:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", f.name), f.name
        assert f.label_en and f.label_zh and f.reason_en and f.reason_zh, f.name
        assert f.source_table in tables, (f.name, f.source_table)
        assert f.direction in (-1, 0, 1)
        value = _sample_value(f)
        for lang in ("en", "zh"):
            text = f.reason_text(value, lang)
            assert text and not re.search(r"[\[\]{}|]", text), (f.name, text)
        assert "raise" not in f.reason_en and "风险" not in f.reason_zh, f.name
        if f.dtype == "category":
            assert f.categories and f.direction == 0, f.name
            # a Chinese reason never shows a category's English code ("纠纷类型：劳资")
            assert len(f.category_words) == len(f.categories), f.name
            for category in f.categories:
                assert not re.search(r"[A-Za-z]", f.reason_text(category, "zh")), f.name
                assert "_" not in f.reason_text(category, "en"), f.name
        else:
            assert f.min_value is not None and f.max_value is not None, f.name
            assert f.min_value < f.max_value, f.name
        assert not SENSITIVE.search(" ".join((f.name, *f.source_columns)))
        if AGE_OR_SEX.search(" ".join(f.source_columns)):
            assert f.why_kept, f"{f.name} derives from age or sex without a stated reason"
    # The catalog carries no simulator truth: planted drivers, noise and proxies are named in
    # truth/drivers.json (data_samples/city/feature_truth.py), never in the catalog.
    assert not {"driver", "noise"} & set(FeatureDef.__dataclass_fields__)


def test_helpers_agree_with_the_catalog() -> None:
    for slug, entries in CATALOG.items():
        assert catalog.feature_names(slug.replace("_", "-")) == [f.name for f in entries]
        constraints = catalog.monotone_constraints(slug)
        assert len(constraints) == len(entries)
        assert all(
            c == 0 for c, f in zip(constraints, entries, strict=True) if f.dtype == "category"
        )
        assert set(catalog.category_features(slug)) == {
            f.name for f in entries if f.dtype == "category"
        }
    with pytest.raises(KeyError):
        catalog.features("no-such-task")


@pytest.mark.parametrize("slug", list(TASKS))
def test_dataset_columns_follow_the_catalog(slug: str, labelled) -> None:
    frame = labelled[slug]
    names = catalog.feature_names(slug)
    assert list(frame.columns) == ["entity_id", "as_of", "label", *names, *AUDIT_COLUMNS[slug]]
    assert frame["entity_id"].dtype == "str"
    assert frame["as_of"].dtype == "datetime64[ns]"
    assert frame["label"].dtype == np.int8 and set(frame["label"].unique()) == {0, 1}
    assert not frame.duplicated(["entity_id", "as_of"]).any()
    expected = {"float": np.float64, "int": np.int64, "bool": np.bool_}
    for f in CATALOG[slug]:
        column = frame[f.name]
        if f.dtype == "category":
            assert isinstance(column.dtype, pd.CategoricalDtype)
            assert list(column.cat.categories) == list(f.categories)
            assert column.notna().all(), f.name
            continue
        assert column.dtype == expected[f.dtype], (f.name, column.dtype)
        values = column.dropna().astype(float)
        assert values.between(f.min_value, f.max_value).all(), (f.name, values.min(), values.max())
    for name in AUDIT_COLUMNS[slug]:
        assert frame[name].notna().all(), name


def test_the_catalog_version_follows_its_content() -> None:
    import dataclasses

    assert catalog._content_version(CATALOG) == catalog.CATALOG_VERSION
    first, *rest = CATALOG["wage_arrears"]
    edited = {**CATALOG, "wage_arrears": (dataclasses.replace(first, direction=0), *rest)}
    assert catalog._content_version(edited) != catalog.CATALOG_VERSION


# words that end the counted noun phrase after "1 ", and words that only look plural
_PHRASE_ENDS = {
    "by",
    "in",
    "of",
    "from",
    "about",
    "so",
    "involved",
    "involving",
    "ago",
    "on",
    "answered",
}
_NOT_PLURAL = {"overseas", "sms", "wage-arrears"}


@pytest.mark.parametrize("slug", list(CATALOG))
def test_english_reasons_agree_in_number_with_a_count_of_one(slug: str) -> None:
    """A count of one reads "1 complaint", not "1 complaints", in every English reason: an
    integer 1, a float 1.0 and a value shown as 1 (0.9999 to no decimals)."""
    for f in CATALOG[slug]:
        if f.dtype not in ("int", "float") or "{value" not in f.reason_en:
            continue
        texts = [f.reason_text(value, "en") for value in (1, 1.0, 0.9999)]
        for tail in re.findall(r"\b1 (.*)", " | ".join(texts)):
            phrase = []
            for word in tail.split():
                if word in _PHRASE_ENDS or not re.fullmatch(r"[\w-]+", word):
                    break
                phrase.append(word)
            plural = [w for w in phrase if w.endswith("s") and w.lower() not in _NOT_PLURAL]
            assert not plural, (f.name, texts)


def test_plural_markers_pick_the_form_by_the_value() -> None:
    template = "{value:.0f} [complaint|complaints] about {label}"
    assert fill_reason(template, 1, "wages") == "1 complaint about wages"
    assert fill_reason(template, 1.0, "wages") == "1 complaint about wages"
    assert fill_reason(template, 0, "wages") == "0 complaints about wages"
    assert fill_reason(template, 3, "wages") == "3 complaints about wages"
    assert fill_reason("{value} [a|b] and [c|d]", 2) == "2 b and d"
    # by the number as it reads: 0.999 shown as "1" is one, 1.04 shown as "1.0" is not
    assert fill_reason("{value:,.0f} insured [employee|employees]", 0.999) == ("1 insured employee")
    assert fill_reason("in {value:.1f} [month|months]", 1.04) == "in 1.0 months"
    assert fill_reason("in {value:.1f} [month|months]", 1.0) == "in 1 month"
    # a number that rounds to zero reads "about 0", with no decimals
    assert fill_reason("in {value:.1f} [month|months]", 1e-12) == "in about 0 months"


def test_a_whole_number_shown_to_one_decimal_reads_without_it() -> None:
    """ "距春节11个月", not "距春节11.0个月"; a fraction keeps its decimal; -0.0 reads 0."""
    assert fill_reason("距春节{value:.1f}个月", 11.0) == "距春节11个月"
    assert fill_reason("Spring Festival in {value:.1f} months", 10.5) == (
        "Spring Festival in 10.5 months"
    )
    assert fill_reason("{value:.1f}x the usual day", -0.0) == "0x the usual day"
    assert fill_reason("{value:.0%} of the year", 0.25) == "25% of the year"
    assert fill_reason("no marker {value:.1f}", 1) == "no marker 1.0"
