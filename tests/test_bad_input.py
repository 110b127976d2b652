"""Inputs that used to answer 500: JSON nested a thousand levels deep, and control characters
(a NUL) in names and identifiers. Each is a 4xx naming the field, on SQLite here and on
PostgreSQL in tests/test_postgres.py (which reuses these checks)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import PASSWORD, incident_body, patrol_body

DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000


def fields_of(response) -> list[str]:
    return [f["field"] for f in response.get_json().get("fields", [])]


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/api/v1/sync", "/api/v1/auth/token", "/osmand"])
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_json_nested_a_thousand_levels_is_a_422_on_the_body(client, make_person, path, body):
    volunteer = make_person("volunteer", zone_id=1)
    response = client.post(path, data=body, headers={**volunteer.headers, "Content-Type": "application/json"})
    assert response.status_code == 422 and fields_of(response) == ["body"]
    assert "anidado" in response.get_json()["fields"][0]["problem"]


def test_a_deep_body_whatever_its_content_type_says(client, make_person, make_committee):
    volunteer = make_person("volunteer", zone_id=1)
    make_committee(1, [volunteer])
    response = client.post(
        "/api/v1/patrols/1/end", data=DEEP, headers={**volunteer.headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 422 and fields_of(response) == ["body"]


def test_an_ordinary_deep_enough_body_still_goes_through(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    nested = {"operations": [{"op": "incident", "client_id": "9a1c4c1e-6c0e-4b8e-9f3a-1b2c3d4e5f60",
                              "at": "2026-12-01T10:00:00-05:00",
                              "data": {"kind": "robbery", "lat": -12.1398, "lon": -76.9281,
                                       "description": "[[[[{{{{ texto con corchetes ]]]]}}}}" * 10}}]}  # fmt: skip
    assert client.post("/api/v1/sync", json=nested, headers=volunteer.headers).get_json()["applied"] == 1


def check_control_characters(client, make_person, make_committee) -> None:
    """A NUL in a username, a member's username, a device id: a 4xx naming the field."""
    token = client.post("/api/v1/auth/token", json={"username": "ro\u0000sa", "password": PASSWORD})
    assert token.status_code == 422 and fields_of(token) == ["username"]
    coordinator = make_person("coordinator", zone_id=1)
    committee = make_committee(1, [coordinator])
    member = client.post(
        f"/api/v1/committees/{committee}/members", json={"username": "ju\u0000an"}, headers=coordinator.headers
    )
    assert member.status_code == 422 and fields_of(member) == ["username"]
    tracker = client.post(
        "/api/v1/trackers", json={"device_id": "telefono-de-juan\u0000-01"}, headers=coordinator.headers
    )
    assert tracker.status_code == 422 and fields_of(tracker) == ["device_id"]
    fix = client.get("/osmand?id=abc%00def&lat=-12.1&lon=-76.9&timestamp=1764600000")
    assert fix.status_code == 400 and fields_of(fix) == ["id"]
    page = client.get("/entrar")
    csrf = page.get_data(as_text=True).split('name="csrf" value="')[1].split('"')[0]
    signed = client.post("/entrar", data={"csrf": csrf, "username": "ro\u0000sa", "password": PASSWORD})
    assert signed.status_code == 400 and "caracteres de control" in signed.get_data(as_text=True)


def test_control_characters_in_names_and_ids_are_refused_on_sqlite(client, make_person, make_committee):
    check_control_characters(client, make_person, make_committee)


# --- lone surrogates, numbers and timestamps out of range ----------------------------------

SURROGATE = "\\ud800"  # as JSON carries it: half of a UTF-16 pair, which no database can store
BIG = "9" * 5000  # more digits than Python reads as a number


def post_raw(client, path: str, body: str, headers: dict[str, str], method: str = "POST"):
    """Send a JSON text as written (json= would refuse to encode a lone surrogate)."""
    return client.open(path, method=method, data=body, headers={**headers, "Content-Type": "application/json"})


def check_lone_surrogates(client, make_person, make_committee) -> None:
    """A lone surrogate in any text of a JSON body: a 4xx naming the field, and nothing stored."""
    police, admin = make_person("police"), make_person("admin")
    volunteer = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [volunteer])
    incident = client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers).get_json()
    alarm = client.post(
        "/api/v1/alarms",
        json={"client_id": str(uuid.uuid4()), "source": "app", "lat": -12.1398, "lon": -76.9281},
        headers=volunteer.headers,
    ).get_json()
    plain = json.dumps(incident_body(1))
    report = plain.replace('"Dos sujetos', f'"Dos {SURROGATE}sujetos')
    cases = [
        ("/api/v1/auth/token", f'{{"username": "ro{SURROGATE}sa", "password": "x"}}', {}, "username", "POST"),
        ("/api/v1/auth/token", f'{{"username": "rosa", "password": "x{SURROGATE}"}}', {}, "password", "POST"),
        ("/api/v1/incidents", report, volunteer.headers, "description", "POST"),
        ("/api/v1/incidents", plain.replace('"robbery"', f'"rob{SURROGATE}"'), volunteer.headers, "kind", "POST"),
        (f"/api/v1/incidents/{incident['id']}", f'{{"status": "acknowledged", "note": "{SURROGATE}"}}',
         police.headers, "note", "PATCH"),
        (f"/api/v1/alarms/{alarm['id']}/resolve", f'{{"outcome": "real", "note": "a{SURROGATE}"}}',
         police.headers, "note", "POST"),
        ("/api/v1/committees", f'{{"name": "Comité {SURROGATE}", "zone_id": 1}}', admin.headers, "name", "POST"),
        (f"/api/v1/committees/{committee}/members", f'{{"username": "ju{SURROGATE}an"}}', admin.headers,
         "username", "POST"),
        ("/api/v1/trackers", f'{{"device_id": "telefono-de-juan-{SURROGATE}"}}', volunteer.headers, "device_id",
         "POST"),
    ]  # fmt: skip
    for path, body, headers, field, method in cases:
        response = post_raw(client, path, body, headers, method)
        assert response.status_code == 422 and fields_of(response) == [field], (path, response.get_json())
    one_report = client.get("/api/v1/incidents", headers=police.headers).get_json()["items"]
    assert [i["id"] for i in one_report] == [incident["id"]] and one_report[0]["status"] == "reported"
    # In a phone's offline batch the bad operation alone is refused, naming its field.
    good, bad = str(uuid.uuid4()), str(uuid.uuid4())
    batch = (
        f'{{"operations": [{{"op": "incident", "client_id": "{bad}", "at": "2026-12-01T10:00:00-05:00", '
        f'"data": {report}}}, {{"op": "incident", "client_id": "{SURROGATE}", "at": "2026-12-01T10:00:00-05:00"}}, '
        f'{{"op": "incident", "client_id": "{good}", "at": "2026-12-01T10:00:00-05:00", '
        f'"data": {json.dumps(incident_body(1))}}}]}}'
    )
    answer = post_raw(client, "/api/v1/sync", batch, volunteer.headers).get_json()
    assert (answer["applied"], answer["rejected"]) == (1, 2)
    refused = answer["results"][0]
    assert refused["client_id"] == bad and [f["field"] for f in refused["error"]["fields"]] == ["data.description"]
    assert answer["results"][1]["client_id"] is None  # not sent back: it is no text JSON can carry
    fix = {"device_id": f"abc{SURROGATE}", "location": {"coords": {"latitude": -12.1, "longitude": -76.9}}}
    tracker = post_raw(client, "/osmand", json.dumps(fix).replace("\\\\", "\\"), {})
    assert tracker.status_code == 400 and fields_of(tracker) == ["id"]


def check_numbers_and_times_out_of_range(client, make_person, make_committee) -> None:
    """Ids beyond PostgreSQL's integers, NaN, Infinity, huge numbers, years 0 and 10000: a 4xx naming the field."""
    police = make_person("police")
    volunteer = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [volunteer])
    patrol = client.post("/api/v1/patrols", json=patrol_body(committee), headers=volunteer.headers).get_json()
    gets = [
        ("/api/v1/incidents/2147483648", "incident_id"),
        ("/api/v1/alarms/99999999999999999999", "alarm_id"),
        ("/api/v1/incidents?limit=-1", "limit"),
        ("/api/v1/incidents?limit=0", "limit"),
        ("/api/v1/incidents?zone_id=2147483648", "zone_id"),
        (f"/api/v1/incidents?severity={BIG}", "severity"),
        ("/api/v1/incidents?since=10000-01-01T00:00:00", "since"),
        ("/api/v1/incidents?until=0000-01-01T00:00:00", "until"),
        ("/api/v1/incidents?since=9999-12-31T23:59:59-05:00", "since"),
        ("/api/v1/incidents?bbox=nan,nan,nan,nan", "bbox"),
        ("/api/v1/events?since=2147483648", "since"),
        ("/api/v1/zones/locate?lat=nan&lon=-76.9", "lat"),
        ("/api/v1/zones/locate?lat=-12.1&lon=inf", "lon"),
        ("/api/v1/audit?since=1e20", "since"),
    ]
    for path, field in gets:
        response = client.get(path, headers=police.headers)
        assert response.status_code == 422 and fields_of(response) == [field], (path, response.get_json())
    stored = client.get("/api/v1/incidents", headers=police.headers).get_json()["items"]
    report = json.dumps(incident_body(1))
    bodies = [
        ('"lat": -12.1398', '"lat": NaN', "lat"),
        ('"lat": -12.1398', '"lat": Infinity', "lat"),
        ('"severity": 2', '"severity": 1e400', "severity"),
        ('"severity": 2', '"severity": 100000000000000000000000', "severity"),
        ('"severity": 2', '"severity": 2, "accuracy": -Infinity', "accuracy"),
        ('"severity": 2', '"severity": 2, "patrol_id": 2147483648', "patrol_id"),
        ('"severity": 2', '"severity": 2, "occurred_at": "0000-01-01T00:00:00"', "occurred_at"),
        ('"severity": 2', '"severity": 2, "occurred_at": "10000-01-01T00:00:00"', "occurred_at"),
        ('"severity": 2', '"severity": 2, "occurred_at": "0001-01-01T00:00:00+05:00"', "occurred_at"),
        ('"severity": 2', '"severity": 2, "occurred_at": "9999-12-31T23:59:59-05:00"', "occurred_at"),
        ('"severity": 2', '"severity": 2, "occurred_at": 1e20', "occurred_at"),
        ('"severity": 2', '"severity": 2, "occurred_at": -99999999999999', "occurred_at"),
        ('"severity": 2', f'"severity": {BIG}', "body"),
    ]
    for old, new, field in bodies:
        response = post_raw(client, "/api/v1/incidents", report.replace(old, new), volunteer.headers)
        assert response.status_code == 422 and fields_of(response) == [field], (new[:60], response.get_json())
    assert client.get("/api/v1/incidents", headers=police.headers).get_json()["items"] == stored
    positions = f"/api/v1/patrols/{patrol['id']}/positions"
    for point, field in [
        ('{"t": 1e20, "lat": -12.1, "lon": -76.9}', "positions.0.t"),
        ('{"t": "2026-12-01T10:00:00-05:00", "lat": NaN, "lon": -76.9}', "positions.0.lat"),
        ('{"t": "2026-12-01T10:00:00-05:00", "lat": -12.1, "lon": -76.9, "speed": Infinity}', "positions.0.speed"),
    ]:
        response = post_raw(client, positions, f'{{"positions": [{point}]}}', volunteer.headers)
        assert response.status_code == 422 and fields_of(response) == [field], (point, response.get_json())
    for query, field in [
        ("lat=nan&lon=-76.9", "lat"),
        (f"lat={BIG}&lon=-76.9", "lat"),
        ("lat=-12.1&lon=-76.9&timestamp=1e30", "timestamp"),
        ("lat=-12.1&lon=-76.9&timestamp=-1e30", "timestamp"),
        ("lat=-12.1&lon=-76.9&timestamp=10000-01-01T00:00:00", "timestamp"),
        ("lat=-12.1&lon=-76.9&timestamp=0", "timestamp"),
        ("lat=-12.1&lon=-76.9&timestamp=0001-01-01T00:00:00", "timestamp"),
    ]:
        fix = client.get(f"/osmand?id=telefono-de-juan-01&{query}")
        assert fix.status_code == 400 and fields_of(fix) == [field], (query, fix.get_json())


def check_names_with_control_characters(client, make_person) -> None:
    """A committee's name and the audit record's filters are names: refused with a NUL, not cleaned."""
    admin = make_person("admin")
    name = {"name": "Comité\u0000 Sur", "zone_id": 1}
    committee = client.post("/api/v1/committees", json=name, headers=admin.headers)
    assert committee.status_code == 422 and fields_of(committee) == ["name"]
    record = client.get("/api/v1/audit?user=ro%00sa", headers=admin.headers)
    assert record.status_code == 422 and fields_of(record) == ["user"]
    volunteer = make_person("volunteer", zone_id=1)
    body = incident_body(1, description="Dos\u0000 sujetos")
    notes = client.post("/api/v1/incidents", json=body, headers=volunteer.headers)
    assert notes.status_code == 201 and notes.get_json()["description"] == "Dos sujetos"  # free text: cleaned


def test_lone_surrogates_are_refused_on_sqlite(client, make_person, make_committee):
    check_lone_surrogates(client, make_person, make_committee)


def test_numbers_and_times_out_of_range_are_refused_on_sqlite(client, make_person, make_committee):
    check_numbers_and_times_out_of_range(client, make_person, make_committee)


def test_names_with_control_characters_are_refused_on_sqlite(client, make_person):
    check_names_with_control_characters(client, make_person)


def test_a_body_that_is_not_json_is_a_422_saying_so(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    response = post_raw(client, "/api/v1/incidents", '{"kind": "robbery",', volunteer.headers)
    assert response.status_code == 422 and response.get_json()["fields"][0]["code"] == "json_invalid"
