"""The committed CSV excerpt is what `write_csv_sample` makes of the small city, and stays small.

Byte for byte but for the truth's probabilities, which are equal to 1e-12 relative: NumPy's
`exp` and `log` round their last bits by the CPU's vector instructions (AVX-512 or AVX2), so a
unit's `true_prob` differs in its last digits between machines (seen: 3e-14 relative, 4 of 364
values) while every id, date, driver and raw table is the same.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from data_samples.city import write_csv_sample

COMMITTED = Path(__file__).resolve().parents[2] / "data_samples" / "sample"


def test_committed_sample_is_regenerated_byte_for_byte(small_city: Path, tmp_path: Path) -> None:
    written = write_csv_sample(small_city, tmp_path / "sample")
    fresh = {
        p.relative_to(tmp_path / "sample"): p.read_bytes()
        for p in sorted((tmp_path / "sample").rglob("*"))
        if p.is_file()
    }
    committed = {
        p.relative_to(COMMITTED): p.read_bytes()
        for p in sorted(COMMITTED.rglob("*"))
        if p.is_file()
    }
    assert sorted(fresh) == sorted(committed)
    changed = [str(name) for name in fresh if not _same(name, fresh[name], committed[name])]
    assert not changed, f"regenerate data_samples/sample with write_csv_sample: {changed}"
    assert max(written.values()) <= 400
    assert all(rows > 0 for rows in written.values())
    assert sum(len(content) for content in committed.values()) < 1_000_000


def _same(name: Path, fresh: bytes, committed: bytes) -> bool:
    """Equal bytes, or for a truth table the same text but for float columns equal to 1e-12."""
    if fresh == committed:
        return True
    if name.parts[0] != "truth" or name.suffix != ".csv":
        return False
    new, old = (pd.read_csv(io.BytesIO(text)) for text in (fresh, committed))
    floats = [column for column in old if old[column].dtype.kind == "f"]
    if list(new) != list(old) or not floats:
        return False
    if not new.drop(columns=floats).equals(old.drop(columns=floats)):
        return False
    return all(np.allclose(new[c], old[c], rtol=1e-12, atol=0, equal_nan=True) for c in floats)
