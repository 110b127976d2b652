"""The event log: every state change, numbered, so a client that was away can catch up."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from security.auth import Viewer
from security.models import Event
from security.visibility import redact
from zones.database import utcnow

# Any constant works: it only has to be the same for every writer of the log.
_PG_EVENT_LOCK = 727_001
# Where volunteers are, and who, is for police and admins only (patrol_started, patrol_ended,
# patrol_moved): nobody else hears these events or reads them from the log.
POLICE_ONLY_PREFIX = "patrol_"


def may_hear(event_type: str, viewer: Viewer) -> bool:
    """Whether `viewer` receives events of this type (their zone is checked elsewhere)."""
    return viewer.sees_all_zones or not event_type.startswith(POLICE_ONLY_PREFIX)


def append_event(*, session: Session, type: str, zone_id: int, data: dict[str, Any]) -> Event:
    """Append one event in the caller's transaction (push it only after that commits).

    On PostgreSQL a transaction-scoped advisory lock makes appends take turns, so sequence
    numbers become visible in commit order and `events?since=` never skips a late commit.
    SQLite serialises writers by itself.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_EVENT_LOCK})
    event = Event(type=type, zone_id=zone_id, at=utcnow(), data=json.dumps(data, ensure_ascii=False))
    session.add(event)
    session.flush()
    return event


def event_view(event: Event, *, viewer: Viewer) -> dict[str, Any]:
    """The log entry as `viewer` receives it: {seq, type, zone_id, at, data} with data redacted."""
    return {
        "seq": event.seq,
        "type": event.type,
        "zone_id": event.zone_id,
        "at": event.at.isoformat(),
        "data": redact(json.loads(event.data), viewer=viewer),
    }


def events_since(*, session: Session, viewer: Viewer, since: int, limit: int) -> tuple[list[Event], bool]:
    """The events after `since` that `viewer` may see, oldest first, and whether more remain."""
    query = select(Event).where(col(Event.seq) > since)
    if not viewer.sees_all_zones:
        query = query.where(
            Event.zone_id == viewer.zone_id, ~col(Event.type).startswith(POLICE_ONLY_PREFIX, autoescape=True)
        )
    rows = list(session.exec(query.order_by(col(Event.seq)).limit(limit + 1)).all())
    return rows[:limit], len(rows) > limit


def last_seq(*, session: Session) -> int:
    """The newest sequence number in the log (0 when empty)."""
    value = session.exec(select(Event.seq).order_by(col(Event.seq).desc()).limit(1)).first()
    return int(value or 0)
