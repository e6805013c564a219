"""`riskloop promote --help` tells scripts what its exit codes mean."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from training.cli import app


def test_promote_help_documents_its_exit_codes() -> None:
    """A scheduled retrain must tell 'promoted' from 'champion kept': both exited 0."""
    result = CliRunner().invoke(app, ["promote", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert re.search(r"Exit codes: 0 the challenger is the champion", text), text
    assert "3 the rule refused it and the champion was kept" in text
