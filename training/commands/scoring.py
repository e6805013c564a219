"""`riskloop score`: a file of units scored offline by a registered version, with reasons.

The output names the version on every row, is written 0600 (it holds raw ids beside their
scores) and only after the run's `score_offline` audit row is in the warnings store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from training.commands.modelling import TaskOption, task_spec
from training.errors import UserError, check_output_file, user_errors

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

#: The most reasons a row can carry: the API's `top_k` bounds (1 to `serving.schemas.MAX_TOP_K`).
#: Written here, not imported: importing the schemas loads the warnings store at every CLI
#: start. `tests/training/test_score_input_checks.py` keeps the two equal.
MAX_TOP_K = 20
#: What every output row says about the version that scored it.
MODEL_COLUMNS = ("model_name", "model_version", "model_alias")


def _score_columns(top_k: int) -> list[str]:
    """The output's columns, in order: the same for an empty input as for a full one."""
    reasons = [
        column
        for rank in range(1, top_k + 1)
        for column in (f"reason_{rank}", f"reason_{rank}_feature")
    ]
    return ["entity_id", "as_of", "score", "risk_level", *reasons, "actions", *MODEL_COLUMNS]


def _output_frame(rows: list[dict[str, object]], top_k: int, as_of_dtype: object) -> pd.DataFrame:
    """The scored rows typed the same with rows or without: untyped empty columns would reach
    a parquet file as nulls, and `as_of` keeps the input's type."""
    import pandas as pd

    columns = _score_columns(top_k)
    types: dict[str, object] = {name: "str" for name in columns}
    types |= {"score": "float64", "model_version": "int64", "as_of": as_of_dtype}
    return pd.DataFrame(rows, columns=columns).astype(types)  # type: ignore[arg-type]


def _read_scoring_input(task: str, input_path: Path) -> pd.DataFrame:
    """The input frame, refused (`UserError`, nothing written) when a row breaks a rule the
    API holds: the catalog's categories and ranges, numbers as numbers, a valid entity id;
    or when the file names a column twice (`as_of` is checked apart: `_check_as_of`)."""
    import pandas as pd

    from features.catalog import features
    from features.frame_checks import describe_breaches, rule_breaches

    if input_path.is_dir():
        raise UserError(f"input file {input_path} is a folder, not a .parquet file")
    if not input_path.is_file():
        raise UserError(f"input file {input_path} does not exist")
    _refuse_duplicate_columns(input_path)
    try:
        frame = pd.read_parquet(input_path)
    except (OSError, ValueError) as exc:
        if "magic bytes" in str(exc):  # pyarrow's words for a file that is not Parquet
            raise UserError(
                f"{input_path} is not a Parquet file (or is damaged): --input takes Parquet, as "
                "riskloop build-dataset writes it (pandas: frame.to_parquet(path))"
            ) from None
        raise UserError(f"cannot read {input_path}: {exc}") from exc
    if "entity_id" not in frame.columns:
        raise UserError(f"{input_path} has no entity_id column")
    breaches = rule_breaches(features(task), frame)
    if breaches:
        raise UserError(
            f"{input_path}: {describe_breaches(breaches, len(frame))}; nothing scored or written"
        )
    return frame


def _check_as_of(input_path: Path, frame: pd.DataFrame) -> None:
    """Refuse rows whose `as_of` is missing or not a date (or an input without the column),
    as `_read_scoring_input` refuses feature values; after the model is found, so that a
    registry or model problem is said first, as for an input of ids only."""
    from features.frame_checks import as_of_breach

    breach = as_of_breach(frame)
    if breach is not None:
        raise UserError(f"{input_path}: {breach.describe(len(frame))}; nothing scored or written")


def _with_absent_features(
    task: str, input_path: Path, frame: pd.DataFrame, names: Sequence[str]
) -> pd.DataFrame:
    """`frame` with each feature column it lacks added as missing values, as the API takes a
    record that leaves a feature out; the columns are named on stderr, once. An input holding
    fewer than half of them is refused (`_refuse_another_tasks_input`)."""
    absent = [name for name in names if name not in frame.columns]
    if not absent:
        return frame
    _refuse_another_tasks_input(task, input_path, frame, len(names) - len(absent), len(names))
    typer.echo(
        f"note: {input_path} lacks {len(absent)} feature column(s) the model takes: "
        f"{', '.join(absent)}; scored as missing on every row",
        err=True,
    )
    return frame.assign(**dict.fromkeys(absent, float("nan")))


def _refuse_another_tasks_input(
    task: str, input_path: Path, frame: pd.DataFrame, held: int, total: int
) -> None:
    """Refuse an input holding fewer than half of the task's feature columns: scored, every
    row would be nearly the base rate (another task's dataset came out all green), so it is
    not this task's input. The task whose columns it holds best, at least half, is named."""
    if 2 * held >= total:
        return
    from features.catalog import features
    from features.tasks import TASK_NAMES

    columns = set(frame.columns)
    shares = []
    for other in TASK_NAMES:
        names = [feature.name for feature in features(other)]
        other_held = sum(name in columns for name in names)
        if other != task and 2 * other_held >= len(names):
            shares.append((other_held / len(names), other, other_held, len(names)))
    hint = ""
    if shares:
        _, other, other_held, other_total = max(shares)
        hint = f" (it holds {other_held} of {other}'s {other_total}: --task {other}?)"
    raise UserError(
        f"{input_path} holds {held} of {task}'s {total} feature columns, fewer than half: "
        f"not a {task} input{hint}; nothing scored or written"
    )


def _refuse_duplicate_columns(input_path: Path) -> None:
    """Refuse a Parquet file naming a column twice, in one line naming it: pandas cannot tell
    which to read and pyarrow's refusal dumps the whole schema. A file that is not Parquet is
    left to the reading that follows (which says so)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from training.raw_io import refuse_repeated_columns

    try:
        names = pq.read_schema(input_path).names
    except (OSError, pa.ArrowException):
        return
    refuse_repeated_columns(input_path, names, then="; nothing scored or written")


def _write_private(result: pd.DataFrame, output: Path) -> None:
    """Write the scores to `output` readable by its owner only (0600): each row is a raw id
    with its score and risk level. The file is written 0600 beside `output` and renamed onto
    it, so an existing world-readable `output` is replaced, never rewritten in place. A CSV
    is UTF-8 with a BOM: Excel on a Chinese Windows reads one without it as GBK, and Chinese
    reasons show as mojibake."""
    from training.raw_io import private_output

    with private_output(output) as temporary:
        if output.suffix == ".csv":
            temporary.write_bytes(result.to_csv(index=False).encode("utf-8-sig"))
        else:
            result.to_parquet(temporary, index=False)


def _refuse_overwriting_input(input_path: Path, output: Path) -> None:
    """Refuse an --output that is the --input file: the scores replaced the rows they scored."""
    if output.resolve() == input_path.resolve() or (
        output.exists() and input_path.exists() and output.samefile(input_path)
    ):
        raise UserError(
            f"--output {output} is the --input file; give another path (the input is never "
            "overwritten)"
        )


def score(
    task: TaskOption,
    input_path: Annotated[Path, typer.Option("--input", help="Dataset or scoring-set parquet.")],
    output: Annotated[Path, typer.Option("--output", help="Output .parquet or .csv file.")],
    alias: Annotated[str, typer.Option(help="Registry alias to score with.")] = "champion",
    top_k: Annotated[
        int, typer.Option(help="Reasons per row (as the API's top_k).", min=1, max=MAX_TOP_K)
    ] = 3,
    lang: Annotated[str, typer.Option(help="Reason language: en or zh.")] = "en",
    batch_size: Annotated[int, typer.Option(help="Rows per TreeSHAP batch.", min=1)] = 1000,
) -> None:
    """Score a whole population offline: score, level, top reasons and actions per row.

    The input is checked against the feature catalog as the API checks a record: an unknown
    category, a number outside the catalog's range, a fraction in a count, a number stored as
    text or a missing or malformed entity_id is refused in one line naming the column, the
    rule and the offending rows (by position, counted from 0), and nothing is written. So is
    a row whose as_of (the date its features describe, copied to the output) is missing or not
    a date (a date column, or text YYYY-MM-DD), an input without as_of, one naming a column
    twice, an --output that is the --input file, and an --output in a raw data folder or on
    riskloop's own stores, keys or secrets. Missing feature values are scored as missing, and
    so is a feature column the input lacks, as the API scores a record without it (a note on
    stderr names such columns), while an input holding fewer than half of the task's feature
    columns is refused as another task's file; columns the catalog does not know are ignored.

    Every output row also names the model that scored it: model_name, model_version (the
    registered version) and model_alias (the alias it was loaded by). An empty input writes
    an empty file with the same columns.

    Each run is one `score_offline` row in the warnings store's audit log (actor cli:NAME,
    NAME being RISKLOOP_ACTOR or else the login; the row holds the model, the number of rows,
    the levels and the output file's name, never an id), as every score request of the API is
    one: when the store cannot record it, nothing is written. The store must exist (run from
    the folder it was set up in, or set RISKLOOP_STORE_URL): a SQLite file that is not there is
    refused before it scores, not created with a new secrets file where the command ran.
    """
    from models.registry import RegistryError, load_registered
    from models.risk_model import ModelLoadError
    from models.scorer import score_frame
    from training import tracking
    from training.commands import transient_progress
    from training.errors import require_store
    from training.raw_io import refuse_writing_over_a_dataset, refuse_writing_over_sources

    with user_errors(), tracking.registry_errors():
        spec = task_spec(task)
        if lang not in ("en", "zh"):
            raise UserError(f"unknown language {lang!r}; expected en or zh")
        if output.suffix not in (".parquet", ".csv"):
            raise UserError(f"output {output} must end in .parquet or .csv")
        _refuse_overwriting_input(input_path, output)
        refuse_writing_over_sources(output, f"--output {output}")
        refuse_writing_over_a_dataset(output, f"--output {output}")
        check_output_file(output, "output", "a .parquet or .csv file path")
        frame = _read_scoring_input(spec.task, input_path)
        tracking.check_registry()
        try:
            model, info = load_registered(spec.task, alias)
        except (RegistryError, ModelLoadError) as exc:
            raise UserError(str(exc)) from None
        model_values = {
            "model_name": info.name,
            "model_version": info.version,
            "model_alias": alias,
        }
        _check_as_of(input_path, frame)
        frame = _with_absent_features(spec.task, input_path, frame, model.spec.feature_names)
        # before scoring: the run's audit row goes to the deployment's store, never to a new
        # one made where the command ran (bad input is named first, wherever it ran)
        require_store()
        rows: list[dict[str, object]] = []
        with transient_progress() as progress:
            bar = progress.add_task(f"scoring {spec.task}", total=len(frame))
            for start in range(0, len(frame), batch_size):
                batch = frame.iloc[start : start + batch_size]
                records = score_frame(model, batch, top_k=top_k, lang=lang)  # type: ignore[arg-type]
                for record, when in zip(records, batch["as_of"].tolist(), strict=True):
                    row: dict[str, object] = {
                        "entity_id": record.entity_id,
                        "as_of": when,
                        "score": record.score,
                        "risk_level": record.risk_level,
                    }
                    for rank in range(top_k):
                        reason = record.reasons[rank] if rank < len(record.reasons) else None
                        row[f"reason_{rank + 1}"] = reason.sentence if reason else None
                        row[f"reason_{rank + 1}_feature"] = reason.feature if reason else None
                    row["actions"] = "; ".join(
                        f"{a.department}: {a.action}" for a in record.actions
                    )
                    rows.append(row | model_values)
                progress.update(bar, advance=len(batch))
        result = _output_frame(rows, top_k, frame["as_of"].dtype)
        _audit_offline_score(spec.task, model_values, alias, result, output)
        try:
            _write_private(result, output)
        except OSError as exc:
            raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None
    counts = result["risk_level"].value_counts().to_dict()
    typer.echo(
        f"{spec.task}: scored {len(result)} rows with {info.name} v{info.version} ({alias}) -> "
        f"{output}; levels: "
        + ", ".join(
            f"{level}={counts.get(level, 0)}" for level in ("red", "orange", "yellow", "green")
        )
    )


def _audit_offline_score(
    task: str, model: dict[str, object], alias: str, result: pd.DataFrame, output: Path
) -> None:
    """One `score_offline` audit row for a `riskloop score` run; a `UserError` when the
    warnings store cannot take it (the caller then writes no output)."""
    from sqlalchemy.exc import SQLAlchemyError

    from training.commands import cli_actor
    from training.commands.people import open_existing_store

    counts = result["risk_level"].value_counts().to_dict()
    try:
        with open_existing_store() as store:
            store.audit(
                actor=cli_actor(),
                action="score_offline",
                task=task,
                model_version=str(model["model_version"]),
                detail={
                    "model_name": model["model_name"],
                    "model_alias": alias,
                    "n_records": len(result),
                    "levels": {
                        level: int(counts.get(level, 0))
                        for level in ("red", "orange", "yellow", "green")
                    },
                    "output": output.name,
                },
            )
    except SQLAlchemyError as exc:
        raise UserError(
            f"{task}: nothing written: the warnings store's audit log could not record the "
            f"scoring ({exc.__class__.__name__})"
        ) from None


def register(app: typer.Typer) -> None:
    """Add this family's command to the app."""
    app.command("score")(score)
