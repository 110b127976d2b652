"""Block alarms: raising (pooled per urban block, idempotent), acknowledging, resolving, escalating;
the alarm devices of the blocks (registered, placed, retired)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import geopandas as gpd
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from security import audit
from security.auth import Viewer, viewer_of
from security.errors import Conflict, Forbidden, Hidden, NotFound, Unknown, ValidationProblem
from security.events import append_event
from security.incidents import CLOCK_SKEW, reporting_patrol
from security.models import (
    CONTROL_CHARACTERS,
    EMPTY_NAME,
    ZONE_BOUND_ROLES,
    Alarm,
    AlarmCreate,
    AlarmDevice,
    AlarmResolve,
    AlarmTrigger,
    Event,
    User,
    has_control,
)
from security.visibility import alarm_record
from zones.database import utcnow
from zones.geometry import ZoneIndex
from zones.models import Block

ACTIVE = ("raised", "acknowledged")


def raise_alarm(
    *,
    session: Session,
    data: AlarmCreate,
    index: ZoneIndex,
    user: User | None = None,
    device: AlarmDevice | None = None,
) -> tuple[Alarm, Event | None, bool]:
    """Raise the alarm of a block, pressed by a user's phone or by an authenticated device.

    While a block's alarm is active, further presses join it (its `trigger_count` grows) and
    push nothing new. A retried client_id returns the alarm it raised or joined. Returns the
    alarm, the `alarm_raised` event (None when nothing new was raised), and whether it is new.
    """
    if (user is None) == (device is None):
        raise ValueError("an alarm is raised by exactly one user or one device")
    origin = f"user:{user.id}" if user is not None else f"device:{device.id}"  # type: ignore[union-attr]
    client_id = str(data.client_id)
    replay = _trigger(session=session, origin=origin, client_id=client_id)
    if replay is not None:
        return session.get(Alarm, replay.alarm_id), None, False  # type: ignore[return-value]
    now = utcnow()
    pressed_at = data.pressed_at or now
    if pressed_at > now + CLOCK_SKEW:
        raise ValidationProblem("pressed_at", "La hora de la alarma está en el futuro; revise el reloj del teléfono.")

    if device is not None and data.device_id is not None and data.device_id != device.id:
        raise Forbidden("Una alarma solo puede activarse a sí misma.")
    pressed = device or (_device(session=session, device_id=data.device_id) if data.device_id is not None else None)
    if user is not None and pressed is not None and user.role in ZONE_BOUND_ROLES and pressed.zone_id != user.zone_id:
        # Another zone's device answers like a missing one (its id says where a street alarm is).
        raise Unknown("device_id", "No existe la alarma %(id)s.", id=data.device_id)
    if pressed is not None:
        if pressed.block_id is None or pressed.zone_id is None:
            raise ValidationProblem("device_id", "La alarma no está ubicada en ninguna manzana.")
        lat, lon, zone_id, block_id = pressed.lat, pressed.lon, pressed.zone_id, pressed.block_id
    else:
        if data.lat is None or data.lon is None:
            raise ValidationProblem(("lat", "lon"), "Indique device_id, o lat y lon.")
        location = index.locate(lat=data.lat, lon=data.lon)
        if location is None:
            raise ValidationProblem(("lat", "lon"), "El punto está fuera del distrito.")
        if location.block_id is None:
            raise ValidationProblem(("lat", "lon"), "No hay una manzana registrada en ese punto.")
        lat, lon, zone_id, block_id = data.lat, data.lon, location.zone_id, location.block_id
    if user is not None and user.role in ZONE_BOUND_ROLES and zone_id != user.zone_id:
        raise Forbidden("Solo puede activar alarmas en su propia zona.")
    patrol_id = reporting_patrol(session=session, patrol_id=data.patrol_id, user=user)

    for _ in range(3):
        active = _active_alarm(session=session, block_id=block_id)
        if active is not None:
            try:
                with session.begin_nested():
                    session.add(
                        AlarmTrigger(alarm_id=active.id, origin=origin, client_id=client_id, pressed_at=pressed_at)  # type: ignore[arg-type]
                    )
                    session.flush()
            except IntegrityError:
                replay = _trigger(session=session, origin=origin, client_id=client_id)
                if replay is None:
                    raise
                return session.get(Alarm, replay.alarm_id), None, False  # type: ignore[return-value]
            # Counted in the database: simultaneous presses must not overwrite each other's count.
            session.execute(
                update(Alarm)
                .where(col(Alarm.id) == active.id)
                .values(trigger_count=col(Alarm.trigger_count) + 1)
                .execution_options(synchronize_session=False)
            )
            session.refresh(active)
            _audit_press(session, alarm=active, user=user, device=device, joined=True)
            return active, None, False
        alarm = Alarm(
            zone_id=zone_id,
            block_id=block_id,
            source="device" if device is not None else "app",  # from who authenticated, not a claim
            device_id=pressed.id if pressed is not None else None,
            raised_by=user.id if user is not None else None,
            patrol_id=patrol_id,
            lat=lat,
            lon=lon,
            raised_at=now,
            pressed_at=pressed_at,
        )
        try:
            with session.begin_nested():
                session.add(alarm)
                session.flush()
                session.add(AlarmTrigger(alarm_id=alarm.id, origin=origin, client_id=client_id, pressed_at=pressed_at))  # type: ignore[arg-type]
                session.flush()
        except IntegrityError:
            # Another press of the same block (or the same retry) won the race: join it.
            replay = _trigger(session=session, origin=origin, client_id=client_id)
            if replay is not None:
                return session.get(Alarm, replay.alarm_id), None, False  # type: ignore[return-value]
            continue
        event = append_event(session=session, type="alarm_raised", zone_id=zone_id, data=_record(session, alarm))
        _audit_press(session, alarm=alarm, user=user, device=device, joined=False)
        return alarm, event, True
    raise Conflict("La alarma de la manzana está cambiando; intente de nuevo.", details={"retry": True})


def _audit_press(
    session: Session, *, alarm: Alarm, user: User | None, device: AlarmDevice | None, joined: bool
) -> None:
    audit.record(
        session=session,
        action="alarm.raised",
        actor=user,
        object_type="alarm",
        object_id=alarm.id,
        detail={"block_id": alarm.block_id, "device_id": device.id if device else None, "joined": joined},
    )


def already_pressed(*, session: Session, origin: str, client_id: str) -> bool:
    """Whether this press (origin "user:<id>" or "device:<id>", client_id) was already counted."""
    return _trigger(session=session, origin=origin, client_id=client_id) is not None


def _trigger(*, session: Session, origin: str, client_id: str) -> AlarmTrigger | None:
    query = select(AlarmTrigger).where(AlarmTrigger.origin == origin, AlarmTrigger.client_id == client_id)
    return session.exec(query).first()


def _device(*, session: Session, device_id: int) -> AlarmDevice:
    device = session.get(AlarmDevice, device_id)
    if device is None or not device.active:
        raise ValidationProblem("device_id", "No existe la alarma %(id)s.", id=device_id)
    return device


def _active_alarm(*, session: Session, block_id: int) -> Alarm | None:
    query = select(Alarm).where(Alarm.block_id == block_id, col(Alarm.status).in_(ACTIVE))
    return session.exec(query).first()


def _record(session: Session, alarm: Alarm) -> dict[str, object]:
    return alarm_record(
        alarm=alarm,
        block=session.get(Block, alarm.block_id),
        raised_by=session.get(User, alarm.raised_by) if alarm.raised_by else None,
        acknowledged_by=session.get(User, alarm.acknowledged_by) if alarm.acknowledged_by else None,
    )


def alarm_records(*, session: Session, alarms: list[Alarm]) -> list[dict[str, object]]:
    """Full records of alarms (JSON-ready)."""
    return [_record(session, a) for a in alarms]


def get_alarm(*, session: Session, viewer: Viewer, alarm_id: int) -> Alarm:
    """The alarm, if it exists and lies in a zone the viewer may see."""
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound("No existe la alarma %(id)s.", id=alarm_id)
    if not viewer.may_see_zone(alarm.zone_id):
        raise Hidden("No existe la alarma %(id)s.", id=alarm_id)
    return alarm


def list_alarms(*, session: Session, viewer: Viewer, zone_id: int | None, active_only: bool) -> list[Alarm]:
    """Alarms the viewer may see, newest first (the active ones only, when asked)."""
    query = select(Alarm)
    zone_id = viewer.zone_scope(zone_id)
    if zone_id is not None:
        query = query.where(Alarm.zone_id == zone_id)
    if active_only:
        query = query.where(col(Alarm.status).in_(ACTIVE))
    return list(session.exec(query.order_by(col(Alarm.id).desc()).limit(500)).all())


def acknowledge_alarm(*, session: Session, actor: User, alarm_id: int) -> tuple[Alarm, Event | None]:
    """Police take the alarm ("Atender"); acknowledging it again changes nothing."""
    viewer = viewer_of(actor)
    if not viewer.is_operator:
        raise Forbidden("Solo la policía o el serenazgo pueden atender una alarma.")
    alarm = get_alarm(session=session, viewer=viewer, alarm_id=alarm_id)
    if alarm.status == "acknowledged":
        return alarm, None
    if alarm.status != "raised":
        raise Conflict("La alarma ya fue cerrada.", details={"current_status": alarm.status})
    alarm.status = "acknowledged"
    alarm.acknowledged_at = utcnow()
    alarm.acknowledged_by = actor.id
    session.add(alarm)
    session.flush()
    audit.record(session=session, action="alarm.acknowledged", actor=actor, object_type="alarm", object_id=alarm.id)
    event = append_event(
        session=session, type="alarm_acknowledged", zone_id=alarm.zone_id, data=_record(session, alarm)
    )
    return alarm, event


def resolve_alarm(*, session: Session, actor: User, alarm_id: int, body: AlarmResolve) -> tuple[Alarm, Event | None]:
    """Close an alarm as real or a false alarm (police, admins, or a coordinator of its zone)."""
    viewer = viewer_of(actor)
    alarm = get_alarm(session=session, viewer=viewer, alarm_id=alarm_id)
    if not (viewer.is_operator or (viewer.role == "coordinator" and viewer.zone_id == alarm.zone_id)):
        raise Forbidden("Solo la policía, el serenazgo o un coordinador de la zona pueden cerrar una alarma.")
    if alarm.status == "resolved":
        if alarm.outcome == body.outcome:
            return alarm, None
        raise Conflict("La alarma ya fue cerrada.", details={"current_status": alarm.status, "outcome": alarm.outcome})
    now = utcnow()
    alarm.status = "resolved"
    alarm.outcome = body.outcome
    alarm.resolved_at = now
    alarm.resolved_by = actor.id
    session.add(alarm)
    session.flush()
    audit.record(
        session=session,
        action="alarm.resolved",
        actor=actor,
        object_type="alarm",
        object_id=alarm.id,
        detail={"outcome": body.outcome, "note": body.note},
    )
    record = _record(session, alarm)
    record["note"] = body.note
    event = append_event(session=session, type="alarm_resolved", zone_id=alarm.zone_id, data=record)
    return alarm, event


def escalate_overdue(*, session: Session, after: timedelta, now: datetime | None = None) -> list[Event]:
    """Escalate, once each, the alarms still unacknowledged `after` they were raised.

    The conditional update claims each alarm, so two server processes never escalate twice.
    """
    now = now or utcnow()
    due = session.exec(
        select(Alarm).where(
            Alarm.status == "raised", col(Alarm.escalated_at).is_(None), col(Alarm.raised_at) <= now - after
        )
    ).all()
    events: list[Event] = []
    for alarm in due:
        claimed = session.execute(
            update(Alarm)
            .where(col(Alarm.id) == alarm.id, col(Alarm.escalated_at).is_(None), col(Alarm.status) == "raised")
            .values(escalated_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        session.refresh(alarm)
        events.append(
            append_event(session=session, type="alarm_escalated", zone_id=alarm.zone_id, data=_record(session, alarm))
        )
    return events


def locate_devices(*, session: Session, index: ZoneIndex) -> int:
    """Place every alarm device in the zone and block containing it; returns how many moved."""
    moved = 0
    for device in session.exec(select(AlarmDevice)).all():
        location = index.locate(lat=device.lat, lon=device.lon)
        zone_id = location.zone_id if location else None
        block_id = location.block_id if location else None
        if (zone_id, block_id) != (device.zone_id, device.block_id):
            device.zone_id, device.block_id = zone_id, block_id
            session.add(device)
            moved += 1
    return moved


def list_devices(*, session: Session, viewer: Viewer, zone_id: int | None) -> list[AlarmDevice]:
    """Alarm devices of a zone (zone-bound roles: their own zone only)."""
    zone_id = viewer.zone_scope(zone_id)
    query = select(AlarmDevice).where(col(AlarmDevice.active).is_(True))
    if zone_id is not None:
        query = query.where(AlarmDevice.zone_id == zone_id)
    return list(session.exec(query.order_by(col(AlarmDevice.id))).all())


def load_devices(*, session: Session, path: Path, index: ZoneIndex) -> int:
    """Add the alarm devices of a GeoJSON file of points (property `name`), placed by the index."""
    frame = gpd.read_file(path)
    if frame.crs is None:
        raise ValueError(f"{path}: the file declares no coordinate reference system")
    frame = frame.to_crs("EPSG:4326")
    count = 0
    for position, (_, row) in enumerate(frame.iterrows(), start=1):
        point = row.geometry
        if point is None or point.geom_type != "Point":
            raise ValueError(f"{path}: feature {position} is not a point")
        location = index.locate(lat=point.y, lon=point.x)
        session.add(
            AlarmDevice(
                name=str(row.get("name") or f"Alarma {position}"),
                lat=point.y,
                lon=point.x,
                zone_id=location.zone_id if location else None,
                block_id=location.block_id if location else None,
            )
        )
        count += 1
    session.flush()
    return count


DEVICE_NAME_MAX = 120


def _require_admin(actor: User | None) -> None:
    if actor is not None and actor.role != "admin":
        raise Forbidden("Solo la administración puede registrar o retirar dispositivos de alarma.")


def register_device(
    *, session: Session, actor: User | None, name: str, lat: float, lon: float, index: ZoneIndex
) -> AlarmDevice:
    """A new alarm device at (lat, lon) in EPSG:4326, placed in the zone and block containing it (it has no key yet)."""
    _require_admin(actor)
    name = name.strip()
    if not name:
        raise ValidationProblem("name", EMPTY_NAME)
    if has_control(name):
        raise ValidationProblem("name", CONTROL_CHARACTERS)
    if len(name) > DEVICE_NAME_MAX:
        raise ValidationProblem("name", "El nombre tiene hasta %(max)s caracteres.", max=DEVICE_NAME_MAX)
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValidationProblem(("lat", "lon"), "La latitud va de -90 a 90 y la longitud de -180 a 180 (grados).")
    location = index.locate(lat=lat, lon=lon)
    if location is None:
        raise ValidationProblem(("lat", "lon"), "El punto está fuera del distrito.")
    if location.block_id is None:
        # An alarm is raised for its block: a device outside every block could never sound.
        raise ValidationProblem(("lat", "lon"), "No hay una manzana registrada en ese punto.")
    device = AlarmDevice(name=name, lat=lat, lon=lon, zone_id=location.zone_id, block_id=location.block_id)
    session.add(device)
    session.flush()
    audit.record(session=session, action="device.registered", actor=actor, object_type="device", object_id=device.id,
                 detail={"name": name, "zone_id": device.zone_id, "block_id": device.block_id})  # fmt: skip
    return device


def get_device(*, session: Session, device_id: int) -> AlarmDevice:
    """The alarm device (retired ones too), or NotFound."""
    device = session.get(AlarmDevice, device_id)
    if device is None:
        raise NotFound("No existe el dispositivo %(id)s.", id=device_id)
    return device


def retire_device(*, session: Session, actor: User | None, device: AlarmDevice) -> bool:
    """Take a device out of service: its key stops working and it leaves the lists (False: it already was)."""
    _require_admin(actor)
    if not device.active:
        return False
    device.active = False
    device.key_hash = None
    session.add(device)
    audit.record(session=session, action="device.retired", actor=actor, object_type="device", object_id=device.id,
                 detail={"name": device.name})  # fmt: skip
    return True


def own_alarms(*, session: Session, user: User, limit: int = 50) -> list[Alarm]:
    """The alarms a person pressed, raised by them or joined, newest first."""
    pressed = select(AlarmTrigger.alarm_id).where(AlarmTrigger.origin == f"user:{user.id}")
    query = select(Alarm).where(col(Alarm.id).in_(pressed)).order_by(col(Alarm.id).desc()).limit(limit)
    return list(session.exec(query).all())


def own_presses(*, session: Session, user: User, alarm_ids: list[int]) -> dict[int, datetime]:
    """When this person pressed each of these alarms (by their phone's clock when it said)."""
    if not alarm_ids:
        return {}
    rows = session.exec(
        select(AlarmTrigger.alarm_id, AlarmTrigger.pressed_at, AlarmTrigger.at).where(
            AlarmTrigger.origin == f"user:{user.id}", col(AlarmTrigger.alarm_id).in_(alarm_ids)
        )
    ).all()
    return {alarm_id: pressed_at or at for alarm_id, pressed_at, at in rows}


def pressers(*, session: Session, alarm_id: int) -> list[int]:
    """The users who pressed an alarm (devices are not people)."""
    origins = session.exec(
        select(AlarmTrigger.origin).where(
            AlarmTrigger.alarm_id == alarm_id, col(AlarmTrigger.origin).startswith("user:", autoescape=True)
        )
    ).all()
    return sorted({int(origin.removeprefix("user:")) for origin in origins})
