"""Every word of the model report, in English and Chinese: the one place its texts live (the
Chinese catalogue in `training.report_words_zh`).

`training.report` and `templates/report.html` ask a `Words` for a text by key, so the two
editions share one template and one set of section ids. A text is a `str.format` pattern
over named values (numbers arrive already formatted). Chart texts are looked up in the
language the chart is drawn in (`models.explain_plots.plot_language`): without a CJK font the
Chinese edition's charts stay in English, as the page's note says, and never draw empty boxes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from features.catalog import AGE_BAND_WORDS, CATALOG, FeatureDef
from models.pages import REPORT_LANGS
from training.report_words_zh import ZH

ReportLang = Literal["en", "zh"]

_EN: dict[str, str] = {
    "title": "riskloop model report: {task}{version}",
    "generated": "Generated {generated}. Labels in English and Chinese (中文).",
    "city_time": "{time} (Beijing time)",  # the city's clock, as the console shows every time
    "font_note": "{note}",
    "sep": " ",  # between two sentences of one paragraph
    # section titles and the table of contents
    "title.model-card": "1. Model card",
    "title.performance": "2. Performance on the test slice",
    "title.global-explanations": "3. Global explanations",
    "title.fairness": "4. Fairness by audit group",
    "title.fidelity": "5. Explanation fidelity against the simulated truth",
    "title.warnings-sample": "6. Sample warnings",
    "contents.model-card": "Model card",
    "contents.performance": "Performance",
    "contents.global-explanations": "Global explanations",
    "contents.fairness": "Fairness",
    "contents.fidelity": "Explanation fidelity",
    "contents.warnings-sample": "Sample warnings",
    "contents": "Contents",
    # 1. model card
    "card.task": "Task",
    "card.unit": "Unit",
    "card.label": "Label",
    "card.horizon": "Horizon",
    "card.model": "Model",
    "card.run": "MLflow run",
    "card.trained_at": "Trained at",
    "card.commit": "Code commit",
    "card.catalog": "Feature catalog",
    "card.train_range": "Training data (as-of range)",
    "card.train_rows": "Training rows",
    "card.train_rate": "Training positive rate",
    "card.valid_range": "Validation as-of range",
    "card.calibrator": "Calibrator fitted on",
    "card.test": "Test slice",
    "card.fingerprint": "Dataset fingerprint",
    "card.truth": "Ground truth",
    "card.horizon_months": "{n} calendar months",
    "card.horizon_days": "{n} days",
    "card.task_value": "{task} ({slug})",
    "card.model_value": "{name} version {version}",
    "card.alias": " (alias {alias})",
    "card.promotion": "How it became champion",
    "card.promotion_first": "first version of the task (champion from its training)",
    "card.promotion_rule": "promoted by the rule: {reason}",
    "card.promotion_forced": "FORCED past the promotion rule: {reason}",
    # the promotion's reason (`training.promote`'s tag), rebuilt from its parts
    "reason.not_worse": "challenger not worse: AUC change {auc}, ECE change {ece}",
    "reason.worse": "challenger is worse: {problems}",
    "reason.auc_lower": "AUC {amount} lower (limit {limit})",
    "reason.ece_higher": "ECE {amount} higher (limit {limit})",
    "reason.problems_separator": "; ",
    "reason.undefined": "AUC or ECE undefined on the test slice",
    "reason.no_champion": "no champion yet",
    "reason.first": "first version of {task}",
    "reason.champion_unusable": "the champion could not be evaluated ({detail})",
    "list.separator": ", ",
    "card.catalog_value": "{version}, {n} features",
    "card.calibration_rows": "{n} held-out rows (validation slice plus purge-gap rows of "
    "entities with no training row)",
    "card.calibration_valid": "the validation slice",
    "card.test_value": "{rows} rows, as-of {first}..{last}, positive rate {rate}",
    "card.test_empty": "empty",
    "card.truth_files": "simulated city truth files",
    "card.truth_none": "not available",
    "card.data_rebuilt": "Test slice rebuilt from {raw} (dataset fingerprint {fingerprint}).",
    "card.data_changed": "Test slice rebuilt from {raw}; its dataset fingerprint {fingerprint} "
    "differs from the training run's {logged}: the data changed since training.",
    "card.data_other": "Test slice rebuilt from {raw}, other data than the version was trained "
    "on (dataset fingerprint {fingerprint}, not the training run's {logged}); the training "
    "facts above are the run's.",
    "card.not_recorded": "not recorded by the training run",
    "card.parameters": "Parameters",
    "card.parameter": "parameter",
    "card.value": "value",
    "card.yes": "yes",
    "card.no": "no",
    "card.levels": "Risk levels",
    "card.level": "level",
    "card.capacity": "capacity (share of population)",
    "card.lowest_score": "lowest calibrated score",
    "card.intended_use": "Intended use",
    "card.known_limits": "Known limits",
    "card.protected": "Protected and proxy attributes used as features",
    "card.protected_intro": "Age and sex may be used only with a stated reason, and a place "
    "can stand for migrant status (PIPL art. 24: automated decisions must be fair and "
    "explainable). Each feature derived from one, with the reason its catalog entry states; "
    "section 4 audits the model by group.",
    "card.protected_none": "No feature is derived from a protected attribute (age, sex) or a "
    "proxy of one (place).",
    "card.protected_feature": "feature",
    "card.protected_attribute": "derived from",
    "card.protected_reason": "stated reason (feature catalog)",
    "card.protected_no_reason": "NO STATED REASON: the catalog must give one before this "
    "model serves.",
    "card.attribute_age": "age",
    "card.attribute_sex": "sex",
    "card.attribute_place": "place (can stand for migrant status)",
    # 2. performance
    "perf.slice": "Test slice: {rows} rows, {positives} positives.",
    "perf.oracle": "Oracle figures score the same rows by the simulated true probability: "
    "the best any model could do.",
    "perf.no_oracle": "No ground truth given: oracle figures are not available.",
    "perf.oracle_not_in_run": "The training run recorded no oracle figures (it was trained "
    "without ground truth): these are measured for this report from the city folder's truth, "
    "so `riskloop models` shows no lift for this version.",
    "perf.metrics": "Metrics",
    "perf.metric": "metric",
    "perf.model": "model",
    "perf.oracle_column": "oracle",
    "perf.few_positives": "The test slice holds only {positives} positives (fewer than "
    "{threshold}): the model's ROC-AUC has a 95% interval of {interval} (Hanley & McNeil), and "
    "PR-AUC, ECE and lift are as uncertain; read these metrics as rough.",
    "metric.roc_auc": "ROC-AUC",
    "metric.pr_auc": "PR-AUC (average precision)",
    "metric.brier": "Brier score",
    "metric.ece": "Expected calibration error (10 score deciles)",
    "metric.lift": "Share of the oracle's lift recovered, (AUC-0.5)/(oracle AUC-0.5)",
    "metric.positive_rate": "Positive rate",
    "metric.mean_score": "Mean calibrated score",
    "perf.capacity": "Precision and recall at each risk level's capacity",
    "perf.capacity_note": "Levels are cumulative: 'orange and above' counts red and orange "
    "warnings. The oracle column flags the same number of units, ranked by true probability.",
    "perf.warned": "warned",
    "perf.capacity_column": "capacity",
    "perf.units_warned": "units warned",
    "perf.share_warned": "share warned",
    "perf.precision": "precision",
    "perf.recall": "recall",
    "perf.oracle_precision": "oracle precision",
    "perf.oracle_recall": "oracle recall",
    "perf.level_and_above": "{level} and above",
    # 3. global explanations
    "expl.intro": "Exact TreeSHAP contributions (log-odds) on {rows} test rows{sampled}",
    "expl.sampled": " (a seeded sample).",
    "expl.all": ".",
    "expl.bar_alt": "Mean absolute SHAP value per feature",
    "expl.beeswarm_alt": "Beeswarm of SHAP values per feature",
    "expl.dependence": "Dependence plots of the top {n} features",
    "expl.dependence_alt": "Dependence plot of {label}",
    "expl.ranking": "Importance ranking",
    "expl.rank": "rank",
    "expl.feature": "feature",
    "expl.column": "column",
    "expl.planted_driver": "planted driver",
    "expl.mean_shap": "mean |SHAP|",
    # 4. fairness
    "fair.rule": "Warned = risk level yellow or above. False-positive rate (FPR) = warned "
    "units without the event / units without the event. Brackets give a rate's {confidence} "
    "interval (exact, Clopper-Pearson). Score / observed = a group's mean score / its base rate. "
    "Highlighted, a gap: score / observed, or a group's precision, recall or FPR divided by the "
    "whole test slice's (precision {precision}, recall {recall}, FPR {fpr}), is outside "
    "{low}–{high}, and the group's own interval excludes the value it is compared with (for "
    "calibration: the base rate's interval excludes the mean score), so the gap is not chance. "
    "Too few to tell: outside those bounds, but the group's interval still covers the value it "
    "is compared with, so its units cannot tell a gap from chance. Warning rates are shown, "
    "not judged: groups' base rates differ.",
    "fair.missing": "Audit columns missing from the test slice: {columns}",
    "fair.none": "The test slice has no audit columns.",
    "fair.group": "group",
    "fair.rows": "rows",
    "fair.positives": "positives",
    "fair.warned": "warned",
    "fair.base_rate": "base rate",
    "fair.mean_score": "mean score",
    "fair.score_ratio": "score / observed",
    "fair.warning_rate": "warning rate",
    "fair.precision": "precision",
    "fair.recall": "recall",
    "fair.fpr": "false-positive rate",
    "fair.interval": "[{low}–{high}]",
    "fair.too_few": "too few to tell",
    "fair.highlighted": "{n} gap(s) highlighted.",
    "fair.no_gap": "No gap beyond the bounds.",
    "fair.too_few_count": "{n} figure(s) rest on too few units to tell.",
    # a highlighted cell, for a screen reader: a gap either way (a rate too high or too low)
    "fair.gap_cell": " (a gap beyond the bounds)",
    # 5. fidelity
    "fid.no_roles": "The truth (truth/drivers.json) names no planted-driver or no noise feature.",
    "fid.rule": "Rule: a planted driver's importance is the mean |SHAP| of the catalog "
    "features that measure it (as truth/drivers.json names them), summed; the check passes "
    "when every driver's importance is above the mean |SHAP| of every noise and proxy "
    "feature. Several features can measure one driver and share its credit, so single "
    "features are listed below for reference and not judged one by one.",
    "fid.drivers": "Check: every planted driver should rank above every noise or proxy "
    "feature. Strongest noise or proxy feature: {noise}{below}",
    "fid.noise_value": "{name} ({value})",
    "fid.none": "none",
    "fid.below": "; drivers at or below it: {drivers}.",
    "fid.end": ".",
    "fid.driver_or_noise": "driver, noise or proxy feature",
    "fid.kind": "kind",
    "fid.driver_importance": "mean |SHAP| (drivers: summed over features)",
    "fid.features_pass": "For reference, single features: every planted-driver feature is "
    "above every noise or proxy feature.",
    "fid.features_fail": "For reference, single features: the weakest planted-driver "
    "feature, {weakest} is not above the strongest noise or proxy feature (flagged rows below).",
    "fid.weakest": "{name} ({value}),",
    "fid.weakest_none": "none,",
    "fid.feature": "feature",
    "fid.measures": "planted driver it measures (or noise, proxy)",
    "fid.mean_shap": "mean |SHAP|",
    "fid.missing_drivers": "Planted drivers without any catalog feature: {drivers}",
    "fid.no_units": "No unit truth given: the top-reason check is skipped.",
    "fid.top_reasons": "Units with a single dominant driver: {units} (of the {explained} "
    "explained rows); its driver is among the top-{k} reasons, ranked by |contribution| as "
    "the scorer shows them, for {hits} ({share}; target {target}).",
    "fid.top_raising": "Among the top-{k} contributions that raise the risk (the truth's "
    "dominant driver is the largest push up; reasons that lower the risk, such as an absent "
    "driver, can outrank it by |contribution|): {hits} ({share}).",
    "fid.miss_note": "How to read a miss: both the truth and SHAP measure a driver's push "
    "against the average unit, so a miss means the model spread the driver's effect over "
    "other features or learned it weakly; reasons that lower the risk (a driver the unit "
    "lacks) can also outrank a modest dominant push by |contribution|.",
    "fid.dominant": "dominant driver",
    "fid.units": "units",
    "fid.in_top": "in top {k} reasons",
    "fid.share": "share",
    "fid.in_top_raising": "in top {k} raising",
    "fid.share_raising": "share raising",
    # names of the three tables' scroll boxes, and a highlighted row in words
    "fid.drivers_table": "Planted drivers, noise and proxy features by importance",
    "fid.features_table": "Single features by importance",
    "fid.per_driver_table": "Dominant drivers in the top {k} reasons",
    "fid.flagged": " (not above the strongest noise or proxy feature)",
    "verdict.pass": "PASS",
    "verdict.fail": "FAIL",
    "kind.planted driver": "planted driver",
    "kind.noise": "noise",
    "kind.proxy": "proxy",
    # 6. sample warnings
    "sample.intro": "Up to {n} warnings per level, drawn with a fixed seed. Entity identifiers "
    "are left out on purpose.",
    "sample.none": "No unit in the test slice reaches a warning level.",
    "sample.heading": "Sample {n}: ",
    "sample.heading_end": " score {score}, as of {as_of}",
    "sample.waterfall_alt": "Waterfall of sample warning {n}",
    "sample.contribution": "contribution (log-odds)",
    "sample.reason": "reason",
    "sample.reasons_table": "Reasons of sample warning {n}",
    # charts (looked up in the language the chart is drawn in)
    "chart.model": "model",
    "chart.oracle": "oracle (true probability)",
    "chart.chance": "chance",
    "chart.roc": "ROC curve",
    "chart.fpr": "false positive rate",
    "chart.tpr": "true positive rate (recall)",
    "chart.pr": "Precision-recall curve",
    "chart.recall": "recall",
    "chart.precision": "precision",
    "chart.perfect": "perfect calibration",
    "chart.model_deciles": "model (score deciles)",
    "chart.reliability_x": "mean calibrated score in bin (probability)",
    "chart.reliability_y": "observed positive rate in bin",
    "chart.reliability": "Reliability: observed rate vs. score",
    "chart.roc_alt": "ROC curve of the model and the oracle",
    "chart.pr_alt": "Precision-recall curve of the model and the oracle",
    "chart.reliability_alt": "Reliability plot of calibrated scores",
    "chart.importance": "Global importance: mean |SHAP| on the test slice",
    "chart.beeswarm": "SHAP values per record (colour: feature value, low to high)",
    "chart.no": "no",
    "chart.yes": "yes",
}

_LIMITS: dict[str, tuple[str, ...]] = {
    "en": (
        "Trained and evaluated on a simulated city: figures describe that city, not a real one.",
        "Labels record detection, not occurrence: under-reported groups look safer than they are.",
        "Interventions change outcomes: a prevented event is not a false alarm, and a model "
        "retrained on closed warnings learns from the city's own actions.",
        "Thresholds come from capacity on the validation slice; a shifted population changes "
        "the warning volume (watch `riskloop monitor`).",
        "Reasons are SHAP contributions of the model, not causes: they say what moved the score.",
    ),
    "zh": (
        "模型在模拟城市上训练和评估：各项数字描述的是这座模拟城市，而非真实城市。",
        "标签记录的是“被发现”，而非“实际发生”：漏报多的群体看上去比实际更安全。",
        "干预会改变结果：被成功预防的事件并非误报；用已办结预警重新训练的模型，学到的也包含"
        "城市自身处置行为的影响。",
        "预警阈值按验证集上的处置容量确定；人群分布发生变化时，预警数量随之变化"
        "（请关注 `riskloop monitor` 的监测结果）。",
        "预警原因是模型的 SHAP 贡献值，不是因果关系：它说明的是哪些因素改变了评分。",
    ),
}

# a dependence plot's unit in Chinese (other units, and every English one, as the catalog has it)
_UNITS_ZH: Mapping[str, str] = {
    "CNY": "元",
    "months": "月",
    "days": "天",
    "years": "年",
    "minutes": "分钟",
    "persons": "人",
    "ratio": "比率",
    "count": "个数",
}

# the console's names for the levels (serving/console/messages), which training cannot read
_LEVELS: dict[str, Mapping[str, str]] = {
    "en": {"red": "red", "orange": "orange", "yellow": "yellow", "green": "green"},
    "zh": {"red": "红色", "orange": "橙色", "yellow": "黄色", "green": "绿色"},
}

# audit columns as a heading names them (English: the column without its prefix)
_AUDIT_COLUMNS_ZH: Mapping[str, str] = {
    "audit_district": "所属区县",
    "audit_sector": "行业",
    "audit_size_band": "企业规模",
    "audit_age_band": "年龄段",
    "audit_sex": "性别",
    "audit_dispute_type": "纠纷类型",
    "audit_feedback_outcome": "处置结果",
}

#: Closing outcomes of warnings (the feedback audit column) as the console's catalogue names
#: them (`outcome.*`; `tests/reports/test_report_words.py` holds the two alike); "" is a unit
#: no closed warning labelled.
OUTCOME_WORDS: Mapping[str, tuple[str, str]] = {
    "": ("no feedback", "无反馈"),
    "confirmed": ("confirmed", "风险属实"),
    "prevented": ("prevented", "已化解"),
    "false_alarm": ("false alarm", "误报"),
    "unreachable": ("unreachable", "无法联系"),
}

#: Registry aliases in words: `champion` as the console names the version in use.
ALIAS_WORDS: Mapping[str, tuple[str, str]] = {
    "champion": ("champion", "在用模型版本"),
    "challenger": ("challenger", "挑战者"),
}

#: The city's districts as the console names them (its catalogue's `district.*`, which the
#: report cannot read; `tests/console/test_words.py` holds the two alike).
DISTRICT_WORDS: Mapping[str, tuple[str, str]] = {
    "wuxing": ("Wuxing", "吴兴区"),
    "nanxun": ("Nanxun", "南浔区"),
    "deqing": ("Deqing", "德清县"),
    "changxing": ("Changxing", "长兴县"),
    "anji": ("Anji", "安吉县"),
}
_SEX_WORDS: Mapping[str, tuple[str, str]] = {"f": ("female", "女"), "m": ("male", "男")}

_CATALOGUES: dict[str, dict[str, str]] = {"en": _EN, "zh": ZH}


@dataclass(frozen=True)
class Words:
    """The report's texts in one language; call it with a key and the pattern's values."""

    lang: ReportLang

    def __call__(self, key: str, **values: object) -> str:
        return _CATALOGUES[self.lang][key].format(**values)

    @property
    def known_limits(self) -> tuple[str, ...]:
        return _LIMITS[self.lang]

    def level(self, level: str) -> str:
        """A risk level's name (`red` -> 红色)."""
        return _LEVELS[self.lang].get(level, level)

    def kind(self, kind: str) -> str:
        """A fidelity row's kind: planted driver, noise or proxy in words; a driver's own name
        (an identifier of the truth) as it is."""
        return _CATALOGUES[self.lang].get(f"kind.{kind}", kind)

    def aliases(self, aliases: str) -> str:
        """Registry aliases ("challenger, champion") in words: the codes in English, in Chinese
        the console's words with the code in brackets (在用模型版本（champion）)."""
        codes = [code.strip() for code in aliases.split(",") if code.strip()]
        if self.lang == "en":
            return ", ".join(codes)
        return "、".join(
            f"{ALIAS_WORDS[code][1]}（{code}）" if code in ALIAS_WORDS else code for code in codes
        )

    def promotion_reason(self, reason: str) -> str:
        """A promotion's reason (the version's `riskloop.promotion_reason` tag, in the forms
        `training.promote` writes, old tags too) in this language
        (`training.promotion_words.reason_in_words`)."""
        from training.promotion_words import reason_in_words

        return reason_in_words(reason, self)

    def unit(self, unit: str) -> str:
        """A catalog unit as a chart's axis names it."""
        return _UNITS_ZH.get(unit, unit) if self.lang == "zh" else unit

    def audit_column(self, column: str) -> str:
        """An audit column as a heading names it (`audit_size_band` -> size band, 企业规模)."""
        if self.lang == "zh" and column in _AUDIT_COLUMNS_ZH:
            return _AUDIT_COLUMNS_ZH[column]
        return column.removeprefix("audit_").replace("_", " ")

    def audit_value(self, column: str, value: object) -> str:
        """A group of an audit column as the console and the reasons name it (`anji` -> Anji,
        安吉县; `construction` -> 建筑业; `f` -> 女; `60_plus` -> 60岁及以上); a value without
        words as it is."""
        text = str(value)
        pair = None
        if column == "audit_district":
            pair = DISTRICT_WORDS.get(text)
        elif column == "audit_sex":
            pair = _SEX_WORDS.get(text)
        elif column == "audit_age_band":
            pair = AGE_BAND_WORDS.get(text)
        elif column == "audit_feedback_outcome":
            pair = OUTCOME_WORDS.get(text)
        if pair is not None:
            return pair[1] if self.lang == "zh" else pair[0]
        feature = _category_features().get(column.removeprefix("audit_"))
        if feature is None:
            return text
        return str(feature.value_word(text, "zh" if self.lang == "zh" else "en"))


@cache
def _category_features() -> dict[str, FeatureDef]:
    """Catalogued categorical features with words for their values, by name (an audit column
    `audit_<name>` holds the same values: sector, size band, dispute type)."""
    return {
        feature.name: feature
        for features in CATALOG.values()
        for feature in features
        if feature.category_words
    }


def words(lang: str) -> Words:
    """The report's words in `lang` (`en` or `zh`).

    Raises:
        ValueError: another language.
    """
    if lang not in REPORT_LANGS:
        raise ValueError(f"unknown report language {lang!r}; expected en or zh")
    return Words(lang)  # type: ignore[arg-type]
