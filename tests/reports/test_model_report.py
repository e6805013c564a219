"""The model report: self-contained, every section present, fidelity checks passing on known drivers."""

from __future__ import annotations

import base64
import html
import io
import re

import pytest
from PIL import Image

from training.report import SECTION_IDS, build_report


def _data_images(page: str) -> list[Image.Image]:
    images = []
    for encoded in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        image = Image.open(io.BytesIO(base64.b64decode(encoded)))
        image.load()
        images.append(image)
    return images


def test_synthetic_report_is_self_contained_with_every_section(synthetic_report: str) -> None:
    """Static checks; the Chromium render runs on the small city's report (test_reporting_cli)."""
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", synthetic_report)
    assert "<script" not in synthetic_report
    decoded = _data_images(synthetic_report)
    assert len(decoded) >= 10 and all(image.width > 300 for image in decoded)
    found = re.findall(r'<section id="([^"]+)">', synthetic_report)
    assert found == list(SECTION_IDS)
    assert "近6个月社保欠缴月数" in synthetic_report  # Chinese catalog labels beside English


def test_the_synthetic_fidelity_section_passes(synthetic_report: str) -> None:
    """On a task built from known drivers, the report's fidelity checks pass."""
    for check in ("fidelity-drivers", "fidelity-top-reasons"):
        match = re.search(rf'<p id="{check}"><span class="(pass|fail)">', synthetic_report)
        assert match is not None and match.group(1) == "pass", check
    assert '<p id="fidelity-rule">' in synthetic_report
    # said as the check it is: beside a FAIL, "Every planted driver ranks above…" stated the
    # opposite of the verdict
    assert "</span> Check: every planted driver should rank above every noise" in synthetic_report
    assert '<p id="fidelity-features">' in synthetic_report


def test_a_report_for_another_task_is_refused(synthetic_model, synthetic_test_slice) -> None:
    frame, _ = synthetic_test_slice
    with pytest.raises(ValueError, match="not telecom-fraud"):
        build_report("telecom-fraud", synthetic_model, frame)


# Latin words a Chinese reader meets as they are: names of methods, tools and metrics.
_KEPT_TERMS = {"SHAP", "TreeSHAP", "ROC", "AUC", "PR", "Brier", "MLflow", "ID", "riskloop"}
# The texts a reader reads as sentences and names: every one of them must be in Chinese.
_PROSE = re.compile(r"<(h1|h2|h3|th|p|li|dt|a|figcaption)\b[^>]*>(.*?)</\1>", re.S)


def _leftover_english(page: str) -> list[str]:
    """Sentences, headings, headers and card keys still holding an English word, and alt
    texts with one (identifiers in <code>, snake_case names and file names excepted)."""
    body = page.split("</style>", 1)[1]
    texts = [m.group(2) for m in _PROSE.finditer(body)]
    texts += re.findall(r'\salt="([^"]*)"', body)
    found = []
    for text in texts:
        plain = html.unescape(re.sub(r"<code>.*?</code>|<[^>]+>", " ", text))
        plain = re.sub(r"`[^`]*`|\S*[_/.]\S*", " ", plain)  # identifiers, paths, file names
        words = [w for w in re.findall(r"[A-Za-z]{2,}", plain) if w not in _KEPT_TERMS]
        if words:
            found.append(f"{words}: {plain.strip()[:80]}")
    return found


def _section_text(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.S)
    assert match is not None, section_id
    return re.sub(r"<code>.*?</code>|<[^>]+>", " ", match.group(1))


def test_the_chinese_edition_has_every_section_in_chinese(
    synthetic_report: str, synthetic_report_zh: str
) -> None:
    page = synthetic_report_zh
    assert '<html lang="zh-CN">' in page and '<html lang="en">' in synthetic_report
    found = re.findall(r'<section id="([^"]+)">', page)
    assert found == re.findall(r'<section id="([^"]+)">', synthetic_report) == list(SECTION_IDS)
    assert len(_data_images(page)) == len(_data_images(synthetic_report))
    assert _leftover_english(page) == []
    # a command named in a limit is code on both pages, no backtick left showing
    for edition in (page, synthetic_report):
        assert "<code>riskloop monitor</code>" in edition and "`riskloop" not in edition
    assert _leftover_english(synthetic_report)  # the check does see English
    for section_id in SECTION_IDS:
        text = _section_text(page, section_id)
        cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
        assert cjk > 40, (section_id, cjk)
    for term in (
        "模型卡",
        "测试集",
        "校准",
        "公平性",
        "解释保真度",
        "预警样例",
        "预期用途",
        "已知局限",
    ):
        assert term in page, term
    # risk levels named as the console names them, checks as 通过 / 未通过
    assert '<span class="level level-red">红色</span>' in page
    assert re.search(r'<p id="fidelity-drivers"><span class="pass">通过</span>', page)
    assert "欠薪" in _section_text(page, "model-card")  # the task's intended use in Chinese
    # times on the city's clock in both editions, as the console shows them
    assert "2026-01-02 11:04（北京时间）" in page
    assert "2026-01-02 11:04 (Beijing time)" in synthetic_report
    # figures and identifiers as the English edition writes them
    for same in ("si_arrears_months_6m", "riskloop-wage-arrears", "1,200"):
        assert same in page and same in synthetic_report, same


def test_a_report_in_another_language_is_refused(synthetic_model, synthetic_test_slice) -> None:
    frame, _ = synthetic_test_slice
    with pytest.raises(ValueError, match="expected en or zh"):
        build_report("wage-arrears", synthetic_model, frame, lang="fr")
