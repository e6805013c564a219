"""A report rebuilt on another city keeps the model card's training facts the version's own (its
run's rows; no positive rate the run never logged) and says the test slice is other data, not
data changed since training; the fairness table names age bands in words, in both editions."""

from __future__ import annotations

import html
import re
from pathlib import Path

from typer.testing import CliRunner

from features.catalog import AGE_BAND_WORDS, AGE_BANDS
from training.cli import app
from training.report_words import words

TASK = "telecom-fraud"


def _card(page: str, key: str) -> str:
    found = re.search(rf"<dt>{re.escape(key)}</dt><dd>(.*?)</dd>", page)
    assert found, key
    return html.unescape(found[1])


def _run_params() -> dict[str, str]:
    from training.tracking import tracking_client

    client = tracking_client()
    version = client.get_model_version("riskloop-telecom-fraud", "1")
    return dict(client.get_run(version.run_id).data.params)


def test_a_report_on_another_city_shows_the_runs_training_facts_and_says_other_data(
    isolated_env: Path, small_city: Path, realistic_city: Path
) -> None:
    runner = CliRunner()
    trained = runner.invoke(
        app, ["train", "--task", TASK, "--raw", str(small_city), "--max-rounds", "20"]
    )
    assert trained.exit_code == 0, trained.output
    params = _run_params()
    n_train = f"{int(params['n_train']):,}"

    own = runner.invoke(app, ["report", "--task", TASK, "--raw", str(small_city)])
    other = runner.invoke(app, ["report", "--task", TASK, "--raw", str(realistic_city)])

    assert own.exit_code == 0, own.output
    assert other.exit_code == 0, other.output
    reports = isolated_env / "reports"
    own_en = (reports / f"{TASK}-v1.html").read_text(encoding="utf-8")
    en = (reports / f"{TASK}-v1-on-realistic.html").read_text(encoding="utf-8")
    zh = (reports / f"{TASK}-v1-on-realistic.zh.html").read_text(encoding="utf-8")

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
