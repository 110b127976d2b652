"""Traccar Client's OsmAnd protocol at /osmand: a registered phone's points join its volunteer's
active patrol; unknown devices are refused; off-duty points are dropped, not kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from security.models import PatrolPosition
from security.osmand import parse_timestamp
from tests.conftest import ZONE_POINTS, patrol_body


@pytest.fixture
def on_patrol(client, make_person, make_committee):
    """Juan, on an active patrol that started 20 minutes ago, with tracker 48241179 registered."""
    juan = make_person("volunteer", zone_id=1)
    committee_id = make_committee(1, [juan])
    started = datetime.now(UTC) - timedelta(minutes=20)
    patrol = client.post(
        "/api/v1/patrols", json=patrol_body(committee_id, started_at=started.isoformat()), headers=juan.headers
    ).get_json()
    registered = client.post("/api/v1/trackers", json={"device_id": "48241179"}, headers=juan.headers)
    assert registered.status_code == 201
    return {"juan": juan, "patrol": patrol, "committee": committee_id}


def stored(app, patrol_id):
    with Session(app.extensions["ronda"].engine) as s:
        return s.exec(select(PatrolPosition).where(PatrolPosition.patrol_id == patrol_id)).all()


def test_query_parameters_with_every_field(client, app, on_patrol):
    lat, lon = ZONE_POINTS[1]
    t = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    query = {"id": "48241179", "lat": lat, "lon": lon, "timestamp": t, "speed": 2.0, "bearing": 90.5,
             "accuracy": 12, "batt": 76}  # fmt: skip
    response = client.get("/osmand", query_string=query)
    assert response.status_code == 200
    assert response.get_json() == {"stored": True, "duplicate": False, "patrol_id": on_patrol["patrol"]["id"]}
    [point] = stored(app, on_patrol["patrol"]["id"])
    assert (point.lat, point.lon, point.accuracy, point.bearing, point.battery) == (lat, lon, 12, 90.5, 76)
    assert point.speed == pytest.approx(2.0 * 0.514444, abs=0.01)  # knots in, metres per second kept
    assert point.t == datetime.fromtimestamp(t, tz=UTC) and point.source == "osmand"
    # Traccar Client resends when it did not hear the answer: the same point is not stored twice.
    again = client.get("/osmand", query_string=query)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert len(stored(app, on_patrol["patrol"]["id"])) == 1


def test_form_post_with_deviceid_and_an_iso_timestamp(client, app, on_patrol):
    lat, lon = ZONE_POINTS[1]
    when = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0)
    form = {"deviceid": "48241179", "lat": str(lat), "lon": str(lon), "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert client.post("/osmand", data=form).get_json()["stored"] is True
    assert stored(app, on_patrol["patrol"]["id"])[0].t == when


def test_the_json_body_of_traccar_client_9(client, app, on_patrol):
    lat, lon = ZONE_POINTS[1]
    when = datetime.now(UTC) - timedelta(seconds=30)
    body = {
        "location": {
            "timestamp": when.isoformat().replace("+00:00", "Z"),
            "coords": {"latitude": lat, "longitude": lon, "accuracy": 5, "speed": 1.4, "heading": 180, "altitude": 150},
            "is_moving": True,
            "battery": {"level": 0.55, "is_charging": False},
        },
        "device_id": "48241179",
    }
    assert client.post("/osmand", json=body).get_json()["stored"] is True
    [point] = stored(app, on_patrol["patrol"]["id"])
    assert (point.speed, point.bearing, point.battery, point.accuracy) == (1.4, 180, 55, 5)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"lat": "-12.1", "lon": "-76.9"}, "id"),
        ({"id": "48241179", "lon": "-76.9"}, "lat"),
        ({"id": "48241179", "lat": "norte", "lon": "-76.9"}, "lat"),
        ({"id": "48241179", "lat": "95", "lon": "-76.9"}, "lat"),
        ({"id": "48241179", "lat": "-12.1", "lon": "-76.9", "timestamp": "ayer"}, "timestamp"),
        ({"id": "48241179", "lat": "-12.1", "lon": "-76.9", "batt": "nan"}, "batt"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(client, on_patrol, query, field):
    response = client.get("/osmand", query_string=query)
    assert response.status_code == 400
    assert field in [f["field"] for f in response.get_json()["fields"]]


def test_unknown_devices_are_refused_and_off_duty_points_are_dropped(client, app, on_patrol, make_person):
    lat, lon = ZONE_POINTS[1]
    unknown = client.get("/osmand", query_string={"id": "999", "lat": lat, "lon": lon})
    assert unknown.status_code == 403 and unknown.get_json()["error"] == "unknown_device"
    invalid = client.get("/osmand", query_string={"id": "48241179", "lat": lat, "lon": lon, "valid": "false"})
    assert invalid.get_json() == {"stored": False, "reason": "invalid_fix"}
    client.post(f"/api/v1/patrols/{on_patrol['patrol']['id']}/end", json={}, headers=on_patrol["juan"].headers)
    later = client.get("/osmand", query_string={"id": "48241179", "lat": lat, "lon": lon})
    assert later.status_code == 200 and later.get_json() == {"stored": False, "reason": "no_active_patrol"}
    assert stored(app, on_patrol["patrol"]["id"]) == []
    # A volunteer registers only their own phone; a coordinator may register a member's.
    other = make_person("volunteer", zone_id=1)
    refused = client.post(
        "/api/v1/trackers", json={"device_id": "1", "user_id": other.user.id}, headers=on_patrol["juan"].headers
    )
    assert refused.status_code == 403
    coordinator = make_person("coordinator", zone_id=1)
    ok = client.post("/api/v1/trackers", json={"device_id": "1", "user_id": other.user.id}, headers=coordinator.headers)
    assert ok.status_code == 201 and ok.get_json()["user_id"] == other.user.id


def test_timestamps_in_the_forms_trackers_send():
    assert parse_timestamp("1764612000") == datetime(2025, 12, 1, 18, 0, tzinfo=UTC)
    assert parse_timestamp("1764612000000") == datetime(2025, 12, 1, 18, 0, tzinfo=UTC)  # milliseconds
    assert parse_timestamp("2025-12-01 18:00:00") == datetime(2025, 12, 1, 18, 0, tzinfo=UTC)
    assert parse_timestamp("2025-12-01T13:00:00-05:00") == datetime(2025, 12, 1, 18, 0, tzinfo=UTC)
    assert abs(parse_timestamp(None) - datetime.now(UTC)) < timedelta(seconds=5)


def test_the_cli_registers_a_tracker(runner, make_person):
    volunteer = make_person("volunteer", zone_id=2, username="pedro")
    result = runner.invoke(args=["patrols", "tracker", "ABC123", "--user", "pedro"])
    assert result.exit_code == 0, result.output
    assert "ABC123" in result.output and volunteer.user.id
    police = make_person("police", username="comisaria")
    refused = runner.invoke(args=["patrols", "tracker", "XYZ", "--user", "comisaria"])
    assert refused.exit_code != 0 and police.user.id
