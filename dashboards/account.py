"""The signed-in person's own account (/cuenta): a new password, and "cerrar todas mis sesiones"
(a lost phone); and the page that sets a new password after a reset (/cuenta/clave-nueva).

A new password or closing every session moves the account's session version on: every token and
web session ends (the phone signs in again; its outbox waits), and this browser is signed in
again in the new session when it was the one that asked.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from dashboards.views import _check_csrf, _db, _safe_next, current_user, sign_in_first, start_session
from security import accounts, sign_in
from security.auth import AuthError, check_new_password
from security.errors import DomainError
from security.models import User
from zones.database import utcnow

account = Blueprint("account", __name__, template_folder="templates")

# How long the one-time code of a reset keeps the page that sets a new password open.
PENDING_SECONDS = 15 * 60


def _message(error: DomainError) -> str:
    return gettext(error.message, **error.params)


def _new_password_problem(new: str, repeated: str, *, user: User) -> str | None:
    """Why the new password typed twice is refused, in the viewer's language (None: it will do)."""
    if new != repeated:
        return gettext("Las dos contraseñas nuevas no coinciden.")
    try:
        check_new_password(new, username=user.username, field="new_password")
    except DomainError as error:
        return _message(error)
    return None


@account.get("/cuenta")
def account_page() -> ResponseReturnValue:
    """The person's own account: who they are, a new password, closing every session."""
    user = current_user()
    if user is None:
        return sign_in_first()
    done = {"clave": gettext("Su contraseña se cambió. Sus otras sesiones se cerraron.")}.get(
        request.args.get("hecho", "")
    )
    return render_template("account.html", user=user, error=None, done=done)


@account.post("/cuenta/clave")
def change_password() -> ResponseReturnValue:
    """A new password, with the current one; every other session ends, this browser stays in."""
    _check_csrf()
    user = current_user()
    if user is None:
        return sign_in_first()
    current = request.form.get("current_password", "")
    new, repeated = request.form.get("new_password", ""), request.form.get("repeat_password", "")
    error = _new_password_problem(new, repeated, user=user)
    status = 422
    if error is None and not 0 < len(current) <= 200:
        error, status = gettext("La contraseña actual no es correcta."), 401
    elif error is None:
        try:
            sign_in.attempt(session=_db(), username=user.username, password=current, via="web")
        except sign_in.Throttled as throttled:
            error, status = sign_in.throttled_message(throttled.refusal), 429
        except AuthError:
            error, status = gettext("La contraseña actual no es correcta."), 401
    if error is not None:
        return render_template("account.html", user=user, error=error, done=None), status
    accounts.set_password(session=_db(), user=user, new_password=new)
    _db().commit()
    start_session(user)
    return redirect(url_for("account.account_page", hecho="clave"))


@account.post("/cuenta/cerrar-sesiones")
def end_sessions() -> ResponseReturnValue:
    """"Cerrar todas mis sesiones": every phone and browser of the account, this one included."""
    _check_csrf()
    user = current_user()
    if user is None:
        return sign_in_first()
    accounts.end_all_sessions(session=_db(), user=user, actor=user)
    _db().commit()
    session.clear()
    return redirect(url_for("web.login", cerrada=1))


def _pending_user() -> User | None:
    """The account whose one-time code was just accepted, while its page is still open."""
    uid, version, since = session.get("pending_uid"), session.get("pending_sv"), session.get("pending_at")
    if uid is None or since is None:
        return None
    if utcnow().timestamp() - float(since) > PENDING_SECONDS:
        return None
    user = _db().get(User, uid)
    if user is None or not user.active or not user.must_change_password or user.session_version != version:
        return None
    return user


@account.route("/cuenta/clave-nueva", methods=["GET", "POST"])
def new_password_page() -> ResponseReturnValue:
    """After a password reset: the person chooses the password they will use from now on."""
    user = _pending_user()
    if user is None:
        session.pop("pending_uid", None)
        return redirect(url_for("web.login"))
    error = None
    if request.method == "POST":
        _check_csrf()
        new, repeated = request.form.get("new_password", ""), request.form.get("repeat_password", "")
        error = _new_password_problem(new, repeated, user=user)
        if error is None:
            accounts.set_password(session=_db(), user=user, new_password=new)
            _db().commit()
            start_session(user)
            return redirect(_safe_next(request.args.get("next"), url_for("web.live_map")))
    return render_template("new_password.html", user=user, error=error), 422 if error else 200
