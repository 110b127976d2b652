"""Live sockets do not outlive the session they were opened in: a deactivated account, a session
ended elsewhere or an expired token closes them within 2 s, on every server process."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from sqlmodel import Session

from security import accounts
from security.models import User
from tests.conftest import PASSWORD, start_server
from tests.test_live_push import Dashboard, connect  # noqa: F401  (`connect` is a fixture)
from tests.test_redis_queue import two_servers  # noqa: F401  (a fixture: two processes sharing Redis)

pytestmark = pytest.mark.live


def _closed_at(dashboard: Dashboard) -> threading.Event:
    """Set when the server closes the socket."""
    closed = threading.Event()
    dashboard.sio.on("disconnect", lambda *_reason: closed.set())
    return closed


def _deactivate(app, user_id: int) -> None:
    """What an administrator's click does, from another process than the servers'."""
    with Session(app.extensions["ronda"].engine, expire_on_commit=False) as s:
        accounts.deactivate(session=s, actor=None, user=s.get(User, user_id))  # type: ignore[arg-type]
        s.commit()


def test_deactivation_closes_an_open_socket_within_two_seconds(app, live_server, make_person, connect):  # noqa: F811
    volunteer = make_person("volunteer", zone_id=3)
    police = make_person("police")
    socket = connect(live_server, volunteer.token)
    other = connect(live_server, police.token)
    closed, other_closed = _closed_at(socket), _closed_at(other)
    assert socket.sio.call("join_zone", {"zone_id": 3}, timeout=5) == {"ok": True, "zone_id": 3}

    started = time.monotonic()
    _deactivate(app, volunteer.user.id)
    assert closed.wait(2.0), "the deactivated person's socket stayed open"
    took = time.monotonic() - started
    assert took < 2.0
    assert socket.heard("session_ended") == [{"reason": "ended"}]
    assert not other_closed.is_set()  # nobody else is touched

    again = Dashboard()
    with pytest.raises(Exception):  # noqa: B017  (python-socketio raises its ConnectionError)
        again.connect(live_server.url, volunteer.token)
    assert again.refusal["data"] == {"reason": "invalid"}


def test_an_expiring_token_closes_its_socket(app, db_url, tmp_path, make_person, connect):  # noqa: F811
    server = start_server(db_url=db_url, tmp_path=tmp_path, extra_env={"TOKEN_TTL_SECONDS": "3"})
    try:
        person = make_person("neighbor", zone_id=2, username="vecina")
        token = server.token("vecina")
        socket = connect(server, token)
        closed = _closed_at(socket)
        assert closed.wait(3 + 2.5), "a socket outlived its token"
        assert socket.heard("session_ended") == [{"reason": "expired"}]
        assert person.user.id
    finally:
        server.stop()


@pytest.mark.redis
def test_ending_every_session_on_one_process_closes_the_sockets_on_both(two_servers, make_person, connect):  # noqa: F811
    first, second = two_servers
    person = make_person("coordinator", zone_id=4, username="rosa")
    token = first.token("rosa")
    on_first, on_second = connect(first, token), connect(second, token)
    closed_first, closed_second = _closed_at(on_first), _closed_at(on_second)

    started = time.monotonic()
    answer = requests.delete(f"{first.url}/api/v1/me/sessions", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert answer.status_code == 204
    assert closed_first.wait(2.0) and closed_second.wait(max(0.0, started + 2.0 - time.monotonic()))
    assert time.monotonic() - started < 2.0
    assert person.user.id
    for server in (first, second):
        assert requests.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                            timeout=5).status_code == 401  # fmt: skip


@pytest.mark.redis
def test_deactivation_closes_sockets_on_every_process(app, two_servers, make_person, connect):  # noqa: F811
    first, second = two_servers
    person = make_person("volunteer", zone_id=1)
    sockets = [connect(first, person.token), connect(second, person.token)]
    closed = [_closed_at(s) for s in sockets]
    started = time.monotonic()
    _deactivate(app, person.user.id)
    for event in closed:
        assert event.wait(max(0.0, started + 2.0 - time.monotonic())), "a socket on one process stayed open"


def test_changing_ones_password_on_the_web_while_a_map_is_open_closes_it_cleanly(
    live_server, make_person, connect  # noqa: F811
):
    """The change is committed within a request: its sockets close apart, and the page answers."""
    import re

    make_person("coordinator", zone_id=3, username="rosa")
    socket = connect(live_server, live_server.token("rosa"))
    closed = _closed_at(socket)
    web = requests.Session()
    page = web.get(f"{live_server.url}/entrar", timeout=5).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    web.post(f"{live_server.url}/entrar", data={"csrf": csrf, "username": "rosa", "password": PASSWORD}, timeout=10)
    account = web.get(f"{live_server.url}/cuenta", timeout=5)
    csrf = re.search(r'name="csrf" value="([^"]+)"', account.text).group(1)  # type: ignore[union-attr]
    new = {"new_password": "otra-clave-larga-5", "repeat_password": "otra-clave-larga-5"}
    changed = web.post(f"{live_server.url}/cuenta/clave", data={"csrf": csrf, "current_password": PASSWORD, **new},
                       timeout=10, allow_redirects=False)  # fmt: skip
    assert changed.status_code == 302, changed.text[:300]
    assert closed.wait(2.0)
    assert web.get(f"{live_server.url}/cuenta", timeout=5).status_code == 200  # this browser stays in
    time.sleep(0.5)
    assert "could not disconnect" not in live_server.log() and "Traceback" not in live_server.log()
