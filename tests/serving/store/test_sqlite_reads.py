"""The SQLite driver-level read of a request's existing warnings returns what Core returns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.store import WarningStore
from serving.store.models import RiskWarning
from serving.store.sqlite import select_in_sqlite
from tests.serving.store.conftest import SECRET

COLUMNS = ("id", "task", "entity_hash", "period", "status", "score", "as_of", "version")


def test_driver_level_select_matches_core(
    tmp_path: Path, scored: Callable[..., dict[str, object]]
) -> None:
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", SECRET) as store:
        for as_of in (date(2026, 3, 5), date(2026, 4, 5)):
            store.record_scores(
                actor="test",
                task="wage-arrears",
                model_name="m",
                model_version="1",
                results=[scored(f"E-{i}", 0.5 + i / 100, "orange") for i in range(12)],
                as_of=as_of,
            )
        store.record_scores(
            actor="test",
            task="telecom-fraud",
            model_name="m",
            model_version="1",
            results=[scored("E-1", 0.9, "red")],
            as_of=date(2026, 3, 5),
        )
        hashes = sorted(store.pseudonymise(f"E-{i}") for i in (1, 4, 7, 99))
        periods = [date(2026, 3, 1), date(2026, 4, 1)]
        table = RiskWarning.__table__
        engine = store._engine  # the store's own engine: the read runs in its session
        with Session(engine) as session:
            got = select_in_sqlite(
                session,
                engine.dialect,
                table,
                COLUMNS,
                {"task": "wage-arrears"},
                {"entity_hash": hashes, "period": periods},
                "id",
            )
            query = (
                select(*[table.c[name] for name in COLUMNS])
                .where(
                    table.c.task == "wage-arrears",
                    table.c.entity_hash.in_(hashes),
                    table.c.period.in_(periods),
                )
                .order_by(table.c.id)
            )
            want = [dict(row) for row in session.execute(query).mappings()]
    assert len(got) == 6  # three known entities, two periods; E-99 and the fraud row excluded
    assert got == want
    assert all(type(row["period"]) is date and type(row["score"]) is float for row in got)
