"""The monitoring reference each training run logs: a sample of the labelled dataset's rows,
features and score (`riskloop monitor` compares this month's population with it).

No entity id reaches MLflow, the rows' order links nothing to the dataset, and the artifact is
readable by its owner only (docs/privacy.md lists it).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pandas as pd

from models.risk_model import RiskModel

REFERENCE_ARTIFACT = "reference/dataset.parquet"
REFERENCE_MAX_ROWS = 50_000


def reference_sample(model: RiskModel, train: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The monitoring reference: a seeded sample of the given rows, features and score.

    Training passes the whole labelled dataset the champion was fit, calibrated and tested on,
    so `riskloop monitor` can compare this month's population with the newest labelled months
    rather than with the oldest ones (whose year-on-year features lack history); a unit that
    feedback added and no slice holds (a warned unit, often of this month) is not passed: the
    model never saw it, and warned units are the model's picks, not the population.

    At most `REFERENCE_MAX_ROWS` rows keep the artifact small. No `entity_id`: raw identifiers
    must not reach MLflow, and `riskloop monitor` compares distributions, not units. Which rows
    is seeded (the run's `seed`), but their order is an unseeded random permutation, never the
    dataset's (row i of the dataset file is an entity id, so its order would name each reference
    row), nor by date, nor the seeded sample's (the logged seed would rebuild it row for row).
    """
    sample = train.sample(n=min(len(train), REFERENCE_MAX_ROWS), random_state=seed)
    sample = sample.iloc[np.random.default_rng().permutation(len(sample))]
    columns = ["as_of", *model.spec.feature_names]
    return sample.loc[:, columns].assign(score=model.predict_proba(sample)).reset_index(drop=True)


def log_reference(sample: pd.DataFrame) -> None:
    """Log `sample` as the run's `REFERENCE_ARTIFACT`, readable by its owner only.

    The file is made 0600 before its first byte; MLflow's local artifact store copies the mode
    with the file, and there its folder is made 0700 (a tracking server's store keeps its own
    modes: docs/privacy.md).
    """
    import mlflow

    folder = str(Path(REFERENCE_ARTIFACT).parent)
    with tempfile.TemporaryDirectory(prefix="riskloop-reference-") as tmp:
        local = Path(tmp) / Path(REFERENCE_ARTIFACT).name
        with os.fdopen(os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            sample.to_parquet(out, index=False)
        mlflow.log_artifact(str(local), folder)
    stored = urlparse(mlflow.get_artifact_uri(folder))
    if stored.scheme == "file" and Path(url2pathname(stored.path)).is_dir():
        stored_folder = Path(url2pathname(stored.path))
        stored_folder.chmod(0o700)
        for logged in stored_folder.iterdir():
            logged.chmod(0o600)
