"""The Dask engine: the same dataset build and model fit as the pandas path, on a Dask cluster.

`build_dataset_dask` reads the raw tables with `dask.dataframe.read_parquet` (a file or a
folder of Parquet parts per table), routes every chunk's rows to entity partitions
(`features.partition`), and builds each partition on a worker with `features.dataset.build_dataset`,
the pandas engine's own entry point. `train_dask` fits the booster with
`lightgbm.dask.DaskLGBMClassifier` and hands it to `training.train.train_task`, so calibration,
evaluation, MLflow logging and registration are the local path's, line for line.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import partition
from features.dataset import build_dataset
from features.schemas import TABLE_SPECS
from features.tasks import get_task
from features.validation import validate_tables
from training.errors import UserError, check_raw_folder
from training.raw_io import table_file, unreadable

if TYPE_CHECKING:
    from distributed import Client

    from models.risk_model import RiskModel
    from models.spec import LightGBMParams, TaskSpec
    from training.datasets import Splits, TrainingData
    from training.train import TrainOutcome

#: Local cluster size when no scheduler address is given.
LOCAL_WORKERS = 2
#: Entity partitions per worker when none are asked for (a little slack for uneven ones).
PARTITIONS_PER_WORKER = 2
ENGINE_TAG = "riskloop.engine"
#: Largest Parquet chunk one task reads (compressed bytes, whole row groups).
READ_BLOCKSIZE = "32MiB"
#: Seconds a given scheduler has to accept a connection (retried: it may be starting), and
#: then to have a worker.
SCHEDULER_WAIT_S = 20
#: Seconds it has beyond that for its answer in Dask's protocol (connection and answer
#: together: `SCHEDULER_WAIT_S + ANSWER_WAIT_S`).
ANSWER_WAIT_S = 10
#: What a scheduler's address looks like (`dask scheduler` prints it).
ADDRESS_EXAMPLE = "tcp://host:8786"
#: The schemes a scheduler listens on without a plug-in.
_SCHEMES = ("tcp", "tls", "ws", "wss")


@contextmanager
def dask_client(
    scheduler_address: str | None = None, n_workers: int = LOCAL_WORKERS
) -> Iterator[Client]:
    """A client on the given scheduler, or on a local cluster of `n_workers` worker processes.

    Worker processes (not threads) because LightGBM's distributed network is one per process.
    A given scheduler must answer as one (`_check_scheduler`) and have a worker within
    `SCHEDULER_WAIT_S`: on a scheduler without any, the first computation waited for ever.
    """
    from distributed import Client, LocalCluster

    if scheduler_address is not None:
        _check_scheduler(scheduler_address)
        try:
            client = Client(scheduler_address, timeout=f"{SCHEDULER_WAIT_S}s")
        except OSError as exc:
            raise UserError(_unreachable(scheduler_address, exc)) from None
        with client:
            try:
                client.wait_for_workers(1, timeout=SCHEDULER_WAIT_S)
            except TimeoutError:
                raise UserError(
                    f"the Dask scheduler at {scheduler_address} has no workers after "
                    f"{SCHEDULER_WAIT_S} s: start some with `dask worker {scheduler_address}`"
                ) from None
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # the scheduler's HTTP server (health, metrics; the dashboard where bokeh is
            # installed) on a free loopback port: None does not switch it off but takes 8787,
            # and a second job on the machine warned "Port 8787 is already in use"
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def check_scheduler_address(address: str) -> None:
    """Refuse, in one line naming `--scheduler`, what cannot be a scheduler's address
    (`http://...`, no port, a port that is no number); `distributed` raised a bare ValueError
    from inside the client. No scheme is tcp, as `distributed` reads it."""
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address)
    try:
        host, port = parse_host_port(location)
    except ValueError:
        host, port = "", 0
    if scheme not in _SCHEMES or not host or not 0 < port < 65536:
        raise UserError(
            f"--scheduler {address!r} is not a Dask scheduler address: give the address "
            f"`dask scheduler` prints, {ADDRESS_EXAMPLE} (its port, not the dashboard's http://)"
        )


def _check_scheduler(address: str) -> None:
    """Refuse, in one line, an `address` where no Dask scheduler answers within a bound.

    `Client(timeout=...)` bounds the connection only, not the answer: at an address that
    accepts connections but does not speak Dask (an HTTP server, the scheduler's own dashboard
    port) it waited for ever. Here the connection is retried for `SCHEDULER_WAIT_S` (a
    scheduler may be starting), and connection and answer take `ANSWER_WAIT_S` more at most.

    Raises:
        UserError: a malformed address, nothing there, no Dask answer, or not a scheduler.
    """
    import asyncio

    from distributed.comm import CommClosedError, connect
    from distributed.comm.core import FatalCommClosedError
    from distributed.core import send_recv
    from distributed.security import Security

    check_scheduler_address(address)

    async def identity() -> dict[str, Any]:
        arguments = Security().get_connection_args("client")
        # retried until SCHEDULER_WAIT_S, then a plain OSError; then Dask's handshake
        comm = await connect(address, timeout=SCHEDULER_WAIT_S, **arguments)
        try:
            return dict(await send_recv(comm, op="identity"))
        finally:
            comm.abort()

    waited = SCHEDULER_WAIT_S + ANSWER_WAIT_S
    not_dask = (
        f"--scheduler {address} is not a Dask scheduler ({{}}; a dashboard's port, 8787, is "
        f"not one): give the address `dask scheduler` prints, {ADDRESS_EXAMPLE}"
    )
    try:
        answer = asyncio.run(asyncio.wait_for(identity(), waited))
    except TimeoutError:
        raise UserError(
            not_dask.format(f"no answer in Dask's protocol within {waited} s")
        ) from None
    except OSError as exc:
        # closed during the handshake or the question; a fatal one is the TLS set-up's
        if isinstance(exc, CommClosedError) and not isinstance(exc, FatalCommClosedError):
            raise UserError(not_dask.format("it closed the connection")) from None
        raise UserError(_unreachable(address, exc)) from None
    except Exception:  # what a non-Dask server's bytes make of the reader: struct, memory...
        raise UserError(not_dask.format("its answer is not Dask's")) from None
    if answer.get("type") != "Scheduler":
        raise UserError(
            f"--scheduler {address} is a Dask {answer.get('type', 'server')}, not the "
            f"scheduler: give the scheduler's address, {ADDRESS_EXAMPLE}"
        )


def _unreachable(address: str, exc: OSError) -> str:
    return f"cannot reach the Dask scheduler at {address}: {exc}"


def _worker_count(client: Client) -> int:
    return max(1, len(client.scheduler_info()["workers"]))


def _table_path(raw_dir: Path, slug: str, table: str) -> Path:
    """`raw_dir/<slug>/<table>.parquet` (a file or a folder of parts) or `<table>/`; a table
    held twice (`.parquet` and `.csv`, as the pandas engine refuses it in `table_file`, or a
    `<table>/` folder of parts beside either) is refused: one of them would be read in
    silence."""
    folder = raw_dir / slug
    held = table_file(folder, table)
    bare = folder / table
    if bare.is_dir():
        if held is not None:
            raise UserError(
                f"{folder} holds both {held.name} and {table}/: keep one "
                "(a raw folder has one file, or one folder of parts, per table)"
            )
        return bare
    if held is not None and held.suffix != ".csv":
        return held
    raise UserError(
        f"missing table {slug}/{table}: no {table}.parquet file or folder in {raw_dir / slug} "
        "(the Dask engine reads Parquet)"
    )


def read_tables(
    task: str, raw_dir_or_tables: Path | str | Mapping[str, pd.DataFrame], n_partitions: int
) -> dict[str, Any]:
    """Every raw table of `task` as a Dask DataFrame (lazy: only Parquet footers are read)."""
    import dask
    import dask.dataframe as dd

    slug = get_task(task).slug
    with dask.config.set({"dataframe.convert-string": False}):
        if isinstance(raw_dir_or_tables, Mapping):
            return {
                table: dd.from_pandas(
                    raw_dir_or_tables[table],
                    npartitions=max(1, min(n_partitions, len(raw_dir_or_tables[table]))),
                    sort=False,
                )
                for table in TABLE_SPECS[slug]
            }
        root = Path(raw_dir_or_tables)
        check_raw_folder(root)
        return {table: _read_parquet(_table_path(root, slug, table)) for table in TABLE_SPECS[slug]}


def _read_parquet(path: Path) -> Any:
    """One table as a lazy Dask DataFrame; the footers of its parts are read now, and a damaged
    part is refused in the pandas engine's words (`training.raw_io.load_raw_tables`).

    Chunks of at most READ_BLOCKSIZE (whole row groups), so that a big table is read and routed
    by every worker, not by the one that happened to get the file.
    """
    import dask.dataframe as dd

    try:
        return dd.read_parquet(str(path), split_row_groups="adaptive", blocksize=READ_BLOCKSIZE)
    except (OSError, ValueError) as exc:
        # Dask wraps pyarrow's error in one of its own class with its own first line
        raise unreadable(path, exc.__cause__ or exc) from None


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)


def _coverage_of(slug: str, table: str, chunks: list[pd.DataFrame]) -> pd.DataFrame:
    return partition.coverage_rows(slug, table, _concat(chunks))


def _links_of(slug: str, name: str, chunks: list[pd.DataFrame], n_partitions: int) -> pd.DataFrame:
    link = next(link for link in partition.LINKS[slug].values() if link.table == name)
    return partition.link_partitions(link, _concat(chunks), n_partitions)


def _latest_as_of(slug: str, tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    return get_task(slug).builder.latest_as_of(validate_tables(slug, tables))


def _build_partition(
    slug: str,
    number: int,
    n_partitions: int,
    tables: dict[str, pd.DataFrame],
    unlabelled: bool,
    as_of: pd.Timestamp | None,
) -> pd.DataFrame:
    frame = build_dataset(slug, tables, unlabelled=unlabelled, as_of=as_of)
    return partition.owned_rows(frame, number, n_partitions)


def build_dataset_dask(
    task: str,
    raw_dir_or_tables: Path | str | Mapping[str, pd.DataFrame],
    n_partitions: int | None = None,
    scheduler_address: str | None = None,
    unlabelled: bool = False,
    as_of: pd.Timestamp | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """The task's dataset built partition by partition on Dask; equal to `build_dataset`'s.

    Rows come in `features.partition.canonical_order` (by entity, then as-of date).

    Args:
        task: CLI name or slug.
        raw_dir_or_tables: a city folder (Parquet files or part folders) or tables in memory.
        n_partitions: number of entity partitions (build tasks); default: two per worker.
        scheduler_address: a running Dask scheduler (`tcp://host:8786`); default: a local
            cluster of two workers.
        unlabelled: build the scoring set instead of the labelled dataset.
        as_of: scoring date for `unlabelled` (default: the latest date the data supports).
        client: an open client to use instead of `scheduler_address`.
    """
    if n_partitions is not None and n_partitions < 1:
        raise ValueError("n_partitions must be at least 1")
    if as_of is not None and not unlabelled:
        raise ValueError("as_of applies to the scoring set only (unlabelled=True)")
    if client is None:
        with dask_client(scheduler_address) as opened:
            return _build_on(opened, task, raw_dir_or_tables, n_partitions, unlabelled, as_of)
    return _build_on(client, task, raw_dir_or_tables, n_partitions, unlabelled, as_of)


def _build_on(
    client: Client,
    task: str,
    raw_dir_or_tables: Path | str | Mapping[str, pd.DataFrame],
    n_partitions: int | None,
    unlabelled: bool,
    as_of: pd.Timestamp | None,
) -> pd.DataFrame:
    from dask import delayed

    slug = get_task(task).slug
    n = n_partitions or PARTITIONS_PER_WORKER * _worker_count(client)
    frames = read_tables(slug, raw_dir_or_tables, n)
    chunks = {table: frame.to_delayed() for table, frame in frames.items()}
    links = {
        name: delayed(_links_of)(slug, name, chunks[name], n)
        for name in partition.link_tables(slug)
    }
    coverage = {
        table: delayed(_coverage_of)(
            slug, table, [delayed(partition.coverage_rows)(slug, table, c) for c in chunks[table]]
        )
        for table in partition.COVERAGE[slug]
    }
    routed = {
        table: [delayed(partition.route, nout=n)(slug, table, c, n, links) for c in parts]
        for table, parts in chunks.items()
    }
    tables = [
        delayed(partition.assemble)(
            slug,
            number,
            n,
            {
                table: delayed(_concat)([pieces[number] for pieces in routed[table]])
                for table in routed
            },
            coverage,
            links,
        )
        for number in range(n)
    ]
    with _unreadable_pages(raw_dir_or_tables, slug):
        assembled = client.compute(tables)
        if unlabelled and as_of is None:
            latest = client.gather([client.submit(_latest_as_of, slug, t) for t in assembled])
            as_of = max(latest)
        built = [
            client.submit(_build_partition, slug, number, n, t, unlabelled, as_of)
            for number, t in enumerate(assembled)
        ]
        parts = client.gather(built)
    return partition.canonical_order(pd.concat(parts, ignore_index=True))


@contextmanager
def _unreadable_pages(
    raw_dir_or_tables: Path | str | Mapping[str, Any], slug: str
) -> Iterator[None]:
    """A Parquet part whose footer reads (`_read_parquet`) but whose pages do not fails on the
    worker that reads it, in pyarrow's words alone (an OSError or an ArrowException): refused
    in one line naming the task's folder, as which part it was is not known here."""
    import pyarrow as pa
    from distributed.comm import CommClosedError

    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        if isinstance(raw_dir_or_tables, Mapping) or isinstance(exc, CommClosedError):
            raise
        raise unreadable(Path(raw_dir_or_tables) / slug, exc) from None


def _row_hashes(chunk: pd.DataFrame) -> bytes:
    return pd.util.hash_pandas_object(chunk, index=False).to_numpy().tobytes()


def input_summary(frames: Mapping[str, Any], client: Client) -> tuple[dict[str, int], str]:
    """Row counts and the input fingerprint of Dask tables, equal to the pandas sidecar's.

    `features.dataset.input_fingerprint` hashes per-row hashes in table order; workers hash
    their chunks and the driver digests the pieces in chunk order (8 bytes per row).
    """
    import hashlib

    from dask import delayed

    names = sorted(frames)
    pieces = client.compute(
        [[delayed(_row_hashes)(chunk) for chunk in frames[name].to_delayed()] for name in names],
        sync=True,
    )
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    for name, hashes in zip(names, pieces, strict=True):
        meta = partition.plain_strings(frames[name]._meta)
        digest.update(name.encode())
        digest.update(repr([(c, str(meta[c].dtype)) for c in meta.columns]).encode())
        for piece in hashes:
            digest.update(piece)
        counts[name] = sum(len(piece) // 8 for piece in hashes)
    return counts, digest.hexdigest()


def build_with_sidecar(
    task: str,
    raw_dir: Path | str,
    scheduler_address: str | None = None,
    unlabelled: bool = False,
    as_of: pd.Timestamp | None = None,
    n_partitions: int | None = None,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """`build_dataset_dask` and the dataset's JSON sidecar, as `riskloop build-dataset` writes:
    the pandas engine's (features left out for an absent optional column included) plus
    `"engine": "dask"`."""
    from features.dataset import dataset_sidecar, features_left_out
    from features.schemas import absent_optional_columns

    with dask_client(scheduler_address) as client:
        frame = build_dataset_dask(
            task, raw_dir, n_partitions, unlabelled=unlabelled, as_of=as_of, client=client
        )
        tables = read_tables(task, raw_dir, 1)
        counts, fingerprint = input_summary(tables, client)
    sidecar = dataset_sidecar(frame, {}, task)
    sidecar.update(input_tables=counts, input_fingerprint=fingerprint)
    left_out = features_left_out(task, absent_optional_columns(tables, get_task(task).slug))
    if left_out:
        sidecar["left_out"] = left_out
    sidecar["engine"] = "dask"
    return frame, sidecar


def training_data_dask(
    spec: TaskSpec, raw_dir: Path, scheduler_address: str | None = None
) -> TrainingData:
    """`training.datasets.build_from_raw` with the dataset built on Dask."""
    from features.validation import RawDataError
    from training.datasets import TrainingData, _read_truth, check_dataset, dataset_fingerprint

    try:
        frame = build_dataset_dask(spec.task, raw_dir, scheduler_address=scheduler_address)
    except RawDataError as exc:
        raise UserError(f"bad raw data in {raw_dir}: {exc}") from None
    check_dataset(spec, frame, str(raw_dir))
    truth, truth_source = _read_truth(spec, raw_dir / "truth")
    return TrainingData(frame, str(raw_dir), dataset_fingerprint(frame), truth, truth_source)


def best_iteration(losses: np.ndarray, patience: int) -> int:
    """The iteration `lightgbm.early_stopping` keeps for a validation loss curve (1-based).

    Training stops once `patience` rounds pass without a strictly lower loss; the best
    iteration seen by then is kept.
    """
    best = 0
    for index in range(1, len(losses)):
        if index - best >= patience:
            break
        if losses[index] < losses[best]:
            best = index
    return best + 1


def _margins_by_iteration(booster: Any, matrix: pd.DataFrame) -> np.ndarray:
    """Raw margins after each boosting round (rows x rounds), from the trees' leaf values."""
    leaves = booster.predict(matrix, pred_leaf=True)
    leaves = np.asarray(leaves, dtype=np.int64).reshape(len(matrix), -1)
    per_tree = np.empty(leaves.shape, dtype=np.float64)
    for tree in range(leaves.shape[1]):
        values = np.array(
            [booster.get_leaf_output(tree, leaf) for leaf in range(int(leaves[:, tree].max()) + 1)]
        )
        per_tree[:, tree] = values[leaves[:, tree]]
    return np.cumsum(per_tree, axis=1)


def _logloss_by_iteration(margins: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Binary log loss of every round's margins (LightGBM's `binary_logloss`)."""
    y = np.asarray(label, dtype=np.float64)[:, None]
    return np.mean(np.logaddexp(0.0, margins) - y * margins, axis=0)


def fit_dask(spec: TaskSpec, splits: Splits, params: LightGBMParams, client: Client) -> RiskModel:
    """Fit with `lightgbm.dask`, stop where early stopping would, calibrate like `RiskModel.fit`.

    `lightgbm.dask` trains a fixed number of rounds (no early stopping across workers), so the
    full curve of the whole validation slice's log loss picks the round `lightgbm.early_stopping`
    would have kept; the booster is cut there.
    """
    import dask.dataframe as dd
    import lightgbm as lgb
    from lightgbm.dask import DaskLGBMClassifier

    from models.risk_model import Calibrator, RiskModel, Thresholds, model_matrix

    n_workers = _worker_count(client)
    lgb_params = params.to_lightgbm(spec.monotone_constraints)
    lgb_params["metric"] = lgb_params["metric"][0]
    # Each Dask worker trains on its own threads; LightGBM ignores (and warns about) a count.
    del lgb_params["num_threads"]
    train_matrix = model_matrix(spec, splits.train)
    with warnings.catch_warnings():
        # the scikit-learn wrapper hands its own `n_jobs` (None: not ours) to `lightgbm.dask`,
        # which then warns that it ignores it
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        estimator = DaskLGBMClassifier(
            client=client, n_estimators=params.num_boost_round, **lgb_params
        ).fit(
            dd.from_pandas(train_matrix, npartitions=n_workers, sort=False),
            dd.from_pandas(
                pd.Series(
                    splits.train["label"].to_numpy(dtype=np.float64), index=train_matrix.index
                ),
                npartitions=n_workers,
                sort=False,
            ),
        )
    booster = estimator.booster_
    valid_label = splits.valid["label"].to_numpy()
    losses = _logloss_by_iteration(
        _margins_by_iteration(booster, model_matrix(spec, splits.valid)), valid_label
    )
    model = RiskModel(spec, params)
    model.best_iteration_ = best_iteration(losses, params.early_stopping_rounds)
    model.booster_ = lgb.Booster(
        model_str=booster.model_to_string(num_iteration=model.best_iteration_)
    )
    calibration = splits.calibration_slice
    model.calibrator_ = Calibrator.fit(
        spec.calibration, model.raw_margin(calibration), calibration["label"].to_numpy()
    )
    model.thresholds_ = Thresholds.from_capacity(
        spec, model.calibrator_.transform(model.raw_margin(splits.valid))
    )
    model.metrics_ = {}
    return model


def train_dask(
    spec: TaskSpec,
    data: TrainingData,
    seed: int = 7,
    max_rounds: int | None = None,
    scheduler_address: str | None = None,
    params: LightGBMParams | None = None,
    trials: int = 0,
    study_name: str | None = None,
    on_step: Callable[[str], None] | None = None,
    on_trial: Callable[[int], None] | None = None,
) -> TrainOutcome:
    """`train_task` with the booster fitted by `lightgbm.dask`; the run is tagged `engine=dask`.

    Args:
        spec: the task's spec.
        data: the labelled dataset.
        seed: LightGBM seed.
        max_rounds: cap on boosting rounds.
        scheduler_address: a running Dask scheduler; default: a local two-worker cluster.
        params: parameters to fit with instead of the spec's (e.g. a tuned study's best).
        trials: Optuna trials before the fit (run locally, as `train_task` does).
        study_name: Optuna study name for `trials`.
        on_step / on_trial: progress callbacks.
    """
    from training import tracking
    from training.train import train_task

    with dask_client(scheduler_address) as client:

        def fit(spec: TaskSpec, splits: Splits, chosen: LightGBMParams) -> RiskModel:
            return fit_dask(spec, splits, chosen, client)

        used = spec if params is None else dataclasses.replace(spec, params=params)
        outcome = train_task(
            used,
            data,
            trials=trials,
            seed=seed,
            max_rounds=max_rounds,
            study_name=study_name,
            on_step=on_step,
            on_trial=on_trial,
            fit=fit,
        )
    tracking.tracking_client().set_tag(outcome.run_id, ENGINE_TAG, "dask")
    return outcome
