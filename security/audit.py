"""The audit record: who did (or tried) what to which object, when and from where.

Append-only. Every state change of the domain writes its line in the same transaction as the
change (`record`), so an action and its record commit together or not at all; refused
authorisations and failed sign-ins are written on their own (there is no change to join).
Nothing in Ronda updates or deletes a line, and on PostgreSQL a trigger refuses both
(migration 8b1d0c3e5f21). The request's origin (address, user agent) reaches the services
through a context variable set by the web layer, so services stay free of Flask.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, or_
from sqlmodel import Session, col, select

from security.errors import ValidationProblem
from security.exports import spreadsheet_safe
from security.models import AuditEntry, User, clean_text, parse_id
from zones.database import LIMA, utcnow

ACTIONS: tuple[str, ...] = (
    "incident.reported",
    "incident.status_changed",
    "incident.reporter_viewed",
    "alarm.presser_viewed",
    "alarm.raised",
    "alarm.acknowledged",
    "alarm.resolved",
    "patrol.started",
    "patrol.ended",
    "committee.created",
    "committee.member_added",
    "committee.member_removed",
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.activated",
    "user.password_reset",
    "user.password_changed",
    "user.sessions_ended",
    "device.key_issued",
    "device.registered",
    "device.retired",
    "tracker.registered",
    "auth.sign_in",
    "auth.sign_out",
    "auth.throttled",
    "access.denied",
    "audit.read",
)


@dataclass(frozen=True)
class Origin:
    """Where a request came from."""

    ip: str | None
    user_agent: str | None


_origin: ContextVar[Origin | None] = ContextVar("ronda_audit_origin", default=None)


def set_origin(*, ip: str | None, user_agent: str | None) -> None:
    """Called by the web layer at the start of each request."""
    _origin.set(Origin(ip=(ip or "")[:64] or None, user_agent=clean_text((user_agent or "")[:300])))


def clear_origin() -> None:
    """Called when a request ends (a background task then records no address)."""
    _origin.set(None)


def record(
    *,
    session: Session,
    action: str,
    actor: User | None = None,
    object_type: str | None = None,
    object_id: int | str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    origin: bool = True,
    actor_role: str | None = None,
) -> AuditEntry:
    """Add one line to the record in the caller's transaction (it commits with the action).

    `origin` False leaves out the request's address and browser (the server acted on its own,
    or the actor must not be traceable: an anonymous report); `actor_role` is the role of an
    actor not named.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    where = _origin.get() if origin else None
    entry = AuditEntry(
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_username=actor.username if actor is not None else None,
        actor_role=actor.role if actor is not None else actor_role,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        outcome=outcome,
        ip=where.ip if where else None,
        user_agent=where.user_agent if where else None,
        detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else None,
    )
    session.add(entry)
    return entry


def record_apart(
    *,
    engine: Engine,
    action: str,
    actor: User | None = None,
    object_type: str | None = None,
    object_id: int | str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """A line that goes with no change of state (a sign-in, a showing of a reporter, a refusal, a
    reading of the record), committed in a transaction of its own that starts by writing.

    The request's own session has read already; on SQLite a transaction that read and then
    writes fails at once (SQLITE_BUSY_SNAPSHOT, no waiting) if another writer committed in
    between, and a sign-in reads for a tenth of a second (the password hash) before it writes.
    """
    with Session(engine) as session:
        record(
            session=session, action=action, actor=actor, object_type=object_type, object_id=object_id,
            outcome=outcome, detail=detail,
        )  # fmt: skip
        session.commit()


def denied(
    *,
    session: Session,
    actor: User | None,
    detail: dict[str, Any],
    object_type: str | None = None,
    object_id: int | str | None = None,
) -> AuditEntry:
    """A refused authorisation (a 403 of the API or a page, an operation of a sync batch)."""
    return record(
        session=session,
        action="access.denied",
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        outcome="denied",
        detail=detail,
    )


@dataclass(frozen=True)
class AuditFilter:
    """Filters of a reading of the record (all optional)."""

    user: str | None = None  # the actor's username
    object_type: str | None = None
    object_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _encode_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"a:{entry_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationProblem("cursor", "El cursor no es válido.") from exc
    prefix, _, number = raw.partition(":")
    entry_id = parse_id(number)
    if prefix != "a" or entry_id is None:
        raise ValidationProblem("cursor", "El cursor no es válido.")
    return entry_id


def list_entries(
    *, session: Session, filters: AuditFilter, limit: int, cursor: str | None = None
) -> tuple[list[AuditEntry], str | None]:
    """A page of the record, newest first, and the cursor of the next page (admins only: the
    caller checks)."""
    query = select(AuditEntry)
    if filters.user:
        # What the account did, and what was done to it (sign-ins tried on it, say).
        target = session.exec(select(User.id).where(User.username == filters.user)).first()
        by_them = col(AuditEntry.actor_username) == filters.user
        if target is None:
            query = query.where(by_them)
        else:
            on_them = and_(col(AuditEntry.object_type) == "user", col(AuditEntry.object_id) == str(target))
            query = query.where(or_(by_them, on_them))
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEntry.object_id == filters.object_id)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.since:
        query = query.where(col(AuditEntry.at) >= filters.since)
    if filters.until:
        query = query.where(col(AuditEntry.at) < filters.until)
    if cursor:
        query = query.where(col(AuditEntry.id) < _decode_cursor(cursor))
    rows = list(session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit + 1)).all())
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1].id) if len(rows) > limit and page else None  # type: ignore[arg-type]
    return page, next_cursor


def all_entries(*, session: Session, filters: AuditFilter, page_size: int = 2000) -> Iterator[AuditEntry]:
    """Every entry matching the filters, newest first, read page by page (for exports)."""
    cursor = None
    while True:
        rows, cursor = list_entries(session=session, filters=filters, limit=page_size, cursor=cursor)
        yield from rows
        if cursor is None:
            return


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    """An entry as JSON."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_username": entry.actor_username,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "outcome": entry.outcome,
        "ip": entry.ip,
        "user_agent": entry.user_agent,
        "detail": json.loads(entry.detail) if entry.detail else None,
    }


CSV_COLUMNS = [
    "id", "at", "at_lima", "actor_id", "actor_username", "actor_role", "action", "object_type", "object_id",
    "outcome", "ip", "user_agent", "detail",
]  # fmt: skip


def csv_lines(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """The entries as CSV (UTF-8 with a BOM so spreadsheets read the accents), a line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return value

    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + flush()
    for entry in entries:
        writer.writerow(
            [
                entry.id,
                entry.at.isoformat(),
                entry.at.astimezone(LIMA).strftime("%Y-%m-%d %H:%M:%S"),
                entry.actor_id or "",
                *(
                    spreadsheet_safe(value or "")
                    for value in (
                        entry.actor_username,
                        entry.actor_role,
                        entry.action,
                        entry.object_type,
                        entry.object_id,
                        entry.outcome,
                        entry.ip,
                        entry.user_agent,
                        entry.detail,
                    )
                ),
            ]
        )
        yield flush()
