"""Committee trends checked against hand-computed figures, and incident exports."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from dashboards.trends import Month, compute_trends
from security.models import Alarm, Incident
from tests.conftest import ZONE_POINTS, incident_body
from zones.database import LIMA

# Fixture story, in Lima time (UTC-5). Zone 1 and zone 2, reporter = one police user.
#  2025-03-10 robbery z1                      (a year before March 2026)
#  2026-01-31 23:30 Lima robbery z1           (January in Lima although 2026-02-01 in UTC)
#  2026-02-01 00:30 Lima assault z1           (February)
#  2026-03-02 10:00 vandalism z1, acknowledged 60 s after being reported, resolved
#  2026-03-03 10:00 vandalism z1, acknowledged 300 s after
#  2026-03-09 10:00 robbery z1,   acknowledged 120 s after
#  2026-03-10 10:00 robbery z2                (other zone)
# Alarms zone 1: March: real (ack 30 s), false (ack 90 s), real (ack 600 s); zone 2: none.


def _incident(session, reporter_id, zone_id, kind, when_lima, *, ack_after=None, status="reported", block_id=None):
    lat, lon = ZONE_POINTS[zone_id]
    at = when_lima.replace(tzinfo=LIMA)
    incident = Incident(
        client_id=str(uuid.uuid4()),
        reporter_id=reporter_id,
        kind=kind,
        lat=lat,
        lon=lon,
        zone_id=zone_id,
        block_id=block_id,
        status=status,
        occurred_at=at,
        reported_at=at,
        updated_at=at,
        acknowledged_at=at + timedelta(seconds=ack_after) if ack_after is not None else None,
    )
    session.add(incident)
    return incident


@pytest.fixture
def story(app, make_person):
    police = make_person("police")
    index = app.extensions["ronda"].index
    block_1 = index.locate(lat=ZONE_POINTS[1][0], lon=ZONE_POINTS[1][1]).block_id
    with Session(app.extensions["ronda"].engine) as session:
        pid = police.user.id
        _incident(session, pid, 1, "robbery", datetime(2025, 3, 10, 12), block_id=block_1)
        _incident(session, pid, 1, "robbery", datetime(2026, 1, 31, 23, 30), block_id=block_1)
        _incident(session, pid, 1, "assault", datetime(2026, 2, 1, 0, 30), block_id=block_1)
        _incident(
            session, pid, 1, "vandalism", datetime(2026, 3, 2, 10), ack_after=60, status="resolved", block_id=block_1
        )
        _incident(session, pid, 1, "vandalism", datetime(2026, 3, 3, 10), ack_after=300, status="acknowledged")
        _incident(session, pid, 1, "robbery", datetime(2026, 3, 9, 10), ack_after=120, status="acknowledged")
        _incident(session, pid, 2, "robbery", datetime(2026, 3, 10, 10))
        for day, outcome, ack in ((5, "real", 30), (6, "false_alarm", 90), (7, "real", 600)):
            raised = datetime(2026, 3, day, 22, tzinfo=LIMA)
            session.add(
                Alarm(
                    zone_id=1,
                    block_id=block_1,
                    status="resolved",
                    source="app",
                    lat=ZONE_POINTS[1][0],
                    lon=ZONE_POINTS[1][1],
                    raised_at=raised,
                    acknowledged_at=raised + timedelta(seconds=ack),
                    resolved_at=raised + timedelta(seconds=ack + 60),
                    outcome=outcome,
                )
            )
        session.commit()
    return police, block_1


def trends(client, person, query):
    response = client.get(f"/api/v1/trends?{query}", headers=person.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_monthly_figures_of_a_zone(client, story):
    police, block_1 = story
    t = trends(client, police, "zone_id=1&from=2026-01&to=2026-03")
    assert t["zone_name"] == "Nueva Esperanza" and t["months"] == ["2026-01", "2026-02", "2026-03"]
    months = {m["month"]: m for m in t["incidents"]["by_month"]}
    assert months["2026-01"]["by_kind"] == {"robbery": 1}  # 23:30 Lima on 31 January stays in January
    assert months["2026-02"]["by_kind"] == {"assault": 1}
    assert months["2026-03"]["by_kind"] == {"vandalism": 2, "robbery": 1}
    assert t["incidents"]["total"] == 5 and t["incidents"]["by_kind"] == {"robbery": 2, "vandalism": 2, "assault": 1}
    assert t["incidents"]["resolved"] == 1 and t["incidents"]["resolved_share"] == 0.2
    weeks = {w["week_start"]: w["total"] for w in t["incidents"]["by_week"]}
    assert weeks == {"2026-01-26": 2, "2026-03-02": 2, "2026-03-09": 1}  # Sat 31 Jan and Sun 1 Feb share a week
    top = t["incidents"]["top_blocks"][0]
    assert (top["block_id"], top["zone_id"], top["total"]) == (block_1, 1, 3)
    assert top["block_name"].startswith("Manzana Z1-") and -12.2 < top["lat"] < -12.1
    by_month = t["alarms"].pop("by_month")
    assert by_month[-1] == {"month": "2026-03", "real": 2, "false_alarm": 1, "open": 0}
    assert [m["real"] + m["false_alarm"] for m in by_month[:2]] == [0, 0]
    assert t["alarms"] == {
        "raised": 3,
        "real": 2,
        "false_alarm": 1,
        "open": 0,
        "real_share": 0.6667,
        "false_alarm_share": 0.3333,
    }
    histogram = t["response_times"]["alarm_to_acknowledgement"].pop("histogram")
    assert {h["bucket"]: h["count"] for h in histogram} == {
        "<1 min": 1,
        "1-5 min": 1,
        "5-15 min": 1,
        "15-60 min": 0,
        ">60 min": 0,
    }  # 30 s, 90 s, 600 s
    t["response_times"]["incident_to_acknowledgement"].pop("histogram")
    assert t["last_month_by_zone"] == {"1": 3}
    # nearest rank: median of (30, 90, 600) is 90, p90 is 600; of (60, 120, 300): 120 and 300
    assert t["response_times"]["alarm_to_acknowledgement"] == {"median_s": 90.0, "p90_s": 600.0, "n": 3}
    assert t["response_times"]["incident_to_acknowledgement"] == {"median_s": 120.0, "p90_s": 300.0, "n": 3}
    comparison = t["comparison"]
    assert comparison["month"] == "2026-03" and comparison["incidents"] == 3
    assert comparison["previous_month"] == {"month": "2026-02", "incidents": 1, "change": 2, "change_pct": 200.0}
    assert comparison["year_before"] == {"month": "2025-03", "incidents": 1, "change": 2, "change_pct": 200.0}


def test_a_month_without_incidents_and_a_zone_without_alarms(client, story):
    police, _ = story
    t = trends(client, police, "zone_id=2&from=2026-02&to=2026-03")
    assert [m["total"] for m in t["incidents"]["by_month"]] == [0, 1]
    assert t["alarms"].pop("by_month") == [
        {"month": "2026-02", "real": 0, "false_alarm": 0, "open": 0},
        {"month": "2026-03", "real": 0, "false_alarm": 0, "open": 0},
    ]
    assert t["alarms"] == {
        "raised": 0,
        "real": 0,
        "false_alarm": 0,
        "open": 0,
        "real_share": None,
        "false_alarm_share": None,
    }
    assert t["response_times"]["alarm_to_acknowledgement"]["n"] == 0
    assert t["response_times"]["alarm_to_acknowledgement"]["median_s"] is None
    assert sum(h["count"] for h in t["response_times"]["alarm_to_acknowledgement"]["histogram"]) == 0
    assert t["comparison"]["previous_month"] == {"month": "2026-02", "incidents": 0, "change": 1, "change_pct": None}


def test_the_year_boundary_comparison(client, story):
    police, _ = story
    t = trends(client, police, "zone_id=1&from=2025-12&to=2026-01")
    assert t["comparison"]["previous_month"]["month"] == "2025-12"
    assert t["comparison"]["year_before"]["month"] == "2025-01"
    assert Month(2026, 1).shift(-1) == Month(2025, 12) and Month(2025, 12).shift(1) == Month(2026, 1)


def test_district_trends_for_police_and_refusals(client, story, make_person):
    police, _ = story
    district = trends(client, police, "from=2026-03&to=2026-03")
    assert district["zone_id"] is None and district["incidents"]["total"] == 4
    assert district["last_month_by_zone"] == {"1": 3, "2": 1}
    coordinator = make_person("coordinator", zone_id=1)
    assert trends(client, coordinator, "zone_id=1&from=2026-03&to=2026-03")["incidents"]["total"] == 3
    own = client.get("/api/v1/trends?from=2026-03&to=2026-03", headers=coordinator.headers)
    assert own.status_code == 200 and own.get_json()["zone_id"] == 1  # no zone given: their own
    assert (
        client.get("/api/v1/trends?zone_id=2&from=2026-03&to=2026-03", headers=coordinator.headers).status_code == 403
    )
    for query, field in (
        ("from=2026-3&to=2026-04", "from"),
        ("from=2026-05&to=2026-04", "from"),
        ("to=2026-04", "from"),
        ("from=2020-01&to=2026-04", "from"),
        ("zone_id=999&from=2026-01&to=2026-02", "zone_id"),
    ):
        response = client.get(f"/api/v1/trends?{query}", headers=police.headers)
        assert response.status_code == 422, query
        assert field in [f["field"] for f in response.get_json()["fields"]]


def test_trends_as_csv(client, story):
    police, _ = story
    for kwargs in ({"query_string": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
        headers = {**police.headers, **kwargs.get("headers", {})}
        query = "zone_id=1&from=2026-01&to=2026-03" + ("&format=csv" if "query_string" in kwargs else "")
        response = client.get(f"/api/v1/trends?{query}", headers=headers)
        assert response.status_code == 200 and response.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        march = [r for r in rows if r["section"] == "incidents_by_month" and r["period"] == "2026-03"]
        assert {r["key"]: int(r["value"]) for r in march} == {"total": 3, "vandalism": 2, "robbery": 1}


def test_computed_without_flask(app, story):
    with Session(app.extensions["ronda"].engine) as session:
        figures = compute_trends(session=session, zone_id=1, first=Month(2026, 3), last=Month(2026, 3))
    assert figures["incidents"]["total"] == 3


def test_exports_parse_and_carry_no_reporter_for_a_neighbour(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    for description in ("Robo de celular", 'Pelea, con "comillas"\ny salto de línea'):
        body = incident_body(1, description=description)
        assert client.post("/api/v1/incidents", json=body, headers=volunteer.headers).status_code == 201
    client.post("/api/v1/incidents", json=incident_body(2), headers=make_person("police").headers)
    police = make_person("police")
    neighbor = make_person("neighbor", zone_id=1)

    police_csv = client.get("/api/v1/incidents?format=csv", headers=police.headers)
    assert police_csv.mimetype == "text/csv" and "attachment" in police_csv.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(police_csv.get_data(as_text=True))))
    # A file can be copied anywhere: nobody's name goes in it, not even for the police.
    assert len(rows) == 3 and {r["reporter"] for r in rows} == {""}
    assert volunteer.user.username not in police_csv.get_data(as_text=True)
    assert any(r["description"] == 'Pelea, con "comillas"\ny salto de línea' for r in rows)

    neighbor_csv = client.get("/api/v1/incidents?format=csv", headers=neighbor.headers).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(neighbor_csv)))
    assert len(rows) == 2 and all(r["zone_id"] == "1" for r in rows)
    assert all(r["reporter"] == "" and r["description"] == "" and r["location_precision"] == "block" for r in rows)
    assert volunteer.user.username not in neighbor_csv and "Robo de celular" not in neighbor_csv

    geo = client.get("/api/v1/incidents?format=geojson&kind=robbery", headers=neighbor.headers)
    assert geo.mimetype == "application/geo+json"
    collection = json.loads(geo.get_data(as_text=True))
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 2
    for feature in collection["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert -77 < lon < -76.8 and -12.3 < lat < -12.1  # RFC 7946: longitude first
        assert feature["properties"]["reporter"] is None and feature["properties"]["zone_name"] == "Nueva Esperanza"
    assert client.get("/api/v1/incidents?format=csv&zone_id=2", headers=neighbor.headers).status_code == 403
    assert client.get("/api/v1/incidents?format=xls", headers=police.headers).status_code == 422


def test_the_roll_ups_always_equal_a_recount(app, client, make_person, runner, tmp_path):
    """Reports, status changes and a bulk import keep the roll-ups equal to counting again."""
    from sqlalchemy import text

    from security.rollups import roll_up

    volunteer = make_person("volunteer", zone_id=1)
    police = make_person("police")
    made = [
        client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers).get_json() for _ in range(3)
    ]
    for status in ("acknowledged", "dispatched", "resolved"):
        client.patch(f"/api/v1/incidents/{made[0]['id']}", json={"status": status}, headers=police.headers)
    client.patch(f"/api/v1/incidents/{made[1]['id']}", json={"status": "dismissed"}, headers=police.headers)
    history = tmp_path / "h.csv"
    history.write_text(
        "kind,lat,lon,occurred_at,status,acknowledged_at\n"
        f"assault,{ZONE_POINTS[2][0]},{ZONE_POINTS[2][1]},2025-01-05T10:00:00,resolved,2025-01-05T10:04:00\n"
        f"robbery,{ZONE_POINTS[3][0]},{ZONE_POINTS[3][1]},2025-01-06T10:00:00,dismissed,\n"
    )
    assert runner.invoke(args=["incidents", "import", str(history)]).exit_code == 0
    tables = ("rollup_incident_month", "rollup_incident_week", "rollup_block_month", "rollup_ack_month")
    with app.extensions["ronda"].engine.begin() as connection:
        kept = {t: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {t}")).all())) for t in tables}
        for table in tables:
            connection.execute(text(f"DELETE FROM {table}"))
        roll_up(connection, where="1 = 1")
        recount = {t: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {t}")).all())) for t in tables}
    assert kept == recount
    assert any(row[4] == 1 for row in kept["rollup_incident_month"])  # the resolved one is counted as resolved


def test_the_roll_up_migration_counts_incidents_stored_before_it(tmp_path):
    """A database from before the roll-ups gets them filled by `alembic upgrade`."""
    import uuid as uuid_module

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from zones.database import MIGRATIONS_DIR, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "ea12beace4be")  # the revision before the roll-ups
        connection.execute(text("INSERT INTO zone (id, name, geometry, properties) VALUES (1, 'Z', '{}', '{}')"))
        connection.execute(
            text(
                "INSERT INTO user (id, username, display_name, password_hash, role, active, created_at) "
                "VALUES (1, 'u', 'u', 'x', 'police', 1, '2026-01-01 00:00:00.000000')"
            )
        )
        for day, status in ((3, "resolved"), (4, "reported")):
            connection.execute(
                text(
                    "INSERT INTO incident (client_id, reporter_id, kind, lat, lon, severity, anonymous, zone_id, "
                    "status, occurred_at, reported_at, updated_at) VALUES (:c, 1, 'robbery', -12.1, -76.9, 2, 0, 1, "
                    ":s, :t, :t, :t)"
                ),
                {"c": str(uuid_module.uuid4()), "s": status, "t": f"2026-02-0{day} 15:00:00.000000"},
            )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        rows = connection.execute(text("SELECT zone_id, month, kind, total, resolved FROM rollup_incident_month")).all()
    assert [tuple(r) for r in rows] == [(1, "2026-02", "robbery", 2, 1)]
    engine.dispose()
