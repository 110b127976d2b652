"""Password guessing is limited per account, per address and per known device (security/throttle.py),
on the API and on the sign-in page, and every attempt is on the record."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from sqlmodel import select

from security.models import AuditEntry
from tests.conftest import PASSWORD

WINDOW = 3  # seconds, instead of 15 minutes


@pytest.fixture
def app_config() -> dict[str, Any]:
    # A failure costs a password check (~0.1 s): the counts must fill within the short window.
    return {"SIGN_IN_WINDOW_SECONDS": WINDOW, "SIGN_IN_ADDRESS_MAX_FAILURES": 12}


def _token(client, username: str, password: str, **kwargs: Any):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password}, **kwargs)


def _csrf(client) -> str:
    page = client.get("/entrar").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_eleven_wrong_passwords_pause_the_account_and_the_right_one_works_after_the_window(app, make_person):
    make_person("police", username="comisaria")
    attacker = app.test_client()
    answers = [_token(attacker, "comisaria", f"adivina-{i}").status_code for i in range(11)]
    assert answers == [401] * 10 + [429]
    refused = _token(attacker, "comisaria", PASSWORD)  # even the right password waits
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["error"] == "too_many_attempts"
    assert "Demasiados intentos fallidos" in body["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW
    assert body["retry_after"] == int(refused.headers["Retry-After"])
    english = _token(attacker, "comisaria", PASSWORD, headers={"Accept-Language": "en"})
    assert "Too many failed" in english.get_json()["message"]

    time.sleep(int(refused.headers["Retry-After"]) + 0.2)
    assert _token(attacker, "comisaria", PASSWORD).status_code == 200


def test_the_sign_in_page_is_limited_the_same_way(app, make_person):
    make_person("coordinator", zone_id=3, username="rosa")
    browser = app.test_client()
    csrf = _csrf(browser)
    statuses = [
        browser.post("/entrar", data={"csrf": csrf, "username": "rosa", "password": f"mal-{i}"}).status_code
        for i in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    page = browser.post("/entrar", data={"csrf": csrf, "username": "rosa", "password": PASSWORD})
    assert page.status_code == 429
    assert "Demasiados intentos fallidos" in page.get_data(as_text=True)
    assert int(page.headers["Retry-After"]) >= 1


def test_a_name_that_is_no_account_is_paused_the_same_way(app, make_person):
    make_person("police", username="real")
    client = app.test_client()
    unknown = [_token(client, "nadie-se-llama-asi", "x").status_code for _ in range(11)]
    known = [_token(app.test_client(), "real", "x", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code
             for _ in range(11)]  # fmt: skip
    assert unknown == known == [401] * 10 + [429]


def test_one_address_spraying_many_accounts_is_paused(app, make_person):
    client = app.test_client()
    limit = app.config["SIGN_IN_ADDRESS_MAX_FAILURES"]
    for i in range(limit):
        assert _token(client, f"usuario{i}", "x").status_code == 401
    make_person("volunteer", zone_id=1, username="ana")
    assert _token(client, "ana", PASSWORD).status_code == 429
    # Another address is not affected.
    assert _token(client, "ana", PASSWORD, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


def test_the_owner_of_a_known_device_is_not_locked_out_by_someone_else(app, make_person):
    make_person("volunteer", zone_id=2, username="juan")
    phone = app.test_client()
    assert _token(phone, "juan", PASSWORD).status_code == 200  # the phone becomes a known device
    attacker = app.test_client()
    for i in range(12):
        _token(attacker, "juan", f"x{i}", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert _token(attacker, "juan", PASSWORD, environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 429
    assert _token(phone, "juan", PASSWORD).status_code == 200  # its owner still gets in
    # The known device has a budget of its own: it cannot be used to guess without limit either.
    assert [_token(phone, "juan", f"y{i}").status_code for i in range(11)][-1] == 429


def test_successes_failures_and_pauses_are_on_the_record_with_the_address(app, make_person, session):
    police = make_person("police", username="comisaria")
    client = app.test_client()
    for i in range(10):
        _token(client, "comisaria", f"mal-{i}", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    _token(app.test_client(), "comisaria", PASSWORD)  # another address, before the pause... still paused
    time.sleep(WINDOW + 0.2)
    assert _token(app.test_client(), "comisaria", PASSWORD).status_code == 200
    lines = session.exec(select(AuditEntry).where(AuditEntry.object_id == str(police.user.id))).all()
    failures = [e for e in lines if e.action == "auth.sign_in" and e.outcome == "failed"]
    assert len(failures) == 10
    assert {e.ip for e in failures} == {"198.51.100.7"}
    assert all('"username": "comisaria"' in (e.detail or "") for e in failures)
    paused = [e for e in lines if e.action == "auth.throttled"]
    assert len(paused) == 1 and '"scope": "account"' in (paused[0].detail or "")
    assert [e.outcome for e in lines if e.action == "auth.sign_in" and e.outcome == "ok"] == ["ok"]


@pytest.mark.live
def test_guesses_sent_all_at_once_cannot_slip_past_the_count(app, live_server, make_person):
    """Each attempt is counted before its password is checked: 30 guesses at once try at most 10
    passwords, and none of them is a server error (the pool is not held while hashing)."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    make_person("police", username="comisaria")

    def guess(username: str, i: int) -> int:
        answer = requests.post(f"{live_server.url}/api/v1/auth/token",
                               json={"username": username, "password": f"adivina-{i}"}, timeout=60)  # fmt: skip
        return answer.status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(guess, ["comisaria"] * 30, range(30)))
        assert set(statuses) <= {401, 429}, statuses
        assert statuses.count(401) <= 10 and statuses.count(429) >= 20
        # 20 names at once, each checked (more than the database pool's 15 connections; with the 10
        # failures above, the address's 30 are not yet full).
        started = time.monotonic()
        sprayed = list(pool.map(guess, [f"nombre{i}" for i in range(20)], range(20)))
    assert sprayed == [401] * 20
    assert time.monotonic() - started < 15  # nobody waited for a connection held by a password check


def test_signing_in_correctly_uses_up_nothing(app, make_person):
    """A station's shared account signed in from many desks in a quarter of an hour stays open."""
    make_person("police", username="comisaria")
    desks = [app.test_client() for _ in range(15)]  # no known-device cookie on any of them
    assert [_token(desk, "comisaria", PASSWORD).status_code for desk in desks] == [200] * 15
    assert [_token(desks[0], "comisaria", "mal").status_code for _ in range(3)] == [401] * 3
