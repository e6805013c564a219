"""Entity partitioning of a task's raw tables, so that a dataset can be built piece by piece.

A dataset row depends on its own unit's rows only, plus the data's time coverage (the first
and last declared month or day, which set the as-of dates and the complete label windows).
Partitioning therefore routes every raw row to the partition of the unit it belongs to:

- directly keyed tables carry the unit id (`TableSpec.entity_column`: employer, resident,
  dispute) and go to that unit's partition;
- linked tables reach the unit through a link table: owners' instalments and payments follow
  their construction project to its contractor; 110 calls and petitions follow their party to
  every dispute that lists the party, so a party of disputes in several partitions is copied
  into each of them;
- tables that feed an aggregate over other units (`BROADCAST`: a district's latest grid visits,
  which need every dispute's district) are copied whole into every partition;
- the rows that fix the time coverage (the extremes of `COVERAGE` columns) are added to every
  partition. They belong to other units, whose rows the builders drop, so they move the
  coverage and nothing else.

Building each partition with the pandas builder, keeping the units it owns (`owned_rows`) and
concatenating gives the pandas engine's dataset, bit for bit; `canonical_order` sorts both the
same way. (`features.pit.EventIndex` sums float columns window by window for this reason:
differences of running sums over a whole table would round differently once it is split.)
Every function here is pure and works on one chunk of a table as well as on the whole table,
which is what lets Dask apply them chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.schemas import TABLE_SPECS
from features.tasks import TASKS, Link
from features.validation import stripped_ids

#: Sort keys of a dataset whose rows come from several partitions.
SORT_KEYS = ("entity_id", "as_of")


#: Tables that reach the unit through a link table, per task (see `Task.links`).
LINKS: dict[str, Mapping[str, Link]] = {task.slug: task.links for task in TASKS.values()}

#: Tables copied whole into every partition, because some feature aggregates them over units
#: other than its own (see `Task.broadcast`).
BROADCAST: dict[str, tuple[str, ...]] = {task.slug: task.broadcast for task in TASKS.values()}

#: Columns whose extremes set a task's time coverage (what the builders' `data_end` and first
#: month read); the rows holding them are copied into every partition (see `Task.coverage`).
COVERAGE: dict[str, Mapping[str, tuple[str, ...]]] = {
    task.slug: task.coverage for task in TASKS.values()
}


def entity_column(task: str, table: str) -> str:
    """The unit id column of a directly keyed table ('' for a linked table)."""
    return TABLE_SPECS[task][table].entity_column


def link_tables(task: str) -> tuple[str, ...]:
    """The link tables a task's linked tables need, each once."""
    return tuple(dict.fromkeys(link.table for link in LINKS[task].values()))


def _keys(values: pd.Series | np.ndarray) -> np.ndarray:
    """Ids or link keys as routing compares them: text without the white space around it, as
    validation reads every id (`features.validation.stripped_ids`). Routed as written, a
    padded id (`"91330502P341PK5E1T "`, from a fixed-width export) reached another partition
    than its unit's, whose features then missed its rows."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, copy=False)
    if isinstance(series.dtype, pd.StringDtype):
        stripped = stripped_ids(series)
        series = series if stripped is None else stripped
    elif pd.api.types.is_object_dtype(series.dtype):
        series = series.map(lambda value: value.strip() if isinstance(value, str) else value)
    return series.to_numpy(dtype=object)


def entity_partition(entity_ids: pd.Series | np.ndarray, n_partitions: int) -> np.ndarray:
    """Partition number of each unit id: a fixed-key hash, the same in every process."""
    values = _keys(entity_ids)
    return (pd.util.hash_array(values, categorize=False) % np.uint64(n_partitions)).astype(np.int64)


def link_partitions(link: Link, link_frame: pd.DataFrame, n_partitions: int) -> pd.DataFrame:
    """Distinct (`link.key`, partition) pairs: every partition a link key's rows must reach."""
    pairs = pd.DataFrame(
        {
            link.key: _keys(link_frame[link.key]),
            "partition": entity_partition(link_frame[link.entity], n_partitions),
        }
    )
    return pairs.drop_duplicates(ignore_index=True)


def _positions(
    task: str,
    table: str,
    frame: pd.DataFrame,
    n_partitions: int,
    links: Mapping[str, pd.DataFrame],
) -> list[np.ndarray]:
    """Row positions of `frame` that each partition receives, in the frame's order."""
    if table in BROADCAST[task]:
        return [np.arange(len(frame)) for _ in range(n_partitions)]
    column = entity_column(task, table)
    if column:
        partition = entity_partition(frame[column], n_partitions)
        return [np.flatnonzero(partition == p) for p in range(n_partitions)]
    link = LINKS[task][table]
    rows = pd.DataFrame({link.key: _keys(frame[link.key])})
    rows["row"] = np.arange(len(frame))
    hits = rows.merge(links[link.table], on=link.key, how="inner")
    return [
        np.sort(hits.loc[hits["partition"] == p, "row"].to_numpy(np.int64))
        for p in range(n_partitions)
    ]


def route(
    task: str,
    table: str,
    frame: pd.DataFrame,
    n_partitions: int,
    links: Mapping[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, ...]:
    """Split one table (or one chunk of it) into its partitions' rows, keeping row order.

    Linked rows whose key no unit lists (a call of a person in no dispute, an instalment of an
    unknown project) reach no partition: no unit's features read them.

    Args:
        task: task slug.
        table: raw table name.
        frame: the table's rows.
        n_partitions: number of partitions.
        links: `link_partitions` pairs by link table name (needed for linked tables).
    """
    positions = _positions(task, table, frame, n_partitions, links or {})
    return tuple(frame.iloc[rows].reset_index(drop=True) for rows in positions)


def coverage_rows(task: str, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows holding the minimum or maximum of the table's `COVERAGE` columns.

    Applying it to chunks and then to their concatenation gives the whole table's rows.
    """
    columns = COVERAGE[task].get(table, ())
    if not columns or frame.empty:
        return frame.iloc[0:0]
    extreme = np.zeros(len(frame), dtype=bool)
    for column in columns:
        values = frame[column]
        extreme |= ((values == values.min()) | (values == values.max())).to_numpy(dtype=bool)
    return frame[extreme].reset_index(drop=True)


def plain_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """NA-flavoured string columns (Dask's pyarrow strings) as pandas' default `str` dtype."""
    changes = {
        str(name): frame[name].astype("str")
        for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA
    }
    return frame.assign(**changes) if changes else frame


def assemble(
    task: str,
    partition: int,
    n_partitions: int,
    routed: Mapping[str, pd.DataFrame],
    coverage: Mapping[str, pd.DataFrame],
    links: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """One partition's raw tables: its routed rows plus the coverage rows routed elsewhere.

    Args:
        task: task slug.
        partition: this partition's number.
        n_partitions: number of partitions.
        routed: this partition's rows of every table (from `route`).
        coverage: the whole tables' `coverage_rows`, by table.
        links: `link_partitions` pairs by link table name.
    """
    tables: dict[str, pd.DataFrame] = {}
    for table, rows in routed.items():
        extra = coverage.get(table)
        if extra is not None and len(extra):
            present = _positions(task, table, extra, n_partitions, links or {})[partition]
            foreign = extra.drop(index=extra.index[present])
            rows = pd.concat([rows, foreign], ignore_index=True) if len(foreign) else rows
        tables[table] = plain_strings(rows)
    return tables


def owned_rows(dataset: pd.DataFrame, partition: int, n_partitions: int) -> pd.DataFrame:
    """The dataset rows of the units this partition owns (drops units of coverage rows)."""
    mine = entity_partition(dataset["entity_id"], n_partitions) == partition
    return dataset[mine]


def canonical_order(dataset: pd.DataFrame) -> pd.DataFrame:
    """The dataset sorted by (`entity_id`, `as_of`) with a fresh index: one order for any engine."""
    return dataset.sort_values(list(SORT_KEYS), kind="stable").reset_index(drop=True)


def split_tables(
    task: str, tables: Mapping[str, pd.DataFrame], n_partitions: int
) -> list[dict[str, pd.DataFrame]]:
    """All partitions of in-memory tables at once (the Dask engine does the same per chunk)."""
    links = {
        name: link_partitions(
            next(link for link in LINKS[task].values() if link.table == name),
            tables[name],
            n_partitions,
        )
        for name in link_tables(task)
    }
    routed = {
        table: route(task, table, frame, n_partitions, links) for table, frame in tables.items()
    }
    coverage = {table: coverage_rows(task, table, frame) for table, frame in tables.items()}
    return [
        assemble(
            task,
            partition,
            n_partitions,
            {table: pieces[partition] for table, pieces in routed.items()},
            coverage,
            links,
        )
        for partition in range(n_partitions)
    ]
