"""The operations console: the incident list and each incident's record (/incidentes).

Server-rendered pages on the session cookie; the actions on an incident are small scripts that
call the JSON API with a token embedded in the page, like /mapa. Every incident shown or
exported is built with `incidents.incident_records` and redacted for the viewer, exactly as
the API does; lists and exports never name a reporter, only the record of one incident may.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any, get_args

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, get_locale, gettext
from sqlmodel import Session, col, select

from dashboards.views import _db, current_user, kind_labels, role_labels, severity_labels, sign_in_first, status_labels
from security import audit, exports, incidents
from security.api import opened_view
from security.auth import Viewer, issue_token, viewer_of
from security.errors import DomainError, Forbidden, Hidden, NotFound
from security.kinds import KINDS
from security.models import Patrol, StatusFilter, User, clean_text, parse_id
from security.visibility import redact
from zones.database import LIMA, utcnow
from zones.models import Zone

console = Blueprint("console", __name__, template_folder="templates")

PAGE_SIZE = 50
EXPORT_PAGE = 2000
TEXT_MAX = 100  # a search or a username typed in a box; longer is a mistake, not a query
SORTS = incidents.SORTS
STATUSES = get_args(StatusFilter)
SEVERITIES = (1, 2, 3)


class BadQuery(Exception):
    """A query parameter the page cannot use; `message` is shown to the person, in their language."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# --- labels -------------------------------------------------------------------------------


def sort_labels() -> dict[str, str]:
    return {"newest": gettext("Más recientes primero"), "oldest": gettext("Más antiguos primero"),
            "severity": gettext("Más graves primero")}  # fmt: skip


def list_status_labels() -> dict[str, str]:
    labels = {"open": gettext("Abiertos (sin cerrar)")}
    labels.update({code: label for code, label in status_labels().items() if code in STATUSES})
    return labels


def lima_time(value: str | datetime | None) -> str:
    """A stored UTC time as people read it: Lima time, day/month/year hour:minute."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return str(format_datetime(moment, "dd/MM/yyyy HH:mm"))


def _locale() -> str:
    return str(get_locale() or "es")


# --- reading the query ----------------------------------------------------------------------


def query_text(name: str) -> str:
    return request.args.get(name, "").strip()


def _day(name: str) -> date | None:
    text = query_text(name)
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadQuery(gettext("Escriba las fechas como AAAA-MM-DD (por ejemplo 2026-03-31).")) from None
    if not 1990 <= day.year <= 2100:
        raise BadQuery(gettext("Elija fechas entre 1990 y 2100."))
    return day


def period() -> tuple[datetime | None, datetime | None]:
    """desde/hasta, whole days in Lima time: occurred from the start of `desde` to the end of `hasta`."""
    first, last = _day("desde"), _day("hasta")
    if first and last and first > last:
        raise BadQuery(gettext("La fecha «desde» debe ser anterior o igual a la fecha «hasta»."))
    since = datetime.combine(first, time(), tzinfo=LIMA) if first else None
    until = datetime.combine(last + timedelta(days=1), time(), tzinfo=LIMA) if last else None
    return since, until


def searched_text(name: str) -> str | None:
    text = clean_text(query_text(name)) or None
    if text is not None and len(text) > TEXT_MAX:
        raise BadQuery(gettext("La búsqueda admite hasta %(max)s caracteres.", max=TEXT_MAX))
    return text


def incident_filter(*, viewer: Viewer, zones: dict[int, str]) -> incidents.IncidentFilter:
    """The listing's filter from the page's query (zona, tipo, estado, gravedad, desde, hasta, q, orden)."""
    zone_id = None
    if query_text("zona"):
        zone_id = parse_id(query_text("zona"))
        if zone_id is None or zone_id not in zones:
            raise BadQuery(gettext("Elija una zona de la lista."))
        if not viewer.sees_all_zones and zone_id != viewer.zone_id:
            raise BadQuery(gettext("Solo puede consultar su propia zona."), 403)
    if not viewer.sees_all_zones:
        zone_id = viewer.zone_id  # everyone else works their own zone
    kind = query_text("tipo") or None
    if kind is not None and kind not in KINDS:
        raise BadQuery(gettext("Elija un tipo de incidente de la lista."))
    status = query_text("estado") or None
    if status is not None and status not in STATUSES:
        raise BadQuery(gettext("Elija un estado de la lista."))
    severity = None
    if query_text("gravedad"):
        severity = parse_id(query_text("gravedad"))
        if severity not in SEVERITIES:
            raise BadQuery(gettext("La gravedad es 1 (baja), 2 (media) o 3 (alta)."))
    sort = query_text("orden") or "newest"
    if sort not in SORTS:
        raise BadQuery(gettext("Elija un orden de la lista."))
    q = searched_text("q")
    if q is not None and not sees_descriptions(viewer):
        raise BadQuery(gettext("La búsqueda en las descripciones no está disponible para vecinos."))
    since, until = period()
    return incidents.IncidentFilter(
        zone_id=zone_id, kind=kind, status=status, since=since, until=until, q=q, severity=severity, sort=sort
    )


def sees_descriptions(viewer: Viewer) -> bool:
    return viewer.role != "neighbor"


def page_cursor() -> str | None:
    cursor = query_text("cursor") or None
    if cursor is not None and (len(cursor) > 200 or not cursor.isascii()):
        raise BadQuery(gettext("El enlace de página ya no es válido; vuelva a la primera página."))
    return cursor


def _zone_names(session: Session) -> dict[int, str]:
    return {int(z or 0): name for z, name in session.exec(select(Zone.id, Zone.name).order_by(col(Zone.id))).all()}


def _list_view(record: dict[str, Any], *, viewer: Viewer) -> dict[str, Any]:
    return redact(record, viewer=viewer)  # not `detail`: lists and exports never name anybody


def _page_views(
    *, session: Session, viewer: Viewer, filters: incidents.IncidentFilter, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    try:
        rows, next_cursor = incidents.list_incidents(
            session=session, viewer=viewer, filters=filters, limit=limit, cursor=cursor
        )
    except DomainError as error:
        if error.status == 403:
            raise BadQuery(gettext(error.message, **error.params), 403) from error
        if "cursor" in getattr(error, "fields", ()):
            raise BadQuery(gettext("El enlace de página ya no es válido; vuelva a la primera página.")) from error
        raise BadQuery(gettext(error.message, **error.params)) from error
    records = incidents.incident_records(session=session, incidents=rows)
    return [_list_view(r, viewer=viewer) for r in records], next_cursor


# --- the incident list ----------------------------------------------------------------------


def _page_config(user: User, *, reload_after: bool) -> dict[str, Any]:
    """What console.js needs: the token, the transitions, the words."""
    return {
        "token": issue_token(user=user, secret_key=current_app.config["SECRET_KEY"]),
        "next": {status: list(targets) for status, targets in incidents.NEXT_STATUSES.items()},
        "statuses": status_labels(),
        "kinds": kind_labels(),
        "reloadAfter": reload_after,
        "text": {
            "acknowledged": gettext("Recibir"),
            "dispatched": gettext("Despachar"),
            "resolved": gettext("Resolver"),
            "dismissed": gettext("Descartar"),
            "duplicate": gettext("Marcar como duplicado"),
            "confirm": gettext("Confirmar"),
            "cancel": gettext("Cancelar"),
            "note": gettext("Nota (opcional)"),
            "resolutionNote": gettext("Nota de cierre: qué se encontró, qué se hizo"),
            "patrol": gettext("Ronda a despachar"),
            "noPatrol": gettext("Sin asignar una ronda"),
            "noPosition": gettext("sin posición"),
            "original": gettext("¿Duplicado de cuál?"),
            "originalNumber": gettext("N.º del incidente original"),
            "otherOriginal": gettext("Otro incidente (escriba su número)"),
            "originalInvalid": gettext("Escriba el número del incidente original: un número entero mayor que cero."),
            "originalItself": gettext("Un incidente no puede ser duplicado de sí mismo."),
            "noCandidates": gettext("No hay incidentes parecidos cerca; escriba el número del original."),
            "redispatch": gettext("Reasignar a otra ronda"),
            "redispatchTo": gettext("Ronda a la que reasignar"),
            "noOtherPatrol": gettext("No hay otra ronda activa a la que reasignar."),
            "loading": gettext("Cargando…"),
            "sending": gettext("Enviando…"),
            "done": gettext("Listo: ahora «%(status)s»."),
            "failed": gettext("No se pudo cambiar el estado; intente de nuevo."),
            "expired": gettext("Su sesión caducó; recargue la página."),
            "metres": gettext("%(m)s m"),
            "minutes": gettext("%(min)s min de diferencia"),
        },
    }


def _ended_patrols(session: Session, views: list[dict[str, Any]]) -> set[int]:
    """The patrols that dispatched incidents among these views were sent to and that have ended."""
    sent = {int(v["assigned_patrol_id"]) for v in views if v["status"] == "dispatched" and v.get("assigned_patrol_id")}
    if not sent:
        return set()
    query = select(Patrol.id).where(col(Patrol.id).in_(sent), col(Patrol.ended_at).is_not(None))
    return {int(patrol_id) for patrol_id in session.exec(query).all() if patrol_id is not None}


def _rows(
    views: list[dict[str, Any]], *, viewer: Viewer, zones: dict[int, str], ended: set[int] | None = None
) -> list[dict[str, Any]]:
    """What the table shows of each incident view, in the viewer's language; `ended`: the
    patrols that have ended (a dispatched incident sent to one waits to be sent again)."""
    kinds, severities, statuses = kind_labels(), severity_labels(), status_labels()
    ended = ended or set()
    return [
        {
            "id": view["id"],
            "view": view,
            "when": lima_time(view["occurred_at"]),
            "kind": kinds.get(view["kind"], view["kind"]),
            "severity": severities.get(view["severity"], str(view["severity"])),
            "status": view["status"],
            "status_label": statuses.get(view["status"], view["status"]),
            "zone": zones.get(view["zone_id"], ""),
            "block": view.get("block_name") or "—",
            "description": view.get("description") or "",
            "patrol": view.get("assigned_patrol_name") or "",
            "patrol_ended": view["status"] == "dispatched" and view.get("assigned_patrol_id") in ended,
            "may_act": incidents.may_change_status(viewer=viewer, zone_id=view["zone_id"]),
        }
        for view in views
    ]


def _filter_args() -> dict[str, str]:
    """The query of the current filter, without the cursor (for export links and page links)."""
    names = ("zona", "tipo", "estado", "gravedad", "desde", "hasta", "q", "orden")
    return {name: query_text(name) for name in names if query_text(name)}


def _render_list(
    *,
    user: User,
    viewer: Viewer,
    zones: dict[int, str],
    rows: list[dict[str, Any]],
    next_cursor: str | None,
    error: str | None,
    status: int = 200,
) -> ResponseReturnValue:
    sort = query_text("orden") if query_text("orden") in SORTS else "newest"
    more = {"newest": gettext("Más antiguos →"), "oldest": gettext("Más recientes →")}.get(
        sort, gettext("Siguiente página →")
    )
    return render_template(
        "incidents.html",
        user=user,
        error=error,
        rows=rows,
        next_cursor=next_cursor,
        on_later_page=bool(query_text("cursor")),
        more_label=more,
        args=request.args,
        filter_args=_filter_args(),
        zones=zones,
        own_zone=zones.get(viewer.zone_id or 0, ""),
        may_choose_zone=viewer.sees_all_zones,
        may_search=sees_descriptions(viewer),
        shows_descriptions=sees_descriptions(viewer),
        any_action=any(r["may_act"] for r in rows),
        kinds=kind_labels(),
        statuses=list_status_labels(),
        severities=severity_labels(),
        sorts=sort_labels(),
        roles=role_labels(),
        config=_page_config(user, reload_after=False),
    ), status


@console.get("/incidentes")
def incidents_page() -> ResponseReturnValue:
    """The list of incidents the viewer may see, filtered, sorted and paged, with their actions."""
    user = current_user()
    if user is None:
        return sign_in_first()
    viewer = viewer_of(user)
    session = _db()
    zones = _zone_names(session)
    try:
        filters = incident_filter(viewer=viewer, zones=zones)
        views, next_cursor = _page_views(
            session=session, viewer=viewer, filters=filters, limit=PAGE_SIZE, cursor=page_cursor()
        )
    except BadQuery as bad:
        note_refusal(session, user=user, status=bad.status)
        return _render_list(
            user=user, viewer=viewer, zones=zones, rows=[], next_cursor=None, error=bad.message, status=bad.status
        )
    rows = _rows(views, viewer=viewer, zones=zones, ended=_ended_patrols(session, views))
    return _render_list(user=user, viewer=viewer, zones=zones, rows=rows, next_cursor=next_cursor, error=None)


@console.get("/incidentes.<any(csv, geojson):file_format>")
def incidents_export(file_format: str) -> ResponseReturnValue:
    """Every incident of the current filter as a CSV or GeoJSON file, redacted for the viewer."""
    user = current_user()
    if user is None:
        return sign_in_first()
    viewer = viewer_of(user)
    session = _db()
    zones = _zone_names(session)
    try:
        filters = incident_filter(viewer=viewer, zones=zones)
    except BadQuery as bad:
        note_refusal(session, user=user, status=bad.status)
        return _render_list(
            user=user, viewer=viewer, zones=zones, rows=[], next_cursor=None, error=bad.message, status=bad.status
        )

    def views() -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page, cursor = _page_views(
                session=session, viewer=viewer, filters=filters, limit=EXPORT_PAGE, cursor=cursor
            )
            yield from page
            if cursor is None:
                return

    stamp = utcnow().astimezone(LIMA).strftime("%Y%m%d-%H%M")
    if file_format == "csv":
        body = exports.csv_lines(views(), zone_names=zones, locale=_locale())
        mimetype = "text/csv"
    else:
        body = exports.geojson_chunks(views(), zone_names=zones)
        mimetype = "application/geo+json"
    return Response(
        stream_with_context(body),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="incidentes-{stamp}.{file_format}"'},
    )


# --- one incident ---------------------------------------------------------------------------


def _history(session: Session, *, viewer: Viewer, view: dict[str, Any]) -> list[dict[str, Any]]:
    """The incident's status changes as the viewer may read them, oldest first, starting with the report."""
    items = incidents.incident_history(session=session, viewer=viewer, incident_id=view["id"])
    statuses, roles = status_labels(), role_labels()
    history = [
        {
            "when": lima_time(view["reported_at"]),
            "change": statuses["reported"],
            "by": "",
            "note": None,
            "patrol": "",
        }
    ]
    for item in items:
        history.append(
            {
                "when": lima_time(item["at"]),
                "change": f"{statuses.get(item['from_status'], item['from_status'])} → "
                f"{statuses.get(item['to_status'], item['to_status'])}",
                "by": roles.get(item.get("by_role") or "", item.get("by_role") or ""),
                "note": item["note"],  # none for neighbours (the service's rule)
                "patrol": item["assigned_patrol_name"] or "",
            }
        )
    return history


def _render_incident(*, user: User, error: str | None = None, status: int = 200, **context: Any) -> ResponseReturnValue:
    return render_template(
        "incident.html",
        user=user,
        error=error,
        config=_page_config(user, reload_after=True),
        **context,
    ), status


@console.get("/incidentes/<incident_id>")
def incident_page(incident_id: str) -> ResponseReturnValue:
    """One incident's full record as the viewer may see it, its history and its actions."""
    user = current_user()
    if user is None:
        return sign_in_first()
    viewer = viewer_of(user)
    session = _db()
    number = parse_id(incident_id)
    if number is None:
        return _render_incident(user=user, error=gettext("No existe el incidente %(id)s.", id=incident_id), status=404)
    try:
        incident = incidents.get_incident(session=session, viewer=viewer, incident_id=number)
    except NotFound as missing:
        if isinstance(missing, Hidden):  # another zone's: the same page as a missing one, but recorded
            note_refusal(session, user=user, status=403, object_type="incident", object_id=number)
        return _render_incident(user=user, error=gettext(missing.message, **missing.params), status=404)
    except Forbidden as refused:
        note_refusal(session, user=user, status=403, object_type="incident", object_id=number)
        return _render_incident(user=user, error=gettext(refused.message, **refused.params), status=403)
    record = incidents.incident_records(session=session, incidents=[incident])[0]
    # The one view that may name the reporter; naming them goes on the record, as in the API.
    view = opened_view(session=session, record=record, actor=user, object_type="incident")
    zones = _zone_names(session)
    row = _rows([view], viewer=viewer, zones=zones, ended=_ended_patrols(session, [view]))[0]
    return _render_incident(
        user=user,
        row=row,
        view=view,
        history=_history(session, viewer=viewer, view=view),
        shows_descriptions=sees_descriptions(viewer),
        names_anonymity=viewer.role in ("police", "admin"),
        roles=role_labels(),
        lima_time=lima_time,
    )


# --- common ---------------------------------------------------------------------------------


def note_refusal(
    session: Session, *, user: User, status: int, object_type: str | None = None, object_id: int | None = None
) -> None:
    """A refused page (403) is written to the audit record, like a refused API call."""
    if status != 403:
        return
    audit.record_apart(
        engine=session.get_bind(),  # type: ignore[arg-type]
        action="access.denied",
        actor=user,
        object_type=object_type,
        object_id=object_id,
        outcome="denied",
        detail={"path": request.path[:200], "query": request.query_string.decode(errors="replace")[:300]},
    )


@console.after_request
def _no_store(response: Response) -> Response:
    # The pages carry an API token and what the viewer may see; the files what the viewer may see.
    response.headers["Cache-Control"] = "no-store"
    return response
