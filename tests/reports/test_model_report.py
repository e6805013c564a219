"""The model report: self-contained, every section present, fidelity checks passing on known drivers."""

from __future__ import annotations

import base64
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
    assert '<p id="fidelity-features">' in synthetic_report


def test_a_report_for_another_task_is_refused(synthetic_model, synthetic_test_slice) -> None:
    frame, _ = synthetic_test_slice
    with pytest.raises(ValueError, match="not telecom-fraud"):
        build_report("telecom-fraud", synthetic_model, frame)
