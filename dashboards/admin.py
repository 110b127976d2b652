"""Administration pages: the audit record (/auditoria), for administrators only. The rest of
/admin (accounts, committees, alarm devices) lives in the admin_*.py modules beside this one.

Server-rendered on the session cookie like the console; a refused page is itself written to the
record (`access.denied`).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from dashboards.console import (
    BadQuery,
    lima_time,
    note_refusal,
    page_cursor,
    period,
    query_text,
    searched_text,
)
from dashboards.views import _db, current_user, role_labels, sign_in_first
from security import audit
from security.api import record_audit_read
from security.errors import DomainError
from security.models import AuditEntry, User
from zones.database import LIMA, utcnow

admin = Blueprint("admin", __name__, template_folder="templates")

AUDIT_PAGE_SIZE = 50
OBJECT_TYPES = ("incident", "alarm", "patrol", "committee", "user", "device", "zone")
USER_AGENT_SHOWN = 60


def outcome_labels() -> dict[str, str]:
    return {"ok": gettext("Correcto"), "denied": gettext("Denegado"), "failed": gettext("Fallido")}


def object_labels() -> dict[str, str]:
    return {
        "incident": gettext("Incidente"),
        "alarm": gettext("Alarma"),
        "patrol": gettext("Ronda"),
        "committee": gettext("Comité"),
        "user": gettext("Cuenta de usuario"),
        "device": gettext("Dispositivo"),
        "zone": gettext("Zona"),
    }


def action_labels() -> dict[str, str]:
    """A Spanish label for each code of the audit record."""
    return {
        "incident.reported": gettext("Reportó un incidente"),
        "incident.status_changed": gettext("Cambió el estado de un incidente"),
        "incident.reporter_viewed": gettext("Vio quién reportó un incidente"),
        "alarm.presser_viewed": gettext("Vio quién activó una alarma"),
        "alarm.raised": gettext("Activó una alarma"),
        "alarm.acknowledged": gettext("Atendió una alarma"),
        "alarm.resolved": gettext("Cerró una alarma"),
        "patrol.started": gettext("Inició una ronda"),
        "patrol.ended": gettext("Terminó una ronda"),
        "committee.created": gettext("Creó un comité"),
        "committee.member_added": gettext("Agregó un integrante a un comité"),
        "committee.member_removed": gettext("Retiró a un integrante de un comité"),
        "user.created": gettext("Creó un usuario"),
        "user.updated": gettext("Modificó un usuario"),
        "user.deactivated": gettext("Desactivó una cuenta"),
        "user.activated": gettext("Reactivó una cuenta"),
        "user.password_reset": gettext("Restableció una contraseña (código de un solo uso)"),
        "user.password_changed": gettext("Cambió una contraseña"),
        "user.sessions_ended": gettext("Cerró todas las sesiones de una cuenta"),
        "device.key_issued": gettext("Emitió la clave de un dispositivo"),
        "device.registered": gettext("Registró un dispositivo de alarma"),
        "device.retired": gettext("Retiró un dispositivo de alarma"),
        "auth.sign_in": gettext("Inicio de sesión"),
        "auth.sign_out": gettext("Cierre de sesión"),
        "auth.throttled": gettext("Inicio de sesión bloqueado por demasiados intentos"),
        "access.denied": gettext("Acceso denegado"),
        "tracker.registered": gettext("Vinculó un rastreador GPS"),
        "audit.read": gettext("Consultó el registro de auditoría"),
    }


# --- the audit record -----------------------------------------------------------------------


def audit_filter() -> audit.AuditFilter:
    """The record's filter from the page's query (usuario, objeto, id, accion, desde, hasta)."""
    username = searched_text("usuario")
    object_type = query_text("objeto") or None
    if object_type is not None and object_type not in OBJECT_TYPES:
        raise BadQuery(gettext("Elija un tipo de objeto de la lista."))
    object_id = searched_text("id")
    action = query_text("accion") or None
    if action is not None and action not in audit.ACTIONS:
        raise BadQuery(gettext("Elija una acción de la lista."))
    since, until = period()
    return audit.AuditFilter(
        user=username, object_type=object_type, object_id=object_id, action=action, since=since, until=until
    )


def _audit_rows(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    """What the table shows of each entry, labelled in the viewer's language."""
    roles, actions, objects, outcomes = role_labels(), action_labels(), object_labels(), outcome_labels()
    rows = []
    for entry in entries:
        view = audit.entry_view(entry)
        agent = view["user_agent"] or ""
        rows.append(
            {
                "id": view["id"],
                "when": lima_time(entry.at),
                "username": view["actor_username"] or "—",
                "role": roles.get(view["actor_role"] or "", view["actor_role"] or ""),
                "action": actions.get(view["action"], view["action"]),
                "action_code": view["action"],
                "object": objects.get(view["object_type"] or "", view["object_type"] or ""),
                "object_id": view["object_id"] or "",
                "object_type": view["object_type"] or "",
                "outcome": outcomes.get(view["outcome"], view["outcome"]),
                "outcome_code": view["outcome"],
                "ip": view["ip"] or "—",
                "agent": agent if len(agent) <= USER_AGENT_SHOWN else agent[: USER_AGENT_SHOWN - 1] + "…",
                "agent_full": agent,
                "detail": _detail_text(view["detail"]),
            }
        )
    return rows


def _detail_text(detail: dict[str, Any] | None) -> str:
    """An entry's detail as one line, `key: value · ...`, leaving out what is empty."""
    if not detail:
        return ""
    parts = []
    for key, value in detail.items():
        if value is None or value == "":
            continue
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {shown}")
    return " · ".join(parts)


def _audit_args() -> dict[str, str]:
    names = ("usuario", "objeto", "id", "accion", "desde", "hasta")
    return {name: query_text(name) for name in names if query_text(name)}


def _admin_only() -> ResponseReturnValue | User:
    user = current_user()
    if user is None:
        return sign_in_first()
    if user.role != "admin":
        note_refusal(_db(), user=user, status=403, object_type=None, object_id=None)
        message = gettext("Solo la administración puede ver el registro de auditoría.")
        return render_template("audit.html", user=user, forbidden=True, error=message), 403
    return user


def _render_audit(
    *, user: User, rows: list[dict[str, Any]], next_cursor: str | None, error: str | None, status: int = 200
) -> ResponseReturnValue:
    labels = action_labels()
    return render_template(
        "audit.html",
        user=user,
        forbidden=False,
        error=error,
        rows=rows,
        next_cursor=next_cursor,
        on_later_page=bool(query_text("cursor")),
        args=request.args,
        filter_args=_audit_args(),
        actions={code: labels.get(code, code) for code in audit.ACTIONS},
        objects=object_labels(),
    ), status


@admin.get("/auditoria")
def audit_page() -> ResponseReturnValue:
    """The append-only audit record, newest first, filtered and paged (administrators only)."""
    user = _admin_only()
    if not isinstance(user, User):
        return user
    try:
        filters = audit_filter()
        entries, next_cursor = audit.list_entries(
            session=_db(), filters=filters, limit=AUDIT_PAGE_SIZE, cursor=page_cursor()
        )
    except BadQuery as bad:
        return _render_audit(user=user, rows=[], next_cursor=None, error=bad.message, status=bad.status)
    except DomainError:
        message = gettext("El enlace de página ya no es válido; vuelva a la primera página.")
        return _render_audit(user=user, rows=[], next_cursor=None, error=message, status=400)
    rows = _audit_rows(entries)  # read before this reading's own line is written
    record_audit_read(session=_db(), actor=user, filters=filters, file_format="html")
    return _render_audit(user=user, rows=rows, next_cursor=next_cursor, error=None)


@admin.get("/auditoria.csv")
def audit_export() -> ResponseReturnValue:
    """Every entry of the current filter as a CSV file (administrators only)."""
    user = _admin_only()
    if not isinstance(user, User):
        return user
    try:
        filters = audit_filter()
    except BadQuery as bad:
        return _render_audit(user=user, rows=[], next_cursor=None, error=bad.message, status=bad.status)
    session = _db()
    record_audit_read(session=session, actor=user, filters=filters, file_format="csv")
    stamp = utcnow().astimezone(LIMA).strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(audit.csv_lines(audit.all_entries(session=session, filters=filters))),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="auditoria-{stamp}.csv"'},
    )


@admin.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
