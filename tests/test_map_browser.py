"""The live map in a real browser (Debian's Chromium driven by Playwright), against `python app.py`."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from sqlmodel import Session

from tests.conftest import PASSWORD, ZONE_POINTS, LiveServer, start_server

pytestmark = pytest.mark.live


def open_map(browser, server: LiveServer, username: str, *, locale: str = "es-PE"):
    """A new browser page signed in as `username`, on /mapa, connected live."""
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server.url}/mapa")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#connection.live", timeout=15_000)
    return page


def api_post(server: LiveServer, username: str, path: str, body: dict) -> dict:
    token = server.token(username)
    response = requests.post(f"{server.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()


def report(server: LiveServer, username: str, zone_id: int, **extra) -> dict:
    lat, lon = ZONE_POINTS[zone_id]
    body = {"client_id": str(uuid.uuid4()), "kind": "robbery", "lat": lat, "lon": lon, **extra}
    return api_post(server, username, "/api/v1/incidents", body)


def marker_shown(page, incident_id: int, timeout: float = 2_000) -> None:
    page.wait_for_function(
        f"() => window.ronda && window.ronda.incidents[{incident_id}] !== undefined", timeout=timeout
    )


def popup_text(page, incident_id: int) -> str:
    return page.evaluate(
        f"""() => {{
            const marker = window.ronda.incidents[{incident_id}];
            return marker.getPopup().getContent().textContent;
        }}"""
    )


def test_police_see_the_zones_and_new_incidents_without_reloading(browser, live_server, make_person):
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=1, username="voluntario")
    page = open_map(browser, live_server, "comisaria")
    zone_paths = page.locator(".leaflet-overlay-pane path.leaflet-interactive")
    assert zone_paths.count() == 7
    started = time.monotonic()
    incident = report(live_server, "voluntario", 1, description="Asalto en el paradero")
    marker_shown(page, incident["id"])
    assert time.monotonic() - started < 2.0
    text = popup_text(page, incident["id"])
    assert "Robo" in text and "Asalto en el paradero" in text
    assert "Nombre de voluntario" not in text  # a push never names the reporter...
    page.evaluate(f"() => window.ronda.incidents[{incident['id']}].openPopup()")
    page.wait_for_selector(".leaflet-popup-content :text('Nombre de voluntario')", timeout=3_000)  # ...opening it does
    # A status change recolours, and closing removes the marker.
    token = live_server.token("comisaria")
    requests.patch(
        f"{live_server.url}/api/v1/incidents/{incident['id']}",
        json={"status": "dismissed"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).raise_for_status()
    page.wait_for_function(f"() => window.ronda.incidents[{incident['id']}] === undefined", timeout=2_000)


def test_an_alarm_shows_a_banner_and_atender_clears_it_everywhere(browser, live_server, make_person):
    make_person("police", username="agente1")
    make_person("police", username="agente2")
    make_person("neighbor", zone_id=3, username="vecina")
    first = open_map(browser, live_server, "agente1")
    second = open_map(browser, live_server, "agente2")
    lat, lon = ZONE_POINTS[3]
    alarm = api_post(
        live_server,
        "vecina",
        "/api/v1/alarms",
        {"client_id": str(uuid.uuid4()), "source": "app", "lat": lat, "lon": lon},
    )
    for page in (first, second):
        page.wait_for_selector(f"#alarm-banner [data-alarm-id='{alarm['id']}'] button.attend", timeout=2_000)
        assert "Inca Pachacútec" in page.inner_text("#alarm-banner")
    first.click(f"#alarm-banner [data-alarm-id='{alarm['id']}'] button.attend")
    second.wait_for_selector("#alarm-banner", state="hidden", timeout=3_000)
    first.wait_for_selector("#alarm-banner", state="hidden", timeout=3_000)
    token = live_server.token("agente2")
    state = requests.get(
        f"{live_server.url}/api/v1/alarms/{alarm['id']}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert state.json()["status"] == "acknowledged"


def test_a_neighbour_sees_only_their_zone_and_no_reporter(browser, live_server, make_person):
    make_person("neighbor", zone_id=1, username="vecino1")
    make_person("volunteer", zone_id=1, username="vol1")
    make_person("volunteer", zone_id=2, username="vol2")
    page = open_map(browser, live_server, "vecino1")
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() == 1  # their zone only
    elsewhere = report(live_server, "vol2", 2, description="En otra zona")
    here = report(live_server, "vol1", 1, description="Venta de drogas en el parque")
    marker_shown(page, here["id"])
    time.sleep(0.5)
    assert page.evaluate(f"() => window.ronda.incidents[{elsewhere['id']}] === undefined")
    text = popup_text(page, here["id"])
    assert "Nombre de vol1" not in text and "vol1" not in text
    assert "Venta de drogas en el parque" not in text
    assert "Ubicación aproximada" in text
    position = page.evaluate(f"() => window.ronda.incidents[{here['id']}].getLatLng()")
    assert (position["lat"], position["lng"]) != (here["lat"], here["lon"])


def test_a_malicious_description_shows_as_text(browser, live_server, make_person):
    make_person("police", username="oficial")
    make_person("volunteer", zone_id=1, username="volx")
    page = open_map(browser, live_server, "oficial")
    payload = "<img src=x onerror=alert(1)>"
    incident = report(live_server, "volx", 1, description=payload)
    marker_shown(page, incident["id"])
    page.evaluate(f"() => window.ronda.incidents[{incident['id']}].openPopup()")
    page.wait_for_selector(".leaflet-popup-content", timeout=2_000)
    assert payload in page.inner_text(".leaflet-popup-content")
    assert page.locator(".leaflet-popup-content img").count() == 0
    time.sleep(0.5)
    assert page.dialogs == []


def test_switching_to_english_changes_the_labels(browser, live_server, make_person):
    make_person("police", username="sargento")
    page = open_map(browser, live_server, "sargento")
    assert "Periodo" in page.inner_text(".filters") and page.inner_text("#connection") == "En vivo"
    page.click("#lang-en")
    page.wait_for_selector("#connection.live", timeout=15_000)
    assert "Period" in page.inner_text(".filters") and "Periodo" not in page.inner_text(".filters")
    assert page.inner_text("#connection") == "Live"
    assert "Sign out" in page.inner_text(".topbar")
    assert "Robbery" in page.inner_text(".legend")


def test_english_browsers_get_english_first(browser, live_server, make_person):
    make_person("police", username="inspector")
    page = open_map(browser, live_server, "inspector", locale="en-US")
    assert "Sign out" in page.inner_text(".topbar")


def test_the_page_reconnects_and_catches_up_after_a_server_restart(browser, app, db_url, tmp_path, make_person):
    make_person("police", username="guardia")
    volunteer = make_person("volunteer", zone_id=4, username="volz")
    server = start_server(db_url=db_url, tmp_path=tmp_path)
    try:
        page = open_map(browser, server, "guardia")
        server.stop()
        page.wait_for_selector("#connection.reconnecting", timeout=10_000)
        assert page.inner_text("#connection") == "Reconectando…"
        # While the server is away, a report lands in the store (e.g. through another process).
        from security.incidents import report_incident
        from security.models import IncidentCreate

        lat, lon = ZONE_POINTS[4]
        with Session(app.extensions["ronda"].engine, expire_on_commit=False) as session:
            incident, _ = report_incident(
                session=session,
                reporter=volunteer.user,
                data=IncidentCreate(client_id=uuid.uuid4(), kind="vandalism", lat=lat, lon=lon),
                index=app.extensions["ronda"].index,
            )
            session.commit()
        server = start_server(db_url=db_url, tmp_path=tmp_path, port=server.port)
        page.wait_for_selector("#connection.live", timeout=20_000)
        marker_shown(page, incident.id, timeout=5_000)
    finally:
        server.stop()


def test_signing_in_with_a_wrong_password_says_so(browser, live_server, make_person):
    make_person("police", username="cabo")
    context = browser.new_context(locale="es-PE")
    page = context.new_page()
    page.goto(f"{live_server.url}/entrar")
    page.fill("input[name=username]", "cabo")
    page.fill("input[name=password]", "otra-clave-mala")
    page.click("button[type=submit]")
    assert "Usuario o contraseña incorrectos." in page.inner_text(".error")


def test_the_trends_page_draws_its_charts(browser, live_server, make_person):
    make_person("coordinator", zone_id=1, username="coordinadora")
    make_person("volunteer", zone_id=1, username="volt")
    report(live_server, "volt", 1)
    context = browser.new_context(locale="es-PE", viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/tendencias")
    page.fill("input[name=username]", "coordinadora")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-charts=ready]", timeout=10_000)
    for chart in ("chart-kinds", "chart-alarms", "chart-response"):
        drawn = page.evaluate(
            f"() => Chart.getChart('{chart}') !== undefined && Chart.getChart('{chart}').data.datasets.length"
        )
        assert drawn, chart
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() >= 1
    assert "Nueva Esperanza" in page.inner_text("h1")
    assert errors == []


def test_police_see_patrols_move_and_their_track_neighbours_do_not(browser, live_server, make_person, make_committee):
    from datetime import UTC, datetime, timedelta

    make_person("police", username="comisaria")
    make_person("neighbor", zone_id=1, username="vecino")
    juan = make_person("volunteer", zone_id=1, username="juan")
    committee = make_committee(1, [juan], name="Comité Los Pinos")
    started = datetime.now(UTC) - timedelta(minutes=40)
    patrol = api_post(
        live_server, "juan", "/api/v1/patrols",
        {"client_id": str(uuid.uuid4()), "committee_id": committee, "started_at": started.isoformat()},
    )  # fmt: skip
    lat, lon = ZONE_POINTS[1]
    old = {"t": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(), "lat": lat - 0.01, "lon": lon}
    recent = {"t": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(), "lat": lat, "lon": lon}
    api_post(live_server, "juan", f"/api/v1/patrols/{patrol['id']}/positions", {"positions": [old, recent]})
    police = open_map(browser, live_server, "comisaria")
    neighbour = open_map(browser, live_server, "vecino")
    police.wait_for_selector(f"[data-patrol-id='{patrol['id']}']", timeout=5_000)
    track = f"() => window.ronda.patrols[{patrol['id']}].line.getLatLngs().length"
    assert police.evaluate(track) == 1  # the point of 30 minutes ago is not in the last 15 minutes
    # A new position moves the marker live and lengthens the track.
    now = {"t": datetime.now(UTC).isoformat(), "lat": lat + 0.002, "lon": lon + 0.001}
    api_post(live_server, "juan", f"/api/v1/patrols/{patrol['id']}/positions", {"positions": [now]})
    police.wait_for_function(f"{track} === 2", timeout=8_000)
    moved_to = police.evaluate(f"() => window.ronda.patrols[{patrol['id']}].marker.getLatLng().lat")
    assert moved_to == pytest.approx(lat + 0.002)
    police.click(f"[data-patrol-id='{patrol['id']}']")
    popup = police.locator(".leaflet-popup-content").inner_text()
    assert "Comité Los Pinos" in popup and "Nombre de juan" in popup
    # Ending the patrol takes it off the map; the neighbour never had it.
    api_post(live_server, "juan", f"/api/v1/patrols/{patrol['id']}/end", {})
    police.wait_for_function(f"() => window.ronda.patrols[{patrol['id']}] === undefined", timeout=3_000)
    assert neighbour.evaluate("() => Object.keys(window.ronda.patrols).length") == 0
    assert neighbour.locator(".patrol-icon").count() == 0
    assert "Nombre de juan" not in neighbour.content()


def test_an_alarm_that_reaches_the_server_late_says_when_it_was_pressed(browser, live_server, make_person):
    from datetime import UTC, datetime, timedelta

    make_person("police", username="cabo")
    make_person("neighbor", zone_id=3, username="vecina")
    page = open_map(browser, live_server, "cabo")
    lat, lon = ZONE_POINTS[3]
    pressed = datetime.now(UTC) - timedelta(minutes=12)  # pressed with no signal, sent from the outbox
    operation = {"op": "alarm", "client_id": str(uuid.uuid4()), "at": pressed.isoformat(),
                 "data": {"lat": lat, "lon": lon}}  # fmt: skip
    answer = api_post(live_server, "vecina", "/api/v1/sync", {"operations": [operation]})
    alarm_id = answer["results"][0]["id"]
    row = f"#alarm-banner [data-alarm-id='{alarm_id}']"
    page.wait_for_selector(f"{row} .late", timeout=3_000)
    text = page.inner_text(f"{row} .late")
    assert text.startswith("Llegó tarde: pulsada el ") and text.endswith("(12 min antes)")
