"""Accounts: ending sessions, deactivation, role and zone changes, passwords and their resets.

Every session a person has (the API tokens of their phone and of the pages they opened, their
web session) carries the `session_version` of their account at the time it was issued. Moving
that number on ends them all at once, on every server process, with no list of sessions to
keep: sign-out, deactivation, a new password, a password reset, a new role or zone and
"cerrar todas las sesiones" each do it. Live sockets follow within a second or two
(security.push checks them against the database).

A password reset gives a one-time code, shown once to the administrator who asked for it; it
replaces the password and only lets its holder choose a new one (`must_change_password`).

Services raise DomainErrors (fields named in Spanish-source messages) and never import Flask;
`actor` None is an operator at the server (the `flask users ...` commands).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select
from werkzeug.security import generate_password_hash

from security import audit
from security.auth import check_new_password, checked_display_name, create_user, give_one_time_code, zone_of_role
from security.committees import MEMBER_ROLES
from security.errors import Conflict, Forbidden, NotFound
from security.models import Committee, CommitteeMember, Tracker, User
from zones.database import utcnow

# Where the ids of the accounts whose sessions a transaction ends wait for its commit, in the
# session's `info`: security.push closes their live sockets once it has committed.
ENDED_SESSIONS = "ronda_ended_sessions"



@dataclass(frozen=True)
class UserFilter:
    """What the administration's list of users is narrowed to (all optional)."""

    text: str | None = None  # in the username or the display name
    role: str | None = None
    zone_id: int | None = None
    active: bool | None = None


def _touch(user: User) -> None:
    user.updated_at = utcnow()


def end_sessions(*, session: Session, user: User) -> None:
    """End every session of the user (tokens, web sessions, live sockets) from now on.

    The version moves on in the UPDATE itself, so two endings at the same moment are two; the
    live sockets close once the transaction commits (security.push listens for it)."""
    user.session_version = User.session_version + 1  # type: ignore[assignment]
    _touch(user)
    session.add(user)
    session.flush()
    session.info.setdefault(ENDED_SESSIONS, set()).add(user.id)


def end_all_sessions(*, session: Session, user: User, actor: User | None) -> None:
    """"Cerrar todas las sesiones": by the person (a lost phone) or by an administrator. Their GPS
    trackers stop counting too (a lost phone's Traccar app would go on feeding a patrol)."""
    if actor is not None and actor.id != user.id and actor.role != "admin":
        raise Forbidden("Solo la administración puede cerrar las sesiones de otra persona.")
    end_sessions(session=session, user=user)
    _retire_trackers(session=session, user=user)
    audit.record(session=session, action="user.sessions_ended", actor=actor, object_type="user", object_id=user.id)


def sign_out(*, session: Session, user: User) -> None:
    """Sign out: the web session ends, and with it every token of the person (the map page's too)."""
    end_sessions(session=session, user=user)
    audit.record(session=session, action="auth.sign_out", actor=user, object_type="user", object_id=user.id)


def _require_admin(actor: User | None) -> None:
    if actor is not None and actor.role != "admin":
        raise Forbidden("Solo la administración puede cambiar cuentas de usuario.")


def _other_active_admins(*, session: Session, user: User) -> int:
    query = select(func.count()).select_from(User).where(
        User.role == "admin", col(User.active).is_(True), User.id != user.id
    )
    return int(session.exec(query).one())


def get_user(*, session: Session, user_id: int) -> User:
    """The account, or NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No existe esa cuenta.")
    return user


def deactivate(*, session: Session, actor: User | None, user: User) -> bool:
    """Stop an account: it cannot sign in and every session it has ends now (False: it already was)."""
    _require_admin(actor)
    if not user.active:
        return False
    if user.role == "admin" and _other_active_admins(session=session, user=user) == 0:
        raise Conflict("No se puede desactivar al último administrador activo.")
    user.active = False
    end_sessions(session=session, user=user)
    _retire_trackers(session=session, user=user)
    audit.record(session=session, action="user.deactivated", actor=actor, object_type="user", object_id=user.id,
                 detail={"username": user.username})  # fmt: skip
    return True


def _retire_trackers(*, session: Session, user: User) -> None:
    """The account's GPS trackers stop being taken (their device ids are the OsmAnd protocol's
    only secret); a new one is registered from the app or by a coordinator."""
    for tracker in session.exec(select(Tracker).where(Tracker.user_id == user.id, col(Tracker.active).is_(True))):
        tracker.active = False
        session.add(tracker)


def create_account(
    *,
    session: Session,
    actor: User | None,
    username: str,
    role: str,
    zone_id: int | None,
    display_name: str = "",
    password: str | None = None,
) -> tuple[User, str | None]:
    """A new account, and the one-time code to give its owner when no password was set (shown once)."""
    _require_admin(actor)
    user = create_user(session=session, username=username, password=password, role=role, zone_id=zone_id,
                       display_name=display_name, actor=actor)  # fmt: skip
    code = give_one_time_code(user) if password is None else None
    session.add(user)
    return user, code


def activate(*, session: Session, actor: User | None, user: User) -> bool:
    """Let a deactivated account sign in again (False: it was active)."""
    _require_admin(actor)
    if user.active:
        return False
    user.active = True
    _touch(user)
    session.add(user)
    audit.record(session=session, action="user.activated", actor=actor, object_type="user", object_id=user.id,
                 detail={"username": user.username})  # fmt: skip
    return True


def change_role(
    *, session: Session, actor: User | None, user: User, role: str, zone_id: int | None, display_name: str | None = None
) -> bool:
    """Give an account another role or zone (or name); its sessions end, since what it may see changed.

    Committee memberships that no longer fit (another zone, a role that does not patrol) are
    removed. False when nothing changed.
    """
    _require_admin(actor)
    zone_id = zone_of_role(session=session, role=role, zone_id=zone_id)
    last_admin = user.role == "admin" and user.active and _other_active_admins(session=session, user=user) == 0
    if last_admin and role != "admin":
        raise Conflict("No se puede quitar el rol al último administrador activo.")
    name = checked_display_name(display_name) if display_name is not None else user.display_name
    before: dict[str, Any] = {"role": user.role, "zone_id": user.zone_id, "display_name": user.display_name}
    after: dict[str, Any] = {"role": role, "zone_id": zone_id, "display_name": name or user.username}
    if before == after:
        return False
    access_changed = (before["role"], before["zone_id"]) != (role, zone_id)
    user.role, user.zone_id, user.display_name = role, zone_id, after["display_name"]
    if access_changed:
        end_sessions(session=session, user=user)
        _drop_memberships_that_no_longer_fit(session=session, actor=actor, user=user)
    else:
        _touch(user)
        session.add(user)
    changed = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}
    audit.record(session=session, action="user.updated", actor=actor, object_type="user", object_id=user.id,
                 detail={"username": user.username, **changed})  # fmt: skip
    return True


def _drop_memberships_that_no_longer_fit(*, session: Session, actor: User | None, user: User) -> None:
    query = (
        select(CommitteeMember, Committee)
        .join(Committee, col(Committee.id) == col(CommitteeMember.committee_id))
        .where(CommitteeMember.user_id == user.id)
    )
    for membership, committee in session.exec(query).all():
        if user.role in MEMBER_ROLES and committee.zone_id == user.zone_id:
            continue
        session.delete(membership)
        audit.record(session=session, action="committee.member_removed", actor=actor, object_type="committee",
                     object_id=committee.id, detail={"user_id": user.id, "reason": "role_or_zone_changed"})  # fmt: skip
    session.flush()


def reset_password(*, session: Session, actor: User | None, user: User) -> str:
    """Replace the password by a one-time code (returned, to be shown once); its sessions end and
    the code only lets its holder choose a new password."""
    _require_admin(actor)
    code = give_one_time_code(user)
    end_sessions(session=session, user=user)
    audit.record(session=session, action="user.password_reset", actor=actor, object_type="user", object_id=user.id,
                 detail={"username": user.username})  # fmt: skip
    return code


def set_password(*, session: Session, user: User, new_password: str, actor: User | None = None) -> None:
    """A new password chosen by its owner (after checking the current one) or set at the server.

    Every other session ends: whoever knew the old password is out."""
    check_new_password(new_password, username=user.username, field="new_password")
    user.password_hash = generate_password_hash(new_password)
    user.must_change_password = False
    user.reset_expires_at = None
    end_sessions(session=session, user=user)
    audit.record(session=session, action="user.password_changed", actor=actor or user, object_type="user",
                 object_id=user.id)  # fmt: skip


def list_users(
    *, session: Session, filters: UserFilter, limit: int = 50, offset: int = 0
) -> tuple[list[User], int]:
    """A page of accounts, by username, and how many match in all (administrators only: the caller checks)."""
    query = select(User)
    if filters.text:
        pattern = f"%{filters.text.lower()}%"
        query = query.where(
            func.lower(col(User.username)).like(pattern) | func.lower(col(User.display_name)).like(pattern)
        )
    if filters.role:
        query = query.where(User.role == filters.role)
    if filters.zone_id is not None:
        query = query.where(User.zone_id == filters.zone_id)
    if filters.active is not None:
        query = query.where(col(User.active).is_(filters.active))
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    rows = session.exec(query.order_by(col(User.username)).offset(offset).limit(limit)).all()
    return list(rows), total
