"""The committee's monthly report as a PDF download, for people signed in on the web."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template_string, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext

from dashboards.console import note_refusal
from dashboards.report import ReportData, report_data, report_labels
from dashboards.trends import Month, TrendsError
from dashboards.views import _db, current_user, sign_in_first
from security.auth import off_event_loop, viewer_of
from security.models import parse_id
from zones.database import LIMA

report_web = Blueprint("report_web", __name__)

PROBLEM_PAGE = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block content %}
<main class="login">
  <h1>{{ title }}</h1>
  <p class="error" role="alert">{{ message }}</p>
  <p><a href="{{ url_for('web.live_map') }}">{{ back }}</a></p>
</main>
{% endblock %}"""


def _problem(status: int, message: str) -> ResponseReturnValue:
    """A readable page for a request we refuse (the report's link is followed by people)."""
    title = gettext("No se puede mostrar el informe") if status == 400 else gettext("Acceso denegado")
    page = render_template_string(PROBLEM_PAGE, title=title, message=message, back=gettext("Volver al mapa"))
    return page, status


def _last_complete_month() -> Month:
    today = datetime.now(UTC).astimezone(LIMA)
    return Month(today.year, today.month).shift(-1)


def _render_off_the_loop(data: ReportData, *, locale: str, labels: dict[str, str]) -> bytes:
    """Render the PDF (about a second of CPU) without pausing the live websockets."""
    return off_event_loop(lambda: data.render(locale=locale, labels=labels))


@report_web.get("/tendencias/reporte.pdf")
def committee_report_pdf() -> ResponseReturnValue:
    """The monthly committee report of a zone (or, for police and admins, the district) as a PDF."""
    user = current_user()
    if user is None:
        return sign_in_first()
    viewer = viewer_of(user)

    month_text = request.args.get("month", "").strip()
    try:
        month = Month.parse(month_text) if month_text else _last_complete_month()
    except TrendsError:
        return _problem(400, gettext("«%(value)s» no es un mes: use AAAA-MM, por ejemplo 2026-03.", value=month_text))

    zone_text = request.args.get("zone_id", "").strip()
    zone_id: int | None
    if zone_text:
        zone_id = parse_id(zone_text)
        if zone_id is None:
            return _problem(400, gettext("«%(value)s» no es un número de zona.", value=zone_text))
    else:
        # Without a zone, a committee member gets their own zone; police and admins the district.
        zone_id = None if viewer.sees_all_zones else viewer.zone_id
    if (zone_id is None and not viewer.sees_all_zones) or (zone_id is not None and not viewer.may_see_zone(zone_id)):
        note_refusal(_db(), user=user, status=403, object_type="zone", object_id=zone_id)
        return _problem(403, gettext("Solo puede ver el informe de su propia zona."))

    try:
        data = report_data(session=_db(), zone_id=zone_id, month=month)
    except TrendsError:
        return _problem(400, gettext("No existe la zona %(zone)s.", zone=zone_id))
    pdf = _render_off_the_loop(data, locale=str(get_locale() or "es"), labels=report_labels(translate=gettext))
    name = f"informe-{'zona-' + str(zone_id) if zone_id is not None else 'distrito'}-{month}.pdf"
    headers: dict[str, Any] = {
        "Content-Disposition": f'inline; filename="{name}"',
        "Cache-Control": "private, no-store",
    }
    return Response(pdf, mimetype="application/pdf", headers=headers)
