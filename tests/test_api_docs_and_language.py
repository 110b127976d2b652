"""The OpenAPI document, the browsable docs (served locally), and the API's languages."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from tests.conftest import incident_body


def test_openapi_document_is_valid_and_generated_from_the_models(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/v1/incidents",
        "/api/v1/incidents/{incident_id}",
        "/api/v1/alarms",
        "/api/v1/events",
        "/api/v1/zones",
        "/api/v1/zones/locate",
        "/api/v1/auth/token",
        "/api/v1/alarm-devices",
    ):
        assert path in spec["paths"], path
    create = spec["components"]["schemas"]["IncidentCreate"]
    assert {"client_id", "kind", "lat", "lon"} <= set(create["required"])
    assert create["properties"]["severity"]["maximum"] == 3
    assert create["properties"]["description"]["anyOf"][0]["maxLength"] == 2000
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "/" not in spec["paths"] and "/api/docs" not in spec["paths"]


def test_the_document_declares_every_error_with_the_error_body(client):
    """What the fuzzing gate (tests/test_openapi_fuzz.py) relies on, checked on every operation at once,
    so a new route that forgets its errors fails here by name."""
    spec = client.get("/api/v1/openapi.json").get_json()
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    assert {"error", "message"} <= set(spec["components"]["schemas"]["ErrorBody"]["required"])
    for path, path_item in spec["paths"].items():
        for method, operation in path_item.items():
            where = f"{method.upper()} {path}"
            answers = operation["responses"]
            for status, answer in answers.items():
                if status.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"] == error_body, (where, status)
            security = operation.get("security") or []
            if {} not in security:  # a token is required
                assert "401" in answers, where
                assert answers["401"]["headers"]["WWW-Authenticate"]["required"] is True, where
            if "{" in path:  # an id in the path: missing, hidden in another zone, or no number at all
                assert "404" in answers, where
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in answers, where
            if operation.get("requestBody"):
                assert "413" in answers, where
    public = spec["paths"]["/api/v1/zones"]["get"]
    assert {} in public["security"] and "401" not in public["responses"]
    devices = spec["paths"]["/api/v1/alarm-devices"]["get"]["responses"]["200"]["content"]["application/json"]
    assert devices["schema"]["type"] == "array"
    zones = spec["paths"]["/api/v1/zones"]["get"]["responses"]["200"]["content"]
    assert list(zones) == ["application/geo+json"]
    exports = spec["paths"]["/api/v1/incidents"]["get"]["responses"]["200"]
    assert set(exports["content"]) == {"application/json", "text/csv", "application/geo+json"}
    assert "Content-Disposition" in exports["headers"]


def test_browsable_docs_load_without_internet(client):
    with client.get("/api/docs", follow_redirects=True) as docs:
        assert docs.status_code == 200
        html = docs.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets, "the docs page loads its scripts"
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), f"{asset} would need the internet"
        with client.get(f"/api/{asset}") as served:
            assert served.status_code == 200


def test_errors_speak_spanish_by_default_and_english_when_asked(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    spanish = client.post("/api/v1/incidents", json=incident_body(1, kind="nope", lat=100), headers=volunteer.headers)
    assert spanish.get_json()["message"] == "Los datos enviados no son válidos."
    lat_problem = next(f["problem"] for f in spanish.get_json()["fields"] if f["field"] == "lat")
    assert lat_problem == "Debe ser menor o igual que 90."
    english = client.post(
        "/api/v1/incidents",
        json=incident_body(1, lat=100),
        headers={**volunteer.headers, "Accept-Language": "en-GB,en;q=0.9"},
    )
    assert english.get_json()["message"] == "The data sent is not valid."
    assert (
        next(f["problem"] for f in english.get_json()["fields"] if f["field"] == "lat")
        == "Must be less than or equal to 90."
    )
    forbidden = client.post("/api/v1/incidents?lang=en", json=incident_body(2), headers=volunteer.headers)
    assert forbidden.status_code == 403
    assert forbidden.get_json()["message"] == "You may only report incidents in your own zone."
    assert client.get("/api/v1/incidents").get_json()["message"].startswith("Falta el token")


def test_events_endpoint_catches_a_client_up(client, make_person):
    police = make_person("police")
    first = client.post("/api/v1/incidents", json=incident_body(1), headers=police.headers).get_json()
    page = client.get("/api/v1/events?since=0", headers=police.headers).get_json()
    assert page["has_more"] is False and len(page["events"]) == 1
    seq = page["last_seq"]
    assert page["events"][0]["seq"] == seq and page["events"][0]["data"]["id"] == first["id"]
    client.patch(f"/api/v1/incidents/{first['id']}", json={"status": "acknowledged"}, headers=police.headers)
    client.post("/api/v1/incidents", json=incident_body(2), headers=police.headers)
    later = client.get(f"/api/v1/events?since={seq}", headers=police.headers).get_json()
    assert [e["type"] for e in later["events"]] == ["incident_updated", "incident_reported"]
    assert [e["seq"] for e in later["events"]] == sorted(e["seq"] for e in later["events"])
    assert all(e["seq"] > seq for e in later["events"])
    assert set(later["events"][0]) == {"seq", "type", "zone_id", "at", "data"}
    assert later["events"][0]["data"]["previous_status"] == "reported"
    nothing = client.get(f"/api/v1/events?since={later['last_seq']}", headers=police.headers).get_json()
    assert nothing["events"] == [] and nothing["last_seq"] == later["last_seq"]
    neighbor = make_person("neighbor", zone_id=2)
    theirs = client.get("/api/v1/events?since=0", headers=neighbor.headers).get_json()["events"]
    assert [e["zone_id"] for e in theirs] == [2]
    assert theirs[0]["data"]["reporter"] is None and theirs[0]["data"]["description"] is None
    assert client.get("/api/v1/events?since=-1", headers=police.headers).status_code == 422
