"""The /tendencias page: served to signed-in people, per role, in both languages."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, incident_body


def sign_in(client, username):
    client.get("/entrar")
    with client.session_transaction() as web_session:
        token = web_session["csrf"]
    response = client.post("/entrar", data={"username": username, "password": PASSWORD, "csrf": token})
    assert response.status_code == 302


@pytest.fixture
def reports(client, make_person):
    volunteer = make_person("volunteer", zone_id=1)
    for kind in ("robbery", "robbery", "vandalism"):
        client.post("/api/v1/incidents", json=incident_body(1, kind=kind), headers=volunteer.headers)
    client.post("/api/v1/incidents", json=incident_body(2, kind="assault"), headers=make_person("police").headers)


def test_police_see_the_district_and_can_pick_a_zone(client, make_person, reports):
    make_person("police", username="mayor")
    sign_in(client, "mayor")
    page = client.get("/tendencias").get_data(as_text=True)
    assert "Todo el distrito" in page and 'id="chart-kinds"' in page and "chart.umd.js" in page
    assert 'id="fig-total">4<' in page
    zone = client.get("/tendencias?zona=1").get_data(as_text=True)
    assert "Nueva Esperanza ·" in zone and 'id="fig-total">3<' in zone
    assert "<td>Robo</td>" in zone


def test_a_coordinator_sees_only_their_zone(client, make_person, reports):
    make_person("coordinator", zone_id=2, username="coord2")
    sign_in(client, "coord2")
    page = client.get("/tendencias?zona=1").get_data(as_text=True)  # asking for another zone changes nothing
    assert "Cercado ·" in page and 'id="fig-total">1<' in page
    assert 'id="trend-zone"' not in page


def test_bad_months_get_a_readable_message(client, make_person):
    make_person("police", username="cabo")
    sign_in(client, "cabo")
    response = client.get("/tendencias?desde=2026-07&hasta=2026-01")
    assert response.status_code == 400
    assert "Rango de meses no válido" in response.get_data(as_text=True)
    response = client.get("/tendencias?desde=julio&hasta=2026-01")
    assert response.status_code == 400 and "Elija meses válidos" in response.get_data(as_text=True)


def test_english_and_sign_in_required(client, make_person):
    assert client.get("/tendencias").status_code == 302
    make_person("police", username="chief")
    sign_in(client, "chief")
    page = client.get("/tendencias?lang=en").get_data(as_text=True)
    assert "Whole district" in page and "Incidents by kind and month" in page


def test_odd_zone_numbers_and_early_months_are_not_errors(client, make_person):
    make_person("police", username="teniente")
    sign_in(client, "teniente")
    for query in ("zona=%C2%B2", "zona=99999999999999999999999", "desde=1990-01&hasta=1990-01"):
        response = client.get(f"/tendencias?{query}")
        assert response.status_code in (200, 400), query
    assert client.get("/tendencias/reporte.pdf?zone_id=%C2%B2").status_code == 400
    page = client.get("/mapa")
    assert page.headers["Cache-Control"] == "no-store"


def test_the_committee_sees_its_patrol_hours_on_the_page(client, make_person, make_committee):
    from datetime import UTC, datetime, timedelta

    rosa = make_person("coordinator", zone_id=1, username="rosa")
    committee = make_committee(1, [rosa], name="Comité Los Pinos")
    started = datetime.now(UTC) - timedelta(hours=3)
    patrol = client.post(
        "/api/v1/patrols",
        json={"client_id": "6f1c1a2e-0b6d-4f57-9d43-5d2b8f1b7a10", "committee_id": committee,
              "started_at": started.isoformat()},
        headers=rosa.headers,
    ).get_json()  # fmt: skip
    client.post(
        f"/api/v1/patrols/{patrol['id']}/end",
        json={"ended_at": (started + timedelta(hours=2, minutes=30)).isoformat()},
        headers=rosa.headers,
    )
    sign_in(client, "rosa")
    page = client.get("/tendencias").get_data(as_text=True)
    assert 'id="fig-patrol-hours">2,5<' in page
    assert "Comité Los Pinos</td><td>1</td><td>2,5</td>" in page
    english = client.get("/tendencias?lang=en").get_data(as_text=True)
    assert "Patrolling by committee" in english and "Comité Los Pinos</td><td>1</td><td>2.5</td>" in english
