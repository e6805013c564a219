"""File I/O at the edge of the feature pipeline: raw tables in, datasets out.

`features/` never touches files; this module reads a city folder (as `riskloop generate` writes
it) or a department export (the same tables as Parquet or CSV), and writes datasets atomically:
a temporary file renamed into place, so a failed build never leaves a half-written output, and
owner-only (0600), as a dataset's rows carry the units' raw ids.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from features.schemas import TABLE_SPECS
from features.tasks import UnknownTaskError, get_task
from training.dev_key import dev_key_path
from training.errors import UserError, check_output_file, check_raw_folder

_TEXT_KINDS = ("id", "str", "category")


def task_slug(task: str) -> str:
    """`wage-arrears` or `wage_arrears` -> `wage_arrears`; a clear error for anything else."""
    try:
        return get_task(task).slug
    except UnknownTaskError as exc:
        raise UserError(str(exc)) from None


def _table_files(folder: Path, table: str) -> list[Path]:
    """The paths in `folder` that hold `table`: `<table>.parquet` (a file, or a folder of parts
    as a Dask or Spark export writes it; both engines read either), `<table>.csv`, or both."""
    parquet, csv = folder / f"{table}.parquet", folder / f"{table}.csv"
    return [path for path, held in ((parquet, parquet.exists()), (csv, csv.is_file())) if held]


def table_file(folder: Path, table: str) -> Path | None:
    """The one file (or Parquet folder of parts) holding `table` in `folder`, or None.

    Raises:
        UserError: both a Parquet file or folder and a CSV file hold it. A department that drops a newer CSV
            export beside last month's Parquet would otherwise get one of them scored in silence.
    """
    files = _table_files(folder, table)
    if len(files) > 1:
        raise UserError(
            f"{folder} holds both {files[0].name} and {files[1].name}: keep one "
            "(a raw folder has one file per table)"
        )
    return files[0] if files else None


def refuse_repeated_columns(path: Path, names: Sequence[str], then: str = "") -> None:
    """Refuse a file naming a column more than once, in one line naming it (`then` is added
    to the line): pandas reads a CSV's second `sector` as `sector.1` without a word, and
    cannot tell which of a Parquet file's two to read."""
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    if twice:
        raise UserError(
            f"{path} names column(s) more than once: {', '.join(twice)}; keep one of each{then}"
        )


#: The pandas dtype a raw column of each kind takes when its CSV has no rows to infer it from
#: (text kinds are read as text whatever the rows: `_read_csv`).
_EMPTY_DTYPES = {"int": "int64", "float": "float64", "bool": "bool", "timestamp": "datetime64[ns]"}
#: MySQL's and PostgreSQL's COPY marker for a missing value, which pandas reads as text.
_BACKSLASH_N = "\\N"


def _reads_as_gb18030(text: bytes) -> bool:
    try:
        text.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return True


def _first_line_not_utf8(path: Path) -> tuple[int, bool]:
    """The line (counted from 1) of the first byte of `path` that is not UTF-8, and whether
    that line reads as GB18030 (a superset of GBK, what a Chinese Windows export writes)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        while True:
            block = handle.read(1 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                held = exc.object  # the block, after the bytes the last one left undecided
                start = held.rfind(b"\n", 0, exc.start) + 1
                end = held.find(b"\n", exc.start)
                bad_line = held[start : end if end >= 0 else len(held)]
                return line + held.count(b"\n", 0, exc.start), _reads_as_gb18030(bad_line)
            if not block:
                return line, False
            line += block.count(b"\n")


def _csv_header(path: Path) -> list[str]:
    """The column names as the file writes them (pandas renames a repeated one `name.1`)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


def _refuse_backslash_n(path: Path, frame: pd.DataFrame) -> None:
    """Refuse a `\\N` cell: pandas reads it as the text `\\N`, a district or an id named so, or
    a number column turned to text that the schema refuses without naming the marker."""
    for name in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[name].dtype):
            continue  # a column holding `\N` is read as text
        rows = np.flatnonzero(frame[name].eq(_BACKSLASH_N).to_numpy(dtype=bool, na_value=False))
        if len(rows):
            raise UserError(
                f"{path}: column {name} writes a missing value as \\N in {len(rows):,} row(s) "
                f"(first: row {rows[0]}, counted from 0): leave the cell empty or write NULL"
            )


def _read_csv(path: Path, task: str, table: str) -> pd.DataFrame:
    """A CSV export, UTF-8 with or without a BOM, with identifier and category columns kept as
    text (ids may look numeric); a table without rows takes its columns' contract dtypes.

    Raises:
        UserError: the file is not UTF-8, names a column twice or writes a missing value `\\N`.
    """
    spec = TABLE_SPECS[task][table]
    text_columns = {
        name: "str" for name, column in spec.columns.items() if column.kind in _TEXT_KINDS
    }
    try:
        refuse_repeated_columns(path, _csv_header(path))
        frame = pd.read_csv(path, dtype=text_columns, keep_default_na=True, encoding="utf-8-sig")
    except UnicodeDecodeError:
        line, gbk = _first_line_not_utf8(path)
        guess = " (GBK/GB18030?)" if gbk else ""
        raise UserError(
            f"{path} is not UTF-8 at line {line}{guess}: save it as UTF-8 (with or without BOM)"
        ) from None
    _refuse_backslash_n(path, frame)
    if not frame.empty:
        return frame
    return frame.astype(
        {
            name: _EMPTY_DTYPES[column.kind]
            for name, column in spec.columns.items()
            if name in frame.columns and column.kind in _EMPTY_DTYPES
        }
    )


def load_raw_tables(raw_dir: Path | str, task: str) -> dict[str, pd.DataFrame]:
    """Read every table of `task` from `raw_dir/<slug>/<table>.parquet` (or `.csv`).

    Raises:
        UserError: the folder or a table is missing, a table is there both as Parquet and as
            CSV, or a file cannot be read.
    """
    slug = task_slug(task)
    root = Path(raw_dir)
    check_raw_folder(root)
    folder = root / slug
    if not folder.is_dir():
        raise UserError(
            f"{root} has no {slug}/ folder; expected a city folder as `riskloop generate` writes it"
        )
    tables: dict[str, pd.DataFrame] = {}
    for table in TABLE_SPECS[slug]:
        path = table_file(folder, table)
        if path is None:
            raise UserError(
                f"missing table {slug}/{table}: no {table}.parquet or {table}.csv in {folder}"
            )
        try:
            if path.suffix == ".csv":
                tables[table] = _read_csv(path, slug, table)
            else:
                tables[table] = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise unreadable(path, exc) from None
    return tables


def unreadable(path: Path, exc: BaseException) -> UserError:
    """A raw table (a file, a folder of parts, a task's folder) that cannot be read, in the
    words both engines give it: the path and the reader's own reason."""
    return UserError(f"cannot read {path}: {exc}")


@contextmanager
def private_output(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`, renamed onto it only if the block succeeds, and
    readable by its owner only (0600) from its first byte whatever the umask: for the files
    riskloop writes that hold raw unit ids (datasets, offline scores) or a secret. A `target`
    that existed with another mode is replaced by the 0600 file, not rewritten in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o600)  # mkstemp made it 0600; the block may have written it anew
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def sidecar_path(dataset_path: Path) -> Path:
    """Where a dataset's JSON sidecar lives: `<name>.json` beside `<name>.parquet`."""
    return dataset_path.with_suffix(".json")


_OTHER_FORMATS = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xls", ".feather", ".gz", ".zip"})


def check_dataset_path(path: Path) -> None:
    """Refuse a dataset path its own sidecar would overwrite (`x.json`), that is a folder or
    whose folder cannot be made."""
    check_output_file(path, "--out", "a .parquet file path")
    if path.suffix.lower() in _OTHER_FORMATS:
        # the file is Parquet whatever its name: a .csv name would mislead whoever opens it
        raise UserError(f"--out {path}: datasets are written as Parquet; give a .parquet file path")
    if sidecar_path(path) == path:
        raise UserError(
            f"--out {path}: the dataset's JSON sidecar would overwrite it; give a .parquet file path"
        )


def _raw_folder_holding(path: Path) -> Path | None:
    """The nearest folder above `path` laid out as raw data (a `<task>/<table>.parquet` or
    `.csv` that `load_raw_tables` would read), or None."""
    for folder in Path(path).resolve().parents:
        for slug, tables in TABLE_SPECS.items():
            held = folder / slug
            if held.is_dir() and any(_table_files(held, table) for table in tables):
                return folder
    return None


def _local_path(uri: str) -> Path | None:
    """The file or folder a store URI keeps its data in on this machine (a SQLite database,
    a `file:` URI or a plain path); None for a server's URI, an in-memory or malformed one."""
    from urllib.parse import urlparse

    from models.settings import sqlite_file

    if "://" not in uri:
        return Path(uri) if uri else None
    if uri.startswith("file:"):
        return Path(urlparse(uri).path)
    return sqlite_file(uri)


#: the files SQLite keeps beside a database: written over while a server holds the database
#: open, they lose every change since the last checkpoint and the database stops answering
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _riskloop_state() -> dict[str, Path]:
    """What riskloop keeps and cannot rebuild from raw data, by what a message calls it: each
    SQLite database with its `-wal`, `-shm` and `-journal` files, each keys or secrets file
    with the `.lock` file its writers take."""
    from models.secret_keys import secrets_path
    from models.settings import get_settings, sqlite_file

    settings = get_settings()
    databases = {
        "the warnings store": settings.store_url,
        "the MLflow registry": settings.mlflow_uri,
        "the Optuna studies database": settings.resolved_optuna_storage,
    }
    places: dict[str, Path | None] = {name: _local_path(url) for name, url in databases.items()}
    places["the MLflow artifacts folder"] = _local_path(settings.resolved_artifact_location)
    for name, url in databases.items():
        database = sqlite_file(url)
        if database is not None:
            for ending in _SQLITE_COMPANIONS:
                places[f"{name}'s {ending} file"] = database.with_name(database.name + ending)
    secret_files = {
        "the API keys file": settings.keys_file,
        "the secrets file": secrets_path(settings),
        "the webhook secrets file": settings.webhook_secrets_file,
        "the development key's secret": dev_key_path(settings),
    }
    for name, path in secret_files.items():
        places[name] = path
        places[f"{name}'s lock file"] = path.with_name(path.name + ".lock")
    return {name: place.resolve() for name, place in places.items() if place is not None}


def refuse_writing_over_a_dataset(path: Path, said: str) -> None:
    """Refuse an output `path` that is a built dataset (a `.parquet` with its JSON sidecar
    beside it, `write_dataset`'s pair): `riskloop score --output` over the dataset `run`
    trained on left its sidecar naming columns the file no longer had, and `promote` and a
    later `run` failed on it (QA, 2026-12-07). `build-dataset` rebuilds its own pair."""
    target = Path(path)
    if target.suffix == ".parquet" and target.is_file() and sidecar_path(target).is_file():
        raise UserError(
            f"{said} is a built dataset ({sidecar_path(target).name} beside it describes it): "
            "give another path (riskloop build-dataset rebuilds a dataset)"
        )


def refuse_writing_over_sources(
    path: Path, said: str, raw: Path | None = None, *, monitor_report: bool = False
) -> None:
    """Refuse, before any work, an output `path` (named `said` in the message) that would
    write over what riskloop reads and cannot rebuild: a department's raw tables (anything in
    the `raw` folder the command reads, or in any folder laid out as raw data), the warnings
    store, the MLflow registry and its artifacts, the Optuna studies (each SQLite database with
    its `-wal`, `-shm` and `-journal` files), keys and secrets (with their `.lock` files).
    Datasets, scores, reports and materialized features are rebuilt by a command: not here,
    but for the monitoring reports the console's dashboard reads (`reports/monitor/`), which
    only `riskloop monitor` writes (`monitor_report`): a dataset's JSON sidecar written there
    showed on the dashboard as the latest monitoring; and for the online features the service
    reads (`<data dir>/online/`), which only `riskloop materialize` writes, keyed by
    pseudonyms: a score or a dataset written there put raw ids in their place. A monitoring report is refused over a
    dataset's JSON sidecar (`<name>.json` beside `<name>.parquet`)."""
    from models.settings import get_settings
    from serving.online_store import online_dir

    target = Path(path).resolve()
    monitored = (get_settings().reports_dir / "monitor").resolve()
    if not monitor_report and target.is_relative_to(monitored):
        raise UserError(
            f"{said} is inside {monitored}, the monitoring reports the console's dashboard "
            "reads (only riskloop monitor writes there); give a path outside it"
        )
    online = online_dir(get_settings().data_dir).resolve()
    if target.is_relative_to(online):  # keyed by pseudonyms: a file of raw ids there is read
        raise UserError(
            f"{said} is inside {online}, the online features the service scores ids from "
            "(only riskloop materialize writes there, keyed by pseudonyms); give a path "
            "outside it"
        )
    if raw is not None and target.is_relative_to(raw.resolve()):
        raise UserError(
            f"{said} is inside the --raw folder {raw}: the raw tables are never written over; "
            "give a path outside it"
        )
    folder = _raw_folder_holding(target)
    if folder is not None:
        raise UserError(
            f"{said} is inside the raw data folder {folder}: a department's tables are never "
            "written over; give a path outside it"
        )
    for name, place in _riskloop_state().items():
        if target.is_relative_to(place):
            where = "is" if target == place else "is inside"
            raise UserError(f"{said} {where} {name} ({place}); give another path")
    if monitor_report and target.suffix.lower() == ".json":
        dataset = target.with_suffix(".parquet")
        if dataset.is_file():  # `sidecar_path(dataset) == target`
            raise UserError(
                f"{said} is the sidecar of the dataset {dataset} (its columns, cut-offs and "
                "sources, which train reads); give another path"
            )


def write_dataset(frame: pd.DataFrame, sidecar: dict, out: Path | str) -> Path:
    """Write the dataset Parquet and its JSON sidecar, each atomically and owner-only (0600):
    each row holds a unit's raw id. Returns the Parquet path."""
    path = Path(out)
    check_dataset_path(path)
    with private_output(path) as temporary:
        frame.to_parquet(temporary, index=False)
    with private_output(sidecar_path(path)) as temporary:
        temporary.write_text(
            json.dumps(sidecar, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
    return path
