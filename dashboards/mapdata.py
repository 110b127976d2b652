"""What the live map needs from the store, computed in SQL so the page stays light as history grows.

Only open incidents of the chosen window travel as markers (the newest `marker_limit`); the
rest reaches the page as counts: one number per zone (the zone colours) and one weight per
block (the heat layer, placed at block centres so no exact point is revealed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from security.alarms import alarm_records, list_alarms
from security.auth import Viewer
from security.events import last_seq
from security.incidents import incident_records
from security.models import OPEN_STATUSES, Incident
from security.patrols import list_patrols, patrol_records
from security.visibility import redact
from zones.database import utcnow
from zones.models import Block

WINDOWS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


@dataclass(frozen=True)
class MapData:
    """Everything one viewer's map shows at first load."""

    zone_counts: dict[int, int]
    heat: list[tuple[float, float, int]]
    incidents: list[dict[str, Any]]
    alarms: list[dict[str, Any]]
    last_seq: int
    total_in_window: int
    patrols: list[dict[str, Any]] | None = None  # active patrols and their last 15 minutes (police, admins)


def map_data(
    *,
    session: Session,
    viewer: Viewer,
    window: str,
    kind: str | None = None,
    marker_limit: int = 1000,
    now: datetime | None = None,
) -> MapData:
    """The counts, heat, open incidents and active alarms a viewer may see in a time window, and
    for police and admins the patrols in the street."""
    since = (now or utcnow()) - WINDOWS[window]
    seq = last_seq(session=session)  # read first: anything newer will arrive live or by catch-up
    conditions = [col(Incident.occurred_at) >= since]
    if kind:
        conditions.append(col(Incident.kind) == kind)
    if not viewer.sees_all_zones:
        conditions.append(col(Incident.zone_id) == viewer.zone_id)

    counts = session.exec(
        select(Incident.zone_id, func.count()).where(*conditions).group_by(col(Incident.zone_id))
    ).all()
    heat_rows = session.exec(
        select(Block.center_lat, Block.center_lon, func.count())
        .select_from(Incident)
        .join(Block, col(Block.id) == col(Incident.block_id))
        .where(*conditions)
        .group_by(col(Block.id), col(Block.center_lat), col(Block.center_lon))
    ).all()
    open_rows = session.exec(
        select(Incident)
        .where(*conditions, col(Incident.status).in_(OPEN_STATUSES))
        .order_by(col(Incident.id).desc())
        .limit(marker_limit)
    ).all()
    alarms = list_alarms(session=session, viewer=viewer, zone_id=None, active_only=True)
    patrols = None
    if viewer.sees_all_zones:
        active = list_patrols(session=session, viewer=viewer, zone_id=None, active_only=True)
        patrols = patrol_records(session=session, patrols=active, with_track=True, now=now)
    return MapData(
        zone_counts={int(zone_id): int(n) for zone_id, n in counts},
        heat=[(float(lat), float(lon), int(n)) for lat, lon, n in heat_rows],
        incidents=[redact(r, viewer=viewer) for r in incident_records(session=session, incidents=list(open_rows))],
        alarms=[redact(r, viewer=viewer) for r in alarm_records(session=session, alarms=alarms)],
        last_seq=seq,
        total_in_window=sum(int(n) for _, n in counts),
        patrols=patrols,
    )
