"""Signing in, for the API and the sign-in page alike: throttled, recorded, and the known-device cookie.

Every attempt is first asked of the throttle (security.throttle); a refused one answers 429
without checking the password. Successes and failures go on the audit record with the address
(`auth.sign_in`), and the failure that fills a count adds `auth.throttled`. A successful sign-in
leaves a signed "known device" cookie naming the account, so that this browser or phone is not
locked out of it by somebody else's guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from typing import Any

from flask import current_app, request
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session
from werkzeug.wrappers import Response

from security import audit
from security.auth import AuthError, authenticate
from security.context import ronda
from security.headers import served_over_https
from security.models import User, clean_text
from security.throttle import Refusal

DEVICE_COOKIE = "ronda_device"
_DEVICE_SALT = "ronda-known-device"
DEVICE_COOKIE_DAYS = 180
log = logging.getLogger(__name__)


class Throttled(Exception):
    """Too many failed sign-ins: the attempt was not even checked."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.scope)
        self.refusal = refusal


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_DEVICE_SALT)


def known_device(username: str) -> str | None:
    """This browser's known-device id for `username`, when it signed in to that account before."""
    cookie = request.cookies.get(DEVICE_COOKIE)
    if not cookie:
        return None
    try:
        payload = _serializer().loads(cookie, max_age=DEVICE_COOKIE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("u") != username or not isinstance(payload.get("n"), str):
        return None
    return str(payload["n"])


def remember_device(response: Response, *, username: str) -> None:
    """Mark this browser as a known device of the account (the cookie holds no secret of the account)."""
    value = _serializer().dumps({"u": username, "n": secrets.token_urlsafe(12)})
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="Strict",
        secure=served_over_https(),
    )


def _tried_on(*, account: tuple[int, str] | None, username: str, via: str) -> dict[str, Any]:
    """The object and detail of a sign-in line: the account tried, or only a keyed hash of a name
    that is none (often a password typed in the wrong box; the hash still shows it tried again)."""
    if account is not None:
        return {"object_type": "user", "object_id": account[0], "detail": {"username": account[1], "via": via}}
    tried = (clean_text(username) or "")[:80].encode("utf-8", "replace")
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"sign-in-name:" + tried, hashlib.sha256).hexdigest()[:12]
    return {"object_type": "user", "object_id": None, "detail": {"username": None, "unknown_name_hash": digest,
                                                                  "via": via}}  # fmt: skip


def attempt(*, session: Session, username: str, password: str, via: str) -> User:
    """The account these credentials open; Throttled when a count is full (the password is then not
    checked), AuthError when they do not open it. Every outcome goes on the record."""
    throttle = ronda().throttle
    engine = session.get_bind()
    address = request.remote_addr
    _warn_of_an_untrusted_proxy()
    device = known_device(username)
    refusal = throttle.attempt(username=username, address=address, device=device)
    if refusal is not None:
        log.warning("sign-in refused for %s s (%s count full) from %s", refusal.retry_after, refusal.scope, address)
        raise Throttled(refusal)
    try:
        user = authenticate(session=session, username=username, password=password)
    except AuthError as failure:
        filled = throttle.finish(username=username, address=address, device=device, failed=True)
        tried = _tried_on(account=failure.account, username=username, via=via)
        if failure.reason != "credentials":
            tried["detail"]["reason"] = failure.reason
        audit.record_apart(engine=engine, action="auth.sign_in", outcome="failed", **tried)  # type: ignore[arg-type]
        if filled is not None:
            tried["detail"].update(scope=filled.scope, retry_after=filled.retry_after)
            audit.record_apart(engine=engine, action="auth.throttled", outcome="denied", **tried)  # type: ignore[arg-type]
        raise
    except BaseException:  # the database failed, say: the check's slot is not kept
        throttle.finish(username=username, address=address, device=device, failed=False)
        raise
    throttle.finish(username=username, address=address, device=device, failed=False)
    tried = _tried_on(account=(int(user.id), user.username), username=username, via=via)  # type: ignore[arg-type]
    audit.record_apart(engine=engine, action="auth.sign_in", actor=user, **tried)  # type: ignore[arg-type]
    # The caller's transaction read before that line was committed apart: on SQLite it could no
    # longer write (SQLITE_BUSY_SNAPSHOT). End it; the account is read afresh when next used.
    session.rollback()
    return user


_proxy_warned = False


def _warn_of_an_untrusted_proxy() -> None:
    """Behind a proxy with PROXY_COUNT at 0 every request has the proxy's address: one address's
    failures would pause sign-in for everyone. Say so in the log, once."""
    global _proxy_warned
    if not _proxy_warned and request.headers.get("X-Forwarded-For") and not current_app.config.get("PROXY_COUNT"):
        _proxy_warned = True
        log.warning(
            "a request came through a proxy (X-Forwarded-For) but PROXY_COUNT is 0: sign-in limits count every "
            "client as the proxy's address %s; set PROXY_COUNT to the number of proxies in front",
            request.remote_addr,
        )


def throttled_message(refusal: Refusal) -> str:
    """What a person is told when sign-in is paused (Spanish first)."""
    if refusal.scope == "busy":
        return gettext("Se está comprobando otro inicio de sesión de esta cuenta; vuelva a intentarlo en un momento.")
    minutes = max(1, math.ceil(refusal.retry_after / 60))
    return gettext(
        "Demasiados intentos fallidos. Espere %(minutes)s min y vuelva a intentarlo, o entre desde un "
        "dispositivo donde ya inició sesión antes.",
        minutes=minutes,
    )
