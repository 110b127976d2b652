"""Incidents: reporting them (idempotently), listing them, moving them through their statuses."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from security.auth import Viewer, viewer_of
from security.errors import Conflict, Forbidden, NotFound, ValidationProblem
from security.events import append_event
from security.models import (
    OPEN_STATUSES,
    ZONE_BOUND_ROLES,
    Event,
    Incident,
    IncidentChange,
    IncidentCreate,
    IncidentUpdate,
    Patrol,
    PatrolMember,
    User,
    parse_id,
)
from security.visibility import incident_record
from zones.database import utcnow
from zones.geometry import ZoneIndex
from zones.models import Block

# A phone's clock may run a little fast; beyond this a time "in the future" is refused.
CLOCK_SKEW = timedelta(minutes=5)

NEXT_STATUSES: dict[str, tuple[str, ...]] = {
    "reported": ("acknowledged", "dismissed", "duplicate"),
    "acknowledged": ("dispatched", "dismissed", "duplicate"),
    "dispatched": ("resolved", "dismissed", "duplicate"),
}


def report_incident(
    *, session: Session, reporter: User, data: IncidentCreate, index: ZoneIndex
) -> tuple[Incident, Event | None]:
    """Store a report placed in its zone and block; a retried client_id returns the first one.

    Returns the incident and the `incident_reported` event, or None for the event when this
    is a retry of a report already stored (nothing is stored or pushed twice).
    """
    client_id = str(data.client_id)
    existing = _by_client_id(session=session, reporter_id=reporter.id, client_id=client_id)  # type: ignore[arg-type]
    if existing is not None:
        return existing, None
    now = utcnow()
    occurred_at = data.occurred_at or now  # already UTC-aware (IncidentCreate)
    if occurred_at > now + CLOCK_SKEW:
        raise ValidationProblem("occurred_at", "La fecha y hora del hecho está en el futuro.")
    location = index.locate(lat=data.lat, lon=data.lon)
    if location is None:
        raise ValidationProblem(("lat", "lon"), "El punto está fuera del distrito.")
    if reporter.role in ZONE_BOUND_ROLES and location.zone_id != reporter.zone_id:
        raise Forbidden("Solo puede reportar incidentes en su propia zona.")
    patrol_id = reporting_patrol(session=session, patrol_id=data.patrol_id, user=reporter)
    incident = Incident(
        client_id=client_id,
        reporter_id=reporter.id,  # type: ignore[arg-type]
        kind=data.kind,
        lat=data.lat,
        lon=data.lon,
        severity=data.severity,
        description=data.description,
        anonymous=data.anonymous,
        accuracy=data.accuracy,
        zone_id=location.zone_id,
        block_id=location.block_id,
        patrol_id=patrol_id,
        occurred_at=occurred_at,
        reported_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(incident)
    except IntegrityError:
        # The same retry arrived twice at once: the other request stored it first.
        existing = _by_client_id(session=session, reporter_id=reporter.id, client_id=client_id)  # type: ignore[arg-type]
        if existing is None:
            raise
        return existing, None
    record = incident_record(incident=incident, reporter=reporter, block=_block(session, incident.block_id))
    event = append_event(session=session, type="incident_reported", zone_id=incident.zone_id, data=record)
    return incident, event


def reporting_patrol(*, session: Session, patrol_id: int | None, user: User | None) -> int | None:
    """The patrol a report names, checked: it exists and the reporter was on it."""
    if patrol_id is None:
        return None
    if session.get(Patrol, patrol_id) is None:
        raise ValidationProblem("patrol_id", "No existe la ronda %(id)s.", id=patrol_id)
    if user is None or session.get(PatrolMember, (patrol_id, user.id)) is None:
        raise ValidationProblem("patrol_id", "Usted no está en esa ronda.")
    return patrol_id


def _by_client_id(*, session: Session, reporter_id: int, client_id: str) -> Incident | None:
    query = select(Incident).where(Incident.reporter_id == reporter_id, Incident.client_id == client_id)
    return session.exec(query).first()


def _block(session: Session, block_id: int | None) -> Block | None:
    return session.get(Block, block_id) if block_id is not None else None


def get_incident(*, session: Session, viewer: Viewer, incident_id: int) -> Incident:
    """The incident, if it exists and lies in a zone the viewer may see."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("No existe el incidente %(id)s.", id=incident_id)
    if not viewer.may_see_zone(incident.zone_id):
        raise Forbidden("Este incidente es de otra zona.")
    return incident


def may_change_status(*, viewer: Viewer, zone_id: int) -> bool:
    """Police and admins anywhere; a coordinator in their own zone."""
    return viewer.role in ("police", "admin") or (viewer.role == "coordinator" and viewer.zone_id == zone_id)


def change_status(
    *, session: Session, actor: User, incident_id: int, update: IncidentUpdate
) -> tuple[Incident, Event | None]:
    """Move an incident along reported -> acknowledged -> dispatched -> resolved.

    Any open status may also become dismissed, or duplicate (naming `duplicate_of`). Asking
    for the status it already has changes nothing and returns no event (a retried request).
    """
    viewer = viewer_of(actor)
    incident = get_incident(session=session, viewer=viewer, incident_id=incident_id)
    if not may_change_status(viewer=viewer, zone_id=incident.zone_id):
        raise Forbidden("Solo la policía o un coordinador de la zona puede cambiar el estado.")
    target = update.status
    if target == incident.status and (target != "duplicate" or update.duplicate_of == incident.duplicate_of):
        return incident, None
    allowed = NEXT_STATUSES.get(incident.status, ())
    if target not in allowed:
        raise Conflict(
            "No se puede pasar de «%(current)s» a «%(target)s».",
            current=incident.status,
            target=target,
            details={"current_status": incident.status, "allowed": list(allowed)},
        )
    if target == "duplicate":
        if update.duplicate_of is None:
            raise ValidationProblem("duplicate_of", "Indique de qué incidente es duplicado.")
        original = session.get(Incident, update.duplicate_of)
        if original is None or original.id == incident.id or not viewer.may_see_zone(original.zone_id):
            raise ValidationProblem("duplicate_of", "El incidente original no existe o no es válido.")
        incident.duplicate_of = original.id
    elif update.duplicate_of is not None:
        raise ValidationProblem("duplicate_of", "Solo se indica con el estado «duplicate».")
    now = utcnow()
    previous = incident.status
    incident.status = target
    incident.updated_at = now
    if target == "acknowledged":
        incident.acknowledged_at = now
    if target not in OPEN_STATUSES:
        incident.closed_at = now
    session.add(incident)
    session.add(
        IncidentChange(
            incident_id=incident.id,  # type: ignore[arg-type]
            from_status=previous,
            to_status=target,
            note=update.note,
            changed_by=actor.id,  # type: ignore[arg-type]
            changed_at=now,
        )
    )
    session.flush()
    reporter = session.get(User, incident.reporter_id)
    record = incident_record(incident=incident, reporter=reporter, block=_block(session, incident.block_id))
    # Who moved it, by role only: the reporter's phone says "attended by the police station".
    record.update(previous_status=previous, note=update.note, changed_by_role=actor.role)
    event = append_event(session=session, type="incident_updated", zone_id=incident.zone_id, data=record)
    return incident, event


@dataclass(frozen=True)
class IncidentFilter:
    """Filters of an incident listing (all optional)."""

    zone_id: int | None = None
    kind: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat


def encode_cursor(incident_id: int) -> str:
    """An opaque cursor that continues a listing after `incident_id`."""
    return base64.urlsafe_b64encode(f"i:{incident_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The incident id a cursor continues after; ValidationProblem if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        incident_id = parse_id(number)
        if prefix != "i" or incident_id is None:
            raise ValueError(raw)
        return incident_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationProblem("cursor", "El cursor no es válido.") from exc


def list_incidents(
    *, session: Session, viewer: Viewer, filters: IncidentFilter, limit: int, cursor: str | None = None
) -> tuple[list[Incident], str | None]:
    """A page of incidents the viewer may see, newest first, and the cursor of the next page."""
    query = select(Incident)
    zone_id = viewer.zone_scope(filters.zone_id)
    if zone_id is not None:
        query = query.where(Incident.zone_id == zone_id)
    if filters.kind:
        query = query.where(Incident.kind == filters.kind)
    if filters.status:
        query = query.where(Incident.status == filters.status)
    if filters.since:
        query = query.where(col(Incident.occurred_at) >= filters.since)
    if filters.until:
        query = query.where(col(Incident.occurred_at) < filters.until)
    if filters.bbox:
        min_lon, min_lat, max_lon, max_lat = filters.bbox
        if viewer.role == "neighbor":
            # Neighbours see block positions, so they filter on them: a shrinking box must
            # not be a way to find the exact point of a report.
            query = query.join(Block, col(Block.id) == col(Incident.block_id)).where(
                col(Block.center_lon).between(min_lon, max_lon), col(Block.center_lat).between(min_lat, max_lat)
            )
        else:
            query = query.where(
                col(Incident.lon).between(min_lon, max_lon), col(Incident.lat).between(min_lat, max_lat)
            )
    if cursor:
        query = query.where(col(Incident.id) < decode_cursor(cursor))
    rows = list(session.exec(query.order_by(col(Incident.id).desc()).limit(limit + 1)).all())
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit and page else None  # type: ignore[arg-type]
    return page, next_cursor


def incident_records(*, session: Session, incidents: list[Incident]) -> list[dict[str, Any]]:
    """Full records of several incidents, loading their reporters and blocks in two queries."""
    user_ids = {i.reporter_id for i in incidents}
    block_ids = {i.block_id for i in incidents if i.block_id is not None}
    users = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(user_ids))).all()} if user_ids else {}
    blocks = (
        {b.id: b for b in session.exec(select(Block).where(col(Block.id).in_(block_ids))).all()} if block_ids else {}
    )
    return [
        incident_record(
            incident=i,
            reporter=users.get(i.reporter_id),
            block=blocks.get(i.block_id) if i.block_id is not None else None,
        )
        for i in incidents
    ]


def own_incidents(*, session: Session, user: User, limit: int = 50) -> list[Incident]:
    """The incidents a person reported (anonymous ones included), newest first."""
    query = select(Incident).where(Incident.reporter_id == user.id).order_by(col(Incident.id).desc()).limit(limit)
    return list(session.exec(query).all())


def last_changed_by_role(*, session: Session, incident_ids: list[int]) -> dict[int, str]:
    """The role of whoever made each incident's latest status change (incidents never changed are absent)."""
    if not incident_ids:
        return {}
    rows = session.exec(
        select(IncidentChange.incident_id, User.role)
        .join(User, col(User.id) == col(IncidentChange.changed_by))
        .where(col(IncidentChange.incident_id).in_(incident_ids))
        .order_by(col(IncidentChange.id))
    ).all()
    return dict(rows)  # the latest change of each incident comes last and wins
