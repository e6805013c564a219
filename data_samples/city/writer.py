"""Deterministic Parquet output: same arrays in, same bytes out.

Schema metadata (pandas' index description) is dropped and compression, row-group size and
format version are fixed, so two runs with the same seed write byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_SIZE = 1_000_000


def _arrow_type(series: pd.Series) -> pa.DataType:
    """The contract's Arrow type for a column: str, bool, int64, float64 or timestamp[ns]."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return pa.string()
    if pd.api.types.is_bool_dtype(series):
        return pa.bool_()
    if pd.api.types.is_integer_dtype(series):
        return pa.int64()
    if pd.api.types.is_float_dtype(series):
        return pa.float64()
    if pd.api.types.is_datetime64_any_dtype(series):
        return pa.timestamp("ns")
    return pa.string()


def schema_of(frame: pd.DataFrame) -> pa.Schema:
    """Arrow schema of a table frame, without pandas metadata."""
    return pa.schema([pa.field(name, _arrow_type(frame[name])) for name in frame.columns])


def to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Convert a frame to Arrow with exactly `schema` (and no metadata)."""
    arrays = [
        pa.array(frame[field.name].to_numpy(), type=field.type, from_pandas=True)
        for field in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


class TableWriter:
    """Append chunks of one table to a Parquet file with a schema fixed by the first chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if self._schema is None:
            self._schema = schema_of(frame)
            self._writer = pq.ParquetWriter(
                self.path,
                self._schema,
                compression="zstd",
                compression_level=3,
                version="2.6",
                write_statistics=True,
                store_schema=False,
            )
        assert self._writer is not None
        self._writer.write_table(to_arrow(frame, self._schema), row_group_size=ROW_GROUP_SIZE)
        self.rows += len(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def write_json(path: Path, payload: object) -> None:
    """Pretty, key-sorted JSON with a trailing newline (stable bytes)."""
    path.write_text(
        json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
