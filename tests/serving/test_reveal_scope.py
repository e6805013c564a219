"""A key holding `reveal` without a scope that reads cases: refused by name, never 'department
None'.

A QA run created `riskloop keys create k_reveal --scopes reveal` and was refused every reveal
with "key 'k_reveal' is bound to department None; this warning is neither dispatched to it nor
of a task it owns": the key is bound to no department, and what it lacks is a scope that reads
the case. The refusal now says so, and `keys create` refuses such a key in one line.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from serving.auth import create_key

from .conftest import Served
from .test_service import score, warned_records

TASK = "wage-arrears"


def test_a_reveal_only_key_is_refused_for_the_scope_it_lacks(served: Served) -> None:
    record = warned_records(served, TASK, "reveal-only", 1)
    warning_id = score(served, TASK, {"records": record}).json()["results"][0]["warning_id"]
    assert warning_id
    secret = create_key("k_reveal_only", ["reveal"])
    with served.client() as client:
        refused = client.post(
            f"/v1/warnings/{warning_id}/reveal",
            json={"purpose": "check the employer's arrears lead"},
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert refused.status_code == 403, refused.text
    answer = refused.json()
    assert "'review' or 'feedback'" in answer["error"], answer
    assert "None" not in answer["error"] and "None" not in answer["rule_zh"], answer


def test_keys_create_refuses_reveal_without_a_scope_that_reads_cases(isolated_env: Path) -> None:
    from training.cli import app

    runner = CliRunner()
    refused = runner.invoke(app, ["keys", "create", "k_reveal", "--scopes", "reveal"])
    assert refused.exit_code == 2, refused.output
    assert len(refused.output.strip().splitlines()) == 1, refused.output
    assert "'review' or 'feedback'" in refused.output, refused.output
    assert not (isolated_env / "keys.json").exists()
    created = runner.invoke(app, ["keys", "create", "k_reveal", "--scopes", "reveal, review"])
    assert created.exit_code == 0, created.output
