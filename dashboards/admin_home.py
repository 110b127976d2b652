"""The administration's front page (/admin) and who may use which of its sections.

Admins use every section; coordinators only the committees of their own zone. For a coordinator
anything else answers like a missing page (404, the same page whatever was asked), so probing
reveals nothing; every other role gets a 403 page. Every refusal is written to the audit record.
The sections' forms share what is here: the CSRF check, the refusal pages, field messages.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlmodel import Session, col, select
from werkzeug.exceptions import HTTPException

from dashboards.console import note_refusal
from dashboards.views import _check_csrf, _db, current_user, sign_in_first
from security.errors import DomainError, ValidationProblem
from security.models import User
from zones.models import Zone

admin_home = Blueprint("admin_home", __name__, template_folder="templates")

# The sections of /admin, in the order they are shown.
SECTIONS = ("users", "committees", "devices", "audit")


def sections_for(user: User) -> tuple[str, ...]:
    """The sections of the administration this person may use."""
    if user.role == "admin":
        return SECTIONS
    if user.role == "coordinator":
        return ("committees",)
    return ()


def section_labels() -> dict[str, str]:
    return {
        "users": gettext("Usuarios"),
        "committees": gettext("Comités"),
        "devices": gettext("Dispositivos de alarma"),
        "audit": gettext("Registro de auditoría"),
    }


def section_urls() -> dict[str, str]:
    return {
        "users": url_for("admin_users.users_page"),
        "committees": url_for("admin_committees.committees_page"),
        "devices": url_for("admin_devices.devices_page"),
        "audit": url_for("admin.audit_page"),
    }


# --- who may use a section ------------------------------------------------------------------


def refused(user: User, *, object_type: str | None = None, object_id: int | None = None) -> ResponseReturnValue:
    """The answer to somebody who may not use what they asked for, written to the audit record:
    the missing page for admins and coordinators (it reveals nothing), a 403 page for the others."""
    session = _db()
    session.rollback()  # nothing of a refused request is kept
    note_refusal(session, user=user, status=403, object_type=object_type, object_id=object_id)
    if user.role in ("admin", "coordinator"):
        return missing(user)
    message = gettext("La administración es solo para administradores y coordinadores de comité.")
    return render_template("admin_refused.html", user=user, title=gettext("Acceso denegado"), message=message), 403


def missing(user: User) -> ResponseReturnValue:
    """The page of something that does not exist (or that the viewer may not know of): always the same."""
    return render_template(
        "admin_refused.html", user=user, title=gettext("No encontrado"), message=gettext("No existe esa página.")
    ), 404


def signed_in_for(section: str, *, form: bool = False) -> ResponseReturnValue | User:
    """The signed-in person when they may use `section` (after the CSRF check of a form);
    otherwise the answer to give them."""
    if form:
        _check_csrf()
    user = current_user()
    if user is None:
        if form:  # a form's address answers only POST: come back to the section afterwards
            return redirect(url_for("web.login", next=url_for("admin_home.home")))
        return sign_in_first()
    if section not in sections_for(user):
        return refused(user)
    return user


# --- forms ------------------------------------------------------------------------------


class FormProblem(Exception):
    """A form field the page cannot use; `message` is already in the viewer's language."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


def form_text(name: str) -> str:
    """A form field as typed (without surrounding spaces)."""
    return request.form.get(name, "").strip()


def form_zone(session: Session, name: str = "zone_id", *, required: bool = False) -> int | None:
    """A zone chosen in a form's list (None when left empty and not required)."""
    text = form_text(name)
    if not text:
        if required:
            raise FormProblem(name, gettext("Elija una zona de la lista."))
        return None
    zone_id = int(text) if text.isdigit() and len(text) < 10 else None
    if zone_id is None or session.get(Zone, zone_id) is None:
        raise FormProblem(name, gettext("Elija una zona de la lista."))
    return zone_id


def field_errors(error: DomainError | FormProblem) -> dict[str, str]:
    """The message of an error next to each field it names (under "_" when it names none)."""
    if isinstance(error, FormProblem):
        return {error.field: error.message}
    message = gettext(error.message, **error.params)
    if isinstance(error, ValidationProblem):
        return dict.fromkeys(error.fields, message)
    return {"_": message}


def zone_names(session: Session) -> dict[int, str]:
    """Every zone's name by id, in id order."""
    rows = session.exec(select(Zone.id, Zone.name).order_by(col(Zone.id))).all()
    return {int(zone_id or 0): name for zone_id, name in rows}


def page_number(name: str = "pagina") -> int:
    """The page asked for in the query (1 when absent or not a sensible number)."""
    text = request.args.get(name, "")
    return int(text) if text.isdigit() and 0 < len(text) < 6 and int(text) > 0 else 1


def expired_form(error: HTTPException) -> ResponseReturnValue:
    """A form sent without this session's token (or a malformed one): a readable 400 page."""
    user = current_user()
    message = error.description or gettext("Solicitud mal formada.")
    return render_template("admin_refused.html", user=user, title=gettext("No se pudo enviar"), message=message), 400


def error_page(error: HTTPException) -> ResponseReturnValue:
    """Any page's HTTP error, in the viewer's language on Ronda's own page: a missing address looks
    exactly like the administration's missing page (so its addresses cannot be told apart)."""
    user = current_user()
    if error.code == 404:
        if user is not None:
            return missing(user)
        return render_template(
            "admin_refused.html", user=None, title=gettext("No encontrado"), message=gettext("No existe esa página.")
        ), 404
    if error.code == 400:
        return expired_form(error)
    titles = {405: gettext("Método no permitido."), 413: gettext("La solicitud es demasiado grande.")}
    title = titles.get(error.code or 500, gettext("Solicitud mal formada."))
    return render_template("admin_refused.html", user=user, title=title, message=title), error.code or 500


@admin_home.record_once
def _pages_answer_errors(state: Any) -> None:
    # security.api answers the API's errors as JSON and hands every page's to this one.
    state.app.extensions["ronda_error_page"] = error_page


def no_store(response: Response) -> Response:
    """Administration pages show accounts, codes and keys: never cached, never shared."""
    response.headers["Cache-Control"] = "no-store"
    return response


def setup_section(blueprint: Blueprint) -> None:
    """What every administration blueprint shares: no caching, a readable page for a bad form."""
    blueprint.after_request(no_store)
    blueprint.register_error_handler(400, expired_form)


setup_section(admin_home)


# --- the front page ---------------------------------------------------------------------------


def section_descriptions() -> dict[str, str]:
    return {
        "users": gettext("Buscar, crear y desactivar cuentas; cambiar su rol o zona; restablecer contraseñas."),
        "committees": gettext("Crear comités y agregar o retirar a sus integrantes."),
        "devices": gettext("Registrar alarmas vecinales, darles una clave nueva y retirarlas."),
        "audit": gettext("Quién hizo o intentó qué, cuándo y desde dónde."),
    }


def common_context(user: User, current: str) -> dict[str, Any]:
    """What every administration page shows in its header: the sections this person may use."""
    labels, urls = section_labels(), section_urls()
    return {
        "user": user,
        "admin_sections": [(code, labels[code], urls[code]) for code in sections_for(user)],
        "admin_current": current,
    }


@admin_home.get("/admin")
def home() -> ResponseReturnValue:
    """The administration's front page: the sections the viewer may use."""
    user = current_user()
    if user is None:
        return sign_in_first()
    if not sections_for(user):
        return refused(user)
    descriptions = section_descriptions()
    return render_template(
        "admin.html",
        **common_context(user, "home"),
        descriptions=descriptions,
        own_zone=zone_names(_db()).get(user.zone_id or 0, ""),
    )
