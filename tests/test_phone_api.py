"""What the phone app needs from the API: who signed in (/me), one's own reports and how each is
handled (/me/reports and the per-person live channel, anonymous reports included, nobody else
learning who reported), the blocks of a zone, ending a shift with no body, late alarms."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from security.push import socketio
from tests.conftest import ZONE_POINTS, Person, incident_body, patrol_body


def sync(client, person: Person, *operations: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/sync", json={"operations": list(operations)}, headers=person.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def operation(op: str, data: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
    return {"op": op, "client_id": str(uuid.uuid4()), "at": (at or datetime.now(UTC)).isoformat(), "data": data}


def listener(app: Flask, person: Person, *, feed: str | None = None):
    auth = {"token": person.token, **({"feed": feed} if feed else {})}
    client = socketio.test_client(app, auth=auth)
    assert client.is_connected()
    return client


def heard(client, name: str) -> list[dict[str, Any]]:
    return [m["args"][0] for m in client.get_received() if m["name"] == name]


def test_me_names_the_person_their_zone_committees_and_shift(client, make_person, make_committee):
    juan = make_person("volunteer", zone_id=3, username="juan")
    committee = make_committee(3, [juan], name="Comité Los Pinos")
    me = client.get("/api/v1/me", headers=juan.headers).get_json()
    assert me["username"] == "juan" and me["role"] == "volunteer"
    assert me["zone_id"] == 3 and me["zone_name"] == "Inca Pachacútec"
    assert me["committees"] == [{"id": committee, "name": "Comité Los Pinos"}]
    assert me["active_patrol"] is None
    assert "password_hash" not in me
    started = client.post("/api/v1/patrols", json=patrol_body(committee), headers=juan.headers).get_json()
    shift = client.get("/api/v1/me", headers=juan.headers).get_json()["active_patrol"]
    assert shift["id"] == started["id"] and shift["committee_name"] == "Comité Los Pinos"
    assert "last_position" not in shift  # where a patrol is, is for police
    assert client.get("/api/v1/me").status_code == 401


def test_own_reports_list_the_callers_incidents_and_alarms_with_what_they_gave(client, make_person):
    vecina = make_person("neighbor", zone_id=1, username="vecina")
    other = make_person("neighbor", zone_id=1)
    police = make_person("police")
    mine = client.post(
        "/api/v1/incidents", json=incident_body(1, description="Venden en la esquina", anonymous=True),
        headers=vecina.headers,
    ).get_json()  # fmt: skip
    client.post("/api/v1/incidents", json=incident_body(1), headers=other.headers)
    lat, lon = ZONE_POINTS[1]
    alarm = client.post(
        "/api/v1/alarms", json={"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon},
        headers=vecina.headers,
    ).get_json()  # fmt: skip
    client.patch(f"/api/v1/incidents/{mine['id']}", json={"status": "acknowledged", "note": "Patrullero 12"},
                 headers=police.headers)  # fmt: skip
    own = client.get("/api/v1/me/reports", headers=vecina.headers).get_json()
    assert [i["id"] for i in own["incidents"]] == [mine["id"]]
    incident = own["incidents"][0]
    # A neighbour sees the others' reports coarsened and without text; their own as they gave it.
    assert incident["description"] == "Venden en la esquina" and incident["anonymous"] is True
    assert (incident["lat"], incident["lon"]) == ZONE_POINTS[1] and incident["location_precision"] == "exact"
    assert incident["status"] == "acknowledged" and incident["changed_by_role"] == "police"
    assert "note" not in incident and "reporter" not in incident
    assert [a["id"] for a in own["alarms"]] == [alarm["id"]]
    assert own["alarms"][0]["location_precision"] == "block" and "raised_by" not in own["alarms"][0]
    assert client.get("/api/v1/me/reports", headers=other.headers).get_json()["alarms"] == []
    assert client.get("/api/v1/me/reports?limit=0", headers=vecina.headers).status_code == 422


def test_a_status_change_reaches_the_reporter_alone_even_when_anonymous(app, client, make_person):
    reporter = make_person("volunteer", zone_id=2, username="reportera")
    colleague = make_person("volunteer", zone_id=2)
    police = make_person("police")
    incident = client.post(
        "/api/v1/incidents", json=incident_body(2, kind="drug_dealing", anonymous=True), headers=reporter.headers
    ).get_json()
    own_phone = listener(app, reporter, feed="mine")
    zone_phone = listener(app, colleague)
    client.patch(f"/api/v1/incidents/{incident['id']}", json={"status": "acknowledged"}, headers=police.headers)
    own = heard(own_phone, "own_report_updated")
    assert len(own) == 1
    assert own[0]["type"] == "incident_updated" and own[0]["data"]["id"] == incident["id"]
    assert own[0]["data"]["status"] == "acknowledged" and own[0]["data"]["changed_by_role"] == "police"
    # The phone that follows only its own reports hears nothing of the zone.
    assert heard(own_phone, "incident_updated") == []
    # A colleague of the zone hears the change, and never who reported.
    zone_events = heard(zone_phone, "incident_updated")
    assert len(zone_events) == 1 and zone_events[0]["data"]["reporter"] is None
    assert heard(zone_phone, "own_report_updated") == []
    own_phone.disconnect()
    zone_phone.disconnect()


def test_everyone_who_pressed_an_alarm_hears_it_acknowledged(app, client, make_person):
    first = make_person("neighbor", zone_id=4)
    second = make_person("neighbor", zone_id=4)
    police = make_person("police")
    lat, lon = ZONE_POINTS[4]
    body = {"source": "app", "lat": lat, "lon": lon}
    alarm = client.post("/api/v1/alarms", json={**body, "client_id": str(uuid.uuid4())}, headers=first.headers)
    client.post("/api/v1/alarms", json={**body, "client_id": str(uuid.uuid4())}, headers=second.headers)
    phones = [listener(app, first, feed="mine"), listener(app, second, feed="mine")]
    client.post(f"/api/v1/alarms/{alarm.get_json()['id']}/acknowledge", headers=police.headers)
    for phone in phones:
        own = heard(phone, "own_report_updated")
        assert [o["data"]["status"] for o in own] == ["acknowledged"]
        assert own[0]["data"]["lat"] != lat  # the block's centre, not the first press's doorstep
        phone.disconnect()


def test_a_zones_blocks_are_geojson(client):
    answer = client.get("/api/v1/zones/3/blocks")
    assert answer.status_code == 200 and answer.mimetype == "application/geo+json"
    blocks = answer.get_json()
    assert blocks["type"] == "FeatureCollection" and len(blocks["features"]) > 50
    feature = blocks["features"][0]
    assert feature["properties"]["zone_id"] == 3 and feature["properties"]["name"].startswith("Manzana Z3-")
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    missing = client.get("/api/v1/zones/999/blocks")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"


def test_a_patrol_ends_now_when_the_phone_sends_no_body(client, make_person, make_committee):
    juan = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [juan])
    started = client.post("/api/v1/patrols", json=patrol_body(committee), headers=juan.headers).get_json()
    ended = client.post(f"/api/v1/patrols/{started['id']}/end", headers=juan.headers)
    assert ended.status_code == 200, ended.get_data(as_text=True)
    assert ended.get_json()["status"] == "ended"
    assert datetime.fromisoformat(ended.get_json()["ended_at"]) > datetime.now(UTC) - timedelta(minutes=1)


@pytest.mark.parametrize(("minutes_late", "late"), [(0, False), (10, True)])
def test_an_alarm_from_the_outbox_keeps_its_press_time_and_is_late_when_it_arrives_late(
    client, make_person, minutes_late, late
):
    vecino = make_person("neighbor", zone_id=1)
    pressed = datetime.now(UTC) - timedelta(minutes=minutes_late)
    lat, lon = ZONE_POINTS[1]
    answer = sync(client, vecino, operation("alarm", {"lat": lat, "lon": lon}, at=pressed))
    assert answer["applied"] == 1
    alarm = client.get(f"/api/v1/alarms/{answer['results'][0]['id']}", headers=make_person("police").headers).get_json()
    assert datetime.fromisoformat(alarm["pressed_at"]) == pressed
    assert alarm["late"] is late
    assert datetime.fromisoformat(alarm["raised_at"]) >= pressed  # the server's clock: when police could know


def test_an_alarm_pressed_in_the_future_is_refused_naming_the_field(client, make_person):
    vecino = make_person("neighbor", zone_id=1)
    lat, lon = ZONE_POINTS[1]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon, "pressed_at": later}
    answer = client.post("/api/v1/alarms", json=body, headers=vecino.headers)
    assert answer.status_code == 422
    assert answer.get_json()["fields"][0]["field"] == "pressed_at"


def test_a_patrol_is_not_ended_by_a_body_that_is_not_json(client, make_person, make_committee):
    juan = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [juan])
    started = client.post("/api/v1/patrols", json=patrol_body(committee), headers=juan.headers).get_json()
    for body, kind in (('{"ended_at": "2026-12-01T2', "application/json"), ("x", "text/plain")):
        answer = client.post(f"/api/v1/patrols/{started['id']}/end", data=body, content_type=kind, headers=juan.headers)
        assert answer.status_code == 422, body
        assert answer.get_json()["fields"][0]["field"] == "body"
    assert client.get(f"/api/v1/patrols/{started['id']}", headers=juan.headers).get_json()["status"] == "active"


def test_own_alarms_say_when_the_person_pressed_and_whether_they_joined_another(client, make_person):
    first = make_person("neighbor", zone_id=1)
    second = make_person("neighbor", zone_id=1)
    lat, lon = ZONE_POINTS[1]
    sync(client, first, operation("alarm", {"lat": lat, "lon": lon}, at=datetime.now(UTC) - timedelta(minutes=5)))
    pressed = datetime.now(UTC) - timedelta(minutes=1)
    sync(client, second, operation("alarm", {"lat": lat, "lon": lon}, at=pressed))
    [raised] = client.get("/api/v1/me/reports", headers=first.headers).get_json()["alarms"]
    [joined] = client.get("/api/v1/me/reports", headers=second.headers).get_json()["alarms"]
    assert raised["id"] == joined["id"] and joined["trigger_count"] == 2
    assert raised["joined"] is False and joined["joined"] is True
    assert datetime.fromisoformat(joined["my_pressed_at"]) == pressed
    assert joined["my_pressed_at"] != raised["my_pressed_at"]


def test_the_members_of_a_patrol_hear_it_start_and_end_from_another_phone(app, client, make_person, make_committee):
    rosa = make_person("volunteer", zone_id=1)
    juan = make_person("volunteer", zone_id=1)
    other = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [rosa, juan, other])
    juans_phone = listener(app, juan, feed="mine")
    others_phone = listener(app, other, feed="mine")
    started = client.post("/api/v1/patrols", json=patrol_body(committee, [juan]), headers=rosa.headers).get_json()
    client.post(f"/api/v1/patrols/{started['id']}/end", headers=rosa.headers)
    shifts = heard(juans_phone, "own_patrol_updated")
    assert [(s["type"], s["data"]["status"]) for s in shifts] == [
        ("patrol_started", "active"),
        ("patrol_ended", "ended"),
    ]
    assert all("last_position" not in s["data"] for s in shifts)
    assert heard(others_phone, "own_patrol_updated") == []  # in the committee, not on the patrol
    juans_phone.disconnect()
    others_phone.disconnect()


def test_a_reports_gps_accuracy_is_kept_for_those_who_see_its_point(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    police = make_person("police")
    neighbour = make_person("neighbor", zone_id=1)
    made = client.post("/api/v1/incidents", json=incident_body(1, accuracy=350), headers=volunteer.headers).get_json()
    assert client.get(f"/api/v1/incidents/{made['id']}", headers=police.headers).get_json()["accuracy"] == 350
    assert client.get(f"/api/v1/incidents/{made['id']}", headers=neighbour.headers).get_json()["accuracy"] is None
    refused = client.post("/api/v1/incidents", json=incident_body(1, accuracy=-3), headers=volunteer.headers)
    assert refused.status_code == 422 and refused.get_json()["fields"][0]["field"] == "accuracy"


def test_a_wrong_operation_name_is_explained_in_spanish(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    answer = sync(client, volunteer, {**operation("incident", {}), "op": "robo"})
    problem = answer["results"][0]["error"]["fields"][0]["problem"]
    assert problem.startswith("Debe ser uno de: 'incident', 'alarm'") and " or " not in problem
