"""The online store: `riskloop materialize` writes each entity's latest row; lookups by id."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.secret_keys import load_secrets
from serving.online_store import EntityNotMaterialized, OnlineStore, latest_rows, online_path
from serving.store.pseudonym import pseudonymise


def test_materialize_cli_keeps_the_latest_row_per_entity(
    isolated_env: Path, small_city: Path
) -> None:
    from training.cli import app
    from training.commands.service import build_scoring_set

    load_secrets()  # the deployment's secrets file, as set-up makes it: materialize needs it
    result = CliRunner().invoke(
        app, ["materialize", "--task", "telecom-fraud", "--raw", str(small_city)]
    )
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(online_path("telecom_fraud", isolated_env / "data"))
    scoring = build_scoring_set("telecom-fraud", small_city)
    hasher = partial(pseudonymise, load_secrets().pseudonym_secret)
    raw_ids = scoring["entity_id"].astype(str)
    by_hash = {hasher(entity): entity for entity in raw_ids}
    assert written["entity_id"].is_unique
    # keyed by pseudonym: no raw id in the file, every entity's pseudonym there
    assert set(written["entity_id"]) == set(by_hash)
    assert not set(written["entity_id"]) & set(raw_ids)
    latest = scoring.assign(entity_id=raw_ids).groupby("entity_id")["as_of"].max()
    written_raw = written["entity_id"].map(by_hash)
    assert (written["as_of"].to_numpy() == latest.loc[written_raw].to_numpy()).all()
    assert not any(c.startswith("audit_") for c in written.columns)

    store = OnlineStore(isolated_env / "data")
    ids = [written_raw.iloc[2], written_raw.iloc[0], written_raw.iloc[2]]
    rows = store.lookup("telecom_fraud", ids, hasher)
    assert rows["entity_id"].tolist() == ids
    with pytest.raises(EntityNotMaterialized, match="nobody") as raised:
        store.lookup("telecom_fraud", [ids[0], "nobody"], hasher)
    # not only "run materialize", which cannot help a unit outside the scoring population
    assert "sending its features as `records`" in str(raised.value)
    with pytest.raises(EntityNotMaterialized):
        store.lookup("wage_arrears", ids[:1], hasher)


def test_materialize_cli_rejects_unknown_task_and_missing_folder(
    isolated_env: Path, tmp_path: Path
) -> None:
    from training.cli import app

    runner = CliRunner()
    unknown = runner.invoke(app, ["materialize", "--task", "parking", "--raw", str(tmp_path)])
    assert unknown.exit_code == 2 and "parking" in unknown.output
    missing = runner.invoke(
        app, ["materialize", "--task", "wage-arrears", "--raw", str(tmp_path / "none")]
    )
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_materialize_from_an_empty_registry_keeps_the_online_store(
    isolated_env: Path, small_city: Path
) -> None:
    """An export whose employer registry came empty must not wipe what the service reads."""
    import shutil

    from training.cli import app

    load_secrets()  # the deployment's secrets file, as set-up makes it: materialize needs it
    runner = CliRunner()
    first = runner.invoke(app, ["materialize", "--task", "wage-arrears", "--raw", str(small_city)])
    assert first.exit_code == 0, first.output
    path = online_path("wage_arrears", isolated_env / "data")
    before = path.read_bytes()
    empty = isolated_env / "export"
    shutil.copytree(small_city / "wage_arrears", empty / "wage_arrears")
    employers = empty / "wage_arrears" / "employers.parquet"
    pd.read_parquet(employers).head(0).to_parquet(employers)
    result = runner.invoke(app, ["materialize", "--task", "wage-arrears", "--raw", str(empty)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no wage-arrears entities to materialize" in lines[0]
    assert path.read_bytes() == before


def test_materialize_into_a_data_dir_it_cannot_write_is_one_line(
    isolated_env: Path, small_city: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.settings import get_settings
    from training.cli import app

    load_secrets()  # the deployment's secrets file, as set-up makes it: materialize needs it
    (isolated_env / "a-file").write_text("in the way")
    monkeypatch.setenv("RISKLOOP_DATA_DIR", str(isolated_env / "a-file"))
    get_settings.cache_clear()
    result = CliRunner().invoke(
        app, ["materialize", "--task", "wage-arrears", "--raw", str(small_city)]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write the online store" in lines[0], result.stderr


def test_latest_rows_picks_the_newest_as_of() -> None:
    from features.catalog import CATALOG

    names = [f.name for f in CATALOG["dispute_escalation"]]
    frame = pd.DataFrame(
        {
            "entity_id": ["a", "a", "b"],
            "as_of": pd.to_datetime(["2026-01-01", "2026-03-01", "2026-02-01"]),
            **{name: [None, None, None] for name in names},
            "audit_district": ["x", "y", "z"],
        }
    )
    latest = latest_rows("dispute_escalation", frame)
    assert latest["entity_id"].tolist() == ["a", "b"]
    assert latest["as_of"].tolist() == list(pd.to_datetime(["2026-03-01", "2026-02-01"]))
    assert "audit_district" not in latest.columns
    assert latest["district"].tolist() == ["y", "z"]  # kept for the warning, not as a feature
