"""Incidents: reporting them (idempotently), listing them, moving them through their statuses."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from security import audit
from security.auth import Viewer, viewer_of
from security.errors import N_, Conflict, Forbidden, Hidden, NotFound, ValidationProblem
from security.events import append_event
from security.models import (
    OPEN_STATUSES,
    ZONE_BOUND_ROLES,
    Committee,
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
from zones.geometry import ZoneIndex, distance_m
from zones.models import Block

# A phone's clock may run a little fast; beyond this a time "in the future" is refused.
CLOCK_SKEW = timedelta(minutes=5)

# Each status in words (translated where it is shown, e.g. in a refusal's message).
STATUS_LABELS = {
    "reported": N_("Reportado"),
    "acknowledged": N_("Recibido"),
    "dispatched": N_("Patrullero en camino"),
    "resolved": N_("Resuelto"),
    "dismissed": N_("Descartado"),
    "duplicate": N_("Duplicado"),
}

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
    # An anonymous report is on the record without its reporter (nor address or browser), or the
    # record would be a list of who made them: only the incident itself knows, for admins to open.
    audit.record(
        session=session,
        action="incident.reported",
        actor=None if incident.anonymous else reporter,
        actor_role=reporter.role,
        origin=not incident.anonymous,
        object_type="incident",
        object_id=incident.id,
        detail={"kind": incident.kind, "zone_id": incident.zone_id, "anonymous": incident.anonymous},
    )
    return incident, event


def reporting_patrol(*, session: Session, patrol_id: int | None, user: User | None) -> int | None:
    """The patrol a report names, checked: it exists and the reporter was on it."""
    if patrol_id is None:
        return None
    # A patrol one is not on is answered like a missing one: ids are not to be probed.
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
        raise Hidden("No existe el incidente %(id)s.", id=incident_id)
    return incident


def may_change_status(*, viewer: Viewer, zone_id: int) -> bool:
    """Police, serenazgo and admins anywhere; a coordinator in their own zone."""
    return viewer.is_operator or (viewer.role == "coordinator" and viewer.zone_id == zone_id)


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
        raise Forbidden("Solo la policía, el serenazgo o un coordinador de la zona pueden cambiar el estado.")
    target = update.status
    if target == incident.status and (
        (target != "duplicate" or update.duplicate_of == incident.duplicate_of)
        and (target != "dispatched" or update.patrol_id in (None, incident.assigned_patrol_id))
    ):
        return incident, None
    allowed = NEXT_STATUSES.get(incident.status, ())
    redispatch = target == incident.status == "dispatched"  # sent to another patrol
    if target not in allowed and not redispatch:
        raise Conflict(
            "No se puede pasar de «%(current)s» a «%(target)s».",
            current=STATUS_LABELS[incident.status],
            target=STATUS_LABELS[target],
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
    if update.patrol_id is not None:
        if target != "dispatched":
            raise ValidationProblem("patrol_id", "La ronda solo se indica al despachar (estado «dispatched»).")
        patrol = session.get(Patrol, update.patrol_id)
        # Another zone's patrol is answered like a missing one: ids are not to be probed.
        foreign = patrol is not None and not viewer.is_operator and patrol.zone_id != viewer.zone_id
        if patrol is None or patrol.ended_at is not None or foreign:
            raise ValidationProblem("patrol_id", "Esa ronda no existe o ya terminó.")
    now = utcnow()
    previous = incident.status
    previous_patrol = incident.assigned_patrol_id if previous == "dispatched" else None
    incident.status = target
    incident.updated_at = now
    if update.patrol_id is not None:
        incident.assigned_patrol_id = update.patrol_id
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
            patrol_id=update.patrol_id,
        )
    )
    session.flush()
    reporter = session.get(User, incident.reporter_id)
    record = incident_record(
        incident=incident,
        reporter=reporter,
        block=_block(session, incident.block_id),
        assigned_patrol_name=patrol_names(session, {incident.assigned_patrol_id}).get(incident.assigned_patrol_id),
    )
    # Who moved it, by role only: the reporter's phone says "attended by the police station".
    record.update(previous_status=previous, note=update.note, changed_by_role=actor.role)
    # The patrol it was sent to before (reassigned or closed): its phones drop it from their list.
    record["previous_assigned_patrol_id"] = previous_patrol
    event = append_event(session=session, type="incident_updated", zone_id=incident.zone_id, data=record)
    audit.record(
        session=session,
        action="incident.status_changed",
        actor=actor,
        object_type="incident",
        object_id=incident.id,
        detail={
            "from": previous,
            "to": target,
            "note": update.note,
            "duplicate_of": incident.duplicate_of if target == "duplicate" else None,
            "patrol_id": update.patrol_id,
        },
    )
    return incident, event


def patrol_names(session: Session, patrol_ids: set[int | None]) -> dict[int | None, str]:
    """The committee name of each patrol (what a dispatcher calls it)."""
    ids = {i for i in patrol_ids if i is not None}
    if not ids:
        return {}
    rows = session.exec(
        select(Patrol.id, Committee.name)
        .join(Committee, col(Committee.id) == col(Patrol.committee_id))
        .where(col(Patrol.id).in_(ids))
    ).all()
    return dict(rows)


SORTS = ("newest", "oldest", "severity")


@dataclass(frozen=True)
class IncidentFilter:
    """Filters of an incident listing (all optional)."""

    zone_id: int | None = None
    kind: str | None = None
    status: str | None = None  # a status, or "open" (reported, acknowledged or dispatched)
    since: datetime | None = None
    until: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    q: str | None = None  # text in descriptions (not for neighbours: they do not see them)
    severity: int | None = None
    sort: str = "newest"  # newest | oldest | severity (highest first, then newest)


_CURSOR_PREFIX = {"newest": "i", "oldest": "o"}


def encode_cursor(incident_id: int, *, severity: int | None = None, sort: str = "newest") -> str:
    """An opaque cursor that continues a listing after `incident_id` (and `severity`, sorted by it)."""
    raw = f"{_CURSOR_PREFIX.get(sort, 'i')}:{incident_id}" if severity is None else f"s:{severity}:{incident_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort: str = "newest") -> tuple[int | None, int]:
    """(severity, incident id) a cursor continues after; ValidationProblem if it is not one of ours
    or belongs to another sort order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = raw.split(":")
        if sort == "severity":
            if len(parts) != 3 or parts[0] != "s" or parts[1] not in ("1", "2", "3"):
                raise ValueError(raw)
            severity: int | None = int(parts[1])
        else:
            if len(parts) != 2 or parts[0] != _CURSOR_PREFIX.get(sort, "i"):
                raise ValueError(raw)
            severity = None
        incident_id = parse_id(parts[-1])
        if incident_id is None:
            raise ValueError(raw)
        return severity, incident_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationProblem("cursor", "El cursor no es válido.") from exc


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def list_incidents(
    *, session: Session, viewer: Viewer, filters: IncidentFilter, limit: int, cursor: str | None = None
) -> tuple[list[Incident], str | None]:
    """A page of incidents the viewer may see, in the filter's order, and the cursor of the next page."""
    if filters.sort not in SORTS:
        raise ValidationProblem("sort", "Orden desconocido.")
    query = select(Incident)
    zone_id = viewer.zone_scope(filters.zone_id)
    if zone_id is not None:
        query = query.where(Incident.zone_id == zone_id)
    if filters.kind:
        query = query.where(Incident.kind == filters.kind)
    if filters.status == "open":
        query = query.where(col(Incident.status).in_(OPEN_STATUSES))
    elif filters.status:
        query = query.where(Incident.status == filters.status)
    if filters.severity:
        query = query.where(Incident.severity == filters.severity)
    if filters.since:
        query = query.where(col(Incident.occurred_at) >= filters.since)
    if filters.until:
        query = query.where(col(Incident.occurred_at) < filters.until)
    if filters.q:
        if viewer.role == "neighbor":
            raise ValidationProblem(
                "q", "Las descripciones no son visibles para los vecinos; no se puede buscar en ellas."
            )
        query = query.where(func.lower(col(Incident.description)).like(_like_pattern(filters.q), escape="\\"))
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
    if filters.sort == "oldest":
        if cursor:
            query = query.where(col(Incident.id) > decode_cursor(cursor, sort="oldest")[1])
        query = query.order_by(col(Incident.id))
    elif filters.sort == "severity":
        if cursor:
            after_severity, after_id = decode_cursor(cursor, sort="severity")
            query = query.where(
                or_(
                    col(Incident.severity) < after_severity,
                    and_(col(Incident.severity) == after_severity, col(Incident.id) < after_id),
                )
            )
        query = query.order_by(col(Incident.severity).desc(), col(Incident.id).desc())
    else:
        if cursor:
            query = query.where(col(Incident.id) < decode_cursor(cursor)[1])
        query = query.order_by(col(Incident.id).desc())
    rows = list(session.exec(query.limit(limit + 1)).all())
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit and page:
        last = page[-1]
        next_cursor = encode_cursor(
            last.id,  # type: ignore[arg-type]
            severity=last.severity if filters.sort == "severity" else None,
            sort=filters.sort,
        )
    return page, next_cursor


def incident_records(*, session: Session, incidents: list[Incident]) -> list[dict[str, Any]]:
    """Full records of several incidents, loading their reporters, blocks and patrols in three queries."""
    user_ids = {i.reporter_id for i in incidents}
    block_ids = {i.block_id for i in incidents if i.block_id is not None}
    users = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(user_ids))).all()} if user_ids else {}
    blocks = (
        {b.id: b for b in session.exec(select(Block).where(col(Block.id).in_(block_ids))).all()} if block_ids else {}
    )
    names = patrol_names(session, {i.assigned_patrol_id for i in incidents})
    return [
        incident_record(
            incident=i,
            reporter=users.get(i.reporter_id),
            block=blocks.get(i.block_id) if i.block_id is not None else None,
            assigned_patrol_name=names.get(i.assigned_patrol_id),
        )
        for i in incidents
    ]


def incident_history(*, session: Session, viewer: Viewer, incident_id: int) -> list[dict[str, Any]]:
    """Each status change of an incident, oldest first: when, by which role, the note (not for
    neighbours) and the patrol it was sent to. Nobody is named."""
    get_incident(session=session, viewer=viewer, incident_id=incident_id)
    rows = session.exec(
        select(IncidentChange, User.role)
        .join(User, col(User.id) == col(IncidentChange.changed_by))
        .where(IncidentChange.incident_id == incident_id)
        .order_by(col(IncidentChange.id))
    ).all()
    neighbour = viewer.role == "neighbor"
    names = {} if neighbour else patrol_names(session, {change.patrol_id for change, _ in rows})
    return [
        {
            "at": change.changed_at.isoformat(),
            "from_status": change.from_status,
            "to_status": change.to_status,
            "note": None if neighbour else change.note,
            "by_role": role,
            "assigned_patrol_id": None if neighbour else change.patrol_id,
            "assigned_patrol_name": names.get(change.patrol_id),
        }
        for change, role in rows
    ]


# Another report of the same thing: same kind, this close, this near in time, still open.
DUPLICATE_RADIUS_M = 150.0
DUPLICATE_WINDOW = timedelta(minutes=30)
SUGGESTIONS = 5


def suggestions(*, session: Session, viewer: Viewer, incident_id: int) -> dict[str, list[dict[str, Any]]]:
    """For whoever may move an incident on: open reports it may duplicate, nearest first, and the
    active patrols to dispatch, nearest first (those with no position yet last)."""
    incident = get_incident(session=session, viewer=viewer, incident_id=incident_id)
    if not may_change_status(viewer=viewer, zone_id=incident.zone_id):
        raise Forbidden("Solo la policía, el serenazgo o un coordinador de la zona pueden cambiar el estado.")
    # A box a little larger than the radius narrows the search in SQL; the distance decides.
    dlat = DUPLICATE_RADIUS_M / 111_000 * 1.2
    dlon = dlat / max(0.2, math.cos(math.radians(incident.lat)))
    candidates = session.exec(
        select(Incident).where(
            Incident.kind == incident.kind,
            col(Incident.id) != incident.id,
            col(Incident.status).in_(OPEN_STATUSES),
            col(Incident.occurred_at).between(
                incident.occurred_at - DUPLICATE_WINDOW, incident.occurred_at + DUPLICATE_WINDOW
            ),
            col(Incident.lat).between(incident.lat - dlat, incident.lat + dlat),
            col(Incident.lon).between(incident.lon - dlon, incident.lon + dlon),
        )
    ).all()
    near = []
    for other in candidates:
        if not viewer.may_see_zone(other.zone_id):
            continue
        metres = distance_m(lat1=incident.lat, lon1=incident.lon, lat2=other.lat, lon2=other.lon)
        if metres <= DUPLICATE_RADIUS_M:
            near.append((metres, other))
    near.sort(key=lambda pair: (pair[0], pair[1].id))
    near = near[:SUGGESTIONS]
    duplicates = []
    records = incident_records(session=session, incidents=[o for _, o in near])
    for (metres, other), record in zip(near, records, strict=True):
        record["distance_m"] = round(metres)
        record["minutes_apart"] = round(abs((other.occurred_at - incident.occurred_at).total_seconds()) / 60)
        duplicates.append(record)

    query = select(Patrol, Committee.name).join(Committee, col(Committee.id) == col(Patrol.committee_id))
    query = query.where(col(Patrol.ended_at).is_(None))
    if not viewer.is_operator:
        # Their zone's patrols, and the one already sent (police may send the next zone's).
        query = query.where(or_(col(Patrol.zone_id) == viewer.zone_id, col(Patrol.id) == incident.assigned_patrol_id))
    active = list(session.exec(query).all())
    counts: dict[int, int] = {}
    if active:
        counts = dict(
            session.exec(
                select(PatrolMember.patrol_id, func.count())
                .where(col(PatrolMember.patrol_id).in_([p.id for p, _ in active]))
                .group_by(col(PatrolMember.patrol_id))
            ).all()
        )
    patrols = []
    for patrol, committee_name in active:
        away: float | None = None
        if patrol.last_lat is not None and patrol.last_lon is not None:
            away = distance_m(lat1=incident.lat, lon1=incident.lon, lat2=patrol.last_lat, lon2=patrol.last_lon)
        patrols.append(
            {
                "id": patrol.id,
                "committee_name": committee_name,
                "zone_id": patrol.zone_id,
                "distance_m": round(away) if away is not None else None,
                # Where a patrol is, is for operators (as everywhere); a coordinator gets the distance.
                "last_position": (
                    {"t": patrol.last_position_at.isoformat(), "lat": patrol.last_lat, "lon": patrol.last_lon}
                    if patrol.last_position_at is not None and viewer.is_operator
                    else None
                ),
                "member_count": int(counts.get(patrol.id or 0, 0)),
            }
        )
    patrols.sort(key=lambda p: (p["distance_m"] is None, p["distance_m"] or 0, p["id"]))
    nearest = patrols[:SUGGESTIONS]
    # The patrol already sent is always listed while it is active: a screen that does not hear
    # patrol events tells from its absence that it has ended.
    nearest += [p for p in patrols[SUGGESTIONS:] if p["id"] == incident.assigned_patrol_id]
    return {"duplicates": duplicates, "patrols": nearest}


def patrol_assignments(*, session: Session, patrol_id: int) -> list[Incident]:
    """The open incidents a patrol has been dispatched to, oldest first."""
    query = select(Incident).where(Incident.assigned_patrol_id == patrol_id, Incident.status == "dispatched")
    return list(session.exec(query.order_by(col(Incident.id))).all())


def dispatch_notes(*, session: Session, incident_ids: list[int]) -> dict[int, str | None]:
    """The dispatcher's note of each incident's latest dispatch (what its patrol was told)."""
    if not incident_ids:
        return {}
    rows = session.exec(
        select(IncidentChange.incident_id, IncidentChange.note)
        .where(col(IncidentChange.incident_id).in_(incident_ids), IncidentChange.to_status == "dispatched")
        .order_by(col(IncidentChange.id))
    ).all()
    return dict(rows)  # the latest dispatch of each incident comes last and wins


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
