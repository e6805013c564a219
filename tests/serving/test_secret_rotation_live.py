"""`riskloop secrets rotate` reaches the running service, with no restart.

QA found the service kept encrypting new warnings under the key it started with: the cipher
was built once at start-up, so after a rotation the `key_id` column showed only the old key,
though docs/privacy.md says new warnings use the new one. Here a warning is raised over HTTP,
the key is rotated by the CLI (run in the test's process, not the service's), and the next
warning must be stored under the new key while both ids are still revealed by the same running
service.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

from typer.testing import CliRunner

from models.secret_keys import load_secrets
from serving.store.identity import KEY_LOOK_INTERVAL_S
from serving.store.pseudonym import pseudonymise
from training.cli import app

from .conftest import Served
from .test_service import as_records, materialized, score

TASK = "wage-arrears"


def _warning_raising_record(served: Served) -> dict[str, Any]:
    """A materialized record the champion warns on (its id replaced per use, so each use raises
    a new warning rather than meeting one another test left open)."""
    frame = materialized(served, TASK).head(60)
    records = as_records(TASK, frame)
    answer = score(served, TASK, {"records": records}, key="scorer")
    assert answer.status_code == 200, answer.text
    warned = [i for i, result in enumerate(answer.json()["results"]) if result["warning_id"]]
    assert warned, "no record of the small city raised a warning"
    return records[warned[0]]


def _raise_warning(served: Served, record: dict[str, Any], entity_id: str) -> str:
    answer = score(served, TASK, {"records": [{**record, "entity_id": entity_id}]}, key="scorer")
    assert answer.status_code == 200, answer.text
    warning_id = answer.json()["results"][0]["warning_id"]
    assert warning_id, answer.text
    return str(warning_id)


def _stored(served: Served, warning_id: str) -> tuple[str, str]:
    """The warning's `key_id` and `entity_hash` as the database holds them."""
    with sqlite3.connect(f"file:{served.root / 'riskloop.db'}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT key_id, entity_hash FROM warnings WHERE id = ?", (warning_id,)
        ).fetchone()
    assert row is not None, warning_id
    return str(row[0]), str(row[1])


def _reveal(served: Served, warning_id: str) -> str:
    with served.client() as client:
        answer = client.post(
            f"/v1/warnings/{warning_id}/reveal",
            json={"purpose": "checking the key rotation"},
            headers=served.headers("every"),
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["entity_id"])


def test_a_rotation_reaches_the_running_service_without_a_restart(served: Served) -> None:
    record = _warning_raising_record(served)
    before_id, after_id = (f"ROTATION-{when}-{uuid.uuid4().hex[:12]}" for when in ("A", "B"))
    before = _raise_warning(served, record, before_id)
    secrets = load_secrets(create=False)
    old_key, old_hash = _stored(served, before)
    assert old_key == secrets.current_key_id

    # with the module's settings: the session's store and secrets file, as the service has
    rotated = CliRunner().invoke(app, ["secrets", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    new_key = load_secrets(create=False).current_key_id
    assert new_key != old_key and new_key in rotated.stdout

    time.sleep(KEY_LOOK_INTERVAL_S + 0.2)  # the service looks at the file at most this often
    after = _raise_warning(served, record, after_id)
    assert served.process.poll() is None  # the same process: no restart in between
    key, entity_hash = _stored(served, after)
    assert key == new_key, f"a warning raised after the rotation is stored under {key}"

    # both keys decrypt in the service that started with only the first
    assert _reveal(served, before) == before_id
    assert _reveal(served, after) == after_id
    # the pseudonym key is not rotated: pseudonyms keep linking warnings, outcomes and labels
    assert load_secrets(create=False).pseudonym_secret == secrets.pseudonym_secret
    assert (old_hash, entity_hash) == (
        pseudonymise(secrets.pseudonym_secret, before_id),
        pseudonymise(secrets.pseudonym_secret, after_id),
    )
