"""Administration of accounts (/admin/usuarios), for administrators only.

The list (search by name, filters by role, zone and state, pages), a new account, and each
account's page: role, zone and name, deactivation and reactivation, a password reset whose
one-time code is shown once, "cerrar todas sus sesiones". The rules live in security.accounts
and security.auth; every change is on the audit record through them. A change that ends a
person's sessions closes their live sockets right after the commit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlmodel import col, select

from dashboards.admin_home import (
    FormProblem,
    common_context,
    field_errors,
    form_text,
    form_zone,
    missing,
    page_number,
    setup_section,
    signed_in_for,
    zone_names,
)
from dashboards.console import BadQuery, lima_time, query_text, searched_text
from dashboards.views import _db, role_labels
from security import accounts
from security.errors import DomainError, NotFound
from security.models import ROLES, ZONE_BOUND_ROLES, Committee, CommitteeMember, User, parse_id

admin_users = Blueprint("admin_users", __name__, template_folder="templates")
setup_section(admin_users)

T = TypeVar("T")
PAGE_SIZE = 50
STATES = ("activos", "inactivos")


def state_labels() -> dict[str, str]:
    return {"activos": gettext("Activas"), "inactivos": gettext("Desactivadas")}


def done_messages() -> dict[str, str]:
    """What the account's page says after an action (?hecho=...)."""
    return {
        "creada": gettext("La cuenta se creó con la contraseña que usted escribió."),
        "datos": gettext("Cambios guardados. Si cambió el rol o la zona, sus sesiones se cerraron."),
        "sin-cambios": gettext("No había nada que cambiar."),
        "desactivada": gettext("Cuenta desactivada: ya no puede entrar y sus sesiones se cerraron."),
        "ya-inactiva": gettext("La cuenta ya estaba desactivada."),
        "reactivada": gettext("Cuenta reactivada: puede volver a entrar con su contraseña."),
        "ya-activa": gettext("La cuenta ya estaba activa."),
        "sesiones": gettext("Se cerraron todas sus sesiones: deberá entrar de nuevo en cada teléfono y computadora."),
    }


# --- the list ---------------------------------------------------------------------------


def _list_filter(zones: dict[int, str]) -> accounts.UserFilter:
    """The list's filter from the query (buscar, rol, zona, estado)."""
    text = searched_text("buscar")
    role = query_text("rol") or None
    if role is not None and role not in ROLES:
        raise BadQuery(gettext("Elija un rol de la lista."))
    zone_id = None
    if query_text("zona"):
        zone_id = parse_id(query_text("zona"))
        if zone_id is None or zone_id not in zones:
            raise BadQuery(gettext("Elija una zona de la lista."))
    state = query_text("estado") or None
    if state is not None and state not in STATES:
        raise BadQuery(gettext("Elija un estado de la lista."))
    active = None if state is None else state == "activos"
    return accounts.UserFilter(text=text, role=role, zone_id=zone_id, active=active)


def _filter_args() -> dict[str, str]:
    names = ("buscar", "rol", "zona", "estado")
    return {name: query_text(name) for name in names if query_text(name)}


def _user_row(person: User, *, zones: dict[int, str], roles: dict[str, str]) -> dict[str, Any]:
    return {
        "id": person.id,
        "username": person.username,
        "name": person.display_name or person.username,
        "role": roles.get(person.role, person.role),
        "zone": zones.get(person.zone_id or 0, "—") if person.zone_id else "—",
        "active": person.active,
        "must_change": person.must_change_password,
    }


def _render_list(
    *,
    user: User,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The list of accounts with the new-account form; `errors` of that form, next to its fields."""
    session = _db()
    zones = zone_names(session)
    roles = role_labels()
    page = page_number()
    list_error = None
    rows: list[dict[str, Any]] = []
    total = 0
    try:
        filters = _list_filter(zones)
    except BadQuery as bad:
        list_error, status = bad.message, max(status, bad.status)
    else:
        people, total = accounts.list_users(
            session=session, filters=filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        rows = [_user_row(p, zones=zones, roles=roles) for p in people]
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return render_template(
        "admin_users.html",
        **common_context(user, "users"),
        rows=rows,
        total=total,
        page=page,
        page_count=pages,
        list_error=list_error,
        args=request.args,
        filter_args=_filter_args(),
        roles=roles,
        zones=zones,
        states=state_labels(),
        zone_roles=sorted(ZONE_BOUND_ROLES),
        errors=errors or {},
        form=form or {"role": "volunteer"},
    ), status


@admin_users.get("/admin/usuarios")
def users_page() -> ResponseReturnValue:
    """Every account, searched and filtered, a page at a time, with the form of a new one."""
    user = signed_in_for("users")
    if not isinstance(user, User):
        return user
    return _render_list(user=user)


@admin_users.post("/admin/usuarios")
def create_account() -> ResponseReturnValue:
    """A new account; with no password typed, a one-time code shown once (a new password at first sign-in)."""
    user = signed_in_for("users", form=True)
    if not isinstance(user, User):
        return user
    session = _db()
    fields = ("username", "display_name", "role", "zone_id")
    form = {name: form_text(name) for name in fields}
    password = request.form.get("password", "")
    try:
        role = form["role"]
        if role not in ROLES:
            raise FormProblem("role", gettext("Elija un rol de la lista."))
        zone_id = form_zone(session) if role in ZONE_BOUND_ROLES else None
        person, code = accounts.create_account(
            session=session,
            actor=user,
            username=form["username"],
            role=role,
            zone_id=zone_id,
            display_name=form["display_name"],
            password=password or None,
        )
    except (DomainError, FormProblem) as error:
        session.rollback()
        return _render_list(user=user, errors=field_errors(error), form=form, status=error.status)
    session.commit()
    if code is None:
        return redirect(url_for("admin_users.user_page", user_id=person.id, hecho="creada"))
    return _render_code(user=user, person=person, code=code, new_account=True)


# --- one account ---------------------------------------------------------------------------


def _target(user_id: str) -> User | None:
    number = parse_id(user_id)
    if number is None:
        return None
    try:
        return accounts.get_user(session=_db(), user_id=number)
    except NotFound:
        return None


def _memberships(person: User) -> list[Committee]:
    query = (
        select(Committee)
        .join(CommitteeMember, col(CommitteeMember.committee_id) == col(Committee.id))
        .where(CommitteeMember.user_id == person.id)
        .order_by(col(Committee.name))
    )
    return list(_db().exec(query).all())


def _render_user(
    *,
    user: User,
    person: User,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """An account's page; `errors` of its forms next to their fields."""
    session = _db()
    zones = zone_names(session)
    roles = role_labels()
    current = {"display_name": person.display_name, "role": person.role, "zone_id": str(person.zone_id or "")}
    return render_template(
        "admin_user.html",
        **common_context(user, "users"),
        person=person,
        row=_user_row(person, zones=zones, roles=roles),
        created=lima_time(person.created_at),
        updated=lima_time(person.updated_at) if person.updated_at else None,
        committees=_memberships(person),
        zones=zones,
        roles=roles,
        zone_roles=sorted(ZONE_BOUND_ROLES),
        errors=errors or {},
        form=form or current,
        done=done_messages().get(request.args.get("hecho", "")),
        is_self=person.id == user.id,
    ), status


def _render_code(*, user: User, person: User, code: str, new_account: bool = False) -> ResponseReturnValue:
    """The one-time code of a reset, shown on this answer and never again."""
    return render_template(
        "admin_code.html",
        **common_context(user, "users"),
        kind="password",
        person=person,
        code=code,
        new_account=new_account,
        back=url_for("admin_users.user_page", user_id=person.id),
    )


@admin_users.get("/admin/usuarios/<user_id>")
def user_page(user_id: str) -> ResponseReturnValue:
    """One account: who they are, their committees and what an administrator may do with it."""
    user = signed_in_for("users")
    if not isinstance(user, User):
        return user
    person = _target(user_id)
    if person is None:
        return missing(user)
    return _render_user(user=user, person=person)


@admin_users.post("/admin/usuarios/<user_id>/datos")
def change_account(user_id: str) -> ResponseReturnValue:
    """A new role, zone or name (a new role or zone ends the person's sessions)."""
    user = signed_in_for("users", form=True)
    if not isinstance(user, User):
        return user
    person = _target(user_id)
    if person is None:
        return missing(user)
    session = _db()
    form = {name: form_text(name) for name in ("display_name", "role", "zone_id")}
    try:
        if form["role"] not in ROLES:
            raise FormProblem("role", gettext("Elija un rol de la lista."))
        zone_id = form_zone(session) if form["role"] in ZONE_BOUND_ROLES else None
        changed = accounts.change_role(
            session=session,
            actor=user,
            user=person,
            role=form["role"],
            zone_id=zone_id,
            display_name=form["display_name"] or None,
        )
    except (DomainError, FormProblem) as error:
        session.rollback()
        return _render_user(user=user, person=person, errors=field_errors(error), form=form, status=error.status)
    session.commit()
    return redirect(url_for("admin_users.user_page", user_id=person.id, hecho="datos" if changed else "sin-cambios"))


@admin_users.post("/admin/usuarios/<user_id>/desactivar")
def deactivate_account(user_id: str) -> ResponseReturnValue:
    """Stop an account: it cannot sign in and its sessions end now."""
    return _switch(user_id, activate=False)


@admin_users.post("/admin/usuarios/<user_id>/reactivar")
def activate_account(user_id: str) -> ResponseReturnValue:
    """Let a deactivated account sign in again."""
    return _switch(user_id, activate=True)


def _act_on_account(
    user_id: str, act: Callable[[User, User], T], answer: Callable[[User, User, T], ResponseReturnValue]
) -> ResponseReturnValue:
    """One administrator's action on one account (from its page's forms): `act(admin, person)` is
    committed and `answer(admin, person, result)` shown; a refusal re-shows the page with why."""
    user = signed_in_for("users", form=True)
    if not isinstance(user, User):
        return user
    person = _target(user_id)
    if person is None:
        return missing(user)
    session = _db()
    try:
        result = act(user, person)
    except DomainError as error:
        session.rollback()
        return _render_user(user=user, person=person, errors=field_errors(error), status=error.status)
    session.commit()
    return answer(user, person, result)


def _back_to(done: str) -> Callable[[User, User, Any], ResponseReturnValue]:
    """Back to the account's page, saying what was done (?hecho=...)."""
    return lambda _user, person, _result: redirect(url_for("admin_users.user_page", user_id=person.id, hecho=done))


def _switch(user_id: str, *, activate: bool) -> ResponseReturnValue:
    service = accounts.activate if activate else accounts.deactivate
    words = ("reactivada", "ya-activa") if activate else ("desactivada", "ya-inactiva")
    return _act_on_account(
        user_id,
        lambda user, person: service(session=_db(), actor=user, user=person),
        lambda user, person, changed: _back_to(words[0] if changed else words[1])(user, person, changed),
    )


@admin_users.post("/admin/usuarios/<user_id>/clave")
def reset_account_password(user_id: str) -> ResponseReturnValue:
    """Replace the password by a one-time code, shown once on the answer; the person then chooses a new one."""
    return _act_on_account(
        user_id,
        lambda user, person: accounts.reset_password(session=_db(), actor=user, user=person),
        lambda user, person, code: _render_code(user=user, person=person, code=code),
    )


@admin_users.post("/admin/usuarios/<user_id>/sesiones")
def end_account_sessions(user_id: str) -> ResponseReturnValue:
    """«Cerrar todas sus sesiones»: every phone and browser of the account signs in again."""
    return _act_on_account(
        user_id,
        lambda user, person: accounts.end_all_sessions(session=_db(), user=person, actor=user),
        _back_to("sesiones"),
    )
