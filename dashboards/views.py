"""The web pages: sign-in (session cookie), the live map, the language switch, vendor assets."""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_decimal, format_percent, get_locale, gettext
from sqlmodel import Session

from dashboards.assets import resolve, send_asset
from dashboards.livemap import (
    KIND_COLOURS,
    AssetUrls,
    MapLabels,
    build_live_map,
    build_month_map,
    feature_bounds,
    map_parts,
)
from dashboards.mapdata import WINDOWS, map_data
from dashboards.trends import Month, TrendsError, compute_trends
from security import sign_in
from security.accounts import sign_out
from security.auth import AuthError, issue_token, viewer_of
from security.context import ronda
from security.headers import served_over_https
from security.kinds import KINDS
from security.models import User, has_control, parse_id
from zones.database import LIMA, utcnow
from zones.service import zones_feature_collection

web = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static/web")

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
# The only files of node_modules the app serves: each package's built distribution.
VENDOR_DIRS = {
    "leaflet": "leaflet/dist",
    "leaflet.markercluster": "leaflet.markercluster/dist",
    "leaflet.heat": "leaflet.heat/dist",
    "socket.io-client": "socket.io-client/dist",
    "chart.js": "chart.js/dist",
    "idb": "idb/build",
}


@web.get("/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str) -> ResponseReturnValue:
    """Browser libraries installed by `npm ci`, served by the app (no CDN at run time)."""
    directory = VENDOR_DIRS.get(package)
    if directory is None:
        abort(404)
    if not (NODE_MODULES / directory).is_dir():
        current_app.logger.error("node_modules/%s is missing: run `npm ci` (see README)", directory)
        abort(404)
    return send_asset(resolve(NODE_MODULES / directory, filename), max_age=86400)


def vendor_path(package: str, filename: str) -> Path:
    """Where a vendor file lies on disk (for revisions and the phone app's precache list)."""
    return NODE_MODULES / VENDOR_DIRS[package] / filename


def asset_urls() -> AssetUrls:
    """The URLs the map page loads its libraries from."""
    return AssetUrls(
        leaflet_js=url_for("web.vendor", package="leaflet", filename="leaflet.js"),
        leaflet_css=url_for("web.vendor", package="leaflet", filename="leaflet.css"),
        markercluster_js=url_for("web.vendor", package="leaflet.markercluster", filename="leaflet.markercluster.js"),
        markercluster_css=url_for("web.vendor", package="leaflet.markercluster", filename="MarkerCluster.css"),
        markercluster_default_css=url_for(
            "web.vendor", package="leaflet.markercluster", filename="MarkerCluster.Default.css"
        ),
        heat_js=url_for("web.vendor", package="leaflet.heat", filename="leaflet-heat.js"),
    )


# --- session, CSRF, language --------------------------------------------------------------


def _db() -> Session:
    if "web_db" not in g:
        g.web_db = Session(ronda().engine, expire_on_commit=False)
    db: Session = g.web_db
    return db


@web.teardown_app_request
def _close_db(_exc: BaseException | None) -> None:
    db = g.pop("web_db", None)
    if db is not None:
        db.close()


def current_user() -> User | None:
    """The signed-in user of this browser, if any (still active, in the session they signed in to)."""
    uid = session.get("uid")
    if uid is None:
        return None
    user = _db().get(User, uid)
    if user is None or not user.active or user.must_change_password or session.get("sv") != user.session_version:
        session.clear()  # deactivated, signed out elsewhere, a new password or role: sign in again
        return None
    return user


def start_session(user: User) -> None:
    """This browser is now signed in as `user`, in the account's current session."""
    session.clear()
    session["uid"] = user.id
    session["sv"] = user.session_version
    session.permanent = True


def sign_in_first() -> ResponseReturnValue:
    """Send a visitor who is not signed in to the sign-in page, and back here afterwards."""
    return redirect(url_for("web.login", next=request.full_path.rstrip("?")))


def csrf_token() -> str:
    """This session's token for forms (a form without it is refused)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def _check_csrf() -> None:
    sent = request.form.get("csrf", "")
    # Bytes: compare_digest refuses str with non-ASCII characters (a forged field must be a 400, not a 500).
    if not sent or not secrets.compare_digest(sent.encode(), str(session.get("csrf", "")).encode()):
        abort(400, gettext("El formulario caducó; vuelva a intentarlo."))


@web.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "csrf_token": csrf_token,
        "current_locale": str(get_locale() or "es"),
        "lang_url": _lang_url,
        "role_label": lambda role: role_labels().get(role, role),
    }


def _lang_url(lang: str) -> str:
    return url_for("web.set_language", lang=lang, next=request.full_path.rstrip("?"))


def _safe_next(target: str | None, default: str) -> str:
    """Only same-site paths may be redirected to after sign-in or a language switch."""
    if not target:
        return default
    parts = urlsplit(target)
    # Browsers read a backslash as a slash: "/\\evil.example" would leave the site.
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@web.get("/idioma/<lang>")
def set_language(lang: str) -> ResponseReturnValue:
    """The visible ES | EN switch: remembers the choice in a cookie."""
    if lang not in ("es", "en"):
        abort(404)
    response = redirect(_safe_next(request.args.get("next"), url_for("web.live_map")))
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax", secure=served_over_https())
    return response


@web.route("/entrar", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The sign-in page (same users and roles as the API, and the same limits on wrong passwords)."""
    error = None
    status = 200
    if request.method == "POST":
        _check_csrf()
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if not username or not password:
            error, status = gettext("Escriba su usuario y su contraseña."), 400
        elif has_control(username):
            error, status = gettext("El usuario contiene caracteres de control (como NUL), que no se admiten."), 400
        elif len(username) > 80 or len(password) > 200:
            error, status = gettext("Usuario o contraseña demasiado largos."), 400
        else:
            try:
                user = sign_in.attempt(session=_db(), username=username, password=password, via="web")
            except sign_in.Throttled as throttled:
                page = render_template("login.html", error=sign_in.throttled_message(throttled.refusal))
                return page, 429, {"Retry-After": str(throttled.refusal.retry_after)}
            except AuthError as failure:
                error, status = gettext("Usuario o contraseña incorrectos."), 401
                if failure.reason == "code_expired":
                    error = gettext("El código de un solo uso venció: pida otro a la administración.")
                elif failure.reason == "deactivated":
                    error = gettext("Su cuenta está desactivada: consulte a la administración de Ronda.")
            else:
                target = _safe_next(request.args.get("next"), url_for("web.live_map"))
                if user.must_change_password:
                    # The one-time code of a reset opens only the page that sets a new password.
                    session.clear()
                    session["pending_uid"] = user.id
                    session["pending_sv"] = user.session_version
                    session["pending_at"] = utcnow().timestamp()
                    response = redirect(url_for("account.new_password_page", next=target))
                else:
                    start_session(user)
                    response = redirect(target)
                sign_in.remember_device(response, username=user.username)
                return response
    notice = gettext("Su sesión se cerró.") if request.args.get("cerrada") else None
    return render_template("login.html", error=error, notice=notice), status


@web.post("/salir")
def logout() -> ResponseReturnValue:
    """Sign out: this browser, and every token and session of the account with it."""
    _check_csrf()
    user = current_user()
    if user is not None:
        sign_out(session=_db(), user=user)
        _db().commit()
    session.clear()
    return redirect(url_for("web.login"))


# --- the live map -------------------------------------------------------------------------


def kind_labels() -> dict[str, str]:
    locale = str(get_locale() or "es")
    return {code: kind.label(locale) for code, kind in KINDS.items()}


def status_labels() -> dict[str, str]:
    return {
        "reported": gettext("Reportado"),
        "acknowledged": gettext("Recibido"),
        "dispatched": gettext("Patrullero en camino"),
        "resolved": gettext("Resuelto"),
        "dismissed": gettext("Descartado"),
        "duplicate": gettext("Duplicado"),
        "raised": gettext("Activa"),
    }


def role_labels() -> dict[str, str]:
    return {
        "police": gettext("Policía"),
        "serenazgo": gettext("Serenazgo"),
        "admin": gettext("Administración"),
        "coordinator": gettext("Coordinador"),
        "volunteer": gettext("Voluntario"),
        "neighbor": gettext("Vecino"),
    }


def severity_labels() -> dict[int, str]:
    return {1: gettext("Baja"), 2: gettext("Media"), 3: gettext("Alta")}


def console_labels() -> dict[str, str]:
    """The words of the operations console on the map: popup actions, history, queue, errors.

    Placeholders like %(n)s are filled in the browser."""
    return {
        "acknowledge": gettext("Recibir"),
        "dispatch": gettext("Despachar"),
        "dispatchTo": gettext("Despachar a"),
        "noPatrol": gettext("Sin ronda asignada"),
        "noPosition": gettext("sin posición"),
        "resolve": gettext("Resolver"),
        "dismiss": gettext("Descartar"),
        "markDuplicate": gettext("Marcar como duplicado de:"),
        "duplicateOf": gettext("n.º %(id)s: %(kind)s, a %(distance)s, %(minutes)s min de diferencia"),
        "noDuplicates": gettext("No hay reportes parecidos cerca."),
        "searching": gettext("Buscando reportes parecidos y rondas cercanas…"),
        "note": gettext("Nota (opcional)"),
        "actions": gettext("Acciones"),
        "sending": gettext("Enviando…"),
        "history": gettext("Historial"),
        "loading": gettext("Cargando…"),
        "historyFailed": gettext("No se pudo cargar el historial."),
        "reportedEntry": gettext("Reporte recibido"),
        "assignedPatrol": gettext("Ronda asignada"),
        "patrolNo": gettext("Ronda n.º %(id)s"),
        "severity": gettext("Gravedad"),
        "sinceReport": gettext("Reportado"),
        "agoNow": gettext("hace menos de 1 min"),
        "agoMinutes": gettext("hace %(n)s min"),
        "agoHours": gettext("hace %(h)s h %(m)s min"),
        "agoDays": gettext("hace %(n)s días"),
        "overdue": gettext("Sin recibir a tiempo"),
        "incidentNo": gettext("Incidente n.º %(id)s"),
        "networkError": gettext("No se pudo conectar con el servidor; intente de nuevo."),
        "actionFailed": gettext("No se pudo completar la acción; intente de nuevo."),
        "currentStatus": gettext("Estado actual: %(status)s."),
        "allowedNext": gettext("Puede pasar a: %(allowed)s."),
        "noneAllowed": gettext("Ya no se puede cambiar."),
        "closeReal": gettext("Cerrar como real"),
        "falseAlarm": gettext("Falsa alarma"),
        "alarmClosedReal": gettext("Alarma cerrada como real"),
        "alarmClosedFalse": gettext("Alarma cerrada como falsa alarma"),
        "alarmAttended": gettext("Alarma atendida"),
        "queueButton": gettext("Por atender (%(n)s)"),
        "queueEmpty": gettext("Nada pendiente por ahora."),
        "clusterLabel": gettext("%(n)s incidentes juntos; pulse Enter para acercar"),
        "closePopup": gettext("Cerrar"),
        "redispatchTo": gettext("Reasignar a otra ronda"),
        "redispatch": gettext("Reasignar"),
        "noOtherPatrol": gettext("No hay otra ronda activa a la que reasignar."),
        "patrolEnded": gettext("La ronda enviada ya terminó"),
        "patrolEndedHint": gettext("Reasígnelo a otra ronda o resuélvalo."),
        "patrolEndedShort": gettext("Ronda terminada"),
        "originalNumber": gettext("N.º del incidente original"),
        "markDuplicateTyped": gettext("Marcar como duplicado"),
        "originalInvalid": gettext("Escriba el número del incidente original: un número entero mayor que cero."),
        "originalItself": gettext("Un incidente no puede ser duplicado de sí mismo."),
        "anonymousWarning": gettext("Reporte anónimo: solo la administración ve este nombre"),
    }


def window_labels() -> dict[str, str]:
    return {"24h": gettext("Últimas 24 horas"), "7d": gettext("Últimos 7 días"), "30d": gettext("Últimos 30 días")}


@web.get("/mapa")
def live_map() -> ResponseReturnValue:
    """The live zone map shared by police, serenazgo and neighbours; for operators, their console."""
    user = current_user()
    if user is None:
        return sign_in_first()
    viewer = viewer_of(user)
    window = request.args.get("ventana", "24h")
    if window not in WINDOWS:
        window = "24h"
    kind = request.args.get("tipo") or None
    if kind not in KINDS:
        kind = None
    db = _db()
    data = map_data(session=db, viewer=viewer, window=window, kind=kind)
    zones = zones_feature_collection(session=db)
    if not viewer.sees_all_zones:
        zones["features"] = [f for f in zones["features"] if f["id"] == viewer.zone_id]
    fmap = build_live_map(
        zones=zones,
        zone_counts=data.zone_counts,
        count_labels={f["id"]: format_decimal(data.zone_counts.get(f["id"], 0)) for f in zones["features"]},
        heat=data.heat,
        assets=asset_urls(),
        labels=MapLabels(
            zones=gettext("Zonas"),
            incidents=gettext("Incidentes abiertos"),
            heat=gettext("Mapa de calor"),
            zone_tooltip=gettext("Zona"),
            count_tooltip=gettext("Incidentes"),
            patrols=gettext("Rondas de patrullaje") if data.patrols is not None else None,
        ),
        tiles=current_app.config.get("MAP_TILES", True),
    )
    parts = map_parts(fmap)
    role = user.role
    can_attend = role in ("police", "serenazgo", "admin")
    config = {
        "map": parts["map_name"],
        "cluster": parts["cluster_name"],
        "heat": parts["heat_name"],
        "patrolsLayer": parts["patrols_name"],
        "patrols": data.patrols or [],
        "token": issue_token(user=user, secret_key=current_app.config["SECRET_KEY"]),
        "role": user.role,
        "zoneId": user.zone_id,
        # What this viewer may do on the map (the API checks again): move incidents on (a
        # coordinator only in their zone), acknowledge alarms, close them.
        "canWork": can_attend or role == "coordinator",
        "workZone": user.zone_id if role == "coordinator" else None,
        "canAttend": can_attend,
        "canResolveAlarms": can_attend or role == "coordinator",
        "overdueMinutes": current_app.config.get("INCIDENT_ACK_OVERDUE_MINUTES", 15),
        "zoneIds": [f["id"] for f in zones["features"]],
        "zoneBounds": {f["id"]: feature_bounds(f) for f in zones["features"]},
        "locale": "en-GB" if str(get_locale()) == "en" else "es-PE",
        "lastSeq": data.last_seq,
        "window": window,
        "windowHours": WINDOWS[window].total_seconds() / 3600,
        "kind": kind,
        "incidents": data.incidents,
        "alarms": data.alarms,
        "kindColours": KIND_COLOURS,
        "kinds": kind_labels(),
        "statuses": status_labels(),
        "alarmStatuses": {"raised": gettext("Activa"), "acknowledged": gettext("Atendida")},
        "roles": role_labels(),
        "severities": severity_labels(),
        "text": {
            **console_labels(),
            "live": gettext("En vivo"),
            "reconnecting": gettext("Reconectando…"),
            "alarm": gettext("Alarma vecinal"),
            "alarmIn": gettext("Alarma activada en"),
            "block": gettext("Manzana"),
            "zone": gettext("Zona"),
            "attend": gettext("Atender"),
            "attending": gettext("Atendiendo…"),
            "attendFailed": gettext("No se pudo atender la alarma; intente de nuevo."),
            "escalated": gettext("Sin atender: escalada"),
            "reporter": gettext("Reportado por"),
            "anonymous": gettext("Anónimo"),
            "status": gettext("Estado"),
            "time": gettext("Hora"),
            "description": gettext("Descripción"),
            "approximate": gettext("Ubicación aproximada (manzana)"),
            "accuracy": gettext("Precisión del GPS"),
            "presses": gettext("Pulsaciones"),
            "pressed": gettext("Pulsada"),
            # Both placeholders are filled in the browser (the time in Lima, the delay in minutes).
            "late": gettext("Llegó tarde: pulsada el %(time)s (%(delay)s antes)"),
            "patrol": gettext("Ronda de patrullaje"),
            "committee": gettext("Comité"),
            "members": gettext("Integrantes"),
            "since": gettext("Desde"),
            "lastPosition": gettext("Última posición"),
        },
    }
    zone_names = {f["id"]: f["properties"]["name"] for f in zones["features"]}
    config["zoneNames"] = zone_names
    return render_template(
        "map.html",
        parts=parts,
        config=config,
        user=user,
        window=window,
        windows=window_labels(),
        kind=kind,
        kinds=kind_labels(),
        kind_colours=KIND_COLOURS,
        total=format_decimal(data.total_in_window),
        open_count=format_decimal(len(data.incidents)),
        operator=config["canWork"] or config["canAttend"],
    )


@web.after_request
def _no_store(response: Response) -> Response:
    # Pages carry an API token and what the viewer may see: never cached, never shared.
    if request.endpoint in ("web.live_map", "web.trends_page"):
        response.headers["Cache-Control"] = "no-store"
    return response


@web.get("/")
def home() -> ResponseReturnValue:
    """The front door: the map for signed-in people, the sign-in page for the others."""
    return redirect(url_for("web.live_map"))


# --- monthly trends -----------------------------------------------------------------------


def _month_label(month: Month) -> str:
    return format_date(date(month.year, month.month, 1), "MMMM yyyy")


@web.get("/tendencias")
def trends_page() -> ResponseReturnValue:
    """The committees' monthly review: charts, the month's map and the table."""
    user = current_user()
    if user is None:
        return sign_in_first()
    viewer = viewer_of(user)
    today = utcnow().astimezone(LIMA)
    default_last = Month(today.year, today.month)
    zone_text = request.args.get("zona", "")
    error = None
    try:
        last = Month.parse(request.args.get("hasta") or str(default_last))
        first = Month.parse(request.args.get("desde") or str(last.shift(-5)))
    except TrendsError:
        error = gettext("Elija meses válidos (AAAA-MM).")
        last, first = default_last, default_last.shift(-5)
    # Police and admins pick a zone or the district; everyone else reviews their own zone.
    zone_id = viewer.zone_id if not viewer.sees_all_zones else parse_id(zone_text) if zone_text else None
    db = _db()
    zones = zones_feature_collection(session=db)
    figures = None
    if error is None:
        try:
            figures = compute_trends(session=db, zone_id=zone_id, first=first, last=last)
        except TrendsError:
            error = gettext("Rango de meses no válido (desde ≤ hasta, máximo 36 meses, zona existente).")
    if figures is None:
        return render_template(
            "trends.html", error=error, figures=None, zones=zones["features"], zone_id=zone_id, user=user,
            first=str(first), last=str(last), may_choose_zone=viewer.sees_all_zones,
        ), 400  # fmt: skip
    shown = dict(zones)
    if not viewer.sees_all_zones:
        shown["features"] = [f for f in zones["features"] if f["id"] == viewer.zone_id]
    counts = {int(k): v for k, v in figures["last_month_by_zone"].items()}
    fmap = build_month_map(
        zones=shown,
        zone_counts=counts,
        count_labels={f["id"]: format_decimal(counts.get(f["id"], 0)) for f in shown["features"]},
        top_blocks=figures["incidents"]["top_blocks"],
        assets=asset_urls(),
        labels=MapLabels(
            zones=gettext("Zonas"),
            incidents=gettext("Manzanas con más incidentes"),
            heat=gettext("Mapa de calor"),
            zone_tooltip=gettext("Zona"),
            count_tooltip=gettext("Incidentes en el mes"),
        ),
        tiles=current_app.config.get("MAP_TILES", True),
    )
    months = [Month.parse(m) for m in figures["months"]]
    chart_data = {
        "months": [_month_label(m) for m in months],
        "kinds": kind_labels(),
        "colours": KIND_COLOURS,
        "incidents": figures["incidents"]["by_month"],
        "alarms": figures["alarms"]["by_month"],
        "histograms": {
            "alarms": figures["response_times"]["alarm_to_acknowledgement"]["histogram"],
            "incidents": figures["response_times"]["incident_to_acknowledgement"]["histogram"],
        },
        "text": {
            "real": gettext("Reales"),
            "false_alarm": gettext("Falsas alarmas"),
            "alarms": gettext("Alarmas: de la alarma a la atención"),
            "incidents": gettext("Incidentes: del reporte a la atención"),
            "count": gettext("Cantidad"),
        },
        "locale": "en-GB" if str(get_locale()) == "en" else "es-PE",
    }
    return render_template(
        "trends.html",
        error=None,
        figures=figures,
        zones=zones["features"],
        zone_id=zone_id,
        zone_name=figures["zone_name"] or gettext("Todo el distrito"),
        user=user,
        first=str(first),
        last=str(last),
        last_label=_month_label(last),
        month_label=_month_label,
        month_of=Month.parse,
        may_choose_zone=viewer.sees_all_zones,
        parts=map_parts(fmap),
        chart_data=chart_data,
        kinds=kind_labels(),
        fmt=format_decimal,
        pct=format_percent,
        minutes=lambda s: "—" if s is None else format_decimal(round(s / 60, 1)),
    )
