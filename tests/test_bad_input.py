"""Inputs that used to answer 500: JSON nested a thousand levels deep, and control characters
(a NUL) in names and identifiers. Each is a 4xx naming the field, on SQLite here and on
PostgreSQL in tests/test_postgres.py (which reuses these checks)."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

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
    assert signed.status_code == 401 and "caracteres de control" in signed.get_data(as_text=True)


def test_control_characters_in_names_and_ids_are_refused_on_sqlite(client, make_person, make_committee):
    check_control_characters(client, make_person, make_committee)
