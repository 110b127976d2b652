"""People, passwords and bearer tokens; the `Viewer` every permission check is asked about."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from security import audit
from security.errors import Forbidden, ValidationProblem
from security.models import OPERATOR_ROLES, ROLES, ZONE_BOUND_ROLES, AlarmDevice, User, has_control, parse_id
from zones.database import utcnow
from zones.models import Zone

_TOKEN_SALT = "ronda-api-token"
# Checked when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("ronda-not-a-password")
T = TypeVar("T")


class AuthError(Exception):
    """Authentication failed; `reason` is one of missing, invalid, expired, credentials, code_expired,
    deactivated (the right password of a deactivated account).

    `account` is the (id, username) a sign-in was tried on, when the name is an account (for the record).
    """

    def __init__(self, reason: str, *, account: tuple[int, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.account = account


class UserError(ValidationProblem):
    """A user that cannot be created as asked (names the field, in Spanish)."""


PASSWORD_MIN = 8
PASSWORD_MAX = 200
# The passwords people pick first, in Lima too: refused whatever their length.
COMMON_PASSWORDS = frozenset(
    {
        "12345678", "123456789", "1234567890", "87654321", "11111111", "00000000", "password",
        "password1", "contraseña", "contrasena", "qwertyui", "qwerty123", "iloveyou", "abcd1234",
        "12341234", "asdfghjk", "peru1234", "lima1234", "ronda123", "ronda1234", "seguridad",
        "serenazgo", "policia1", "comisaria", "vecino123", "bienvenido", "teamo123",
        "lluvia-ventana-cerro-7",  # the example the refusal gives
    }
)  # fmt: skip


# Words anyone would try first against Ronda's people, beside zxcvbn's own lists.
GUESSABLE = ("ronda", "lima", "peru", "perú", "villa", "maria", "maría", "triunfo", "serenazgo", "policia",
             "comisaria", "vecino", "vecina", "seguridad", "clave", "contraseña", "contrasena")  # fmt: skip


def check_new_password(password: str, *, username: str, field: str = "password") -> None:
    """Refuse a new password that is too short or long, has control characters, holds the username,
    or is easy to guess: zxcvbn (Dropbox's estimator, with its lists of the commonest passwords,
    names and words, and Ronda's own) must put it beyond 10^8 guesses (its score 3 of 4)."""
    if len(password) < PASSWORD_MIN:
        raise UserError(field, "La contraseña debe tener al menos %(min)s caracteres.", min=PASSWORD_MIN)
    if len(password) > PASSWORD_MAX:
        raise UserError(field, "La contraseña es demasiado larga (máximo %(max)s caracteres).", max=PASSWORD_MAX)
    if has_control(password):
        raise UserError(field, "La contraseña contiene caracteres de control, que no se admiten.")
    lowered = password.lower()
    if len(username) >= 3 and username.lower() in lowered:
        raise UserError(field, "La contraseña no puede contener su nombre de usuario.")
    # The estimator's time grows with the length; past 64 characters a password is long enough.
    weak = lowered in COMMON_PASSWORDS or zxcvbn(password[:64], user_inputs=[username, *GUESSABLE])["score"] < 3
    if weak:
        raise UserError(
            field,
            "Esa contraseña es demasiado fácil de adivinar. Pruebe con tres o cuatro palabras unidas por "
            "guiones, como «lluvia-ventana-cerro-7», pero con palabras suyas.",
        )


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


DISPLAY_NAME_MAX = 120
# How long the one-time code of a password reset (or of a new account) may be used.
RESET_CODE_VALID = timedelta(hours=72)
# Codes are read aloud or over the phone: no 0/O, 1/l/I.
_CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def new_reset_code() -> str:
    """A one-time code of 12 letters and digits in groups of four, easy to read aloud (~60 bits)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def checked_display_name(display_name: str) -> str:
    """A display name as stored (trimmed), refused when too long or carrying control characters."""
    display_name = display_name.strip()
    if has_control(display_name) or len(display_name) > DISPLAY_NAME_MAX:
        raise UserError("display_name", "El nombre tiene hasta 120 caracteres, sin caracteres de control.")
    return display_name


def zone_of_role(*, session: Session, role: str, zone_id: int | None) -> int | None:
    """The zone an account of `role` belongs to: volunteers, coordinators and neighbours need an
    existing one; police, serenazgo and admins work every zone (None)."""
    if role not in ROLES:
        raise UserError("role", "Rol desconocido: %(role)s (roles: %(roles)s).", role=role, roles=", ".join(ROLES))
    if role not in ZONE_BOUND_ROLES:
        return None
    if zone_id is None:
        raise UserError("zone_id", "Este rol pertenece a una zona: indique la zona.")
    if session.get(Zone, zone_id) is None:
        raise UserError("zone_id", "No existe la zona %(id)s.", id=zone_id)
    return zone_id


def give_one_time_code(user: User) -> str:
    """Replace the account's password by a one-time code (returned, to be shown once) that only
    lets its holder choose a new password, within RESET_CODE_VALID."""
    code = new_reset_code()
    user.password_hash = generate_password_hash(code)
    user.must_change_password = True
    user.reset_expires_at = utcnow() + RESET_CODE_VALID
    return code


def create_user(
    *,
    session: Session,
    username: str,
    password: str | None,
    role: str,
    zone_id: int | None = None,
    display_name: str = "",
    actor: User | None = None,
) -> User:
    """Create a user; volunteers, coordinators and neighbours must belong to an existing zone.

    With `password` None the account has no password that works until one is given
    (accounts.create_account gives it a one-time code).
    `actor` None is the set-up command (an operator at the server)."""
    username = username.strip()
    if not username:
        raise UserError("username", "El nombre de usuario está vacío.")
    if len(username) > 80 or any(c.isspace() for c in username) or has_control(username):
        raise UserError(
            "username", "El nombre de usuario tiene hasta 80 caracteres, sin espacios ni caracteres de control."
        )
    display_name = checked_display_name(display_name)
    zone_id = zone_of_role(session=session, role=role, zone_id=zone_id)
    if password is not None:
        check_new_password(password, username=username)
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise UserError("username", "Ese nombre de usuario ya está en uso.")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=generate_password_hash(password) if password is not None else "",
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
    """The active user with these credentials; AuthError('credentials') otherwise, and
    AuthError('code_expired') for the right one-time code of a reset past its time.

    The session gives its connection back before the password is checked (~0.1 s of scrypt): a
    burst of sign-ins must not hold every connection of the pool while it hashes."""
    user = session.exec(select(User).where(User.username == username)).first()
    account = (int(user.id), user.username) if user is not None else None  # type: ignore[arg-type]
    active = user is not None and user.active
    password_hash = user.password_hash if user is not None else _DUMMY_HASH
    code_expires = user.reset_expires_at if user is not None and active and user.must_change_password else None
    session.rollback()  # the user is read again, in a new transaction, when next used
    if not _check_password(password_hash, password) or user is None:
        raise AuthError("credentials", account=account)
    if not active:  # told only to whoever knows the password
        raise AuthError("deactivated", account=account)
    if code_expires is not None and code_expires <= utcnow():
        raise AuthError("code_expired", account=account)
    return user


def issue_token(*, user: User, secret_key: str) -> str:
    """A signed bearer token naming the user and the session version it belongs to (its lifetime
    is checked when it is read; a newer session version ends it at once)."""
    payload = {"uid": user.id, "sv": user.session_version or 0}
    return str(URLSafeTimedSerializer(secret_key, salt=_TOKEN_SALT).dumps(payload))


@dataclass(frozen=True)
class TokenHolder:
    """Whom a valid token belongs to, and until when it is valid."""

    user: User
    expires_at: datetime


def read_token(*, session: Session, token: str, secret_key: str, max_age: int) -> TokenHolder:
    """The active user a token was issued to, in the session they still have, and the token's end;
    AuthError('expired' | 'invalid') otherwise (a token of an ended session is 'invalid')."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_TOKEN_SALT)
    try:
        payload, issued = serializer.loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired as exc:
        raise AuthError("expired") from exc
    except BadSignature as exc:
        raise AuthError("invalid") from exc
    if not isinstance(payload, dict) or parse_id(str(payload.get("uid"))) is None:
        raise AuthError("invalid")
    user = session.get(User, payload["uid"])
    if (
        user is None
        or not user.active
        or user.must_change_password
        or payload.get("sv") != (user.session_version or 0)
    ):
        raise AuthError("invalid")
    return TokenHolder(user=user, expires_at=issued + timedelta(seconds=max_age))


def user_from_token(*, session: Session, token: str, secret_key: str, max_age: int) -> User:
    """The active user a token was issued to; AuthError('expired' | 'invalid') otherwise."""
    return read_token(session=session, token=token, secret_key=secret_key, max_age=max_age).user


def issue_device_key(*, session: Session, device: AlarmDevice, actor: User | None = None) -> str:
    """Give a device a new key (the old one stops working); the key is shown once.

    `actor` None is the set-up command (an operator at the server)."""
    secret = secrets.token_urlsafe(24)
    device.key_hash = _key_digest(secret)
    session.add(device)
    audit.record(session=session, action="device.key_issued", actor=actor, object_type="device", object_id=device.id)
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
