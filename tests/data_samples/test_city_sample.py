"""The committed CSV excerpt is what `write_csv_sample` makes of the small city, and stays small."""

from __future__ import annotations

from pathlib import Path

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
    changed = [str(name) for name in fresh if fresh[name] != committed[name]]
    assert not changed, f"regenerate data_samples/sample with write_csv_sample: {changed}"
    assert max(written.values()) <= 400
    assert all(rows > 0 for rows in written.values())
    assert sum(len(content) for content in committed.values()) < 1_000_000
