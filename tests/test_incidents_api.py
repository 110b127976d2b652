"""The incidents API as a phone and a dashboard use it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import OUTSIDE, ZONE_POINTS, incident_body


def post(client, person, body):
    return client.post("/api/v1/incidents", json=body, headers=person.headers)


def fields_of(response):
    return [f["field"] for f in response.get_json()["fields"]]


def test_report_answers_201_with_the_stored_incident(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    body = incident_body(1, kind="gang_activity", severity=3)
    response = post(client, volunteer, body)
    assert response.status_code == 201
    incident = response.get_json()
    assert incident["status"] == "reported" and incident["zone_id"] == 1
    assert isinstance(incident["id"], int) and isinstance(incident["block_id"], int)
    assert incident["kind"] == "gang_activity" and incident["severity"] == 3
    assert datetime.fromisoformat(incident["reported_at"]).tzinfo is not None
    stored = client.get(f"/api/v1/incidents/{incident['id']}", headers=volunteer.headers).get_json()
    assert stored["id"] == incident["id"] and stored["description"] == body["description"]


def test_a_retried_client_id_answers_200_with_the_same_incident(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    body = incident_body(1)
    first = post(client, volunteer, body)
    again = post(client, volunteer, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    police = make_person("police")
    events = client.get("/api/v1/events?since=0", headers=police.headers).get_json()["events"]
    assert [e["type"] for e in events] == ["incident_reported"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "alien_abduction"}, "kind"),
        ({"lat": 123.0}, "lat"),
        ({"lon": "oeste"}, "lon"),
        ({"lat": None}, "lat"),
        ({"lat": OUTSIDE[0], "lon": OUTSIDE[1]}, "lat"),
        ({"occurred_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "occurred_at"),
        ({"occurred_at": "ayer por la noche"}, "occurred_at"),
        ({"description": "x" * 2001}, "description"),
        ({"client_id": "not-a-uuid"}, "client_id"),
        ({"severity": 4}, "severity"),
        ({"anonymous": "quizás"}, "anonymous"),
    ],
)
def test_bad_reports_are_422_naming_the_field(client, make_person, overrides, field):
    volunteer = make_person("volunteer", zone_id=1)
    response = post(client, volunteer, incident_body(1, **overrides))
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_error"
    assert field in fields_of(response)
    assert all(f["problem"] for f in body["fields"])
    assert client.get("/api/v1/incidents", headers=volunteer.headers).get_json()["items"] == []


def test_missing_client_id_and_non_json_bodies_are_422(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    body = incident_body(1)
    del body["client_id"]
    assert "client_id" in fields_of(post(client, volunteer, body))
    garbage = client.post(
        "/api/v1/incidents", data="{not json", content_type="application/json", headers=volunteer.headers
    )
    assert garbage.status_code == 422
    assert garbage.get_json()["error"] == "validation_error"


def test_oversized_request_is_413_json(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    response = post(client, volunteer, incident_body(1, description="x" * (2 * 1024 * 1024)))
    assert response.status_code == 413
    assert response.get_json()["error"]


def test_a_volunteer_cannot_report_in_another_zone(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    response = post(client, volunteer, incident_body(2))
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


def test_neighbours_see_no_reporter_no_description_and_only_the_block(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    created = post(client, volunteer, incident_body(1)).get_json()
    neighbor = make_person("neighbor", zone_id=1)
    seen = client.get(f"/api/v1/incidents/{created['id']}", headers=neighbor.headers).get_json()
    assert seen["reporter"] is None and seen["description"] is None and "client_id" not in seen
    assert seen["location_precision"] == "block"
    assert (seen["lat"], seen["lon"]) != (created["lat"], created["lon"])
    listed = client.get("/api/v1/incidents", headers=neighbor.headers).get_json()["items"]
    assert listed[0]["reporter"] is None and listed[0]["lat"] == seen["lat"]
    member = make_person("coordinator", zone_id=1)
    for_member = client.get(f"/api/v1/incidents/{created['id']}", headers=member.headers).get_json()
    assert for_member["description"] == created["description"] and for_member["reporter"] is None


def test_anonymous_reports_hide_the_reporter_from_police_but_not_admins(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    created = post(client, volunteer, incident_body(1, kind="drug_dealing", anonymous=True)).get_json()
    police = make_person("police")
    admin = make_person("admin")
    assert client.get(f"/api/v1/incidents/{created['id']}", headers=police.headers).get_json()["reporter"] is None
    assert (
        client.get(f"/api/v1/incidents/{created['id']}", headers=admin.headers).get_json()["reporter"]["id"]
        == volunteer.user.id
    )
    named = post(client, volunteer, incident_body(1)).get_json()
    assert (
        client.get(f"/api/v1/incidents/{named['id']}", headers=police.headers).get_json()["reporter"]["username"]
        == volunteer.user.username
    )


def test_nobody_but_admins_gets_a_contact_or_password(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    created = post(client, volunteer, incident_body(1)).get_json()
    police = make_person("police")
    reporter = client.get(f"/api/v1/incidents/{created['id']}", headers=police.headers).get_json()["reporter"]
    assert set(reporter) == {"id", "username", "display_name"}


def test_filters_and_cursor_pagination(client, make_person):
    police = make_person("police")
    now = datetime.now(UTC)
    post(client, police, incident_body(1, kind="robbery", occurred_at=(now - timedelta(days=3)).isoformat()))
    post(client, police, incident_body(1, kind="vandalism"))
    post(client, police, incident_body(2, kind="robbery"))
    post(client, police, incident_body(3, kind="robbery"))

    def items(query):
        response = client.get(f"/api/v1/incidents?{query}", headers=police.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["items"]

    assert {i["zone_id"] for i in items("zone_id=1")} == {1}
    assert {i["kind"] for i in items("kind=robbery")} == {"robbery"} and len(items("kind=robbery")) == 3
    assert len(items("status=reported")) == 4 and items("status=resolved") == []
    since = (now - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert len(items(f"since={since}")) == 3
    assert len(items(f"until={since}")) == 1
    lat, lon = ZONE_POINTS[2]
    assert [i["zone_id"] for i in items(f"bbox={lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}")] == [2]

    seen, cursor, pages = [], None, 0
    while True:
        response = client.get(
            "/api/v1/incidents?limit=3" + (f"&cursor={cursor}" if cursor else ""), headers=police.headers
        ).get_json()
        seen += [i["id"] for i in response["items"]]
        pages += 1
        cursor = response["next_cursor"]
        if not cursor:
            break
    assert pages == 2 and len(seen) == 4 and seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=ovni", "kind"),
        ("status=lost", "status"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=-76,-12,-77,-13", "bbox"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("since=ayer", "since"),
        ("cursor=@@@", "cursor"),
        ("zone_id=uno", "zone_id"),
    ],
)
def test_bad_filters_are_422(client, make_person, query, field):
    police = make_person("police")
    response = client.get(f"/api/v1/incidents?{query}", headers=police.headers)
    assert response.status_code == 422
    assert field in fields_of(response)


def test_zone_bound_roles_cannot_read_other_zones(client, make_person):
    police = make_person("police")
    other = post(client, police, incident_body(2)).get_json()
    neighbor = make_person("neighbor", zone_id=1)
    assert client.get("/api/v1/incidents?zone_id=2", headers=neighbor.headers).status_code == 403
    # Another zone's incident answers exactly like a missing one (tests/test_probing.py).
    assert client.get(f"/api/v1/incidents/{other['id']}", headers=neighbor.headers).status_code == 404
    assert client.get("/api/v1/incidents/99999", headers=neighbor.headers).status_code == 404


def patch(client, person, incident_id, body):
    return client.patch(f"/api/v1/incidents/{incident_id}", json=body, headers=person.headers)


def test_police_move_an_incident_to_resolved(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    incident = post(client, volunteer, incident_body(1)).get_json()
    police = make_person("police")
    for status in ("acknowledged", "dispatched", "resolved"):
        response = patch(client, police, incident["id"], {"status": status, "note": "Serenazgo en camino"})
        assert response.status_code == 200 and response.get_json()["status"] == status
    assert response.get_json()["closed_at"] is not None


def test_status_changes_refused(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    incident = post(client, volunteer, incident_body(1)).get_json()
    assert patch(client, volunteer, incident["id"], {"status": "acknowledged"}).status_code == 403
    assert (
        patch(client, make_person("neighbor", zone_id=1), incident["id"], {"status": "acknowledged"}).status_code == 403
    )
    assert (
        patch(client, make_person("coordinator", zone_id=2), incident["id"], {"status": "acknowledged"}).status_code
        == 404  # another zone's: answered like a missing one
    )
    coordinator = make_person("coordinator", zone_id=1)
    conflict = patch(client, coordinator, incident["id"], {"status": "resolved"})
    assert conflict.status_code == 409
    assert conflict.get_json()["current_status"] == "reported"
    assert set(conflict.get_json()["allowed"]) == {"acknowledged", "dismissed", "duplicate"}
    assert patch(client, coordinator, incident["id"], {"status": "on_fire"}).status_code == 422
    assert patch(client, coordinator, incident["id"], {"status": "duplicate"}).status_code == 422
    assert patch(client, coordinator, 424242, {"status": "acknowledged"}).status_code == 404
    assert patch(client, coordinator, incident["id"], {"status": "dismissed", "note": "Broma"}).status_code == 200
    assert patch(client, coordinator, incident["id"], {"status": "acknowledged"}).status_code == 409


def test_duplicate_points_to_the_original(client, make_person):
    police = make_person("police")
    original = post(client, police, incident_body(1)).get_json()
    copy = post(client, police, incident_body(1)).get_json()
    response = patch(client, police, copy["id"], {"status": "duplicate", "duplicate_of": original["id"]})
    assert response.status_code == 200
    assert response.get_json()["duplicate_of"] == original["id"]


def test_incident_kinds_in_spanish_and_english(client, make_person):
    police = make_person("police")
    kinds = client.get("/api/v1/incident-kinds", headers=police.headers).get_json()
    codes = {k["code"] for k in kinds}
    assert {
        "robbery",
        "assault",
        "gang_activity",
        "drug_dealing",
        "domestic_violence",
        "sexual_harassment",
        "prostitution",
        "vandalism",
        "suspicious_activity",
        "noise_disturbance",
        "other",
    } <= codes
    robbery = next(k for k in kinds if k["code"] == "robbery")
    assert (robbery["label"], robbery["label_es"], robbery["label_en"]) == ("Robo", "Robo", "Robbery")
    english = client.get("/api/v1/incident-kinds", headers={**police.headers, "Accept-Language": "en-US,en;q=0.8"})
    assert next(k for k in english.get_json() if k["code"] == "robbery")["label"] == "Robbery"


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_client_ids_are_uuids_generated_by_the_phone(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    client_id = str(uuid.uuid4())
    stored = post(client, volunteer, incident_body(1, client_id=client_id)).get_json()
    police = make_person("police")
    assert client.get(f"/api/v1/incidents/{stored['id']}", headers=police.headers).get_json()["client_id"] == client_id


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", "/api/v1/incidents/99999999999999999999", None, "incident_id"),
        ("GET", "/api/v1/incidents?zone_id=99999999999999999999", None, "zone_id"),
        ("GET", "/api/v1/events?since=99999999999999999999", None, "since"),
        ("GET", "/api/v1/incidents?since=9999-12-31T23:59:59", None, "since"),
        ("POST", "/api/v1/alarms", {"client_id": str(uuid.uuid4()), "source": "app", "device_id": 10**20}, "device_id"),
        ("POST", "/api/v1/incidents", incident_body(1, occurred_at="0001-01-01T00:00:00"), "occurred_at"),
        ("GET", "/api/v1/zones/locate?lat=nan&lon=-76.9", None, "lat"),
    ],
)
def test_absurd_values_are_422_not_500(client, make_person, method, url, body, field):
    police = make_person("police")
    response = client.open(url, method=method, json=body, headers=police.headers)
    assert response.status_code == 422
    assert field in fields_of(response)


def test_control_characters_are_removed_from_free_text(client, make_person):
    police = make_person("police")
    created = post(client, police, incident_body(1, description="Robo\x00 en la\x07 esquina\n")).get_json()
    assert created["description"] == "Robo en la esquina"


def test_a_failed_live_push_does_not_fail_the_report(client, make_person, monkeypatch):
    from security import push

    def broken_emit(*args, **kwargs):
        raise ConnectionError("message queue down")

    monkeypatch.setattr(push.socketio, "emit", broken_emit)
    volunteer = make_person("volunteer", zone_id=1)
    response = post(client, volunteer, incident_body(1))
    assert response.status_code == 201
    police = make_person("police")
    events = client.get("/api/v1/events?since=0", headers=police.headers).get_json()["events"]
    assert [e["data"]["id"] for e in events] == [response.get_json()["id"]]


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/api/v1/incidents?cursor=aTo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", {}),  # base64 of an absurd id
    ],
)
def test_absurd_cursors_are_422(client, make_person, url, headers):
    police = make_person("police")
    response = client.get(url, headers={**police.headers, **headers})
    assert response.status_code == 422 and "cursor" in fields_of(response)


def test_absurd_device_keys_are_401_not_500(client):
    for key in ("².x", "99999999999999999999999.x", "abc", "."):
        body = {"client_id": str(uuid.uuid4()), "source": "device"}
        assert client.post("/api/v1/alarms", json=body, headers={"X-Device-Key": key}).status_code == 401


def test_anonymous_reports_hide_the_phone_generated_id_from_police(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    created = post(client, volunteer, incident_body(1, anonymous=True)).get_json()
    police, admin = make_person("police"), make_person("admin")
    assert "client_id" not in client.get(f"/api/v1/incidents/{created['id']}", headers=police.headers).get_json()
    assert "client_id" in client.get(f"/api/v1/incidents/{created['id']}", headers=admin.headers).get_json()


def test_exported_csv_cells_never_run_as_spreadsheet_formulas(client, make_person):
    police = make_person("police")
    post(client, police, incident_body(1, description='=HYPERLINK("http://x","clic")'))
    text = client.get("/api/v1/incidents?format=csv", headers=police.headers).get_data(as_text=True)
    assert "'=HYPERLINK" in text and ',"=HYPERLINK' not in text
