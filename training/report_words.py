"""Every word of the model report, in English and Chinese: the one place its texts live.

`training.report` and `templates/report.html` ask a `Words` for a text by key, so the two
editions share one template and one set of section ids. A text is a `str.format` pattern
over named values (numbers arrive already formatted). Chart texts are looked up in the
language the chart is drawn in (`models.explain_plots.plot_language`): without a CJK font the
Chinese edition's charts stay in English, as the page's note says, and never draw empty boxes.

The Chinese follows the usage of Chinese government data and analytics reports (模型卡,
测试集, 校准, 公平性, 解释保真度); risk levels use the console's names (红色, 橙色, 黄色).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from features.catalog import AGE_BAND_WORDS, CATALOG, FeatureDef
from models.pages import REPORT_LANGS

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
    "fid.drivers": "Every planted driver ranks above every noise or proxy feature. Strongest "
    "noise or proxy feature: {noise}{below}",
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

_ZH: dict[str, str] = {
    "title": "riskloop 模型报告：{task}{version}",
    "generated": "生成时间：{generated}。",
    "city_time": "{time}（北京时间）",
    "font_note": "本机未安装中文字体，图表中的文字以英文显示（请安装 fonts-wqy-microhei 或 "
    "fonts-noto-cjk）。",
    "sep": "",
    "title.model-card": "一、模型卡",
    "title.performance": "二、测试集上的模型效果",
    "title.global-explanations": "三、全局解释",
    "title.fairness": "四、分组公平性",
    "title.fidelity": "五、解释保真度（对照模拟真值）",
    "title.warnings-sample": "六、预警样例",
    "contents.model-card": "模型卡",
    "contents.performance": "模型效果",
    "contents.global-explanations": "全局解释",
    "contents.fairness": "公平性",
    "contents.fidelity": "解释保真度",
    "contents.warnings-sample": "预警样例",
    "contents": "目录",
    "card.task": "任务",
    "card.unit": "评估单元",
    "card.label": "标签定义",
    "card.horizon": "预测时间窗",
    "card.model": "模型",
    "card.run": "MLflow 运行 ID",
    "card.trained_at": "训练时间",
    "card.commit": "代码提交",
    "card.catalog": "特征目录",
    "card.train_range": "训练数据（评估日期范围）",
    "card.train_rows": "训练样本数",
    "card.train_rate": "训练集正例率",
    "card.valid_range": "验证集评估日期范围",
    "card.calibrator": "校准器拟合数据",
    "card.test": "测试集",
    "card.fingerprint": "数据集指纹",
    "card.truth": "真值",
    "card.horizon_months": "{n}个自然月",
    "card.horizon_days": "{n}天",
    "card.task_value": "{title}（{task}，{slug}）",
    "card.model_value": "{name} 第 {version} 版",
    "card.alias": "；别名：{alias}",
    "card.promotion": "成为在用模型版本的方式",
    "card.promotion_first": "该任务的首个版本（训练后即为在用模型版本）",
    "card.promotion_rule": "按晋升规则晋升：{reason}",
    "card.promotion_forced": "强制晋升（未通过晋升规则）：{reason}",
    "reason.not_worse": "挑战者不劣于在用模型版本：AUC 变化 {auc}，ECE 变化 {ece}",
    "reason.worse": "挑战者劣于在用模型版本：{problems}",
    "reason.auc_lower": "AUC 下降 {amount}（允许至多 {limit}）",
    "reason.ece_higher": "ECE 上升 {amount}（允许至多 {limit}）",
    "reason.problems_separator": "；",
    "reason.undefined": "测试集上 AUC 或 ECE 无法计算",
    "reason.no_champion": "此前尚无在用模型版本",
    "reason.first": "{task} 的首个版本",
    "reason.champion_unusable": "原在用模型版本无法评估（{detail}）",
    "list.separator": "、",
    "card.catalog_value": "{version}，共 {n} 个特征",
    "card.calibration_rows": "{n} 条留出样本（验证集，以及在隔离期内、且无训练样本的实体的样本）",
    "card.calibration_valid": "验证集",
    "card.test_value": "{rows} 条，评估日期 {first} 至 {last}，正例率 {rate}",
    "card.test_empty": "空",
    "card.truth_files": "模拟城市真值文件",
    "card.truth_none": "无",
    "card.data_rebuilt": "测试集由 {raw} 重新构建（数据集指纹 {fingerprint}）。",
    "card.data_changed": "测试集由 {raw} 重新构建；其数据集指纹 {fingerprint} 与训练运行记录的 "
    "{logged} 不一致：训练之后数据已发生变化。",
    "card.data_other": "测试集由 {raw} 重新构建，并非该版本的训练数据（数据集指纹 {fingerprint}，"
    "训练运行记录的是 {logged}）；上方训练数据各项均取自训练运行记录。",
    "card.not_recorded": "训练运行未记录",
    "card.parameters": "模型参数",
    "card.parameter": "参数",
    "card.value": "取值",
    "card.yes": "是",
    "card.no": "否",
    "card.levels": "风险等级",
    "card.level": "等级",
    "card.capacity": "处置容量（占总体比例）",
    "card.lowest_score": "最低校准评分",
    "card.intended_use": "预期用途",
    "card.known_limits": "已知局限",
    "card.protected": "用作特征的受保护属性及代理变量",
    "card.protected_intro": "年龄、性别只有在说明理由后方可使用，所在地可能反映外来人口身份（《个人信息"
    "保护法》第二十四条：自动化决策应当公平、透明）。下表列出由这些属性派生的每个特征，及其在特征目录"
    "中说明的保留理由；第四节按分组审计模型。",
    "card.protected_none": "没有特征由受保护属性（年龄、性别）或其代理变量（所在地）派生。",
    "card.protected_feature": "特征",
    "card.protected_attribute": "派生自",
    "card.protected_reason": "保留理由（特征目录）",
    "card.protected_no_reason": "未说明理由：该模型上线前，特征目录必须给出理由。",
    "card.attribute_age": "年龄",
    "card.attribute_sex": "性别",
    "card.attribute_place": "所在地（可能反映外来人口身份）",
    "perf.slice": "测试集：共 {rows} 条，其中正例 {positives} 条。",
    "perf.oracle": "“理想基准”用模拟城市的真实概率对同一批样本评分，代表任何模型所能达到的最好水平。",
    "perf.no_oracle": "未提供真值：无法给出理想基准的指标。",
    "perf.oracle_not_in_run": "训练运行未记录理想基准指标（训练时未提供真值）：此处指标由本报告"
    "依据城市数据目录中的真值计算，因此 `riskloop models` 中该版本的提升达成率显示为“-”。",
    "perf.metrics": "评估指标",
    "perf.metric": "指标",
    "perf.model": "模型",
    "perf.oracle_column": "理想基准",
    "perf.few_positives": "测试集仅有正例 {positives} 条（不足 {threshold} 条）：模型 ROC-AUC 的 95% "
    "置信区间为 {interval}（Hanley–McNeil 方法），PR-AUC、ECE 和提升达成率同样不确定，以下指标仅供粗略参考。",
    "metric.roc_auc": "ROC-AUC",
    "metric.pr_auc": "PR-AUC（平均精确率）",
    "metric.brier": "Brier 分数",
    "metric.ece": "期望校准误差（按评分十分位分 10 组）",
    "metric.lift": "相对理想基准的提升达成率，(AUC-0.5)/(理想基准 AUC-0.5)",
    "metric.positive_rate": "正例率",
    "metric.mean_score": "平均校准评分",
    "perf.capacity": "各风险等级处置容量下的精确率与召回率",
    "perf.capacity_note": "等级按累计计算：“橙色及以上”包括红色和橙色预警。理想基准列按真实概率"
    "排序，预警同样数量的对象。",
    "perf.warned": "预警范围",
    "perf.capacity_column": "处置容量",
    "perf.units_warned": "预警对象数",
    "perf.share_warned": "预警占比",
    "perf.precision": "精确率",
    "perf.recall": "召回率",
    "perf.oracle_precision": "理想基准精确率",
    "perf.oracle_recall": "理想基准召回率",
    "perf.level_and_above": "{level}及以上",
    "expl.intro": "基于 {rows} 条测试样本{sampled}计算的精确 TreeSHAP 贡献值（对数几率）。",
    "expl.sampled": "（按固定随机种子抽样）",
    "expl.all": "",
    "expl.bar_alt": "各特征的平均绝对 SHAP 值",
    "expl.beeswarm_alt": "各特征 SHAP 值的蜂群图",
    "expl.dependence": "重要性前 {n} 位特征的依赖图",
    "expl.dependence_alt": "{label}的依赖图",
    "expl.ranking": "特征重要性排序",
    "expl.rank": "排名",
    "expl.feature": "特征",
    "expl.column": "字段名",
    "expl.planted_driver": "预设驱动因素",
    "expl.mean_shap": "平均 |SHAP|",
    "fair.rule": "“预警”指风险等级为黄色及以上。假阳性率 = 未发生事件却被预警的对象数 ÷ "
    "未发生事件的对象数。方括号 [ ] 内为比率的 {confidence} 置信区间（二项分布精确法）。"
    "评分 ÷ 实际 = 分组平均评分 ÷ 其基础发生率。突出显示（存在差距）的情形：评分 ÷ 实际，或分组的"
    "精确率、召回率、假阳性率与整个测试集（精确率 {precision}，召回率 {recall}，假阳性率 {fpr}）"
    "之比，超出 {low}–{high}，且该分组自身的置信区间不包含所比较的数值（校准：基础发生率的置信区间"
    "不包含平均评分），即差距并非偶然。“样本太少，无法判断”：比值超出上述范围，但该分组的置信区间"
    "仍包含所比较的数值，其样本不足以区分真实差距与偶然波动。预警率仅作展示，不作判断：各分组的基础发生率本就"
    "不同。",
    "fair.missing": "测试集缺少以下审计字段：{columns}",
    "fair.none": "测试集没有审计字段。",
    "fair.group": "分组",
    "fair.rows": "样本数",
    "fair.positives": "正例数",
    "fair.warned": "预警数",
    "fair.base_rate": "基础发生率",
    "fair.mean_score": "平均评分",
    "fair.score_ratio": "评分 ÷ 实际",
    "fair.warning_rate": "预警率",
    "fair.precision": "精确率",
    "fair.recall": "召回率",
    "fair.fpr": "假阳性率",
    "fair.interval": "[{low}–{high}]",
    "fair.too_few": "样本太少，无法判断",
    "fair.highlighted": "共有 {n} 处差距（已突出显示）。",
    "fair.no_gap": "没有超出范围的差距。",
    "fair.too_few_count": "另有 {n} 项因样本太少，无法判断。",
    "fair.gap_cell": "（超出范围的差距）",
    "fid.no_roles": "真值文件（truth/drivers.json）未列出预设驱动特征或噪声特征。",
    "fid.rule": "判定规则：一个预设驱动因素的重要性，是度量它的各目录特征（以 truth/drivers.json "
    "所列为准）的平均 |SHAP| 之和；每个驱动因素的重要性都高于每个噪声特征和代理特征的平均 "
    "|SHAP| 时，检查通过。多个特征可能共同度量同一个驱动因素并分摊其贡献，因此下方的单个特征"
    "仅列出供参考，不逐一判定。",
    "fid.drivers": "检查项：每个预设驱动因素的排名都应高于所有噪声特征和代理特征。最强的噪声或代理特征："
    "{noise}{below}",
    "fid.noise_value": "{name}（{value}）",
    "fid.none": "无",
    "fid.below": "；不高于它的驱动因素：{drivers}。",
    "fid.end": "。",
    "fid.driver_or_noise": "驱动因素、噪声特征或代理特征",
    "fid.kind": "类型",
    "fid.driver_importance": "平均 |SHAP|（驱动因素为其各特征之和）",
    "fid.features_pass": "单个特征（仅供参考）：每个预设驱动特征都高于所有噪声特征和代理特征。",
    "fid.features_fail": "单个特征（仅供参考）：最弱的预设驱动特征 {weakest}未高于最强的噪声或代理"
    "特征（见下表突出显示的行）。",
    "fid.weakest": "{name}（{value}）",
    "fid.weakest_none": "（无）",
    "fid.feature": "特征",
    "fid.measures": "所度量的预设驱动因素（或噪声、代理）",
    "fid.mean_shap": "平均 |SHAP|",
    "fid.missing_drivers": "没有任何目录特征度量的预设驱动因素：{drivers}",
    "fid.no_units": "未提供对象级真值：跳过主要原因检查。",
    "fid.top_reasons": "检查项：主导驱动因素应位列前几位原因。只有单一主导驱动因素的对象共 {units} 个（在已解释的 {explained} 条样本中）；"
    "其主导驱动因素位列前 {k} 位原因（按 |贡献| 排序，与评分器的展示一致）的有 {hits} 个"
    "（{share}；目标 {target}）。",
    "fid.top_raising": "只看推高风险的前 {k} 位贡献（真值中的主导驱动因素是最大的正向推动；降低风险的"
    "原因，例如对象不具备某个驱动因素，按 |贡献| 可能排在它前面）：{hits} 个（{share}）。",
    "fid.miss_note": "如何理解未命中：真值和 SHAP 都以“平均对象”为基准衡量驱动因素的推动作用，因此"
    "未命中说明模型把该驱动因素的作用分散到了其他特征上，或学得较弱；降低风险的原因（对象不具备的"
    "驱动因素）按 |贡献| 也可能排在幅度不大的主导推动之前。",
    "fid.dominant": "主导驱动因素",
    "fid.units": "对象数",
    "fid.in_top": "位列前 {k} 位原因",
    "fid.share": "占比",
    "fid.in_top_raising": "位列前 {k} 位推高原因",
    "fid.share_raising": "推高占比",
    "fid.drivers_table": "预设驱动因素、噪声特征与代理特征的重要性排序",
    "fid.features_table": "单个特征的重要性排序",
    "fid.per_driver_table": "主导驱动因素位列前 {k} 位原因的情况",
    "fid.flagged": "（未高于最强的噪声或代理特征）",
    "verdict.pass": "通过",
    "verdict.fail": "未通过",
    "kind.planted driver": "预设驱动因素",
    "kind.noise": "噪声",
    "kind.proxy": "代理变量",
    "sample.intro": "每个等级最多抽取 {n} 条预警（固定随机种子）。报告有意不显示实体标识。",
    "sample.none": "测试集中没有达到预警等级的对象。",
    "sample.heading": "样例 {n}：",
    "sample.heading_end": " 评分 {score}，评估日期 {as_of}",
    "sample.waterfall_alt": "预警样例 {n} 的瀑布图",
    "sample.contribution": "贡献（对数几率）",
    "sample.reason": "原因",
    "sample.reasons_table": "预警样例 {n} 的原因",
    "chart.model": "模型",
    "chart.oracle": "理想基准（真实概率）",
    "chart.chance": "随机水平",
    "chart.roc": "ROC 曲线",
    "chart.fpr": "假阳性率",
    "chart.tpr": "真阳性率（召回率）",
    "chart.pr": "精确率-召回率曲线",
    "chart.recall": "召回率",
    "chart.precision": "精确率",
    "chart.perfect": "完美校准",
    "chart.model_deciles": "模型（按评分十分位分组）",
    "chart.reliability_x": "组内平均校准评分（概率）",
    "chart.reliability_y": "组内实际正例率",
    "chart.reliability": "可靠性图：实际发生率与评分",
    "chart.roc_alt": "模型与理想基准的 ROC 曲线",
    "chart.pr_alt": "模型与理想基准的精确率-召回率曲线",
    "chart.reliability_alt": "校准评分的可靠性图",
    "chart.importance": "全局重要性：测试集上的平均 |SHAP|",
    "chart.beeswarm": "每条记录的 SHAP 值（颜色：特征值由低到高）",
    "chart.no": "否",
    "chart.yes": "是",
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
        "（请关注 `riskloop monitor`）。",
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

_CATALOGUES: dict[str, dict[str, str]] = {"en": _EN, "zh": _ZH}


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
