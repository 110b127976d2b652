"""The JSON API that phones and dashboards call, under /api/v1.

Routes are thin: flask-openapi3 validates the request with the pydantic/SQLModel model (the
same models the OpenAPI document is generated from), the route calls one service, commits,
pushes the events and answers with the view the caller's role may see.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from flask import Flask, Response, current_app, g, jsonify, request, stream_with_context
from flask_babel import get_locale, gettext
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlmodel import Session
from werkzeug.exceptions import BadRequest, HTTPException

from security import accounts, alarms, audit, exports, incidents, sign_in
from security.auth import AuthError, Viewer, device_from_key, issue_token, user_from_token, viewer_of
from security.compression import GzipRequests, compress_response, gzip_error
from security.context import ronda
from security.errors import N_, REFUSALS, DomainError, Forbidden, NotFound, ValidationProblem
from security.events import event_view, events_since
from security.kinds import KINDS
from security.models import (
    MAX_ID,
    UNKNOWN_KIND,
    AlarmCreate,
    AlarmDevicePublic,
    AlarmPublic,
    AlarmResolve,
    AuditPage,
    EventPage,
    Id,
    IncidentCreate,
    IncidentHistory,
    IncidentPage,
    IncidentPublic,
    IncidentUpdate,
    PointPublic,
    StatusFilter,
    TokenPublic,
    TokenRequest,
    User,
    clean_text,
    no_control,
)
from security.openapi import ATTACHMENT, CSV, GEOJSON, JSON, PUBLIC, FeatureCollection, answer, errors
from security.push import publish
from security.throttle import Refusal
from security.visibility import names_reporter, redact
from zones.database import LIMA, lima_aware, utcnow
from zones.models import Zone
from zones.service import blocks_feature_collection, zones_feature_collection

BAD_BBOX = N_("bbox son cuatro números min_lon,min_lat,max_lon,max_lat (WGS84), con mínimo < máximo.")

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# Alarm devices authenticate with their key instead of a token (X-Device-Key).
DEVICE_KEY: list[dict[str, list[str]]] = [{"deviceKey": []}]
# Each route declares its own answers (security.openapi.errors): the public ones give no 401.
api = APIBlueprint("api", __name__, url_prefix="/api/v1", abp_security=BEARER)
t_auth = Tag(name="auth", description="Tokens")
t_zones = Tag(name="zones", description="The district's zones")
t_incidents = Tag(name="incidents", description="Incidents reported by patrols and neighbours")
t_alarms = Tag(name="alarms", description="Block alarms")
t_events = Tag(name="events", description="The event log, for catching up after a disconnection")
t_audit = Tag(name="audit", description="The append-only record of who did what (admins)")

PUBLIC_ENDPOINTS = frozenset(
    {"api.issue_token_route", "api.change_password_route", "api.list_zones", "api.list_blocks"}
)
DEVICE_ENDPOINTS = frozenset({"api.raise_alarm_route"})


# --- errors ---------------------------------------------------------------------------


def error_response(
    status: int, code: str, message: str, fields: list[dict[str, Any]] | None = None, **extra: Any
) -> Response:
    """The one JSON error shape: {error, message, fields: [{field, problem}], ...}."""
    body: dict[str, Any] = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ronda"'
    return response


# Pydantic error types in words a volunteer's phone can show (Spanish source, translated).
_PROBLEMS = {
    "missing": N_("Campo obligatorio."),
    "float_parsing": N_("Debe ser un número."),
    "float_type": N_("Debe ser un número."),
    "int_parsing": N_("Debe ser un número entero."),
    "int_type": N_("Debe ser un número entero."),
    "int_from_float": N_("Debe ser un número entero."),
    "bool_parsing": N_("Debe ser true o false."),
    "bool_type": N_("Debe ser true o false."),
    "string_type": N_("Debe ser un texto."),
    "string_too_long": N_("Es demasiado largo (máximo %(max_length)s caracteres)."),
    "string_too_short": N_("Es demasiado corto (mínimo %(min_length)s caracteres)."),
    "greater_than_equal": N_("Debe ser mayor o igual que %(ge)s."),
    "less_than_equal": N_("Debe ser menor o igual que %(le)s."),
    "uuid_parsing": N_("Debe ser un UUID."),
    "uuid_type": N_("Debe ser un UUID."),
    "datetime_parsing": N_("Debe ser una fecha y hora ISO 8601."),
    "datetime_from_date_parsing": N_("Debe ser una fecha y hora ISO 8601."),
    "datetime_type": N_("Debe ser una fecha y hora ISO 8601."),
    "literal_error": N_("Debe ser uno de: %(expected)s."),
    "model_type": N_("Se esperaba un objeto JSON."),
    "model_attributes_type": N_("Se esperaba un objeto JSON."),
    "dict_type": N_("Se esperaba un objeto JSON."),
    "finite_number": N_("Debe ser un número finito."),
    "json_invalid": N_("El cuerpo no es JSON válido."),
    "string_unicode": N_("El texto no es Unicode válido."),
    "uuid_version": N_("Debe ser un UUID."),
}


def _plain_number(value: Any) -> Any:
    """90.0 reads better as 90 in a message."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def validation_fields(error: ValidationError, *, prefix: str = "") -> list[dict[str, Any]]:
    """Each refused field of a pydantic error and its problem, in the caller's language."""
    fields = []
    for item in error.errors(include_url=False):
        loc = [prefix] if prefix else []
        loc += [str(p) for p in item.get("loc", ()) if p != "__root__"]
        template = _PROBLEMS.get(item["type"])
        if item["type"] == "value_error":  # our validators' messages are catalogue entries
            problem = gettext(str(item.get("ctx", {}).get("error", item["msg"])))
        elif template:
            context = {k: _plain_number(v) for k, v in (item.get("ctx") or {}).items()}
            if item["type"] == "literal_error":  # pydantic lists the choices as "'a', 'b' or 'c'", in English
                context["expected"] = str(context.get("expected", "")).replace(" or ", ", ")
            problem = gettext(template, **context)
        else:
            problem = item["msg"]
        fields.append({"field": ".".join(loc) or "body", "problem": problem, "code": item["type"]})
    return fields


def validation_error_response(error: ValidationError) -> Response:
    """flask-openapi3's hook: a 422 that names each refused field and its problem."""
    return error_response(
        422, "validation_error", gettext("Los datos enviados no son válidos."), validation_fields(error)
    )


def error_body(error: DomainError | ValidationError, *, prefix: str = "") -> dict[str, Any]:
    """The JSON error of a refused request or sync operation: {error, message, fields?, ...}."""
    if isinstance(error, ValidationError):
        fields = validation_fields(error, prefix=prefix)
        return {"error": "validation_error", "message": gettext("Los datos enviados no son válidos."), "fields": fields}
    # Parameters that are words of the catalogue (a status's label, say) are translated too.
    params = {k: gettext(v) if isinstance(v, str) and v else v for k, v in error.params.items()}
    message = gettext(error.message, **params)
    if isinstance(error, ValidationProblem):
        return {
            "error": error.code,
            "message": gettext("Los datos enviados no son válidos."),
            "fields": [
                {"field": f"{prefix}.{f}" if prefix else f, "problem": message, "code": "domain"} for f in error.fields
            ],
        }
    return {"error": error.code, "message": message, **getattr(error, "details", {})}


def _domain_error(error: DomainError) -> Response:
    if isinstance(error, REFUSALS):  # a Hidden or Unknown one answers like a missing one, but it was a refusal
        record_denied(user=g.get("user"), message=error.message % error.params if error.params else error.message)
    body = error_body(error)
    return error_response(error.status, body.pop("error"), body.pop("message"), body.pop("fields", None), **body)


def _http_error(error: HTTPException) -> Any:
    if not request.path.startswith("/api/"):
        page = current_app.extensions.get("ronda_error_page")  # the dashboards' page, when registered
        return page(error) if page is not None and (error.code or 500) >= 400 else error
    messages = {
        404: gettext("No existe esta dirección."),
        405: gettext("Método no permitido."),
        400: gettext("Solicitud mal formada."),
        413: gettext("La solicitud es demasiado grande."),
    }
    code = error.code or 500
    return error_response(
        code, (error.name or "error").lower().replace(" ", "_"), messages.get(code, str(error.description))
    )


def _internal_error(error: Exception) -> Response | tuple[str, int]:
    current_app.logger.exception("unexpected error", exc_info=error)
    if request.path.startswith("/api/"):
        return error_response(500, "internal_error", gettext("Error interno; su dato no se guardó, intente de nuevo."))
    return gettext("Error interno."), 500


# URL parameters that name the object a request is about, for the record of a refusal.
_OBJECT_PARAMS = {
    "incident_id": "incident",
    "alarm_id": "alarm",
    "patrol_id": "patrol",
    "committee_id": "committee",
    "zone_id": "zone",
}


def record_denied(*, user: User | None, message: str) -> None:
    """Write a refused authorisation to the record, on its own: the request's work is rolled back."""
    object_type = object_id = None
    for name, value in (request.view_args or {}).items():
        if name in _OBJECT_PARAMS:
            object_type, object_id = _OBJECT_PARAMS[name], value
            break
    try:
        db().rollback()  # the refused request's own work, if any
        audit.record_apart(
            engine=ronda().engine,
            action="access.denied",
            actor=user,
            object_type=object_type,
            object_id=object_id,
            outcome="denied",
            detail={"method": request.method, "path": request.path[:200], "reason": message},
        )
    except Exception:  # the refusal itself must still reach the caller
        current_app.logger.exception("could not record a refused request")


def _audit_origin() -> None:
    audit.set_origin(ip=request.remote_addr, user_agent=request.user_agent.string)


def _forget_origin(_exc: BaseException | None) -> None:
    audit.clear_origin()


# Deeper than this, a JSON body is no request of ours (the deepest, a sync batch's GeoJSON
# route, is 6 levels), and Python's parser would run out of stack on a few thousand.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings not counted)."""
    depth = deepest = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _refuse_deep_json() -> Response | None:
    """A JSON body nested too deeply is a 422 on the body, before any parser recurses into it."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    data = request.get_data(cache=True)
    # Some routes read JSON whatever the content type says (a patrol's end, OsmAnd's body).
    if data.lstrip()[:1] not in (b"{", b"["):
        return None
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH or json_depth(data) <= MAX_JSON_DEPTH:
        return None  # the first test, in C, settles every small body
    problem = gettext("El JSON está anidado a más de %(max)s niveles.", max=MAX_JSON_DEPTH)
    return error_response(
        422,
        "validation_error",
        gettext("Los datos enviados no son válidos."),
        [{"field": "body", "problem": problem, "code": "json_too_deep"}],
    )


def _refuse_invalid_json() -> Response | None:
    """A JSON body that does not parse is a 422 saying so on `body` (parsed once: the route reuses it)."""
    if request.method not in ("POST", "PUT", "PATCH") or not request.path.startswith("/api/") or not request.is_json:
        return None
    if not request.get_data(cache=True).strip():
        return None  # no body at all: the route decides (a patrol's end takes none)
    try:
        request.get_json()  # also a number of more than 4,300 digits, which Python refuses to read
    except BadRequest:
        problem = gettext(_PROBLEMS["json_invalid"])
        return error_response(
            422,
            "validation_error",
            gettext("Los datos enviados no son válidos."),
            [{"field": "body", "problem": problem, "code": "json_invalid"}],
        )
    return None


def _refuse_bad_gzip() -> Response | None:
    """A compressed body that could not be unpacked is refused before any route reads it."""
    error = gzip_error()
    if error == "invalid":
        return error_response(400, "bad_request", gettext("El cuerpo comprimido (gzip) no es válido."))
    if error == "too_large":
        return error_response(413, "request_entity_too_large", gettext("La solicitud es demasiado grande."))
    return None


def _compress_api(response: Response) -> Response:
    return compress_response(response) if request.path.startswith("/api/") else response


def init_app(app: Flask) -> None:
    """Register the API blueprint, its JSON error handlers and gzip on the wire."""
    app.wsgi_app = GzipRequests(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(_audit_origin)
    app.teardown_request(_forget_origin)
    app.before_request(_refuse_bad_gzip)
    app.before_request(_refuse_deep_json)
    app.before_request(_refuse_invalid_json)
    app.after_request(_compress_api)
    app.register_api(api)  # type: ignore[attr-defined]
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)


# --- authentication ---------------------------------------------------------------------


def db() -> Session:
    """The request's database session (closed when the request ends)."""
    if "db" not in g:
        g.db = Session(ronda().engine, expire_on_commit=False)
    session: Session = g.db
    return session


@api.teardown_app_request
def _close_db(_exc: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


_AUTH_MESSAGES = {
    "missing": N_("Falta el token de acceso (Authorization: Bearer ...)."),
    "invalid": N_("El token de acceso no es válido."),
    "expired": N_("El token de acceso ha expirado; inicie sesión de nuevo."),
    "credentials": N_("Usuario o contraseña incorrectos."),
    "code_expired": N_("El código de un solo uso venció: pida otro a la administración."),
    "deactivated": N_("Su cuenta está desactivada: consulte a la administración de Ronda."),
}


def _unauthorized(reason: str) -> Response:
    return error_response(401, "unauthorized", gettext(_AUTH_MESSAGES[reason]), reason=reason)


@api.before_request
def authenticate_request() -> Response | None:
    """Every /api/v1 route but the public ones needs a valid token (or, for alarms, a device key)."""
    g.user = None
    g.device = None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    device_key = request.headers.get("X-Device-Key")
    if device_key and request.endpoint in DEVICE_ENDPOINTS:
        try:
            g.device = device_from_key(session=db(), key=device_key)
        except AuthError as exc:
            return _unauthorized(exc.reason)
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("missing")
    try:
        g.user = user_from_token(
            session=db(),
            token=token.strip(),
            secret_key=current_app.config["SECRET_KEY"],
            max_age=current_app.config["TOKEN_TTL_SECONDS"],
        )
    except AuthError as exc:
        return _unauthorized(exc.reason)
    return None


def me() -> User:
    user: User = g.user
    return user


def viewer() -> Viewer:
    return viewer_of(me())


def _commit_and_publish(*events: Any) -> None:
    db().commit()
    publish(events)


class PasswordChange(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200, description="The current password, or the one-time code")
    new_password: str = Field(min_length=1, max_length=200, description="At least 8 characters, not easy to guess")

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        return no_control(value)  # type: ignore[return-value]


def _token_answer(user: User) -> Response:
    token = issue_token(user=user, secret_key=current_app.config["SECRET_KEY"])
    ttl = current_app.config["TOKEN_TTL_SECONDS"]
    response = jsonify(
        {"access_token": token, "token_type": "bearer", "expires_in": ttl, "role": user.role, "zone_id": user.zone_id}
    )
    sign_in.remember_device(response, username=user.username)
    return response


def _signed_in(username: str, password: str) -> User | Response:
    """The account these credentials open, or the 401/429 answer to give instead."""
    try:
        return sign_in.attempt(session=db(), username=username, password=password, via="api")
    except sign_in.Throttled as throttled:
        return _throttled(throttled.refusal)
    except AuthError as failure:
        return _unauthorized(failure.reason)  # credentials, or code_expired (the right code, too late)


def _throttled(refusal: Refusal) -> Response:
    response = error_response(
        429, "too_many_attempts", sign_in.throttled_message(refusal), retry_after=refusal.retry_after
    )
    response.headers["Retry-After"] = str(refusal.retry_after)
    return response


@api.post(
    "/auth/token",
    tags=[t_auth],
    security=PUBLIC,
    responses={200: TokenPublic, **errors(401, 403, 413, 422, 429)},
    summary="Exchange a username and password for a bearer token (throttled: 429 with Retry-After)",
)
def issue_token_route(body: TokenRequest) -> Response:
    """A phone or dashboard signs in."""
    user = _signed_in(body.username, body.password)
    if isinstance(user, Response):
        return user
    if user.must_change_password:
        return error_response(
            403,
            "password_change_required",
            gettext("Su contraseña fue restablecida: elija una nueva para continuar."),
        )
    return _token_answer(user)


@api.post(
    "/auth/password",
    tags=[t_auth],
    security=PUBLIC,
    responses={200: TokenPublic, **errors(401, 413, 422, 429)},
    summary="Choose a new password with the current one or a one-time code; every other session ends",
)
def change_password_route(body: PasswordChange) -> Response:
    """A person sets a new password (after a reset, with the one-time code) and gets a token."""
    user = _signed_in(body.username, body.password)
    if isinstance(user, Response):
        return user
    accounts.set_password(session=db(), user=user, new_password=body.new_password)
    db().commit()
    return _token_answer(user)


# --- zones ------------------------------------------------------------------------------


class LocateQuery(BaseModel):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, json_schema_extra={"example": -12.1398})
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, json_schema_extra={"example": -76.9281})


class LocatePublic(BaseModel):
    zone_id: int
    zone_name: str
    block_id: int | None


class KindPublic(BaseModel):
    code: str
    label: str = Field(description="In the caller's language")
    label_es: str
    label_en: str


@api.get(
    "/zones",
    tags=[t_zones],
    security=PUBLIC,
    responses={200: answer("The zones, with id, name and code", {GEOJSON: FeatureCollection})},
    summary="The district's zones as a GeoJSON FeatureCollection",
)
def list_zones() -> Response:
    """Anyone may draw the district."""
    response = jsonify(zones_feature_collection(session=db()))
    response.mimetype = "application/geo+json"
    return response


class ZonePath(BaseModel):
    zone_id: Id


@api.get(
    "/zones/<int:zone_id>/blocks",
    tags=[t_zones],
    security=PUBLIC,
    responses={200: answer("The blocks, with id, name and zone_id", {GEOJSON: FeatureCollection}), **errors(404, 422)},
    summary="A zone's urban blocks (where alarms pool) as a GeoJSON FeatureCollection",
)
def list_blocks(path: ZonePath) -> Response:
    """A phone draws the blocks of its zone on its small map, with or without tiles."""
    if db().get(Zone, path.zone_id) is None:
        raise NotFound("No existe la zona %(id)s.", id=path.zone_id)
    response = jsonify(blocks_feature_collection(session=db(), zone_id=path.zone_id))
    response.mimetype = "application/geo+json"
    return response


@api.get(
    "/zones/locate",
    tags=[t_zones],
    responses={200: LocatePublic, **errors(401, 422)},
    summary="The zone and block of a point",
)
def locate_point(query: LocateQuery) -> Response:
    """A phone asks where it is."""
    location = ronda().index.locate(lat=query.lat, lon=query.lon)
    if location is None:
        raise ValidationProblem(("lat", "lon"), "El punto está fuera del distrito.")
    return jsonify({"zone_id": location.zone_id, "zone_name": location.zone_name, "block_id": location.block_id})


@api.get(
    "/incident-kinds",
    tags=[t_incidents],
    responses={200: answer("The kinds, in the order phones show them", {JSON: list[KindPublic]}), **errors(401)},
    summary="The kinds of incident, labelled in Spanish and English",
)
def list_kinds() -> Response:
    """A phone fills its kind picker."""
    locale = str(get_locale() or "es")
    return jsonify(
        [
            {"code": k.code, "label": k.label(locale), "label_es": k.label_es, "label_en": k.label_en}
            for k in KINDS.values()
        ]
    )


# --- incidents ----------------------------------------------------------------------------


class IncidentQuery(BaseModel):
    zone_id: Id | None = None
    kind: str | None = None
    status: StatusFilter | None = Field(
        default=None, description="A status, or open (reported, acknowledged or dispatched)"
    )
    severity: int | None = Field(default=None, ge=1, le=3)
    q: str | None = Field(
        default=None, max_length=100, description="Text in descriptions (not for neighbours: they do not see them)"
    )
    sort: Literal["newest", "oldest", "severity"] = Field(
        default="newest", description="newest first, oldest first, or highest severity first (then newest)"
    )
    since: datetime | None = Field(default=None, description="occurred_at >= since (ISO 8601)")
    until: datetime | None = Field(default=None, description="occurred_at < until (ISO 8601)")
    bbox: str | None = Field(default=None, description="min_lon,min_lat,max_lon,max_lat (WGS84)")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    format: Literal["json", "csv", "geojson"] = Field(
        default="json", description="csv or geojson: every matching incident as a file (no paging)"
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str | None) -> str | None:
        if value is not None and value not in KINDS:
            raise ValueError(UNKNOWN_KIND)
        return value

    @field_validator("since", "until")
    @classmethod
    def _lima_time(cls, value: datetime | None) -> datetime | None:
        return lima_aware(value) if value is not None else None

    @field_validator("q")
    @classmethod
    def _clean_q(cls, value: str | None) -> str | None:
        return clean_text(value)

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split(",")
        try:
            min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
        except ValueError as exc:
            raise ValueError(BAD_BBOX) from exc
        if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
            raise ValueError(BAD_BBOX)
        return value


class IncidentPath(BaseModel):
    incident_id: Id


@api.post(
    "/incidents",
    tags=[t_incidents],
    responses={201: IncidentPublic, 200: IncidentPublic, **errors(401, 403, 413, 422)},
    summary="Report an incident (idempotent on client_id)",
)
def report_incident_route(body: IncidentCreate) -> tuple[Response, int]:
    """A patrol volunteer's phone reports an incident."""
    incident, event = incidents.report_incident(session=db(), reporter=me(), data=body, index=ronda().index)
    _commit_and_publish(event)
    # A new report's record is the one just logged; only a retry needs reading back.
    record = json.loads(event.data) if event else incidents.incident_records(session=db(), incidents=[incident])[0]
    return jsonify(redact(record, viewer=viewer())), 201 if event is not None else 200


@api.get(
    "/incidents",
    tags=[t_incidents],
    responses={
        200: answer(
            "A page of incidents, or with format=csv|geojson every match as a file",
            {JSON: IncidentPage, CSV: str, GEOJSON: FeatureCollection},
            headers=ATTACHMENT,
        ),
        **errors(401, 403, 422),
    },
    summary="List incidents, newest first",
)
def list_incidents_route(query: IncidentQuery) -> Response:
    """A dashboard or phone lists incidents it may see."""
    bbox = tuple(float(p) for p in query.bbox.split(",")) if query.bbox else None
    filters = incidents.IncidentFilter(
        zone_id=query.zone_id,
        kind=query.kind,
        status=query.status,
        since=query.since,
        until=query.until,
        bbox=bbox,  # type: ignore[arg-type]
        q=query.q,
        severity=query.severity,
        sort=query.sort,
    )
    who = viewer()
    if query.format != "json":
        return _export(who=who, filters=filters, file_format=query.format)
    rows, next_cursor = incidents.list_incidents(
        session=db(), viewer=who, filters=filters, limit=query.limit, cursor=query.cursor
    )
    records = incidents.incident_records(session=db(), incidents=rows)
    return jsonify({"items": [redact(r, viewer=who) for r in records], "next_cursor": next_cursor})


EXPORT_PAGE = 2000


def _export(*, who: Viewer, filters: incidents.IncidentFilter, file_format: str) -> Response:
    """Every incident matching the filters, as a CSV or GeoJSON file, redacted for `who`."""
    who.zone_scope(filters.zone_id)  # a Forbidden or a refused filter now, before streaming starts
    incidents.list_incidents(session=db(), viewer=who, filters=filters, limit=1)
    session = db()
    zone_names = {f["id"]: f["properties"]["name"] for f in zones_feature_collection(session=session)["features"]}
    locale = str(get_locale() or "es")

    def views() -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            rows, cursor = incidents.list_incidents(
                session=session, viewer=who, filters=filters, limit=EXPORT_PAGE, cursor=cursor
            )
            for record in incidents.incident_records(session=session, incidents=rows):
                yield redact(record, viewer=who)
            if cursor is None:
                return

    stamp = utcnow().astimezone(LIMA).strftime("%Y%m%d-%H%M")
    if file_format == "csv":
        body = exports.csv_lines(views(), zone_names=zone_names, locale=locale)
        mimetype, name = "text/csv", f"incidentes-{stamp}.csv"
    else:
        body = exports.geojson_chunks(views(), zone_names=zone_names)
        mimetype, name = "application/geo+json", f"incidentes-{stamp}.geojson"
    return Response(
        stream_with_context(body),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@api.get(
    "/incidents/<int:incident_id>",
    tags=[t_incidents],
    responses={200: IncidentPublic, **errors(401, 403, 404, 422)},
    summary="One incident (the only view that names its reporter, to police and admins; on the record)",
)
def get_incident_route(path: IncidentPath) -> Response:
    """A dashboard opens an incident."""
    who = viewer()
    incident = incidents.get_incident(session=db(), viewer=who, incident_id=path.incident_id)
    record = incidents.incident_records(session=db(), incidents=[incident])[0]
    view = opened_view(session=db(), record=record, actor=me(), object_type="incident")
    return jsonify(view)


def opened_view(*, session: Session, record: dict[str, Any], actor: User, object_type: str) -> dict[str, Any]:
    """The view of one incident or alarm a person opened; when it names who reported or pressed
    it, that showing goes on the record (in a transaction of its own)."""
    who = viewer_of(actor)
    view = redact(record, viewer=who, detail=True)
    named = view.get("reporter") if object_type == "incident" else view.get("raised_by")
    if named and names_reporter(record, viewer=who):
        audit.record_apart(
            engine=session.get_bind(),  # type: ignore[arg-type]
            action="incident.reporter_viewed" if object_type == "incident" else "alarm.presser_viewed",
            actor=actor,
            object_type=object_type,
            object_id=record["id"],
            detail={"reporter_id": named["id"], "anonymous": bool(record.get("anonymous"))},
        )
    return view


@api.get(
    "/incidents/<int:incident_id>/history",
    tags=[t_incidents],
    responses={200: IncidentHistory, **errors(401, 403, 404, 422)},
    summary="An incident's status changes, oldest first (by role; notes not for neighbours)",
)
def incident_history_route(path: IncidentPath) -> Response:
    """A dashboard shows what was done about an incident."""
    return jsonify({"items": incidents.incident_history(session=db(), viewer=viewer(), incident_id=path.incident_id)})


class DuplicateCandidate(IncidentPublic):
    distance_m: int
    minutes_apart: int


class PatrolNearby(BaseModel):
    id: int
    committee_name: str
    zone_id: int
    distance_m: int | None = Field(description="From its last position; null before its first")
    last_position: PointPublic | None = Field(description="Police, serenazgo and admins only")
    member_count: int


class Suggestions(BaseModel):
    duplicates: list[DuplicateCandidate]
    patrols: list[PatrolNearby]


@api.get(
    "/incidents/<int:incident_id>/suggestions",
    tags=[t_incidents],
    responses={200: Suggestions, **errors(401, 403, 404, 422)},
    summary="Open reports this one may duplicate and the nearest active patrols (who may move it on)",
)
def incident_suggestions_route(path: IncidentPath) -> Response:
    """An operator about to dispatch, or to mark a duplicate, sees the candidates."""
    who = viewer()
    found = incidents.suggestions(session=db(), viewer=who, incident_id=path.incident_id)
    found["duplicates"] = [
        redact(r, viewer=who) | {k: r[k] for k in ("distance_m", "minutes_apart")} for r in found["duplicates"]
    ]
    return jsonify(found)


@api.patch(
    "/incidents/<int:incident_id>",
    tags=[t_incidents],
    responses={200: IncidentPublic, **errors(401, 403, 404, 409, 413, 422)},
    summary="Change an incident's status (police, or a coordinator of its zone)",
)
def update_incident_route(path: IncidentPath, body: IncidentUpdate) -> Response:
    """Police or a committee coordinator moves an incident along."""
    incident, event = incidents.change_status(session=db(), actor=me(), incident_id=path.incident_id, update=body)
    _commit_and_publish(event)
    return jsonify(redact(incidents.incident_records(session=db(), incidents=[incident])[0], viewer=viewer()))


# --- block alarms -------------------------------------------------------------------------


class ZoneQuery(BaseModel):
    zone_id: Id | None = None


class AlarmQuery(BaseModel):
    zone_id: Id | None = None
    active: bool = Field(default=True, description="Only alarms not yet resolved")


class AlarmPath(BaseModel):
    alarm_id: Id


@api.get(
    "/alarm-devices",
    tags=[t_alarms],
    responses={200: answer("The devices, by id", {JSON: list[AlarmDevicePublic]}), **errors(401, 403, 422)},
    summary="Block alarm devices",
)
def list_devices_route(query: ZoneQuery) -> Response:
    """A dashboard draws the alarm devices of a zone."""
    devices = alarms.list_devices(session=db(), viewer=viewer(), zone_id=query.zone_id)
    return jsonify([AlarmDevicePublic.model_validate(d).model_dump() for d in devices])


@api.post(
    "/alarms",
    tags=[t_alarms],
    security=DEVICE_KEY,
    responses={201: AlarmPublic, 200: AlarmPublic, **errors(401, 403, 409, 413, 422)},
    summary="Raise a block alarm (pooled per block, idempotent on client_id; devices send X-Device-Key)",
)
def raise_alarm_route(body: AlarmCreate) -> tuple[Response, int]:
    """A phone's panic button or a street alarm device raises its block's alarm."""
    device = g.device
    alarm, event, _created = alarms.raise_alarm(
        session=db(), data=body, index=ronda().index, user=None if device else me(), device=device
    )
    _commit_and_publish(event)
    record = alarms.alarm_records(session=db(), alarms=[alarm])[0]
    who = Viewer(user_id=None, role="neighbor", zone_id=alarm.zone_id) if device else viewer()
    return jsonify(redact(record, viewer=who)), 201 if event is not None else 200


@api.get(
    "/alarms",
    tags=[t_alarms],
    responses={200: answer("The alarms, newest first", {JSON: list[AlarmPublic]}), **errors(401, 403, 422)},
    summary="Alarms, newest first",
)
def list_alarms_route(query: AlarmQuery) -> Response:
    """A dashboard lists the alarms it may see."""
    who = viewer()
    rows = alarms.list_alarms(session=db(), viewer=who, zone_id=query.zone_id, active_only=query.active)
    return jsonify([redact(r, viewer=who) for r in alarms.alarm_records(session=db(), alarms=rows)])


@api.get(
    "/alarms/<int:alarm_id>",
    tags=[t_alarms],
    responses={200: AlarmPublic, **errors(401, 403, 404, 422)},
    summary="One alarm (names who pressed it to police and admins; on the record)",
)
def get_alarm_route(path: AlarmPath) -> Response:
    """A dashboard opens an alarm."""
    alarm = alarms.get_alarm(session=db(), viewer=viewer(), alarm_id=path.alarm_id)
    record = alarms.alarm_records(session=db(), alarms=[alarm])[0]
    view = opened_view(session=db(), record=record, actor=me(), object_type="alarm")
    return jsonify(view)


@api.post(
    "/alarms/<int:alarm_id>/acknowledge",
    tags=[t_alarms],
    responses={200: AlarmPublic, **errors(401, 403, 404, 409, 422)},
    summary="Acknowledge an alarm (police): the 'Atender' button",
)
def acknowledge_alarm_route(path: AlarmPath) -> Response:
    """A police operator takes the alarm."""
    alarm, event = alarms.acknowledge_alarm(session=db(), actor=me(), alarm_id=path.alarm_id)
    _commit_and_publish(event)
    return jsonify(redact(alarms.alarm_records(session=db(), alarms=[alarm])[0], viewer=viewer()))


@api.post(
    "/alarms/<int:alarm_id>/resolve",
    tags=[t_alarms],
    responses={200: AlarmPublic, **errors(401, 403, 404, 409, 413, 422)},
    summary="Close an alarm as real or false",
)
def resolve_alarm_route(path: AlarmPath, body: AlarmResolve) -> Response:
    """Police or the zone's coordinator closes an alarm."""
    alarm, event = alarms.resolve_alarm(session=db(), actor=me(), alarm_id=path.alarm_id, body=body)
    _commit_and_publish(event)
    return jsonify(redact(alarms.alarm_records(session=db(), alarms=[alarm])[0], viewer=viewer()))


# --- events -------------------------------------------------------------------------------


class EventQuery(BaseModel):
    since: int = Field(default=0, ge=0, le=MAX_ID, description="The last seq the client has")
    limit: int = Field(default=500, ge=1, le=1000)


@api.get(
    "/events",
    tags=[t_events],
    responses={200: EventPage, **errors(401, 422)},
    summary="Events after a sequence number",
)
def list_events_route(query: EventQuery) -> Response:
    """A client that was disconnected catches up."""
    who = viewer()
    rows, has_more = events_since(session=db(), viewer=who, since=query.since, limit=query.limit)
    # Only what was returned moves the client on: a second look at the log could count an
    # event committed in between without returning it, and the client would skip it for good.
    newest = int(rows[-1].seq or 0) if rows else query.since
    return jsonify({"events": [event_view(e, viewer=who) for e in rows], "last_seq": newest, "has_more": has_more})


# --- the audit record -----------------------------------------------------------------------


class AuditQuery(BaseModel):
    user: str | None = Field(default=None, max_length=80, description="The actor's username")
    object_type: str | None = Field(
        default=None, max_length=20, description="incident, alarm, patrol, committee, user, device, zone"
    )
    object_id: str | None = Field(default=None, max_length=80)
    action: Literal[audit.ACTIONS] | None = None  # type: ignore[valid-type]
    since: datetime | None = Field(default=None, description="at >= since (ISO 8601)")
    until: datetime | None = Field(default=None, description="at < until (ISO 8601)")
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None
    format: Literal["json", "csv"] = "json"

    @field_validator("since", "until")
    @classmethod
    def _lima_time(cls, value: datetime | None) -> datetime | None:
        return lima_aware(value) if value is not None else None

    @field_validator("user", "object_type", "object_id")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        return clean_text(no_control(value))  # names are refused, not silently changed, with a NUL in them


def record_audit_read(*, session: Session, actor: User, filters: audit.AuditFilter, file_format: str) -> None:
    """Reading the record is on the record too (it names people): who read which part of it."""
    asked = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(filters).items() if v}
    audit.record_apart(
        engine=session.get_bind(),  # type: ignore[arg-type]
        action="audit.read",
        actor=actor,
        detail={"filters": asked, "format": file_format},
    )


def audit_filter(query: AuditQuery) -> audit.AuditFilter:
    """The service's filter of an audit query."""
    return audit.AuditFilter(
        user=query.user,
        object_type=query.object_type,
        object_id=query.object_id,
        action=query.action,
        since=query.since,
        until=query.until,
    )


@api.get(
    "/audit",
    tags=[t_audit],
    responses={
        200: answer(
            "A page of the record, or with format=csv every match as a file",
            {JSON: AuditPage, CSV: str},
            headers=ATTACHMENT,
        ),
        **errors(401, 403, 422),
    },
    summary="The audit record, newest first (admins); format=csv for a file of every matching entry",
)
def list_audit_route(query: AuditQuery) -> Response:
    """An administrator reads who did what."""
    if me().role != "admin":
        raise Forbidden("Solo la administración puede leer el registro de auditoría.")
    filters = audit_filter(query)
    record_audit_read(session=db(), actor=me(), filters=filters, file_format=query.format)
    if query.format == "csv":
        stamp = utcnow().astimezone(LIMA).strftime("%Y%m%d-%H%M")
        return Response(
            stream_with_context(audit.csv_lines(audit.all_entries(session=db(), filters=filters))),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="auditoria-{stamp}.csv"'},
        )
    rows, next_cursor = audit.list_entries(session=db(), filters=filters, limit=query.limit, cursor=query.cursor)
    return jsonify({"items": [audit.entry_view(e) for e in rows], "next_cursor": next_cursor})
