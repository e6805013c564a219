"""`GET /v1/audit?task=`: one task's rows, the filter on the record, an unknown task a 422."""

from __future__ import annotations

from .conftest import Served


def test_the_audit_log_keeps_one_tasks_rows(served: Served) -> None:
    headers = served.headers("every")
    with served.client() as client:
        for task in ("telecom-fraud", "wage-arrears"):  # a score request's row of each task
            body = {"records": [{"entity_id": f"task-audit-{task}"}], "explain": False}
            scored = client.post(f"/v1/{task}/score", json=body, headers=served.headers("scorer"))
            assert scored.status_code == 200, scored.text
        params = {"task": "telecom-fraud", "actor": "key:scorer", "action": "score_request"}
        rows = client.get("/v1/audit", params=params, headers=headers)
        unknown = client.get("/v1/audit", params={"task": "telecom"}, headers=headers)
        read = client.get("/v1/audit", params={"action": "audit_read"}, headers=headers)
    assert rows.status_code == 200, rows.text
    items = rows.json()["items"]
    assert items and {row["task"] for row in items} == {"telecom-fraud"}
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"][-1] == "task"
    asked = read.json()["items"][-1]["detail"]
    assert asked == {
        "of_actor": "key:scorer",
        "task": "telecom-fraud",
        "actions": ["score_request"],
        "rows": len(items),
        "channel": "api",
    }
