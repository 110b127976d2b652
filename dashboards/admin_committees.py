"""Administration of committees and their members (/admin/comites).

Admins see and manage every zone's committees; a coordinator only their own zone's (another
zone's committee answers exactly like a missing one). Who may create a committee or change its
members is decided by security.committees, which also writes the audit record.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from pydantic import ValidationError
from sqlmodel import col, select

from dashboards.admin_home import (
    FormProblem,
    common_context,
    field_errors,
    form_text,
    form_zone,
    missing,
    refused,
    setup_section,
    signed_in_for,
    zone_names,
)
from dashboards.console import BadQuery, note_refusal, query_text
from dashboards.views import _db, role_labels
from security.auth import viewer_of
from security.committees import (
    MEMBER_ROLES,
    add_member,
    committee_view,
    committee_views,
    create_committee,
    get_committee,
    list_committees,
    may_manage,
    member_candidate,
    member_ids,
    remove_member,
)
from security.errors import REFUSALS, DomainError, Forbidden, Hidden, NotFound
from security.models import EMPTY_NAME, Committee, CommitteeCreate, User, clean_text, parse_id

admin_committees = Blueprint("admin_committees", __name__, template_folder="templates")
setup_section(admin_committees)

NAME_MAX = 120


def done_messages() -> dict[str, str]:
    """What a committee's page says after an action (?hecho=...)."""
    return {
        "creado": gettext("Comité creado."),
        "agregado": gettext("Integrante agregado."),
        "ya-integrante": gettext("Esa persona ya integraba el comité."),
        "retirado": gettext("Integrante retirado del comité."),
        "no-integrante": gettext("Esa persona ya no integraba el comité."),
    }


# --- the list -------------------------------------------------------------------------------


class _OtherZone(Exception):
    """A coordinator asked for another zone's committees."""


def _asked_zone(user: User, zones: dict[int, str]) -> int | None:
    """The zone of the list: any (or all) for admins, a coordinator's own zone."""
    text = query_text("zona")
    if user.role != "admin":
        if text and parse_id(text) != user.zone_id:
            raise _OtherZone
        return user.zone_id
    if not text:
        return None
    zone_id = parse_id(text)
    if zone_id is None or zone_id not in zones:
        raise BadQuery(gettext("Elija una zona de la lista."))
    return zone_id


def _render_list(
    *, user: User, errors: dict[str, str] | None = None, form: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    """The committees by zone, with the form of a new one; `errors` of that form next to its fields."""
    session = _db()
    zones = zone_names(session)
    list_error = None
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    try:
        zone_id = _asked_zone(user, zones)
    except _OtherZone:
        return refused(user, object_type="zone", object_id=parse_id(query_text("zona")))
    except BadQuery as bad:
        list_error, status, zone_id = bad.message, max(status, bad.status), None
    if list_error is None:
        viewer = viewer_of(user)
        committees = list_committees(session=session, viewer=viewer, zone_id=zone_id)
        for view in committee_views(session=session, viewer=viewer, committees=committees):
            name = zones.get(view["zone_id"], "")
            if not groups or groups[-1][0] != name:
                groups.append((name, []))
            groups[-1][1].append(view)
    return render_template(
        "admin_committees.html",
        **common_context(user, "committees"),
        groups=groups,
        list_error=list_error,
        zones=zones,
        zone_id=zone_id,
        own_zone=zones.get(user.zone_id or 0, ""),
        may_choose_zone=user.role == "admin",
        errors=errors or {},
        form=form or {},
    ), status


@admin_committees.get("/admin/comites")
def committees_page() -> ResponseReturnValue:
    """The committees the viewer administers, by zone, with the form of a new one."""
    user = signed_in_for("committees")
    if not isinstance(user, User):
        return user
    return _render_list(user=user)


def _committee_data(name: str, zone_id: int | None) -> CommitteeCreate:
    """The new committee as the service takes it, its name's problems named in the viewer's language."""
    if zone_id is None:
        raise FormProblem("zone_id", gettext("Elija una zona de la lista."))
    try:
        return CommitteeCreate(name=name, zone_id=zone_id)
    except ValidationError:
        if not clean_text(name):
            raise FormProblem("name", gettext(EMPTY_NAME)) from None
        raise FormProblem(
            "name", gettext("El nombre tiene hasta %(max)s caracteres, sin caracteres de control.", max=NAME_MAX)
        ) from None


@admin_committees.post("/admin/comites")
def create_committee_form() -> ResponseReturnValue:
    """A new committee: of any zone for admins, of their own zone for a coordinator (who becomes its first member)."""
    user = signed_in_for("committees", form=True)
    if not isinstance(user, User):
        return user
    session = _db()
    form = {"name": form_text("name"), "zone_id": form_text("zone_id")}
    try:
        zone_id = form_zone(session, required=True) if user.role == "admin" else user.zone_id
        committee = create_committee(session=session, actor=user, data=_committee_data(form["name"], zone_id))
    except (DomainError, FormProblem) as error:
        session.rollback()
        return _render_list(user=user, errors=field_errors(error), form=form, status=error.status)
    session.commit()
    return redirect(url_for("admin_committees.committee_page", committee_id=committee.id, hecho="creado"))


# --- one committee --------------------------------------------------------------------------


def _committee(user: User, committee_id: str) -> Committee | ResponseReturnValue:
    """The committee, when it exists and lies in a zone the viewer administers; otherwise the
    same missing page either way (a refusal also goes on the record)."""
    number = parse_id(committee_id)
    if number is None:
        return missing(user)
    try:
        return get_committee(session=_db(), viewer=viewer_of(user), committee_id=number)
    except (Forbidden, Hidden):
        return refused(user, object_type="committee", object_id=number)
    except NotFound:
        return missing(user)


def _eligible(committee: Committee) -> list[User]:
    """The zone's active volunteers and coordinators who are not members yet (the add form's suggestions)."""
    members = member_ids(session=_db(), committee_id=int(committee.id))  # type: ignore[arg-type]
    query = (
        select(User)
        .where(
            User.zone_id == committee.zone_id,
            col(User.role).in_(MEMBER_ROLES),
            col(User.active).is_(True),
        )
        .order_by(col(User.username))
    )
    return [person for person in _db().exec(query).all() if person.id not in members]


def _render_committee(
    *,
    user: User,
    committee: Committee,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    session = _db()
    manages = may_manage(session=session, actor=user, committee=committee)
    return render_template(
        "admin_committee.html",
        **common_context(user, "committees"),
        committee=committee,
        view=committee_view(session=session, actor=user, committee=committee),
        zone=zone_names(session).get(committee.zone_id, ""),
        manages=manages,
        eligible=_eligible(committee) if manages else [],
        roles=role_labels(),
        errors=errors or {},
        form=form or {},
        done=done_messages().get(request.args.get("hecho", "")),
    ), status


@admin_committees.get("/admin/comites/<committee_id>")
def committee_page(committee_id: str) -> ResponseReturnValue:
    """One committee: its members, and adding or removing them for those who manage it."""
    user = signed_in_for("committees")
    if not isinstance(user, User):
        return user
    committee = _committee(user, committee_id)
    if not isinstance(committee, Committee):
        return committee
    return _render_committee(user=user, committee=committee)


def _member_named(user: User, committee: Committee, username: str) -> User:
    """The person named in the add form (the service answers alike for nobody and for another zone's account)."""
    if not username:
        raise FormProblem("username", gettext("Escriba el usuario de la persona."))
    return member_candidate(session=_db(), actor=user, committee=committee, user_id=None, username=username)


def _refused_change(user: User, committee: Committee, error: DomainError) -> None:
    if isinstance(error, REFUSALS):  # the same refusals the API records (security.errors)
        note_refusal(_db(), user=user, status=403, object_type="committee", object_id=committee.id)


@admin_committees.post("/admin/comites/<committee_id>/integrantes")
def add_member_form(committee_id: str) -> ResponseReturnValue:
    """Add a volunteer or coordinator of the zone to the committee, by username."""
    user = signed_in_for("committees", form=True)
    if not isinstance(user, User):
        return user
    committee = _committee(user, committee_id)
    if not isinstance(committee, Committee):
        return committee
    session = _db()
    form = {"username": form_text("username")}
    try:
        added = add_member(
            session=session, actor=user, committee=committee, user=_member_named(user, committee, form["username"])
        )
    except (DomainError, FormProblem) as error:
        session.rollback()
        if isinstance(error, DomainError):
            _refused_change(user, committee, error)
        errors = field_errors(error)
        if "user_id" in errors:  # the service names the person by id; the form by username
            errors["username"] = errors.pop("user_id")
        return _render_committee(user=user, committee=committee, errors=errors, form=form, status=error.status)
    session.commit()
    done = "agregado" if added else "ya-integrante"
    return redirect(url_for("admin_committees.committee_page", committee_id=committee.id, hecho=done))


@admin_committees.post("/admin/comites/<committee_id>/integrantes/<user_id>/retirar")
def remove_member_form(committee_id: str, user_id: str) -> ResponseReturnValue:
    """Take a member out of the committee."""
    user = signed_in_for("committees", form=True)
    if not isinstance(user, User):
        return user
    committee = _committee(user, committee_id)
    if not isinstance(committee, Committee):
        return committee
    member_id = parse_id(user_id)
    if member_id is None:
        return missing(user)
    session = _db()
    try:
        removed = remove_member(session=session, actor=user, committee=committee, user_id=member_id)
    except DomainError as error:
        session.rollback()
        _refused_change(user, committee, error)
        return _render_committee(user=user, committee=committee, errors=field_errors(error), status=error.status)
    session.commit()
    done = "retirado" if removed else "no-integrante"
    return redirect(url_for("admin_committees.committee_page", committee_id=committee.id, hecho=done))
