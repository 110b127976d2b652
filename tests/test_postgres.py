"""Ronda on PostgreSQL, the deployment database: the demo loads, the API behaves as on SQLite,
timestamps stay timezone-aware, and concurrent phones neither lose nor duplicate anything.

Each test gets its own database, copied from a template migrated once (the `db_url` fixture
below overrides conftest's, so `app`, `client`, `make_person` and `live_server` run on it).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from app import create_app
from security.models import Alarm, AlarmDevice, Event, Incident
from tests.conftest import PG_URL, TEST_SECRET, ZONE_POINTS, incident_body, service_or_skip
from tests.test_live_push import about, connect, report  # noqa: F401  (`connect` is a fixture)
from zones.models import Block, Zone

pytestmark = pytest.mark.postgres


def _reachable() -> None:
    engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """A connection to the server's maintenance database, for creating and dropping databases."""
    service_or_skip("PostgreSQL", _reachable)
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@contextmanager
def fresh_database(admin: Engine, *, template: str | None = None) -> Iterator[str]:
    """A new database (empty, or a copy of `template`), dropped afterwards; yields its URL."""
    name = f"ronda_t_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def build_app(url: str) -> Any:
    return create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": TEST_SECRET, "SOCKETIO_MESSAGE_QUEUE": None})


@pytest.fixture(scope="session")
def pg_template(pg_admin: Engine) -> Iterator[str]:
    """A database migrated with Alembic and loaded with the demo district, once per session."""
    with fresh_database(pg_admin) as url:
        build_app(url).extensions["ronda"].engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it idle
        yield str(make_url(url).database)


@pytest.fixture
def db_url(pg_admin: Engine, pg_template: str) -> Iterator[str]:
    with fresh_database(pg_admin, template=pg_template) as url:
        yield url


def police_events(client, police, since: int = 0) -> list[dict[str, Any]]:
    page = client.get(f"/api/v1/events?since={since}&limit=1000", headers=police.headers).get_json()
    assert page["has_more"] is False
    return page["events"]


def alarm_body(zone_id: int = 1) -> dict[str, Any]:
    lat, lon = ZONE_POINTS[zone_id]
    return {"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon}


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; their results, in order (errors re-raised)."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [f.result(timeout=120) for f in futures]


# --- the schema and the demo ------------------------------------------------------------


def test_an_empty_database_is_migrated_and_gets_the_demo_district(pg_admin):
    with fresh_database(pg_admin) as url:
        app = build_app(url)
        engine = app.extensions["ronda"].engine
        try:
            zones = app.test_client().get("/api/v1/zones").get_json()
            assert len(zones["features"]) == 7
            names = {f["properties"]["name"] for f in zones["features"]}
            assert {"Nueva Esperanza", "Cercado", "Nuevo Milenio"} <= names
            with Session(engine) as session:
                assert session.exec(select(func.count()).select_from(Zone)).one() == 7
                assert session.exec(select(func.count()).select_from(Block)).one() > 1000
                assert session.exec(select(func.count()).select_from(AlarmDevice)).one() > 300
            for zone_id, (lat, lon) in ZONE_POINTS.items():
                assert app.extensions["ronda"].index.locate(lat=lat, lon=lon).zone_id == zone_id
            # A second start on the same database migrates nothing and loads nothing twice.
            again = build_app(url)
            try:
                assert len(again.test_client().get("/api/v1/zones").get_json()["features"]) == 7
            finally:
                again.extensions["ronda"].engine.dispose()
        finally:
            engine.dispose()


# --- the API on PostgreSQL ---------------------------------------------------------------


def test_a_report_is_stored_once_even_when_retried(client, make_person):
    volunteer = make_person("volunteer", zone_id=3)
    body = incident_body(3, description="Señora asaltada en la esquina de la Av. Pachacútec — «urgente»")
    first = client.post("/api/v1/incidents", json=body, headers=volunteer.headers)
    retry = client.post("/api/v1/incidents", json=body, headers=volunteer.headers)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.get_json()["id"] == first.get_json()["id"]
    stored = client.get(f"/api/v1/incidents/{first.get_json()['id']}", headers=volunteer.headers).get_json()
    assert stored["description"] == body["description"]
    assert (stored["lat"], stored["lon"]) == (body["lat"], body["lon"]) and stored["zone_id"] == 3
    police = make_person("police")
    assert [e["type"] for e in police_events(client, police)] == ["incident_reported"]


def test_an_incident_moves_through_its_statuses_and_refuses_illegal_moves(client, make_person):
    volunteer, police = make_person("volunteer", zone_id=1), make_person("police")
    incident_id = client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers).get_json()["id"]
    path = f"/api/v1/incidents/{incident_id}"

    skipped = client.patch(path, json={"status": "resolved"}, headers=police.headers)
    assert skipped.status_code == 409
    assert skipped.get_json()["current_status"] == "reported"
    assert set(skipped.get_json()["allowed"]) == {"acknowledged", "dismissed", "duplicate"}

    for status in ("acknowledged", "dispatched", "resolved"):
        response = client.patch(path, json={"status": status}, headers=police.headers)
        assert response.status_code == 200 and response.get_json()["status"] == status
    final = client.get(path, headers=police.headers).get_json()
    assert final["acknowledged_at"] is not None and final["closed_at"] is not None

    reopened = client.patch(path, json={"status": "acknowledged"}, headers=police.headers)
    assert reopened.status_code == 409 and reopened.get_json()["current_status"] == "resolved"
    updates = [e["data"]["status"] for e in police_events(client, police) if e["type"] == "incident_updated"]
    assert updates == ["acknowledged", "dispatched", "resolved"]


def test_a_block_alarm_is_raised_pooled_and_acknowledged(client, make_person):
    first, second = make_person("neighbor", zone_id=2), make_person("neighbor", zone_id=2)
    police = make_person("police")
    raised = client.post("/api/v1/alarms", json=alarm_body(2), headers=first.headers)
    assert raised.status_code == 201
    alarm = raised.get_json()
    pooled = client.post("/api/v1/alarms", json=alarm_body(2), headers=second.headers)
    assert pooled.status_code == 200
    assert pooled.get_json()["id"] == alarm["id"] and pooled.get_json()["trigger_count"] == 2

    acknowledged = client.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", headers=police.headers)
    assert acknowledged.status_code == 200 and acknowledged.get_json()["status"] == "acknowledged"
    assert acknowledged.get_json()["acknowledged_by"]["id"] == police.user.id
    active = client.get("/api/v1/alarms", headers=first.headers).get_json()
    assert [(a["id"], a["status"], a["trigger_count"]) for a in active] == [(alarm["id"], "acknowledged", 2)]
    assert [e["type"] for e in police_events(client, police)] == ["alarm_raised", "alarm_acknowledged"]


def test_events_since_a_seq_come_in_increasing_order(client, make_person):
    volunteer, police = make_person("volunteer", zone_id=1), make_person("police")
    for _ in range(3):
        reported = client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers)
        incident_id = reported.get_json()["id"]
        client.patch(f"/api/v1/incidents/{incident_id}", json={"status": "acknowledged"}, headers=police.headers)
    everything = police_events(client, police)
    seqs = [e["seq"] for e in everything]
    assert len(seqs) == 6 and all(a < b for a, b in pairwise(seqs))

    later = police_events(client, police, since=seqs[2])
    assert [e["seq"] for e in later] == seqs[3:]
    page = client.get(f"/api/v1/events?since={seqs[-1]}", headers=police.headers).get_json()
    assert page == {"events": [], "last_seq": seqs[-1], "has_more": False}


def test_timestamps_come_back_timezone_aware(client, make_person, session):
    volunteer, police = make_person("volunteer", zone_id=1), make_person("police")
    incident = client.post(
        "/api/v1/incidents", json=incident_body(1, occurred_at="2026-03-01T22:30:00"), headers=volunteer.headers
    ).get_json()
    client.patch(f"/api/v1/incidents/{incident['id']}", json={"status": "acknowledged"}, headers=police.headers)

    shown = client.get(f"/api/v1/incidents/{incident['id']}", headers=police.headers).get_json()
    for field in ("occurred_at", "reported_at", "updated_at", "acknowledged_at"):
        assert datetime.fromisoformat(shown[field]).utcoffset() == timedelta(0), field
    # Without an offset the phone's time is Lima's (UTC-5).
    assert shown["occurred_at"] == "2026-03-02T03:30:00+00:00"
    for event in police_events(client, police):
        assert datetime.fromisoformat(event["at"]).utcoffset() == timedelta(0)

    stored = session.get(Incident, incident["id"])
    assert stored.reported_at.utcoffset() == timedelta(0) and stored.occurred_at.utcoffset() == timedelta(0)
    column_types = session.execute(
        text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'"
        )
    ).all()
    assert column_types and {t for _, _, t in column_types} == {"timestamp with time zone"}


# --- concurrent phones ----------------------------------------------------------------------


def report_concurrently(app, volunteers, *, each: int) -> dict[int, list[int]]:
    """Every volunteer's phone reports `each` incidents, all phones at once; ids by reporter."""

    def phone(volunteer) -> list[int]:
        client, ids = app.test_client(), []
        for _ in range(each):
            response = client.post(
                "/api/v1/incidents", json=incident_body(volunteer.user.zone_id), headers=volunteer.headers
            )
            assert response.status_code == 201, response.get_json()
            ids.append(response.get_json()["id"])
        return ids

    results = at_once([partial(phone, v) for v in volunteers])
    return {volunteer.user.id: ids for volunteer, ids in zip(volunteers, results, strict=True)}


def test_eighty_concurrent_reports_give_eighty_events_in_order(app, make_person):
    volunteers = [make_person("volunteer", zone_id=1 + n % 4) for n in range(8)]
    police = make_person("police")

    posted = report_concurrently(app, volunteers, each=10)

    client = app.test_client()
    events = police_events(client, police)
    assert len(events) == 80 and {e["type"] for e in events} == {"incident_reported"}
    seqs = [e["seq"] for e in events]
    assert all(a < b for a, b in pairwise(seqs))
    assert sorted(e["data"]["id"] for e in events) == sorted(i for ids in posted.values() for i in ids)
    assert len(client.get("/api/v1/incidents?limit=500", headers=police.headers).get_json()["items"]) == 80
    # Each phone's reports appear in the log in the order the phone sent them.
    reporter_of = {i: reporter_id for reporter_id, ids in posted.items() for i in ids}
    for reporter_id, ids in posted.items():
        assert [e["data"]["id"] for e in events if reporter_of[e["data"]["id"]] == reporter_id] == ids


def test_a_dashboard_following_the_log_during_concurrent_reports_misses_none(app, make_person):
    volunteers = [make_person("volunteer", zone_id=1 + n % 4) for n in range(8)]
    police = make_person("police")
    done = threading.Event()

    def follow() -> list[int]:
        """Poll events?since=<the last_seq the previous answer gave>, as a dashboard catches up."""
        client, cursor, heard = app.test_client(), 0, []
        while True:
            finished = done.is_set()
            page = client.get(f"/api/v1/events?since={cursor}", headers=police.headers).get_json()
            heard += [e["seq"] for e in page["events"]]
            cursor = page["last_seq"]
            if finished and not page["has_more"]:
                return heard

    with ThreadPoolExecutor(max_workers=1) as background:
        following = background.submit(follow)
        try:
            report_concurrently(app, volunteers, each=10)
        finally:
            done.set()
        followed = following.result(timeout=60)

    everything = [e["seq"] for e in police_events(app.test_client(), police)]
    assert len(everything) == 80
    assert sorted(set(everything) - set(followed)) == [], "events the dashboard never received"
    assert followed == everything


def test_a_report_committed_while_a_dashboard_reads_the_log_is_not_skipped(app, client, make_person, monkeypatch):
    """The same race, made to happen every time: a report commits just after the log was read."""
    import security.api

    volunteer, police = make_person("volunteer", zone_id=1), make_person("police")
    read_log = security.api.events_since

    def read_then_a_report_commits(**kwargs: Any) -> Any:
        result = read_log(**kwargs)
        with ThreadPoolExecutor(max_workers=1) as phone:  # another request, on another thread
            response = phone.submit(
                lambda: app.test_client().post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers)
            ).result(timeout=30)
        assert response.status_code == 201
        return result

    monkeypatch.setattr(security.api, "events_since", read_then_a_report_commits)
    first = client.get("/api/v1/events?since=0", headers=police.headers).get_json()
    monkeypatch.undo()
    second = client.get(f"/api/v1/events?since={first['last_seq']}", headers=police.headers).get_json()
    assert [e["type"] for e in first["events"] + second["events"]] == ["incident_reported"], (first, second)


def test_two_presses_of_one_block_at_once_raise_one_alarm(client, app, make_person):
    first, second = make_person("neighbor", zone_id=1), make_person("neighbor", zone_id=1)
    police = make_person("police")

    def press(neighbour) -> tuple[int, dict[str, Any]]:
        response = app.test_client().post("/api/v1/alarms", json=alarm_body(1), headers=neighbour.headers)
        return response.status_code, response.get_json()

    for _ in range(5):  # a race lost once in a while is still lost: try it several times
        (status_1, alarm_1), (status_2, alarm_2) = at_once([partial(press, first), partial(press, second)])
        assert sorted([status_1, status_2]) == [200, 201], (alarm_1, alarm_2)
        assert alarm_1["id"] == alarm_2["id"]
        active = client.get("/api/v1/alarms?zone_id=1", headers=police.headers).get_json()
        assert [(a["id"], a["trigger_count"]) for a in active] == [(alarm_1["id"], 2)]
        raised = [e for e in police_events(client, police) if e["type"] == "alarm_raised"]
        assert [e["data"]["id"] for e in raised if e["data"]["id"] == alarm_1["id"]] == [alarm_1["id"]]
        resolved = client.post(
            f"/api/v1/alarms/{alarm_1['id']}/resolve", json={"outcome": "false_alarm"}, headers=police.headers
        )
        assert resolved.status_code == 200  # frees the block for the next round


def test_every_press_of_a_busy_block_is_counted(app, make_person, session):
    """Six neighbours press at once: one alarm, and it says six people pressed it."""
    neighbours = [make_person("neighbor", zone_id=1) for _ in range(6)]

    def press(neighbour) -> tuple[int, int]:
        response = app.test_client().post("/api/v1/alarms", json=alarm_body(1), headers=neighbour.headers)
        return response.status_code, response.get_json().get("id")

    answers = at_once([partial(press, n) for n in neighbours])
    assert sorted(status for status, _ in answers) == [200] * 5 + [201], answers
    assert len({alarm_id for _, alarm_id in answers}) == 1
    alarms = session.exec(select(Alarm)).all()
    assert [a.trigger_count for a in alarms] == [6]
    assert session.exec(select(func.count()).select_from(Event).where(Event.type == "alarm_raised")).one() == 1


# --- live push with PostgreSQL behind the server -----------------------------------------------


@pytest.mark.live
def test_a_live_server_on_postgresql_pushes_a_report(live_server, make_person, connect):  # noqa: F811
    assert live_server.db_url.startswith("postgresql")
    police = connect(live_server, make_person("police").token)
    sent = time.monotonic()
    incident = report(live_server, make_person("volunteer", zone_id=4), 4)
    heard = police.wait_for("incident_reported", deadline=sent + 1.0, match=about(incident["id"]))
    assert heard["zone_id"] == 4 and heard["data"]["status"] == "reported"


def test_history_import_and_trends_on_postgresql(app, client, runner, make_person, tmp_path):
    """The COPY-based import, its idempotency, the roll-ups and the trends, on PostgreSQL."""
    from tests.test_history import CSV_TEXT

    path = tmp_path / "historial.csv"
    path.write_text(CSV_TEXT + "\n")
    first = runner.invoke(args=["incidents", "import", str(path)])
    assert "Read 8 rows: 2 added, 0 already present, 6 refused." in first.output, first.output
    second = runner.invoke(args=["incidents", "import", str(path)])
    assert "0 added, 2 already present" in second.output
    police = make_person("police")
    figures = client.get("/api/v1/trends?from=2025-06&to=2025-06", headers=police.headers).get_json()
    assert figures["incidents"]["by_kind"] == {"assault": 1, "robbery": 1}
    assert figures["incidents"]["resolved"] == 2
    assert figures["last_month_by_zone"] == {"1": 1, "2": 1}


# --- committees, patrols and the offline sync on PostgreSQL ---------------------------------


def test_an_offline_shift_syncs_once_even_when_the_batch_is_sent_twice_at_once(app, make_person, make_committee):
    from security.models import Patrol, PatrolPosition, SyncOperation
    from tests.test_sync import offline_shift

    juan = make_person("volunteer", zone_id=1)
    ana = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [juan, ana])
    start = datetime.now(UTC) - timedelta(hours=3)
    batch = {"operations": offline_shift(committee, ana.user.id, start=start)}

    def send() -> dict[str, Any]:
        response = app.test_client().post("/api/v1/sync", json=batch, headers=juan.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    first, second = at_once([send, send])  # the phone retried while the first answer was on its way
    assert first["rejected"] == second["rejected"] == 0
    assert first["applied"] + second["applied"] == len(batch["operations"])
    assert [r["id"] for r in first["results"]] == [r["id"] for r in second["results"]]
    replay = send()
    assert replay["already_applied"] == len(batch["operations"])
    with Session(app.extensions["ronda"].engine) as s:
        assert s.exec(select(func.count()).select_from(Patrol)).one() == 1
        assert s.exec(select(func.count()).select_from(PatrolPosition)).one() == 12
        assert s.exec(select(func.count()).select_from(Incident)).one() == 1
        assert s.exec(select(func.count()).select_from(SyncOperation)).one() == len(batch["operations"])
        patrol = s.exec(select(Patrol)).one()
        assert patrol.started_at == start and patrol.started_at.tzinfo is not None
    police = make_person("police")
    types = [e["type"] for e in police_events(app.test_client(), police)]
    assert types == ["patrol_started", "incident_reported", "alarm_raised", "patrol_ended"]


def test_patrol_hours_on_postgresql(app, client, make_person, make_committee):
    from security.models import Patrol
    from zones.database import LIMA

    committee = make_committee(1, [])
    starter = make_person("admin")
    with Session(app.extensions["ronda"].engine) as s:
        s.add(Patrol(client_id=str(uuid.uuid4()), committee_id=committee, zone_id=1, started_by=starter.user.id,
                     started_at=datetime(2026, 3, 31, 22, tzinfo=LIMA), ended_at=datetime(2026, 4, 1, 2, tzinfo=LIMA),
                     distance_m=8000))  # fmt: skip
        s.commit()
    figures = client.get("/api/v1/trends?from=2026-03&to=2026-04&zone_id=1", headers=starter.headers).get_json()
    assert [(m["month"], m["hours"], m["distance_km"]) for m in figures["patrols"]["by_month"]] == [
        ("2026-03", 2.0, 4.0),
        ("2026-04", 2.0, 4.0),
    ]


def test_control_characters_in_names_and_ids_are_refused_on_postgresql(client, make_person, make_committee):
    from tests.test_bad_input import check_control_characters

    check_control_characters(client, make_person, make_committee)


def test_lone_surrogates_numbers_and_times_out_of_range_are_refused_on_postgresql(client, make_person, make_committee):
    from tests.test_bad_input import (
        check_lone_surrogates,
        check_names_with_control_characters,
        check_numbers_and_times_out_of_range,
    )

    check_lone_surrogates(client, make_person, make_committee)
    check_numbers_and_times_out_of_range(client, make_person, make_committee)
    check_names_with_control_characters(client, make_person)
