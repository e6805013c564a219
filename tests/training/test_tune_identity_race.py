"""Two workers starting one shared study at the same moment: the identity attributes are
written one at a time, so the second can read the study half-recorded. It waits for the first
to finish instead of refusing it as "made on another dataset (fingerprint None)" (a CI run's
two-worker tuning test failed so), and still refuses a study really made for other data."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import optuna
import pytest

import training.tune as tune_module
from training.tune import (
    DATASET_ATTR,
    SEED_ATTR,
    SETTINGS_ATTR,
    TASK_ATTR,
    StudyMismatchError,
    bind_study,
)

IDENTITY = {
    TASK_ATTR: "wage-arrears",
    DATASET_ATTR: "b129358cefbae832",
    SETTINGS_ATTR: "catalog 3, 40 features, max rounds 60, early stopping 20",
    SEED_ATTR: "42",
}


def _study(tmp_path: Path) -> optuna.Study:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    return optuna.create_study(study_name="shared", storage=storage, direction="maximize")


def _half_written(tmp_path: Path, identity: dict[str, str]) -> optuna.Study:
    study = _study(tmp_path)
    for key in (SEED_ATTR, TASK_ATTR):
        study.set_user_attr(key, identity[key])
    return study


def test_a_study_half_recorded_by_another_worker_is_waited_for(tmp_path: Path) -> None:
    study = _half_written(tmp_path, IDENTITY)

    def first_worker_finishes() -> None:
        time.sleep(0.4)
        for key in (DATASET_ATTR, SETTINGS_ATTR):
            study.set_user_attr(key, IDENTITY[key])

    writer = threading.Thread(target=first_worker_finishes)
    writer.start()
    bind_study(study, IDENTITY)
    writer.join()
    assert {key: study.user_attrs[key] for key in IDENTITY} == IDENTITY


def test_a_half_recorded_study_of_other_data_is_still_refused(tmp_path: Path) -> None:
    study = _half_written(tmp_path, IDENTITY)

    def first_worker_finishes() -> None:
        time.sleep(0.4)
        study.set_user_attr(DATASET_ATTR, "0000000000000000")
        study.set_user_attr(SETTINGS_ATTR, IDENTITY[SETTINGS_ATTR])

    writer = threading.Thread(target=first_worker_finishes)
    writer.start()
    with pytest.raises(StudyMismatchError, match="fingerprint 0000000000000000"):
        bind_study(study, IDENTITY)
    writer.join()


def test_a_writer_that_stopped_half_way_leaves_the_rest_to_this_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tune_module, "IDENTITY_WAIT_S", 0.3)
    study = _half_written(tmp_path, IDENTITY)
    bind_study(study, IDENTITY)
    assert {key: study.user_attrs[key] for key in IDENTITY} == IDENTITY


def test_a_new_study_records_its_seed_first(tmp_path: Path) -> None:
    """A worker that reads the task, dataset and settings then also reads the seed."""
    study = _study(tmp_path)
    written: list[str] = []
    original = study.set_user_attr

    def recording(key: str, value: str) -> None:
        written.append(key)
        original(key, value)

    study.set_user_attr = recording  # type: ignore[method-assign]
    bind_study(study, IDENTITY)
    assert written[0] == SEED_ATTR and sorted(written) == sorted(IDENTITY)
