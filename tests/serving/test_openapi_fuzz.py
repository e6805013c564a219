"""Property-based fuzzing of the published OpenAPI document (schemathesis, bounded).

Every operation in `/docs.json` is called with generated inputs and a key holding every scope:
no answer may be a 5xx, and every answer must match the schema the document declares for it.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from .conftest import Served

MAX_EXAMPLES = 30


def test_no_server_error_and_no_schema_violation(served: Served) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    schema = schemathesis.openapi.from_url(f"{served.url}/docs.json")
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path.startswith("/v1/")
    ]
    assert len(operations) >= 7
    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=served.url,
                headers=served.headers(),
                checks=[not_a_server_error, response_schema_conformance],
            )

        check()
    assert served.healthy()
