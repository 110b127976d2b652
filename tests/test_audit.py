"""The audit record: every state change and every showing of a reporter is on it with the right
actor, origin and outcome; it commits with the action or not at all; nothing edits it, and on
PostgreSQL the database itself refuses to."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from sqlalchemy import event, func, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from security.models import AuditEntry, Incident
from tests.conftest import PASSWORD, ZONE_POINTS, incident_body, patrol_body
from tests.test_postgres import fresh_database, pg_admin  # noqa: F401  (`pg_admin` is a fixture)
from zones.database import make_engine, migrate

UA = {"User-Agent": "Ronda-Test/1.0 (Android 9)"}


def entries(session: Session, **where: object) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)  # type: ignore[arg-type]
    for name, value in where.items():
        query = query.where(getattr(AuditEntry, name) == value)
    session.rollback()  # a fresh read: what the app committed since
    return list(session.exec(query).all())


def with_ua(person):
    return {**person.headers, **UA}


def test_an_incidents_life_is_on_the_record_with_who_from_where_and_the_note(client, make_person, session):
    volunteer = make_person("volunteer", zone_id=1)
    police = make_person("police")
    created = client.post("/api/v1/incidents", json=incident_body(1), headers=with_ua(volunteer)).get_json()
    for status, note in (("acknowledged", None), ("dispatched", None), ("resolved", "Detenido en flagrancia")):
        answer = client.patch(
            f"/api/v1/incidents/{created['id']}", json={"status": status, "note": note}, headers=with_ua(police)
        )
        assert answer.status_code == 200

    lines = entries(session, object_type="incident", object_id=str(created["id"]))
    assert [(e.action, e.actor_username, e.actor_role) for e in lines] == [
        ("incident.reported", volunteer.user.username, "volunteer"),
        ("incident.status_changed", police.user.username, "police"),
        ("incident.status_changed", police.user.username, "police"),
        ("incident.status_changed", police.user.username, "police"),
    ]
    assert all(e.ip == "127.0.0.1" and e.user_agent == UA["User-Agent"] and e.outcome == "ok" for e in lines)
    assert all(e.at.utcoffset() is not None and e.at.utcoffset().total_seconds() == 0 for e in lines)
    last = client.get(
        f"/api/v1/audit?object_type=incident&object_id={created['id']}&limit=1", headers=make_person("admin").headers
    ).get_json()["items"][0]
    assert last["detail"] == {
        "from": "dispatched",
        "to": "resolved",
        "note": "Detenido en flagrancia",
        "duplicate_of": None,
        "patrol_id": None,
    }


def test_an_anonymous_report_is_on_the_record_without_who_made_it(client, make_person, session):
    volunteer = make_person("volunteer", zone_id=1)
    anonymous = client.post(
        "/api/v1/incidents", json=incident_body(1, anonymous=True), headers=with_ua(volunteer)
    ).get_json()
    (line,) = entries(session, action="incident.reported", object_id=str(anonymous["id"]))
    assert (line.actor_id, line.actor_username, line.actor_role) == (None, None, "volunteer")
    assert line.ip is None and line.user_agent is None and '"anonymous": true' in (line.detail or "")
    exported = client.get("/api/v1/audit?format=csv", headers=make_person("admin").headers).get_data(as_text=True)
    reports = [line for line in exported.splitlines() if "incident.reported" in line]
    assert len(reports) == 1 and volunteer.user.username not in reports[0] and "127.0.0.1" not in reports[0]
    (read,) = entries(session, action="audit.read")
    assert read.detail == '{"filters": {}, "format": "csv"}'


def test_showing_a_reporter_is_recorded_and_a_view_that_names_nobody_is_not(client, make_person, session):
    volunteer = make_person("volunteer", zone_id=1)
    named = client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers).get_json()
    anonymous = client.post(
        "/api/v1/incidents", json=incident_body(1, anonymous=True), headers=volunteer.headers
    ).get_json()
    police, admin, serenazgo = make_person("police"), make_person("admin"), make_person("serenazgo")

    client.get(f"/api/v1/incidents/{named['id']}", headers=police.headers)
    client.get(f"/api/v1/incidents/{anonymous['id']}", headers=police.headers)  # names nobody
    client.get(f"/api/v1/incidents/{anonymous['id']}", headers=admin.headers)
    client.get(f"/api/v1/incidents/{named['id']}", headers=serenazgo.headers)  # names nobody
    client.get("/api/v1/incidents", headers=police.headers)  # lists name nobody

    shown = entries(session, action="incident.reporter_viewed")
    assert [(e.actor_username, e.object_id) for e in shown] == [
        (police.user.username, str(named["id"])),
        (admin.user.username, str(anonymous["id"])),
    ]
    assert [e.detail for e in shown][1] == f'{{"reporter_id": {volunteer.user.id}, "anonymous": true}}'


def test_alarms_patrols_committees_users_and_devices_are_on_the_record(
    client, runner, make_person, make_committee, session
):
    neighbour = make_person("neighbor", zone_id=1)
    police = make_person("police")
    lat, lon = ZONE_POINTS[1]
    press = {"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon}
    alarm = client.post("/api/v1/alarms", json=press, headers=neighbour.headers).get_json()
    client.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", headers=police.headers)
    client.post(f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "false_alarm", "note": "Niños"},
                headers=police.headers)  # fmt: skip
    assert [(e.action, e.actor_role) for e in entries(session, object_type="alarm")] == [
        ("alarm.raised", "neighbor"),
        ("alarm.acknowledged", "police"),
        ("alarm.resolved", "police"),
    ]

    coordinator = make_person("coordinator", zone_id=1)
    volunteer = make_person("volunteer", zone_id=1)
    committee = client.post("/api/v1/committees", json={"name": "Comité Las Flores", "zone_id": 1},
                            headers=coordinator.headers).get_json()  # fmt: skip
    client.post(f"/api/v1/committees/{committee['id']}/members", json={"user_id": volunteer.user.id},
                headers=coordinator.headers)  # fmt: skip
    patrol = client.post("/api/v1/patrols", json=patrol_body(committee["id"]), headers=volunteer.headers).get_json()
    client.post(f"/api/v1/patrols/{patrol['id']}/end", headers=volunteer.headers)
    client.delete(f"/api/v1/committees/{committee['id']}/members/{volunteer.user.id}", headers=coordinator.headers)
    lines = entries(session, object_type="committee", object_id=str(committee["id"]))
    assert [(e.action, e.actor_username) for e in lines] == [
        ("committee.created", coordinator.user.username),
        ("committee.member_added", coordinator.user.username),
        ("committee.member_removed", coordinator.user.username),
    ]
    assert [e.action for e in entries(session, object_type="patrol")] == ["patrol.started", "patrol.ended"]
    tracker = client.post("/api/v1/trackers", json={}, headers=volunteer.headers).get_json()
    (linked,) = entries(session, action="tracker.registered")
    assert (linked.actor_id, linked.object_id) == (volunteer.user.id, str(volunteer.user.id))
    assert tracker["device_id"] not in (linked.detail or "")  # its only secret stays out of the record

    result = runner.invoke(args=["users", "create", "nuevo", "--role", "serenazgo", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    created = entries(session, action="user.created")[-1]
    assert created.actor_id is None and '"role": "serenazgo"' in (created.detail or "")
    assert runner.invoke(args=["devices", "key", "1"]).exit_code == 0
    assert entries(session, action="device.key_issued")[-1].object_id == "1"


def test_failed_sign_ins_and_refusals_are_recorded_on_the_account_tried(client, make_person, session):
    volunteer = make_person("volunteer", zone_id=1, username="maria")
    client.post("/api/v1/auth/token", json={"username": "maria", "password": "mal"}, headers=UA)
    for _ in range(2):  # a password typed in the username box is not kept, but repeats are visible
        client.post("/api/v1/auth/token", json={"username": "MiClave2026", "password": "mal"}, headers=UA)
    client.post("/api/v1/auth/token", json={"username": "maria", "password": PASSWORD}, headers=UA)
    signs = entries(session, action="auth.sign_in")
    assert [(e.outcome, e.actor_id, e.object_id) for e in signs] == [
        ("failed", None, str(volunteer.user.id)),
        ("failed", None, None),
        ("failed", None, None),
        ("ok", volunteer.user.id, str(volunteer.user.id)),
    ]
    assert signs[0].detail == '{"username": "maria", "via": "api"}'
    assert "MiClave" not in (signs[1].detail or "") and signs[1].detail == signs[2].detail
    admin = make_person("admin")
    on_maria = client.get("/api/v1/audit?user=maria&action=auth.sign_in", headers=admin.headers).get_json()["items"]
    assert [e["outcome"] for e in on_maria] == ["ok", "failed"]

    page = client.get("/entrar")
    csrf = page.get_data(as_text=True).split('name="csrf" value="')[1].split('"')[0]
    client.post("/entrar", data={"csrf": csrf, "username": "maria", "password": "otra-mal"})
    assert entries(session, action="auth.sign_in")[-1].detail == '{"username": "maria", "via": "web"}'

    other = client.post("/api/v1/incidents", json=incident_body(2), headers=make_person("police").headers).get_json()
    refused = client.patch(f"/api/v1/incidents/{other['id']}", json={"status": "acknowledged"},
                           headers=volunteer.headers)  # fmt: skip
    assert refused.status_code == 404  # another zone's: answered like a missing one, recorded all the same
    denied = entries(session, action="access.denied")
    assert len(denied) == 1 and denied[0].outcome == "denied" and denied[0].actor_username == "maria"
    assert (denied[0].object_type, denied[0].object_id) == ("incident", str(other["id"]))
    assert client.get("/api/v1/audit", headers=volunteer.headers).status_code == 403
    lat, lon = ZONE_POINTS[2]
    batch = {"operations": [{"op": "alarm", "client_id": str(uuid.uuid4()), "at": "2026-12-01T10:00:00-05:00",
                             "data": {"source": "app", "lat": lat, "lon": lon}}]}  # fmt: skip
    assert client.post("/api/v1/sync", json=batch, headers=volunteer.headers).get_json()["rejected"] == 1
    denied = entries(session, action="access.denied")
    assert len(denied) == 3 and '"op": "alarm"' in (denied[-1].detail or "")


def test_an_action_and_its_record_commit_together_or_not_at_all(client, make_person, session, monkeypatch):
    volunteer = make_person("volunteer", zone_id=1)
    police = make_person("police")
    kept = client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers).get_json()

    from security import audit

    def broken(**_kwargs):
        raise RuntimeError("the record's disk is full")

    monkeypatch.setattr(audit, "record", broken)
    lost = client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers)
    moved = client.patch(f"/api/v1/incidents/{kept['id']}", json={"status": "acknowledged"}, headers=police.headers)
    assert lost.status_code == 500 and moved.status_code == 500
    monkeypatch.undo()

    session.rollback()
    assert session.exec(select(func.count()).select_from(Incident)).one() == 1
    assert session.get(Incident, kept["id"]).status == "reported"
    assert len(entries(session, action="incident.status_changed")) == 0
    # Refused (409): nothing changed, so nothing is on the record as done.
    client.patch(f"/api/v1/incidents/{kept['id']}", json={"status": "resolved"}, headers=police.headers)
    assert len(entries(session, action="incident.status_changed")) == 0


def test_admins_read_the_record_filtered_paged_and_as_csv(client, make_person):
    admin = make_person("admin")
    police = make_person("police", username="=cmd|calc")
    volunteer = make_person("volunteer", zone_id=1)
    ids = [client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers).get_json()["id"]
           for _ in range(3)]  # fmt: skip
    for incident_id in ids:
        client.patch(f"/api/v1/incidents/{incident_id}", json={"status": "acknowledged"}, headers=police.headers)

    seen, cursor = [], None
    while True:
        query = "/api/v1/audit?action=incident.status_changed&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=admin.headers).get_json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [e["object_id"] for e in seen] == [str(i) for i in reversed(ids)]
    assert {e["actor_username"] for e in seen} == {"=cmd|calc"}
    by_user = client.get(f"/api/v1/audit?user={volunteer.user.username}", headers=admin.headers).get_json()["items"]
    assert {e["action"] for e in by_user} == {"incident.reported", "user.created"}  # by them, and to them
    assert client.get("/api/v1/audit?action=nada", headers=admin.headers).status_code == 422
    assert client.get("/api/v1/audit?since=ayer", headers=admin.headers).status_code == 422

    exported = client.get("/api/v1/audit?format=csv&action=incident.status_changed", headers=admin.headers)
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 3 and {r["actor_username"] for r in rows} == {"'=cmd|calc"}  # not a formula


def test_the_app_never_updates_or_deletes_a_line_of_the_record_on_sqlite(
    app, client, make_person, make_committee, runner
):
    statements: list[str] = []
    engine = app.extensions["ronda"].engine

    def spy(_conn, _cursor, statement, *_args):
        statements.append(statement.lower())

    event.listen(engine, "before_cursor_execute", spy)
    try:
        volunteer = make_person("volunteer", zone_id=1)
        police = make_person("police")
        committee = make_committee(1, [volunteer])
        created = client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers).get_json()
        for status in ("acknowledged", "dispatched", "resolved"):
            client.patch(f"/api/v1/incidents/{created['id']}", json={"status": status}, headers=police.headers)
        patrol = client.post("/api/v1/patrols", json=patrol_body(committee), headers=volunteer.headers).get_json()
        client.post(f"/api/v1/patrols/{patrol['id']}/end", headers=volunteer.headers)
        client.get(f"/api/v1/incidents/{created['id']}", headers=police.headers)
        client.post("/api/v1/auth/token", json={"username": "x", "password": "y"})
        assert runner.invoke(args=["devices", "key", "2"]).exit_code == 0
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert any(s.startswith("insert into auditentry") for s in statements)
    assert not [s for s in statements if s.startswith(("update auditentry", "delete from auditentry"))]


def test_sqlite_refuses_to_update_or_delete_a_line_of_the_record(app, session):
    session.add(AuditEntry(action="auth.sign_in", outcome="failed"))
    session.commit()
    engine = app.extensions["ronda"].engine
    for statement in ("UPDATE auditentry SET outcome = 'ok'", "DELETE FROM auditentry"):
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    assert session.exec(select(func.count()).select_from(AuditEntry)).one() > 0


@pytest.mark.postgres
def test_postgresql_refuses_to_update_delete_or_truncate_the_record(pg_admin):  # noqa: F811
    with fresh_database(pg_admin) as url:
        engine = make_engine(url)
        try:
            migrate(engine)
            with Session(engine) as session:
                session.add(AuditEntry(action="auth.sign_in", outcome="failed"))
                session.commit()
            for statement in (
                "UPDATE auditentry SET outcome = 'ok'",
                "DELETE FROM auditentry",
                "TRUNCATE auditentry",
            ):
                with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
                    connection.execute(text(statement))
            with engine.connect() as connection:
                assert connection.execute(text("SELECT outcome FROM auditentry")).scalars().all() == ["failed"]
        finally:
            engine.dispose()


@pytest.mark.live
def test_sign_ins_and_openings_written_at_once_with_reports_never_fail(live_server, make_person):
    """The lines that go with no change (a sign-in, a reporter shown) are written apart: on SQLite a
    request that read and then wrote would fail at once whenever another writer got in between."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    make_person("police", username="comisaria")
    volunteer = make_person("volunteer", zone_id=1)
    first = requests.post(
        f"{live_server.url}/api/v1/incidents", json=incident_body(1), headers=volunteer.headers, timeout=10
    ).json()
    police = {"Authorization": f"Bearer {live_server.token('comisaria')}"}

    def sign_in(_n: int) -> int:
        body = {"username": "comisaria", "password": PASSWORD}
        return requests.post(f"{live_server.url}/api/v1/auth/token", json=body, timeout=20).status_code

    def open_one(_n: int) -> int:
        return requests.get(f"{live_server.url}/api/v1/incidents/{first['id']}", headers=police, timeout=20).status_code

    def report(_n: int) -> int:
        answer = requests.post(
            f"{live_server.url}/api/v1/incidents", json=incident_body(1), headers=volunteer.headers, timeout=20
        )
        return answer.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [pool.submit(job, n) for n in range(8) for job in (sign_in, open_one, report)]
        codes = sorted(f.result() for f in futures)
    assert codes == [200] * 16 + [201] * 8, live_server.log()[-2000:]
