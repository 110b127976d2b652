"""The fuzzing gate: schemathesis drives every operation of /api/v1/openapi.json in-process, with
a police token, a neighbour's, a volunteer's and an admin's, and every answer must be no server
error and exactly what the document says (status, content type, body schema, headers).

Bounded for CI: the deterministic boundary and negative cases schemathesis derives from the
document (its "coverage" cases) plus MAX_EXAMPLES generated ones per operation, derandomized so a
run is reproducible. `-m fuzz` selects it alone; it also runs with the rest of the suite.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Flask
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Person, incident_body, patrol_body

pytestmark = pytest.mark.fuzz

MAX_EXAMPLES = 30  # generated cases per operation and role, on top of the derived boundary cases
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# The issue asks for police and neighbours; volunteers (patrols, trackers, sync) and admins (the
# audit record, committees) reach answers the other two never get.
ROLES = {"police": None, "neighbor": 1, "volunteer": 1, "admin": None}  # role: zone

cases_run: Counter[str] = Counter()
seconds: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many cases each role ran and how long it took (CI logs keep the gate's size in view)."""
    yield
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        for role, count in cases_run.items():
            print(f"\nschemathesis {schemathesis.__version__}: {count} cases as {role} in {seconds[role]:.0f} s")


@pytest.fixture(autouse=True)
def time_role(request: pytest.FixtureRequest) -> Iterator[None]:
    """Add the test's time (its app, its cases) to its role's."""
    start = time.monotonic()
    yield
    seconds[request.node.callspec.params["fuzzer"]] += time.monotonic() - start


@pytest.fixture(params=list(ROLES))
def fuzzer(
    request: pytest.FixtureRequest, make_person: Callable[..., Person], make_committee: Callable[..., int], client: Any
) -> Person:
    """The person whose token the run uses, in a district where ids 1 exist: two reports of the same
    robbery (duplicates), an alarm, and a patrol in the street with its last position."""
    role = request.param
    person = make_person(role, zone_id=ROLES[role])
    volunteer = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [volunteer, person] if role == "volunteer" else [volunteer])
    patrol = client.post("/api/v1/patrols", json=patrol_body(committee), headers=volunteer.headers).get_json()
    point = {"t": patrol["started_at"], "lat": -12.1399, "lon": -76.9282, "accuracy": 8}
    client.post(f"/api/v1/patrols/{patrol['id']}/positions", json={"positions": [point]}, headers=volunteer.headers)
    for _ in range(2):
        client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers)
    alarm = {"client_id": incident_body(1)["client_id"], "source": "app", "lat": -12.1398, "lon": -76.9281}
    client.post("/api/v1/alarms", json=alarm, headers=volunteer.headers)
    return person


@pytest.fixture
def api_schema(app: Flask, fuzzer: Person) -> Any:
    """The document as the app serves it, tested against the app itself (no server, no network)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # Answers are gzipped for clients that accept it (tests/test_sync.py); the document describes
    # what a client reads once its HTTP library has unpacked them.
    schema.config.update(headers={**fuzzer.headers, "Accept-Encoding": "identity"})
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")
# Ending one's sessions (or changing one's password) ends the token the run uses: those go last.
ENDS_SESSIONS = r"^/api/v1/me/(sessions|password)$"
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


def call_and_check(case: schemathesis.Case, role: str) -> None:
    """Send one case to the app and hold its answer to the document, counting it for the role."""
    cases_run[role] += 1
    case.call_and_validate(checks=CHECKS)


@schema.exclude(path_regex=ENDS_SESSIONS).parametrize()
@SETTINGS
def test_every_answer_is_what_the_document_says(case: schemathesis.Case, fuzzer: Person) -> None:
    call_and_check(case, fuzzer.user.role)


@schema.include(path_regex=ENDS_SESSIONS).parametrize()
@SETTINGS
def test_ending_sessions_answers_what_the_document_says(case: schemathesis.Case, fuzzer: Person) -> None:
    call_and_check(case, fuzzer.user.role)
