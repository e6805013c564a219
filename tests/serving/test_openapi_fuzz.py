"""The service keeps its own contract: schemathesis with every check, over every operation.

`/docs.json` of the running service goes through schemathesis's own engine (what
`schemathesis run --checks all --phases coverage,fuzzing,stateful` drives) with every built-in
check switched on: server errors, undocumented status codes, content types and headers,
response schemas, schema-valid requests refused, schema-violating requests accepted, missing
required headers, unsupported methods and their `Allow` header, ignored authentication, use
after free, resource availability and object-level authorisation. A fixed seed and bounded
examples keep it reproducible and under a minute; a single failure fails the test. The key
holds every scope, so no operation is answered 403 for its scope alone.

(schemathesis's pytest plugin, `schema.parametrize()`, does not run under this pytest: it
rewrites `request.node._nodeid`, which pytest no longer has; the engine is the CLI's path.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
import schemathesis
from schemathesis.checks import CHECKS
from schemathesis.engine import Status, events, from_schema

from .conftest import Served

SEED = 1
MAX_EXAMPLES = 20
STATEFUL_STEPS = 6
PHASES = ("coverage", "fuzzing", "stateful")
ALL_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
}
#: What schemathesis takes as an answer to a schema-valid request (its default), and on
#: `GET /v1/warnings` a 422 too: two pairs of query values, each valid alone, are refused in
#: the parameters' descriptions, since no JSON schema of one parameter can relate it to
#: another: `page` beside `cursor`, and `date_from` after `date_to` (test_api_contract pins
#: both refusals).
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
RELATED_QUERY_VALUES = {
    "include-name": "GET /v1/warnings",
    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
}
#: and on a reveal: its purpose is weighed as words (a CJK character counts two, at least four
#: different letters, not only punctuation or digits and not one pattern repeated:
#: `serving.store.privacy.states_a_purpose`),
#: which no JSON schema pattern the service's validator runs can say; the field's
#: description states the rule and the 422 names it
WEIGHED_PURPOSE = {
    "include-name": "POST /v1/warnings/{warning_id}/reveal",
    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
}

#: and on the audit log: a `warning_id` that is no whole warning id is a 422 naming the
#: format (27dfcb6), checked in the route like `GET /v1/warnings/{warning_id}`'s 404 (the
#: filter is trimmed first, which a JSON schema pattern would call invalid data accepted);
#: the parameter's description states the format
AUDIT_WARNING_ID = {
    "include-name": "GET /v1/audit",
    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
}


@dataclass
class Outcome:
    """What a run saw: phases and their status, checks run, failures and errors, by name."""

    phases: dict[str, Status] = field(default_factory=dict)
    checks: Counter[str] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def record(self, recorder: object) -> None:
        label = getattr(recorder, "label", "")
        for case_id, nodes in getattr(recorder, "checks", {}).items():
            for node in nodes:
                self.checks[node.name] += 1
                if node.status == Status.FAILURE:
                    failure = node.failure_info.failure if node.failure_info else None
                    title = failure.title if failure else "?"
                    self.failures.append(
                        f"{label}: {node.name}: {title}: {_exchange(recorder, case_id)}"
                    )
        for case in getattr(recorder, "cases", {}).values():
            operation = getattr(case.value, "operation", None)
            if operation is not None:
                self.operations.add(operation.label)


def _exchange(recorder: object, case_id: str) -> str:
    """A failing case's request and answer in one line, so a failure of the stateful phase
    (whose requests depend on what the shared service holds) names what it sent and got."""
    case = getattr(recorder, "cases", {}).get(case_id)
    interaction = getattr(recorder, "interactions", {}).get(case_id)
    request = f"{case.value.operation.label} {case.value.path_parameters or ''}" if case else "?"
    response = getattr(interaction, "response", None)
    if response is None:
        return f"{request} -> no answer"
    body = (response.content or b"")[:300].decode("utf-8", "replace")
    sent = getattr(getattr(interaction, "request", None), "body", None)
    return f"{request} sent {str(sent)[:300]} -> {response.status_code} {body}"


def _config(served: Served) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "headers": served.headers("every"),
            "checks": {"enabled": True},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
            },
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "operations": [RELATED_QUERY_VALUES, WEIGHED_PURPOSE, AUDIT_WARNING_ID],
        }
    )


@pytest.fixture(scope="module")
def api_schema(served: Served) -> schemathesis.BaseSchema:
    """The service's published OpenAPI document, with the run's configuration."""
    return schemathesis.openapi.from_url(f"{served.url}/docs.json", config=_config(served))


@pytest.fixture(scope="module")
def outcome(api_schema: schemathesis.BaseSchema) -> Outcome:
    """One engine run over every operation, in the three phases."""
    seen = Outcome()
    for event in from_schema(api_schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            seen.record(event.recorder)
        elif isinstance(event, events.PhaseFinished):
            seen.phases[event.phase.name.value] = event.status
        elif isinstance(event, events.NonFatalError):
            seen.errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    return seen


def test_every_check_is_switched_on(api_schema: schemathesis.BaseSchema) -> None:
    """`checks.enabled = true` is `--checks all`: no built-in check is left out of the run."""
    enabled = {
        name
        for name in CHECKS.get_all_names()
        if getattr(api_schema.config.checks, name, None) is not None
        and getattr(api_schema.config.checks, name).enabled
    }
    assert enabled >= ALL_CHECKS


def test_every_operation_keeps_its_contract(
    outcome: Outcome, api_schema: schemathesis.BaseSchema, served: Served
) -> None:
    """Zero failures and zero errors, every phase run, every operation called."""
    assert outcome.failures == []
    assert outcome.errors == []
    assert {phase: outcome.phases.get(phase) for phase in PHASES} == {
        phase: Status.SUCCESS for phase in PHASES
    }
    documented = {result.ok().label for result in api_schema.get_all_operations()}
    assert len([label for label in documented if " /v1/" in label]) >= 12
    assert outcome.operations >= documented
    assert {"not_a_server_error", "status_code_conformance", "negative_data_rejection"} <= set(
        outcome.checks
    )
    assert served.healthy()
