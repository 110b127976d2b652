"""Offline-first sync: a batch of operations queued on a phone while it had no signal.

Each operation is `{op, client_id, at, data}`: `data` is the body the single endpoint takes
and `at` the phone's own clock when the volunteer acted. Operations are applied in order,
each in a savepoint of its own, so one bad operation never undoes the others; a batch sent
twice changes nothing the second time (every applied operation is remembered by its
client_id, and each kind is idempotent by itself too). Patrols started offline have no
server id yet: later operations name them by `patrol_client_id`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from security import alarms, audit, incidents, patrols
from security.errors import REFUSALS, Conflict, DomainError, ValidationProblem
from security.incidents import CLOCK_SKEW
from security.models import (
    AlarmCreate,
    Event,
    Id,
    IncidentCreate,
    Patrol,
    PatrolCreate,
    PatrolEnd,
    PatrolMember,
    PositionBatch,
    SyncOperation,
    User,
    has_surrogate,
)
from zones.database import lima_aware, utcnow
from zones.geometry import ZoneIndex

MAX_OPERATIONS = 1000
Op = Literal["incident", "alarm", "patrol_start", "patrol_end", "positions"]


class OperationEnvelope(BaseModel):
    op: Op
    client_id: uuid.UUID = Field(description="A UUID the phone made for this operation")
    at: datetime = Field(description="When the volunteer acted, by the phone's clock (ISO 8601)")
    data: dict[str, Any] = Field(default_factory=dict, description="The body the single endpoint takes")

    @field_validator("at")
    @classmethod
    def _at(cls, value: datetime) -> datetime:
        return lima_aware(value)


class SyncBatch(BaseModel):
    # Any items: a malformed operation is refused on its own, never the whole batch.
    operations: list[Any] = Field(
        min_length=1,
        max_length=MAX_OPERATIONS,
        description="Operations {op, client_id, at, data}, applied in order; op is one of incident, alarm, "
        "patrol_start, patrol_end, positions",
    )


class PatrolRef(BaseModel):
    patrol_id: Id | None = None
    patrol_client_id: uuid.UUID | None = None


Status = Literal["applied", "already_applied", "rejected"]


@dataclass
class Outcome:
    """What became of one operation."""

    index: int
    op: str | None
    client_id: str | None
    status: Status
    id: int | None = None  # the incident, alarm or patrol
    error: DomainError | ValidationError | None = None
    error_prefix: str = ""  # where the refused fields are: "" (the operation) or "data"
    details: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)


def apply_operations(*, session: Session, user: User, operations: list[Any], index: ZoneIndex) -> Iterator[Outcome]:
    """Apply a phone's queued operations in order, yielding what became of each.

    Nothing is committed here: the caller commits (it may do so between operations) and
    then pushes each outcome's events.
    """
    for position, raw in enumerate(operations):
        try:
            envelope = OperationEnvelope.model_validate(raw)
        except ValidationError as exc:
            yield Outcome(
                index=position,
                op=raw.get("op") if isinstance(raw, dict) and isinstance(raw.get("op"), str) else None,
                client_id=_echoed(raw.get("client_id")) if isinstance(raw, dict) else None,
                status="rejected",
                error=exc,
            )
            continue
        yield _apply_one(session=session, user=user, position=position, envelope=envelope, index=index)


def _echoed(client_id: Any) -> str | None:
    """A malformed operation's client_id as the phone sent it, so it can tell which one was refused:
    none when it is not text JSON can carry back (a lone surrogate, "\\ud800")."""
    if not client_id:
        return None
    text = str(client_id)[:36]
    return None if has_surrogate(text) else text


def _apply_one(
    *, session: Session, user: User, position: int, envelope: OperationEnvelope, index: ZoneIndex
) -> Outcome:
    client_id = str(envelope.client_id)
    outcome = Outcome(index=position, op=envelope.op, client_id=client_id, status="applied")
    done = _applied(session, user, client_id)
    if done is not None:
        outcome.status, outcome.id = "already_applied", done.ref_id
        return outcome
    now = utcnow()
    if envelope.at > now + CLOCK_SKEW:
        outcome.status = "rejected"
        outcome.error = ValidationProblem("at", "La hora del teléfono está en el futuro; revise su reloj.")
        return outcome
    try:
        with session.begin_nested():
            _HANDLERS[envelope.op](session, user, envelope, index, outcome)
            session.add(
                SyncOperation(
                    user_id=user.id,  # type: ignore[arg-type]
                    client_id=client_id,
                    op=envelope.op,
                    phone_at=envelope.at,
                    received_at=now,
                    ref_id=outcome.id,
                )
            )
            session.flush()
    except (DomainError, ValidationError) as exc:  # about the operation's data: its fields are data.*
        if isinstance(exc, REFUSALS):  # outside the rolled-back savepoint: it commits with the batch
            reason = exc.message % exc.params if exc.params else exc.message
            audit.denied(
                session=session, actor=user, detail={"path": "/api/v1/sync", "op": envelope.op, "reason": reason}
            )
        return Outcome(
            index=position, op=envelope.op, client_id=client_id, status="rejected", error=exc, error_prefix="data"
        )
    except IntegrityError:
        # The same batch arrived twice at once: the other request applied this operation.
        done = _applied(session, user, client_id)
        if done is None:
            conflict = Conflict("La operación chocó con otra simultánea; envíela de nuevo.", details={"retry": True})
            return Outcome(index=position, op=envelope.op, client_id=client_id, status="rejected", error=conflict)
        outcome = Outcome(index=position, op=envelope.op, client_id=client_id, status="already_applied", id=done.ref_id)
    return outcome


def _applied(session: Session, user: User, client_id: str) -> SyncOperation | None:
    """The record of an operation of this user already applied, if any."""
    query = select(SyncOperation).where(SyncOperation.user_id == user.id, SyncOperation.client_id == client_id)
    return session.exec(query).first()


def _body(envelope: OperationEnvelope, **defaults: Any) -> dict[str, Any]:
    body = dict(envelope.data)
    for key, value in defaults.items():
        if body.get(key) is None:
            body[key] = value
    return body


def _patrol_id(session: Session, user: User, data: dict[str, Any], *, required: bool) -> int | None:
    """The patrol an operation names, by id or by the client_id of its (maybe offline) start."""
    ref = PatrolRef.model_validate({k: data.get(k) for k in ("patrol_id", "patrol_client_id")})
    if ref.patrol_id is not None:
        return ref.patrol_id
    if ref.patrol_client_id is not None:
        found = session.exec(
            select(Patrol.id)
            .join(PatrolMember, col(PatrolMember.patrol_id) == col(Patrol.id))
            .where(Patrol.client_id == str(ref.patrol_client_id), PatrolMember.user_id == user.id)
        ).first()
        if found is None:
            raise ValidationProblem("patrol_client_id", "No hay una ronda suya con ese client_id.")
        return int(found)
    if required:
        raise ValidationProblem(("patrol_id", "patrol_client_id"), "Indique patrol_id o patrol_client_id.")
    return None


def _incident(session: Session, user: User, envelope: OperationEnvelope, index: ZoneIndex, outcome: Outcome) -> None:
    body = _body(envelope, client_id=str(envelope.client_id), occurred_at=envelope.at.isoformat())
    body["patrol_id"] = _patrol_id(session, user, body, required=False)
    body.pop("patrol_client_id", None)
    data = IncidentCreate.model_validate(body)
    incident, event = incidents.report_incident(session=session, reporter=user, data=data, index=index)
    outcome.id = incident.id
    outcome.status = "applied" if event is not None else "already_applied"
    outcome.events = [event] if event is not None else []


def _alarm(session: Session, user: User, envelope: OperationEnvelope, index: ZoneIndex, outcome: Outcome) -> None:
    body = _body(envelope, client_id=str(envelope.client_id), source="app", pressed_at=envelope.at.isoformat())
    body["patrol_id"] = _patrol_id(session, user, body, required=False)
    body.pop("patrol_client_id", None)
    data = AlarmCreate.model_validate(body)
    pressed_before = alarms.already_pressed(session=session, origin=f"user:{user.id}", client_id=str(data.client_id))
    alarm, event, _created = alarms.raise_alarm(session=session, data=data, index=index, user=user)
    outcome.id = alarm.id
    outcome.status = "already_applied" if pressed_before else "applied"
    outcome.events = [event] if event is not None else []


def _patrol_start(
    session: Session, user: User, envelope: OperationEnvelope, index: ZoneIndex, outcome: Outcome
) -> None:
    data = PatrolCreate.model_validate(
        _body(envelope, client_id=str(envelope.client_id), started_at=envelope.at.isoformat())
    )
    patrol, events = patrols.start_patrol(session=session, actor=user, data=data)
    outcome.id = patrol.id
    outcome.status = "applied" if any(e.type == "patrol_started" for e in events) else "already_applied"
    outcome.events = events


def _patrol_end(session: Session, user: User, envelope: OperationEnvelope, index: ZoneIndex, outcome: Outcome) -> None:
    patrol_id = _patrol_id(session, user, envelope.data, required=True)
    data = PatrolEnd.model_validate(_body(envelope, ended_at=envelope.at.isoformat()))
    patrol, event = patrols.end_patrol(session=session, actor=user, patrol_id=patrol_id, data=data)  # type: ignore[arg-type]
    outcome.id = patrol.id
    outcome.status = "applied" if event is not None else "already_applied"
    outcome.events = [event] if event is not None else []


def _positions(session: Session, user: User, envelope: OperationEnvelope, index: ZoneIndex, outcome: Outcome) -> None:
    patrol_id = _patrol_id(session, user, envelope.data, required=True)
    batch = PositionBatch.model_validate({"positions": envelope.data.get("positions")})
    result = patrols.record_positions(session=session, actor=user, patrol_id=patrol_id, positions=batch.positions)  # type: ignore[arg-type]
    outcome.id = patrol_id
    if result.accepted == 0 and result.duplicates == 0:
        raise ValidationProblem("positions", "Ningún punto es válido (hora futura o fuera de la ronda).")
    if result.accepted == 0 and not result.rejected:
        outcome.status = "already_applied"
    outcome.details = {"accepted": result.accepted, "duplicates": result.duplicates}
    if result.rejected:
        outcome.details["rejected"] = result.rejected
    outcome.moved = patrols.moved_payloads(result)


_HANDLERS = {
    "incident": _incident,
    "alarm": _alarm,
    "patrol_start": _patrol_start,
    "patrol_end": _patrol_end,
    "positions": _positions,
}
