"""`riskloop run` checks its port again just before it starts the service.

The port was checked only before minutes of training: a process that took it meanwhile left
`serving on http://...`, then BentoML's `Could not bind` and a full OSError traceback.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import typer

from training.commands.main_job import start_serving


def test_a_port_taken_during_training_is_refused_in_one_line(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from models.settings import get_settings

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other_service:
        other_service.bind(("127.0.0.1", 0))
        other_service.listen()
        port = other_service.getsockname()[1]
        with pytest.raises(typer.Exit) as refused:
            start_serving(get_settings(), "127.0.0.1", port)

    assert refused.value.exit_code == 2
    said = capsys.readouterr()
    assert said.err.splitlines() == [
        f"error: 127.0.0.1:{port} is already in use; stop the other service or choose --port"
    ]
    assert "serving on" not in said.out + said.err
