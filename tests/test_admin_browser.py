"""The administration in a real browser (Debian's Chromium driven by Playwright) on a 390×844 phone:
an administrator creates a volunteer, resets their password and reads the one-time code, which
then opens only the page that sets a new password. No sideways scrolling, no console errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from tests.conftest import PASSWORD

pytestmark = pytest.mark.live

PHONE = {"width": 390, "height": 844}
NOT_LOCAL = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")
SHOTS = Path("/tmp/ronda-admin-browser")


def phone_page(browser, problems: list[str]):
    """A new phone-sized tab with no internet that records console errors and page errors."""
    context = browser.new_context(locale="es-PE", viewport=PHONE, is_mobile=True, has_touch=True)
    context.route(NOT_LOCAL, lambda route: (problems.append(f"outside: {route.request.url}"), route.abort()))
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return page


def fits(page, *, targets: bool = True) -> None:
    """Nothing wider than the phone, and (`targets`) every visible control of the content at least 44 px high."""
    page.wait_for_load_state("load")  # measured with the stylesheets applied
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
            .slice(0, 5).map(e => e.outerHTML.slice(0, 100))"""
    )
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], (page.url, wide)
    if not targets:
        return
    small = page.evaluate(
        """() => [...document.querySelectorAll('main button, main a.button, main summary, main select, main input')]
            .filter(e => e.offsetParent !== null && e.type !== 'hidden')
            .filter(e => e.getBoundingClientRect().height < 43.5)
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert small == [], small


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_admin_creates_a_volunteer_resets_their_password_and_reads_the_code_on_a_phone(
    browser, live_server, make_person
):
    make_person("admin", username="jefa")
    problems: list[str] = []
    page = phone_page(browser, problems)
    page.goto(f"{live_server.url}/admin")
    page.fill("input[name=username]", "jefa")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#section-users")
    fits(page)
    shot(page, "1-admin")

    page.click("#section-users")
    page.click("#new-account summary")
    page.fill("#n-username", "juanperez")
    page.fill("#n-name", "Juan Pérez")
    page.select_option("#n-role", "volunteer")
    page.select_option("#n-zone", "3")
    page.fill("#n-password", "una-clave-del-vecino")
    fits(page)
    shot(page, "2-new-account")
    page.click("#n-submit")
    page.wait_for_selector("#done")
    assert "La cuenta se creó" in page.inner_text("#done")
    assert page.inner_text("#r-role") == "Voluntario"
    fits(page)
    shot(page, "3-account")

    page.click("#reset-box summary")
    page.click("#reset-submit")
    page.wait_for_selector("#one-time-code")
    code = page.inner_text("#one-time-code").strip()
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", code)
    assert "solo esta vez" in page.inner_text("#shown-once")
    fits(page)
    shot(page, "4-code")

    # The code is never shown again, and opens only the page that sets a new password.
    page.click("#back")
    page.wait_for_selector("#r-state")
    assert code not in page.content()
    assert "Debe elegir una contraseña nueva" in page.inner_text("#r-state")
    refused = requests.post(
        f"{live_server.url}/api/v1/auth/token", json={"username": "juanperez", "password": code}, timeout=10
    )
    assert refused.status_code == 403 and refused.json()["error"] == "password_change_required"

    person = phone_page(browser, problems)
    person.goto(f"{live_server.url}/entrar")
    person.fill("input[name=username]", "juanperez")
    person.fill("input[name=password]", code)
    person.click("button[type=submit]")
    person.wait_for_url("**/cuenta/clave-nueva**")
    fits(person, targets=False)  # the sign-in pages are not the administration's
    shot(person, "5-new-password")

    page.goto(f"{live_server.url}/admin/usuarios?buscar=juan")
    page.wait_for_selector("tr[data-username=juanperez]")
    fits(page)
    shot(page, "6-list")
    assert problems == []
    page.context.close()
    person.context.close()
