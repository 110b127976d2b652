"""People, passwords and bearer tokens; the `Viewer` every permission check is asked about."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from security import audit
from security.errors import Forbidden
from security.models import OPERATOR_ROLES, ROLES, ZONE_BOUND_ROLES, AlarmDevice, User, parse_id
from zones.models import Zone

_TOKEN_SALT = "ronda-api-token"
# Checked when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("ronda-not-a-password")
T = TypeVar("T")


class AuthError(Exception):
    """Authentication failed; `reason` is one of missing, invalid, expired, credentials."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UserError(ValueError):
    """A user that cannot be created as asked."""


@dataclass(frozen=True)
class Viewer:
    """Who is asking: enough to decide what they may see and do."""

    user_id: int | None
    role: str
    zone_id: int | None

    @property
    def sees_all_zones(self) -> bool:
        return self.role in OPERATOR_ROLES

    @property
    def is_operator(self) -> bool:
        """Police, serenazgo or an admin: works incidents and alarms in every zone."""
        return self.role in OPERATOR_ROLES

    def may_see_zone(self, zone_id: int) -> bool:
        return self.sees_all_zones or self.zone_id == zone_id

    def zone_scope(self, zone_id: int | None) -> int | None:
        """The zone a listing asked for `zone_id` is limited to (None: every zone).

        Police and admins get what they asked for; everyone else their own zone, and
        Forbidden when they ask for another.
        """
        if self.sees_all_zones:
            return zone_id
        if zone_id is not None and zone_id != self.zone_id:
            raise Forbidden("Solo puede consultar su propia zona.")
        return self.zone_id


def off_event_loop(function: Callable[..., T], *args: Any) -> T:
    """Call `function(*args)`, in gevent's thread pool when serving with gevent.

    Heavy C work (a scrypt check, ~0.1 s; drawing a PDF, ~1 s) releases the GIL; run inline
    under gevent it would pause every live websocket of the process for that long.
    """
    try:
        from gevent import get_hub, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return function(*args)
    if monkey.is_module_patched("socket"):
        result: T = get_hub().threadpool.apply(function, args)
        return result
    return function(*args)


def _check_password(password_hash: str, password: str) -> bool:
    return bool(off_event_loop(check_password_hash, password_hash, password))


def viewer_of(user: User) -> Viewer:
    """The viewer a user acts as."""
    return Viewer(user_id=user.id, role=user.role, zone_id=user.zone_id)


def create_user(
    *,
    session: Session,
    username: str,
    password: str,
    role: str,
    zone_id: int | None = None,
    display_name: str = "",
    actor: User | None = None,
) -> User:
    """Create a user; volunteers, coordinators and neighbours must belong to an existing zone.

    `actor` None is the set-up command (an operator at the server)."""
    username = username.strip()
    if not username:
        raise UserError("the username is empty")
    if role not in ROLES:
        raise UserError(f"unknown role '{role}' (roles: {', '.join(ROLES)})")
    if role in ZONE_BOUND_ROLES and zone_id is None:
        raise UserError(f"a {role} belongs to a zone: give --zone")
    if zone_id is not None and session.get(Zone, zone_id) is None:
        raise UserError(f"there is no zone {zone_id}")
    if len(password) < 8:
        raise UserError("the password must have at least 8 characters")
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise UserError(f"the username '{username}' is taken")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=generate_password_hash(password),
        role=role,
        zone_id=zone_id,
    )
    session.add(user)
    session.flush()
    audit.record(
        session=session,
        action="user.created",
        actor=actor,
        object_type="user",
        object_id=user.id,
        detail={"username": user.username, "role": role, "zone_id": zone_id},
    )
    return user


def authenticate(*, session: Session, username: str, password: str) -> User:
    """The active user with these credentials, or AuthError('credentials')."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        _check_password(_DUMMY_HASH, password)
        raise AuthError("credentials")
    if not _check_password(user.password_hash, password):
        raise AuthError("credentials")
    return user


def issue_token(*, user: User, secret_key: str) -> str:
    """A signed bearer token naming the user (its lifetime is checked when it is read)."""
    return str(URLSafeTimedSerializer(secret_key, salt=_TOKEN_SALT).dumps({"uid": user.id}))


def user_from_token(*, session: Session, token: str, secret_key: str, max_age: int) -> User:
    """The active user a token was issued to; AuthError('expired' | 'invalid') otherwise."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_TOKEN_SALT)
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise AuthError("expired") from exc
    except BadSignature as exc:
        raise AuthError("invalid") from exc
    user = session.get(User, payload.get("uid")) if isinstance(payload, dict) else None
    if user is None or not user.active:
        raise AuthError("invalid")
    return user


def issue_device_key(*, session: Session, device: AlarmDevice) -> str:
    """Give a device a new key (the old one stops working); the key is shown once."""
    secret = secrets.token_urlsafe(24)
    device.key_hash = _key_digest(secret)
    session.add(device)
    audit.record(session=session, action="device.key_issued", object_type="device", object_id=device.id)
    return f"{device.id}.{secret}"


def _key_digest(secret: str) -> str:
    # Device keys are 192 random bits, so a fast hash is enough (no slow password hashing).
    return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


def device_from_key(*, session: Session, key: str) -> AlarmDevice:
    """The active device a key belongs to; AuthError('invalid') otherwise."""
    device_id, _, secret = key.partition(".")
    number = parse_id(device_id)
    device = session.get(AlarmDevice, number) if number is not None else None
    if (
        device is None
        or not device.active
        or not device.key_hash
        or not hmac.compare_digest(device.key_hash, _key_digest(secret))
    ):
        raise AuthError("invalid")
    return device
