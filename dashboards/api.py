"""JSON/CSV endpoints of the dashboards: the committees' monthly trends."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, field_validator

from dashboards.trends import Month, TrendsError, compute_trends, trends_csv
from security.api import BEARER, authenticate_request, db, viewer
from security.errors import N_, Forbidden, ValidationProblem
from security.models import Id
from security.openapi import ATTACHMENT, CSV, JSON, answer, errors

trends_api = APIBlueprint("trends_api", __name__, url_prefix="/api/v1", abp_security=BEARER, abp_responses=errors(401))
trends_api.before_request(authenticate_request)
t_trends = Tag(name="trends", description="Monthly figures for committee meetings")


class TrendsQuery(BaseModel):
    zone_id: Id | None = Field(default=None, description="A zone; omit for the whole district (police, admins)")
    from_: str = Field(
        alias="from",
        pattern=r"^\d{4}-\d{2}$",
        description="First month, YYYY-MM (Lima time)",
        json_schema_extra={"example": "2026-01"},
    )
    to: str = Field(
        pattern=r"^\d{4}-\d{2}$",
        description="Last month, YYYY-MM (Lima time)",
        json_schema_extra={"example": "2026-06"},
    )
    format: str | None = Field(default=None, pattern="^(json|csv)$", description="csv, or send Accept: text/csv")

    @field_validator("from_", "to")
    @classmethod
    def _month(cls, value: str) -> str:
        try:
            Month.parse(value)
        except TrendsError as exc:
            raise ValueError(N_("Debe ser un mes AAAA-MM.")) from exc
        return value


class TrendsPublic(BaseModel):
    """The figures of a month range (README.md, "Monthly trends for committees")."""

    zone_id: int | None
    zone_name: str | None
    from_: str = Field(alias="from")
    to: str
    months: list[str]
    incidents: dict[str, Any]
    alarms: dict[str, Any]
    response_times: dict[str, Any]
    last_month_by_zone: dict[str, int]
    comparison: dict[str, Any]
    patrols: dict[str, Any]


@trends_api.get(
    "/trends",
    tags=[t_trends],
    responses={
        200: answer(
            "The figures, or with format=csv (or Accept: text/csv) a CSV file",
            {JSON: TrendsPublic, CSV: str},
            headers=ATTACHMENT,
        ),
        **errors(403, 422),
    },
    summary="Committee figures of a zone or the district over a month range",
)
def trends_route(query: TrendsQuery) -> Response:
    """A committee prepares its monthly meeting."""
    who = viewer()
    zone_id = query.zone_id if who.sees_all_zones or query.zone_id is not None else who.zone_id
    if not who.may_see_zone(zone_id) if zone_id is not None else not who.sees_all_zones:
        raise Forbidden("Solo puede consultar su propia zona.")
    try:
        figures = compute_trends(
            session=db(), zone_id=zone_id, first=Month.parse(query.from_), last=Month.parse(query.to)
        )
    except TrendsError as exc:
        field = "zone_id" if "zone" in str(exc) else "from"
        raise ValidationProblem(
            field, "Rango de meses no válido (desde ≤ hasta, máximo 36 meses, zona existente)."
        ) from exc
    wants_csv = query.format == "csv" or (
        query.format is None and request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"
    )
    if wants_csv:
        name = f"tendencias-{figures['zone_id'] or 'distrito'}-{query.from_}-{query.to}.csv"
        return Response(
            trends_csv(figures),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return jsonify(figures)


def init_app(app: Flask) -> None:
    """Register the dashboards' API."""
    app.register_api(trends_api)  # type: ignore[attr-defined]
