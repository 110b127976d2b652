"""The pages under their Content-Security-Policy in a real browser (Debian's Chromium driven by
Playwright), against `python app.py`: the map, the trends, the incident list, the audit record,
the phone app and the API docs all work, with no policy violation and no console error; and the
live channel refuses a websocket or a polling handshake from a foreign Origin."""

from __future__ import annotations

import base64
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket
from sqlmodel import Session

from security.auth import create_user
from tests.conftest import PASSWORD, ZONE_POINTS, LiveServer, start_server
from zones.database import make_engine

pytestmark = pytest.mark.live

TILES = re.compile(r"^https://tile\.openstreetmap\.org/")
NOT_LOCAL = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")
# A transparent 1×1 PNG standing in for OpenStreetMap's tiles (no internet here).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
# Every policy violation in the page reaches Python, whatever page the tab has moved on to.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolation([e.violatedDirective, e.blockedURI, e.sourceFile + ":" + e.lineNumber].join(" "));
});
"""
USERS = (("comisaria", "police", None), ("admin", "admin", None), ("rosa", "volunteer", 1))


@pytest.fixture(scope="module")
def server(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for the module, on a copy of the demo database with its users and one report."""
    tmp_path = tmp_path_factory.mktemp("csp")
    shutil.copy(template_db, tmp_path / "ronda.db")
    db_url = f"sqlite:///{tmp_path / 'ronda.db'}"
    engine = make_engine(db_url)
    with Session(engine) as session:
        for username, role, zone_id in USERS:
            create_user(session=session, username=username, password=PASSWORD, role=role, zone_id=zone_id)
        session.commit()
    engine.dispose()
    live = start_server(db_url=db_url, tmp_path=tmp_path)
    lat, lon = ZONE_POINTS[1]
    response = requests.post(
        f"{live.url}/api/v1/incidents",
        json={"client_id": str(uuid.uuid4()), "kind": "robbery", "lat": lat, "lon": lon, "description": "<b>x</b>"},
        headers={"Authorization": f"Bearer {live.token('rosa')}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    live.incident_id = response.json()["id"]  # type: ignore[attr-defined]
    yield live
    live.stop()


@dataclass
class Watched:
    """A browser tab, what went wrong in it, and the Referer its map tiles were asked with."""

    page: Any
    problems: list[str] = field(default_factory=list)
    tile_referers: list[str | None] = field(default_factory=list)


def watch(browser: Any, **context_options: Any) -> Watched:
    """A new tab that records console errors and warnings, page errors, policy violations and any
    request leaving the machine (tiles are answered with a blank image: they must be allowed)."""
    context = browser.new_context(locale="es-PE", viewport={"width": 1280, "height": 900}, **context_options)
    watched = Watched(page=None)
    context.expose_binding("__cspViolation", lambda _source, text: watched.problems.append(f"CSP violation: {text}"))
    context.add_init_script(REPORT_VIOLATIONS)
    context.route(NOT_LOCAL, lambda route: (watched.problems.append(f"outside: {route.request.url}"), route.abort()))

    def tile(route: Any) -> None:
        watched.tile_referers.append(route.request.headers.get("referer"))
        route.fulfill(status=200, content_type="image/png", body=PNG)

    def console(message: Any) -> None:
        if message.type in ("error", "warning"):
            watched.problems.append(f"console {message.type}: {message.text} {message.location}")

    context.route(TILES, tile)  # registered last: tried first
    context.on("console", console)
    context.on("weberror", lambda error: watched.problems.append(f"page error: {error.error}"))
    watched.page = context.new_page()
    return watched


def sign_in(watched: Watched, server: LiveServer, path: str, username: str) -> None:
    """Open `path`, sign in on the page it sends to, and come back to it."""
    page = watched.page
    page.goto(f"{server.url}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}{path}*")


def test_the_map_trends_and_incident_list_work_under_the_policy(browser, server):
    watched = watch(browser)
    page = watched.page
    sign_in(watched, server, "/mapa", "comisaria")
    page.wait_for_selector("#connection.live", timeout=15_000)
    assert page.evaluate("() => window.ronda.socket.io.engine.transport.name") == "websocket"
    assert page.evaluate(f"() => window.ronda.incidents[{server.incident_id}] !== undefined")  # type: ignore[attr-defined]
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() == 7  # folium's zone layer
    page.wait_for_selector(".leaflet-tile-loaded", state="attached", timeout=5_000)
    assert watched.tile_referers and set(watched.tile_referers) == {f"{server.url}/"}  # the origin, no path
    # The period filter, whose `onchange` attribute moved into the page's script.
    page.select_option("#filter-window", "7d")
    page.wait_for_url(re.compile(r"ventana=7d"))
    page.wait_for_selector("#connection.live", timeout=15_000)

    page.goto(f"{server.url}/tendencias")
    page.wait_for_selector("body[data-charts=ready]", timeout=10_000)
    for chart in ("chart-kinds", "chart-alarms", "chart-response"):
        drawn = page.evaluate(
            f"""() => {{
                const chart = Chart.getChart('{chart}');
                const canvas = document.getElementById('{chart}');
                const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                return chart !== undefined && pixels.some((value, i) => i % 4 === 3 && value > 0);
            }}"""
        )
        assert drawn, chart
    assert page.locator(".map-box .leaflet-overlay-pane path.leaflet-interactive").count() >= 1

    page.goto(f"{server.url}/incidentes")
    row = page.locator(f"#incident-table tr[data-incident-id='{server.incident_id}']")  # type: ignore[attr-defined]
    row.locator(".actions button").first.wait_for(timeout=5_000)  # drawn by console.js
    assert watched.problems == []
    page.context.close()


def test_the_audit_record_works_under_the_policy(browser, server):
    watched = watch(browser)
    sign_in(watched, server, "/auditoria", "admin")
    assert watched.page.locator("#audit-table tbody tr[data-entry-id]").count() >= 1
    assert watched.problems == []
    watched.page.context.close()


def test_the_phone_app_and_its_service_worker_work_under_the_policy(browser, server):
    watched = watch(browser, service_workers="allow", is_mobile=True, has_touch=True)
    page = watched.page
    page.goto(f"{server.url}/app/")
    page.wait_for_selector("body[data-ready=signin]", timeout=15_000)
    assert page.locator("#username").is_visible() and page.locator("#password").is_visible()
    # Installed and active: its precache and the scripts it imports were allowed by its own policy.
    assert page.evaluate("() => navigator.serviceWorker.ready.then(r => r.active.state)") in ("activating", "activated")
    page.fill("#username", "rosa")
    page.fill("#password", PASSWORD)
    page.click("#signin-submit")
    page.wait_for_selector("body[data-ready=report]", timeout=15_000)
    page.wait_for_selector("body[data-live=yes]", timeout=15_000)
    assert watched.problems == []
    page.context.close()


def test_the_api_docs_work_under_the_policy(browser, server):
    watched = watch(browser)
    page = watched.page
    page.goto(f"{server.url}/api/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "Ronda API" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert page.evaluate("() => window.ui.getConfigs().validatorUrl") == "none"
    page.goto(f"{server.url}/api/")
    page.click("text=Swagger")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert watched.problems == []
    page.context.close()


def first_packet(server: LiveServer, origin: str) -> str | None:
    """The first engine.io packet a websocket opened with this Origin receives; None when refused."""
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    try:
        connection = websocket.create_connection(url, origin=origin, timeout=5)
    except websocket.WebSocketBadStatusException as refused:
        assert refused.status_code == 400
        return None
    # gevent-websocket answers the upgrade before the application runs, so a refusal is a
    # connection closed at once, without the engine.io session's opening packet.
    try:
        return connection.recv() or None
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return None
    finally:
        connection.shutdown()  # close() skips a connection the server already ended


def test_the_live_channel_refuses_a_foreign_origin(server):
    assert first_packet(server, "http://evil.example") is None
    assert "http://evil.example is not an accepted origin" in server.log()
    opened = first_packet(server, server.url)
    assert opened is not None and opened.startswith('0{"sid":')
    polling = f"{server.url}/socket.io/?EIO=4&transport=polling"
    assert requests.get(polling, headers={"Origin": "http://evil.example"}, timeout=5).status_code == 400
    assert requests.get(polling, headers={"Origin": server.url}, timeout=5).status_code == 200
