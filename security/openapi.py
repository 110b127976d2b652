"""What the OpenAPI document (/api/v1/openapi.json) says each route answers.

flask-openapi3 writes the document from each route's models and `responses=`; this module gives
every API module the same words for what it cannot infer: Ronda's one error body and the 4xx a
route may give (`errors(401, 404, 422)`), answers that are not a JSON object (arrays, GeoJSON,
CSV: `answer(...)`), and the response headers clients act on (`WWW-Authenticate`, `Retry-After`,
`Content-Disposition`). `tests/test_openapi_fuzz.py` holds the document to what the code does.

A route declares, next to its success model, every error it can give, e.g.:

    @api.get("/incidents/<int:incident_id>", responses={200: IncidentPublic, **errors(401, 403, 404, 422)})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from flask_openapi3 import OpenAPI
from flask_openapi3.models import Schema
from flask_openapi3.types import ResponseDict
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

REF = "#/components/schemas/{model}"
JSON = "application/json"
GEOJSON = "application/geo+json"
CSV = "text/csv"

# OpenAPI's "no authentication" requirement. flask-openapi3 appends a blueprint's own security to a
# route's, so a public route of a bearer blueprint says "no token, or one (which is ignored)".
PUBLIC: list[dict[str, list[str]]] = [{}]


class FieldProblem(BaseModel):
    field: str = Field(
        description="The refused field: a body field (dotted when nested, e.g. positions.3.lat; data.lat in a sync "
        "operation's error), a query or path parameter, or `body` for the body as a whole"
    )
    problem: str = Field(description="What is wrong with it, in the caller's language")
    code: str = Field(
        description="Stable: pydantic's error type (missing, less_than_equal, string_unicode, value_error...), "
        "`domain` for a rule of Ronda's, json_too_deep or json_invalid for the body"
    )


class ErrorBody(BaseModel):
    """Every error of the API, whatever its status: {error, message, fields?, ...details}."""

    # Some errors add details: `reason` (401), `current_status` and `allowed` (409), `retry` (409: the
    # same request sent again will go through), `active_patrol_id` (409).
    model_config = ConfigDict(extra="allow")

    error: str = Field(
        description="Stable code: validation_error, unauthorized, forbidden, not_found, conflict, bad_request, "
        "request_entity_too_large, too_many_attempts, busy..."
    )
    message: str = Field(description="For people: Spanish unless the client asks for English (Accept-Language, ?lang=)")
    fields: list[FieldProblem] = Field(default_factory=list, description="422: each refused field and why")


_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'Bearer realm="ronda"',
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying to sign in again",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before sending the same request again",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}

_DESCRIPTIONS = {
    400: "Malformed request (e.g. a gzip body that does not unpack)",
    401: "Missing, invalid or expired token, or a wrong username or password (`reason`: missing, invalid, "
    "expired, credentials)",
    403: "The caller's role or zone may not do this",
    404: "No such object (or one the caller may not know of), or a path that is no route (an id that is not a "
    "positive number)",
    409: "Clashes with the current state (details in the body; `retry: true`: send it again)",
    413: "The request is too large",
    422: "Refused fields, each named in `fields` with its problem",
    429: "Too many failed sign-ins: wait Retry-After seconds",
    503: "Busy: send the same request again after Retry-After seconds",
}

# Schemas that routes refer to and flask-openapi3 does not collect itself (it only collects the
# models it is given directly); RondaOpenAPI adds them to the document's components.
_SCHEMAS: dict[str, dict[str, Any]] = {}


def schema_of(kind: Any) -> dict[str, Any]:
    """The JSON schema of a model, a list of models, str, or any type pydantic knows, by reference for models."""
    if kind is str:
        return {"type": "string"}
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        schema = kind.model_json_schema(ref_template=REF, mode="serialization")
        name = kind.__name__
    else:
        schema = TypeAdapter(kind).json_schema(ref_template=REF, mode="serialization")
        name = None
    for defined, definition in schema.pop("$defs", {}).items():
        _SCHEMAS[defined] = definition
    if name is None:
        return schema
    _SCHEMAS[name] = schema
    return {"$ref": REF.format(model=name)}


def answer(
    description: str, content: Mapping[str, Any], *, headers: Mapping[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A response of the document: its media types (each with its type) and the headers it carries."""
    response: dict[str, Any] = {
        "description": description,
        "content": {media_type: {"schema": schema_of(kind)} for media_type, kind in content.items()},
    }
    if headers:
        response["headers"] = dict(headers)
    return response


def errors(*statuses: int) -> ResponseDict:
    """The error answers a route may give, each with Ronda's error body (and headers where they matter)."""
    return {
        status: answer(_DESCRIPTIONS[status], {JSON: ErrorBody}, headers=_HEADERS.get(status)) for status in statuses
    }


class Feature(BaseModel):
    """An RFC 7946 Feature (WGS84 longitude, latitude)."""

    type: Literal["Feature"]
    id: int | str | None = None
    geometry: dict[str, Any] | None
    properties: dict[str, Any] | None


class FeatureCollection(BaseModel):
    """An RFC 7946 FeatureCollection, answered as application/geo+json."""

    type: Literal["FeatureCollection"]
    features: list[Feature]


# An export's file name, for the file answers of CSV and GeoJSON downloads.
ATTACHMENT = {
    "Content-Disposition": {
        "description": 'Sent with files (CSV, GeoJSON downloads): attachment; filename="..."',
        "schema": {"type": "string"},
    }
}


class RondaOpenAPI(OpenAPI):
    """flask-openapi3's application, whose document carries Ronda's error body for every 422.

    flask-openapi3 adds a 422 to each operation that declares none, as a list of pydantic errors;
    Ronda's validation errors are one ErrorBody (see security.api.validation_error_response), and
    an operation that takes no input at all cannot give one.
    """

    def generate_spec_json(self) -> None:
        """The document, with the schemas `answer` refers to, every 422 as Ronda answers it, and the
        answers any request body may get before its route sees it (security.api's before_request)."""
        for name, schema in _SCHEMAS.items():
            self.components_schemas.setdefault(name, Schema(**schema))
        super().generate_spec_json()
        invalid = answer(_DESCRIPTIONS[422], {JSON: ErrorBody})
        for path_item in self.spec_json["paths"].values():
            for operation in path_item.values():
                answers = operation["responses"]
                if operation.get("requestBody"):
                    # A gzipped body that does not unpack (400), or too large once unpacked (413).
                    for status, response in errors(400, 413).items():
                        answers.setdefault(str(status), response)
                declared = answers.get("422", {})
                if declared.get("content", {}).get(JSON, {}).get("schema", {}).get("type") != "array":
                    continue  # declared by the route itself
                if operation.get("parameters") or operation.get("requestBody"):
                    answers["422"] = invalid
                else:
                    del answers["422"]
