"""`riskloop report` rebuilt on another city, one trained version walked through it.

A report rebuilt from another city is written, not logged to the version's MLflow run (only the
report built on the version's own training data is), and says so; it never replaces the
version's official report files (the ones the console serves, `<task>-v<N>.html` and
`.zh.html`) but is written under its own name; its model card keeps the training facts the
version's own (its run's rows; no positive rate the run never logged) and says the test slice is
other data, not data changed since training; the fairness table names age bands in words, in
both editions. (One version and one report per kind: each report of both editions took seconds.)
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from typer.testing import CliRunner

from features.catalog import AGE_BAND_WORDS, AGE_BANDS
from models.pages import report_file_name
from training.cli import app
from training.commands.reporting import other_data_file_name
from training.report_words import words

TASK = "telecom-fraud"


def _card(page: str, key: str) -> str:
    found = re.search(rf"<dt>{re.escape(key)}</dt><dd>(.*?)</dd>", page)
    assert found, key
    return html.unescape(found[1])


def _logged(run_id: str) -> list[str]:
    from training.tracking import tracking_client

    return sorted(item.path for item in tracking_client().list_artifacts(run_id, "reports"))


def test_a_report_on_another_city_is_written_under_its_own_name_not_logged_and_says_other_data(
    isolated_env: Path, small_city: Path, realistic_city: Path, tmp_path: Path
) -> None:
    from training.tracking import tracking_client

    runner = CliRunner()
    trained = runner.invoke(
        app, ["train", "--task", TASK, "--raw", str(small_city), "--max-rounds", "20"]
    )
    assert trained.exit_code == 0, trained.output
    client = tracking_client()
    run_id = client.get_model_version_by_alias(f"riskloop-{TASK}", "champion").run_id
    params = dict(
        client.get_run(client.get_model_version(f"riskloop-{TASK}", "1").run_id).data.params
    )
    n_train = f"{int(params['n_train']):,}"

    # another city's report, in a folder of its own: written, not logged, and said so
    elsewhere = tmp_path / "other-city"
    other = runner.invoke(
        app,
        ["report", "--task", TASK, "--raw", str(realistic_city), "--out", str(elsewhere)],
    )
    assert other.exit_code == 0, other.output
    written = sorted(path.name for path in elsewhere.iterdir())
    # named by the folder and a short digest of its whole path (documented shape)
    assert re.fullmatch(rf"{TASK}-v1-on-realistic-[0-9a-f]{{6}}\.html", written[0]), written
    assert written == [
        other_data_file_name(TASK, 1, realistic_city),
        other_data_file_name(TASK, 1, realistic_city, "zh"),
    ]
    notes = [line for line in other.stderr.splitlines() if line.strip()]
    assert len(notes) == 1 and notes[0].startswith(f"note: not logged to MLflow run {run_id}")
    assert str(realistic_city) in notes[0] and "not the version's training data" in notes[0]
    # --out holds no official report: the note names none
    assert f"written as {other_data_file_name(TASK, 1, realistic_city)} in {elsewhere}" in notes[0]
    assert "official" not in notes[0]
    assert _logged(run_id) == []

    # the version's own city, into the folder the console serves (named by --out): logged
    reports = isolated_env / "reports"
    own = runner.invoke(
        app, ["report", "--task", TASK, "--raw", str(small_city), "--out", str(reports)]
    )
    assert own.exit_code == 0, own.output
    assert "not logged" not in own.stderr
    assert _logged(run_id) == [f"reports/{TASK}-v1.html", f"reports/{TASK}-v1.zh.html"]
    official = {lang: reports / report_file_name(TASK, 1, lang) for lang in ("en", "zh")}
    before = {lang: path.read_bytes() for lang, path in official.items()}

    # another city's report beside the official editions leaves them as they were
    beside = runner.invoke(
        app, ["report", "--task", TASK, "--raw", str(realistic_city), "--lang", "en"]
    )
    assert beside.exit_code == 0, beside.output
    assert {lang: path.read_bytes() for lang, path in official.items()} == before
    renamed = reports / other_data_file_name(TASK, 1, realistic_city)
    assert beside.stdout.split() == [str(renamed)]
    page = renamed.read_text(encoding="utf-8")
    assert f"rebuilt from {realistic_city.name}, " in page and str(realistic_city) not in page
    assert f"written as {renamed.name} beside the official {official['en'].name}" in beside.stderr
    assert sorted(path.name for path in reports.iterdir()) == sorted(
        [renamed.name, *(path.name for path in official.values())]
    )

    # the model cards: the version's own training facts, and the other city said to be other data
    own_en = official["en"].read_text(encoding="utf-8")
    en = (elsewhere / other_data_file_name(TASK, 1, realistic_city)).read_text(encoding="utf-8")
    zh = (elsewhere / other_data_file_name(TASK, 1, realistic_city, "zh")).read_text(
        encoding="utf-8"
    )

    assert _card(own_en, "Training rows") == n_train
    assert re.fullmatch(r"\d+\.\d%", _card(own_en, "Training positive rate"))
    assert "Test slice rebuilt from" in own_en and "other data" not in own_en
    # every console user reads the report: the folder by its name, not the server's path
    assert f"Test slice rebuilt from {small_city.name} " in own_en
    assert str(small_city) not in own_en and str(realistic_city) not in en + zh

    assert _card(en, "Training rows") == n_train
    assert _card(en, "Training data (as-of range)") == params["train_as_of"]
    # the run's own rate, as logged at training (the other city's slice has another)
    logged_rate = _card(own_en, "Training positive rate")
    assert logged_rate == f"{float(params['train_positive_rate']):.1%}"
    assert _card(en, "Training positive rate") == logged_rate
    assert _card(zh, "训练样本数") == n_train
    assert _card(zh, "训练集正例率") == logged_rate
    assert "other data than the version was trained on" in en
    assert "changed since training" not in en
    assert "并非该版本的训练数据" in zh
    assert "训练之后数据已发生变化" not in zh

    for band in ("18_30", "31_59", "60_plus"):
        assert f"<td>{band}" not in en and f"<td>{band}" not in zh
    assert "<td>18–30" in en and "<td>60 and over" in en
    assert "<td>18–30岁" in zh and "<td>60岁及以上" in zh


def test_every_age_band_has_words_in_both_languages() -> None:
    assert set(AGE_BAND_WORDS) == set(AGE_BANDS)
    assert words("zh").audit_value("audit_age_band", "31_59") == "31–59岁"
    assert words("en").audit_value("audit_age_band", "60_plus") == "60 and over"
    assert words("zh").audit_column("audit_age_band") == "年龄段"


def test_reports_on_two_cities_in_folders_of_one_name_are_two_files(tmp_path: Path) -> None:
    """QA, 2026-12-07: `--raw m11/city` then `--raw m12/city` wrote one file, the second over
    the first; folders named in Chinese were all `-on-data`."""
    names = {
        other_data_file_name(TASK, 1, tmp_path / folder)
        for folder in ("m11/city", "m12/city", "嘉兴", "湖州")
    }
    assert len(names) == 4, names
    assert other_data_file_name(TASK, 1, tmp_path / "m11/city") == other_data_file_name(
        TASK, 1, tmp_path / "m11" / "." / "city"
    )
