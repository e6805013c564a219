"""The console's words, read as a case worker reads them (no server: the pure view functions
the case page and the explanation page share)."""

from __future__ import annotations

import json
from pathlib import Path

from serving.console.case import age_text, note_preview, shown_note, timeline, waterfall_note
from serving.console.dashboard import capacity_rows, departments_in_view
from serving.console.i18n import Messages


def test_a_timelines_steps_are_worded_alike() -> None:
    """In English every step of a history starts with a capital, whether it is named by its
    event (Warning raised, Overdue) or by the form that took it (Dispatch)."""
    history = [
        {
            "event": "raised",
            "at": "2026-05-06T02:00:00+00:00",
            "actor": "key:ingest",
            "score": 0.9,
            "risk_level": "red",
        },
        {
            "event": "overdue",
            "at": "2026-05-07T02:00:00+00:00",
            "actor": "system:overdue",
            "deadline": "dispatch",
            "due_at": "2026-05-07T02:00:00+00:00",
        },
        {
            "event": "disposition",
            "at": "2026-05-07T03:00:00+00:00",
            "actor": "user:sup",
            "from": "open",
            "to": "dispatched",
            "department": "tax",
        },
    ]
    items = timeline(history, Messages("en"), person=str, department_name=str)
    assert [item["event"] for item in items] == ["Warning raised", "Overdue", "Dispatch"]


def test_the_waterfalls_caption_says_what_its_last_bars_are() -> None:
    """A warning keeps only its top reasons: the caption says the "other features" bar is the
    rest worked out from the score, or, when it cannot be (another version scored the warning,
    or a calibrator that cannot be inverted), that the chart ends at the recorded reasons."""
    warning = {"model_version": "3", "score": 0.9}
    for lang, other, listed in (
        ("zh", "其他特征", "已记录原因之和"),
        ("en", "other features", "recorded reasons"),
    ):
        t = Messages(lang)
        same = waterfall_note(warning, "3", 2.1, t)
        assert other in same and listed not in same, same
        inverted_not = waterfall_note(warning, "3", None, t)
        assert listed in inverted_not and other not in inverted_not, inverted_not
        older = waterfall_note(warning, "4", None, t)
        assert listed in older and "3" in older and "4" in older, older
        assert len({same, inverted_not, older}) == 3


def test_the_model_report_names_tasks_and_levels_as_the_console_does() -> None:
    """The report's Chinese edition (training/) cannot read the console's catalogue: the
    words it uses for the same things must stay the console's."""
    from features.tasks import TASKS
    from training.report_words import words

    console, report = Messages("zh"), words("zh")
    for level in ("red", "orange", "yellow", "green"):
        assert report.level(level) == console.word("level", level), level
    for task in TASKS.values():
        assert task.title_zh == console(f"task.{task.name}"), task.name
    # the as-of date: 评估日期 in the console's filters and cases, not another word in the report
    as_of = console("field.as_of")
    for key in ("card.train_range", "card.valid_range"):
        assert as_of in report(key) and "观察日" not in report(key), key


def test_a_note_preview_never_cuts_a_code_in_half() -> None:
    """The queue shows a sent-back note's first words: a `[id:…]` code it would cut is left
    out whole, so no half code reads as a number somebody typed."""
    code = "[id:" + "8f6a621de5" * 3 + "ab]"
    assert note_preview(f"企业联系人 {code} 不在辖区", 30) == "企业联系人…"
    assert note_preview(f"联系人{code}", 60) == f"联系人{code}"  # short enough: whole
    assert note_preview("不属于本部门辖区：企业注册地在外县，请改派", 10) == "不属于本部门辖区：企…"
    assert note_preview("a  b\n c", 30) == "a b c"


def test_an_id_taken_out_of_a_note_is_said_in_the_readers_words() -> None:
    """QA, 2026-12-07: the timeline showed `[id:` and a 32-character code, in English on the
    Chinese page too. Each reads in the reader's language with the code's first 8 characters
    (two numbers told apart, the same one recognised); the rest of the note as written."""
    first, second = "[id:" + "3ef7563a" * 4 + "]", "[id:" + "0b1c2d3e" * 4 + "]"
    note = f"电话 {first} 未接，改拨 {second}；[id:not-a-code]"
    assert shown_note(note, Messages("zh")) == (
        "电话 [号码已隐去·3ef7563a] 未接，改拨 [号码已隐去·0b1c2d3e]；[id:not-a-code]"
    )
    assert shown_note(f"called {first}", Messages("en")) == "called [number removed · 3ef7563a]"
    history = [
        {"kind": "note", "at": "2026-05-06T02:00:00+00:00", "actor": "user:lab", "note": note}
    ]
    (item,) = timeline(history, Messages("zh"), person=str, department_name=str)
    assert item["note"].startswith("电话 [号码已隐去·3ef7563a] 未接")


def test_a_closed_case_waits_for_nothing() -> None:
    t = Messages("zh")
    raised = "2026-05-06T02:00:00+00:00"
    assert age_text(raised, t, status="closed") == "–"
    assert age_text(raised, t, status="open") != "–"


def test_the_months_volume_adds_up_to_every_warning_held() -> None:
    """A case dispatched over the API to a name no department has was counted in no row: the
    departments summed to 271 of 272. It is counted in a last row of its own, and a department
    stored by its English or Chinese name counts as the department."""
    departments = [
        {
            "code": "county_centre",
            "name_zh": "县级中心",
            "name_en": "County centre",
            "capacity": None,
        },
        {"code": "labour_inspection", "name_zh": "劳动监察", "name_en": "Labour", "capacity": 10},
        {"code": "tax", "name_zh": "税务局", "name_en": "Tax bureau", "capacity": None},
    ]
    volumes = {
        "county_centre": 260,
        "labour_inspection": 9,
        "Labour inspection brigade": 2,  # stored by its name before codes were kept
        "Ministry of Magic": 1,
    }
    rows = capacity_rows(departments, volumes, "zh", "未登记的部门名称")
    assert [(r["code"], r["volume"], r["over"]) for r in rows] == [
        ("county_centre", 260, False),
        ("labour_inspection", 11, True),
        ("unlisted", 1, False),
    ]
    assert sum(r["volume"] for r in rows) == sum(volumes.values())
    assert rows[-1]["name"] == "未登记的部门名称" and rows[-1]["capacity"] is None


def test_the_model_report_names_districts_as_the_console_does() -> None:
    """The report's names of the city's districts are the console's, for every district the
    city has."""
    from data_samples.city.config import DISTRICTS
    from training.report_words import DISTRICT_WORDS

    assert set(DISTRICT_WORDS) == set(DISTRICTS)
    for code, (english, chinese) in DISTRICT_WORDS.items():
        assert Messages("en")(f"district.{code}") == english, code
        assert Messages("zh")(f"district.{code}") == chinese, code


def test_a_month_seen_in_part_is_not_shown_as_a_departments_month() -> None:
    """An anti-fraud supervisor saw the labour inspection brigade at 0 of 40 this month while it
    held 3: only the anti-fraud cases there were counted. A department's row is shown only to
    a view that takes in all its warnings (the department's own, or every task it handles);
    the names no department has are a row of the city's view alone."""
    from serving.policy import VisibleScope

    departments = [
        {"code": "anti_fraud", "tasks": ["telecom-fraud"], "capacity": 30},
        {"code": "bank", "tasks": ["telecom-fraud"], "capacity": None},
        {"code": "county_centre", "tasks": ["wage-arrears", "telecom-fraud"], "capacity": None},
        {"code": "labour_inspection", "tasks": ["wage-arrears"], "capacity": 40},
    ]
    departments = [{**row, "name_zh": row["code"], "name_en": row["code"]} for row in departments]
    fraud_supervisor = VisibleScope(
        departments=frozenset({"anti_fraud"}), tasks=frozenset({"telecom-fraud"})
    )
    in_view = departments_in_view(fraud_supervisor, departments)
    assert in_view == {"anti_fraud", "bank"}
    seen = {"anti_fraud": 5, "bank": 1, "Ministry of Magic": 1}  # none at labour inspection
    rows = capacity_rows(departments, seen, "zh", "未登记", in_view=in_view)
    assert [(r["code"], r["volume"], r["capacity"]) for r in rows] == [
        ("anti_fraud", 5, 30),
        ("bank", 1, None),
    ]
    # an officer sees the cases dispatched to their department, not those waiting there
    fraud_officer = VisibleScope(departments=frozenset({"anti_fraud"}))
    assert departments_in_view(fraud_officer, departments) == frozenset()
    inspector = VisibleScope(departments=frozenset({"labour_inspection"}))
    assert departments_in_view(inspector, departments) == {"labour_inspection"}
    assert departments_in_view(VisibleScope(everything=True), departments) is None
    city = capacity_rows(departments, seen, "zh", "未登记", in_view=None)
    assert [r["code"] for r in city] == ["anti_fraud", "bank", "labour_inspection", "unlisted"]


def test_the_dashboard_names_what_the_monitor_watches(tmp_path: Path) -> None:
    """`riskloop monitor` printed the score at "watch" (PSI above 0.1, not above the alarm's
    0.25) while the dashboard said "quiet, no drift": the features and the score it watches
    are named, by their labels, in the person's language."""
    from serving.console.dashboard import _monitor

    path = tmp_path / "wage-arrears.json"
    path.write_text(
        json.dumps(
            {
                "task": "wage-arrears",
                "drift": False,
                "drifted": [],
                "watched": ["si_arrears_months_3m", "score"],
            }
        )
    )
    zh, en = _monitor(path, "wage-arrears", "zh"), _monitor(path, "wage-arrears", "en")
    assert zh is not None and en is not None
    assert not zh["drift"] and zh["watched"].endswith("、评分分布"), zh
    assert en["watched"].endswith(", the scores' distribution"), en
    assert "si_arrears_months_3m" not in zh["watched"] + en["watched"]
    # written before the watch
    path.write_text(json.dumps({"task": "wage-arrears", "drift": False, "drifted": []}))
    assert _monitor(path, "wage-arrears", "en")["watched"] == ""


def test_a_person_without_a_display_name_is_named_once() -> None:
    """An account made without `--display-name` shows its name as its display name: the
    timeline read "li (li)"."""
    from serving.console.case import actor_in_words

    names = {"li": "li", "wang": "王主管"}
    t = Messages("zh")
    assert actor_in_words("user:li", t, names.get) == "li"
    assert actor_in_words("user:wang", t, names.get) == "王主管 (wang)"
    assert actor_in_words("user:gone", t, names.get) == "user:gone"
