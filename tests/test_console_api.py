"""What the operations console asks of the API: the serenazgo role, dispatching to a patrol, an
incident's history, duplicate and patrol suggestions, and the list's filters and sorts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from security.models import Incident, Patrol
from tests.conftest import ZONE_POINTS, incident_body, patrol_body
from zones.database import utcnow


def post(client, person, body):
    response = client.post("/api/v1/incidents", json=body, headers=person.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def patch(client, person, incident_id, **body):
    return client.patch(f"/api/v1/incidents/{incident_id}", json=body, headers=person.headers)


def near(zone_id: int, metres_north: float) -> tuple[float, float]:
    lat, lon = ZONE_POINTS[zone_id]
    return lat + metres_north / 111_000, lon


def start_patrol(client, app, make_person, make_committee, zone_id: int, *, at_metres: float | None = None) -> int:
    volunteer = make_person("volunteer", zone_id=zone_id)
    committee = make_committee(zone_id, [volunteer])
    response = client.post("/api/v1/patrols", json=patrol_body(committee), headers=volunteer.headers)
    assert response.status_code == 201, response.get_json()
    patrol_id = response.get_json()["id"]
    if at_metres is not None:
        lat, lon = near(zone_id, at_metres)
        point = {"t": utcnow().isoformat(), "lat": lat, "lon": lon, "accuracy": 5}
        answer = client.post(
            f"/api/v1/patrols/{patrol_id}/positions", json={"positions": [point]}, headers=volunteer.headers
        )
        assert answer.status_code == 200, answer.get_json()
    return int(patrol_id)


# --- serenazgo ----------------------------------------------------------------------------


def test_serenazgo_sees_every_zone_works_incidents_and_alarms_but_never_learns_who_reported(client, make_person):
    volunteer = make_person("volunteer", zone_id=3)
    serenazgo = make_person("serenazgo")
    incident = post(client, volunteer, incident_body(3, description="Venta de droga en la esquina"))

    listed = client.get("/api/v1/incidents", headers=serenazgo.headers).get_json()["items"]
    opened = client.get(f"/api/v1/incidents/{incident['id']}", headers=serenazgo.headers).get_json()
    for view in (listed[0], opened):
        assert view["id"] == incident["id"] and view["description"] == "Venta de droga en la esquina"
        assert view["reporter"] is None and "client_id" not in view and view["location_precision"] == "exact"
    assert volunteer.user.username not in client.get(
        "/api/v1/incidents?format=csv", headers=serenazgo.headers
    ).get_data(as_text=True)

    for status in ("acknowledged", "dispatched", "resolved"):
        assert patch(client, serenazgo, incident["id"], status=status).status_code == 200
    history = client.get(f"/api/v1/incidents/{incident['id']}/history", headers=serenazgo.headers).get_json()
    assert [h["by_role"] for h in history["items"]] == ["serenazgo"] * 3

    neighbour = make_person("neighbor", zone_id=2)
    lat, lon = ZONE_POINTS[2]
    press = {"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon}
    alarm = client.post("/api/v1/alarms", json=press, headers=neighbour.headers).get_json()
    assert client.get(f"/api/v1/alarms/{alarm['id']}", headers=serenazgo.headers).get_json()["raised_by"] is None
    assert client.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", headers=serenazgo.headers).status_code == 200
    closed = client.post(
        f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "false_alarm"}, headers=serenazgo.headers
    )
    assert closed.status_code == 200 and closed.get_json()["status"] == "resolved"


def test_only_police_opening_one_incident_see_its_reporter_and_lists_never_name_anyone(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    incident = post(client, volunteer, incident_body(1))
    police, admin = make_person("police"), make_person("admin")
    for person in (police, admin):
        assert client.get("/api/v1/incidents", headers=person.headers).get_json()["items"][0]["reporter"] is None
        opened = client.get(f"/api/v1/incidents/{incident['id']}", headers=person.headers).get_json()
        assert opened["reporter"]["username"] == volunteer.user.username
    for role, zone in (("coordinator", 1), ("volunteer", 1), ("neighbor", 1), ("serenazgo", None)):
        opened = client.get(f"/api/v1/incidents/{incident['id']}", headers=make_person(role, zone).headers)
        assert opened.get_json()["reporter"] is None, role


@pytest.mark.parametrize(
    ("role", "zone_id", "may_move", "may_attend", "may_close_alarm"),
    [
        ("police", None, True, True, True),
        ("serenazgo", None, True, True, True),
        ("admin", None, True, True, True),
        ("coordinator", 1, True, False, True),
        ("coordinator", 2, False, False, False),
        ("volunteer", 1, False, False, False),
        ("neighbor", 1, False, False, False),
    ],
)
def test_who_may_work_an_incident_and_an_alarm_of_zone_1(
    client, make_person, role, zone_id, may_move, may_attend, may_close_alarm
):
    incident = post(client, make_person("volunteer", zone_id=1), incident_body(1))
    lat, lon = ZONE_POINTS[1]
    press = {"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon}
    alarm = client.post("/api/v1/alarms", json=press, headers=make_person("neighbor", zone_id=1).headers).get_json()
    person = make_person(role, zone_id)
    other_zone = zone_id not in (None, 1)

    refused = 404 if other_zone else 403  # another zone's incident answers like a missing one
    moved = patch(client, person, incident["id"], status="acknowledged")
    assert moved.status_code == (200 if may_move else refused)
    suggestions = client.get(f"/api/v1/incidents/{incident['id']}/suggestions", headers=person.headers)
    assert suggestions.status_code == (200 if may_move else refused)
    history = client.get(f"/api/v1/incidents/{incident['id']}/history", headers=person.headers)
    assert history.status_code == (404 if other_zone else 200)

    attended = client.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", headers=person.headers)
    assert attended.status_code == (200 if may_attend else 403)  # refused by role, whatever the alarm
    closed = client.post(f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "real"}, headers=person.headers)
    assert closed.status_code == (200 if may_close_alarm else refused)


def test_serenazgo_hears_every_zone_live_without_names(app, make_person):
    from security.push import socketio

    serenazgo = make_person("serenazgo")
    volunteer = make_person("volunteer", zone_id=4)
    listener = socketio.test_client(app, auth={"token": serenazgo.token})
    assert listener.is_connected()
    post(app.test_client(), volunteer, incident_body(4))
    heard = [m for m in listener.get_received() if m["name"] == "incident_reported"]
    assert len(heard) == 1
    data = heard[0]["args"][0]["data"]
    assert data["zone_id"] == 4 and data["reporter"] is None and "client_id" not in data
    listener.disconnect()


# --- dispatching, history, suggestions ----------------------------------------------------


def test_dispatch_to_a_suggested_patrol_then_resolve_and_the_history_tells_it(client, app, make_person, make_committee):
    police = make_person("police")
    far = start_patrol(client, app, make_person, make_committee, 1, at_metres=900)
    close = start_patrol(client, app, make_person, make_committee, 1, at_metres=120)
    silent = start_patrol(client, app, make_person, make_committee, 1)  # no position yet
    incident = post(client, make_person("volunteer", zone_id=1), incident_body(1))

    found = client.get(f"/api/v1/incidents/{incident['id']}/suggestions", headers=police.headers).get_json()
    assert [p["id"] for p in found["patrols"]] == [close, far, silent]
    assert 100 <= found["patrols"][0]["distance_m"] <= 140 and found["patrols"][2]["distance_m"] is None
    assert found["patrols"][0]["member_count"] == 1 and found["patrols"][0]["committee_name"]

    assert (
        patch(client, police, incident["id"], status="acknowledged", note="Recibido en la central").status_code == 200
    )
    sent = patch(client, police, incident["id"], status="dispatched", patrol_id=close)
    assert sent.status_code == 200
    assert sent.get_json()["assigned_patrol_id"] == close and sent.get_json()["assigned_patrol_name"]
    resolved = patch(client, police, incident["id"], status="resolved", note="Se recuperó el celular")
    assert resolved.get_json()["status"] == "resolved" and resolved.get_json()["assigned_patrol_id"] == close

    history = client.get(f"/api/v1/incidents/{incident['id']}/history", headers=police.headers).get_json()["items"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        ("reported", "acknowledged"),
        ("acknowledged", "dispatched"),
        ("dispatched", "resolved"),
    ]
    assert history[0]["note"] == "Recibido en la central" and history[1]["assigned_patrol_id"] == close
    assert {h["by_role"] for h in history} == {"police"}
    keys = {"at", "from_status", "to_status", "note", "by_role", "assigned_patrol_id", "assigned_patrol_name"}
    assert all(set(h) == keys for h in history) and history[1]["assigned_patrol_name"]

    neighbour = make_person("neighbor", zone_id=1)
    theirs = client.get(f"/api/v1/incidents/{incident['id']}/history", headers=neighbour.headers).get_json()["items"]
    assert len(theirs) == 3
    assert all(
        h["note"] is None and h["assigned_patrol_id"] is None and h["assigned_patrol_name"] is None for h in theirs
    )


def test_a_dispatch_names_an_active_patrol_and_a_coordinator_only_their_zones(
    client, app, make_person, make_committee, session
):
    other_zone = start_patrol(client, app, make_person, make_committee, 2)
    ended = start_patrol(client, app, make_person, make_committee, 1)
    patrol = session.get(Patrol, ended)
    patrol.ended_at = utcnow()
    session.add(patrol)
    session.commit()
    coordinator = make_person("coordinator", zone_id=1)
    incident = post(client, make_person("volunteer", zone_id=1), incident_body(1))
    assert patch(client, coordinator, incident["id"], status="acknowledged").status_code == 200

    def refused(person, **body):
        response = patch(client, person, incident["id"], **body)
        assert response.status_code == 422, response.get_json()
        return response.get_json()["fields"][0]

    assert refused(coordinator, status="dispatched", patrol_id=other_zone)["field"] == "patrol_id"
    assert refused(coordinator, status="dispatched", patrol_id=ended)["field"] == "patrol_id"
    assert refused(coordinator, status="dismissed", patrol_id=other_zone)["field"] == "patrol_id"
    assert refused(coordinator, status="dispatched", patrol_id=999_999)["field"] == "patrol_id"
    found = client.get(f"/api/v1/incidents/{incident['id']}/suggestions", headers=coordinator.headers).get_json()
    assert other_zone not in [p["id"] for p in found["patrols"]]
    # Police may send the next zone's patrol, and send another one afterwards.
    police = make_person("police")
    assert patch(client, police, incident["id"], status="dispatched", patrol_id=other_zone).status_code == 200
    mine = start_patrol(client, app, make_person, make_committee, 1)
    again = patch(client, police, incident["id"], status="dispatched", patrol_id=mine)
    assert again.status_code == 200 and again.get_json()["assigned_patrol_id"] == mine
    assert patch(client, police, incident["id"], status="dispatched", patrol_id=mine).status_code == 200  # a retry
    history = client.get(f"/api/v1/incidents/{incident['id']}/history", headers=police.headers).get_json()["items"]
    assert [h["assigned_patrol_id"] for h in history] == [None, other_zone, mine]


def test_duplicate_candidates_are_the_same_kind_near_in_place_and_time_and_still_open(client, make_person):
    police = make_person("police")
    volunteer = make_person("volunteer", zone_id=1)
    now = utcnow()

    def report(metres: float, minutes: float, kind: str = "robbery") -> int:
        lat, lon = near(1, metres)
        body = incident_body(1, lat=lat, lon=lon, kind=kind, occurred_at=(now - timedelta(minutes=minutes)).isoformat())
        return int(post(client, volunteer, body)["id"])

    original = report(0, 10)
    close = report(60, 15)
    closer = report(20, 30)
    too_far = report(400, 10)
    too_early = report(30, 50)
    other_kind = report(10, 10, kind="vandalism")
    closed = report(40, 12)
    assert patch(client, police, closed, status="dismissed").status_code == 200

    found = client.get(f"/api/v1/incidents/{original}/suggestions", headers=police.headers).get_json()
    assert [d["id"] for d in found["duplicates"]] == [closer, close]
    assert found["duplicates"][0]["distance_m"] == pytest.approx(20, abs=2)
    assert found["duplicates"][0]["minutes_apart"] == 20 and found["duplicates"][0]["reporter"] is None
    assert {too_far, too_early, other_kind, closed}.isdisjoint(d["id"] for d in found["duplicates"])

    marked = patch(client, police, original, status="duplicate", duplicate_of=closer)
    assert marked.status_code == 200 and marked.get_json()["duplicate_of"] == closer


# --- the list's filters -------------------------------------------------------------------


def test_filters_by_text_severity_and_open_and_every_sort_pages_without_gaps(client, make_person, session):
    volunteer = make_person("volunteer", zone_id=2)
    police = make_person("police")
    texts = ["Robo de celular en el mercado", "Pelea en la losa", "Robo de MOTO", "Ruido", "Gritos", "Robo 100%"]
    ids = [
        post(client, volunteer, incident_body(2, description=t, severity=1 + n % 3))["id"] for n, t in enumerate(texts)
    ]
    assert patch(client, police, ids[1], status="dismissed").status_code == 200

    def listed(query: str) -> list[int]:
        response = client.get(f"/api/v1/incidents?{query}", headers=police.headers)
        assert response.status_code == 200, response.get_json()
        return [i["id"] for i in response.get_json()["items"]]

    assert listed("q=robo") == [ids[5], ids[2], ids[0]]
    assert listed("q=100%25") == [ids[5]]  # a % is a character, not a wildcard
    assert listed("q=_") == []
    assert listed("severity=3") == [ids[5], ids[2]]
    assert ids[1] not in listed("status=open") and len(listed("status=open")) == 5

    everything = {i.id: i for i in session.exec(select(Incident)).all()}
    for sort, key in (
        ("newest", lambda i: -i),
        ("oldest", lambda i: i),
        ("severity", lambda i: (-everything[i].severity, -i)),
    ):
        pages, cursor = [], None
        while True:
            query = f"sort={sort}&limit=2" + (f"&cursor={cursor}" if cursor else "")
            answer = client.get(f"/api/v1/incidents?{query}", headers=police.headers).get_json()
            pages += [i["id"] for i in answer["items"]]
            cursor = answer["next_cursor"]
            if not cursor:
                break
        assert pages == sorted(everything, key=key), sort

    newest_cursor = client.get("/api/v1/incidents?limit=2", headers=police.headers).get_json()["next_cursor"]
    wrong = client.get(f"/api/v1/incidents?sort=severity&cursor={newest_cursor}", headers=police.headers)
    assert wrong.status_code == 422 and wrong.get_json()["fields"][0]["field"] == "cursor"
    csv_text = client.get("/api/v1/incidents?format=csv&q=robo", headers=police.headers).get_data(as_text=True)
    assert csv_text.count("\n") == 4 and "Pelea" not in csv_text


def test_a_neighbour_cannot_search_descriptions_they_do_not_see(client, make_person):
    neighbour = make_person("neighbor", zone_id=1)
    post(client, make_person("volunteer", zone_id=1), incident_body(1, description="Venta de droga"))
    for query in ("q=droga", "q=droga&format=csv"):
        response = client.get(f"/api/v1/incidents?{query}", headers=neighbour.headers)
        assert response.status_code == 422
        assert response.get_json()["fields"][0]["field"] == "q"


def test_the_patrol_sent_to_an_incident_hears_it_and_hears_when_it_is_taken_off(
    client, app, make_person, make_committee
):
    from security.push import socketio

    police = make_person("police")
    member = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [member])
    first = client.post("/api/v1/patrols", json=patrol_body(committee), headers=member.headers).get_json()["id"]
    second = start_patrol(client, app, make_person, make_committee, 1)
    phone = socketio.test_client(app, auth={"token": member.token, "feed": "mine"})
    reporter = make_person("volunteer", zone_id=1)
    incident = post(client, reporter, incident_body(1, description="Arrebato"))
    patch(client, police, incident["id"], status="acknowledged")
    patch(client, police, incident["id"], status="dispatched", patrol_id=first, note="Por la avenida")
    patch(client, police, incident["id"], status="dispatched", patrol_id=second)  # sent elsewhere after all

    heard = [m["args"][0]["data"] for m in phone.get_received() if m["name"] == "patrol_assignment"]
    assert [(h["assigned_patrol_id"], h["status"]) for h in heard] == [(first, "dispatched"), (second, "dispatched")]
    assert heard[0]["note"] == "Por la avenida" and heard[0]["description"] == "Arrebato"
    assert "reporter" not in heard[0] and reporter.user.username not in str(heard)
    me = client.get("/api/v1/me", headers=member.headers).get_json()
    assert me["active_patrol"]["id"] == first and me["active_patrol"]["assignments"] == []
    phone.disconnect()


@pytest.mark.parametrize(("lang", "expected"), [("es", "«Reportado» a «Resuelto»"), ("en", "“Reported” to “Resolved”")])
def test_a_refused_move_names_the_statuses_in_words_not_codes(client, make_person, lang, expected):
    incident = post(client, make_person("volunteer", zone_id=1), incident_body(1))
    response = client.patch(
        f"/api/v1/incidents/{incident['id']}?lang={lang}", json={"status": "resolved"},
        headers=make_person("police").headers,
    )  # fmt: skip
    body = response.get_json()
    assert response.status_code == 409 and body["current_status"] == "reported"
    assert expected in body["message"] and "resolved" not in body["message"]


def test_what_follows_a_reporter_is_only_in_the_one_incident_opened(client, app, make_person, make_committee):
    member = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [member])
    patrol = client.post("/api/v1/patrols", json=patrol_body(committee), headers=member.headers).get_json()["id"]
    body = incident_body(1, anonymous=True, patrol_id=patrol)
    incident = post(client, member, body)
    police, admin = make_person("police"), make_person("admin")
    for person in (police, admin):
        listed = client.get("/api/v1/incidents", headers=person.headers).get_json()["items"][0]
        logged = client.get("/api/v1/events", headers=person.headers).get_json()["events"][-1]["data"]
        for view in (listed, logged):
            assert "client_id" not in view and view["patrol_id"] is None and view["reporter"] is None
        exported = client.get("/api/v1/incidents?format=geojson", headers=person.headers).get_data(as_text=True)
        assert body["client_id"] not in exported
    opened = client.get(f"/api/v1/incidents/{incident['id']}", headers=admin.headers).get_json()
    assert opened["client_id"] == body["client_id"] and opened["patrol_id"] == patrol
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=police.headers).get_json()["patrol_id"] is None


def test_a_coordinator_learns_how_far_a_patrol_is_not_where_it_is(client, app, make_person, make_committee):
    start_patrol(client, app, make_person, make_committee, 1, at_metres=200)
    incident = post(client, make_person("volunteer", zone_id=1), incident_body(1))
    coordinator, police = make_person("coordinator", zone_id=1), make_person("police")
    theirs = client.get(f"/api/v1/incidents/{incident['id']}/suggestions", headers=coordinator.headers).get_json()
    ours = client.get(f"/api/v1/incidents/{incident['id']}/suggestions", headers=police.headers).get_json()
    assert theirs["patrols"][0]["last_position"] is None and 180 < theirs["patrols"][0]["distance_m"] < 220
    assert ours["patrols"][0]["last_position"]["lat"] > ZONE_POINTS[1][0]


def test_serenazgo_works_incidents_but_does_not_end_a_committees_patrol(client, app, make_person, make_committee):
    patrol = start_patrol(client, app, make_person, make_committee, 1)
    ended = client.post(f"/api/v1/patrols/{patrol}/end", headers=make_person("serenazgo").headers)
    assert ended.status_code == 403


def test_a_cursor_belongs_to_its_sort_order(client, make_person):
    volunteer, police = make_person("volunteer", zone_id=1), make_person("police")
    for _ in range(3):
        post(client, volunteer, incident_body(1))
    for sort, other in (("newest", "oldest"), ("oldest", "newest")):
        cursor = client.get(f"/api/v1/incidents?sort={sort}&limit=1", headers=police.headers).get_json()["next_cursor"]
        wrong = client.get(f"/api/v1/incidents?sort={other}&cursor={cursor}", headers=police.headers)
        assert wrong.status_code == 422 and wrong.get_json()["fields"][0]["field"] == "cursor"


def test_neighbours_never_learn_which_patrol_was_sent(client, app, make_person, make_committee):
    police, neighbour = make_person("police"), make_person("neighbor", zone_id=1)
    first = start_patrol(client, app, make_person, make_committee, 1)
    second = start_patrol(client, app, make_person, make_committee, 1)
    incident = post(client, make_person("volunteer", zone_id=1), incident_body(1))
    patch(client, police, incident["id"], status="acknowledged")
    patch(client, police, incident["id"], status="dispatched", patrol_id=first)
    patch(client, police, incident["id"], status="dispatched", patrol_id=second)
    events = client.get("/api/v1/events", headers=neighbour.headers).get_json()["events"]
    updates = [e["data"] for e in events if e["type"] == "incident_updated"]
    assert len(updates) == 3
    assert all(u["assigned_patrol_id"] is None and "previous_assigned_patrol_id" not in u for u in updates)


def test_the_patrol_already_sent_is_always_among_the_suggestions_while_active(client, app, make_person, make_committee):
    police, coordinator = make_person("police"), make_person("coordinator", zone_id=1)
    elsewhere = start_patrol(client, app, make_person, make_committee, 2)
    for metres in (50, 60, 70, 80, 90):  # five nearer ones of the incident's own zone
        start_patrol(client, app, make_person, make_committee, 1, at_metres=metres)
    incident = post(client, make_person("volunteer", zone_id=1), incident_body(1))
    patch(client, police, incident["id"], status="acknowledged")
    patch(client, police, incident["id"], status="dispatched", patrol_id=elsewhere)
    for person in (police, coordinator):
        found = client.get(f"/api/v1/incidents/{incident['id']}/suggestions", headers=person.headers).get_json()
        assert elsewhere in [p["id"] for p in found["patrols"]] and len(found["patrols"]) == 6
