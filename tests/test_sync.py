"""The offline sync as a phone uses it after a shift without signal: a queued batch applied in
order, duplicates, a bad operation in the middle, the whole batch replayed, wrong clocks, gzip."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, func, select

from security.models import Incident, Patrol, PatrolPosition, SyncOperation
from tests.conftest import ZONE_POINTS, incident_body


@pytest.fixture
def crew(make_person, make_committee):
    juan = make_person("volunteer", zone_id=1)
    ana = make_person("volunteer", zone_id=1)
    return {"juan": juan, "ana": ana, "committee": make_committee(1, [juan, ana])}


def op(kind, at, data, client_id=None):
    return {"op": kind, "client_id": client_id or str(uuid.uuid4()), "at": at.isoformat(), "data": data}


def offline_shift(committee_id, ana_id, *, start: datetime):
    """What a phone queues during a two-hour shift without signal."""
    lat, lon = ZONE_POINTS[1]
    patrol_client = str(uuid.uuid4())
    incident = incident_body(1, kind="drug_dealing", description="Venta de droga en el parque")
    incident.pop("client_id")
    ops = [op("patrol_start", start, {"committee_id": committee_id, "members": [ana_id]}, client_id=patrol_client)]
    for i in range(4):
        t = start + timedelta(minutes=15 * (i + 1))
        points = [{"t": (t + timedelta(seconds=30 * k)).isoformat(), "lat": lat + 0.0004 * (i * 3 + k), "lon": lon,
                   "accuracy": 10} for k in range(3)]  # fmt: skip
        ops.append(op("positions", t, {"patrol_client_id": patrol_client, "positions": points}))
    ops.insert(3, op("incident", start + timedelta(minutes=40), {**incident, "patrol_client_id": patrol_client}))
    ops.append(op("alarm", start + timedelta(minutes=70), {"lat": lat, "lon": lon, "patrol_client_id": patrol_client}))
    ops.append(op("patrol_end", start + timedelta(hours=2), {"patrol_client_id": patrol_client}))
    return ops


def sync(client, person, operations, **kwargs):
    return client.post("/api/v1/sync", json={"operations": operations}, headers=person.headers, **kwargs)


def test_a_shift_recorded_offline_arrives_whole_with_the_phones_times(client, app, crew, make_person):
    start = datetime.now(UTC) - timedelta(hours=3)
    ops = offline_shift(crew["committee"], crew["ana"].user.id, start=start)
    response = sync(client, crew["juan"], ops)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["applied"], body["already_applied"], body["rejected"]) == (len(ops), 0, 0)
    assert [r["index"] for r in body["results"]] == list(range(len(ops)))
    patrol_id = body["results"][0]["id"]
    police = make_person("police")
    patrol = client.get(f"/api/v1/patrols/{patrol_id}", headers=police.headers).get_json()
    # The shift counts by the phone's clock, not by when the signal came back.
    assert datetime.fromisoformat(patrol["started_at"]) == start
    assert datetime.fromisoformat(patrol["ended_at"]) == start + timedelta(hours=2)
    assert patrol["hours"] == 2.0 and patrol["distance_m"] > 400
    incident = client.get(f"/api/v1/incidents/{body['results'][3]['id']}", headers=police.headers).get_json()
    assert incident["patrol_id"] == patrol_id and incident["kind"] == "drug_dealing"
    assert datetime.fromisoformat(incident["occurred_at"]) == start + timedelta(minutes=40)
    assert datetime.fromisoformat(incident["reported_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    with Session(app.extensions["ronda"].engine) as s:
        assert s.exec(select(func.count()).select_from(PatrolPosition)).one() == 12
        phone_times = {o.client_id: o.phone_at for o in s.exec(select(SyncOperation)).all()}
    assert phone_times[ops[0]["client_id"]] == start
    types = [e["type"] for e in client.get("/api/v1/events?since=0", headers=police.headers).get_json()["events"]]
    assert types == ["patrol_started", "incident_reported", "alarm_raised", "patrol_ended"]


def test_duplicates_a_bad_operation_in_the_middle_and_a_replay(client, app, crew, make_person):
    start = datetime.now(UTC) - timedelta(hours=3)
    ops = offline_shift(crew["committee"], crew["ana"].user.id, start=start)
    bad = [
        op("incident", start, {**incident_body(1), "kind": "alien_abduction"}),  # unknown kind
        {"op": "teleport", "client_id": str(uuid.uuid4()), "at": start.isoformat(), "data": {}},  # unknown op
        op("incident", datetime.now(UTC) + timedelta(days=2), incident_body(1)),  # the phone's clock is wrong
        op("incident", start, incident_body(3)),  # outside the volunteer's zone
        "not an object",
    ]
    duplicate = dict(ops[3])  # the same queued report twice (the phone retried before the crash)
    batch = ops[:3] + bad + [ops[3], duplicate] + ops[4:]
    first = sync(client, crew["juan"], batch).get_json()
    statuses = [r["status"] for r in first["results"]]
    assert statuses[3:8] == ["rejected"] * 5
    assert statuses[9] == "already_applied"
    assert statuses.count("applied") == len(ops)
    errors = [r["error"] for r in first["results"][3:8]]
    assert errors[0]["fields"][0]["field"] == "data.kind"
    assert errors[1]["fields"][0]["field"] == "op"
    assert errors[2]["fields"][0]["field"] == "at"
    assert errors[3]["error"] == "forbidden"
    assert errors[4]["error"] == "validation_error"
    # The whole batch again (the answer was lost on 3G): nothing changes.
    police = make_person("police")
    events_before = client.get("/api/v1/events?since=0", headers=police.headers).get_json()["events"]
    second = sync(client, crew["juan"], batch).get_json()
    assert [r["status"] for r in second["results"]] == [
        "rejected" if s == "rejected" else "already_applied" for s in statuses
    ]
    assert [r.get("id") for r in second["results"]] == [r.get("id") for r in first["results"]]
    assert client.get("/api/v1/events?since=0", headers=police.headers).get_json()["events"] == events_before
    with Session(app.extensions["ronda"].engine) as s:
        assert s.exec(select(func.count()).select_from(Incident)).one() == 1
        assert s.exec(select(func.count()).select_from(Patrol)).one() == 1
        assert s.exec(select(func.count()).select_from(PatrolPosition)).one() == 12


def test_an_operation_already_sent_online_is_already_applied(client, crew):
    body = incident_body(1)
    assert client.post("/api/v1/incidents", json=body, headers=crew["juan"].headers).status_code == 201
    answer = sync(client, crew["juan"], [op("incident", datetime.now(UTC), body, client_id=body["client_id"])])
    assert answer.get_json()["results"][0]["status"] == "already_applied"


def test_the_envelope_is_checked_before_anything_is_applied(client, crew):
    for payload in ({}, {"operations": []}, {"operations": "x"}, {"operations": [{}] * 1001}):
        response = client.post("/api/v1/sync", json=payload, headers=crew["juan"].headers)
        assert response.status_code == 422 and response.get_json()["fields"][0]["field"] == "operations"
    assert client.post("/api/v1/sync", json={"operations": []}).status_code == 401


def test_messages_follow_the_phones_language(client, crew):
    ops = [op("incident", datetime.now(UTC), {**incident_body(1), "kind": "alien_abduction"})]
    spanish = sync(client, crew["juan"], ops).get_json()["results"][0]["error"]
    english = sync(client, crew["juan"], ops, query_string={"lang": "en"}).get_json()["results"][0]["error"]
    assert spanish["message"] == "Los datos enviados no son válidos."
    assert english["message"] == "The data sent is not valid."


def test_gzip_both_ways_and_a_500_operation_batch_is_a_few_kilobytes(client, crew):
    start = datetime.now(UTC) - timedelta(hours=6)
    ops = [op("patrol_start", start, {"committee_id": crew["committee"]}, client_id=str(uuid.uuid4()))]
    patrol_client = ops[0]["client_id"]
    lat, lon = ZONE_POINTS[1]
    for i in range(499):
        t = start + timedelta(seconds=30 * i)
        point = {"t": t.isoformat(), "lat": lat + i * 1e-5, "lon": lon}
        ops.append(op("positions", t, {"patrol_client_id": patrol_client, "positions": [point]}))
    raw = json.dumps({"operations": ops}).encode()
    packed = gzip.compress(raw)
    response = client.post(
        "/api/v1/sync",
        data=packed,
        headers={
            **crew["juan"].headers,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept-Encoding": "gzip",
        },
    )
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    answer = json.loads(gzip.decompress(response.get_data()))
    assert answer["applied"] == 500 and answer["rejected"] == 0
    assert len(response.get_data()) < 4000  # a few kilobytes on the wire for 500 answers
    assert len(packed) < len(raw) / 4
    # A body that says gzip but is not is a clear 400, not a 500.
    broken = client.post(
        "/api/v1/sync",
        data=b"this is not gzip",
        headers={**crew["juan"].headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert broken.status_code == 400 and broken.get_json()["error"] == "bad_request"
    bomb = gzip.compress(b" " * (20 * 1024 * 1024))
    refused = client.post(
        "/api/v1/sync",
        data=bomb,
        headers={**crew["juan"].headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert refused.status_code == 413


def test_a_shift_synced_the_next_day_keeps_its_real_hours(client, app, crew, make_person):
    """The server closed the shift while the phone was offline: the phone's end still counts."""
    from security.patrols import close_overdue

    start = datetime.now(UTC) - timedelta(hours=26)
    ops = offline_shift(crew["committee"], crew["ana"].user.id, start=start)
    first, rest = ops[:3], ops[3:]  # the signal came back for a moment after the first uploads
    assert sync(client, crew["juan"], first).get_json()["applied"] == 3
    with Session(app.extensions["ronda"].engine) as s:
        assert len(close_overdue(session=s)) == 1  # the server's loop closes the forgotten shift
        s.commit()
    answer = sync(client, crew["juan"], rest).get_json()
    assert answer["applied"] == len(rest), answer
    patrol = client.get(f"/api/v1/patrols/{answer['results'][-1]['id']}", headers=make_person("police").headers)
    assert patrol.get_json()["hours"] == 2.0 and patrol.get_json()["auto_closed"] is False


def test_refused_fields_of_an_operations_data_are_named_data_dot(client, crew):
    from tests.conftest import OUTSIDE

    outside = {**incident_body(1), "lat": OUTSIDE[0], "lon": OUTSIDE[1]}
    [result] = sync(client, crew["juan"], [op("incident", datetime.now(UTC), outside)]).get_json()["results"]
    assert [f["field"] for f in result["error"]["fields"]] == ["data.lat", "data.lon"]
