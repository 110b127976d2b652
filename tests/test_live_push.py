"""Live push end to end: real Socket.IO clients against `python app.py` (gevent), as phones and
dashboards use it: who hears what, redacted per role, refused connections, catching up, alarms,
and a crash that loses nothing acknowledged."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
import requests
import socketio

from security.auth import issue_token
from tests.conftest import TEST_SECRET, ZONE_POINTS, LiveServer, Person, incident_body, start_server

pytestmark = pytest.mark.live

Payload = dict[str, Any]


class Dashboard:
    """A Socket.IO client as a dashboard or phone holds one: every event it hears, in order."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Payload]] = []
        self.refusal: Any = None  # what the server said when it refused the connection
        self._changed = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._hear)
        self.sio.on("connect_error", self._refused)

    def connect(self, url: str, token: str | None) -> None:
        self.sio.connect(
            url, auth={"token": token} if token is not None else None, transports=["websocket"], wait_timeout=10
        )

    def _hear(self, event: str, data: Payload) -> None:
        with self._changed:
            self.received.append((event, data))
            self._changed.notify_all()

    def _refused(self, data: Any = None) -> None:
        self.refusal = data

    def heard(self, event: str | None = None) -> list[Payload]:
        """The payloads heard so far (of one event name, when given)."""
        with self._changed:
            return [data for name, data in self.received if event is None or name == event]

    def wait_for(
        self, event: str, *, deadline: float, match: Callable[[Payload], bool] = lambda _data: True
    ) -> Payload:
        """The first `event` payload that matches, heard before `deadline` (time.monotonic())."""
        with self._changed:
            while True:
                for name, data in self.received:
                    if name == event and match(data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching {event} in time; heard {self.received}")
                self._changed.wait(remaining)

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()
        self.sio.shutdown()


@pytest.fixture
def connect() -> Iterator[Callable[[LiveServer, str | None], Dashboard]]:
    """Connect Socket.IO clients to a live server (all disconnected when the test ends)."""
    opened: list[Dashboard] = []

    def open_(server: LiveServer, token: str | None) -> Dashboard:
        dashboard = Dashboard()
        opened.append(dashboard)
        dashboard.connect(server.url, token)
        return dashboard

    yield open_
    for dashboard in opened:
        dashboard.close()


def refused(server: LiveServer, token: str | None) -> Dashboard:
    """Try to connect with `token`; assert the server refuses; the client, with what it was told."""
    client = Dashboard()
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, token)
    assert not client.sio.connected
    client.close()
    return client


def api(server: LiveServer, method: str, path: str, person: Person, body: Payload | None = None) -> requests.Response:
    return requests.request(method, f"{server.url}/api/v1{path}", json=body, headers=person.headers, timeout=10)


def report(server: LiveServer, person: Person, zone_id: int, **overrides: Any) -> Payload:
    response = api(server, "POST", "/incidents", person, incident_body(zone_id, **overrides))
    assert response.status_code == 201, response.text
    incident: Payload = response.json()
    return incident


def about(thing_id: int) -> Callable[[Payload], bool]:
    """Matches an event about the incident or alarm `thing_id`."""
    return lambda event: event["data"]["id"] == thing_id


def public(person: Person) -> Payload:
    user = person.user
    return {"id": user.id, "username": user.username, "display_name": user.display_name}


def expired_token(person: Person) -> str:
    """A token issued, with the server's key, two days ago (tokens live 12 hours)."""
    with mock.patch("itsdangerous.timed.time") as clock:
        clock.time.return_value = time.time() - 2 * 24 * 3600
        return issue_token(user=person.user, secret_key=TEST_SECRET)


# --- who hears a report -------------------------------------------------------------------


def test_a_report_reaches_police_and_the_zones_neighbours_redacted_within_a_second(live_server, make_person, connect):
    volunteer = make_person("volunteer", zone_id=1)
    other_volunteer = make_person("volunteer", zone_id=2)
    police_person = make_person("police")
    police = connect(live_server, police_person.token)
    neighbour_a = connect(live_server, make_person("neighbor", zone_id=1).token)
    neighbour_b = connect(live_server, make_person("neighbor", zone_id=2).token)
    lat, lon = ZONE_POINTS[1]
    description = "Arrebato de celular en el paradero"

    sent = time.monotonic()
    incident = report(live_server, volunteer, 1, lat=lat, lon=lon, description=description)
    seen_by_police = police.wait_for("incident_reported", deadline=sent + 1.0, match=about(incident["id"]))
    seen_by_a = neighbour_a.wait_for("incident_reported", deadline=sent + 1.0, match=about(incident["id"]))

    for event in (seen_by_police, seen_by_a):
        assert set(event) == {"seq", "type", "zone_id", "at", "data"}
        assert event["type"] == "incident_reported" and event["zone_id"] == 1
        assert isinstance(event["seq"], int) and event["seq"] > 0
        assert datetime.fromisoformat(event["at"]).utcoffset() == timedelta(0)
    assert seen_by_police["seq"] == seen_by_a["seq"]

    police_view = seen_by_police["data"]
    # Nobody's name travels in a push: police see it when they open the incident (on the record).
    assert police_view["reporter"] is None
    opened = api(live_server, "GET", f"/incidents/{incident['id']}", police_person).json()
    assert opened["reporter"] == public(volunteer)
    assert (police_view["lat"], police_view["lon"]) == (lat, lon)
    assert police_view["location_precision"] == "exact"
    assert police_view["description"] == description

    neighbour_view = seen_by_a["data"]
    assert neighbour_view["reporter"] is None and neighbour_view["description"] is None
    assert neighbour_view["location_precision"] == "block"
    assert neighbour_view["lat"] != lat and neighbour_view["lon"] != lon
    assert "client_id" not in neighbour_view

    # Neighbour B hears nothing of zone 1. A zone 2 report made afterwards is a marker: pushes
    # leave the server in order, so anything B were sent about zone 1 would arrive before it.
    marker = report(live_server, other_volunteer, 2)
    neighbour_b.wait_for("incident_reported", deadline=time.monotonic() + 1.5, match=about(marker["id"]))
    assert [e["zone_id"] for e in neighbour_b.heard()] == [2]


def test_a_retried_report_answers_200_and_pushes_nothing_new(live_server, make_person, connect):
    volunteer = make_person("volunteer", zone_id=1)
    police = connect(live_server, make_person("police").token)
    body = incident_body(1)

    first = api(live_server, "POST", "/incidents", volunteer, body)
    retry = api(live_server, "POST", "/incidents", volunteer, body)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]

    marker = report(live_server, volunteer, 1)
    police.wait_for("incident_reported", deadline=time.monotonic() + 1.5, match=about(marker["id"]))
    assert [e["data"]["id"] for e in police.heard("incident_reported")] == [first.json()["id"], marker["id"]]


# --- who may connect ----------------------------------------------------------------------


def test_connections_without_a_valid_token_are_refused(live_server, make_person, connect):
    neighbour = make_person("neighbor", zone_id=1)
    refused(live_server, None)
    refused(live_server, "")
    refused(live_server, "basura.no-es-un-token")
    refused(live_server, issue_token(user=neighbour.user, secret_key="another-servers-key"))
    expired = expired_token(neighbour)
    refused(live_server, expired)
    over_http = api(live_server, "GET", "/events", Person(user=neighbour.user, token=expired))
    assert over_http.status_code == 401 and over_http.json()["reason"] == "expired"
    # The same person with a fresh token is let in, so the refusals were about the tokens.
    assert connect(live_server, neighbour.token).sio.connected


def test_a_refused_client_is_told_why(live_server, make_person):
    """A phone must know whether to sign in again (expired) or that its token is broken."""
    neighbour = make_person("neighbor", zone_id=1)
    reasons = {
        "missing": refused(live_server, None).refusal,
        "invalid": refused(live_server, "basura.no-es-un-token").refusal,
        "expired": refused(live_server, expired_token(neighbour)).refusal,
    }
    for reason, told in reasons.items():
        assert reason_in(told) == reason, f"told {told!r} instead of {reason!r}"


def reason_in(told: Any) -> Any:
    """The `reason` a refusal carries, wherever the Socket.IO packet nests it."""
    if isinstance(told, dict):
        if "reason" in told:
            return told["reason"]
        return next((r for r in map(reason_in, told.values()) if r is not None), None)
    return None


def test_a_neighbour_cannot_join_another_zone(live_server, make_person, connect):
    neighbour = connect(live_server, make_person("neighbor", zone_id=1).token)
    assert neighbour.sio.call("join_zone", {"zone_id": 2}, timeout=5) == {"ok": False, "error": "forbidden"}
    assert neighbour.sio.call("join_zone", {"zone_id": 1}, timeout=5) == {"ok": True, "zone_id": 1}

    report(live_server, make_person("volunteer", zone_id=2), 2)
    marker = report(live_server, make_person("volunteer", zone_id=1), 1)
    neighbour.wait_for("incident_reported", deadline=time.monotonic() + 1.5, match=about(marker["id"]))
    assert [e["zone_id"] for e in neighbour.heard()] == [1]


# --- catching up --------------------------------------------------------------------------


def test_a_police_client_catches_up_on_what_it_missed(live_server, make_person, connect):
    volunteer_1 = make_person("volunteer", zone_id=1)
    volunteer_2 = make_person("volunteer", zone_id=2)
    police = make_person("police")
    dashboard = connect(live_server, police.token)
    seen = report(live_server, volunteer_1, 1)
    heard = dashboard.wait_for("incident_reported", deadline=time.monotonic() + 1.5, match=about(seen["id"]))
    last_seq = heard["seq"]
    dashboard.close()

    missed = [report(live_server, volunteer_1, 1), report(live_server, volunteer_2, 2)]
    response = api(live_server, "GET", f"/events?since={last_seq}", police)
    assert response.status_code == 200
    page = response.json()
    assert [(e["type"], e["data"]["id"]) for e in page["events"]] == [("incident_reported", i["id"]) for i in missed]
    seqs = [e["seq"] for e in page["events"]]
    assert seqs == sorted(seqs) and seqs[0] > last_seq
    assert page["last_seq"] == seqs[-1] and page["has_more"] is False

    neighbour = make_person("neighbor", zone_id=1)
    theirs = api(live_server, "GET", "/events?since=0", neighbour).json()["events"]
    assert [e["data"]["id"] for e in theirs] == [seen["id"], missed[0]["id"]]
    assert all(e["zone_id"] == 1 and e["data"]["reporter"] is None for e in theirs)


# --- block alarms and status changes --------------------------------------------------------


def test_an_alarm_is_raised_escalated_once_and_acknowledged_live(live_server, make_person, connect):
    neighbour = make_person("neighbor", zone_id=1)
    police = make_person("police")
    police_screen = connect(live_server, police.token)
    neighbour_phone = connect(live_server, neighbour.token)
    lat, lon = ZONE_POINTS[1]

    sent = time.monotonic()
    press = {"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon}
    response = api(live_server, "POST", "/alarms", neighbour, press)
    assert response.status_code == 201, response.text
    alarm = response.json()
    raised = police_screen.wait_for("alarm_raised", deadline=sent + 1.0, match=about(alarm["id"]))
    assert raised["zone_id"] == 1 and raised["data"]["status"] == "raised"
    assert raised["data"]["raised_by"] is None  # named only to whoever opens the alarm
    assert api(live_server, "GET", f"/alarms/{alarm['id']}", police).json()["raised_by"] == public(neighbour)
    on_the_phone = neighbour_phone.wait_for("alarm_raised", deadline=sent + 1.0, match=about(alarm["id"]))
    assert on_the_phone["data"]["raised_by"] is None

    # ALARM_ESCALATION_SECONDS=2 on the live server, checked every 0.5 s.
    escalated = police_screen.wait_for("alarm_escalated", deadline=sent + 8.0, match=about(alarm["id"]))
    assert escalated["data"]["escalated_at"] is not None and escalated["data"]["status"] == "raised"
    time.sleep(1.5)  # three more escalation rounds: it must not be escalated again
    assert len([e for e in police_screen.heard("alarm_escalated") if about(alarm["id"])(e)]) == 1

    sent = time.monotonic()
    acknowledged = api(live_server, "POST", f"/alarms/{alarm['id']}/acknowledge", police)
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
    for screen in (police_screen, neighbour_phone):
        event = screen.wait_for("alarm_acknowledged", deadline=sent + 1.0, match=about(alarm["id"]))
        assert event["data"]["status"] == "acknowledged"
    assert police_screen.heard("alarm_acknowledged")[0]["data"]["acknowledged_by"] == public(police)
    assert neighbour_phone.heard("alarm_acknowledged")[0]["data"]["acknowledged_by"] is None


def test_a_status_change_reaches_police_and_the_zones_neighbours(live_server, make_person, connect):
    volunteer = make_person("volunteer", zone_id=1)
    police = make_person("police")
    police_screen = connect(live_server, police.token)
    neighbour_phone = connect(live_server, make_person("neighbor", zone_id=1).token)
    elsewhere = connect(live_server, make_person("neighbor", zone_id=2).token)
    incident = report(live_server, volunteer, 1)

    sent = time.monotonic()
    change = {"status": "acknowledged", "note": "Serenazgo en camino"}
    response = api(live_server, "PATCH", f"/incidents/{incident['id']}", police, change)
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"
    for_police = police_screen.wait_for("incident_updated", deadline=sent + 1.0, match=about(incident["id"]))
    for_neighbour = neighbour_phone.wait_for("incident_updated", deadline=sent + 1.0, match=about(incident["id"]))
    for event in (for_police, for_neighbour):
        assert event["zone_id"] == 1
        assert event["data"]["status"] == "acknowledged" and event["data"]["previous_status"] == "reported"
    assert for_police["data"]["note"] == "Serenazgo en camino"
    assert "note" not in for_neighbour["data"] and for_neighbour["data"]["location_precision"] == "block"

    marker = report(live_server, make_person("volunteer", zone_id=2), 2)
    elsewhere.wait_for("incident_reported", deadline=time.monotonic() + 1.5, match=about(marker["id"]))
    assert [e["zone_id"] for e in elsewhere.heard()] == [2]


# --- a crash ------------------------------------------------------------------------------


def test_an_acknowledged_report_survives_a_server_crash(live_server, make_person, tmp_path):
    volunteer = make_person("volunteer", zone_id=1)
    incident = report(live_server, volunteer, 1, description="Reportado justo antes del corte")

    live_server.stop(kill=True)  # SIGKILL: no shutdown, no checkpoint
    restarted = start_server(db_url=live_server.db_url, tmp_path=tmp_path)
    try:
        response = api(restarted, "GET", f"/incidents/{incident['id']}", volunteer)
        assert response.status_code == 200
        assert response.json() == incident
    finally:
        restarted.stop()
