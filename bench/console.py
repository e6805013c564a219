"""Console benchmark: server-side render time of the queue and case pages, and page weight.

A fresh SQLite store gets 10,000 wage-arrears warnings through `WarningStore.record_scores`
(the path score requests take; reasons name real catalog features), one supervisor of the
owning department signs in, and the console app answers in process (Starlette's test client:
the whole request path, session check, policy, queries, audit row and template, without the
network). The issue's goals: queue page (50 rows) under 150 ms at the median, case page under
100 ms, page weight under 300 KB without the waterfall image.
"""

from __future__ import annotations

import os
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

N_WARNINGS = 10_000
DISTRICTS = ("wuxing", "nanxun", "deqing", "changxing", "anji")
REPEATS = 30
PASSWORD = secrets.token_urlsafe(18)  # a throwaway account in a temporary store, new each run


class _Backend:
    """The console's view of a service: a store, settings, and no warm model."""

    def __init__(self, store: Any, settings: Any) -> None:
        self.store = store
        self.settings = settings

    def served(self, task: str) -> Any:
        raise KeyError(task)  # the waterfall PNG is a separate request, outside these figures


def _results(n: int, seed: int) -> list[dict[str, Any]]:
    from models.spec import get_spec

    spec = get_spec("wage-arrears")
    numeric = [f for f in spec.features if f.dtype in ("float", "int")][:8]
    rng = random.Random(seed)
    levels = ["red"] * 5 + ["orange"] * 25 + ["yellow"] * 70
    results = []
    for i in range(n):
        reasons = [
            {
                "feature": feature.name,
                "label": feature.label_en,
                "value": round(rng.uniform(0, 5), 3),
                "contribution": round(rng.uniform(-0.5, 1.5), 4),
                "sentence": "",
                "actionable": feature.actionable,
            }
            for feature in rng.sample(numeric, 5)
        ]
        results.append(
            {
                "entity_id": f"91330500MA{i:08d}",
                "as_of": f"2025-{1 + i % 12:02d}-01",
                "score": rng.uniform(0.05, 0.9),
                "risk_level": rng.choice(levels),
                "reasons": reasons,
                "actions": [{"department": "Labour inspection brigade", "action": "inspect"}],
                "features": {},
                "district": rng.choice(DISTRICTS),
            }
        )
    return results


def _median_ms(client: Any, path: str) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        size = len(answer.content)
    return round(statistics.median(times), 1), size


def _size(client: Any, path: str) -> int:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return len(answer.content)


def run() -> dict[str, Any]:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from models.settings import Settings
    from serving.console.app import build_app
    from serving.store import WarningStore

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = Settings(
            store_url=f"sqlite:///{root / 'riskloop.db'}",
            keys_file=root / "keys.json",
            reports_dir=root / "reports",
            secrets_file=root / "secrets.json",
        )
        store = WarningStore.from_settings(settings)
        results = _results(N_WARNINGS, seed=0)
        started = time.perf_counter()
        for start in range(0, N_WARNINGS, 1000):
            store.record_scores(
                actor="key:bench",
                task="wage-arrears",
                model_name="riskloop-wage-arrears",
                model_version="1",
                results=results[start : start + 1000],
            )
        fill_s = time.perf_counter() - started
        store.create_user(
            "bench.sup", department="county_centre", role="supervisor", password=PASSWORD
        )
        app = Starlette(routes=[Mount("/console", build_app(lambda: _Backend(store, settings)))])
        with TestClient(app, follow_redirects=False) as client:
            client.get("/console/sign-in")
            token = client.cookies["riskloop_console_pre"]
            signed = client.post(
                "/console/sign-in",
                data={
                    "name": "bench.sup",
                    "password": PASSWORD,
                    "csrf": token,
                    "next": "/console/queue",
                },
            )
            assert signed.status_code == 303, signed.text[:300]
            queue_ms, queue_bytes = _median_ms(client, "/console/queue")
            red_ms, _ = _median_ms(client, "/console/queue?level=red&sort=score")
            deep_ms, _ = _median_ms(client, "/console/queue?sort=level&page=150")
            district_ms, _ = _median_ms(client, "/console/queue?district=anji&sort=score")
            ids = [
                row[0]
                for row in store.engine.connect().exec_driver_sql(
                    "SELECT id FROM warnings ORDER BY score DESC LIMIT 5"
                )
            ]
            case_times = [_median_ms(client, f"/console/cases/{warning_id}") for warning_id in ids]
            case_ms = round(statistics.median(ms for ms, _ in case_times), 1)
            case_bytes = max(size for _, size in case_times)
            dashboard_ms, dashboard_bytes = _median_ms(client, "/console/dashboard")
            css = _size(client, "/console/static/riskloop.css")
            icon = _size(client, "/console/static/favicon.svg")
        store.close()
    return {
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "warnings": N_WARNINGS,
        "fill_s": round(fill_s, 1),
        "repeats": REPEATS,
        "how": "in-process ASGI test client, signed-in supervisor, SQLite store; each page "
        "load includes the session check, policy, queries, its audit row and the template",
        "queue_page_50_rows_median_ms": queue_ms,
        "queue_red_by_score_median_ms": red_ms,
        "queue_page_150_by_level_median_ms": deep_ms,
        "queue_one_district_by_score_median_ms": district_ms,
        "case_page_median_ms": case_ms,
        "dashboard_median_ms": dashboard_ms,
        "page_weight_bytes": {
            "queue_html": queue_bytes,
            "case_html_without_waterfall": case_bytes,
            "dashboard_html": dashboard_bytes,
            "stylesheet": css,
            "favicon": icon,
            "queue_total": queue_bytes + css + icon,
            "case_total_without_waterfall": case_bytes + css + icon,
        },
        "goals": {"queue_median_ms": 150, "case_median_ms": 100, "page_weight_kb": 300},
    }
