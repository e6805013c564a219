"""The task registry is the one place that names the tasks.

Every other product module reads task lists from `features.tasks`; a module may still name its
own task (a feature module, a reason sentence), but one that names two or more tasks is
spelling out the list again and would be missed when a risk is added.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from features.tasks import TASK_NAMES, TASK_SLUGS, TASKS, UnknownTaskError, get_task

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "models", "training", "serving", "bench")
REGISTRY = ROOT / "features" / "tasks.py"


def _task_patterns() -> dict[str, re.Pattern[str]]:
    """One pattern per task matching its CLI name, its slug or its name in words."""
    return {
        task.slug: re.compile(
            "|".join(
                re.escape(form) for form in (task.name, task.slug, task.name.replace("-", " "))
            ),
            re.IGNORECASE,
        )
        for task in TASKS.values()
    }


def _strings(source: str) -> list[str]:
    """Every string literal of a module (docstrings, help texts, f-string parts)."""
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def tasks_named(source: str) -> set[str]:
    """Slugs of the tasks a module's string literals name."""
    patterns = _task_patterns()
    text = "\n".join(_strings(source))
    return {slug for slug, pattern in patterns.items() if pattern.search(text)}


def _modules() -> list[Path]:
    return sorted(
        path for package in PACKAGES for path in (ROOT / package).rglob("*.py") if path != REGISTRY
    )


def test_the_check_sees_a_list_of_names() -> None:
    """The detector itself: a spelled-out list is caught, one task's own name is not."""
    spelled = 'HELP = "' + ", ".join(TASK_NAMES) + '"\n'
    assert tasks_named(spelled) == set(TASK_SLUGS)
    assert len(tasks_named(f'TASK = "{TASK_SLUGS[0]}"\n')) == 1
    assert tasks_named('"""Screening ' + TASK_NAMES[1].replace("-", " ") + '."""') == {
        TASK_SLUGS[1]
    }


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_but_the_registry_names_several_tasks(path: Path) -> None:
    named = tasks_named(path.read_text(encoding="utf-8"))
    assert len(named) <= 1, (
        f"{path.relative_to(ROOT)} names the tasks {sorted(named)}: read them from "
        "features.tasks (TASKS, TASK_NAMES, names_in_words) instead"
    )


def test_lookup_by_name_or_slug_and_a_clear_error() -> None:
    for task in TASKS.values():
        assert get_task(task.name) is get_task(task.slug) is task
        assert task.builder.__name__ == task.builder_module
        assert task.catalog and task.label_table in task.tables
    with pytest.raises(UnknownTaskError, match="expected one of " + ", ".join(TASK_NAMES)):
        get_task("tax-evasion")


def test_owners_are_department_codes() -> None:
    """Owners use the shared snake-case department codes."""
    codes = {task.owner for task in TASKS.values()}
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)
    assert get_task(TASK_NAMES[1]).owner == "anti_fraud"
