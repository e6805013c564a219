"""`riskloop report` end to end on the small city: train, report, log, render in Chromium."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.environment import stores_root
from training.cli import app
from training.report import SECTION_IDS

TASK = "wage-arrears"


@pytest.fixture(scope="module")
def trained_wage_arrears(
    small_city: Path, tmp_path_factory: pytest.TempPathFactory, empty_mlflow_store: Path
) -> Iterator[Path]:
    """A first wage-arrears version (champion) in a fresh MLflow store, shared by this module.

    Like the shared `isolated_env`, but trained once for the module: every riskloop store
    points into a temporary folder, the MLflow store a copy of `empty_mlflow_store` (making
    one anew runs MLflow's schema migrations, about 2.5 s of CPU).
    """
    from models.settings import get_settings

    root = stores_root(tmp_path_factory, "report-env", empty_mlflow_store)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("RISKLOOP_MLFLOW_URI", f"sqlite:///{root / 'mlruns.db'}")
        patch.setenv("RISKLOOP_ARTIFACT_LOCATION", str(root / "mlartifacts"))
        patch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{root / 'riskloop.db'}")
        patch.setenv("RISKLOOP_KEYS_FILE", str(root / "keys.json"))
        patch.setenv("RISKLOOP_DATA_DIR", str(root / "data"))
        patch.setenv("RISKLOOP_REPORTS_DIR", str(root / "reports"))
        get_settings.cache_clear()
        result = CliRunner().invoke(
            app, ["train", "--task", TASK, "--raw", str(small_city), "--max-rounds", "60"]
        )
        assert result.exit_code == 0, result.output
        yield root
    get_settings.cache_clear()


def test_report_command_writes_logs_and_renders(
    trained_wage_arrears: Path, small_city: Path, tmp_path: Path, browser_check
) -> None:
    from models.settings import get_settings
    from training.tracking import tracking_client

    result = CliRunner().invoke(app, ["report", "--task", TASK, "--raw", str(small_city)])

    assert result.exit_code == 0, result.output
    folder = get_settings().reports_dir
    path, path_zh = (Path(line) for line in result.stdout.strip().splitlines()[-2:])
    assert (path, path_zh) == (folder / f"{TASK}-v1.html", folder / f"{TASK}-v1.zh.html")
    page = path.read_text(encoding="utf-8")
    client = tracking_client()
    version = client.get_model_version_by_alias(f"riskloop-{TASK}", "champion")
    logged = [item.path for item in client.list_artifacts(version.run_id, "reports")]
    assert sorted(logged) == [f"reports/{TASK}-v1.html", f"reports/{TASK}-v1.zh.html"]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    for encoded in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        Image.open(io.BytesIO(base64.b64decode(encoded))).verify()
    for audit_group in ("audit_district", "audit_sector", "audit_size_band"):
        assert f'data-group="{audit_group}"' in page
    assert "社保" in page  # catalog labels in Chinese beside English

    seen = browser_check(path, f"model-report-{TASK}.png")

    assert seen.console_errors == []
    assert seen.network_requests == []
    assert seen.section_ids == list(SECTION_IDS)
    assert len(seen.images) >= 10
    assert all(image["complete"] and image["width"] > 300 for image in seen.images)

    # the Chinese edition: same sections and charts, its data note and task in Chinese
    page_zh = path_zh.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page_zh
    assert "测试集由" in page_zh and "欠薪风险" in page_zh
    seen_zh = browser_check(path_zh, f"model-report-{TASK}-zh.png")
    assert seen_zh.console_errors == [] and seen_zh.network_requests == []
    assert seen_zh.section_ids == list(SECTION_IDS)
    assert len(seen_zh.images) == len(seen.images)
    assert all(image["complete"] and image["width"] > 300 for image in seen_zh.images)
    assert seen_zh.title.startswith("riskloop 模型报告：欠薪风险")


def test_report_command_writes_the_edition_asked_for(
    trained_wage_arrears: Path, small_city: Path, tmp_path: Path
) -> None:
    arguments = ["report", "--task", TASK, "--raw", str(small_city), "--out", str(tmp_path)]

    result = CliRunner().invoke(app, [*arguments, "--lang", "zh"])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / f"{TASK}-v1.zh.html")
    assert [item.name for item in tmp_path.iterdir()] == [f"{TASK}-v1.zh.html"]
    # the model card says how the version became champion (the version's registry tag)
    page_zh = (tmp_path / f"{TASK}-v1.zh.html").read_text(encoding="utf-8")
    assert "成为在用模型版本的方式" in page_zh
    assert "该任务的首个版本（训练后即为在用模型版本）" in page_zh


def test_report_command_bad_input_gives_one_clear_line(
    trained_wage_arrears: Path, small_city: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    cases = {
        ("--task", "nope"): "unknown task",
        ("--task", TASK, "--version", "7", "--raw", str(small_city)): "no version 7",
        ("--task", TASK, "--alias", "challenger", "--version", "1"): "not both",
        ("--task", TASK, "--raw", str(trained_wage_arrears / "missing")): "does not exist",
        (
            "--task",
            TASK,
            "--raw",
            str(small_city),
            "--out",
            str(small_city / "manifest.json" / "reports"),
        ): "inside the raw data folder",
        ("--task", TASK, "--raw", str(small_city), "--out", str(a_file / "reports")): (
            "cannot write reports to"
        ),
        ("--task", TASK, "--raw", str(small_city), "--lang", "fr"): "--lang must be en, zh or both",
    }
    for arguments, message in cases.items():
        result = runner.invoke(app, ["report", *arguments])
        assert result.exit_code == 2, (arguments, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
