"""A low-rate city (few positives per slice): the label-leakage guard judges a figure by its
95% interval, so the rare label's planted driver trains with a `note:` instead of being refused
as leakage, while a perfect leak is still refused (an honest model's perfect ranking of two
test positives is a note); and `train`, `promote`, `riskloop models` and the report state a
test slice's few positives with the ROC-AUC's interval."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.spec import get_spec
from training.cli import app
from training.datasets import build_from_raw
from training.leakage import (
    LEAKAGE_MIN_POSITIVES,
    LEAKY_MODEL_AUC,
    auc_interval,
    screen_model,
)
from training.train import FEW_TEST_POSITIVES

FRAUD = "telecom-fraud"
DISPUTE = "dispute-escalation"
DRIVER = "screen_sharing_alerts_30d"


@pytest.fixture(scope="module")
def low_rate_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The QA sweep's city: small, seed 54, rate x0.02 (19 fraud positives in the training
    slice, all with two or more screen-sharing alerts; 6 dispute positives in the test slice)."""
    from data_samples.city import generate_city

    out = tmp_path_factory.mktemp("city") / "low-rate"
    generate_city(out, size="small", seed=54, rate_multiplier=0.02)
    return out


def _notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note: ")]


def test_the_interval_is_hanley_and_mcneils_and_decides_only_below_the_positives_limit() -> None:
    auc, positives, negatives = 0.9, 6, 2933
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    error = math.sqrt(
        (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2))
        / (positives * negatives)
    )
    low, high = auc_interval(auc, positives, negatives)
    assert low == pytest.approx(auc - 1.959964 * error) and high == 1.0
    # a perfect figure's error is taken half a pair from the edge: never an interval of zero
    # width, and narrower the more pairs the slice holds (below the model's limit on 2
    # positives, above it on 20)
    edge = 1 - 0.5 / (3 * 500)
    q1, q2 = edge / (2 - edge), 2 * edge * edge / (1 + edge)
    error = math.sqrt((edge * (1 - edge) + 2 * (q1 - edge**2) + 499 * (q2 - edge**2)) / (3 * 500))
    assert auc_interval(1.0, 3, 500) == pytest.approx((1.0 - 1.959964 * error, 1.0))
    assert auc_interval(0.0, 3, 500)[0] == 0.0 < auc_interval(0.0, 3, 500)[1]
    assert auc_interval(1.0, 2, 599)[0] < LEAKY_MODEL_AUC < auc_interval(1.0, 20, 7480)[0]

    def metrics(auc: float, positives: int, rows: int = 7500) -> dict[str, float]:
        return {"roc_auc": auc, "n_rows": rows, "positive_rate": positives / rows}

    few = screen_model(metrics(0.9971, 17))  # seed 42 x0.004's fraud model
    assert few.findings == [] and few.note.startswith(
        f"the model's test ROC-AUC 0.9971 reaches the leakage limit {LEAKY_MODEL_AUC}, but on 17 "
        "test positives its 95% interval reaches down to 0.97"
    )
    # an honest model ranks a test slice of two positives perfectly (small city seed 42 at
    # x0.004, disputes: 2 of 601 rows): a note; on 20 positives a perfect figure is refused
    honest = screen_model(metrics(1.0, 2, rows=601))
    assert honest.findings == [] and honest.note.startswith(
        f"the model's test ROC-AUC 1.0000 reaches the leakage limit {LEAKY_MODEL_AUC}, but on 2 "
        "test positives its 95% interval reaches down to 0.9800"
    )
    perfect = screen_model(metrics(1.0, 20))
    assert perfect.findings == [
        "the model's test ROC-AUC is 1.0000 (95% interval from 0.9994 on 20 test positives)"
    ]
    # enough positives: the figure alone decides, as it always did
    enough = screen_model(metrics(0.996, LEAKAGE_MIN_POSITIVES))
    assert enough.findings == ["the model's test ROC-AUC is 0.9960"] and not enough.note


def test_the_rare_labels_driver_trains_with_a_note_and_a_perfect_leak_is_still_refused(
    isolated_env: Path, low_rate_city: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--task", FRAUD, "--raw", str(low_rate_city)])
    assert trained.exit_code == 0, trained.output
    (note,) = [line for line in _notes(trained.stderr) if DRIVER in line]
    assert re.search(
        rf"{DRIVER}'s single-feature ROC-AUC 0\.99\d\d on the training slice reaches the "
        r"leakage limit 0\.99, but on 19 positives its 95% interval reaches down to 0\.9\d{3} "
        r"\(Hanley & McNeil\): not refused as label leakage",
        note,
    ), note

    # the same slice with the driver replaced by the label itself: refused, bound and all
    frame = build_from_raw(get_spec(FRAUD), low_rate_city).frame
    leaky = tmp_path / "leaky.parquet"
    frame.assign(**{DRIVER: frame["label"].astype("int64") * 3}).to_parquet(leaky, index=False)
    refused = runner.invoke(app, ["train", "--task", FRAUD, "--dataset", str(leaky)])
    assert refused.exit_code == 2, refused.output
    (line,) = refused.stderr.strip().splitlines()
    assert re.search(
        rf"{DRIVER} \(single-feature ROC-AUC 1\.0000 on the training slice; 95% interval from "
        r"0\.999\d on 19 positives\)",
        line,
    ), line
    assert "at the simulated cities' normal rates honest features stay below 0.8" in line


def test_few_test_positives_are_stated_by_train_promote_models_and_the_report(
    isolated_env: Path, low_rate_city: Path
) -> None:
    runner = CliRunner()
    raw = ["--task", DISPUTE, "--raw", str(low_rate_city)]
    caveat = (
        rf"the test slice holds only 6 positives \(of 601 rows, fewer than {FEW_TEST_POSITIVES}\)"
    )
    for seed in ("7", "3"):
        trained = runner.invoke(app, ["train", *raw, "--seed", seed])
        assert trained.exit_code == 0, trained.output
        notes = [line for line in _notes(trained.stderr) if re.search(caveat, line)]
        assert len(notes) == 1, trained.stderr
        assert re.search(r": its ROC-AUC 0\.\d{3} has a 95% interval of 0\.\d{3}-1\.000", notes[0])

    promoted = runner.invoke(app, ["promote", "--task", DISPUTE])
    assert promoted.exit_code in (0, 3), promoted.output
    (note,) = [line for line in _notes(promoted.stderr) if re.search(caveat, line)]
    assert re.search(
        r"challenger v2 ROC-AUC 0\.\d{3} \(95% interval 0\.\d{3}-1\.000\), champion v1 0\.\d{3} "
        r"\(0\.\d{3}-1\.000; Hanley & McNeil\): the intervals overlap, so the AUC comparison "
        "cannot tell the versions apart",
        note,
    ), note

    listed = runner.invoke(app, ["models"])
    rows = [line.split() for line in listed.stdout.splitlines() if line.startswith(DISPUTE)]
    assert [row[1] for row in rows] == ["2", "1"] and all(
        any(re.fullmatch(r"0\.\d{4}\*", cell) for cell in row) for row in rows
    ), listed.stdout
    assert f"AUC *: measured on a test slice of fewer than {FEW_TEST_POSITIVES} positives" in (
        listed.stdout
    )

    reported = runner.invoke(app, ["report", "--task", DISPUTE, "--out", "reports"])
    assert reported.exit_code == 0, reported.output
    section = {
        path.name: path.read_text().split('id="performance"')[1].split("<section")[0]
        for path in Path("reports").glob("*.html")
    }
    assert re.search(
        r"The test slice holds only 6 positives \(fewer than 30\): the model&#39;s ROC-AUC has a "
        r"95% interval of 0\.\d{3}–1\.000",
        section[f"{DISPUTE}-v2.html"],
    )
    assert re.search(
        r"测试集仅有正例 6 条（不足 30 条）：模型 ROC-AUC 的 95% 置信区间为 0\.\d{3}–1\.000",
        section[f"{DISPUTE}-v2.zh.html"],
    )


def test_the_main_job_states_few_test_positives_as_train_does(
    isolated_env: Path, low_rate_city: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`riskloop run` trains a task's first champion itself: the caveat `train` gives on a test
    slice of few positives is said among its own lines, not dropped."""
    from models.settings import get_settings
    from training.commands.main_job import _ensure_champion, _ensure_dataset

    dataset, _ = _ensure_dataset(DISPUTE, low_rate_city, isolated_env / "datasets")
    capsys.readouterr()
    _ensure_champion(DISPUTE, dataset, low_rate_city / "truth", get_settings().mlflow_uri)
    said = capsys.readouterr().err.splitlines()
    registered = [
        n for n, line in enumerate(said) if "registered riskloop-dispute-escalation v1" in line
    ]
    assert len(registered) == 1, said
    after = said[registered[0] + 1 :]
    caveat = rf"^riskloop run:   note: the test slice holds only 6 positives \(of 601 rows, fewer than {FEW_TEST_POSITIVES}\): its ROC-AUC 0\.\d{{3}} has a 95% interval of 0\.\d{{3}}-1\.000"
    assert any(re.search(caveat, line) for line in after), said
