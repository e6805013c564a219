"""The check that riskloop keeps no raw identifier at rest (issue 12): every byte it wrote,
searched for the city's raw ids, identity-card numbers and mobile numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

# columns of the raw tables that hold a unit's or a person's identifier
_ID_COLUMNS = ("employer_id", "resident_id", "dispute_id", "party_id", "entity_id")
# resident identity-card numbers and mainland mobile numbers, wherever they might come from
# (not after a decimal point: a float's digits are no phone number)
_PERSONAL_NUMBER = re.compile(rb"(?<![0-9A-Za-z.])(\d{17}[\dX]|1[3-9]\d{9})(?![0-9A-Za-z])")


def assert_no_raw_identifiers(root: Path, city: Path, exports: set[Path]) -> None:
    """Read every file under `root` but `exports` (Parquet decoded, the rest as bytes: SQLite
    files with their WAL, MLflow's database and artifacts, reports, logs) and find no raw id
    of the city."""
    raw_ids: set[bytes] = set()
    for table in city.rglob("*.parquet"):
        frame = pd.read_parquet(table)
        for column in _ID_COLUMNS:
            if column in frame.columns:
                raw_ids |= {str(v).encode() for v in frame[column].dropna().unique()}
    assert len(raw_ids) > 1000  # the check below has something to find
    scanned, found = 0, {}
    for path in root.rglob("*"):
        if not path.is_file() or path in exports:
            continue
        data = (
            pd.read_parquet(path).to_csv(index=False).encode()
            if path.suffix == ".parquet"
            else path.read_bytes()
        )
        scanned += len(data)
        leaked = set(re.findall(rb"[A-Za-z0-9]{8,}", data)) & raw_ids
        leaked |= {m.group(0) for m in _PERSONAL_NUMBER.finditer(data)}
        if leaked:
            found[str(path.relative_to(root))] = sorted(leaked)[:3]
    assert scanned > 1_000_000 and found == {}, found
