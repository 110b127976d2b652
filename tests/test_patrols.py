"""Patrols as a committee's phones and the police use them: starting and ending a shift, who may,
positions with the phone's clock, reports that name their patrol, and shifts left open."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from security.models import Patrol, PatrolPosition
from security.patrols import close_overdue, track_length
from tests.conftest import ZONE_POINTS, incident_body, patrol_body


@pytest.fixture
def crew(make_person, make_committee):
    """Two volunteers and a coordinator of one committee of zone 1, and an outsider of zone 1."""
    rosa = make_person("coordinator", zone_id=1)
    juan = make_person("volunteer", zone_id=1)
    ana = make_person("volunteer", zone_id=1)
    committee_id = make_committee(1, [rosa, juan, ana])
    return {"rosa": rosa, "juan": juan, "ana": ana, "committee": committee_id, "outsider": make_person("volunteer", 1)}


def start(client, person, body):
    return client.post("/api/v1/patrols", json=body, headers=person.headers)


def events_of(client, person):
    return client.get("/api/v1/events?since=0", headers=person.headers).get_json()["events"]


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_a_member_starts_a_patrol_with_the_members_present_and_a_planned_route(client, crew, make_person):
    route = {"type": "LineString", "coordinates": [[-76.9281, -12.1398], [-76.9270, -12.1390], [-76.9260, -12.1385]]}
    body = patrol_body(crew["committee"], [crew["ana"]], planned_route=route)
    response = start(client, crew["juan"], body)
    assert response.status_code == 201
    patrol = response.get_json()
    assert patrol["status"] == "active" and patrol["zone_id"] == 1 and patrol["committee_id"] == crew["committee"]
    assert {m["id"] for m in patrol["members"]} == {crew["juan"].user.id, crew["ana"].user.id}
    assert patrol["planned_route"] == route
    assert patrol["ended_at"] is None and patrol["hours"] is None
    # A retry (weak 3G) gives the same patrol and announces nothing twice.
    again = start(client, crew["juan"], body)
    assert again.status_code == 200 and again.get_json()["id"] == patrol["id"]
    police = make_person("police")
    assert [e["type"] for e in events_of(client, police)] == ["patrol_started"]


def test_who_may_start_a_patrol(client, crew, make_person, make_committee):
    committee = crew["committee"]
    assert start(client, crew["outsider"], patrol_body(committee)).status_code == 403
    assert start(client, make_person("police"), patrol_body(committee)).status_code == 403
    assert start(client, make_person("neighbor", 1), patrol_body(committee)).status_code == 403
    # Members present must belong to the committee.
    refused = start(client, crew["juan"], patrol_body(committee, [crew["outsider"]]))
    assert refused.status_code == 422 and refused.get_json()["fields"][0]["field"] == "members"
    # Nobody walks two shifts at once.
    assert start(client, crew["juan"], patrol_body(committee)).status_code == 201
    busy = start(client, crew["rosa"], patrol_body(committee, [crew["juan"]]))
    assert busy.status_code == 409 and "active_patrol_id" in busy.get_json()
    # An admin may start one for the committee, naming who is present.
    admin = make_person("admin")
    assert start(client, admin, patrol_body(committee, [crew["ana"]])).status_code == 201
    assert start(client, admin, patrol_body(committee, [])).status_code == 422


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"committee_id": 999_999}, "committee_id"),
        ({"committee_id": "uno"}, "committee_id"),
        ({"client_id": "no-es-uuid"}, "client_id"),
        ({"planned_route": {"type": "Point", "coordinates": [-76.9, -12.1]}}, "planned_route.type"),
        ({"planned_route": {"type": "LineString", "coordinates": [[-76.9, -12.1]]}}, "planned_route.coordinates"),
        (
            {"planned_route": {"type": "LineString", "coordinates": [[-12.1, -276.9], [-12.1, -76.9]]}},
            "planned_route.coordinates",
        ),
        ({"started_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}, "started_at"),
    ],
)
def test_a_bad_patrol_start_names_the_field(client, crew, overrides, field):
    body = {**patrol_body(crew["committee"]), **overrides}
    response = start(client, crew["juan"], body)
    assert response.status_code == 422
    assert field in [f["field"] for f in response.get_json()["fields"]]


def test_positions_are_stored_with_both_clocks_and_refused_outside_the_shift(client, app, crew):
    started = datetime.now(UTC) - timedelta(minutes=30)
    patrol = start(client, crew["juan"], patrol_body(crew["committee"], started_at=iso(started))).get_json()
    lat, lon = ZONE_POINTS[1]
    points = [
        {"t": iso(started + timedelta(minutes=i)), "lat": lat + i * 0.0005, "lon": lon, "accuracy": 8}
        for i in range(1, 6)
    ]
    points.append({"t": iso(started - timedelta(hours=1)), "lat": lat, "lon": lon})  # before the shift
    points.append(
        {"t": iso(datetime.now(UTC) + timedelta(hours=1)), "lat": lat, "lon": lon}
    )  # the phone's clock is off
    url = f"/api/v1/patrols/{patrol['id']}/positions"
    answer = client.post(url, json={"positions": points}, headers=crew["juan"].headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["accepted"] == 5 and body["duplicates"] == 0
    assert [(r["index"], r["problem"]) for r in body["rejected"]] == [(5, "outside_patrol"), (6, "future")]
    # Sent again (a retry), nothing is stored twice.
    again = client.post(url, json={"positions": points[:5]}, headers=crew["juan"].headers).get_json()
    assert again["accepted"] == 0 and again["duplicates"] == 5
    with Session(app.extensions["ronda"].engine) as s:
        stored = s.exec(select(PatrolPosition).where(PatrolPosition.patrol_id == patrol["id"])).all()
        assert len(stored) == 5
        assert all(p.received_at > p.t for p in stored)  # phone time and server time, both kept
    # Only the patrol's members send its positions; a bad point refuses the request with its field.
    assert client.post(url, json={"positions": points[:1]}, headers=crew["rosa"].headers).status_code == 403
    bad = client.post(url, json={"positions": [{"t": "ayer", "lat": lat, "lon": lon}]}, headers=crew["juan"].headers)
    assert bad.status_code == 422 and bad.get_json()["fields"][0]["field"] == "positions.0.t"
    assert client.post(url, json={"positions": []}, headers=crew["juan"].headers).status_code == 422


def test_ending_measures_the_distance_on_a_metric_projection(client, crew, make_person):
    started = datetime.now(UTC) - timedelta(hours=2)
    patrol = start(client, crew["juan"], patrol_body(crew["committee"], started_at=iso(started))).get_json()
    lat, lon = ZONE_POINTS[1]
    # 0.009 degrees of latitude is about 996 m at Lima (UTM 18S); four steps north and back.
    points = [{"t": iso(started + timedelta(minutes=10 * i)), "lat": lat + 0.009 * min(i, 8 - i) / 4, "lon": lon}
              for i in range(9)]  # fmt: skip
    points.append({"t": iso(started + timedelta(minutes=95)), "lat": lat + 0.05, "lon": lon, "accuracy": 900})  # vague
    client.post(f"/api/v1/patrols/{patrol['id']}/positions", json={"positions": points}, headers=crew["juan"].headers)
    ended_at = started + timedelta(hours=1, minutes=30)
    ended = client.post(
        f"/api/v1/patrols/{patrol['id']}/end", json={"ended_at": iso(ended_at)}, headers=crew["ana"].headers
    )
    assert ended.status_code == 403  # Ana was not on this shift
    ended = client.post(
        f"/api/v1/patrols/{patrol['id']}/end", json={"ended_at": iso(ended_at)}, headers=crew["juan"].headers
    )
    assert ended.status_code == 200
    body = ended.get_json()
    assert body["status"] == "ended" and body["hours"] == 1.5 and body["auto_closed"] is False
    assert body["distance_m"] == pytest.approx(2 * 996, rel=0.01)
    # Ending it again (a retry) changes nothing and announces nothing new.
    again = client.post(f"/api/v1/patrols/{patrol['id']}/end", json={}, headers=crew["juan"].headers)
    assert again.status_code == 200 and again.get_json()["ended_at"] == body["ended_at"]
    police = make_person("police")
    assert [e["type"] for e in events_of(client, police)] == ["patrol_started", "patrol_ended"]
    # The end may not come before the start.
    second = start(client, crew["juan"], patrol_body(crew["committee"])).get_json()
    early = client.post(
        f"/api/v1/patrols/{second['id']}/end", json={"ended_at": iso(started)}, headers=crew["juan"].headers
    )
    assert early.status_code == 422 and early.get_json()["fields"][0]["field"] == "ended_at"


def test_track_length_leaves_out_gps_glitches():
    t0 = datetime(2026, 11, 1, 22, tzinfo=UTC)
    walk = [(t0 + timedelta(minutes=i), -12.14 + 0.0009 * i, -76.93) for i in range(3)]  # ~100 m a minute
    glitch = (t0 + timedelta(seconds=90), -12.0, -76.93)  # 15 km away, between two real points
    assert track_length(walk) == pytest.approx(199, rel=0.01)
    assert track_length(sorted([*walk, glitch])) == pytest.approx(199, rel=0.01)  # the walk goes on around it
    assert track_length(walk[:1]) == 0.0


def test_police_see_where_patrols_are_committees_see_who_neighbours_see_nothing(client, crew, make_person):
    now = datetime.now(UTC)
    started_at = iso(now - timedelta(minutes=30))
    patrol = start(
        client, crew["juan"], patrol_body(crew["committee"], [crew["ana"]], started_at=started_at)
    ).get_json()
    lat, lon = ZONE_POINTS[1]
    client.post(
        f"/api/v1/patrols/{patrol['id']}/positions",
        json={"positions": [{"t": iso(now - timedelta(minutes=m)), "lat": lat, "lon": lon} for m in (20, 10, 1)]},
        headers=crew["juan"].headers,
    )
    police = make_person("police")
    seen = client.get("/api/v1/patrols?active=true&track=true", headers=police.headers).get_json()
    assert [p["id"] for p in seen] == [patrol["id"]]
    assert seen[0]["last_position"]["lat"] == lat
    assert len(seen[0]["track"]) == 2  # the last 15 minutes only
    coordinator = client.get("/api/v1/patrols", headers=crew["rosa"].headers).get_json()
    assert [p["id"] for p in coordinator] == [patrol["id"]]
    assert "last_position" not in coordinator[0] and "track" not in coordinator[0]
    # Who is out, and with whom, stays within the committee: another committee of the zone sees nothing.
    other = make_person("coordinator", zone_id=1)
    assert client.get("/api/v1/patrols", headers=other.headers).get_json() == []
    # Another committee's or zone's patrol answers like a missing one.
    assert client.get(f"/api/v1/patrols/{patrol['id']}", headers=other.headers).status_code == 404
    assert client.get("/api/v1/patrols", headers=make_person("neighbor", 1).headers).status_code == 403
    assert client.get(f"/api/v1/patrols/{patrol['id']}", headers=make_person("volunteer", 2).headers).status_code == 404
    assert client.get("/api/v1/patrols?zone_id=2", headers=crew["rosa"].headers).status_code == 403
    # Neighbours and volunteers never read patrol events from the log.
    for person in (make_person("neighbor", 1), crew["rosa"]):
        assert all(not e["type"].startswith("patrol_") for e in events_of(client, person))


def test_reports_name_the_patrol_that_made_them(client, crew, make_person):
    patrol = start(client, crew["juan"], patrol_body(crew["committee"])).get_json()
    report = client.post(
        "/api/v1/incidents", json=incident_body(1, patrol_id=patrol["id"]), headers=crew["juan"].headers
    )
    assert report.status_code == 201
    police = make_person("police")
    assert (
        client.get(f"/api/v1/incidents/{report.get_json()['id']}", headers=police.headers).get_json()["patrol_id"]
        == patrol["id"]
    )
    # Neighbours do not learn which patrol (and so which volunteers) reported.
    neighbour_view = client.get(
        f"/api/v1/incidents/{report.get_json()['id']}", headers=make_person("neighbor", 1).headers
    )
    assert neighbour_view.get_json()["patrol_id"] is None
    # Only the patrol's members may name it.
    refused = client.post(
        "/api/v1/incidents", json=incident_body(1, patrol_id=patrol["id"]), headers=crew["ana"].headers
    )
    assert refused.status_code == 422 and refused.get_json()["fields"][0]["field"] == "patrol_id"
    lat, lon = ZONE_POINTS[1]
    alarm = client.post(
        "/api/v1/alarms",
        json={"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon, "patrol_id": patrol["id"]},
        headers=crew["juan"].headers,
    )
    assert alarm.status_code == 201 and alarm.get_json()["patrol_id"] is None  # volunteers do not see it
    assert (
        client.get(f"/api/v1/alarms/{alarm.get_json()['id']}", headers=police.headers).get_json()["patrol_id"]
        == patrol["id"]
    )


def test_a_patrol_left_open_more_than_12_hours_is_closed_and_flagged(app, client, crew, make_person):
    started = datetime.now(UTC) - timedelta(hours=14)
    patrol = start(client, crew["juan"], patrol_body(crew["committee"], started_at=iso(started))).get_json()
    lat, lon = ZONE_POINTS[1]
    last = started + timedelta(hours=3, minutes=10)
    client.post(
        f"/api/v1/patrols/{patrol['id']}/positions",
        json={"positions": [{"t": iso(started + timedelta(hours=1)), "lat": lat, "lon": lon},
                            {"t": iso(last), "lat": lat + 0.001, "lon": lon}]},
        headers=crew["juan"].headers,
    )  # fmt: skip
    with Session(app.extensions["ronda"].engine, expire_on_commit=False) as s:
        events = close_overdue(session=s)
        assert close_overdue(session=s) == []  # closed once
        s.commit()
        closed = s.get(Patrol, patrol["id"])
    assert [e.type for e in events] == ["patrol_ended"]
    silent = start(client, crew["ana"], patrol_body(crew["committee"], started_at=iso(started))).get_json()
    with Session(app.extensions["ronda"].engine, expire_on_commit=False) as s:
        assert len(close_overdue(session=s)) == 1
        s.commit()
        closed_silent = s.get(Patrol, silent["id"])
    assert closed.auto_closed is True and closed.ended_at == last  # its last position, not 12 idle hours
    assert closed_silent.auto_closed is True and closed_silent.ended_at == started  # nothing recorded: 0 h
    police = make_person("police")
    shown = client.get(f"/api/v1/patrols/{patrol['id']}", headers=police.headers).get_json()
    assert shown["auto_closed"] is True and shown["hours"] == pytest.approx(3.17, abs=0.01)
    # A forgotten shift does not block the next one: starting again closes it on the way.
    stale = start(client, crew["rosa"], patrol_body(crew["committee"], started_at=iso(started))).get_json()
    fresh = start(client, crew["rosa"], patrol_body(crew["committee"], [crew["ana"]]))
    assert fresh.status_code == 201
    assert client.get(f"/api/v1/patrols/{stale['id']}", headers=crew["rosa"].headers).get_json()["auto_closed"] is True


def test_the_phones_own_end_corrects_a_shift_the_server_closed(app, client, crew, make_person):
    """A phone offline for a whole shift syncs the next day: the server had closed it at 0 hours."""
    started = datetime.now(UTC) - timedelta(hours=20)
    patrol = start(client, crew["juan"], patrol_body(crew["committee"], started_at=iso(started))).get_json()
    with Session(app.extensions["ronda"].engine) as s:
        close_overdue(session=s)
        s.commit()
    lat, lon = ZONE_POINTS[1]
    points = [{"t": iso(started + timedelta(minutes=30 * i)), "lat": lat + 0.002 * i, "lon": lon} for i in range(7)]
    sent = client.post(
        f"/api/v1/patrols/{patrol['id']}/positions", json={"positions": points}, headers=crew["juan"].headers
    )
    assert sent.get_json()["accepted"] == 7
    police = make_person("police")
    moved_end = client.get(f"/api/v1/patrols/{patrol['id']}", headers=police.headers).get_json()
    assert moved_end["hours"] == 3.0 and moved_end["auto_closed"] is True  # late points moved the server's end
    ended = client.post(
        f"/api/v1/patrols/{patrol['id']}/end",
        json={"ended_at": iso(started + timedelta(hours=2))},
        headers=crew["juan"].headers,
    ).get_json()
    assert ended["hours"] == 2.0 and ended["auto_closed"] is False
    # Points after the end the phone gave are not kept, nor measured.
    with Session(app.extensions["ronda"].engine) as s:
        kept = s.exec(select(PatrolPosition).where(PatrolPosition.patrol_id == patrol["id"])).all()
    assert len(kept) == 5 and ended["distance_m"] == pytest.approx(4 * 0.002 * 110_600, rel=0.02)
    types = [e["type"] for e in events_of(client, police)]
    assert types == ["patrol_started", "patrol_ended", "patrol_ended"]
    # Once its members ended it, the end stands.
    again = client.post(
        f"/api/v1/patrols/{patrol['id']}/end",
        json={"ended_at": iso(started + timedelta(hours=5))},
        headers=crew["juan"].headers,
    ).get_json()
    assert again["hours"] == 2.0


def test_ending_keeps_only_the_points_of_the_shift(app, client, crew):
    started = datetime.now(UTC) - timedelta(hours=1)
    patrol = start(client, crew["juan"], patrol_body(crew["committee"], started_at=iso(started))).get_json()
    lat, lon = ZONE_POINTS[1]
    points = [{"t": iso(started + timedelta(minutes=m)), "lat": lat, "lon": lon} for m in (-3, 10, 20, 40)]
    client.post(f"/api/v1/patrols/{patrol['id']}/positions", json={"positions": points}, headers=crew["juan"].headers)
    client.post(
        f"/api/v1/patrols/{patrol['id']}/end",
        json={"ended_at": iso(started + timedelta(minutes=30))},
        headers=crew["juan"].headers,
    )
    with Session(app.extensions["ronda"].engine) as s:
        kept = sorted(p.t for p in s.exec(select(PatrolPosition).where(PatrolPosition.patrol_id == patrol["id"])).all())
    assert kept == [started + timedelta(minutes=10), started + timedelta(minutes=20)]
    late = client.post(
        f"/api/v1/patrols/{patrol['id']}/positions",
        json={"positions": [{"t": iso(started + timedelta(minutes=45)), "lat": lat, "lon": lon}]},
        headers=crew["juan"].headers,
    ).get_json()
    assert late["accepted"] == 0 and late["rejected"][0]["problem"] == "outside_patrol"


def test_police_or_the_committee_coordinator_may_end_a_shift(client, crew, make_person):
    first = start(client, crew["juan"], patrol_body(crew["committee"])).get_json()
    assert client.post(f"/api/v1/patrols/{first['id']}/end", json={}, headers=crew["rosa"].headers).status_code == 200
    second = start(client, crew["juan"], patrol_body(crew["committee"])).get_json()
    assert (
        client.post(
            f"/api/v1/patrols/{second['id']}/end", json={}, headers=make_person("coordinator", 1).headers
        ).status_code
        == 404  # another committee's shift: answered like a missing one
    )
    assert (
        client.post(f"/api/v1/patrols/{second['id']}/end", json={}, headers=make_person("police").headers).status_code
        == 200
    )
    assert client.post("/api/v1/patrols/999999/end", json={}, headers=make_person("police").headers).status_code == 404
