"""Nobody learns from an answer what they may not know: another zone's incident, alarm, patrol or
committee answers exactly like one that does not exist, and no answer tells a caller who may not
know it whether a username or a user id exists. The refusals are still on the audit record."""

from __future__ import annotations

import re
import uuid

from sqlmodel import select

from security.models import AuditEntry
from tests.conftest import ZONE_POINTS, incident_body, patrol_body
from tests.test_alarms import alarm_body
from zones.database import utcnow

MISSING = 2_000_000


def _same(first, second, *, real_id: int) -> None:
    """Two answers a caller cannot tell apart (but for the id they asked about)."""
    assert (first.status_code, second.status_code) == (404, 404), (first.get_json(), second.get_json())
    expected = second.get_json()
    expected["message"] = expected["message"].replace(str(MISSING), str(real_id))
    assert first.get_json() == expected
    assert first.headers.get("Content-Type") == second.headers.get("Content-Type")


def test_another_zones_things_answer_like_missing_ones(client, make_person, make_committee, session):
    reporter = make_person("volunteer", zone_id=1)
    stranger = make_person("coordinator", zone_id=2)
    incident = client.post("/api/v1/incidents", json=incident_body(1), headers=reporter.headers).get_json()
    alarm = client.post("/api/v1/alarms", json=alarm_body(1), headers=reporter.headers).get_json()
    committee = make_committee(1, [reporter])
    patrol = client.post("/api/v1/patrols", json=patrol_body(committee, [reporter]), headers=reporter.headers)
    patrol_id = patrol.get_json()["id"]
    point = {"t": utcnow().isoformat(), "lat": ZONE_POINTS[1][0], "lon": ZONE_POINTS[1][1]}

    asks = [
        ("GET", "/api/v1/incidents/{}", incident["id"], None),
        ("GET", "/api/v1/incidents/{}/history", incident["id"], None),
        ("GET", "/api/v1/incidents/{}/suggestions", incident["id"], None),
        ("PATCH", "/api/v1/incidents/{}", incident["id"], {"status": "acknowledged"}),
        ("GET", "/api/v1/alarms/{}", alarm["id"], None),
        ("POST", "/api/v1/alarms/{}/resolve", alarm["id"], {"outcome": "real"}),
        ("GET", "/api/v1/patrols/{}", patrol_id, None),
        ("POST", "/api/v1/patrols/{}/end", patrol_id, None),
        ("POST", "/api/v1/patrols/{}/positions", patrol_id, {"positions": [point]}),
        ("GET", "/api/v1/committees/{}", committee, None),
        ("POST", "/api/v1/committees/{}/members", committee, {"username": "alguien"}),
    ]
    for method, path, real_id, body in asks:
        kwargs = {"headers": stranger.headers, **({"json": body} if body is not None else {})}
        real = client.open(path.format(real_id), method=method, **kwargs)
        missing = client.open(path.format(MISSING), method=method, **kwargs)
        _same(real, missing, real_id=real_id)

    # The page of an incident too.
    denied = session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert {(e.object_type, e.object_id) for e in denied} >= {
        ("incident", str(incident["id"])), ("alarm", str(alarm["id"])), ("patrol", str(patrol_id)),
        ("committee", str(committee)),
    }  # fmt: skip


def test_a_neighbour_cannot_tell_whether_a_username_or_a_user_id_exists(client, make_person, make_committee):
    neighbour = make_person("neighbor", zone_id=1)
    real = make_person("volunteer", zone_id=1, username="juanperez")
    committee = make_committee(1, [])
    url = f"/api/v1/committees/{committee}/members"
    existing = client.post(url, json={"username": "juanperez"}, headers=neighbour.headers)
    unknown = client.post(url, json={"username": "no-existe-nadie"}, headers=neighbour.headers)
    assert existing.status_code == unknown.status_code == 403
    assert existing.get_json() == unknown.get_json()
    by_id = client.post(url, json={"user_id": real.user.id}, headers=neighbour.headers)
    by_missing_id = client.post(url, json={"user_id": MISSING}, headers=neighbour.headers)
    assert by_id.get_json() == by_missing_id.get_json() and by_id.status_code == 403

    tracker = client.post("/api/v1/trackers", json={"user_id": real.user.id}, headers=neighbour.headers)
    no_tracker = client.post("/api/v1/trackers", json={"user_id": MISSING}, headers=neighbour.headers)
    assert tracker.status_code == no_tracker.status_code == 403
    assert tracker.get_json() == no_tracker.get_json()


def test_a_coordinator_cannot_tell_another_zones_people_from_nobody(client, make_person, make_committee):
    coordinator = make_person("coordinator", zone_id=1)
    elsewhere = make_person("volunteer", zone_id=2, username="de-otra-zona")
    neighbour = make_person("neighbor", zone_id=1, username="vecino-de-aqui")
    committee = make_committee(1, [coordinator])
    url = f"/api/v1/committees/{committee}/members"
    answers = [
        client.post(url, json={"username": name}, headers=coordinator.headers)
        for name in ("de-otra-zona", "vecino-de-aqui", "no-existe-nadie")
    ]
    assert {a.status_code for a in answers} == {422}
    assert answers[0].get_json() == answers[1].get_json() == answers[2].get_json()
    by_ids = [client.post(url, json={"user_id": uid}, headers=coordinator.headers)
              for uid in (elsewhere.user.id, neighbour.user.id, MISSING)]  # fmt: skip
    assert by_ids[0].get_json() == by_ids[1].get_json() == by_ids[2].get_json()

    trackers = [client.post("/api/v1/trackers", json={"user_id": uid}, headers=coordinator.headers)
                for uid in (elsewhere.user.id, neighbour.user.id, MISSING)]  # fmt: skip
    assert {t.status_code for t in trackers} == {422}
    assert trackers[0].get_json() == trackers[1].get_json() == trackers[2].get_json()

    # Their own zone's volunteers still join.
    local = make_person("volunteer", zone_id=1, username="de-aqui")
    assert client.post(url, json={"username": "de-aqui"}, headers=coordinator.headers).status_code == 201
    assert local.user.id


def test_the_incident_page_of_another_zone_looks_like_a_missing_one(app, make_person):
    reporter = make_person("volunteer", zone_id=1)
    client = app.test_client()
    incident = client.post("/api/v1/incidents", json=incident_body(1), headers=reporter.headers).get_json()
    make_person("coordinator", zone_id=2, username="rosa")
    from tests.test_sessions import _sign_in

    _sign_in(client, "rosa")
    real = client.get(f"/incidentes/{incident['id']}")
    missing = client.get(f"/incidentes/{MISSING}")
    assert real.status_code == missing.status_code == 404
    def page(answer, number: int) -> str:  # the id asked about and the per-request nonces aside
        text = re.sub(r'nonce="[^"]*"', "", answer.get_data(as_text=True))
        return re.sub(rf"\b{number}\b", "N", text.split("<main", 1)[1])

    assert page(real, incident["id"]) == page(missing, MISSING)


def test_another_zones_committee_or_alarm_device_in_a_body_answers_like_a_missing_one(
    client, make_person, make_committee, session
):
    from security.models import AlarmDevice

    volunteer = make_person("volunteer", zone_id=2)
    committee = make_committee(1, [make_person("volunteer", zone_id=1)])
    started = [client.post("/api/v1/patrols", json=patrol_body(cid), headers=volunteer.headers)
               for cid in (committee, MISSING)]  # fmt: skip
    assert started[0].status_code == started[1].status_code == 422
    assert started[0].get_json()["fields"][0]["field"] == "committee_id"
    assert started[0].get_json()["fields"][0]["problem"].replace(str(committee), "N") == started[1].get_json()[
        "fields"
    ][0]["problem"].replace(str(MISSING), "N")

    device = session.exec(select(AlarmDevice).where(AlarmDevice.zone_id == 1)).first()
    pressed = [client.post("/api/v1/alarms", json={"client_id": str(uuid.uuid4()), "source": "app", "device_id": did},
                           headers=volunteer.headers) for did in (device.id, MISSING)]  # fmt: skip
    assert pressed[0].status_code == pressed[1].status_code == 422
    assert pressed[0].get_json()["fields"][0]["field"] == pressed[1].get_json()["fields"][0]["field"] == "device_id"
    session.rollback()  # a fresh snapshot: the device was read above
    denied = session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert len(denied) == 2  # both refusals are on the record, though they look like missing ids


def test_pages_answer_errors_in_spanish_and_admin_addresses_look_like_missing_ones(app, make_person):
    from tests.test_sessions import _sign_in

    make_person("coordinator", zone_id=2, username="rosa")
    client = app.test_client()
    anonymous = client.get("/no-existe")
    assert anonymous.status_code == 404 and "No existe esa página." in anonymous.get_data(as_text=True)
    _sign_in(client, "rosa")

    def page(path: str) -> str:
        answer = client.get(path)
        assert answer.status_code == 404
        return re.sub(r'nonce="[^"]*"|next=[^"&]*', "", answer.get_data(as_text=True))

    assert page("/admin/usuarios") == page("/admin/no-existe") == page("/no-existe")
    for path in ("/salir", "/cuenta/clave", "/cuenta/cerrar-sesiones"):
        for form in ({}, {"csrf": "ñandú-ü"}):
            refused = client.post(path, data=form)
            assert refused.status_code == 400, path
            text = refused.get_data(as_text=True)
            assert "El formulario caducó" in text and "Bad Request" not in text
