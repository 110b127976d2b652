"""Ended sessions and password resets as people meet them, in Chromium: the police map goes to the
sign-in page when the account is signed out elsewhere, and a volunteer whose password was reset
signs in on the phone with the one-time code and chooses a new one."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from sqlmodel import Session

from security import accounts
from security.models import User
from tests.conftest import PASSWORD, ZONE_POINTS
from tests.test_phone_browser import phones  # noqa: F401  (`phones` is a fixture)

pytestmark = pytest.mark.live


def _change(app, user_id: int, change) -> Any:
    with Session(app.extensions["ronda"].engine, expire_on_commit=False) as s:
        result = change(s, s.get(User, user_id))
        s.commit()
        return result


def test_the_map_goes_to_sign_in_when_the_session_ends_elsewhere(app, browser, live_server, make_person):
    police = make_person("police", username="comisaria")
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="es-PE")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live_server.url}/entrar")
        page.fill("input[name=username]", "comisaria")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#connection.live", timeout=15_000)

        # The officer closes every session from their phone (a lost phone, say).
        token = live_server.token("comisaria")
        started = time.monotonic()
        answer = requests.delete(
            f"{live_server.url}/api/v1/me/sessions", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert answer.status_code == 204
        page.wait_for_url(re.compile(r"/entrar"), timeout=5_000)
        assert time.monotonic() - started < 5
        assert page.locator("input[name=username]").is_visible()
        assert "Su sesión se cerró." in page.inner_text("main")
        assert errors == []
        assert police.user.id
    finally:
        context.close()


def test_a_reset_volunteer_signs_in_on_the_phone_with_the_code_and_chooses_a_password(
    app, live_server, make_person, phones  # noqa: F811
):
    volunteer = make_person("volunteer", zone_id=1, username="juan")
    code = _change(app, volunteer.user.id, lambda s, u: accounts.reset_password(session=s, actor=None, user=u))
    phone = phones(live_server, point=ZONE_POINTS[1]).open()
    phone.page.wait_for_selector("#screen-signin:not([hidden])", timeout=10_000)
    phone.page.fill("#username", "juan")
    phone.page.fill("#password", code)
    phone.page.click("#signin-submit")
    phone.page.wait_for_selector("#signin-new:not([hidden])", timeout=10_000)
    assert "restablecida" in phone.page.inner_text("#signin-new")
    assert phone.page.is_hidden("#signin-error")  # the notice says what to do; no error box

    phone.page.fill("#new-password", "mi-clave-nueva-77")
    phone.page.fill("#repeat-password", "otra-cosa-distinta")
    phone.page.click("#signin-submit")
    assert "no coinciden" in phone.page.inner_text("#signin-error")

    phone.page.fill("#new-password", "12345678")
    phone.page.fill("#repeat-password", "12345678")
    phone.page.click("#signin-submit")
    phone.page.wait_for_function(
        "() => document.querySelector('#signin-error').textContent.includes('fácil de adivinar')", timeout=10_000
    )

    phone.page.fill("#new-password", "mi-clave-nueva-77")
    phone.page.fill("#repeat-password", "mi-clave-nueva-77")
    phone.page.click("#signin-submit")
    phone.page.wait_for_selector("body[data-ready=report]", timeout=15_000)
    assert phone.errors == []
    token = requests.post(
        f"{live_server.url}/api/v1/auth/token", json={"username": "juan", "password": "mi-clave-nueva-77"}, timeout=5
    )
    assert token.status_code == 200


def test_the_phone_is_told_when_its_session_is_closed_and_keeps_what_waits(
    app, live_server, make_person, phones  # noqa: F811
):
    volunteer = make_person("volunteer", zone_id=1, username="ana")
    phone = phones(live_server, point=ZONE_POINTS[1]).open().sign_in("ana")
    phone.page.wait_for_selector("body[data-live=yes]", timeout=10_000)
    _change(app, volunteer.user.id, lambda s, u: accounts.end_all_sessions(session=s, user=u, actor=None))
    phone.page.wait_for_selector("#session-expired:not([hidden])", timeout=5_000)
    assert "se cerró" in phone.page.inner_text("#session-expired")
    assert phone.page.get_attribute("body", "data-live") == "no"
    assert phone.errors == []
