"""Patrols: a committee's shift in the street, its members, its track, and its distance.

Times come from the phone (what the committee counts) and are stored beside the server's
receipt time. Positions are kept only while a shift lasts: a point recorded before the
patrol started or after it ended is refused, so no volunteer is tracked off duty.
Distances are measured on a metric projection (UTM zone 18S, EPSG:32718, which covers Lima).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from pyproj import Transformer
from sqlalchemy import delete, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from security import audit
from security.auth import Viewer, viewer_of
from security.committees import is_member, member_ids
from security.errors import Conflict, Forbidden, Hidden, NotFound, Unknown, ValidationProblem
from security.events import append_event
from security.incidents import CLOCK_SKEW
from security.models import (
    Committee,
    CommitteeMember,
    Event,
    Patrol,
    PatrolCreate,
    PatrolEnd,
    PatrolMember,
    PatrolPosition,
    PositionIn,
    Tracker,
    User,
)
from security.visibility import person
from zones.database import utcnow

METRIC_CRS = "EPSG:32718"  # UTM zone 18S: metres, for Lima and Callao
_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
# A point less precise than this says little about where the patrol walked; a jump faster
# than this between two points is a GPS glitch, not a patrol (about 110 km/h).
MAX_ACCURACY_M = 100.0
MAX_SPEED_MS = 30.0
# A shift left open longer than this is closed by the server and flagged.
MAX_OPEN = timedelta(hours=12)
TRACK_MINUTES = 15


# --- starting and ending -----------------------------------------------------------------


def start_patrol(*, session: Session, actor: User, data: PatrolCreate) -> tuple[Patrol, list[Event]]:
    """Start a committee's shift with the members present; a retried client_id returns the first.

    The starter must belong to the committee (admins may start one for it) and is counted
    present; every member named must belong to it and be on no other active patrol. Returns
    the patrol and its events: `patrol_started`, after the `patrol_ended` of any overdue
    shift closed on the way; none for a retry.
    """
    client_id = str(data.client_id)
    existing = _by_client_id(session=session, user_id=actor.id, client_id=client_id)  # type: ignore[arg-type]
    if existing is not None:
        return existing, []
    committee = session.get(Committee, data.committee_id)
    if committee is None or not committee.active:
        raise ValidationProblem("committee_id", "No existe el comité %(id)s.", id=data.committee_id)
    starter_is_member = is_member(session=session, committee_id=committee.id, user_id=actor.id)  # type: ignore[arg-type]
    if not starter_is_member and actor.role != "admin":
        if not viewer_of(actor).may_see_zone(committee.zone_id):  # another zone's: like a missing one
            raise Unknown("committee_id", "No existe el comité %(id)s.", id=data.committee_id)
        raise Forbidden("Solo los miembros del comité pueden iniciar su ronda.")
    now = utcnow()
    started_at = data.started_at or now
    if started_at > now + CLOCK_SKEW:
        raise ValidationProblem("started_at", "La hora de inicio está en el futuro.")
    present: set[int] = set(data.members) | ({int(actor.id)} if starter_is_member and actor.id else set())
    if not present:
        raise ValidationProblem("members", "Indique al menos un miembro presente.")
    outsiders = present - member_ids(session=session, committee_id=committee.id)  # type: ignore[arg-type]
    if outsiders:
        raise ValidationProblem(
            "members", "No son miembros del comité: %(ids)s.", ids=", ".join(str(i) for i in sorted(outsiders))
        )
    events = close_overdue(session=session, now=now)  # a shift forgotten yesterday must not block today's
    busy = active_patrol_of(session=session, user_ids=present)
    if busy is not None:
        raise Conflict(
            "Un miembro ya está en otra ronda activa (%(id)s); termínela primero.",
            id=busy.id,
            details={"active_patrol_id": busy.id},
        )
    patrol = Patrol(
        client_id=client_id,
        committee_id=committee.id,  # type: ignore[arg-type]
        zone_id=committee.zone_id,
        started_by=actor.id,  # type: ignore[arg-type]
        planned_route=data.planned_route.model_dump_json() if data.planned_route else None,
        started_at=started_at,
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(patrol)
            session.flush()
            for user_id in sorted(present):
                session.add(PatrolMember(patrol_id=patrol.id, user_id=user_id))  # type: ignore[arg-type]
            session.flush()
    except IntegrityError:
        # The same retry arrived twice at once: the other request stored it first.
        existing = _by_client_id(session=session, user_id=actor.id, client_id=client_id)  # type: ignore[arg-type]
        if existing is None:
            raise
        return existing, events
    events.append(
        append_event(
            session=session, type="patrol_started", zone_id=patrol.zone_id, data=patrol_record(session, patrol)
        )
    )
    audit.record(
        session=session,
        action="patrol.started",
        actor=actor,
        object_type="patrol",
        object_id=patrol.id,
        detail={"committee_id": patrol.committee_id, "members": sorted(present)},
    )
    return patrol, events


def _by_client_id(*, session: Session, user_id: int, client_id: str) -> Patrol | None:
    query = select(Patrol).where(Patrol.started_by == user_id, Patrol.client_id == client_id)
    return session.exec(query).first()


def active_patrol_of(*, session: Session, user_ids: set[int]) -> Patrol | None:
    """An active patrol one of these users is on, if any."""
    if not user_ids:
        return None
    query = (
        select(Patrol)
        .join(PatrolMember, col(PatrolMember.patrol_id) == col(Patrol.id))
        .where(col(PatrolMember.user_id).in_(user_ids), col(Patrol.ended_at).is_(None))
        .order_by(col(Patrol.id).desc())
    )
    return session.exec(query).first()


def get_patrol(*, session: Session, viewer: Viewer, patrol_id: int) -> Patrol:
    """The patrol, for police and admins, or for a member of its committee (never neighbours)."""
    if viewer.role == "neighbor":
        raise Forbidden("Las rondas solo son visibles para la policía y los comités.")
    patrol = session.get(Patrol, patrol_id)
    if patrol is None:
        raise NotFound("No existe la ronda %(id)s.", id=patrol_id)
    # Another zone's or another committee's patrol is answered like a missing one.
    if not viewer.sees_all_zones and (
        patrol.zone_id != viewer.zone_id
        or not is_member(session=session, committee_id=patrol.committee_id, user_id=viewer.user_id)
    ):
        raise Hidden("No existe la ronda %(id)s.", id=patrol_id)
    return patrol


def patrol_member_ids(*, session: Session, patrol_ids: set[int]) -> set[int]:
    """The user ids of the members of these patrols."""
    if not patrol_ids:
        return set()
    query = select(PatrolMember.user_id).where(col(PatrolMember.patrol_id).in_(patrol_ids))
    return set(session.exec(query).all())


def _is_on_patrol(session: Session, patrol: Patrol, user_id: int | None) -> bool:
    return user_id is not None and session.get(PatrolMember, (patrol.id, user_id)) is not None


def end_patrol(*, session: Session, actor: User, patrol_id: int, data: PatrolEnd) -> tuple[Patrol, Event | None]:
    """End a shift (its members, the committee's coordinators, police, admins); ending it again
    changes nothing."""
    viewer = viewer_of(actor)
    patrol = get_patrol(session=session, viewer=viewer, patrol_id=patrol_id)
    allowed = (
        viewer.role in ("police", "admin")
        or _is_on_patrol(session, patrol, actor.id)
        or (
            actor.role == "coordinator"
            and is_member(session=session, committee_id=patrol.committee_id, user_id=actor.id)
        )
    )
    if not allowed:
        raise Forbidden("Solo los miembros de la ronda, su coordinador o la policía pueden terminarla.")
    # A shift the server closed (its phone was offline) takes the end its phone recorded.
    correcting = patrol.auto_closed and data.ended_at is not None
    if patrol.ended_at is not None and not correcting:
        return patrol, None
    now = utcnow()
    ended_at = data.ended_at or now
    if ended_at > now + CLOCK_SKEW:
        raise ValidationProblem("ended_at", "La hora de fin está en el futuro.")
    if ended_at < patrol.started_at:
        raise ValidationProblem("ended_at", "La hora de fin es anterior al inicio de la ronda.")
    if correcting and ended_at > patrol.started_at + MAX_OPEN:
        raise ValidationProblem("ended_at", "Una ronda no dura más de 12 horas.")
    if not _close(session, patrol, ended_at=ended_at, now=now, ended_by=actor.id, auto=False, reopen=correcting):
        session.refresh(patrol)  # closed meanwhile by another request or the server
        return patrol, None
    audit.record(
        session=session,
        action="patrol.ended",
        actor=actor,
        object_type="patrol",
        object_id=patrol.id,
        detail={"ended_at": ended_at.isoformat(), "corrected": correcting},
    )
    return patrol, append_event(
        session=session, type="patrol_ended", zone_id=patrol.zone_id, data=patrol_record(session, patrol)
    )


def _close(
    session: Session,
    patrol: Patrol,
    *,
    ended_at: datetime,
    now: datetime,
    ended_by: int | None,
    auto: bool,
    reopen: bool = False,
) -> bool:
    """Close a patrol at `ended_at` (or, `reopen`, correct the end the server gave it).

    Points outside the shift are deleted (nobody is tracked off duty), then the track is
    measured. False when another request or process closed it first.
    """
    session.execute(
        delete(PatrolPosition).where(
            col(PatrolPosition.patrol_id) == patrol.id,
            or_(col(PatrolPosition.t) < patrol.started_at, col(PatrolPosition.t) > ended_at),
        )
    )
    distance = measure_distance(session=session, patrol_id=patrol.id)  # type: ignore[arg-type]
    still = col(Patrol.auto_closed).is_(True) if reopen else col(Patrol.ended_at).is_(None)
    claimed = session.execute(
        update(Patrol)
        .where(col(Patrol.id) == patrol.id, still)
        .values(ended_at=ended_at, end_received_at=now, ended_by=ended_by, auto_closed=auto, distance_m=distance)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(patrol)
    return True


def close_overdue(*, session: Session, now: datetime | None = None, max_open: timedelta = MAX_OPEN) -> list[Event]:
    """Close, flagged, every patrol open longer than `max_open`; returns their `patrol_ended` events.

    Its end is its last position within the shift's first `max_open`, else its start: hours
    nobody recorded are not counted as patrolled. Its phone's own end, when it arrives later
    (an offline shift synced the next day), replaces it; so do late points, moving the end to
    the newest. A conditional update claims each patrol, so two server processes never close
    one twice.
    """
    now = now or utcnow()
    due = session.exec(
        select(Patrol).where(col(Patrol.ended_at).is_(None), col(Patrol.started_at) <= now - max_open)
    ).all()
    events: list[Event] = []
    for patrol in due:
        limit = patrol.started_at + max_open
        last = patrol.last_position_at
        ended_at = last if last is not None and patrol.started_at <= last <= limit else patrol.started_at
        if _close(session, patrol, ended_at=ended_at, now=now, ended_by=None, auto=True):
            audit.record(
                session=session,
                action="patrol.ended",
                object_type="patrol",
                object_id=patrol.id,
                detail={"ended_at": ended_at.isoformat(), "auto_closed": True},
                origin=False,  # the server closed it, whichever request it ran in
            )
            events.append(
                append_event(
                    session=session, type="patrol_ended", zone_id=patrol.zone_id, data=patrol_record(session, patrol)
                )
            )
    return events


# --- positions ---------------------------------------------------------------------------


@dataclass
class PositionsResult:
    """What a batch of positions did: stored, already stored, refused (index, field, problem)."""

    patrol: Patrol
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    new_points: list[PatrolPosition] = field(default_factory=list)


def record_positions(
    *, session: Session, actor: User, patrol_id: int, positions: list[PositionIn], source: str = "app"
) -> PositionsResult:
    """Store the points a member's phone recorded on a patrol (idempotent per point time).

    A point in the future, or outside the shift, is refused on its own: the others are kept.
    """
    patrol = session.get(Patrol, patrol_id)
    if patrol is None:
        raise NotFound("No existe la ronda %(id)s.", id=patrol_id)
    if actor.role != "admin" and not _is_on_patrol(session, patrol, actor.id):
        get_patrol(session=session, viewer=viewer_of(actor), patrol_id=patrol_id)  # one they may not see: hidden
        raise Forbidden("Solo los miembros de la ronda pueden enviar sus posiciones.")
    return store_positions(session=session, patrol=patrol, positions=positions, source=source)


def store_positions(*, session: Session, patrol: Patrol, positions: list[PositionIn], source: str) -> PositionsResult:
    """Store points of `patrol` (the caller has checked who sends them)."""
    now = utcnow()
    result = PositionsResult(patrol=patrol)
    if patrol.ended_at is None:  # in the street: the phone's and the server's clocks may differ a little
        earliest, latest = patrol.started_at - CLOCK_SKEW, now + CLOCK_SKEW
    elif patrol.auto_closed:  # closed by the server, the phone still had points to send
        earliest, latest = patrol.started_at, min(now, patrol.started_at + MAX_OPEN)
    else:  # ended by its members: the shift is exactly what they said
        earliest, latest = patrol.started_at, patrol.ended_at
    fresh: dict[datetime, PositionIn] = {}
    for index, point in enumerate(positions):
        if point.t > now + CLOCK_SKEW:
            result.rejected.append({"index": index, "field": "t", "problem": "future"})
        elif point.t < earliest or point.t > latest:
            result.rejected.append({"index": index, "field": "t", "problem": "outside_patrol"})
        elif point.t in fresh:
            result.duplicates += 1
        else:
            fresh[point.t] = point
    if fresh:
        stored = set(
            session.exec(
                select(PatrolPosition.t).where(
                    PatrolPosition.patrol_id == patrol.id,
                    col(PatrolPosition.t) >= min(fresh),
                    col(PatrolPosition.t) <= max(fresh),
                )
            ).all()
        )
        for t in stored & set(fresh):
            del fresh[t]
            result.duplicates += 1
    if not fresh:
        return result
    rows = [
        PatrolPosition(
            patrol_id=patrol.id,  # type: ignore[arg-type]
            t=p.t,
            received_at=now,
            lat=p.lat,
            lon=p.lon,
            accuracy=p.accuracy,
            speed=p.speed,
            bearing=p.bearing,
            battery=p.battery,
            source=source,
        )
        for p in sorted(fresh.values(), key=lambda p: p.t)
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(PatrolPosition).on_conflict_do_nothing(index_elements=["patrol_id", "t"]),  # a racing retry
        [r.model_dump(exclude={"id"}) for r in rows],
    )
    result.accepted = len(rows)
    result.new_points = rows
    newest = rows[-1]
    # Conditional: two phones of one patrol posting at once must not move it back in time.
    session.execute(
        update(Patrol)
        .where(
            col(Patrol.id) == patrol.id,
            or_(col(Patrol.last_position_at).is_(None), col(Patrol.last_position_at) < newest.t),
        )
        .values(last_lat=newest.lat, last_lon=newest.lon, last_position_at=newest.t)
        .execution_options(synchronize_session=False)
    )
    values: dict[str, Any] = {}
    if patrol.auto_closed and patrol.ended_at is not None and newest.t > patrol.ended_at:
        values["ended_at"] = newest.t  # the server's end was the last point it knew of
    if patrol.ended_at is not None:  # late points of a finished shift: measure it again
        values["distance_m"] = measure_distance(session=session, patrol_id=patrol.id)  # type: ignore[arg-type]
    if values:
        session.execute(
            update(Patrol)
            .where(col(Patrol.id) == patrol.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    session.refresh(patrol)
    return result


def measure_distance(*, session: Session, patrol_id: int) -> float:
    """The length in metres of a patrol's track, in time order, on a metric projection.

    Points less accurate than MAX_ACCURACY_M are left out, and so are jumps faster than
    MAX_SPEED_MS (GPS glitches).
    """
    rows = session.exec(
        select(PatrolPosition.t, PatrolPosition.lat, PatrolPosition.lon, PatrolPosition.accuracy)
        .where(PatrolPosition.patrol_id == patrol_id)
        .order_by(col(PatrolPosition.t))
    ).all()
    points = [(t, lat, lon) for t, lat, lon, accuracy in rows if accuracy is None or accuracy <= MAX_ACCURACY_M]
    return track_length(points)


def track_length(points: list[tuple[datetime, float, float]]) -> float:
    """Metres along (time, lat, lon) points sorted by time (EPSG:4326 in, measured in EPSG:32718).

    A point that could only be reached faster than MAX_SPEED_MS from the last one kept is a
    GPS glitch: it is skipped, and the walk goes on from the point before it.
    """
    if len(points) < 2:
        return 0.0
    x, y = _TO_METRIC.transform(np.array([p[2] for p in points]), np.array([p[1] for p in points]))
    seconds = [p[0].timestamp() for p in points]
    total, kept = 0.0, 0
    for i in range(1, len(points)):
        step = float(np.hypot(x[i] - x[kept], y[i] - y[kept]))
        if step / max(seconds[i] - seconds[kept], 1.0) <= MAX_SPEED_MS:
            total += step
            kept = i
    return round(total, 1)


def track(
    *, session: Session, patrol_id: int, minutes: int = TRACK_MINUTES, now: datetime | None = None
) -> list[list[Any]]:
    """The patrol's points of the last `minutes`, oldest first, as [t, lat, lon]."""
    since = (now or utcnow()) - timedelta(minutes=minutes)
    rows = session.exec(
        select(PatrolPosition.t, PatrolPosition.lat, PatrolPosition.lon)
        .where(PatrolPosition.patrol_id == patrol_id, col(PatrolPosition.t) >= since)
        .order_by(col(PatrolPosition.t))
    ).all()
    return [[t.isoformat(), lat, lon] for t, lat, lon in rows]


# --- trackers (Traccar Client, OsmAnd protocol) ---------------------------------------------


TRACKER_ID_MIN = 16  # characters: a device id is the tracker's only secret (the protocol has no other)


def new_tracker_id() -> str:
    """A device id nobody can guess, to type into Traccar Client (letters and digits, no 0/O, 1/l)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(20))


def tracker_owner(*, session: Session, actor: User, user_id: int) -> User:
    """The person whose tracker `actor` registers: anyone for an admin, a volunteer or coordinator
    of their zone for a coordinator. Others are refused before anything is looked up, and an id
    that is no account or one out of reach get the same answer (ids cannot be probed)."""
    if actor.role not in ("admin", "coordinator"):
        raise Forbidden("Solo puede registrar su propio dispositivo.")
    user = session.get(User, user_id)
    out_of_reach = user is None or (actor.role == "coordinator" and user.zone_id != actor.zone_id)
    if out_of_reach or user.role not in ("volunteer", "coordinator"):  # type: ignore[union-attr]
        # Who is a neighbour (who reports) is not told apart from nobody either.
        raise ValidationProblem("user_id", "No hay ningún voluntario ni coordinador con ese número en su zona.")
    return user  # type: ignore[return-value]


def register_tracker(*, session: Session, device_id: str | None, user: User, actor: User | None) -> Tracker:
    """Link a tracker app's device id to a volunteer; without one, a new unguessable id is made.

    `actor` registers their own phone; a coordinator a member of their zone's, an admin anyone's.

    The OsmAnd protocol authenticates a device by its id alone, so ids shorter than
    TRACKER_ID_MIN are refused, and an id already linked to another active person is only
    moved by an admin (or the set-up command, `actor` None).
    """
    if (
        actor is not None
        and actor.id != user.id
        and not (actor.role == "admin" or (actor.role == "coordinator" and actor.zone_id == user.zone_id))
    ):
        raise Forbidden("Solo puede registrar su propio dispositivo.")
    device_id = (device_id or new_tracker_id()).strip()
    if len(device_id) < TRACKER_ID_MIN or len(device_id) > 100:
        raise ValidationProblem(
            "device_id", "El identificador debe tener entre %(min)s y 100 caracteres.", min=TRACKER_ID_MIN
        )
    if user.role not in ("volunteer", "coordinator"):
        raise ValidationProblem("user_id", "Solo voluntarios y coordinadores patrullan.")
    tracker = session.exec(select(Tracker).where(Tracker.device_id == device_id)).first()
    if tracker is None:
        tracker = Tracker(device_id=device_id, user_id=user.id)  # type: ignore[arg-type]
    elif tracker.user_id != user.id and tracker.active and actor is not None and actor.role != "admin":
        raise Conflict("Ese dispositivo ya está registrado a otra persona.")
    tracker.user_id, tracker.active = user.id, True  # type: ignore[assignment]
    session.add(tracker)
    session.flush()
    # The device id is its only secret (OsmAnd): the record says whose it is, never the id.
    audit.record(
        session=session, action="tracker.registered", actor=actor, object_type="user", object_id=user.id,
        detail={"tracker_id": tracker.id},
    )  # fmt: skip
    return tracker


def tracker_patrol(*, session: Session, device_id: str, at: datetime) -> tuple[Tracker | None, Patrol | None]:
    """The registered tracker of a device id, and its volunteer's patrol at `at` (if on one).

    Traccar Client keeps the points it could not send: those of a shift already ended still
    belong to that shift.
    """
    tracker = session.exec(select(Tracker).where(Tracker.device_id == device_id, col(Tracker.active).is_(True))).first()
    if tracker is None:
        return None, None
    query = (
        select(Patrol)
        .join(PatrolMember, col(PatrolMember.patrol_id) == col(Patrol.id))
        .where(
            PatrolMember.user_id == tracker.user_id,
            col(Patrol.started_at) <= at + CLOCK_SKEW,
            or_(col(Patrol.ended_at).is_(None), col(Patrol.ended_at) >= at, col(Patrol.auto_closed).is_(True)),
        )
        .order_by(col(Patrol.started_at).desc())
    )
    return tracker, session.exec(query).first()


# --- what dashboards see -------------------------------------------------------------------


def patrol_record(session: Session, patrol: Patrol) -> dict[str, Any]:
    """The record of a patrol (JSON-ready): only police, admins and the zone's committees see it."""
    committee = session.get(Committee, patrol.committee_id)
    members = session.exec(
        select(User)
        .join(PatrolMember, col(PatrolMember.user_id) == col(User.id))
        .where(PatrolMember.patrol_id == patrol.id)
        .order_by(col(User.display_name))
    ).all()
    hours = None
    if patrol.ended_at is not None:
        hours = round((patrol.ended_at - patrol.started_at).total_seconds() / 3600, 2)
    return {
        "id": patrol.id,
        "committee_id": patrol.committee_id,
        "committee_name": committee.name if committee else None,
        "zone_id": patrol.zone_id,
        "status": "active" if patrol.ended_at is None else "ended",
        "members": [person(m) for m in members],
        "started_at": patrol.started_at.isoformat(),
        "received_at": patrol.received_at.isoformat(),
        "ended_at": patrol.ended_at.isoformat() if patrol.ended_at else None,
        "auto_closed": patrol.auto_closed,
        "hours": hours,
        "distance_m": patrol.distance_m if patrol.ended_at is not None else None,
        "planned_route": json.loads(patrol.planned_route) if patrol.planned_route else None,
        "last_position": _last_position(patrol),
    }


def _last_position(patrol: Patrol) -> dict[str, Any] | None:
    if patrol.last_position_at is None:
        return None
    return {"t": patrol.last_position_at.isoformat(), "lat": patrol.last_lat, "lon": patrol.last_lon}


def patrol_view(record: dict[str, Any], *, viewer: Viewer) -> dict[str, Any]:
    """A patrol record for `viewer`: where it is only for police, serenazgo and admins."""
    if viewer.is_operator:
        return record
    view = dict(record)
    view.pop("last_position", None)
    view.pop("track", None)
    return view


def list_patrols(
    *, session: Session, viewer: Viewer, zone_id: int | None, active_only: bool, limit: int = 200
) -> list[Patrol]:
    """Patrols the viewer may see, newest first: police and admins all, volunteers and coordinators
    their own committees', neighbours none."""
    if viewer.role == "neighbor":
        raise Forbidden("Las rondas solo son visibles para la policía y los comités.")
    zone_id = viewer.zone_scope(zone_id)
    query = select(Patrol)
    if zone_id is not None:
        query = query.where(Patrol.zone_id == zone_id)
    if not viewer.sees_all_zones:  # who is out, and with whom, only within one's own committees
        query = query.join(CommitteeMember, col(CommitteeMember.committee_id) == col(Patrol.committee_id)).where(
            CommitteeMember.user_id == viewer.user_id
        )
    if active_only:
        query = query.where(col(Patrol.ended_at).is_(None))
    return list(session.exec(query.order_by(col(Patrol.id).desc()).limit(limit)).all())


def patrol_records(
    *, session: Session, patrols: list[Patrol], with_track: bool = False, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Records of several patrols, with the last TRACK_MINUTES of track when asked."""
    records = []
    for patrol in patrols:
        record = patrol_record(session, patrol)
        if with_track:
            record["track"] = track(session=session, patrol_id=patrol.id, now=now)  # type: ignore[arg-type]
        records.append(record)
    return records


def moved_payloads(result: PositionsResult) -> list[dict[str, Any]]:
    """The `patrol_moved` data of a batch's new points (none once the patrol has ended)."""
    patrol = result.patrol
    if not result.new_points or patrol.ended_at is not None:
        return []
    return [
        {
            "id": patrol.id,
            "zone_id": patrol.zone_id,
            "last_position": _last_position(patrol),
            "points": [[p.t.isoformat(), p.lat, p.lon] for p in result.new_points],
        }
    ]
