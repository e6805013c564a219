"""The scorer: exact additivity, reasons, sentences, levels and actions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.risk_model import RiskModel, feature_columns, model_matrix
from models.scorer import reason_rows, reason_sentence, score_arrays, score_frame

SUFFIX_EN = {"raises": " (raises risk)", "lowers": " (lowers risk)", "neutral": " (no effect)"}
SUFFIX_ZH = {"raises": "（风险上升）", "lowers": "（风险下降）", "neutral": "（无影响）"}


def test_contributions_plus_base_equal_raw_margin(
    dispute_model: tuple[RiskModel, pd.DataFrame],
) -> None:
    model, frame = dispute_model
    arrays = score_arrays(model, frame)
    booster_margin = model.booster_.predict(model_matrix(model.spec, frame), raw_score=True)
    assert arrays.contributions is not None
    np.testing.assert_allclose(
        arrays.contributions.sum(axis=1) + arrays.base_value, booster_margin, rtol=0, atol=1e-9
    )
    for record in score_frame(model, frame.head(50)):
        total = sum(record.contributions.values()) + record.base_value
        assert total == pytest.approx(record.raw_margin, abs=1e-9)


def test_vectorised_and_record_paths_agree(
    telecom_model: tuple[RiskModel, pd.DataFrame],
) -> None:
    model, frame = telecom_model
    arrays = score_arrays(model, frame)
    records = score_frame(model, frame, explain=False)
    # bit for bit: explained or not, and as the model's own predict_proba (the pyfunc's)
    assert [r.score for r in records] == arrays.scores.tolist()
    assert [r.raw_margin for r in records] == arrays.raw_margin.tolist()
    assert [r.risk_level for r in records] == arrays.levels.tolist()
    assert [r.entity_id for r in records] == frame["entity_id"].tolist()
    assert all(r.reasons == [] and r.contributions == {} for r in records)
    assert arrays.scores.tolist() == model.predict_proba(frame).tolist()
    one_by_one = [score_arrays(model, frame.iloc[[i]]).scores[0] for i in range(20)]
    assert one_by_one == arrays.scores[:20].tolist()


def test_reasons_are_top_k_by_magnitude_in_both_languages(
    telecom_model: tuple[RiskModel, pd.DataFrame],
) -> None:
    model, frame = telecom_model
    english = score_frame(model, frame.head(20), top_k=4, lang="en")
    chinese = score_frame(model, frame.head(20), top_k=4, lang="zh")
    for en, zh in zip(english, chinese, strict=True):
        assert len(en.reasons) == 4
        magnitudes = [abs(r.contribution) for r in en.reasons]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert magnitudes[0] == pytest.approx(max(abs(v) for v in en.contributions.values()))
        for reason_en, reason_zh in zip(en.reasons, zh.reasons, strict=True):
            assert reason_en.sentence.endswith(SUFFIX_EN[reason_en.direction])
            assert reason_zh.sentence.endswith(SUFFIX_ZH[reason_zh.direction])
            assert (reason_en.direction == "raises") == (reason_en.contribution > 0)
            assert (reason_en.direction == "lowers") == (reason_en.contribution < 0)
            assert reason_zh.label == model.spec.feature(reason_zh.feature).label_zh


def test_zero_contribution_is_neutral_not_lowering(
    telecom_model: tuple[RiskModel, pd.DataFrame],
) -> None:
    model, frame = telecom_model
    names = model.spec.feature_names
    unused = {
        n for n, gain in zip(names, model.booster_.feature_importance(), strict=True) if gain == 0
    }
    assert unused, "the fixture model should leave a feature unsplit (contribution exactly 0)"
    top_k = len(names)
    for lang, suffixes in (("en", SUFFIX_EN), ("zh", SUFFIX_ZH)):
        for record in score_frame(model, frame.head(10), top_k=top_k, lang=lang):
            assert len(record.reasons) == top_k
            neutral = {r.feature for r in record.reasons if r.direction == "neutral"}
            assert neutral >= unused
            for reason in record.reasons:
                assert (reason.direction == "neutral") == (reason.contribution == 0.0)
                assert reason.sentence.endswith(suffixes[reason.direction])
            assert not any(a.trigger == f"reason:{f}" for a in record.actions for f in neutral)


def test_reason_sentences_from_catalog_templates() -> None:
    from models.spec import get_spec

    spec = get_spec("wage-arrears")
    si = spec.feature("si_arrears_months_6m")
    assert reason_sentence(si, 3, "raises", "en") == (
        "3 of the last 6 reported months with unpaid social insurance (raises risk)"
    )
    assert reason_sentence(si, 3, "raises", "zh") == "近6个申报月中3个月社保欠缴（风险上升）"
    listed = spec.feature("abnormal_listed")
    assert reason_sentence(listed, False, "lowers", "en") == f"{listed.label_en}: no (lowers risk)"
    assert reason_sentence(si, None, "lowers", "en") == f"{si.label_en}: no data (lowers risk)"


def test_a_batch_words_minus_zero_and_zero_apart_where_they_read_apart() -> None:
    """A batch words each (feature, value, direction) once; -0.0 == 0.0, and a float feature
    without a template reads them "-0" and "0", so the memo keeps them apart."""
    import dataclasses

    from models.scorer import _reason_dict
    from models.spec import get_spec

    spec = get_spec("wage-arrears")
    bare = dataclasses.replace(spec.feature("si_shortfall_ratio_3m"), reason_en="", reason_zh="")
    memo: dict[tuple[object, ...], str] = {}
    words = [
        _reason_dict(bare, bare.label_en, 0, 0.5, value, "en", memo)["sentence"]
        for value in (-0.0, 0.0, -0.0)
    ]
    assert words == [
        f"{bare.label_en}: -0 (raises risk)",
        f"{bare.label_en}: 0 (raises risk)",
        f"{bare.label_en}: -0 (raises risk)",
    ]
    assert len(memo) == 2


def test_stored_reasons_read_in_the_pages_language_whatever_they_were_scored_in() -> None:
    """The one re-wording of stored reasons the case page, the explanation page and their
    charts share: catalog labels, sentences and category words in the page's language; a
    feature the catalog no longer knows, or a value its template cannot take, keeps what was
    stored."""
    from models.spec import get_spec

    spec = get_spec("dispute-escalation")
    stored = [
        {"feature": "dispute_type", "value": "labour", "contribution": 0.4, "actionable": True,
         "label": "Dispute type", "sentence": "Dispute type: labour (raises risk)"},
        {"feature": "retired_feature", "value": 2.0, "contribution": -0.1,
         "label": "A feature since removed", "sentence": "kept as stored"},
    ]  # fmt: skip
    zh = reason_rows(stored, spec, "zh")
    assert [row.label for row in zh] == [
        spec.feature("dispute_type").label_zh,
        "A feature since removed",
    ]
    assert zh[0].value == "劳资" and zh[0].raw_value == "labour" and zh[0].actionable
    assert zh[0].sentence.endswith("（风险上升）") and "labour" not in zh[0].sentence
    assert zh[1].sentence == "kept as stored" and zh[1].definition is None and not zh[1].actionable
    assert zh[0].bar("en").value == "labour" and zh[0].bar("zh").value == "劳资"
    en = reason_rows(stored, spec, "en")
    assert en[0].label == en[0].label_en and en[0].sentence.endswith("(raises risk)")
    assert en[1].contribution == -0.1


def test_actions_follow_level_and_skip_non_actionable(
    telecom_model: tuple[RiskModel, pd.DataFrame],
) -> None:
    model, frame = telecom_model
    records = score_frame(model, frame, top_k=5)
    assert {r.risk_level for r in records} >= {"red", "green"}
    for record in records:
        if record.risk_level == "green":
            assert record.actions == []
            continue
        assert record.actions[0].trigger == f"level:{record.risk_level}"
        for action in record.actions[1:]:
            feature = model.spec.feature(action.trigger.removeprefix("reason:"))
            assert feature.actionable
            reason = next(r for r in record.reasons if r.feature == feature.name)
            assert reason.direction == "raises"


def test_empty_frame_scores_to_nothing(telecom_model: tuple[RiskModel, pd.DataFrame]) -> None:
    model, frame = telecom_model
    assert score_frame(model, frame.head(0)) == []
    assert score_arrays(model, frame.head(0)).scores.shape == (0,)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("explain", [True, False])
def test_scored_dicts_are_scored_records_as_dicts(
    telecom_model: tuple[RiskModel, pd.DataFrame], lang: str, explain: bool
) -> None:
    """The service's dict path words every reason and action as `scored_records` does, also
    for repeated values (its sentence and action memo) and values such as -0.0 and NaN."""
    from dataclasses import asdict

    from models.risk_model import feature_columns
    from models.scorer import scored_dicts, scored_records

    model, frame = telecom_model
    frame = pd.concat([frame.head(200), frame.head(50)], ignore_index=True)
    floats = [f.name for f in model.spec.features if f.dtype == "float"]
    frame.loc[:9, floats[0]] = -0.0
    frame.loc[10:19, floats[0]] = np.nan
    frame.loc[20:29, floats[0]] = 0.0  # the memo must not word -0.0 as 0.0 or back
    columns = feature_columns(model.spec, frame)
    arrays = score_arrays(model, frame, explain=explain, columns=columns)
    want = scored_records(model, arrays, columns, explain=explain, top_k=6, lang=lang)  # type: ignore[arg-type]
    got = scored_dicts(model, arrays, columns, explain=explain, top_k=6, lang=lang)  # type: ignore[arg-type]
    assert got == [asdict(record) for record in want]
    assert [list(row) for row in got] == [list(asdict(record)) for record in want]
    if explain:
        assert any(r["value"] is None for row in got for r in row["reasons"])


def test_actions_do_not_depend_on_how_many_reasons_are_shown(
    telecom_model: tuple[RiskModel, pd.DataFrame],
) -> None:
    """A record's actions are its level's and those of the actionable risk-raising features
    among its ACTION_REASONS largest contributions, at any `top_k`; both paths agree."""
    from models.scorer import ACTION_REASONS, scored_dicts

    model, frame = telecom_model
    columns = feature_columns(model.spec, frame)
    arrays = score_arrays(model, frame, columns=columns)
    by_k = {
        k: [r["actions"] for r in scored_dicts(model, arrays, columns, top_k=k)]
        for k in (1, 2, ACTION_REASONS, 12)
    }
    assert all(actions == by_k[ACTION_REASONS] for actions in by_k.values())
    assert any(a["trigger"].startswith("reason:") for row in by_k[1] for a in row)
    records = score_frame(model, frame, top_k=1)
    assert [
        [{"department": a.department, "action": a.action, "trigger": a.trigger} for a in r.actions]
        for r in records
    ] == by_k[1]


@pytest.mark.parametrize(("explain", "top_k"), [(False, 5), (True, 2), (True, 5)])
def test_a_warned_row_keeps_five_reasons_whatever_was_asked(
    telecom_model: tuple[RiskModel, pd.DataFrame], explain: bool, top_k: int
) -> None:
    """`with_warning_reasons`: each warned row gets the reasons and actions an explained
    request with five reasons gives it (the rows not explained are explained from the
    matrix); green rows are the same dicts; without a matrix to explain from, a ValueError."""
    from models.risk_model import feature_matrix
    from models.scorer import ACTION_REASONS, scored_dicts, with_warning_reasons

    model, frame = telecom_model
    columns = feature_columns(model.spec, frame)
    matrix = feature_matrix(model.spec, frame, columns)
    reference = scored_dicts(model, score_arrays(model, frame, columns=columns), columns)
    arrays = score_arrays(model, frame, explain=explain, columns=columns)
    asked = scored_dicts(model, arrays, columns, explain=explain, top_k=top_k)
    kept = with_warning_reasons(model, arrays, matrix, columns, asked, explain=explain, top_k=top_k)
    warned = [row for row, r in enumerate(reference) if r["risk_level"] != "green"]
    assert warned and len(warned) < len(reference)
    for row, (own, expected) in enumerate(zip(kept, reference, strict=True)):
        if row in warned:
            assert len(own["reasons"]) == ACTION_REASONS
            assert own["reasons"] == expected["reasons"] and own["actions"] == expected["actions"]
            assert own["score"] == expected["score"]
        else:
            assert own is asked[row]
    if not explain:
        with pytest.raises(ValueError, match="feature matrix"):
            with_warning_reasons(model, arrays, None, columns, asked, explain=False, top_k=5)


@pytest.mark.parametrize("model_name", ["telecom_model", "dispute_model"])
def test_a_feature_with_no_data_triggers_no_action(
    model_name: str, request: pytest.FixtureRequest
) -> None:
    """ "No data" on an actionable feature may raise the risk (it stays a reason), but asks no
    department to act on a value nobody has: no `reason:<feature>` action comes from it, on
    the dataclass path and the service's dict path alike. The same contributions are read
    with the triggering features' values blanked, so only the values differ."""
    from models.scorer import ACTION_REASONS, scored_dicts, scored_records

    model, frame = request.getfixturevalue(model_name)
    columns = feature_columns(model.spec, frame)
    arrays = score_arrays(model, frame, columns=columns)
    before = scored_records(model, arrays, columns, top_k=ACTION_REASONS)  # type: ignore[arg-type]
    names = list(model.spec.feature_names)
    blanked = [np.asarray(column, dtype=object).copy() for column in columns]
    triggered: dict[int, set[str]] = {}
    for row, record in enumerate(before):
        for action in record.actions:
            if action.trigger.startswith("reason:"):
                feature = action.trigger.removeprefix("reason:")
                blanked[names.index(feature)][row] = None
                triggered.setdefault(row, set()).add(feature)
    assert triggered, "the fixture model should trigger some reason actions"
    after = scored_records(model, arrays, blanked, top_k=ACTION_REASONS)  # type: ignore[arg-type]
    dicts = scored_dicts(model, arrays, blanked, top_k=ACTION_REASONS)  # type: ignore[arg-type]
    for row, features in triggered.items():
        record = after[row]
        assert not {a.trigger.removeprefix("reason:") for a in record.actions} & features
        assert record.actions[0].trigger == f"level:{record.risk_level}"  # the level's stay
        # still reasons, read as "no data", raising the risk
        shown = {r.feature: r for r in record.reasons}
        assert all(shown[f].value is None and shown[f].direction == "raises" for f in features)
        assert [a["trigger"] for a in dicts[row]["actions"]] == [a.trigger for a in record.actions]
