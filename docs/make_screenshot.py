"""Make docs/mapa-policia.png: the police map with demo incidents, a sounding alarm and a patrol.

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

from tests.conftest import PASSWORD, start_server  # noqa: E402
from tests.test_map_browser import ARGS, CHROMIUM  # noqa: E402

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

            for _ in range(60):
                zone = shapely.geometry.shape(rng.choice(zones)["geometry"])
                minx, miny, maxx, maxy = zone.bounds
                while True:
                    lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
                    if zone.contains(shapely.Point(lon, lat)):
                        break
                body = {"client_id": str(uuid.uuid4()), "kind": rng.choice(KINDS), "lat": lat, "lon": lon}
                requests.post(
                    f"{server.url}/api/v1/incidents", json=body, headers=headers, timeout=10
                ).raise_for_status()
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
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
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
                browser.close()
                print(f"wrote {out}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
