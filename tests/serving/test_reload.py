"""Following the champion alias without a restart, and surviving a reload that fails (the
periodic check is the second service's: tests/serving/test_second_service.py)."""

from __future__ import annotations

from pathlib import Path

import httpx

from .conftest import Served

TASK = "dispute-escalation"


def _served_version(client: httpx.Client, served: Served) -> str:
    body = {"records": [{"entity_id": "D-1"}]}
    response = client.post(f"/v1/{TASK}/score", json=body, headers=served.headers("scorer"))
    assert response.status_code == 200, response.text
    return str(response.json()["results"][0]["model"]["version"])


def _reload(client: httpx.Client, served: Served) -> dict[str, dict[str, str]]:
    response = client.post("/v1/admin/reload", headers=served.headers("operator"))
    assert response.status_code == 200, response.text
    return {r["task"]: r for r in response.json()["results"]}


def test_reload_follows_the_alias_and_a_failed_reload_keeps_the_old_model(
    served: Served, small_city: Path
) -> None:
    import mlflow

    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from models.spec import get_spec
    from serving.store import WarningStore
    from training.datasets import build_from_raw
    from training.train import train_task

    spec = get_spec(TASK)
    data = build_from_raw(spec, small_city)
    uri = get_settings().mlflow_uri
    registry = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    settings = get_settings()
    # the service is shared: other tests' reloads (audited too) came before this one's
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        seen = {row["id"] for row in store.audit_rows() if row["action"] == "model_reload"}
    with served.client() as client:
        before = _served_version(client, served)
        fresh = train_task(spec, data, max_rounds=8)
        registry.set_registered_model_alias(
            spec.registered_model_name, "champion", str(fresh.version)
        )
        outcome = _reload(client, served)
        assert outcome[TASK]["status"] == "reloaded"
        assert outcome[TASK]["previous_version"] == before
        assert outcome["wage-arrears"]["status"] == "unchanged"
        assert _served_version(client, served) == str(fresh.version)

        broken = train_task(spec, data, max_rounds=5)
        download = registry.get_model_version_download_uri(
            spec.registered_model_name, str(broken.version)
        )
        (booster,) = Path(download.removeprefix("file://")).rglob("booster.txt")
        booster.write_text("this is not a LightGBM model")
        registry.set_registered_model_alias(
            spec.registered_model_name, "champion", str(broken.version)
        )
        failed = _reload(client, served)[TASK]
        assert failed["status"] == "failed" and failed["version"] == str(fresh.version)
        assert "booster.txt" in failed["error"]
        assert _served_version(client, served) == str(fresh.version)
        models = client.get("/v1/models", headers=served.headers("scorer")).json()["models"]
        (info,) = [m for m in models if m["task"] == TASK]
        assert info["version"] == str(fresh.version) and "booster.txt" in info["last_reload_error"]

        registry.set_registered_model_alias(
            spec.registered_model_name, "champion", str(fresh.version)
        )
        assert _reload(client, served)[TASK]["status"] == "unchanged"
        models = client.get("/v1/models", headers=served.headers("scorer")).json()["models"]
        assert all(m["last_reload_error"] is None for m in models)

    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        reloads = [
            row
            for row in store.audit_rows()
            if row["action"] == "model_reload"
            and row["actor"] == "key:operator"
            and row["id"] not in seen
        ]
    # every admin-requested reload is audited, each task's outcome, unchanged ones included
    assert [r["detail"]["status"] for r in reloads if r["task"] == TASK] == [
        "reloaded",
        "failed",
        "unchanged",
    ]
    assert [r["detail"]["status"] for r in reloads if r["task"] == "wage-arrears"] == [
        "unchanged"
    ] * 3


def test_a_reload_onto_a_missing_or_foreign_champion_says_why_in_one_line(
    served: Served,
) -> None:
    """The alias deleted, then moved to a model registered outside riskloop, by a plain
    MlflowClient: the service keeps its model and names the task and what is wrong."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from models.settings import get_settings
    from models.spec import get_spec

    spec = get_spec(TASK)
    name = spec.registered_model_name
    uri = get_settings().mlflow_uri
    registry = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    original = registry.get_model_version_by_alias(name, "champion").version
    try:
        with served.client() as client:
            registry.delete_registered_model_alias(name, "champion")
            gone = _reload(client, served)[TASK]
            assert gone["status"] == "failed" and gone["version"] == str(original)
            assert f"no 'champion' model for task {TASK}" in gone["error"], gone["error"]
            assert "\n" not in gone["error"]

            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            features = np.arange(20, dtype=float).reshape(10, 2)
            with mlflow.start_run():
                foreign = mlflow.sklearn.log_model(
                    LogisticRegression().fit(features, np.arange(10) % 2),
                    name="model",
                    registered_model_name=name,
                    pip_requirements=["scikit-learn"],
                )
            registry.set_registered_model_alias(
                name, "champion", str(foreign.registered_model_version)
            )
            refused = _reload(client, served)[TASK]
            assert refused["status"] == "failed" and refused["version"] == str(original)
            assert (
                f"{name} version {foreign.registered_model_version} is not a riskloop model"
                in (refused["error"])
            )
            assert "\n" not in refused["error"]
            assert _served_version(client, served) == str(original)
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")
        registry.set_registered_model_alias(name, "champion", str(original))
