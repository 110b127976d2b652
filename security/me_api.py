"""The API of the signed-in person (under /api/v1/me): who they are, their committees and shift,
and their own reports with how each is being handled ("Mis reportes" on the phone).

Live changes of one's own reports reach the phone over Socket.IO as `own_report_updated`
(see security.push); after a disconnection the phone reads `/me/reports` again.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlmodel import col, select

from security import accounts, alarms, incidents, patrols
from security.api import BEARER, authenticate_request, db, me, viewer
from security.committees import MEMBER_ROLES
from security.models import Committee, CommitteeMember
from security.openapi import errors
from security.visibility import assignment_view, own_view
from zones.models import Zone

me_api = APIBlueprint("me_api", __name__, url_prefix="/api/v1", abp_security=BEARER)
me_api.before_request(authenticate_request)
t_me = Tag(name="me", description="The signed-in person: profile, shift and own reports")


class CommitteeRef(BaseModel):
    id: int
    name: str


class MePublic(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    zone_id: int | None
    zone_name: str | None
    committees: list[CommitteeRef] = Field(description="The committees they patrol with (volunteers, coordinators)")
    active_patrol: dict[str, Any] | None = Field(
        description="The shift they are on now, if any, with `assignments`: the open incidents the station "
        "dispatched it to"
    )


class OwnReportsQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200, description="Of each kind, newest first")


class OwnReports(BaseModel):
    incidents: list[dict[str, Any]]
    alarms: list[dict[str, Any]]


@me_api.get("/me", tags=[t_me], responses={200: MePublic, **errors(401)}, summary="Who the token belongs to")
def me_route() -> Response:
    """A phone learns who signed in, their committees and the shift they are on."""
    user = me()
    session = db()
    zone = session.get(Zone, user.zone_id) if user.zone_id is not None else None
    committees: list[dict[str, Any]] = []
    active = None
    if user.role in MEMBER_ROLES:
        rows = session.exec(
            select(Committee)
            .join(CommitteeMember, col(CommitteeMember.committee_id) == col(Committee.id))
            .where(CommitteeMember.user_id == user.id, col(Committee.active).is_(True))
            .order_by(col(Committee.name))
        ).all()
        committees = [{"id": c.id, "name": c.name} for c in rows]
        patrol = patrols.active_patrol_of(session=session, user_ids={int(user.id)})  # type: ignore[arg-type]
        if patrol is not None:
            active = patrols.patrol_view(patrols.patrol_record(session, patrol), viewer=viewer())
            sent = incidents.patrol_assignments(session=session, patrol_id=int(patrol.id))  # type: ignore[arg-type]
            notes = incidents.dispatch_notes(session=session, incident_ids=[int(i.id) for i in sent])  # type: ignore[arg-type]
            active["assignments"] = [
                assignment_view(r | {"note": notes.get(r["id"])})
                for r in incidents.incident_records(session=session, incidents=sent)
            ]
    return jsonify(
        {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role,
            "zone_id": user.zone_id,
            "zone_name": zone.name if zone is not None else None,
            "committees": committees,
            "active_patrol": active,
        }
    )


@me_api.get(
    "/me/reports",
    tags=[t_me],
    responses={200: OwnReports, **errors(401, 422)},
    summary="One's own incidents and alarms, newest first",
)
def own_reports_route(query: OwnReportsQuery) -> Response:
    """A phone shows "Mis reportes": what its person reported and what became of it."""
    user = me()
    session = db()
    own_incidents = incidents.own_incidents(session=session, user=user, limit=query.limit)
    own_alarms = alarms.own_alarms(session=session, user=user, limit=query.limit)
    records = incidents.incident_records(session=session, incidents=own_incidents)
    roles = incidents.last_changed_by_role(session=session, incident_ids=[int(i.id) for i in own_incidents])  # type: ignore[arg-type]
    for record in records:
        record["changed_by_role"] = roles.get(record["id"])
    presses = alarms.own_presses(session=session, user=user, alarm_ids=[int(a.id) for a in own_alarms])  # type: ignore[arg-type]
    alarm_views = []
    for alarm, record in zip(own_alarms, alarms.alarm_records(session=session, alarms=own_alarms), strict=True):
        view = own_view(record)
        pressed = presses.get(int(alarm.id))  # type: ignore[arg-type]
        view["my_pressed_at"] = pressed.isoformat() if pressed else None
        view["joined"] = alarm.raised_by != user.id  # their press joined an alarm someone else raised
        alarm_views.append(view)
    return jsonify({"incidents": [own_view(r) for r in records], "alarms": alarm_views})


@me_api.delete(
    "/me/sessions",
    tags=[t_me],
    responses={204: None, **errors(401)},
    summary="End every session of the signed-in person (a lost phone): every token, this one included",
)
def end_sessions_route() -> tuple[str, int]:
    """A person closes every session they have, on every phone and browser."""
    user = me()
    accounts.end_all_sessions(session=db(), user=user, actor=user)
    db().commit()
    return "", 204


def init_app(app: Flask) -> None:
    """Register the API of the signed-in person."""
    app.register_api(me_api)  # type: ignore[attr-defined]
