"""The task registry: every risk task riskloop knows, named once.

Each `Task` entry says what a task is (CLI name, python slug, unit, label, horizon, owner
department) and where its parts live (catalog entries, raw-table contract, feature builder).
Every layer reads task lists from here: datasets, specs, the CLI's help texts and choices, the
service's routes. No other module spells out the list of task names (a test checks it).

Importing this module is cheap (no pandas, no builders): `riskloop --help` reads it. The
catalog entries, table contract and builder module are imported on first use, which also keeps
the registry below the modules it points at (they may import it without a cycle).

Adding a risk: one entry here, its feature module (`features/<slug>.py`), its catalog entries,
its raw-table contract and its simulator (docs/architecture.md walks through it).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from features.catalog import FeatureDef
    from features.schemas import TableSpec


class UnknownTaskError(KeyError, ValueError):
    """A task name that is none of the registry's; the message lists the known ones.

    A `KeyError` for lookups by name and a `ValueError` for callers validating input: both
    kinds of caller existed before the registry, and both keep catching it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Link:
    """How a linked table reaches the unit: through `key` in `table`, whose `entity` is the unit.

    Attributes:
        table: the link table (`construction_projects`, `dispute_parties`).
        key: column shared by the link table and the linked table (`project_id`, `party_id`).
        entity: column of the link table holding the unit id (`employer_id`, `dispute_id`).
    """

    table: str
    key: str
    entity: str


#: The audit column naming the unit's district: every task's datasets carry it, and each
#: warning keeps it (a district is a place, not a personal identifier) so reviewers can
#: filter their queue by district.
DISTRICT_COLUMN = "audit_district"

_PROJECT = Link("construction_projects", "project_id", "employer_id")
_PARTY = Link("dispute_parties", "party_id", "dispute_id")


@dataclass(frozen=True)
class Task:
    """One risk task.

    Attributes:
        name: CLI and API name (`wage-arrears`): routes, options, registered model names.
        slug: python name (`wage_arrears`): raw sub-folder, dataset file, catalog key.
        entity_kind: what `entity_id` identifies (`employer`).
        unit: what one dataset row is (`employer x month`).
        label: what the label means, in words.
        horizon_months / horizon_days: label window after the as-of date; exactly one non-zero.
        owner: code of the department whose supervisors see and dispatch all its warnings.
        scored_once: the unit is scored once in its life (a dispute), so feedback matches it
            on the entity alone rather than on the entity and month.
        audit_columns: non-feature columns of the dataset kept for fairness audits; every
            task has `DISTRICT_COLUMN`, which also travels with each warning.
        intended_use: the model card's intended-use paragraph.
        title_zh / unit_zh / label_zh / intended_use_zh: the task's Chinese name (the
            console's `task.<name>` message says the same) and `unit`, `label` and
            `intended_use` in Chinese, for the model report's Chinese edition.
        catalog_constant: the `features.catalog` constant holding the task's feature entries.
        tables_constant: the `features.schemas` constant holding its raw-table contract.
        builder_module: the feature module (`build_features`, `build_labelled_dataset`, ...).
        links: tables that reach the unit through a link table (`features.partition`).
        broadcast: tables copied whole into every partition, because a feature aggregates them
            over units other than its own (a district's latest grid visits).
        coverage: columns whose extremes set the time coverage (the builders' `data_end` and
            first month); the rows holding them are copied into every partition.
        actions_constant: the `models.actions` constant holding what departments are advised to
            do (read by the models layer; the registry only names it).
    """

    name: str
    slug: str
    entity_kind: str
    unit: str
    label: str
    horizon_months: int
    horizon_days: int
    owner: str
    scored_once: bool
    audit_columns: tuple[str, ...]
    intended_use: str
    title_zh: str
    unit_zh: str
    label_zh: str
    intended_use_zh: str
    catalog_constant: str
    tables_constant: str
    builder_module: str
    actions_constant: str
    links: Mapping[str, Link] = field(default_factory=dict)
    broadcast: tuple[str, ...] = ()
    coverage: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def builder(self) -> ModuleType:
        """The feature module that builds this task's datasets."""
        return importlib.import_module(self.builder_module)

    @property
    def catalog(self) -> tuple[FeatureDef, ...]:
        """The task's catalog entries, in model order."""
        entries: tuple[FeatureDef, ...] = getattr(
            importlib.import_module("features.catalog"), self.catalog_constant
        )
        return entries

    @property
    def tables(self) -> dict[str, TableSpec]:
        """The task's raw tables by name, in contract order."""
        specs: dict[str, TableSpec] = getattr(
            importlib.import_module("features.schemas"), self.tables_constant
        )
        return specs

    @cached_property
    def label_table(self) -> str:
        """The raw table the label comes from."""
        return next(name for name, spec in self.tables.items() if spec.is_label)

    @property
    def horizon(self) -> pd.DateOffset:
        """The label window as a calendar offset (months stay calendar months)."""
        import pandas as pd

        if self.horizon_months:
            return pd.DateOffset(months=self.horizon_months)
        return pd.DateOffset(days=self.horizon_days)


#: Every task, by slug, in the order lists and reports show them.
TASKS: dict[str, Task] = {
    task.slug: task
    for task in (
        Task(
            name="wage-arrears",
            slug="wage_arrears",
            entity_kind="employer",
            unit="employer x month",
            label="wage-arrears onset within 3 calendar months after the as-of date",
            horizon_months=3,
            horizon_days=0,
            owner="county_centre",
            scored_once=False,
            audit_columns=("audit_district", "audit_sector", "audit_size_band"),
            intended_use=(
                "Monthly screening of registered employers for wage-arrears risk in the next "
                "three months, so labour inspection and township labour offices can plan "
                "visits within their capacity. A warning asks a person to look; it is never a "
                "sanction or a finding."
            ),
            title_zh="欠薪风险",
            unit_zh="企业×月",
            label_zh="观察日后3个自然月内首次发生欠薪",
            intended_use_zh=(
                "每月对登记在册的企业开展未来三个月的欠薪风险筛查，帮助劳动保障监察机构和乡镇（街道）"
                "劳动保障所在处置能力范围内安排走访。预警只提示需要有人核查，绝不构成处罚或认定。"
            ),
            catalog_constant="WAGE_ARREARS",
            tables_constant="WAGE_ARREARS_TABLES",
            builder_module="features.wage_arrears",
            actions_constant="WAGE_ARREARS_ACTIONS",
            links={"project_instalments": _PROJECT, "project_payments": _PROJECT},
            coverage={"social_insurance": ("month",), "tax": ("month",), "utilities": ("month",)},
        ),
        Task(
            name="telecom-fraud",
            slug="telecom_fraud",
            entity_kind="resident",
            unit="resident x month",
            label="telecom-fraud victimisation within 30 days after the as-of date",
            horizon_months=0,
            horizon_days=30,
            owner="anti_fraud",
            scored_once=False,
            audit_columns=("audit_age_band", "audit_sex", "audit_district"),
            intended_use=(
                "Monthly screening of residents with an exposure signal for telecom-fraud "
                "victimisation risk in the next 30 days, so the anti-fraud centre and community "
                "police can warn and dissuade in time. It protects potential victims and must "
                "never be used against them."
            ),
            title_zh="电信诈骗风险",
            unit_zh="居民×月",
            label_zh="观察日后30天内遭受电信网络诈骗",
            intended_use_zh=(
                "每月对存在涉诈风险暴露信号的居民开展未来30天电信网络诈骗受害风险筛查，帮助反诈中心"
                "和社区民警及时预警劝阻。模型用于保护潜在受害人，绝不能用来针对他们。"
            ),
            catalog_constant="TELECOM_FRAUD",
            tables_constant="TELECOM_FRAUD_TABLES",
            builder_module="features.telecom_fraud",
            actions_constant="TELECOM_FRAUD_ACTIONS",
            coverage={"flagged_contacts": ("event_time",), "bank_outflows": ("event_time",)},
        ),
        Task(
            name="dispute-escalation",
            slug="dispute_escalation",
            entity_kind="dispute",
            unit="dispute",
            label=(
                "escalation (repeat or higher petition, police case, group incident) within 90 "
                "days after registration + 7 days"
            ),
            horizon_months=0,
            horizon_days=90,
            owner="county_centre",
            scored_once=True,
            audit_columns=("audit_district", "audit_dispute_type"),
            intended_use=(
                "Scoring each registered dispute seven days after registration for escalation "
                "in the next 90 days (repeat or higher petition, police case, group incident), "
                "so mediators and township centres can prioritise follow-up."
            ),
            title_zh="矛盾纠纷升级风险",
            unit_zh="纠纷（每件）",
            label_zh=("登记满7天后的90天内发生升级（重复访或越级访、公安立案、群体性事件）"),
            intended_use_zh=(
                "每件矛盾纠纷登记满7天时，对其后90天内升级（重复访或越级访、公安立案、群体性事件）"
                "的风险评分，帮助调解员和乡镇（街道）综治中心确定跟进的优先次序。"
            ),
            catalog_constant="DISPUTE_ESCALATION",
            tables_constant="DISPUTE_ESCALATION_TABLES",
            builder_module="features.dispute_escalation",
            actions_constant="DISPUTE_ESCALATION_ACTIONS",
            links={"police_calls": _PARTY, "petitions": _PARTY},
            # `district_visit_duration_min` reads the district's latest grid visits.
            broadcast=("disputes", "grid_visits"),
            # The first dispute is there so that every partition holds a dispute old enough to
            # be scored, which makes the latest scoring date a plain maximum over partitions.
            coverage={
                "police_calls": ("event_time",),
                "petitions": ("event_time",),
                "disputes": ("event_time",),
            },
        ),
    )
}

#: CLI/API names in registry order.
TASK_NAMES: tuple[str, ...] = tuple(task.name for task in TASKS.values())

#: Python slugs in registry order.
TASK_SLUGS: tuple[str, ...] = tuple(TASKS)


def get_task(task: str) -> Task:
    """The task by CLI name (`wage-arrears`) or slug (`wage_arrears`).

    Raises:
        UnknownTaskError: the name is no task's; the message lists the known names.
    """
    slug = task.replace("-", "_") if isinstance(task, str) else task
    if slug not in TASKS:
        raise UnknownTaskError(f"unknown task {task!r}; expected one of {', '.join(TASK_NAMES)}")
    return TASKS[slug]


def names_in_words(conjunction: str = "or") -> str:
    """The task names as a help text reads them: `a, b or c`."""
    *head, last = TASK_NAMES
    return f"{', '.join(head)} {conjunction} {last}" if head else last
