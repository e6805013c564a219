"""Raw CSV exports as a city's departments write them, read by `training.raw_io`, and the CSV
`riskloop score` writes for people.

Each test writes a wage-arrears folder of header-only CSV files (a table without rows is a
valid table) and puts the one file under test beside them.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pandas as pd
import pytest

from features.schemas import TABLE_SPECS
from features.validation import validate_tables
from training.commands.scoring import _write_private
from training.errors import UserError
from training.raw_io import load_raw_tables

SLUG = "wage_arrears"
EMPLOYERS = ",".join(TABLE_SPECS[SLUG]["employers"].columns)
EMPLOYER_ROW = (
    "91330502MA2B3C4D5E,construction,small,1000000.0,2015-04-01,吴兴区,0,,,2015-04-01,2015-04-02"
)


def _raw_folder(tmp_path: Path, table: str, content: bytes) -> Path:
    """A raw folder whose tables are all header-only CSVs but `table`, which holds `content`."""
    folder = tmp_path / "raw" / SLUG
    folder.mkdir(parents=True)
    for name, spec in TABLE_SPECS[SLUG].items():
        (folder / f"{name}.csv").write_text(",".join(spec.columns) + "\n", encoding="utf-8")
    (folder / f"{table}.csv").write_bytes(content)
    return tmp_path / "raw"


def _refusal(raw: Path) -> str:
    with pytest.raises(UserError) as refused:
        load_raw_tables(raw, SLUG)
    line = str(refused.value)
    assert "\n" not in line
    return line


def test_a_gbk_export_is_refused_at_its_first_line_that_is_not_utf8(tmp_path: Path) -> None:
    """Said as pandas' 'can't decode byte 0xce in position 0', a position in no file."""
    content = f"{EMPLOYERS}\n{EMPLOYER_ROW}\n".encode("gbk")
    raw = _raw_folder(tmp_path, "employers", content)

    assert _refusal(raw) == (
        f"{raw / SLUG / 'employers.csv'} is not UTF-8 at line 2 (GBK/GB18030?): "
        "save it as UTF-8 (with or without BOM)"
    )


def test_a_byte_no_chinese_encoding_reads_is_refused_without_a_guess(tmp_path: Path) -> None:
    row = EMPLOYER_ROW.replace("吴兴区", "wuxing").encode()
    content = f"{EMPLOYERS}\n".encode() + row + b"\n" + row.replace(b"wuxing", b"wux\xffing")
    line = _refusal(_raw_folder(tmp_path, "employers", content))

    assert "is not UTF-8 at line 3: save it as UTF-8" in line


def test_a_utf8_export_with_a_bom_reads_as_without(tmp_path: Path) -> None:
    content = f"{EMPLOYERS}\n{EMPLOYER_ROW}\n".encode("utf-8-sig")
    employers = load_raw_tables(_raw_folder(tmp_path, "employers", content), SLUG)["employers"]

    assert list(employers.columns) == list(TABLE_SPECS[SLUG]["employers"].columns)
    assert employers.loc[0, "employer_id"] == "91330502MA2B3C4D5E"
    assert employers.loc[0, "district"] == "吴兴区"


def test_a_table_without_rows_is_valid_whatever_its_columns_types(tmp_path: Path) -> None:
    """A month without payments: the header alone read as text columns was refused as
    "column 'instalment_no': wrong dtype object, expected int64"."""
    header = ",".join(TABLE_SPECS[SLUG]["project_payments"].columns) + "\n"
    tables = load_raw_tables(_raw_folder(tmp_path, "project_payments", header.encode()), SLUG)

    payments = tables["project_payments"]
    assert payments.empty
    assert payments["instalment_no"].dtype == "int64"
    assert payments["amount"].dtype == "float64"
    assert payments["event_time"].dtype == "datetime64[ns]"
    validate_tables(SLUG, tables)


def test_a_column_named_twice_is_refused_as_score_refuses_it(tmp_path: Path) -> None:
    """pandas read the second `sector` as `sector.1`, and the table passed."""
    header = EMPLOYERS.replace("sector,", "sector,sector,", 1)
    row = EMPLOYER_ROW.replace("construction,", "construction,retail,", 1)
    raw = _raw_folder(tmp_path, "employers", f"{header}\n{row}\n".encode("utf-8-sig"))

    assert _refusal(raw) == (
        f"{raw / SLUG / 'employers.csv'} names column(s) more than once: sector; keep one of each"
    )


def test_a_backslash_n_null_marker_is_refused(tmp_path: Path) -> None:
    """A MySQL dump's `\\N` was read as the text `\\N`: a district named so, taken in silence."""
    row = EMPLOYER_ROW.replace("吴兴区", "\\N")
    raw = _raw_folder(tmp_path, "employers", f"{EMPLOYERS}\n{EMPLOYER_ROW}\n{row}\n".encode())

    line = _refusal(raw)
    assert "column district writes a missing value as \\N in 1 row(s) (first: row 1" in line
    assert "leave the cell empty or write NULL" in line


def test_null_markers_read_as_missing(tmp_path: Path) -> None:
    rows = [EMPLOYER_ROW.replace("1000000.0", marker) for marker in ("", "NULL")]
    raw = _raw_folder(tmp_path, "employers", "\n".join([EMPLOYERS, *rows, ""]).encode())

    assert load_raw_tables(raw, SLUG)["employers"]["registered_capital"].isna().all()


def test_scores_written_as_csv_carry_a_bom_and_read_back(tmp_path: Path) -> None:
    """Without the BOM, Excel on a Chinese Windows read the UTF-8 reasons as GBK: mojibake."""
    scores = pd.DataFrame({"entity_id": ["91330502MA2B3C4D5E"], "reason_1": ["社保欠缴3个月"]})
    out = tmp_path / "scores.csv"

    _write_private(scores, out)

    assert out.read_bytes().startswith(codecs.BOM_UTF8)
    assert out.read_bytes()[len(codecs.BOM_UTF8) :].decode("utf-8").startswith("entity_id,")
    pd.testing.assert_frame_equal(pd.read_csv(out, dtype=str), scores, check_dtype=False)
