"""A key bound to one department never administers: reloading reloads every task's models.

`keys create` refuses `admin` with `--department` in one line, as it refuses `audit`, and a key
file written before that rule (a bound key holding `admin`) gets 403 on the admin routes, as a
bound key holding `audit` gets on the audit log.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.environment import service_env, settings_env
from training.cli import app

from .conftest import Served


def test_keys_create_refuses_admin_with_a_department_in_one_line(isolated_env: Path) -> None:
    from serving.auth import list_keys

    args = ["keys", "create", "kx4", "--scopes", "review,admin", "--department", "grid"]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "spans every department" in line, line
    assert "'admin' scope cannot be bound" in line, line
    assert not list_keys()
    assert CliRunner().invoke(app, [*args[:4], "review"]).exit_code == 0  # without admin: fine


def test_a_bound_admin_key_from_an_older_keys_file_cannot_reload(served: Served) -> None:
    from models.settings import get_settings
    from serving.auth import create_key

    with settings_env(service_env(served.root)):
        secret = create_key("grid-admin", ("review", "admin"))
        keys_file = get_settings().keys_file
        payload = json.loads(keys_file.read_text("utf-8"))
        for record in payload["keys"]:
            if record["name"] == "grid-admin":
                record["department"] = "grid"
        keys_file.write_text(json.dumps(payload), "utf-8")

    with served.client() as client:
        refused = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {secret}"})
        allowed = client.post("/v1/admin/reload", headers=served.headers("all"))

    assert refused.status_code == 403, refused.text
    assert "spans every department" in refused.text
    assert allowed.status_code == 200, allowed.text
