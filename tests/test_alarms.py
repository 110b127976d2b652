"""Block alarms: raising (pooled per block, idempotent), devices, acknowledging, resolving, escalation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from security.alarms import escalate_overdue
from security.models import Alarm, AlarmDevice, Event
from tests.conftest import OUTSIDE, ZONE_POINTS
from zones.database import utcnow


def alarm_body(zone_id: int = 1, **overrides):
    lat, lon = ZONE_POINTS[zone_id]
    body = {"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon}
    body.update(overrides)
    return body


def raise_(client, person, body):
    return client.post("/api/v1/alarms", json=body, headers=person.headers)


def test_a_neighbour_raises_the_alarm_of_their_block(client, make_person):
    neighbor = make_person("neighbor", zone_id=1)
    response = raise_(client, neighbor, alarm_body(1))
    assert response.status_code == 201
    alarm = response.get_json()
    assert alarm["status"] == "raised" and alarm["zone_id"] == 1 and isinstance(alarm["block_id"], int)
    assert alarm["trigger_count"] == 1


def test_retry_and_pooling(client, make_person):
    first = make_person("neighbor", zone_id=1)
    body = alarm_body(1)
    created = raise_(client, first, body).get_json()
    retry = raise_(client, first, body)
    assert retry.status_code == 200 and retry.get_json()["id"] == created["id"]
    assert retry.get_json()["trigger_count"] == 1
    second = make_person("neighbor", zone_id=1)
    pooled = raise_(client, second, alarm_body(1))
    assert pooled.status_code == 200 and pooled.get_json()["id"] == created["id"]
    assert pooled.get_json()["trigger_count"] == 2
    police = make_person("police")
    events = client.get("/api/v1/events", headers=police.headers).get_json()["events"]
    assert [e["type"] for e in events] == ["alarm_raised"]


def test_alarm_refusals(client, make_person):
    neighbor = make_person("neighbor", zone_id=1)
    assert raise_(client, neighbor, alarm_body(2)).status_code == 403
    outside = raise_(client, neighbor, alarm_body(1, lat=OUTSIDE[0], lon=OUTSIDE[1]))
    assert outside.status_code == 422 and "lat" in [f["field"] for f in outside.get_json()["fields"]]
    no_place = raise_(client, neighbor, {"client_id": str(uuid.uuid4()), "source": "app"})
    assert no_place.status_code == 422 and "lat" in [f["field"] for f in no_place.get_json()["fields"]]
    bad_source = raise_(client, neighbor, alarm_body(1, source="pigeon"))
    assert bad_source.status_code == 422 and "source" in [f["field"] for f in bad_source.get_json()["fields"]]
    unknown_device = raise_(client, neighbor, {"client_id": str(uuid.uuid4()), "source": "app", "device_id": 999999})
    assert unknown_device.status_code == 422 and "device_id" in [
        f["field"] for f in unknown_device.get_json()["fields"]
    ]
    assert client.post("/api/v1/alarms", json=alarm_body(1)).status_code == 401


def test_pressing_a_device_from_the_app_raises_its_block(client, make_person, session):
    device = session.exec(select(AlarmDevice).where(AlarmDevice.zone_id == 4)).first()
    neighbor = make_person("neighbor", zone_id=4)
    response = raise_(client, neighbor, {"client_id": str(uuid.uuid4()), "source": "app", "device_id": device.id})
    assert response.status_code == 201
    assert response.get_json()["block_id"] == device.block_id and response.get_json()["device_id"] == device.id


def test_devices_authenticate_with_their_own_key(client, runner, session):
    device = session.exec(select(AlarmDevice).where(AlarmDevice.zone_id == 2)).first()
    result = runner.invoke(args=["devices", "key", str(device.id)])
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    body = {"client_id": str(uuid.uuid4()), "source": "device"}
    response = client.post("/api/v1/alarms", json=body, headers={"X-Device-Key": key})
    assert response.status_code == 201
    assert response.get_json()["block_id"] == device.block_id
    again = client.post("/api/v1/alarms", json=body, headers={"X-Device-Key": key})
    assert again.status_code == 200 and again.get_json()["id"] == response.get_json()["id"]
    wrong = client.post("/api/v1/alarms", json=body, headers={"X-Device-Key": f"{device.id}.wrong"})
    assert wrong.status_code == 401
    # A device key opens nothing else.
    assert client.get("/api/v1/incidents", headers={"X-Device-Key": key}).status_code == 401


def test_acknowledge_and_resolve(client, make_person):
    neighbor = make_person("neighbor", zone_id=1)
    alarm = raise_(client, neighbor, alarm_body(1)).get_json()
    police = make_person("police")
    url = f"/api/v1/alarms/{alarm['id']}"
    assert client.post(f"{url}/acknowledge", headers=neighbor.headers).status_code == 403
    assert client.post(f"{url}/acknowledge", headers=make_person("coordinator", zone_id=1).headers).status_code == 403
    acked = client.post(f"{url}/acknowledge", headers=police.headers)
    assert acked.status_code == 200 and acked.get_json()["status"] == "acknowledged"
    assert acked.get_json()["acknowledged_by"]["id"] == police.user.id
    assert client.post(f"{url}/acknowledge", headers=police.headers).status_code == 200  # a retry
    assert client.post(f"{url}/resolve", json={"outcome": "maybe"}, headers=police.headers).status_code == 422
    assert client.post(f"{url}/resolve", json={"outcome": "real"}, headers=neighbor.headers).status_code == 403
    resolved = client.post(f"{url}/resolve", json={"outcome": "false_alarm"}, headers=police.headers)
    assert resolved.status_code == 200 and resolved.get_json()["outcome"] == "false_alarm"
    assert client.post(f"{url}/acknowledge", headers=police.headers).status_code == 409
    assert client.post(f"{url}/resolve", json={"outcome": "real"}, headers=police.headers).status_code == 409
    assert client.post("/api/v1/alarms/99999/acknowledge", headers=police.headers).status_code == 404
    # After it is resolved, a new press in the block is a new alarm.
    fresh = raise_(client, neighbor, alarm_body(1))
    assert fresh.status_code == 201 and fresh.get_json()["id"] != alarm["id"]
    types = [e["type"] for e in client.get("/api/v1/events", headers=police.headers).get_json()["events"]]
    assert types == ["alarm_raised", "alarm_acknowledged", "alarm_resolved", "alarm_raised"]


def test_a_coordinator_of_the_zone_may_close_an_alarm(client, make_person):
    alarm = raise_(client, make_person("neighbor", zone_id=3), alarm_body(3)).get_json()
    coordinator = make_person("coordinator", zone_id=3)
    response = client.post(
        f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "real"}, headers=coordinator.headers
    )
    assert response.status_code == 200


def test_neighbours_do_not_see_who_pressed(client, make_person):
    presser = make_person("neighbor", zone_id=1)
    alarm = raise_(client, presser, alarm_body(1)).get_json()
    other = make_person("neighbor", zone_id=1)
    seen = client.get(f"/api/v1/alarms/{alarm['id']}", headers=other.headers).get_json()
    assert seen["raised_by"] is None and seen["location_precision"] == "block"
    police = make_person("police")
    assert (
        client.get(f"/api/v1/alarms/{alarm['id']}", headers=police.headers).get_json()["raised_by"]["id"]
        == presser.user.id
    )


def test_escalation_happens_once_and_only_when_overdue(app, client, make_person):
    alarm = raise_(client, make_person("neighbor", zone_id=1), alarm_body(1)).get_json()
    acked = raise_(client, make_person("neighbor", zone_id=2), alarm_body(2)).get_json()
    client.post(f"/api/v1/alarms/{acked['id']}/acknowledge", headers=make_person("police").headers)
    with Session(app.extensions["ronda"].engine) as session:
        assert escalate_overdue(session=session, after=timedelta(seconds=120)) == []
        later = utcnow() + timedelta(seconds=121)
        events = escalate_overdue(session=session, after=timedelta(seconds=120), now=later)
        session.commit()
        assert [(e.type, e.zone_id) for e in events] == [("alarm_escalated", 1)]
        assert escalate_overdue(session=session, after=timedelta(seconds=120), now=later) == []
        assert session.get(Alarm, alarm["id"]).escalated_at is not None
        assert len(session.exec(select(Event).where(Event.type == "alarm_escalated")).all()) == 1


def test_alarm_devices_by_zone(client, make_person):
    police = make_person("police")
    zone_2 = client.get("/api/v1/alarm-devices?zone_id=2", headers=police.headers).get_json()
    assert zone_2 and {d["zone_id"] for d in zone_2} == {2}
    assert "key_hash" not in zone_2[0]
    neighbor = make_person("neighbor", zone_id=1)
    assert client.get("/api/v1/alarm-devices?zone_id=2", headers=neighbor.headers).status_code == 403
    own = client.get("/api/v1/alarm-devices", headers=neighbor.headers).get_json()
    assert own and {d["zone_id"] for d in own} == {1}


@pytest.mark.parametrize("role", ["police", "neighbor"])
def test_active_alarms_listing(client, make_person, role):
    raise_(client, make_person("neighbor", zone_id=1), alarm_body(1))
    raise_(client, make_person("neighbor", zone_id=2), alarm_body(2))
    viewer = make_person(role, zone_id=1 if role == "neighbor" else None)
    listed = client.get("/api/v1/alarms", headers=viewer.headers).get_json()
    assert {a["zone_id"] for a in listed} == ({1, 2} if role == "police" else {1})


def test_the_source_comes_from_who_authenticated(client, make_person):
    neighbor = make_person("neighbor", zone_id=1)
    response = raise_(client, neighbor, alarm_body(1, source="device"))  # a phone claiming to be a device
    assert response.status_code == 201 and response.get_json()["source"] == "app"
