"""Make the README's pictures: docs/mapa-policia.png (the police map with demo incidents, a
sounding alarm and a patrol), docs/consola-policia.png (an incident's popup with its history
and actions, and the queue) and docs/app-telefono.png (the phone app on a 360 px phone: what
happened, the block alarm, and "Mis reportes" the moment the police attend a report).

Run from the repository root: `.venv/bin/python docs/make_screenshot.py` (needs Chromium).
"""

from __future__ import annotations

import random
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright
from sqlmodel import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, LiveServer, start_server  # noqa: E402

KINDS = ["robbery", "assault", "drug_dealing", "gang_activity", "vandalism", "suspicious_activity", "noise_disturbance"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        db_url = f"sqlite:///{tmp_path / 'ronda.db'}"
        from app import create_app
        from security.auth import create_user

        app = create_app({"DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "screenshot-secret-key"})
        from sqlmodel import Session

        with Session(app.extensions["ronda"].engine) as session:
            create_user(
                session=session, username="comisaria", password=PASSWORD, role="police", display_name="Comisaría VMT"
            )
            create_user(
                session=session, username="patrulla", password=PASSWORD, role="police", display_name="Patrulla 3"
            )
            from security.committees import add_member
            from security.models import Committee

            committee = session.exec(select(Committee).where(Committee.zone_id == 2)).first()
            for username, name in (("rosa", "Rosa Quispe"), ("juan", "Juan Mamani")):
                volunteer = create_user(session=session, username=username, password=PASSWORD, role="volunteer",
                                        zone_id=2, display_name=name)  # fmt: skip
                add_member(session=session, actor=None, committee=committee, user=volunteer)
            session.commit()
            committee_id = committee.id
        server = start_server(db_url=db_url, tmp_path=tmp_path)
        try:
            token = server.token("patrulla")
            headers = {"Authorization": f"Bearer {token}"}
            rng = random.Random(7)
            zones = requests.get(f"{server.url}/api/v1/zones", timeout=10).json()["features"]
            import shapely

            first_incident = None
            for _ in range(60):
                zone = shapely.geometry.shape(rng.choice(zones)["geometry"])
                minx, miny, maxx, maxy = zone.bounds
                while True:
                    lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
                    if zone.contains(shapely.Point(lon, lat)):
                        break
                body = {"client_id": str(uuid.uuid4()), "kind": rng.choice(KINDS), "lat": lat, "lon": lon}
                answer = requests.post(f"{server.url}/api/v1/incidents", json=body, headers=headers, timeout=10)
                answer.raise_for_status()
                first_incident = first_incident or answer.json()["id"]
            alarm = {"client_id": str(uuid.uuid4()), "source": "app", "lat": -12.1759, "lon": -76.9260}
            # Rosa and Juan patrol the Cercado: the last 15 minutes of their walk are drawn.
            walker = {"Authorization": f"Bearer {server.token('rosa')}"}
            now = datetime.now(UTC)
            patrol = requests.post(
                f"{server.url}/api/v1/patrols",
                json={"client_id": str(uuid.uuid4()), "committee_id": committee_id, "members": [],
                      "started_at": (now - timedelta(minutes=40)).isoformat()},
                headers=walker, timeout=10,
            ).json()  # fmt: skip
            walk = [{"t": (now - timedelta(seconds=30 * (30 - i))).isoformat(), "lat": -12.1700 + 0.00018 * i,
                     "lon": -76.9460 + 0.00012 * i + 0.0006 * (i > 14)} for i in range(30)]  # fmt: skip
            requests.post(
                f"{server.url}/api/v1/patrols/{patrol['id']}/positions", json={"positions": walk}, headers=walker,
                timeout=10,
            ).raise_for_status()  # fmt: skip
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(locale="es-PE", viewport={"width": 1280, "height": 800})
                page.goto(f"{server.url}/mapa")
                page.fill("input[name=username]", "comisaria")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector("#connection.live", timeout=15_000)
                requests.post(f"{server.url}/api/v1/alarms", json=alarm, headers=headers, timeout=10).raise_for_status()
                page.wait_for_selector("#alarm-banner button.attend", timeout=5_000)
                page.wait_for_timeout(800)
                out = ROOT / "docs" / "mapa-policia.png"
                page.screenshot(path=str(out))
                print(f"wrote {out}")
                console_screenshot(page, server, first_incident)
                phone_screenshot(browser, server)
                browser.close()
        finally:
            server.stop()


def console_screenshot(page: object, server: LiveServer, incident_id: int) -> None:
    """The operator's console: an incident received by the station, its popup with its history and
    the moves it allows (the nearest patrol suggested), and the queue beside the map."""
    police = {"Authorization": f"Bearer {server.token('patrulla')}"}
    requests.patch(
        f"{server.url}/api/v1/incidents/{incident_id}",
        json={"status": "acknowledged", "note": "Recibido por la central; se envía unidad"},
        headers=police, timeout=10,
    ).raise_for_status()  # fmt: skip
    page.wait_for_function(  # type: ignore[attr-defined]
        f"() => window.ronda.latest[{incident_id}] && window.ronda.latest[{incident_id}].status === 'acknowledged'"
    )
    page.evaluate(f"() => window.ronda.openIncident({incident_id})")  # type: ignore[attr-defined]
    page.wait_for_selector(".leaflet-popup .history li:nth-child(2)", timeout=10_000)  # type: ignore[attr-defined]
    page.wait_for_timeout(1500)  # type: ignore[attr-defined]  # the suggestions, and the map settles
    out = ROOT / "docs" / "consola-policia.png"
    page.screenshot(path=str(out))  # type: ignore[attr-defined]
    print(f"wrote {out}")


def phone_screenshot(browser: object, server: LiveServer) -> None:
    """Three screens of the phone app, side by side, as Rosa (a volunteer of the Cercado) sees them."""
    from PIL import Image

    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
        locale="es-PE", timezone_id="America/Lima", permissions=["geolocation"],
        geolocation={"latitude": -12.1657, "longitude": -76.9424, "accuracy": 9},
    )  # fmt: skip
    page = context.new_page()
    page.goto(f"{server.url}/app/")
    page.wait_for_selector("body[data-ready=signin]", timeout=15_000)
    page.fill("#username", "rosa")
    page.fill("#password", PASSWORD)
    page.click("#signin-submit")
    page.wait_for_selector("body[data-ready=report]", timeout=15_000)
    shots = []
    with tempfile.TemporaryDirectory() as tmp:
        page.wait_for_timeout(500)
        shots.append(Path(tmp) / "1.png")
        page.screenshot(path=str(shots[-1]))
        for kind, text in (("robbery", "Arranchan celulares en el paradero"), ("drug_dealing", "")):
            if page.is_visible("#report-another"):
                page.click("#report-another")
            page.click(f"[data-kind={kind}]")
            page.wait_for_selector("#report-location:has-text('GPS')", timeout=10_000)
            page.fill("#report-description", text)
            if kind == "drug_dealing":
                page.check("#report-anonymous")
            page.click("#report-send")
            page.wait_for_selector("#report-done-text:has-text('enviado')", timeout=10_000)
        page.click("#tab-alarm")
        page.wait_for_selector("#alarm-location:has-text('±')", timeout=10_000)
        shots.append(Path(tmp) / "2.png")
        page.screenshot(path=str(shots[-1]))
        page.click("#tab-mine")
        page.wait_for_selector("#mine-list .card", timeout=10_000)
        page.wait_for_selector("body[data-live=yes]", timeout=10_000)
        first = page.get_attribute("#mine-list .card:last-child", "data-report").split("-")[1]
        police = {"Authorization": f"Bearer {server.token('patrulla')}"}
        requests.patch(f"{server.url}/api/v1/incidents/{first}", json={"status": "acknowledged"}, headers=police,
                       timeout=10).raise_for_status()  # fmt: skip
        page.wait_for_selector("#toast:not([hidden])", timeout=5_000)
        shots.append(Path(tmp) / "3.png")
        page.screenshot(path=str(shots[-1]))
        images = [Image.open(shot).convert("RGB") for shot in shots]
        gap = 24
        width = sum(i.width for i in images) + gap * (len(images) - 1)
        sheet = Image.new("RGB", (width, images[0].height), "#d0d7de")
        x = 0
        for image in images:
            sheet.paste(image, (x, 0))
            x += image.width + gap
        sheet = sheet.resize((sheet.width // 2, sheet.height // 2), Image.Resampling.LANCZOS)
        out = ROOT / "docs" / "app-telefono.png"
        sheet.save(out, optimize=True)
    context.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
