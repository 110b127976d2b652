"""The phone app in a real browser: Debian's Chromium on a 360 × 740 phone viewport, driven by
Playwright, with its offline mode and an emulated GPS, against `python app.py`. Each test walks
a volunteer's or a neighbour's path and checks what they, the police and the server would see."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PASSWORD, ZONE_POINTS, LiveServer, incident_body, start_server
from zones.database import LIMA

pytestmark = pytest.mark.live

PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "es-PE",
    "timezone_id": "America/Lima",
    "service_workers": "allow",
}
# Inside zone 1 (Nueva Esperanza) but in no registered block: an alarm there cannot be pooled.
NO_BLOCK = (-12.152197, -76.911361)


class Phone:
    """A phone with the app open: its browser context, its page and what went wrong in it."""

    def __init__(self, browser: Any, server: LiveServer, *, point: tuple[float, float], locale: str = "es-PE") -> None:
        self.server = server
        self.context = browser.new_context(
            **{**PHONE, "locale": locale},
            geolocation={"latitude": point[0], "longitude": point[1], "accuracy": 12},
            permissions=["geolocation"],
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)
        self.accept_dialogs = True

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        if self.accept_dialogs:
            dialog.accept()
        else:
            dialog.dismiss()

    def open(self) -> Phone:
        self.page.goto(f"{self.server.url}/app/")
        self.page.wait_for_selector("body[data-ready]:not([data-ready=no])", timeout=15_000)
        return self

    def sign_in(self, username: str, *, ready: str = "report") -> Phone:
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("#signin-submit")
        self.page.wait_for_selector(f"body[data-ready={ready}]", timeout=15_000)
        return self

    def installed(self) -> Phone:
        """Wait until the service worker controls the page (the app then opens offline)."""
        self.page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)
        return self

    def offline(self, value: bool = True) -> None:
        self.context.set_offline(value)
        self.page.wait_for_selector(f"body[data-online={'no' if value else 'yes'}]", timeout=10_000)

    def move_to(self, lat: float, lon: float, accuracy: float = 10) -> None:
        self.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": accuracy})

    def go(self, hash_: str) -> None:
        self.page.click(f"#tab-{hash_}")

    def report(self, kind: str, *, description: str = "", anonymous: bool = False) -> None:
        self.go("report")
        if self.page.is_visible("#report-another"):
            self.page.click("#report-another")
        self.page.click(f"[data-kind={kind}]")
        self.page.wait_for_selector("#report-location:has-text('GPS')", timeout=10_000)
        if description:
            self.page.fill("#report-description", description)
        if anonymous:
            self.page.check("#report-anonymous")
        self.page.click("#report-send")
        self.page.wait_for_selector("#report-done:not([hidden])", timeout=5_000)

    def hold_alarm(self, seconds: float = 2.4) -> None:
        self.go("alarm")
        self.page.wait_for_selector("#alarm-location:has-text('±')", timeout=10_000)
        box = self.page.locator("#alarm-button").bounding_box()
        self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        self.page.mouse.down()
        time.sleep(seconds)
        self.page.mouse.up()

    def reachable(self, selector: str) -> bool:
        """Whether a tap at the middle of `selector` lands on it (nothing covers it)."""
        return bool(
            self.page.evaluate(
                """(selector) => {
                    const node = document.querySelector(selector); const r = node.getBoundingClientRect();
                    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                    return r.bottom <= window.innerHeight && (hit === node || node.contains(hit));
                }""",
                selector,
            )
        )

    def pending(self) -> int:
        return int(self.page.get_attribute("body", "data-pending") or 0)

    def wait_pending(self, count: int, timeout: float = 15_000) -> None:
        self.page.wait_for_selector(f"body[data-pending='{count}']", timeout=timeout)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def phones(browser: Any) -> Iterator[Any]:
    opened: list[Phone] = []

    def make(server: LiveServer, *, point: tuple[float, float] = ZONE_POINTS[1], locale: str = "es-PE") -> Phone:
        phone = Phone(browser, server, point=point, locale=locale)
        opened.append(phone)
        return phone

    yield make
    for phone in opened:
        assert phone.errors == [], phone.errors
        phone.close()


def api(server: LiveServer, username: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {server.token(username)}"}
    response = requests.request(method, f"{server.url}{path}", headers=headers, timeout=10, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def reported_by(server: LiveServer, police: str, username: str) -> list[dict[str, Any]]:
    items = api(server, police, "GET", "/api/v1/incidents?limit=500")["items"]
    opened = [api(server, police, "GET", f"/api/v1/incidents/{i['id']}") for i in items]  # names only when opened
    return [i for i in opened if i["reporter"] and i["reporter"]["username"] == username]


def first_alarm_presser(server: LiveServer, police: str) -> str:
    """Who pressed the newest alarm, as police see it when they open it."""
    newest = api(server, police, "GET", "/api/v1/alarms")[0]
    return str(api(server, police, "GET", f"/api/v1/alarms/{newest['id']}")["raised_by"]["username"])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_reports_and_an_alarm_made_offline_survive_a_reload_and_arrive_once_with_the_phones_times(
    phones, live_server, make_person
):
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=1, username="rosa")
    phone = phones(live_server).open().sign_in("rosa").installed()
    phone.offline()
    went_offline = datetime.now(UTC)
    phone.report("robbery", description="Dos sujetos en moto")
    assert "guardado en su teléfono" in phone.page.inner_text("#report-done-text")
    phone.report("vandalism", description="Rompieron la luminaria")
    phone.hold_alarm()
    phone.page.wait_for_selector("#alarm-countdown:not([hidden])", timeout=2_000)
    phone.wait_pending(3, timeout=10_000)  # after the 5 s cancel window
    assert "2 reportes · 1 alarma por enviar" in phone.page.inner_text("#pending")
    assert phone.page.inner_text("#net") == "Sin conexión"

    phone.page.reload()  # still offline: the service worker opens the app, the outbox is intact
    phone.page.wait_for_selector("body[data-ready=report]", timeout=15_000)
    assert phone.pending() == 3
    phone.go("mine")
    assert phone.page.locator("#outbox-list .card.pending").count() == 3
    assert reported_by(live_server, "comisaria", "rosa") == []

    back_online = datetime.now(UTC)
    phone.offline(False)
    phone.wait_pending(0)
    incidents = reported_by(live_server, "comisaria", "rosa")
    assert sorted(i["description"] for i in incidents) == ["Dos sujetos en moto", "Rompieron la luminaria"]
    for incident in incidents:  # when it happened by the phone's clock; when the server got it
        assert went_offline - timedelta(seconds=2) <= at(incident["occurred_at"]) <= back_online
        assert at(incident["reported_at"]) >= back_online - timedelta(seconds=1)
    alarms = api(live_server, "comisaria", "GET", "/api/v1/alarms")
    assert len(alarms) == 1 and first_alarm_presser(live_server, "comisaria") == "rosa"
    assert went_offline <= at(alarms[0]["pressed_at"]) <= back_online
    phone.page.wait_for_selector("#mine-list .card[data-report^=incident-]", timeout=5_000)
    assert phone.page.locator("#mine-list .card").count() == 3


def test_a_refused_operation_stays_with_the_servers_reason_until_discarded(phones, live_server, make_person, app):
    location = app.extensions["ronda"].index.locate(lat=NO_BLOCK[0], lon=NO_BLOCK[1])
    assert location is not None and location.zone_id == 1 and location.block_id is None
    make_person("neighbor", zone_id=1, username="lucia")
    phone = phones(live_server, point=NO_BLOCK).open().sign_in("lucia")
    phone.hold_alarm()
    card = "#outbox-list .card.rejected"
    phone.go("mine")
    phone.page.wait_for_selector(card, timeout=15_000)
    assert "No hay una manzana registrada en ese punto." in phone.page.inner_text(card)
    assert "1 no aceptado" in phone.page.inner_text("#pending")
    phone.page.click(f"{card} button.retry")  # refused again, kept again
    phone.page.wait_for_selector(card, timeout=10_000)
    phone.page.click(f"{card} button.discard")
    phone.page.wait_for_selector(card, state="detached", timeout=5_000)
    assert phone.dialogs == ["¿Descartar este envío? No se podrá recuperar."]
    assert "Nada por enviar" in phone.page.inner_text("#pending")


def test_the_reporter_sees_the_police_attend_an_anonymous_report_live_and_a_colleague_never_learns_who(
    phones, live_server, make_person
):
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=2, username="reportera")
    make_person("volunteer", zone_id=2, username="colega")
    reporter = phones(live_server, point=ZONE_POINTS[2]).open().sign_in("reportera")
    reporter.report("drug_dealing", description="Venden en el parque", anonymous=True)
    reporter.wait_pending(0)
    reporter.go("mine")
    reporter.page.wait_for_selector("#mine-list .card[data-report^=incident-]", timeout=5_000)
    reporter.page.wait_for_selector("body[data-live=yes]", timeout=10_000)
    incident_id = int(reporter.page.get_attribute("#mine-list .card", "data-report").split("-")[1])
    colleague = phones(live_server, point=ZONE_POINTS[2]).open().sign_in("colega")
    colleague.go("mine")
    colleague.page.wait_for_selector("body[data-live=yes]", timeout=10_000)

    api(live_server, "comisaria", "PATCH", f"/api/v1/incidents/{incident_id}", json={"status": "acknowledged"})
    changed = time.monotonic()
    badge = f"#mine-list .card[data-report=incident-{incident_id}] .badge"
    reporter.page.wait_for_selector(f"{badge}:has-text('Atendido')", timeout=3_000)
    assert time.monotonic() - changed < 3.0
    reporter.page.wait_for_selector("#toast:not([hidden])", timeout=2_000)
    assert reporter.page.inner_text("#toast") == "Su reporte de venta de drogas fue atendido por la comisaría."
    card = reporter.page.inner_text(f"#mine-list .card[data-report=incident-{incident_id}]")
    assert "Anónimo" in card and "Venden en el parque" in card
    # The colleague's phone heard nothing of it, and the API tells them nothing of who reported.
    time.sleep(0.5)
    assert colleague.page.locator("#mine-list .card").count() == 0
    assert colleague.page.is_hidden("#toast")
    seen = api(live_server, "colega", "GET", f"/api/v1/incidents/{incident_id}")
    assert seen["reporter"] is None and "reportera" not in str(seen)
    police_view = api(live_server, "comisaria", "GET", f"/api/v1/incidents/{incident_id}")
    assert police_view["reporter"] is None  # anonymous: not even the police station


def test_a_patrol_started_tracked_and_ended_from_the_app_shows_on_the_police_map_and_in_the_trends(
    phones, browser, live_server, make_person, make_committee
):
    make_person("police", username="comisaria")
    juan = make_person("volunteer", zone_id=1, username="juan")
    ana = make_person("volunteer", zone_id=1, username="ana")
    make_committee(1, [juan, ana], name="Comité Los Pinos")
    lat, lon = ZONE_POINTS[1]
    anas_phone = phones(live_server, point=(lat, lon)).open().sign_in("ana")
    anas_phone.page.wait_for_selector("body[data-live=yes]", timeout=10_000)
    phone = phones(live_server, point=(lat, lon)).open().sign_in("juan")
    phone.go("patrol")
    phone.page.wait_for_selector("#patrol-members label:has-text('Nombre de ana')", timeout=10_000)
    phone.page.check(f"#patrol-members input[value='{ana.user.id}']")
    phone.page.dblclick("#patrol-start-button")  # a nervous double tap starts one patrol
    phone.page.wait_for_selector("body[data-patrol=tracking]", timeout=5_000)
    anas_phone.page.wait_for_selector("body[data-patrol=active]", timeout=10_000)  # her phone knows she is on it

    police = browser.new_context(locale="es-PE", viewport={"width": 1280, "height": 800}).new_page()
    police.goto(f"{live_server.url}/mapa")
    police.fill("input[name=username]", "comisaria")
    police.fill("input[name=password]", PASSWORD)
    police.click("button[type=submit]")
    police.wait_for_selector("#connection.live", timeout=15_000)
    for step in range(1, 4):  # a walk north-east, a point every 5 s
        time.sleep(5.3)
        phone.move_to(lat + 0.0008 * step, lon + 0.0005 * step)
    patrol_id = api(live_server, "juan", "GET", "/api/v1/me")["active_patrol"]["id"]
    phone.report("vandalism", description="Pintas en la loza deportiva")  # made during the shift
    police.wait_for_selector(f"[data-patrol-id='{patrol_id}']", timeout=30_000)  # the first batch of points
    during = reported_by(live_server, "comisaria", "juan")
    assert [i["patrol_id"] for i in during] == [patrol_id]
    popup = api(live_server, "comisaria", "GET", "/api/v1/patrols?active=true&track=true")
    assert [p["committee_name"] for p in popup] == ["Comité Los Pinos"]
    assert {m["username"] for m in popup[0]["members"]} == {"juan", "ana"}

    phone.go("patrol")
    phone.page.click("#patrol-end")
    assert phone.reachable("#patrol-end-yes") and phone.reachable("#patrol-end-no")
    phone.page.click("#patrol-end-yes")
    phone.page.wait_for_selector("body[data-patrol=none]", timeout=5_000)
    phone.wait_pending(0)
    police.wait_for_function(f"() => window.ronda.patrols[{patrol_id}] === undefined", timeout=5_000)
    anas_phone.page.wait_for_selector("body[data-patrol=none]", timeout=10_000)
    assert len(api(live_server, "comisaria", "GET", "/api/v1/patrols?active=false")) == 1
    ended = api(live_server, "comisaria", "GET", f"/api/v1/patrols/{patrol_id}")
    assert ended["status"] == "ended" and ended["distance_m"] > 150
    month = datetime.now(LIMA).strftime("%Y-%m")
    trends = api(live_server, "comisaria", "GET", f"/api/v1/trends?zone_id=1&from={month}&to={month}")
    assert trends["patrols"]["patrols"] == 1 and trends["patrols"]["distance_km"] > 0.1
    assert trends["patrols"]["by_committee"][0]["committee_name"] == "Comité Los Pinos"


def test_a_neighbour_reports_and_raises_an_alarm_but_sees_no_patrol_feature(phones, live_server, make_person):
    make_person("police", username="comisaria")
    make_person("neighbor", zone_id=3, username="vecina")
    phone = phones(live_server, point=ZONE_POINTS[3]).open().sign_in("vecina")
    assert phone.page.is_hidden("#tab-patrol")
    phone.page.goto(f"{live_server.url}/app/#ronda")
    phone.page.wait_for_selector("body[data-ready=report]", timeout=10_000)
    assert phone.page.is_hidden("#view-patrol") and phone.page.is_visible("#view-report")
    phone.report("suspicious_activity")
    phone.hold_alarm()
    phone.page.wait_for_selector("#alarm-result:has-text('Alarma enviada')", timeout=15_000)
    assert len(reported_by(live_server, "comisaria", "vecina")) == 1
    assert first_alarm_presser(live_server, "comisaria") == "vecina"
    assert "Ronda de patrullaje" not in phone.page.inner_text("body")


def test_a_short_tap_raises_no_alarm_and_the_cancel_window_stops_one(phones, live_server, make_person):
    make_person("police", username="comisaria")
    make_person("neighbor", zone_id=1, username="vecino")
    phone = phones(live_server).open().sign_in("vecino")
    phone.hold_alarm(seconds=0.5)
    assert "mantenga presionado el botón 2 segundos" in phone.page.inner_text("#alarm-help")
    assert phone.page.is_hidden("#alarm-countdown")
    phone.hold_alarm()
    assert phone.reachable("#alarm-cancel")  # on top of everything, the sections bar included
    phone.page.click("#alarm-cancel")
    assert "Alarma cancelada" in phone.page.inner_text("#alarm-result")
    time.sleep(6)
    assert phone.pending() == 0 and api(live_server, "comisaria", "GET", "/api/v1/alarms") == []


def test_a_token_that_expires_offline_keeps_the_outbox_until_the_person_signs_in_again(
    phones, app, db_url, tmp_path: Path, make_person
):
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=1, username="pedro")
    server = start_server(db_url=db_url, tmp_path=tmp_path, extra_env={"TOKEN_TTL_SECONDS": "8"})
    try:
        phone = phones(server).open().sign_in("pedro").installed()
        phone.offline()
        phone.report("robbery", description="Se llevaron una bicicleta")
        time.sleep(9)  # the shift's token runs out with the phone still offline
        phone.offline(False)
        phone.page.wait_for_selector("#session-expired:not([hidden])", timeout=15_000)
        assert phone.pending() == 1
        assert reported_by(server, "comisaria", "pedro") == []
        phone.page.click("#reauth")
        phone.page.fill("#password", PASSWORD)
        phone.page.click("#signin-submit")
        phone.wait_pending(0)
        assert [i["description"] for i in reported_by(server, "comisaria", "pedro")] == ["Se llevaron una bicicleta"]
        assert phone.page.is_hidden("#session-expired")
    finally:
        server.stop()


def test_a_poor_gps_fix_is_sent_only_when_the_person_confirms_it(phones, live_server, make_person):
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=1, username="teo")
    phone = phones(live_server).open().sign_in("teo")
    phone.move_to(*ZONE_POINTS[1], accuracy=650)
    phone.page.click("[data-kind=assault]")
    phone.page.wait_for_selector("#report-location:has-text('poco precisa (±650 m)')", timeout=10_000)
    phone.page.click("#report-send")
    phone.page.wait_for_selector("#report-confirm-accuracy:not([hidden])", timeout=2_000)
    assert "±650 m" in phone.page.inner_text("#report-confirm-text")
    assert phone.reachable("#report-confirm-send") and phone.reachable("#report-confirm-map")
    assert phone.pending() == 0 and reported_by(live_server, "comisaria", "teo") == []
    phone.page.click("#report-confirm-send")
    phone.page.wait_for_selector("#report-done-text:has-text('Reporte enviado')", timeout=10_000)
    assert len(reported_by(live_server, "comisaria", "teo")) == 1


def test_with_no_signal_the_place_is_chosen_on_a_map_of_the_zones_own_blocks(phones, live_server, make_person):
    make_person("police", username="comisaria")
    make_person("neighbor", zone_id=3, username="marta")
    phone = phones(live_server, point=ZONE_POINTS[3]).open().sign_in("marta").installed()
    phone.page.wait_for_function("() => Ronda.state.blocks && Ronda.state.blocks.features.length > 0", timeout=10_000)
    phone.offline()
    phone.page.reload()  # offline, from the service worker: the zone map is on the phone
    phone.page.wait_for_selector("body[data-ready=report]", timeout=15_000)
    phone.page.click("[data-kind=robbery]")
    phone.page.click("#report-pick-map")
    phone.page.wait_for_selector(".leaflet-overlay-pane path", timeout=10_000)
    assert phone.page.locator(".leaflet-tile-loaded").count() == 0  # no tiles, only Ronda's shapes
    assert phone.page.locator(".leaflet-overlay-pane path").count() > 50
    box = phone.page.locator("#pick-map").bounding_box()
    phone.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    phone.page.wait_for_selector("#map-picked:has-text('Manzana Z3-')", timeout=5_000)
    block = phone.page.inner_text("#map-picked").split(": ", 1)[1]
    phone.page.click("#map-use")
    assert block in phone.page.inner_text("#report-location")
    phone.page.click("#report-send")
    phone.wait_pending(1)
    phone.offline(False)
    phone.wait_pending(0)
    [incident] = reported_by(live_server, "comisaria", "marta")
    assert incident["block_name"] == block


def test_reports_made_while_the_server_is_down_arrive_once_when_it_is_back(
    phones, app, db_url, tmp_path: Path, make_person
):
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=4, username="nora")
    server = start_server(db_url=db_url, tmp_path=tmp_path)
    try:
        phone = phones(server, point=ZONE_POINTS[4]).open().sign_in("nora").installed()
        server.stop()  # the phone has signal; the station's server is down (a restart, a power cut)
        phone.report("assault", description="Golpearon a un mototaxista")
        phone.page.wait_for_selector("body[data-online=no]", timeout=15_000)
        assert phone.pending() == 1
        phone.page.reload()  # the app still opens, from the phone
        phone.page.wait_for_selector("body[data-ready=report]", timeout=15_000)
        server = start_server(db_url=db_url, tmp_path=tmp_path, port=server.port)
        phone.wait_pending(0, timeout=30_000)  # sent again by itself, every few seconds
        assert [i["description"] for i in reported_by(server, "comisaria", "nora")] == ["Golpearon a un mototaxista"]
    finally:
        server.stop()


@pytest.mark.parametrize("role", ["police", "serenazgo"])
def test_police_and_serenazgo_are_sent_to_the_live_map(phones, live_server, make_person, role):
    make_person(role, username="sargento")
    phone = phones(live_server).open().sign_in("sargento", ready="police")
    assert phone.page.get_attribute("#screen-police a", "href") == "/mapa"
    assert phone.page.is_hidden("#tabs")


def test_a_patrol_the_station_dispatches_hears_it_at_once_and_again_after_a_reload(
    phones, live_server, make_person, make_committee
):
    make_person("police", username="comisaria")
    juan = make_person("volunteer", zone_id=1, username="juan")
    make_committee(1, [juan], name="Comité Los Pinos")
    reporter = make_person("volunteer", zone_id=1)
    phone = phones(live_server).open().sign_in("juan")
    phone.go("patrol")
    phone.page.click("#patrol-start-button")
    phone.page.wait_for_selector("body[data-patrol=tracking]", timeout=5_000)
    phone.wait_pending(0)
    patrol_id = api(live_server, "juan", "GET", "/api/v1/me")["active_patrol"]["id"]
    headers = {"Authorization": f"Bearer {reporter.token}"}
    body = incident_body(1, kind="robbery", description="Arrebato en el paradero")
    incident = requests.post(f"{live_server.url}/api/v1/incidents", json=body, headers=headers, timeout=10).json()

    for status in ("acknowledged", "dispatched"):
        change = {"status": status}
        if status == "dispatched":
            change.update(patrol_id=patrol_id, note="Vayan por la avenida principal")
        api(live_server, "comisaria", "PATCH", f"/api/v1/incidents/{incident['id']}", json=change)
    card = f"#patrol-assigned-list [data-incident='{incident['id']}']"
    phone.page.wait_for_selector(card, timeout=3_000)
    text = phone.page.inner_text(card)
    assert "Robo" in text and "Vayan por la avenida principal" in text and "Arrebato en el paradero" in text
    assert reporter.user.username not in phone.page.content()
    phone.page.locator(f"{card} a").scroll_into_view_if_needed()
    assert phone.reachable(f"{card} a") and phone.page.locator(f"{card} a").bounding_box()["height"] >= 48

    phone.page.reload()
    phone.page.wait_for_selector("body[data-ready=report]", timeout=15_000)
    phone.go("patrol")
    phone.page.wait_for_selector(card, timeout=10_000)  # read again from /api/v1/me
    assert "Vayan por la avenida principal" in phone.page.inner_text(card)
    api(live_server, "comisaria", "PATCH", f"/api/v1/incidents/{incident['id']}", json={"status": "resolved"})
    phone.page.wait_for_selector(card, state="detached", timeout=3_000)
    assert phone.page.is_hidden("#patrol-assigned")


def test_the_app_speaks_english_when_asked_and_remembers_it(phones, live_server, make_person):
    make_person("volunteer", zone_id=1, username="mary")
    phone = phones(live_server).open()
    assert phone.page.inner_text("#signin-title") == "Entrar a Ronda"
    phone.page.click("#lang-en")
    phone.page.wait_for_selector("#signin-title:has-text('Sign in to Ronda')", timeout=5_000)
    phone.sign_in("mary")
    assert phone.page.inner_text("#tab-report") == "Report" and "Robbery" in phone.page.inner_text("#kind-grid")
    phone.page.reload()
    phone.page.wait_for_selector("body[data-ready=report]", timeout=10_000)
    assert phone.page.inner_text("#tab-mine").startswith("My reports")
    assert phone.page.get_attribute("html", "lang") == "en-GB"


# --- the street: thumbs, sunlight, screen readers, a 360 px screen -------------------------

AUDIT = """() => {
  const visible = (el) => {
    const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const problems = [];
  const controls = document.querySelectorAll("button, a[href], input, textarea, select");
  for (const el of controls) {
    if (!visible(el) || el.closest(".leaflet-container") || el.classList.contains("skip")) continue;
    const target = el.type === "checkbox" || el.type === "radio" ? el.closest("label") || el : el;
    const r = target.getBoundingClientRect();
    if (r.width < 48 || r.height < 48) problems.push(`small: ${el.id || el.textContent.trim()} ${r.width}x${r.height}`);
    const name = el.getAttribute("aria-label") || (el.labels && el.labels.length && el.labels[0].textContent.trim())
      || el.textContent.trim() || el.getAttribute("title");
    if (!name) problems.push(`unlabelled: ${el.outerHTML.slice(0, 80)}`);
  }
  for (const el of document.querySelectorAll("body *")) {
    if (!visible(el) || el.closest(".leaflet-container")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(el);
    const fg = rgb(s.color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const large = parseFloat(s.fontSize) >= 24 || (parseFloat(s.fontSize) >= 18.66 && Number(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)}: ${el.textContent.trim().slice(0, 40)}`);
  }
  const width = document.documentElement.scrollWidth;
  if (width > window.innerWidth) problems.push(`scrolls sideways: ${width}`);
  for (const el of document.querySelectorAll("body *")) {  // fixed bars do not scroll: they get cut
    if (!visible(el) || el.closest(".leaflet-container")) continue;
    const r = el.getBoundingClientRect();
    if ((r.right > window.innerWidth + 0.5 || r.left < -0.5) && !el.classList.contains("skip")) {
      problems.push(`cut at the edge: ${el.id || el.className} ${r.left}-${r.right}`);
    }
  }
  return problems;
}"""


def test_every_screen_has_large_labelled_targets_aa_contrast_and_no_sideways_scroll(
    phones, live_server, make_person, make_committee
):
    coordinator = make_person("coordinator", zone_id=1, username="coordinadora")
    make_committee(1, [coordinator], name="Comité vecinal con un nombre bastante largo de verdad")
    phone = phones(live_server).open()
    assert phone.page.evaluate(AUDIT) == [], "sign-in"
    phone.sign_in("coordinadora").installed()
    phone.offline()  # with something waiting: the status line and the count on "Mis reportes"
    phone.report("noise_disturbance", description="Fiesta con parlantes hasta las 3 de la mañana en el pasaje")
    phone.page.wait_for_selector("#mine-badge:not([hidden])", timeout=5_000)
    screens = {"kinds": None, "alarm": "alarm", "patrol": "patrol", "mine": "mine"}
    for name, tab in screens.items():
        if tab:
            phone.go(tab)
            time.sleep(0.3)
        assert phone.page.evaluate(AUDIT) == [], name
    phone.go("report")
    phone.page.click("#report-another")
    phone.page.click("[data-kind=gang_activity]")
    phone.page.fill("#report-description", "x" * 300)
    assert phone.page.evaluate(AUDIT) == [], "report form"
    phone.page.click("#report-pick-map")
    phone.page.wait_for_selector(".leaflet-container path", timeout=10_000)
    assert phone.page.locator(".leaflet-overlay-pane path").count() > 20  # the zone and its blocks, no tiles
    assert phone.page.evaluate(AUDIT) == [], "map"


def test_without_gps_the_alarm_asks_for_the_place_on_the_map_and_goes(phones, live_server, make_person):
    make_person("police", username="comisaria")
    make_person("neighbor", zone_id=1, username="elsa")
    phone = phones(live_server)
    phone.context.clear_permissions()  # she said no to the location
    phone.open().sign_in("elsa")
    phone.go("alarm")
    box = phone.page.locator("#alarm-button").bounding_box()
    phone.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    phone.page.mouse.down()
    time.sleep(2.4)
    phone.page.mouse.up()
    phone.page.wait_for_selector("#map-panel:not([hidden]) .leaflet-overlay-pane path", timeout=15_000)
    assert "No sabemos dónde está" in phone.page.inner_text("#map-title")
    assert phone.reachable("#pick-map") and phone.reachable("#map-close")
    map_box = phone.page.locator("#pick-map").bounding_box()
    phone.page.mouse.click(map_box["x"] + map_box["width"] / 2, map_box["y"] + map_box["height"] / 2)
    phone.page.click("#map-use")
    phone.page.wait_for_selector("#alarm-result:has-text('Alarma enviada')", timeout=15_000)
    assert first_alarm_presser(live_server, "comisaria") == "elsa"


def test_an_operation_that_clashed_with_another_goes_again_by_itself(phones, live_server, make_person):
    make_person("police", username="comisaria")
    make_person("volunteer", zone_id=1, username="hugo")
    phone = phones(live_server).open().sign_in("hugo")
    clashes = []

    def clash_twice(route: Any) -> None:
        if len(clashes) < 2:  # the server says: a simultaneous request got in the way, send it again
            clashes.append(route.request.url)
            error = {"error": "conflict", "message": "La operación chocó con otra simultánea.", "retry": True}
            answer = {"applied": 0, "already_applied": 0, "rejected": 1,
                      "results": [{"index": 0, "status": "rejected", "error": error}]}  # fmt: skip
            route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))
        else:
            route.continue_()

    phone.page.route("**/api/v1/sync", clash_twice)
    phone.report("robbery", description="Otra vez en el paradero")
    phone.wait_pending(0, timeout=15_000)
    assert len(clashes) == 2
    assert [i["description"] for i in reported_by(live_server, "comisaria", "hugo")] == ["Otra vez en el paradero"]
    assert phone.page.locator("#outbox-list .card").count() == 0
