"""The review console at `/console/`: supervisors and officers work the loop in a browser.

`console_app` is mounted in the one riskloop BentoML service (`serving.service`), so it shares
the service's process, warnings store and loaded champions; see `serving.console.app`.
"""

from __future__ import annotations

from typing import Any

from serving.console.app import Backend, build_app


def _service_backend() -> Backend:
    """The running riskloop service instance (BentoML creates it after mounting the app)."""
    import bentoml

    service: Any = bentoml.get_current_service()
    return service  # type: ignore[no-any-return]


console_app = build_app(_service_backend)

__all__ = ["console_app"]
