"""Patrols live, end to end against `python app.py`: police hear them start, move and end; the
positions push is throttled per patrol; nobody else hears where volunteers are."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.conftest import ZONE_POINTS, LiveServer, patrol_body, start_server
from tests.test_live_push import Dashboard, connect  # noqa: F401  (`connect` is a fixture)

pytestmark = pytest.mark.live
INTERVAL = 1.0  # PATROL_PUSH_SECONDS of the server under test


@pytest.fixture
def server(app, db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    running = start_server(db_url=db_url, tmp_path=tmp_path, extra_env={"PATROL_PUSH_SECONDS": str(INTERVAL)})
    yield running
    running.stop()


def post(server: LiveServer, path: str, person, body) -> requests.Response:
    return requests.post(f"{server.url}/api/v1{path}", json=body, headers=person.headers, timeout=10)


def test_patrol_moved_is_throttled_and_reaches_police_only(server, make_person, make_committee, connect):  # noqa: F811
    juan = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [juan])
    police = connect(server, make_person("police").token)
    neighbour = connect(server, make_person("neighbor", zone_id=1).token)
    colleague = connect(server, make_person("coordinator", zone_id=1).token)

    started = datetime.now(UTC) - timedelta(minutes=5)
    patrol = post(server, "/patrols", juan, patrol_body(committee, started_at=started.isoformat())).json()
    police.wait_for("patrol_started", deadline=time.monotonic() + 2, match=lambda e: e["data"]["id"] == patrol["id"])

    lat, lon = ZONE_POINTS[1]
    sent: list[str] = []
    first_post = time.monotonic()
    for i in range(8):  # a phone posting every 150 ms: far more often than the map needs
        t = (started + timedelta(seconds=10 * (i + 1))).isoformat()
        sent.append(t)
        answer = post(
            server,
            f"/patrols/{patrol['id']}/positions",
            juan,
            {"positions": [{"t": t, "lat": lat + i * 1e-4, "lon": lon}]},
        )
        assert answer.status_code == 200 and answer.json()["accepted"] == 1
        time.sleep(0.15)
    elapsed = time.monotonic() - first_post
    newest = police.wait_for(
        "patrol_moved",
        deadline=time.monotonic() + 3 * INTERVAL,
        match=lambda e: e["data"]["last_position"]["t"] == sent[-1],
    )
    time.sleep(INTERVAL + 0.3)  # nothing more is owed after the trailing push

    pushes = police.heard("patrol_moved")
    assert 2 <= len(pushes) <= math.ceil(elapsed / INTERVAL) + 1 < len(sent)
    # Nothing lost on the way: every point reached the map, the newest last.
    assert sorted(p[0] for push in pushes for p in push["data"]["points"]) == sent
    assert pushes[-1] is newest and newest["data"]["id"] == patrol["id"] and newest["seq"] is None
    assert newest["data"]["last_position"]["lat"] == pytest.approx(lat + 7e-4)

    post(server, f"/patrols/{patrol['id']}/end", juan, {})
    ended = police.wait_for(
        "patrol_ended", deadline=time.monotonic() + 2, match=lambda e: e["data"]["id"] == patrol["id"]
    )
    assert ended["data"]["status"] == "ended" and ended["data"]["distance_m"] > 0
    # Neighbours and the zone's volunteers never hear where patrols are.
    for other in (neighbour, colleague):
        assert not [name for name, _ in other.received if name.startswith("patrol_")]


def test_throttle_timing_between_pushes(server, make_person, make_committee, connect):  # noqa: F811
    juan = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [juan])
    police = connect(server, make_person("police").token)
    started = datetime.now(UTC) - timedelta(minutes=5)
    patrol = post(server, "/patrols", juan, patrol_body(committee, started_at=started.isoformat())).json()
    lat, lon = ZONE_POINTS[1]
    heard_at: list[float] = []
    police.sio.on("patrol_moved", lambda data: heard_at.append(time.monotonic()))
    began = time.monotonic()
    deadline = began + 3.2
    i = 0
    while time.monotonic() < deadline:
        t = (started + timedelta(seconds=i + 1)).isoformat()
        post(server, f"/patrols/{patrol['id']}/positions", juan, {"positions": [{"t": t, "lat": lat, "lon": lon}]})
        i += 1
        time.sleep(0.05)
    elapsed = time.monotonic() - began
    time.sleep(INTERVAL + 0.5)
    # Many more posts than pushes: about one push a second, the last at the interval's end.
    assert 2 <= len(heard_at) <= math.ceil(elapsed / INTERVAL) + 1 < i
    gaps = [b - a for a, b in itertools.pairwise(heard_at)]
    assert min(gaps) > 0.8 * INTERVAL
