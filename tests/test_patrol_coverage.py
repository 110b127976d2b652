"""Patrol hours and distance in the monthly trends, checked against a hand computation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from security.models import Patrol
from zones.database import LIMA

# Fixture story, Lima time. Committee A and B of zone 1, committee C of zone 2.
#  P1 A  2026-03-03 20:00 -> 23:30   3.5 h   7.0 km
#  P2 A  2026-03-31 22:00 -> 04-01 02:00  4 h: 2 h in March, 2 h in April; 8 km shared 4 + 4
#  P3 A  2026-03-15 19:00 -> 21:15   2.25 h  0 km, closed by the server (auto_closed)
#  P4 B  2026-03-10 21:00 -> 23:00   2 h     5.0 km
#  P5 C  2026-03-12 20:00 -> 22:00   2 h     4.0 km (zone 2)
#  P6 A  2026-03-20 20:00 -> still active (not counted until it ends)
#  P7 A  2026-02-27 20:00 -> 22:00   before the range
# Hand computation, zone 1, March..April 2026:
#  March: 4 patrols, 3.5 + 2 + 2.25 + 2 = 9.75 h, 7 + 4 + 0 + 5 = 16 km, 1 auto-closed
#  April: 0 patrols started, 2 h, 4 km
#  Committee A: 3 patrols, 9.75 h, 15 km; committee B: 1 patrol, 2 h, 5 km
#  The district in March adds P5: 5 patrols, 11.75 h, 20 km.


def lima(*args: int) -> datetime:
    return datetime(*args, tzinfo=LIMA)


@pytest.fixture
def story(app, make_person, make_committee):
    starter = make_person("admin")
    committees = {"A": make_committee(1, [], name="Comité A"), "B": make_committee(1, [], name="Comité B"),
                  "C": make_committee(2, [], name="Comité C")}  # fmt: skip
    shifts = [
        ("A", 1, lima(2026, 3, 3, 20), lima(2026, 3, 3, 23, 30), 7000, False),
        ("A", 1, lima(2026, 3, 31, 22), lima(2026, 4, 1, 2), 8000, False),
        ("A", 1, lima(2026, 3, 15, 19), lima(2026, 3, 15, 21, 15), 0, True),
        ("B", 1, lima(2026, 3, 10, 21), lima(2026, 3, 10, 23), 5000, False),
        ("C", 2, lima(2026, 3, 12, 20), lima(2026, 3, 12, 22), 4000, False),
        ("A", 1, lima(2026, 3, 20, 20), None, 0, False),
        ("A", 1, lima(2026, 2, 27, 20), lima(2026, 2, 27, 22), 3000, False),
    ]
    with Session(app.extensions["ronda"].engine) as s:
        for committee, zone_id, started, ended, metres, auto in shifts:
            s.add(
                Patrol(
                    client_id=str(uuid.uuid4()), committee_id=committees[committee], zone_id=zone_id,
                    started_by=starter.user.id, started_at=started, ended_at=ended, distance_m=metres,
                    auto_closed=auto,
                )
            )  # fmt: skip
        s.commit()
    return {"police": make_person("police"), "coordinator": make_person("coordinator", zone_id=1)}


def trends(client, person, **query):
    response = client.get("/api/v1/trends", query_string={"from": "2026-03", "to": "2026-04", **query},
                          headers=person.headers)  # fmt: skip
    assert response.status_code == 200, response.get_json()
    return response.get_json()["patrols"]


def test_patrol_hours_and_distance_of_a_zone_by_month_and_committee(client, story):
    figures = trends(client, story["coordinator"])  # a coordinator reviews their own zone
    march, april = figures["by_month"]
    assert march == {"month": "2026-03", "patrols": 4, "hours": 9.75, "distance_km": 16.0, "auto_closed": 1}
    assert april == {"month": "2026-04", "patrols": 0, "hours": 2.0, "distance_km": 4.0, "auto_closed": 0}
    assert (figures["patrols"], figures["hours"], figures["distance_km"]) == (4, 11.75, 20.0)
    by_name = {c["committee_name"]: c for c in figures["by_committee"]}
    assert set(by_name) == {"Comité A", "Comité B"}
    assert (by_name["Comité A"]["patrols"], by_name["Comité A"]["hours"], by_name["Comité A"]["distance_km"]) == (
        3, 9.75, 15.0,
    )  # fmt: skip
    assert (by_name["Comité B"]["patrols"], by_name["Comité B"]["hours"], by_name["Comité B"]["distance_km"]) == (
        1, 2.0, 5.0,
    )  # fmt: skip


def test_the_district_adds_every_zone(client, story):
    figures = trends(client, story["police"], to="2026-03")
    assert figures["by_month"] == [
        {"month": "2026-03", "patrols": 5, "hours": 11.75, "distance_km": 20.0, "auto_closed": 1}
    ]
    assert figures["by_zone"] == {
        "1": {"patrols": 4, "hours": 9.75, "distance_km": 16.0, "auto_closed": 1},
        "2": {"patrols": 1, "hours": 2.0, "distance_km": 4.0, "auto_closed": 0},
    }


def test_patrol_figures_are_in_the_csv(client, story):
    response = client.get(
        "/api/v1/trends?from=2026-03&to=2026-04&zone_id=1&format=csv", headers=story["police"].headers
    )
    lines = response.get_data(as_text=True).splitlines()
    assert "Nueva Esperanza,patrols_by_month,2026-03,hours,9.75" in lines
    assert "Nueva Esperanza,patrols_by_committee,2026-03..2026-04,Comité A:distance_km,15.0" in lines


def test_demo_history_gives_every_committee_evening_patrols(runner, client, make_person):
    result = runner.invoke(args=["demo", "history", "--months", "2", "--per-month", "50"])
    assert result.exit_code == 0, result.output
    assert "synthetic patrols" in result.output
    police = make_person("police")
    month_ago = datetime.now(LIMA).replace(day=1) - timedelta(days=1)  # the last whole month
    last = f"{month_ago.year:04d}-{month_ago.month:02d}"
    figures = client.get(f"/api/v1/trends?from={last}&to={last}", headers=police.headers).get_json()["patrols"]
    assert len(figures["by_committee"]) == 21  # three committees in each of the seven zones
    assert set(figures["by_zone"]) == {str(z) for z in range(1, 8)}
    assert all(1 <= c["hours"] / max(c["patrols"], 1) <= 12 for c in figures["by_committee"])
    again = runner.invoke(args=["demo", "history", "--months", "2", "--per-month", "50"])
    assert "0 synthetic patrols" in again.output
