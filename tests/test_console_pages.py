"""The operations console: /incidentes (list, exports, one incident) and /auditoria, per role."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from sqlmodel import Session, select

from security.models import AuditEntry
from tests.conftest import PASSWORD, incident_body, patrol_body
from zones.models import Block


def sign_in(client, username):
    client.get("/entrar")
    with client.session_transaction() as web_session:
        token = web_session["csrf"]
    response = client.post("/entrar", data={"username": username, "password": PASSWORD, "csrf": token})
    assert response.status_code == 302


def ids_on(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-incident-id="(\d+)"', page)]


def next_link(page: str) -> str | None:
    found = re.search(r'id="next-page" rel="next" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def walk(client, url: str) -> list[int]:
    """Every id of a listing, following "next page" links to the end."""
    seen: list[int] = []
    for _ in range(50):
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_data(as_text=True)
        seen += ids_on(page)
        url = next_link(page)
        if url is None:
            return seen
    raise AssertionError("too many pages")


def report(client, person, zone_id=1, **extra) -> int:
    response = client.post("/api/v1/incidents", json=incident_body(zone_id, **extra), headers=person.headers)
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def move(client, person, incident_id, **body):
    response = client.patch(f"/api/v1/incidents/{incident_id}", json=body, headers=person.headers)
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def district(client, make_person):
    """Reports in two zones, one of them dismissed, one acknowledged; who made them."""
    rosa = make_person("volunteer", zone_id=1, username="rosa")
    juan = make_person("volunteer", zone_id=2, username="juan")
    police = make_person("police", username="comisaria")
    made = {
        "moto": [report(client, rosa, 1, description=f"Asalto en MOTO n.º {i}", severity=1 + i % 3) for i in range(5)],
        "paint": [report(client, rosa, 1, kind="vandalism", description="Pintas en la pared") for _ in range(2)],
        "zone2": [report(client, juan, 2, description="Robo en el mercado") for _ in range(2)],
    }
    move(client, police, made["moto"][0], status="dismissed", note="Falsa alarma")
    move(client, police, made["moto"][1], status="acknowledged")
    made["people"] = {"rosa": rosa, "juan": juan, "police": police}
    return made


def test_police_filter_by_zone_kind_status_and_text(client, district):
    sign_in(client, "comisaria")
    everything = ids_on(client.get("/incidentes").get_data(as_text=True))
    assert sorted(everything, reverse=True) == everything and len(everything) == 9
    zone1 = ids_on(client.get("/incidentes?zona=1").get_data(as_text=True))
    assert set(zone1) == set(district["moto"] + district["paint"])
    assert set(ids_on(client.get("/incidentes?tipo=vandalism").get_data(as_text=True))) == set(district["paint"])
    still_open = ids_on(client.get("/incidentes?zona=1&estado=open").get_data(as_text=True))
    assert district["moto"][0] not in still_open and len(still_open) == 6
    assert ids_on(client.get("/incidentes?estado=acknowledged").get_data(as_text=True)) == [district["moto"][1]]
    page = client.get("/incidentes?q=moto").get_data(as_text=True)  # case does not matter
    assert set(ids_on(page)) == set(district["moto"]) and "Asalto en MOTO" in page
    assert 'value="moto"' in page  # the search stays in its box
    # Lists never name a reporter, not even to the police.
    assert "Nombre de rosa" not in page and ">rosa<" not in page
    high = ids_on(client.get("/incidentes?gravedad=3").get_data(as_text=True))
    assert high and all(i in district["moto"] for i in high)


@pytest.mark.parametrize("sort", ["newest", "oldest", "severity"])
def test_the_cursor_pages_without_duplicates_or_gaps(client, district, monkeypatch, sort):
    monkeypatch.setattr("dashboards.console.PAGE_SIZE", 2)
    sign_in(client, "comisaria")
    seen = walk(client, f"/incidentes?orden={sort}")
    assert len(seen) == len(set(seen)) == 9
    if sort == "oldest":
        assert seen == sorted(seen)
    first = client.get(f"/incidentes?orden={sort}").get_data(as_text=True)
    more = next_link(first)
    assert more and "cursor=" in more and f"orden={sort}" in more
    label = {"newest": "Más antiguos →", "oldest": "Más recientes →", "severity": "Siguiente página →"}[sort]
    assert label in first
    assert "Primera página" in client.get(more).get_data(as_text=True)
    # Paging keeps the filter: zone 1's open incidents, three pages of two, then one.
    open_ones = walk(client, f"/incidentes?zona=1&estado=open&orden={sort}")
    assert len(open_ones) == len(set(open_ones)) == 6


def test_a_coordinator_sees_only_their_zone_and_may_act_there(client, make_person, district):
    make_person("coordinator", zone_id=2, username="coord2")
    sign_in(client, "coord2")
    page = client.get("/incidentes").get_data(as_text=True)
    assert set(ids_on(page)) == set(district["zone2"])
    assert 'id="f-zone"' not in page and "Cercado" in page
    assert 'class="actions" data-id=' in page and "console.js" in page  # their zone's incidents
    refused = client.get("/incidentes?zona=1")
    assert refused.status_code == 403
    assert "Solo puede consultar su propia zona." in refused.get_data(as_text=True)
    assert client.get(f"/incidentes/{district['moto'][2]}").status_code == 404  # like a missing one
    assert client.get("/incidentes.csv?zona=1").status_code == 403


def test_a_neighbour_sees_no_descriptions_no_reporter_no_search_and_blocks(client, make_person, district, app):
    make_person("neighbor", zone_id=1, username="vecina")
    sign_in(client, "vecina")
    page = client.get("/incidentes").get_data(as_text=True)
    assert set(ids_on(page)) == set(district["moto"] + district["paint"])
    assert "Asalto en MOTO" not in page and "Pintas" not in page
    assert 'name="q"' not in page and "Descripción" not in page
    assert "console.js" not in page and "token" not in page  # nothing to act on, no token carried
    refused = client.get("/incidentes?q=moto")
    assert refused.status_code == 400 and "no está disponible para vecinos" in refused.get_data(as_text=True)
    one = district["moto"][3]
    record = client.get(f"/incidentes/{one}").get_data(as_text=True)
    assert "Asalto en MOTO" not in record and "rosa" not in record and "Falsa alarma" not in record
    assert "Ubicación aproximada (manzana)" in record
    geojson = json.loads(client.get("/incidentes.geojson").get_data(as_text=True))
    feature = next(f for f in geojson["features"] if f["id"] == one)
    with Session(app.extensions["ronda"].engine) as session:
        block = session.get(Block, feature["properties"]["block_id"])
    assert feature["geometry"]["coordinates"] == [block.center_lon, block.center_lat]
    assert feature["properties"]["description"] is None and feature["properties"]["reporter"] is None
    dismissed = client.get(f"/incidentes/{district['moto'][0]}").get_data(as_text=True)
    assert "Reportado → Descartado" in dismissed and "Falsa alarma" not in dismissed  # no notes for them


def test_serenazgo_never_sees_a_reporter(client, make_person, district):
    make_person("serenazgo", username="sereno")
    sign_in(client, "sereno")
    one = district["moto"][2]
    pages = [
        client.get("/incidentes").get_data(as_text=True),
        client.get(f"/incidentes/{one}").get_data(as_text=True),
        client.get("/incidentes.csv").get_data(as_text=True),
        client.get("/incidentes.geojson").get_data(as_text=True),
    ]
    assert "Asalto en MOTO" in pages[0] and "Asalto en MOTO" in pages[1]  # they do see descriptions
    for text in pages:
        assert "Nombre de rosa" not in text and "rosa" not in text and "Nombre de juan" not in text
    assert 'class="actions" data-id=' in pages[0]  # and they move incidents on


def test_police_see_the_reporter_only_when_opening_one(client, district, app):
    sign_in(client, "comisaria")
    one = district["moto"][2]
    assert "Nombre de rosa" not in client.get("/incidentes").get_data(as_text=True)
    assert "Nombre de rosa" not in client.get("/incidentes.csv").get_data(as_text=True)
    record = client.get(f"/incidentes/{one}").get_data(as_text=True)
    assert 'id="record-reporter">Nombre de rosa (rosa)' in record
    with Session(app.extensions["ronda"].engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == "incident.reporter_viewed")).all()
    assert [(e.actor_username, e.object_id) for e in entries] == [("comisaria", str(one))]


def test_exports_honour_the_filter(client, district):
    sign_in(client, "comisaria")
    response = client.get("/incidentes.csv?tipo=vandalism")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(int(r["id"]) for r in rows) == sorted(district["paint"])
    assert {r["reporter"] for r in rows} == {""}
    geojson = client.get("/incidentes.geojson?zona=2")
    assert geojson.mimetype == "application/geo+json"
    features = json.loads(geojson.get_data(as_text=True))["features"]
    assert sorted(f["id"] for f in features) == sorted(district["zone2"])
    texts = list(csv.DictReader(io.StringIO(client.get("/incidentes.csv?q=moto&estado=open").get_data(as_text=True))))
    assert sorted(int(r["id"]) for r in texts) == sorted(district["moto"][1:])
    page = client.get("/incidentes?tipo=vandalism").get_data(as_text=True)
    assert 'href="/incidentes.csv?tipo=vandalism"' in page and 'href="/incidentes.geojson?tipo=vandalism"' in page
    assert client.get("/incidentes.csv?gravedad=9").status_code == 400


def test_one_incident_shows_its_record_and_history(client, make_person, district):
    police = district["people"]["police"]
    one = district["moto"][3]
    move(client, police, one, status="acknowledged", note="Llamamos a la vecina")
    move(client, police, one, status="dispatched")
    make_person("coordinator", zone_id=1, username="coord1")
    sign_in(client, "coord1")
    page = client.get(f"/incidentes/{one}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert f"Incidente #{one}" in text and "Asalto en MOTO" in text and "Nueva Esperanza" in text
    history = text[text.index('id="history-table"') :]
    assert history.index("Reportado → Recibido") < history.index("Recibido → Patrullero en camino")
    assert "Llamamos a la vecina" in history and "Policía" in history
    assert "Nombre de rosa" not in text  # coordinators never see a reporter
    assert f'class="actions" data-id="{one}" data-status="dispatched"' in text
    assert client.get("/incidentes/999999").status_code == 404
    assert client.get("/incidentes/abc").status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("zona=abc", "Elija una zona de la lista."),
        ("zona=999", "Elija una zona de la lista."),
        ("zona=99999999999999999999999", "Elija una zona de la lista."),
        ("tipo=ovni", "Elija un tipo de incidente de la lista."),
        ("estado=perdido", "Elija un estado de la lista."),
        ("gravedad=5", "La gravedad es 1 (baja), 2 (media) o 3 (alta)."),
        ("gravedad=%C2%B2", "La gravedad es 1 (baja), 2 (media) o 3 (alta)."),
        ("desde=2026-02-30", "Escriba las fechas como AAAA-MM-DD"),
        ("desde=ayer", "Escriba las fechas como AAAA-MM-DD"),
        ("desde=2026-03-10&hasta=2026-03-01", "La fecha «desde» debe ser anterior o igual a la fecha «hasta»."),
        ("desde=0001-01-01", "Elija fechas entre 1990 y 2100."),
        ("orden=azar", "Elija un orden de la lista."),
        ("cursor=%%%", "El enlace de página ya no es válido"),
        ("orden=severity&cursor=aTox", "El enlace de página ya no es válido"),  # a newest-first cursor
        ("q=" + "x" * 101, "La búsqueda admite hasta 100 caracteres."),
    ],
)
def test_bad_parameters_get_a_readable_message(client, make_person, query, message):
    make_person("police", username="cabo")
    sign_in(client, "cabo")
    response = client.get(f"/incidentes?{query}")
    assert response.status_code == 400, query
    text = response.get_data(as_text=True)
    assert message in html.unescape(text) and 'role="alert"' in text
    if "cursor" not in query:  # an export is the whole filter: it takes no cursor
        assert client.get(f"/incidentes.csv?{query}").status_code == 400


def test_the_pages_speak_english_and_need_signing_in(client, make_person, district):
    for path in ("/incidentes", "/incidentes/1", "/incidentes.csv", "/auditoria", "/auditoria.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/entrar" in response.headers["Location"], path
    sign_in(client, "comisaria")
    page = client.get("/incidentes?lang=en").get_data(as_text=True)
    assert "All zones" in page and "Incidents on this page: 9" in page
    assert "Most recent first" in page and "Download CSV" in page
    assert "must be" in client.get("/incidentes?lang=en&desde=2026-03-10&hasta=2026-03-01").get_data(as_text=True)
    trends = client.get("/tendencias").get_data(as_text=True)
    assert 'href="/incidentes"' in trends and 'href="/auditoria"' not in trends


def test_the_audit_record_is_for_admins_only(client, make_person, app):
    make_person("police", username="sargento")
    sign_in(client, "sargento")
    refused = client.get("/auditoria")
    assert refused.status_code == 403
    assert "Solo la administración puede ver el registro de auditoría." in refused.get_data(as_text=True)
    assert client.get("/auditoria.csv").status_code == 403
    with Session(app.extensions["ronda"].engine) as session:
        denied = session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert [(e.actor_username, e.outcome) for e in denied] == [("sargento", "denied")] * 2
    make_person("admin", username="jefa")
    sign_in(client, "jefa")
    page = client.get("/auditoria").get_data(as_text=True)
    assert "Registro de auditoría" in page and "Acceso denegado" in page and "sargento" in page
    assert 'href="/auditoria"' in client.get("/tendencias").get_data(as_text=True)


def test_the_audit_record_filters_pages_and_exports(client, make_person, district, monkeypatch):
    make_person("admin", username="jefa")
    sign_in(client, "jefa")
    by_rosa = client.get("/auditoria?usuario=rosa").get_data(as_text=True)
    rows = re.findall(r'<tr data-entry-id="(\d+)" data-action="([a-z_.]+)"', by_rosa)
    # What rosa did, and what was done to her account (its creation).
    assert len(rows) == 8 and {a for _, a in rows} == {"incident.reported", "user.created"}
    assert "Reportó un incidente" in by_rosa and "(Voluntario)" in by_rosa
    changes = client.get("/auditoria?accion=incident.status_changed").get_data(as_text=True)
    assert len(re.findall(r"<tr data-entry-id=", changes)) == 2 and "Falsa alarma" in changes
    one = district["moto"][0]
    about_one = client.get(f"/auditoria?objeto=incident&id={one}").get_data(as_text=True)
    actions = re.findall(r'data-action="([a-z_.]+)"', about_one)
    assert actions == ["incident.status_changed", "incident.reported"]  # newest first
    assert client.get("/auditoria?desde=2020-01-01&hasta=2020-12-31").get_data(as_text=True).count("data-entry-id") == 0
    assert client.get("/auditoria?accion=borrar").status_code == 400
    assert client.get("/auditoria?cursor=aTox").status_code == 400  # an incident list's cursor
    monkeypatch.setattr("dashboards.admin.AUDIT_PAGE_SIZE", 3)
    url: str | None = "/auditoria?usuario=rosa"
    seen: list[str] = []
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += re.findall(r'<tr data-entry-id="(\d+)"', page)
        found = re.search(r'id="next-page" rel="next" href="([^"]+)"', page)
        url = html.unescape(found.group(1)) if found else None
    assert len(seen) == len(set(seen)) == 8
    exported = client.get("/auditoria.csv?usuario=rosa")
    assert exported.mimetype == "text/csv" and exported.headers["Cache-Control"] == "no-store"
    lines = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(r["id"] for r in lines) == sorted(seen)
    assert {r["action"] for r in lines} == {"incident.reported", "user.created"}
    assert 'href="/auditoria.csv?usuario=rosa"' in by_rosa


def test_an_admin_opening_an_anonymous_incident_is_on_the_record(client, make_person, app):
    neighbour = make_person("neighbor", zone_id=3, username="anonima")
    hidden = report(client, neighbour, 3, anonymous=True, description="Venta de drogas en la esquina")
    make_person("police", username="teniente")
    sign_in(client, "teniente")
    record = client.get(f"/incidentes/{hidden}").get_data(as_text=True)
    assert "Nombre de anonima" not in record and 'id="record-reporter">Anónimo' in record
    make_person("admin", username="jefa")
    sign_in(client, "jefa")
    record = client.get(f"/incidentes/{hidden}").get_data(as_text=True)
    assert "Nombre de anonima (anonima)" in record and "Reporte anónimo" in record
    with Session(app.extensions["ronda"].engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == "incident.reporter_viewed")).all()
    assert [(e.actor_username, e.actor_role, e.object_type, e.object_id) for e in entries] == [
        ("jefa", "admin", "incident", str(hidden))
    ]
    page = client.get("/auditoria?accion=incident.reporter_viewed").get_data(as_text=True)
    assert "Vio quién reportó un incidente" in page and f"#{hidden}" in page and "jefa" in page


def start_patrol(client, make_committee, member, zone_id=1, name=None) -> int:
    committee = make_committee(zone_id, [member], name=name)
    response = client.post("/api/v1/patrols", json=patrol_body(committee, [member]), headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def test_a_dispatched_incident_whose_patrol_ended_is_flagged_in_the_list_and_its_record(
    client, make_person, make_committee, district
):
    police = district["people"]["police"]
    juan, ana = make_person("volunteer", zone_id=1, username="juan1"), make_person("volunteer", zone_id=1)
    ended = start_patrol(client, make_committee, juan, name="Comité Los Pinos")
    active = start_patrol(client, make_committee, ana, name="Comité Las Flores")
    left, kept = district["moto"][2], district["moto"][3]
    for incident, patrol in ((left, ended), (kept, active)):
        move(client, police, incident, status="acknowledged")
        move(client, police, incident, status="dispatched", patrol_id=patrol)
    client.post(f"/api/v1/patrols/{ended}/end", json={}, headers=juan.headers)
    sign_in(client, "comisaria")
    page = client.get("/incidentes?estado=dispatched").get_data(as_text=True)
    assert set(ids_on(page)) == {left, kept}
    assert page.count('class="badge patrol-ended"') == 1 and f'data-patrol-ended-for="{left}"' in page
    assert f'data-id="{left}" data-status="dispatched" data-patrol-id="{ended}"' in page
    record = client.get(f"/incidentes/{left}").get_data(as_text=True)
    assert 'id="patrol-ended"' in record and "La ronda enviada ya terminó" in record
    assert "Reasígnelo a otra ronda o resuélvalo." in record and "Comité Los Pinos" in record
    assert "La ronda enviada ya terminó" not in client.get(f"/incidentes/{kept}").get_data(as_text=True)
    english = client.get(f"/incidentes/{left}?lang=en").get_data(as_text=True)
    assert "The patrol sent has already ended" in english


# --- in a real browser, on a phone ----------------------------------------------------------


@pytest.mark.live
def test_a_police_officer_receives_an_incident_from_the_list_on_a_phone(browser, live_server, make_person):
    import requests

    make_person("police", username="movil")
    make_person("volunteer", zone_id=2, username="vecino2")
    token = live_server.token("vecino2")
    created = requests.post(
        f"{live_server.url}/api/v1/incidents",
        json=incident_body(2, description="Robo de celular en el paradero"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    context = browser.new_context(locale="es-PE", viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/incidentes?estado=open")
    page.fill("input[name=username]", "movil")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    row = page.locator(f"tr[data-incident-id='{created['id']}']")
    button = row.locator("button.act-acknowledged")
    button.wait_for(timeout=10_000)
    assert button.bounding_box()["height"] >= 44
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    button.click()
    row.locator("[data-status-for].status-acknowledged").wait_for(timeout=5_000)
    assert row.locator("[data-status-for]").inner_text() == "Recibido"
    assert row.locator("button.act-dispatched").count() == 1  # the next step is offered
    police = live_server.token("movil")
    state = requests.get(
        f"{live_server.url}/api/v1/incidents/{created['id']}", headers={"Authorization": f"Bearer {police}"}, timeout=10
    ).json()
    assert state["status"] == "acknowledged"
    context.close()


@pytest.mark.live
def test_police_reassign_from_the_record_and_mark_a_duplicate_of_any_number_from_the_list(
    browser, live_server, make_person, make_committee
):
    import requests

    def api(username, method, path, body=None):
        response = requests.request(
            method, f"{live_server.url}{path}", json=body, timeout=10,
            headers={"Authorization": f"Bearer {live_server.token(username)}"},
        )  # fmt: skip
        assert response.status_code in (200, 201), response.text
        return response.json()

    make_person("police", username="teniente")
    make_person("volunteer", zone_id=2, username="vecino2")
    patrols = []
    for name in ("Comité Los Pinos", "Comité Las Flores"):
        member = make_person("volunteer", zone_id=2)
        committee = make_committee(2, [member], name=name)
        patrols.append(api(member.user.username, "POST", "/api/v1/patrols", patrol_body(committee, [member]))["id"])
    sent = api("vecino2", "POST", "/api/v1/incidents", incident_body(2, description="Robo en el mercado"))["id"]
    api("teniente", "PATCH", f"/api/v1/incidents/{sent}", {"status": "acknowledged"})
    api("teniente", "PATCH", f"/api/v1/incidents/{sent}", {"status": "dispatched", "patrol_id": patrols[0]})
    first = api("vecino2", "POST", "/api/v1/incidents", incident_body(2))["id"]
    repeat = api("vecino2", "POST", "/api/v1/incidents", incident_body(2))["id"]  # first is its candidate
    context = browser.new_context(locale="es-PE", viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/incidentes/{sent}")
    page.fill("input[name=username]", "teniente")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.locator("button.act-redispatch").click()
    form = page.locator("form[data-for=redispatch]")
    select = form.locator("select[name=patrol]")
    select.wait_for(timeout=5_000)
    assert select.evaluate("s => [...s.options].map(o => o.value)") == [str(patrols[1])]  # not the one sent
    assert form.locator("label", has_text="Ronda a la que reasignar").count() == 1
    form.locator("button[type=submit]").click()
    page.locator("#record-patrol", has_text="Comité Las Flores").wait_for(timeout=5_000)  # the page reloads
    state = api("teniente", "GET", f"/api/v1/incidents/{sent}")
    assert state["status"] == "dispatched" and state["assigned_patrol_id"] == patrols[1]

    page.goto(f"{live_server.url}/incidentes?estado=reported")
    row = page.locator(f"tr[data-incident-id='{repeat}']")
    row.locator("button.act-duplicate").click()
    form = page.locator("form[data-for=duplicate]")
    form.locator(f"input[name=original][value='{first}']").wait_for(timeout=5_000)
    number = form.get_by_label("N.º del incidente original")
    assert number.bounding_box()["height"] >= 44
    number.fill("0")
    assert form.locator("input[name=original][value=typed]").is_checked()  # typing chooses "another"
    form.locator("button[type=submit]").click()
    error = form.locator(".field-problem")
    assert "un número entero mayor que cero" in error.inner_text() and number.get_attribute("aria-invalid") == "true"
    number.fill("999999")
    form.locator("button[type=submit]").click()
    form.locator(".field-problem", has_text="El incidente original no existe o no es válido.").wait_for(timeout=5_000)
    assert "duplicate_of" not in page.inner_text("body")
    number.fill(str(sent))  # any incident, not only the candidates
    form.locator("button[type=submit]").click()
    row.locator("[data-status-for].status-duplicate").wait_for(timeout=5_000)
    state = api("teniente", "GET", f"/api/v1/incidents/{repeat}")
    assert state["status"] == "duplicate" and state["duplicate_of"] == sent
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    context.close()
