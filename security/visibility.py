"""What each role may see of an incident or an alarm.

A *record* is the full picture (stored in the event log and built for API answers); a
*view* is the record redacted for one viewer. Every answer and every push goes through
`redact`, so there is one place where a reporter's identity can leak, and it doesn't:

- admins see everything, the reporter of an anonymous report included;
- police see every zone and the reporter unless the report is anonymous;
- serenazgo (the municipality's security service) sees every zone, never the reporter;
- volunteers and coordinators see their own zone with descriptions, never the reporter;
- neighbours see their own zone with no reporter, no description or note, and the position
  coarsened to the block (the exact point could lead back to a reporter's home).

Even police and admins see a reporter (or who pressed an alarm), and what follows the reporter
(the phone's `client_id`, the reporting `patrol_id`), only in the view of *one* incident or
alarm they open (`detail=True`), which the API writes to the audit record: lists, exports,
pushes and the event log never name anybody.

A person's own reports ("Mis reportes" on the phone) are shown through `own_view`: what they
gave themselves and how it is being handled, whatever their role, and nobody else's name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from security.auth import Viewer
from security.models import ALARM_LATE_AFTER, Alarm, Incident, User
from zones.models import Block


def person(user: User | None) -> dict[str, Any] | None:
    """The public identity of a person: never a contact, never a password hash."""
    if user is None:
        return None
    return {"id": user.id, "username": user.username, "display_name": user.display_name}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _block_center(block: Block | None) -> dict[str, float] | None:
    return {"lat": block.center_lat, "lon": block.center_lon} if block is not None else None


def incident_record(
    *, incident: Incident, reporter: User | None, block: Block | None, assigned_patrol_name: str | None = None
) -> dict[str, Any]:
    """The full record of an incident (JSON-ready); `assigned_patrol_name` names the patrol it was
    dispatched to (its committee)."""
    return {
        "id": incident.id,
        "client_id": incident.client_id,
        "kind": incident.kind,
        "severity": incident.severity,
        "status": incident.status,
        "lat": incident.lat,
        "lon": incident.lon,
        "location_precision": "exact",
        "accuracy": incident.accuracy,
        "zone_id": incident.zone_id,
        "block_id": incident.block_id,
        "block_name": block.name if block is not None else None,
        "block_center": _block_center(block),
        "description": incident.description,
        "anonymous": incident.anonymous,
        "duplicate_of": incident.duplicate_of,
        "occurred_at": _iso(incident.occurred_at),
        "reported_at": _iso(incident.reported_at),
        "updated_at": _iso(incident.updated_at),
        "acknowledged_at": _iso(incident.acknowledged_at),
        "closed_at": _iso(incident.closed_at),
        "patrol_id": incident.patrol_id,
        "assigned_patrol_id": incident.assigned_patrol_id,
        "assigned_patrol_name": assigned_patrol_name,
        "reporter": person(reporter),
    }


def alarm_record(
    *, alarm: Alarm, block: Block | None, raised_by: User | None, acknowledged_by: User | None
) -> dict[str, Any]:
    """The full record of a block alarm (JSON-ready)."""
    return {
        "id": alarm.id,
        "zone_id": alarm.zone_id,
        "block_id": alarm.block_id,
        "block_name": block.name if block is not None else None,
        "block_center": _block_center(block),
        "status": alarm.status,
        "source": alarm.source,
        "device_id": alarm.device_id,
        "lat": alarm.lat,
        "lon": alarm.lon,
        "location_precision": "exact",
        "trigger_count": alarm.trigger_count,
        "raised_at": _iso(alarm.raised_at),
        "pressed_at": _iso(alarm.pressed_at),
        "late": alarm.pressed_at is not None and alarm.raised_at - alarm.pressed_at > ALARM_LATE_AFTER,
        "acknowledged_at": _iso(alarm.acknowledged_at),
        "escalated_at": _iso(alarm.escalated_at),
        "resolved_at": _iso(alarm.resolved_at),
        "outcome": alarm.outcome,
        "patrol_id": alarm.patrol_id,
        "raised_by": person(raised_by),
        "acknowledged_by": person(acknowledged_by),
    }


def _coarsen(view: dict[str, Any], center: dict[str, float] | None) -> None:
    if "accuracy" in view:
        view["accuracy"] = None  # of a point this view does not show
    if center:
        view["lat"], view["lon"] = center["lat"], center["lon"]
        view["location_precision"] = "block"
    else:
        # No block known: about 1 km of uncertainty, never the exact point.
        view["lat"], view["lon"] = round(view["lat"], 2), round(view["lon"], 2)
        view["location_precision"] = "zone"


def names_reporter(record: dict[str, Any], *, viewer: Viewer) -> bool:
    """Whether `viewer`, opening this one incident or alarm, is shown who reported or pressed it."""
    return viewer.role == "admin" or (viewer.role == "police" and not record.get("anonymous"))


def redact(record: dict[str, Any], *, viewer: Viewer, detail: bool = False) -> dict[str, Any]:
    """The view of an incident or alarm record that `viewer` may see (a new dict).

    `detail`: the view of one incident or alarm the viewer opened, the only one that may name
    its reporter (write that to the audit record).
    """
    view = dict(record)
    center = view.pop("block_center", None)
    view.pop("previous_assigned_patrol_id", None)  # for the push to the patrol's phones only
    if not (detail and names_reporter(record, viewer=viewer)):
        # A phone-made UUID can identify the phone (version 1 carries its MAC address), and the
        # patrol that reported names its members: both follow the reporter.
        view.pop("client_id", None)
        for key in ("reporter", "raised_by", "patrol_id"):
            if key in view:
                view[key] = None
    if viewer.role == "admin":
        return view
    if viewer.role == "neighbor":
        if "description" in view:
            view["description"] = None
        view.pop("note", None)
        if "acknowledged_by" in view:
            view["acknowledged_by"] = None
        if "assigned_patrol_id" in view:
            view["assigned_patrol_id"] = view["assigned_patrol_name"] = None
        _coarsen(view, center)
    return view


# What a reporter follows of their own incident: what they gave, and how it is being handled.
_OWN_INCIDENT_FIELDS = (
    "id", "client_id", "kind", "severity", "status", "lat", "lon", "accuracy", "zone_id", "block_id", "block_name",
    "description", "anonymous", "duplicate_of", "occurred_at", "reported_at", "updated_at",
    "acknowledged_at", "closed_at", "patrol_id", "previous_status", "changed_by_role",
)  # fmt: skip
# Of an alarm they pressed: never where the first press came from (another neighbour's door).
_OWN_ALARM_FIELDS = (
    "id", "zone_id", "block_id", "block_name", "status", "source", "trigger_count", "raised_at",
    "pressed_at", "late", "acknowledged_at", "escalated_at", "resolved_at", "outcome",
)  # fmt: skip


def own_view(record: dict[str, Any]) -> dict[str, Any]:
    """An incident or alarm record as the person who reported or pressed it follows it.

    The same for every role: their own point and description of an incident (they gave them),
    its status and times, who handled it only by role (`changed_by_role`), never a note, an
    officer's name or another reporter. An alarm shows its block, not the point of the first press.
    """
    if "kind" in record:
        view = {key: record.get(key) for key in _OWN_INCIDENT_FIELDS}
        view["location_precision"] = "exact"
        view["type"] = "incident"
    else:
        view = {key: record.get(key) for key in _OWN_ALARM_FIELDS}
        center = record.get("block_center") or {}
        view["lat"], view["lon"] = center.get("lat"), center.get("lon")
        view["location_precision"] = "block"
        view["type"] = "alarm"
    return view


# What a patrol's phones are told of an incident the station sent them to: where and what, as
# the zone's volunteers see it, never who reported it.
_ASSIGNMENT_FIELDS = (
    "id", "kind", "severity", "status", "lat", "lon", "location_precision", "zone_id", "block_id", "block_name",
    "description", "occurred_at", "updated_at", "assigned_patrol_id", "assigned_patrol_name", "note",
)  # fmt: skip


def assignment_view(record: dict[str, Any]) -> dict[str, Any]:
    """An incident record as the members of the patrol dispatched to it see it."""
    view = redact(record, viewer=Viewer(user_id=None, role="volunteer", zone_id=record["zone_id"]))
    return {key: view.get(key) for key in _ASSIGNMENT_FIELDS}
