"""`--with-feedback` on a warnings store that cannot give feedback (its secrets file lost, or
another pseudonym key): `build-dataset` used to build the whole dataset (35 s and 6.6 GB on the
large city) before its one-line refusal, and `train` too. Now the store is checked, and opened,
before any work: nothing is built, and no secrets file is made."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.spec import get_spec
from training.cli import app
from training.datasets import build_from_raw

TASK = "wage-arrears"


@pytest.fixture()
def store_without_secrets(isolated_env: Path) -> Path:
    """The test's folder with its warnings store, whose secrets file was then lost."""
    from models.secret_keys import secrets_path
    from serving.store import WarningStore

    WarningStore.from_settings().close()
    secrets_path().unlink()
    return isolated_env


def _refused_before_the_build(folder: Path, *needles: str) -> None:
    before = sorted(p.name for p in folder.iterdir())
    args = ["build-dataset", "--task", TASK, "--raw", "city", "--with-feedback"]
    result = CliRunner().invoke(app, [*args, "--out", "fb.parquet"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(needle in lines[0] for needle in needles), lines[0]
    assert result.stdout == ""  # no progress bar: no table loaded, no feature built
    assert sorted(p.name for p in folder.iterdir()) == before  # no secrets file, no dataset


def test_build_dataset_refuses_a_lost_secrets_file_before_building(
    store_without_secrets: Path, small_city: Path
) -> None:
    (store_without_secrets / "city").symlink_to(small_city)
    _refused_before_the_build(store_without_secrets, "no secrets file at")


def test_build_dataset_refuses_another_pseudonym_key_before_building(
    isolated_env: Path, small_city: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    WarningStore.from_settings().close()
    (isolated_env / "city").symlink_to(small_city)
    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", secrets.token_hex(32))
    get_settings.cache_clear()
    _refused_before_the_build(isolated_env, "another pseudonym key")


def test_training_data_with_feedback_checks_the_store_before_building(
    store_without_secrets: Path, small_city: Path
) -> None:
    """`train --with-feedback` builds through `build_from_raw`: no feature is built either."""
    from models.secret_keys import secrets_path
    from training.errors import UserError

    built: list[int] = []
    with pytest.raises(UserError, match="no secrets file at"):
        build_from_raw(
            get_spec(TASK), small_city, lambda done, _: built.append(done), with_feedback=True
        )
    assert built == []
    assert not secrets_path().exists()


def test_train_with_feedback_refuses_before_its_progress_bar(
    store_without_secrets: Path, small_city: Path
) -> None:
    """`train --with-feedback` printed its progress bar's empty line before the refusal."""
    before = sorted(p.name for p in store_without_secrets.iterdir())
    args = ["train", "--task", TASK, "--raw", str(small_city), "--with-feedback"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no secrets file at" in lines[0], result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in store_without_secrets.iterdir()) == before


def test_materialize_refuses_a_key_the_store_was_not_made_with(
    isolated_env: Path, small_city: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine with another RISKLOOP_PSEUDONYM_SECRET, sharing the deployment's store and data
    folder, materialized rows under its key; the service then answered "not materialized" for
    every id. The store's key check refuses it before any feature is built or written."""
    from models.settings import get_settings
    from serving.store import WarningStore

    WarningStore.from_settings().close()
    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", secrets.token_hex(32))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["materialize", "--task", TASK, "--raw", str(small_city)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "another pseudonym key" in lines[0], result.stderr
    assert not (get_settings().data_dir / "online").exists()
