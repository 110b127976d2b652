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
    """Juan, on an active patrol that started 20 minutes ago, with his tracker registered."""
    juan = make_person("volunteer", zone_id=1)
    committee_id = make_committee(1, [juan])
    started = datetime.now(UTC) - timedelta(minutes=20)
    patrol = client.post(
        "/api/v1/patrols", json=patrol_body(committee_id, started_at=started.isoformat()), headers=juan.headers
    ).get_json()
    registered = client.post("/api/v1/trackers", json={"device_id": DEVICE}, headers=juan.headers)
    assert registered.status_code == 201
    return {"juan": juan, "patrol": patrol, "committee": committee_id}


DEVICE = "k7p2q9x4m3w8r5t6"  # as typed into Traccar Client


def stored(app, patrol_id):
    with Session(app.extensions["ronda"].engine) as s:
        return s.exec(select(PatrolPosition).where(PatrolPosition.patrol_id == patrol_id)).all()


def test_query_parameters_with_every_field(client, app, on_patrol):
    lat, lon = ZONE_POINTS[1]
    t = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    query = {"id": DEVICE, "lat": lat, "lon": lon, "timestamp": t, "speed": 2.0, "bearing": 90.5,
             "accuracy": 12, "batt": 76}  # fmt: skip
    response = client.get("/osmand", query_string=query)
    assert response.status_code == 200
    assert response.get_json() == {"stored": True, "duplicate": False}
    [point] = stored(app, on_patrol["patrol"]["id"])
    assert (point.lat, point.lon, point.accuracy, point.bearing, point.battery) == (lat, lon, 12, 90.5, 76)
    assert point.speed == pytest.approx(2.0 * 0.514444, abs=0.01)  # knots in, metres per second kept
    assert point.t == datetime.fromtimestamp(t, tz=UTC) and point.source == "osmand"
    # Traccar Client resends when it did not hear the answer: the same point is not stored twice.
    again = client.get("/osmand", query_string=query)
    assert again.status_code == 200 and again.get_json() == {"stored": False, "duplicate": True}
    assert len(stored(app, on_patrol["patrol"]["id"])) == 1


def test_form_post_with_deviceid_and_an_iso_timestamp(client, app, on_patrol):
    lat, lon = ZONE_POINTS[1]
    when = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0)
    form = {"deviceid": DEVICE, "lat": str(lat), "lon": str(lon), "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
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
        "device_id": DEVICE,
    }
    assert client.post("/osmand", json=body).get_json()["stored"] is True
    [point] = stored(app, on_patrol["patrol"]["id"])
    assert (point.speed, point.bearing, point.battery, point.accuracy) == (1.4, 180, 55, 5)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"lat": "-12.1", "lon": "-76.9"}, "id"),
        ({"id": DEVICE, "lon": "-76.9"}, "lat"),
        ({"id": DEVICE, "lat": "norte", "lon": "-76.9"}, "lat"),
        ({"id": DEVICE, "lat": "95", "lon": "-76.9"}, "lat"),
        ({"id": DEVICE, "lat": "-12.1", "lon": "-76.9", "timestamp": "ayer"}, "timestamp"),
        ({"id": DEVICE, "lat": "-12.1", "lon": "-76.9", "batt": "nan"}, "batt"),
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
    invalid = client.get("/osmand", query_string={"id": DEVICE, "lat": lat, "lon": lon, "valid": "false"})
    assert invalid.get_json() == {"stored": False}
    client.post(f"/api/v1/patrols/{on_patrol['patrol']['id']}/end", json={}, headers=on_patrol["juan"].headers)
    later = client.get("/osmand", query_string={"id": DEVICE, "lat": lat, "lon": lon})
    # Off duty the answer is the same as for a bad fix: nothing says whether the volunteer is out.
    assert later.status_code == 200 and later.get_json() == {"stored": False}
    assert stored(app, on_patrol["patrol"]["id"]) == []


def test_points_the_app_kept_offline_join_the_shift_they_were_recorded_in(client, app, on_patrol):
    lat, lon = ZONE_POINTS[1]
    patrol_id = on_patrol["patrol"]["id"]
    client.post(f"/api/v1/patrols/{patrol_id}/end", json={}, headers=on_patrol["juan"].headers)
    during = int((datetime.now(UTC) - timedelta(minutes=10)).timestamp())
    buffered = client.get("/osmand", query_string={"id": DEVICE, "lat": lat, "lon": lon, "timestamp": during})
    assert buffered.get_json()["stored"] is True
    assert [p.t for p in stored(app, patrol_id)] == [datetime.fromtimestamp(during, tz=UTC)]


def test_tracker_ids_are_long_and_belong_to_one_person(client, on_patrol, make_person, runner):
    juan = on_patrol["juan"]
    short = client.post("/api/v1/trackers", json={"device_id": "123456"}, headers=juan.headers)
    assert short.status_code == 422 and short.get_json()["fields"][0]["field"] == "device_id"
    made = client.post("/api/v1/trackers", json={}, headers=juan.headers)
    assert made.status_code == 201 and len(made.get_json()["device_id"]) >= 16
    # Nobody takes over someone else's tracker (its points would land on their patrol).
    ana = make_person("volunteer", zone_id=1)
    taken = client.post("/api/v1/trackers", json={"device_id": DEVICE}, headers=ana.headers)
    assert taken.status_code == 409
    # A volunteer registers only their own phone; a coordinator may register a member's.
    refused = client.post(
        "/api/v1/trackers", json={"device_id": "a" * 16, "user_id": ana.user.id}, headers=juan.headers
    )
    assert refused.status_code == 403
    coordinator = make_person("coordinator", zone_id=1)
    ok = client.post(
        "/api/v1/trackers", json={"device_id": "b" * 16, "user_id": ana.user.id}, headers=coordinator.headers
    )
    assert ok.status_code == 201 and ok.get_json()["user_id"] == ana.user.id


def test_timestamps_in_the_forms_trackers_send():
    assert parse_timestamp("1764612000") == datetime(2025, 12, 1, 18, 0, tzinfo=UTC)
    assert parse_timestamp("1764612000000") == datetime(2025, 12, 1, 18, 0, tzinfo=UTC)  # milliseconds
    assert parse_timestamp("2025-12-01 18:00:00") == datetime(2025, 12, 1, 18, 0, tzinfo=UTC)
    assert parse_timestamp("2025-12-01T13:00:00-05:00") == datetime(2025, 12, 1, 18, 0, tzinfo=UTC)
    assert abs(parse_timestamp(None) - datetime.now(UTC)) < timedelta(seconds=5)


def test_the_cli_registers_a_tracker(runner, make_person):
    make_person("volunteer", zone_id=2, username="pedro")
    result = runner.invoke(args=["patrols", "tracker", "--user", "pedro"])
    assert result.exit_code == 0, result.output
    device_id = result.output.split("'")[1]
    assert len(device_id) == 20
    make_person("police", username="comisaria")
    refused = runner.invoke(args=["patrols", "tracker", "x" * 16, "--user", "comisaria"])
    assert refused.exit_code != 0 and "patrullan" in refused.output


def test_a_lost_phones_tracker_stops_when_its_owner_closes_every_session(client, app, on_patrol):
    lat, lon = ZONE_POINTS[1]
    assert client.get("/osmand", query_string={"id": DEVICE, "lat": lat, "lon": lon}).get_json()["stored"] is True
    juan = on_patrol["juan"]
    assert client.delete("/api/v1/me/sessions", headers=juan.headers).status_code == 204
    gone = client.get("/osmand", query_string={"id": DEVICE, "lat": lat - 0.001, "lon": lon})
    assert gone.status_code == 403 and gone.get_json()["error"] == "unknown_device"
