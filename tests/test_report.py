"""The committee's monthly PDF report: from the web (per role), from the CLI, and its layout."""

from __future__ import annotations

import io
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlmodel import Session

from dashboards.report import LABELS, build_committee_report, report_data
from dashboards.trends import Month
from security.models import Alarm, Incident
from tests.conftest import PASSWORD, ZONE_POINTS
from zones.database import LIMA

# In Lima time: March 2026 in zone 1 has 3 incidents (robbery, robbery, vandalism), February 1,
# March 2025 1; zone 2 has 1 in March. Zone 1 has two alarms in March (real and false).


def _incident(session, reporter_id, zone_id, kind, when_lima, *, block_id=None, ack_after=None, status="reported"):
    lat, lon = ZONE_POINTS[zone_id]
    at = when_lima.replace(tzinfo=LIMA)
    session.add(
        Incident(
            client_id=str(uuid.uuid4()),
            reporter_id=reporter_id,
            kind=kind,
            lat=lat,
            lon=lon,
            zone_id=zone_id,
            block_id=block_id,
            status=status,
            occurred_at=at,
            reported_at=at,
            updated_at=at,
            acknowledged_at=at + timedelta(seconds=ack_after) if ack_after is not None else None,
        )
    )


@pytest.fixture
def march(app, make_person):
    police = make_person("police")
    index = app.extensions["ronda"].index
    block_1 = index.locate(lat=ZONE_POINTS[1][0], lon=ZONE_POINTS[1][1]).block_id
    block_2 = index.locate(lat=ZONE_POINTS[2][0], lon=ZONE_POINTS[2][1]).block_id
    with Session(app.extensions["ronda"].engine) as session:
        pid = police.user.id
        _incident(session, pid, 1, "robbery", datetime(2025, 3, 10, 12), block_id=block_1)
        _incident(session, pid, 1, "assault", datetime(2026, 2, 14, 20), block_id=block_1)
        _incident(
            session, pid, 1, "robbery", datetime(2026, 3, 2, 10), block_id=block_1, ack_after=60, status="resolved"
        )
        _incident(session, pid, 1, "robbery", datetime(2026, 3, 9, 22), block_id=block_1, ack_after=300)
        _incident(session, pid, 1, "vandalism", datetime(2026, 3, 31, 23, 30), ack_after=120)  # still March in Lima
        _incident(session, pid, 2, "assault", datetime(2026, 3, 10, 10), block_id=block_2)
        for day, outcome in ((5, "real"), (6, "false_alarm")):
            raised = datetime(2026, 3, day, 22, tzinfo=LIMA)
            session.add(
                Alarm(
                    zone_id=1,
                    block_id=block_1,
                    status="resolved",
                    source="app",
                    lat=ZONE_POINTS[1][0],
                    lon=ZONE_POINTS[1][1],
                    raised_at=raised,
                    acknowledged_at=raised + timedelta(seconds=90),
                    resolved_at=raised + timedelta(seconds=300),
                    outcome=outcome,
                )
            )
        session.commit()
    return police


def sign_in(client, username):
    client.get("/entrar")
    with client.session_transaction() as web_session:
        token = web_session["csrf"]
    response = client.post("/entrar", data={"username": username, "password": PASSWORD, "csrf": token})
    assert response.status_code == 302


def pdf_text(data: bytes) -> str:
    """The PDF's text, every run of white space (table cells, line breaks) as one space."""
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def pdf_title(data: bytes) -> str:
    return str(PdfReader(io.BytesIO(data)).metadata.title)


def test_a_coordinator_downloads_their_zones_report(client, make_person, march):
    make_person("coordinator", zone_id=1, username="coord1")
    sign_in(client, "coord1")
    response = client.get("/tendencias/reporte.pdf?zone_id=1&month=2026-03")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert 'filename="informe-zona-1-2026-03.pdf"' in response.headers["Content-Disposition"]
    data = response.get_data()
    assert data.startswith(b"%PDF") and len(data) < 1024 * 1024
    text = pdf_text(data)
    assert pdf_title(data) == "Informe mensual del comité · Nueva Esperanza · marzo de 2026"
    assert "Nueva Esperanza" in text and "marzo de 2026" in text
    assert "Cambio Incidentes 3 1 +2 " in text  # figures table: March, February, change
    assert "Alarmas activadas 2 0 +2 " in text and "Falsas alarmas 50 % sin datos — " in text
    assert "Mes anterior (febrero de 2026) 1 +2 (+200 %)" in text
    assert "Mismo mes del año anterior (marzo de 2025) 1 +2 (+200 %)" in text
    assert "■ Robo 2 67 % ■ Vandalismo 1 33 %" in text
    assert "Las diez manzanas con más incidentes" in text


def test_without_a_zone_a_coordinator_gets_their_own(client, make_person, march):
    make_person("volunteer", zone_id=1, username="vol1")
    sign_in(client, "vol1")
    response = client.get("/tendencias/reporte.pdf?month=2026-03")
    assert response.status_code == 200
    assert "Nueva Esperanza" in pdf_text(response.get_data())


def test_police_get_the_district_in_english(client, march):
    sign_in(client, march.user.username)
    response = client.get("/tendencias/reporte.pdf?zone_id=&month=2026-03&lang=en")  # as the trends page links
    assert response.status_code == 200
    text = pdf_text(response.get_data())
    assert pdf_title(response.get_data()) == "Committee monthly report · Whole district · March 2026"
    assert "Change Incidents 4 1 +3 " in text and "Same month a year before (March 2025) 1 +3 (+300%)" in text
    assert "Cercado" in text  # the district's top blocks name their zone


def test_a_neighbour_of_another_zone_is_refused(client, make_person, march):
    make_person("neighbor", zone_id=2, username="vecina2")
    sign_in(client, "vecina2")
    response = client.get("/tendencias/reporte.pdf?zone_id=1&month=2026-03")
    assert response.status_code == 403
    assert "Solo puede ver el informe de su propia zona." in response.get_data(as_text=True)
    assert client.get("/tendencias/reporte.pdf?zone_id=2&month=2026-03").status_code == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("zone_id=1&month=2026-13", "no es un mes"),
        ("zone_id=1&month=marzo", "no es un mes"),
        ("zone_id=uno&month=2026-03", "no es un número de zona"),
        ("zone_id=99&month=2026-03", "No existe la zona 99."),
    ],
)
def test_a_bad_month_or_zone_is_a_readable_400(client, march, query, message):
    sign_in(client, march.user.username)
    response = client.get(f"/tendencias/reporte.pdf?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_signing_in_is_required(client, march):
    response = client.get("/tendencias/reporte.pdf?zone_id=1&month=2026-03")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/entrar?next=")


def test_the_cli_writes_the_same_report(runner, march, tmp_path):
    out = tmp_path / "informe.pdf"
    result = runner.invoke(args=["trends", "report", "--zone", "1", "--month", "2026-03", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output
    text = pdf_text(out.read_bytes())
    assert "Nueva Esperanza" in text and "marzo de 2026" in text and "Cambio Incidentes 3 1 +2 " in text

    district = tmp_path / "district.pdf"
    result = runner.invoke(args=["trends", "report", "--month", "2026-03", "--out", str(district), "--lang", "en"])
    assert result.exit_code == 0, result.output
    text = pdf_text(district.read_bytes())
    assert "Whole district" in text and "March 2026" in text and "Change Incidents 4 1 +3 " in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zone", "1", "--month", "2026/03"], "is not a month (YYYY-MM)"),
        (["--zone", "99", "--month", "2026-03"], "there is no zone 99"),
        (["--month", "2026-03", "--out", "/no/such/folder/x.pdf"], "does not exist"),
    ],
)
def test_the_cli_explains_bad_arguments(runner, march, args, message):
    result = runner.invoke(args=["trends", "report", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_the_report_is_deterministic_and_small(app, march):
    with Session(app.extensions["ronda"].engine) as session:
        data = report_data(session=session, zone_id=1, month=Month(2026, 3))
    first = data.render(locale="es", labels=dict(LABELS))
    assert first == data.render(locale="es", labels=dict(LABELS))
    assert len(first) < 1024 * 1024


def test_a_month_without_anything_still_reports(app):
    with Session(app.extensions["ronda"].engine) as session:
        data = report_data(session=session, zone_id=3, month=Month(2024, 7))
    text = pdf_text(data.render(locale="es", labels=dict(LABELS)))
    assert "julio de 2024" in text and "No hubo incidentes en el mes." in text
    assert "Ningún incidente del mes está ubicado en una manzana." in text


def test_trends_of_more_than_one_month_are_refused(app):
    with Session(app.extensions["ronda"].engine) as session:
        data = report_data(session=session, zone_id=1, month=Month(2026, 3))
    with pytest.raises(ValueError, match="exactly the reported month"):
        build_committee_report(
            trends=data.history, previous=data.previous, zones=data.zones, locale="es", labels=dict(LABELS)
        )


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_poppler_renders_the_first_page(app, march, tmp_path):
    with Session(app.extensions["ronda"].engine) as session:
        pdf = report_data(session=session, zone_id=1, month=Month(2026, 3)).render(locale="es", labels=dict(LABELS))
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "50", "-f", "1", "-l", "1", "-png", str(tmp_path / "report.pdf"), str(tmp_path / "page")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pages = list(tmp_path.glob("page*.png"))
    assert len(pages) == 1 and pages[0].stat().st_size > 10_000
