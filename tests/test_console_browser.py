"""The live map as an operations console, in a real browser (Debian's Chromium driven by Playwright):
popup actions and history, alarms closed from the page, the queue, the keyboard, the phone layout,
block outlines from Ronda's own data. Every page runs with no internet (tiles never load)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from tests.conftest import PASSWORD, ZONE_POINTS, LiveServer, patrol_body, start_server

pytestmark = pytest.mark.live

POPUP = ".leaflet-popup-content"
PHONE = {"width": 390, "height": 844}
NOT_LOCAL = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")


@pytest.fixture
def eager_server(app, db_url: str, tmp_path) -> Iterator[LiveServer]:
    """A live server where an incident is overdue as soon as it is reported, and alarms escalate in 2 s."""
    server = start_server(
        db_url=db_url,
        tmp_path=tmp_path,
        extra_env={"ALARM_ESCALATION_SECONDS": "2", "INCIDENT_ACK_OVERDUE_MINUTES": "0"},
    )
    yield server
    server.stop()


def open_map(browser, server: LiveServer, username: str, *, viewport: dict | None = None, phone: bool = False):
    """A new browser page signed in as `username`, on /mapa, connected live, with no internet."""
    context = browser.new_context(
        locale="es-PE", viewport=viewport or {"width": 1280, "height": 800}, is_mobile=phone, has_touch=phone
    )
    context.route(NOT_LOCAL, lambda route: route.abort())
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("dialog", lambda dialog: (page.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(f"{server.url}/mapa")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#connection.live", timeout=15_000)
    return page


def call(server: LiveServer, username: str, method: str, path: str, body: dict | None = None) -> dict:
    response = requests.request(
        method,
        f"{server.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {server.token(username)}"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def report(server: LiveServer, username: str, zone_id: int, *, dlat: float = 0.0, **extra) -> dict:
    lat, lon = ZONE_POINTS[zone_id]
    body = {"client_id": str(uuid.uuid4()), "kind": "robbery", "lat": lat + dlat, "lon": lon, **extra}
    return call(server, username, "POST", "/api/v1/incidents", body)


def raise_alarm(server: LiveServer, username: str, zone_id: int) -> dict:
    lat, lon = ZONE_POINTS[zone_id]
    body = {"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon}
    return call(server, username, "POST", "/api/v1/alarms", body)


def status_is(page, incident_id: int, status: str, timeout: float = 1_000) -> None:
    page.wait_for_function(
        f"() => window.ronda.latest[{incident_id}] && window.ronda.latest[{incident_id}].status === '{status}'",
        timeout=timeout,
    )


def gone(page, incident_id: int, timeout: float = 1_000) -> None:
    page.wait_for_function(f"() => window.ronda.incidents[{incident_id}] === undefined", timeout=timeout)


def open_from_queue(page, key: str) -> None:
    """Press a queue row (incident "i12", alarm "a7") and wait for its popup."""
    page.click(f"#queue-list button[data-key='{key}']")
    attribute = "data-incident-id" if key[0] == "i" else "data-alarm-id"
    page.wait_for_selector(f"{POPUP} [{attribute}='{key[1:]}']", timeout=5_000)


def queue_keys(page) -> list[str]:
    return page.eval_on_selector_all("#queue-list .queue-item", "nodes => nodes.map(n => n.dataset.key)")


def on_the_record(server: LiveServer, make_person, object_type: str, object_id: int) -> list[tuple[str, str, str]]:
    """(action, username, role) of each line of the audit record about an object, oldest first."""
    make_person("admin", username=f"auditora{object_type}{object_id}")
    path = f"/api/v1/audit?object_type={object_type}&object_id={object_id}"
    items = call(server, f"auditora{object_type}{object_id}", "GET", path)["items"]
    return [(e["action"], e["actor_username"], e["actor_role"]) for e in reversed(items)]


def start_patrol(server: LiveServer, make_committee, member, zone_id: int, name: str) -> int:
    committee = make_committee(zone_id, [member], name=name)
    patrol = call(server, member.user.username, "POST", "/api/v1/patrols", patrol_body(committee, [member]))
    lat, lon = ZONE_POINTS[zone_id]
    point = {"t": datetime.now(UTC).isoformat(), "lat": lat + 0.001, "lon": lon}
    call(server, member.user.username, "POST", f"/api/v1/patrols/{patrol['id']}/positions", {"positions": [point]})
    return int(patrol["id"])


def test_police_receive_dispatch_and_resolve_from_the_popup_seen_live_on_another_screen(
    browser, live_server, make_person, make_committee
):
    make_person("police", username="agente1")
    make_person("police", username="agente2")
    make_person("volunteer", zone_id=1, username="informante")
    juan = make_person("volunteer", zone_id=1, username="juan")
    patrol_id = start_patrol(live_server, make_committee, juan, 1, "Comité Los Pinos")
    incident = report(live_server, "informante", 1, description="Arrebato de celular en el paradero")
    first = open_map(browser, live_server, "agente1")
    second = open_map(browser, live_server, "agente2")
    key = f"i{incident['id']}"
    open_from_queue(first, key)
    popup = first.locator(POPUP)
    popup.get_by_text("Nombre de informante").wait_for(timeout=3_000)  # only the opened incident names its reporter
    assert "Arrebato de celular" in popup.inner_text() and "hace menos de 1 min" in popup.inner_text()
    assert popup.locator("button.act-dispatched, button.act-resolved").count() == 0  # not yet: only from reported
    assert popup.locator("button.act-dismissed").count() == 1

    open_from_queue(second, key)  # the other officer looks at it too
    second.locator(f"{POPUP} button.act-acknowledged").wait_for(timeout=3_000)

    popup.locator("button.act-acknowledged").click()
    status_is(second, incident["id"], "acknowledged")
    # An open popup elsewhere follows the change: no stale "Recibir" there either.
    second.locator(f"{POPUP} button.act-dispatched").wait_for(timeout=2_000)
    assert second.locator(f"{POPUP} button.act-acknowledged").count() == 0
    second.keyboard.press("Escape")
    # The open popup shows the new state: no stale "Recibir", the dispatch list with the nearest patrol.
    popup.locator("button.act-dispatched").wait_for(timeout=2_000)
    assert popup.locator("button.act-acknowledged").count() == 0
    option = popup.locator(f"select.patrol-choice option[value='{patrol_id}']")
    option.wait_for(state="attached", timeout=3_000)
    assert "Comité Los Pinos" in option.inner_text() and " m" in option.inner_text()
    popup.get_by_text("Policía: Reportado → Recibido").wait_for(timeout=3_000)

    popup.locator("select.patrol-choice").select_option(str(patrol_id))
    popup.locator("button.act-dispatched").click()
    status_is(second, incident["id"], "dispatched")
    assert second.evaluate(f"() => window.ronda.latest[{incident['id']}].assigned_patrol_id") == patrol_id
    popup.locator("button.act-resolved").wait_for(timeout=2_000)
    assert "Comité Los Pinos" in popup.inner_text()

    popup.locator("textarea.note").fill("Se recuperó el celular")
    popup.locator("button.act-resolved").click()
    gone(second, incident["id"])
    second.wait_for_selector(f"#queue-list button[data-key='{key}']", state="detached", timeout=1_000)
    gone(first, incident["id"])
    history = call(live_server, "agente2", "GET", f"/api/v1/incidents/{incident['id']}/history")["items"]
    assert [(h["to_status"], h["by_role"]) for h in history] == [
        ("acknowledged", "police"),
        ("dispatched", "police"),
        ("resolved", "police"),
    ]
    assert history[1]["assigned_patrol_id"] == patrol_id and history[2]["note"] == "Se recuperó el celular"
    record = on_the_record(live_server, make_person, "incident", incident["id"])
    assert record[0] == ("incident.reported", "informante", "volunteer")
    assert ("incident.reporter_viewed", "agente1", "police") in record  # the popup named the reporter
    assert [r for r in record if r[0] == "incident.status_changed"] == [
        ("incident.status_changed", "agente1", "police")
    ] * 3
    assert first.errors == [] and second.errors == []


def test_police_mark_a_duplicate_and_close_a_false_alarm_from_the_banner(browser, live_server, make_person):
    make_person("police", username="agente1")
    make_person("police", username="agente2")
    make_person("volunteer", zone_id=1, username="vol1")
    make_person("neighbor", zone_id=3, username="vecina")
    original = report(live_server, "vol1", 1)
    repeat = report(live_server, "vol1", 1, dlat=0.0003)  # ~33 m away, a minute later: a candidate
    first = open_map(browser, live_server, "agente1")
    second = open_map(browser, live_server, "agente2")
    open_from_queue(first, f"i{repeat['id']}")
    candidate = first.locator(f"{POPUP} button[data-duplicate-of='{original['id']}']")
    candidate.wait_for(timeout=3_000)
    assert f"n.º {original['id']}" in candidate.inner_text()
    candidate.click()
    gone(second, repeat["id"])
    state = call(live_server, "agente1", "GET", f"/api/v1/incidents/{repeat['id']}")
    assert state["status"] == "duplicate" and state["duplicate_of"] == original["id"]

    alarm = raise_alarm(live_server, "vecina", 3)
    row = f"#alarm-banner [data-alarm-id='{alarm['id']}']"
    for page in (first, second):
        page.wait_for_selector(f"{row} button.resolve-false", timeout=2_000)
    first.fill(f"{row} input.note", "Un niño jugó con el botón")
    first.click(f"{row} button.resolve-false")
    first.wait_for_selector("#alarm-banner", state="hidden", timeout=2_000)
    second.wait_for_selector("#alarm-banner", state="hidden", timeout=2_000)
    for page in (first, second):
        page.wait_for_function(f"() => window.ronda.alarms[{alarm['id']}] === undefined", timeout=2_000)
        page.wait_for_selector(f"#queue-list button[data-key='a{alarm['id']}']", state="detached", timeout=2_000)
    state = call(live_server, "agente2", "GET", f"/api/v1/alarms/{alarm['id']}")
    assert state["status"] == "resolved" and state["outcome"] == "false_alarm"


def test_the_queue_puts_alarms_first_then_the_oldest_incidents_and_marks_the_overdue(
    browser, eager_server, make_person
):
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=1, username="vol1")
    make_person("neighbor", zone_id=2, username="vecino")
    older = report(eager_server, "vol1", 1)
    newer = report(eager_server, "vol1", 1, dlat=0.01, kind="vandalism")
    call(eager_server, "comisaria", "PATCH", f"/api/v1/incidents/{newer['id']}", {"status": "acknowledged"})
    alarm = raise_alarm(eager_server, "vecino", 2)
    page = open_map(browser, eager_server, "comisaria")
    page.wait_for_function("() => document.querySelectorAll('#queue-list .queue-item').length === 3", timeout=3_000)
    assert queue_keys(page) == [f"a{alarm['id']}", f"i{older['id']}", f"i{newer['id']}"]
    # Still "reported" after INCIDENT_ACK_OVERDUE_MINUTES (0 here): overdue; an acknowledged one is not.
    assert page.locator(f"#queue-list button[data-key='i{older['id']}'].overdue").count() == 1
    assert page.locator(f"#queue-list button[data-key='i{newer['id']}'].overdue").count() == 0
    assert "hace menos de 1 min" in page.inner_text(f"#queue-list button[data-key='i{older['id']}']")
    # The alarm escalates unattended (2 s here) and is highlighted.
    page.wait_for_selector(f"#queue-list button[data-key='a{alarm['id']}'].overdue", timeout=8_000)
    # Live: a new report joins at the end (the newest), an attended alarm leaves the front.
    latest = report(eager_server, "vol1", 1, dlat=-0.01)
    page.wait_for_selector(f"#queue-list button[data-key='i{latest['id']}']", timeout=2_000)
    assert queue_keys(page)[-1] == f"i{latest['id']}"
    call(eager_server, "comisaria", "POST", f"/api/v1/alarms/{alarm['id']}/acknowledge")
    page.wait_for_function(
        f"() => document.querySelector('#queue-list .queue-item').dataset.key === 'i{older['id']}'", timeout=2_000
    )
    assert page.errors == []


def test_serenazgo_works_incidents_and_alarms_and_never_receives_a_reporter_name(browser, live_server, make_person):
    make_person("serenazgo", username="sereno")
    make_person("volunteer", zone_id=2, username="informante")
    make_person("neighbor", zone_id=2, username="vecino")
    incident = report(live_server, "informante", 2, description="Pelea en la losa deportiva")
    page = open_map(browser, live_server, "sereno")
    # What the first load still had in flight would be dropped by the reload, body and all: let it end.
    page.wait_for_load_state("networkidle")
    answers: list = []
    frames: list[str] = []
    page.on("response", lambda answer: answers.append(answer))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    page.reload()
    page.wait_for_selector("#connection.live", timeout=15_000)
    open_from_queue(page, f"i{incident['id']}")
    popup = page.locator(POPUP)
    popup.locator("button.act-acknowledged").click()
    popup.locator("button.act-dispatched").wait_for(timeout=3_000)
    popup.locator("button.act-dispatched").click()
    popup.locator("button.act-resolved").wait_for(timeout=3_000)
    popup.locator("textarea.note").fill("Se dispersó el grupo")
    popup.locator("button.act-resolved").click()
    gone(page, incident["id"], timeout=3_000)
    alarm = raise_alarm(live_server, "vecino", 2)
    page.wait_for_selector(f"#queue-list button[data-key='a{alarm['id']}']", timeout=3_000)
    open_from_queue(page, f"a{alarm['id']}")
    popup.locator("input.note").fill("Robo frustrado")
    popup.locator("button.resolve-real").click()
    page.wait_for_function(f"() => window.ronda.alarms[{alarm['id']}] === undefined", timeout=3_000)
    assert call(live_server, "sereno", "GET", f"/api/v1/alarms/{alarm['id']}")["outcome"] == "real"
    # Nobody's name reached this screen: not the page, not an API answer, not a push.
    bodies = [page.content()]
    bodies += [a.text() for a in answers if "/api/" in a.url or "/mapa" in a.url]
    bodies += frames
    assert any(f'"id":{incident["id"]}' in b.replace(" ", "") for b in bodies)  # the answers were read
    for body in bodies:
        assert "Nombre de informante" not in body and "informante" not in body
    record = on_the_record(live_server, make_person, "incident", incident["id"])
    assert (
        record
        == [("incident.reported", "informante", "volunteer")] + [("incident.status_changed", "sereno", "serenazgo")] * 3
    )  # and no showing of the reporter
    alarm_record = on_the_record(live_server, make_person, "alarm", alarm["id"])
    assert alarm_record == [("alarm.raised", "vecino", "neighbor"), ("alarm.resolved", "sereno", "serenazgo")]
    assert page.errors == []


def test_a_coordinator_works_only_their_zone_with_only_the_allowed_moves(browser, live_server, make_person):
    make_person("coordinator", zone_id=1, username="coordinadora")
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=1, username="vol1")
    make_person("volunteer", zone_id=2, username="vol2")
    elsewhere = report(live_server, "vol2", 2)
    here = report(live_server, "vol1", 1)
    later = report(live_server, "vol1", 1, dlat=0.01, kind="vandalism")
    page = open_map(browser, live_server, "coordinadora")
    assert page.evaluate(f"() => window.ronda.latest[{elsewhere['id']}] === undefined")
    assert queue_keys(page) == [f"i{here['id']}", f"i{later['id']}"]
    open_from_queue(page, f"i{here['id']}")
    popup = page.locator(POPUP)
    popup.get_by_text("No hay reportes parecidos cerca.").wait_for(timeout=3_000)
    moves = popup.locator("button[data-status]").evaluate_all("nodes => nodes.map(n => n.dataset.status)")
    assert moves == ["acknowledged", "dismissed", "duplicate"]  # of any incident, by its number
    popup.locator("button.act-acknowledged").click()
    popup.locator("button.act-dispatched").wait_for(timeout=3_000)
    assert popup.locator("button.act-acknowledged, button.act-resolved").count() == 0
    popup.get_by_text("Coordinador: Reportado → Recibido").wait_for(timeout=3_000)

    # A screen offline for a moment shows a move that is no longer allowed: pressing it gets the
    # API's words in Spanish with the state it is in now (no status code, no internal names), and
    # the popup catches up with the real state.
    open_from_queue(page, f"i{later['id']}")
    page.wait_for_selector(f"{POPUP} .history-list", timeout=3_000)
    page.evaluate("() => window.ronda.socket.disconnect()")
    call(live_server, "comisaria", "PATCH", f"/api/v1/incidents/{later['id']}", {"status": "acknowledged"})
    call(live_server, "comisaria", "PATCH", f"/api/v1/incidents/{later['id']}", {"status": "dispatched"})
    page.click(f"{POPUP} button.act-acknowledged")
    problem = page.locator(f"{POPUP} .problem")
    problem.wait_for(timeout=3_000)
    words = problem.inner_text()
    assert "Patrullero en camino" in words and "Resuelto" in words, words
    assert not re.search(r"\b409\b|dispatched|acknowledged", words), words
    page.locator(f"{POPUP} button.act-resolved").wait_for(timeout=3_000)
    assert page.locator(f"{POPUP} button.act-acknowledged").count() == 0
    assert page.errors == []


def test_a_neighbour_gets_no_actions_and_no_queue(browser, live_server, make_person):
    make_person("neighbor", zone_id=1, username="vecino1")
    make_person("neighbor", zone_id=1, username="vecino2")
    make_person("volunteer", zone_id=1, username="vol1")
    incident = report(live_server, "vol1", 1, description="Venta de drogas en el parque")
    page = open_map(browser, live_server, "vecino1")
    assert page.locator("#queue, #queue-toggle").count() == 0
    page.evaluate(f"() => window.ronda.incidents[{incident['id']}].openPopup()")
    page.wait_for_selector(f"{POPUP} .history-list", timeout=3_000)
    assert page.locator(f"{POPUP} button, {POPUP} textarea, {POPUP} select").count() == 0
    assert "Venta de drogas" not in page.inner_text(POPUP)
    alarm = raise_alarm(live_server, "vecino2", 1)
    page.wait_for_function(f"() => window.ronda.alarms[{alarm['id']}] !== undefined", timeout=3_000)
    assert page.locator("#alarm-banner").is_hidden()
    page.evaluate(f"() => window.ronda.openAlarm({alarm['id']})")
    page.wait_for_selector(f"{POPUP} [data-alarm-id='{alarm['id']}']", timeout=3_000)
    assert page.locator(f"{POPUP} button, {POPUP} input").count() == 0
    assert page.errors == []


def tab_until(page, selector: str, limit: int = 80):
    """Press Tab until the focused element matches `selector`; its handle."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => document.activeElement && document.activeElement.matches({selector!r})"):
            return page.evaluate_handle("() => document.activeElement")
    raise AssertionError(f"Tab never reached {selector}")


def test_the_map_and_the_queue_work_with_the_keyboard_alone(browser, live_server, make_person):
    make_person("police", username="guardia")
    make_person("volunteer", zone_id=3, username="vol3")
    make_person("volunteer", zone_id=1, username="vol1")
    first = report(live_server, "vol3", 3)
    second = report(live_server, "vol1", 1, kind="vandalism")
    page = open_map(browser, live_server, "guardia")
    marker = tab_until(page, f"[data-incident-id='{first['id']}']")
    label = marker.get_attribute("aria-label")
    assert label == f"Robo, Reportado, {first['block_name']}, hace menos de 1 min", label
    assert marker.get_attribute("role") == "button" and marker.get_attribute("tabindex") == "0"
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{POPUP} [data-incident-id='{first['id']}']", timeout=3_000)
    assert page.evaluate(f"() => document.activeElement.closest('{POPUP}') !== null")
    close = page.locator(".leaflet-popup-close-button")
    assert close.get_attribute("aria-label") == "Cerrar"
    names = page.eval_on_selector_all(f"{POPUP} button", "nodes => nodes.map(n => n.textContent.trim())")
    assert names and all(names), names  # every action says what it does
    page.keyboard.press("Escape")
    page.wait_for_selector(POPUP, state="detached", timeout=2_000)
    assert page.evaluate("() => document.activeElement.dataset.incidentId") == str(first["id"])

    # The queue: Tab into it, arrows between rows, Enter opens, a popup's action by keyboard, Escape back.
    tab_until(page, "#queue-list .queue-item")
    assert page.evaluate("() => document.activeElement.dataset.key") == f"i{first['id']}"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.dataset.key") == f"i{second['id']}"
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{POPUP} [data-incident-id='{second['id']}'] button.act-acknowledged", timeout=3_000)
    tab_until(page, f"{POPUP} button.act-acknowledged", limit=10)
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{POPUP} button.act-dispatched", timeout=3_000)
    assert call(live_server, "guardia", "GET", f"/api/v1/incidents/{second['id']}")["status"] == "acknowledged"
    page.keyboard.press("Escape")
    page.wait_for_selector(POPUP, state="detached", timeout=2_000)
    assert page.evaluate("() => document.activeElement.dataset.key") == f"i{second['id']}"
    page.keyboard.press("ArrowUp")
    page.keyboard.press(" ")
    page.wait_for_selector(f"{POPUP} [data-incident-id='{first['id']}']", timeout=3_000)
    assert page.errors == []


TARGETS = """() => [...document.querySelectorAll('button, a[href], a[role=button], select, [role=button]')]
    .map(n => [n, n.getBoundingClientRect()])
    .filter(([n, r]) => r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0
        && r.top < innerHeight && r.left < innerWidth && getComputedStyle(n).visibility !== 'hidden')
    .filter(([n, r]) => r.height < 43.5)
    .map(([n, r]) => (n.className || n.tagName) + ' ' + (n.textContent || n.getAttribute('aria-label') || '').trim()
        .slice(0, 30) + ': ' + Math.round(r.height))"""


def test_on_a_phone_the_map_keeps_the_screen_and_every_target_takes_a_finger(browser, live_server, make_person):
    make_person("coordinator", zone_id=1, username="coordinador")
    make_person("volunteer", zone_id=1, username="vol1")
    incident = report(live_server, "vol1", 1, description="Sujetos sospechosos merodeando la losa. " * 12)
    page = open_map(browser, live_server, "coordinador", viewport=PHONE, phone=True)
    chrome = page.evaluate("() => document.querySelector('.filters-bar').getBoundingClientRect().bottom")
    assert chrome <= 0.2 * PHONE["height"], f"header and filters take {chrome} px of {PHONE['height']}"
    assert page.evaluate(TARGETS) == []
    page.click("#menu-toggle")
    page.wait_for_selector("#menu a[href='/incidentes']", state="visible")
    assert page.evaluate(TARGETS) == []
    page.click("#menu-toggle")
    page.click("#queue-toggle")
    page.wait_for_selector(f"#queue-list button[data-key='i{incident['id']}']", state="visible")
    assert page.evaluate(TARGETS) == []
    open_from_queue(page, f"i{incident['id']}")
    page.locator(f"{POPUP} button.act-acknowledged").wait_for(timeout=3_000)
    page.wait_for_timeout(400)  # the map's pan to fit the popup
    close = page.locator(".leaflet-popup-close-button").bounding_box()
    assert close is not None and close["height"] >= 44 and close["width"] >= 44
    assert 0 <= close["x"] and close["x"] + close["width"] <= PHONE["width"], close
    assert 0 <= close["y"] and close["y"] + close["height"] <= PHONE["height"], close
    on_top = f"document.elementFromPoint({close['x'] + close['width'] / 2}, {close['y'] + close['height'] / 2})"
    assert page.evaluate(f"() => {on_top}.closest('.leaflet-popup-close-button') !== null")  # not under a map control
    assert page.evaluate(TARGETS) == []
    assert page.errors == []


def test_blocks_are_drawn_with_their_names_at_street_zoom_without_tiles(browser, live_server, make_person):
    make_person("police", username="sargento")
    make_person("volunteer", zone_id=3, username="vol3")
    incident = report(live_server, "vol3", 3)
    page = open_map(browser, live_server, "sargento")
    assert page.locator(".leaflet-tile-loaded").count() == 0  # no tiles: the closed network of the tests
    lat, lon = ZONE_POINTS[3]
    page.evaluate(f"() => window.ronda.map.setView([{lat}, {lon}], 15, {{animate: false}})")
    time.sleep(0.3)
    assert page.locator(".block-label").count() == 0 and page.locator("path.block-outline").count() == 0
    page.evaluate(f"() => window.ronda.map.setView([{lat}, {lon}], 17, {{animate: false}})")
    label = page.locator(".block-label span", has_text=incident["block_name"])
    label.first.wait_for(timeout=5_000)
    assert page.locator("path.block-outline").count() > 10
    names = page.eval_on_selector_all(".block-label", "nodes => nodes.map(n => n.textContent)")
    assert all(name.startswith("Manzana Z") for name in names)
    assert page.locator(".block-label[tabindex]").count() == 0  # names are not stops for the keyboard
    assert page.errors == []


def test_police_redispatch_see_the_patrol_end_and_mark_a_duplicate_of_any_incident(
    browser, live_server, make_person, make_committee
):
    make_person("police", username="agente1")
    make_person("volunteer", zone_id=1, username="informante")
    juan = make_person("volunteer", zone_id=1, username="juan")
    ana = make_person("volunteer", zone_id=1, username="ana")
    first_patrol = start_patrol(live_server, make_committee, juan, 1, "Comité Los Pinos")
    second_patrol = start_patrol(live_server, make_committee, ana, 1, "Comité Las Flores")
    incident = report(live_server, "informante", 1)
    original = report(live_server, "informante", 1, dlat=0.01, kind="vandalism")  # not a nearby candidate
    path = f"/api/v1/incidents/{incident['id']}"
    call(live_server, "agente1", "PATCH", path, {"status": "acknowledged"})
    call(live_server, "agente1", "PATCH", path, {"status": "dispatched", "patrol_id": first_patrol})
    page = open_map(browser, live_server, "agente1")
    key = f"i{incident['id']}"
    open_from_queue(page, key)
    popup = page.locator(POPUP)
    # Re-dispatch: the nearest active patrols but the one already sent.
    pick = popup.locator("select.redispatch-choice")
    pick.wait_for(timeout=3_000)
    assert pick.evaluate("s => [...s.options].map(o => o.value)") == [str(second_patrol)]
    assert popup.locator("label[for^='redispatch-']").inner_text() == "Reasignar a otra ronda"
    popup.locator("button.act-redispatch").click()
    page.wait_for_function(f"() => window.ronda.latest[{incident['id']}].assigned_patrol_id === {second_patrol}")
    popup.get_by_text("Comité Las Flores").first.wait_for(timeout=2_000)
    # Now the other way round: the first patrol is the one to reassign to.
    popup.locator(f"select.redispatch-choice option[value='{first_patrol}']").wait_for(state="attached", timeout=3_000)
    history = call(live_server, "agente1", "GET", f"{path}/history")["items"]
    assert [(h["to_status"], h["assigned_patrol_id"]) for h in history][-1] == ("dispatched", second_patrol)
    assert popup.locator(".patrol-ended-warning").count() == 0

    # The patrol sent ends its shift: the popup, the marker and the queue say so.
    call(live_server, "ana", "POST", f"/api/v1/patrols/{second_patrol}/end", {})
    popup.get_by_text("La ronda enviada ya terminó").wait_for(timeout=3_000)
    assert "Reasígnelo a otra ronda o resuélvalo." in popup.inner_text()
    row = page.locator(f"#queue-list button[data-key='{key}']")
    assert "patrol-ended" in row.get_attribute("class") and "Ronda terminada" in row.inner_text()
    icon = page.evaluate(f"() => window.ronda.incidents[{incident['id']}].options.icon.options")
    assert "patrol-ended" in icon["className"] and "Ronda terminada" in icon["label"]

    # A duplicate of any incident by its number: checked before sending, the server's refusal in words.
    field = popup.locator("input.original-number")
    assert popup.locator("label[for^='original-']").inner_text() == "N.º del incidente original"
    field.fill("abc")
    popup.locator("button.act-duplicate-typed").click()
    problem = popup.locator(".field-problem")
    problem.wait_for(timeout=2_000)
    assert "un número entero mayor que cero" in problem.inner_text()
    assert page.evaluate("() => document.activeElement.classList.contains('original-number')")
    assert popup.locator("input.original-number").get_attribute("aria-invalid") == "true"
    popup.locator("input.original-number").fill(str(incident["id"]))
    popup.locator("input.original-number").press("Enter")
    popup.get_by_text("Un incidente no puede ser duplicado de sí mismo.").wait_for(timeout=2_000)
    popup.locator("input.original-number").fill("999999")
    popup.locator("button.act-duplicate-typed").click()
    popup.get_by_text("El incidente original no existe o no es válido.").wait_for(timeout=3_000)
    assert "duplicate_of" not in popup.inner_text()
    assert popup.locator("input.original-number").input_value() == "999999"  # kept to be corrected
    popup.locator("input.original-number").fill(str(original["id"]))
    popup.locator("input.original-number").press("Enter")
    gone(page, incident["id"], timeout=3_000)
    state = call(live_server, "agente1", "GET", path)
    assert state["status"] == "duplicate" and state["duplicate_of"] == original["id"]
    assert page.errors == []


def test_a_coordinator_learns_from_the_suggestions_that_the_patrol_sent_has_ended(
    browser, live_server, make_person, make_committee
):
    make_person("coordinator", zone_id=1, username="coordinadora")
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=1, username="vol1")
    juan = make_person("volunteer", zone_id=1, username="juan")
    patrol = start_patrol(live_server, make_committee, juan, 1, "Comité Los Pinos")
    incident = report(live_server, "vol1", 1)
    path = f"/api/v1/incidents/{incident['id']}"
    call(live_server, "comisaria", "PATCH", path, {"status": "acknowledged"})
    call(live_server, "comisaria", "PATCH", path, {"status": "dispatched", "patrol_id": patrol})
    page = open_map(browser, live_server, "coordinadora")
    key = f"i{incident['id']}"
    open_from_queue(page, key)
    popup = page.locator(POPUP)
    popup.get_by_text("No hay otra ronda activa a la que reasignar.").wait_for(timeout=3_000)
    assert popup.locator(".patrol-ended-warning").count() == 0
    assert "patrol-ended" not in page.locator(f"#queue-list button[data-key='{key}']").get_attribute("class")
    page.keyboard.press("Escape")
    # Coordinators hear no patrol events: the ended shift shows when the suggestions are read again.
    call(live_server, "juan", "POST", f"/api/v1/patrols/{patrol}/end", {})
    open_from_queue(page, key)
    popup.get_by_text("La ronda enviada ya terminó").wait_for(timeout=3_000)
    page.wait_for_selector(f"#queue-list button[data-key='{key}'].patrol-ended", timeout=2_000)
    assert "Ronda terminada" in page.inner_text(f"#queue-list button[data-key='{key}']")
    assert page.errors == []


def test_an_admin_sees_who_made_an_anonymous_report_with_a_warning_and_police_do_not(browser, live_server, make_person):
    make_person("admin", username="jefa")
    make_person("police", username="teniente")
    make_person("neighbor", zone_id=3, username="anonima")
    incident = report(live_server, "anonima", 3, anonymous=True, description="Venta de drogas en la esquina")
    admin = open_map(browser, live_server, "jefa")
    open_from_queue(admin, f"i{incident['id']}")
    popup = admin.locator(POPUP)
    popup.get_by_text("Nombre de anonima").wait_for(timeout=3_000)
    warning = popup.locator(".anonymous-warning")
    assert warning.inner_text() == "Reporte anónimo: solo la administración ve este nombre"
    police = open_map(browser, live_server, "teniente")
    open_from_queue(police, f"i{incident['id']}")
    police.locator(f"{POPUP} .history-list").wait_for(timeout=3_000)
    words = police.inner_text(POPUP)
    assert "Anónimo" in words and "anonima" not in words and "Reporte anónimo" not in words
    assert admin.errors == [] and police.errors == []
