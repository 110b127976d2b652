"""Several server processes share live push through Redis: a report made on one reaches the
dashboards connected to another, and still only those who may see it."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import REDIS_URL, LiveServer, service_or_skip, start_server
from tests.test_live_push import about, connect, report  # noqa: F401  (`connect` is a fixture)

pytestmark = [pytest.mark.redis, pytest.mark.live]


def _ping() -> None:
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()


@pytest.fixture
def two_servers(app, db_url, tmp_path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two `python app.py` processes on one database, sharing a Redis message queue.

    Redis pub/sub ignores the database index, so another run on the same Redis may still be
    heard: the tests below only count events they can tell are their own.
    """
    service_or_skip("Redis", _ping)
    queue = REDIS_URL.rsplit("/", 1)[0] + f"/{random.randint(1, 15)}"
    first = start_server(db_url=db_url, tmp_path=tmp_path, extra_env={"SOCKETIO_MESSAGE_QUEUE": queue})
    try:
        second = start_server(db_url=db_url, tmp_path=tmp_path, extra_env={"SOCKETIO_MESSAGE_QUEUE": queue})
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


def test_a_report_to_one_server_reaches_police_on_the_other(two_servers, make_person, connect):  # noqa: F811
    first, second = two_servers
    police = connect(second, make_person("police").token)
    neighbour_elsewhere = connect(second, make_person("neighbor", zone_id=2).token)
    volunteer = make_person("volunteer", zone_id=1)

    marked = f"Prueba {uuid.uuid4()}"  # police see descriptions: it tells our report from another run's

    sent = time.monotonic()
    incident = report(first, volunteer, 1, description=marked)
    heard = police.wait_for(
        "incident_reported", deadline=sent + 1.0, match=lambda e: e["data"]["description"] == marked
    )
    assert heard["zone_id"] == 1 and heard["data"]["id"] == incident["id"]
    assert heard["data"]["reporter"] is None  # names are only shown to whoever opens the incident

    # A zone 2 report made on the first server afterwards is a marker: the queue keeps the
    # order of one publisher, so a leak of the zone 1 report would arrive before it.
    marker = report(first, make_person("volunteer", zone_id=2), 2)
    neighbour_elsewhere.wait_for("incident_reported", deadline=time.monotonic() + 1.5, match=about(marker["id"]))
    assert [e for e in neighbour_elsewhere.heard() if e["zone_id"] != 2] == []
