"""Local citizen-security committees: several per zone, their members volunteers and coordinators.

Admins create committees anywhere, a coordinator in their own zone. Membership is managed by
admins and by the coordinators who belong to the committee.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from security import audit
from security.auth import Viewer, viewer_of
from security.errors import N_, Conflict, Forbidden, Hidden, NotFound, ValidationProblem
from security.models import Committee, CommitteeCreate, CommitteeMember, Patrol, User
from security.visibility import person
from zones.models import Zone

MEMBER_ROLES = ("volunteer", "coordinator")


def create_committee(*, session: Session, actor: User | None, data: CommitteeCreate) -> Committee:
    """A new committee of a zone; a coordinator who creates one becomes its first member.

    `actor` None is the set-up command (an operator at the server).
    """
    if session.get(Zone, data.zone_id) is None:
        raise ValidationProblem("zone_id", "No existe la zona %(id)s.", id=data.zone_id)
    if actor is not None and not (
        actor.role == "admin" or (actor.role == "coordinator" and actor.zone_id == data.zone_id)
    ):
        raise Forbidden("Solo un administrador o un coordinador de la zona puede crear comités.")
    committee = Committee(name=data.name, zone_id=data.zone_id)
    try:
        with session.begin_nested():
            session.add(committee)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("Ya existe un comité con ese nombre en la zona.") from exc
    if actor is not None and actor.role == "coordinator":
        session.add(CommitteeMember(committee_id=committee.id, user_id=actor.id))  # type: ignore[arg-type]
        session.flush()
    audit.record(
        session=session,
        action="committee.created",
        actor=actor,
        object_type="committee",
        object_id=committee.id,
        detail={"name": committee.name, "zone_id": committee.zone_id},
    )
    return committee


def get_committee(*, session: Session, viewer: Viewer, committee_id: int) -> Committee:
    """The committee, if it exists and lies in a zone the viewer may see."""
    committee = session.get(Committee, committee_id)
    if committee is None:
        raise NotFound("No existe el comité %(id)s.", id=committee_id)
    if not viewer.may_see_zone(committee.zone_id):
        raise Hidden("No existe el comité %(id)s.", id=committee_id)
    return committee


def list_committees(*, session: Session, viewer: Viewer, zone_id: int | None) -> list[Committee]:
    """Active committees the viewer may see (zone-bound roles: their own zone), by zone and name."""
    zone_id = viewer.zone_scope(zone_id)
    query = select(Committee).where(col(Committee.active).is_(True))
    if zone_id is not None:
        query = query.where(Committee.zone_id == zone_id)
    return list(session.exec(query.order_by(col(Committee.zone_id), col(Committee.name))).all())


def member_ids(*, session: Session, committee_id: int) -> set[int]:
    """The user ids of a committee's members."""
    query = select(CommitteeMember.user_id).where(CommitteeMember.committee_id == committee_id)
    return set(session.exec(query).all())


def is_member(*, session: Session, committee_id: int, user_id: int | None) -> bool:
    """Whether the user belongs to the committee."""
    if user_id is None:
        return False
    return session.get(CommitteeMember, (committee_id, user_id)) is not None


def may_manage(*, session: Session, actor: User, committee: Committee) -> bool:
    """Admins, and the coordinators who belong to the committee."""
    if actor.role == "admin":
        return True
    return actor.role == "coordinator" and is_member(session=session, committee_id=committee.id, user_id=actor.id)  # type: ignore[arg-type]


NO_SUCH_MEMBER = N_("No hay un voluntario o coordinador activo de la zona del comité con ese usuario.")


def member_candidate(
    *, session: Session, actor: User | None, committee: Committee, user_id: int | None, username: str | None
) -> User:
    """The person named to join a committee, for someone who may change its members.

    Whoever may not change them is refused before anything is looked up, and a name or id that is
    no account, or an account of another zone or role, all get the same answer: nobody learns
    from it whether a username or user id exists.
    """
    if actor is not None and not may_manage(session=session, actor=actor, committee=committee):
        raise Forbidden("Solo un coordinador del comité o un administrador puede cambiar sus miembros.")
    if (user_id is None) == (username is None):
        raise ValidationProblem(("user_id", "username"), "Indique user_id o username.")
    field = "user_id" if user_id is not None else "username"
    if user_id is not None:
        user = session.get(User, user_id)
    else:
        user = session.exec(select(User).where(User.username == username)).first()
    if user is None or user.role not in MEMBER_ROLES or not user.active or user.zone_id != committee.zone_id:
        raise ValidationProblem(field, NO_SUCH_MEMBER)
    return user


def add_member(*, session: Session, actor: User | None, committee: Committee, user: User) -> bool:
    """Add a volunteer or coordinator of the committee's zone; False when already a member."""
    if actor is not None and not may_manage(session=session, actor=actor, committee=committee):
        raise Forbidden("Solo un coordinador del comité o un administrador puede cambiar sus miembros.")
    if user.role not in MEMBER_ROLES or not user.active:
        raise ValidationProblem("user_id", "Solo voluntarios y coordinadores activos pueden ser miembros.")
    if user.zone_id != committee.zone_id:
        raise ValidationProblem("user_id", "La persona pertenece a otra zona.")
    if is_member(session=session, committee_id=committee.id, user_id=user.id):  # type: ignore[arg-type]
        return False
    session.add(CommitteeMember(committee_id=committee.id, user_id=user.id))  # type: ignore[arg-type]
    session.flush()
    audit.record(
        session=session,
        action="committee.member_added",
        actor=actor,
        object_type="committee",
        object_id=committee.id,
        detail={"user_id": user.id, "username": user.username},
    )
    return True


def remove_member(*, session: Session, actor: User, committee: Committee, user_id: int) -> bool:
    """Take a member out of the committee; False when they were not a member."""
    if not may_manage(session=session, actor=actor, committee=committee):
        raise Forbidden("Solo un coordinador del comité o un administrador puede cambiar sus miembros.")
    membership = session.get(CommitteeMember, (committee.id, user_id))
    if membership is None:
        return False
    session.delete(membership)
    session.flush()
    audit.record(
        session=session,
        action="committee.member_removed",
        actor=actor,
        object_type="committee",
        object_id=committee.id,
        detail={"user_id": user_id},
    )
    return True


def committee_views(*, session: Session, viewer: Viewer, committees: list[Committee]) -> list[dict[str, Any]]:
    """Committees as the viewer may see them: members named for police, admins and the zone's
    volunteers and coordinators; neighbours see how many members there are, not who."""
    ids = [c.id for c in committees]
    rows = (
        session.exec(
            select(CommitteeMember.committee_id, User)
            .join(User, col(User.id) == col(CommitteeMember.user_id))
            .where(col(CommitteeMember.committee_id).in_(ids))
            .order_by(col(User.display_name))
        ).all()
        if ids
        else []
    )
    members: dict[int, list[User]] = {}
    for committee_id, user in rows:
        members.setdefault(committee_id, []).append(user)
    names_visible = viewer.role != "neighbor"
    return [
        {
            "id": c.id,
            "name": c.name,
            "zone_id": c.zone_id,
            "member_count": len(members.get(c.id, [])),  # type: ignore[arg-type]
            "members": [{**person(u), "role": u.role} for u in members.get(c.id, [])]  # type: ignore[arg-type, dict-item]
            if names_visible
            else None,
        }
        for c in committees
    ]


def committee_view(*, session: Session, actor: User, committee: Committee) -> dict[str, Any]:
    """One committee as `actor` may see it."""
    return committee_views(session=session, viewer=viewer_of(actor), committees=[committee])[0]


def drop_unused_committees(*, session: Session, keep_zone_names: set[str]) -> int:
    """Before a boundary import: delete the committees of zones about to disappear that nobody
    uses (no members, no patrols), such as the demo's. Returns how many were deleted.

    Committees with members or patrols stay, and the import that would orphan them is refused.
    """
    doomed = session.exec(
        select(Committee)
        .join(Zone, col(Zone.id) == col(Committee.zone_id))
        .where(col(Zone.name).not_in(keep_zone_names))
    ).all()
    dropped = 0
    for committee in doomed:
        used = session.exec(select(CommitteeMember.user_id).where(CommitteeMember.committee_id == committee.id)).first()
        used = used or session.exec(select(Patrol.id).where(Patrol.committee_id == committee.id)).first()
        if used is None:
            session.delete(committee)
            dropped += 1
    session.flush()
    return dropped
