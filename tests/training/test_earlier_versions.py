"""A warning is explained by the model version that scored it: after a champion change the
service loads that version from the registry (once) to draw its chart, and falls back to the
served model, saying so on the page, where the registry cannot give it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from models.risk_model import RiskModel
from models.settings import get_settings
from training.datasets import Splits


def test_an_earlier_versions_warning_is_drawn_from_that_version(
    isolated_env: Path, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    import mlflow

    from serving import champions
    from training.tracking import configure_tracking, log_and_register

    model, splits = fast_models["wage-arrears"]
    configure_tracking()
    try:
        with mlflow.start_run():
            log_and_register(model, splits.test.head(5))  # version 1
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")
    settings = get_settings()
    # the service serves version 2 (another model: the same one's text would prove nothing)
    other, _ = fast_models["telecom-fraud"]
    served = SimpleNamespace(task="wage-arrears", model=other, version="2")
    champions._EARLIER.clear()
    champions._UNAVAILABLE.clear()

    drawn, version = champions.model_of_version(served, "1", settings)
    assert version == "1" and drawn.model_text() == model.model_text()
    assert champions.model_of_version(served, "1", settings)[0] is drawn  # loaded once
    # a version the registry lacks, the served one itself, a bento replica: the served model
    assert champions.model_of_version(served, "9", settings) == (other, "2")
    # not asked again for a while: a registry that is down slows one page, not every page
    assert ("9" in {key[2] for key in champions._UNAVAILABLE}) and "1" not in {
        key[2] for key in champions._UNAVAILABLE
    }
    assert champions.model_of_version(served, "2", settings) == (other, "2")
    bento = settings.model_copy(update={"model_source": "bento"})
    champions._EARLIER.clear()
    assert champions.model_of_version(served, "1", bento) == (other, "2")
