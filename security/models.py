"""Tables and request/response models of the citizen-security domain.

One class family per entity (Base, Create, table, Public), as in full-stack-fastapi-template.
Every timestamp is timezone-aware UTC (`UTCDateTime`).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import ConfigDict, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from security.errors import N_
from security.kinds import KINDS
from zones.database import UTCDateTime, lima_aware, utcnow

ROLES: tuple[str, ...] = ("volunteer", "coordinator", "neighbor", "police", "serenazgo", "admin")
ZONE_BOUND_ROLES = frozenset({"volunteer", "coordinator", "neighbor"})
# Who works incidents and alarms in every zone: the police station, the municipality's security
# service (serenazgo) and Ronda's administrators. Only police and admins ever see a reporter.
OPERATOR_ROLES = frozenset({"police", "serenazgo", "admin"})

IncidentStatus = Literal["reported", "acknowledged", "dispatched", "resolved", "dismissed", "duplicate"]
OPEN_STATUSES = ("reported", "acknowledged", "dispatched")
# What a listing filters on: a status, or "open" (any of OPEN_STATUSES).
StatusFilter = Literal["open", "reported", "acknowledged", "dispatched", "resolved", "dismissed", "duplicate"]
# Ids fit PostgreSQL's integer columns; anything larger is a bad request, not a server error.
MAX_ID = 2_147_483_647
Id = Annotated[int, PydanticField(ge=1, le=MAX_ID)]


def parse_id(text: str) -> int | None:
    """An id typed in a URL or header, or None when it is not one ("²", "-1", 10**30...)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


CONTROL_CHARACTERS = N_("Contiene caracteres de control (como NUL), que no se admiten aquí.")


def has_control(value: str) -> bool:
    """Whether a text carries control characters (a NUL, say), which PostgreSQL cannot even compare."""
    return _CONTROL.search(value) is not None


def no_control(value: str | None) -> str | None:
    """A name or identifier as given, refused when it carries control characters: unlike free
    text, a name is not silently changed."""
    if value is not None and has_control(value):
        raise ValueError(CONTROL_CHARACTERS)
    return value


NOT_UNICODE = N_("El texto no es Unicode válido.")
# Half of a UTF-16 pair, as JSON can carry it ("\ud800"): no database stores it, UTF-8 cannot encode it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def has_surrogate(value: str) -> bool:
    """Whether a text carries a lone UTF-16 surrogate (pydantic refuses them in str fields; raw JSON keeps them)."""
    return _SURROGATE.search(value) is not None


def clean_text(value: str | None) -> str | None:
    """Free text as stored: control characters removed (PostgreSQL refuses NUL), blank is None."""
    if value is None:
        return None
    return _CONTROL.sub("", value).strip() or None


UNKNOWN_KIND = N_("Tipo de incidente desconocido; vea GET /api/v1/incident-kinds.")
DESCRIPTION_MAX = 2000
NOTE_MAX = 1000
MAX_POSITIONS = 2000
EMPTY_NAME = N_("El nombre está vacío.")
BAD_LINESTRING = N_("Las coordenadas deben ser [longitud, latitud] en grados WGS84.")


# --- people ---------------------------------------------------------------------------


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, unique=True, index=True)
    display_name: str = Field(default="", max_length=120)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)
    zone_id: int | None = Field(default=None, foreign_key="zone.id", index=True)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Bumped to end every session at once (sign-out, deactivation, a new password, a new role or
    # zone, "cerrar todas las sesiones"): tokens and web sessions carry the version they were
    # issued under and are refused once it moves on.
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Set by a password reset: the one-time code only lets its holder choose a new password.
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    reset_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # when the one-time code stops
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TokenRequest(SQLModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        return no_control(value)  # type: ignore[return-value]


class TokenPublic(SQLModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    role: str
    zone_id: int | None


# --- incidents ------------------------------------------------------------------------


# A point in the demo district (Nueva Esperanza): the documented example of a position, so the API
# docs and the fuzzing gate have one that lands inside the district. The district's outline is
# more than a schema can say: a point outside it is a 422 on lat and lon ("fuera del distrito").
LAT_EXAMPLE = {"examples": [-12.1398]}
LON_EXAMPLE = {"examples": [-76.9281]}


class IncidentBase(SQLModel):
    kind: str = Field(max_length=40, description="One of the codes of GET /api/v1/incident-kinds")
    lat: float = Field(ge=-90, le=90, description="Latitude, WGS84 (EPSG:4326)", schema_extra=LAT_EXAMPLE)
    lon: float = Field(ge=-180, le=180, description="Longitude, WGS84 (EPSG:4326)", schema_extra=LON_EXAMPLE)
    severity: int = Field(default=2, ge=1, le=3, description="1 low, 2 medium, 3 high")
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    anonymous: bool = Field(default=False, description="Hide the reporter from everyone but admins")
    accuracy: float | None = Field(
        default=None, ge=0, le=100_000, description="Metres: how precise the phone's GPS fix was (none: a map point)"
    )


class IncidentCreate(IncidentBase):
    kind: str = Field(
        max_length=40,
        description="One of the codes of GET /api/v1/incident-kinds",
        schema_extra={"json_schema_extra": {"enum": list(KINDS)}},
    )
    client_id: uuid.UUID = Field(
        description="A UUID the phone generates; a retry with the same one is not stored twice"
    )
    occurred_at: datetime | None = Field(
        default=None, description="When it happened (ISO 8601; without an offset it is read as Lima time)"
    )
    patrol_id: Id | None = Field(default=None, description="The patrol that made the report (its members only)")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(UNKNOWN_KIND)
        return value

    @field_validator("description")
    @classmethod
    def _clean_description(cls, value: str | None) -> str | None:
        return clean_text(value)

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at(cls, value: datetime | None) -> datetime | None:
        return lima_aware(value) if value is not None else None


class Incident(IncidentBase, table=True):
    __table_args__ = (
        UniqueConstraint("reporter_id", "client_id", name="uq_incident_reporter_client"),
        Index("ix_incident_zone_occurred", "zone_id", "occurred_at"),  # a zone's months, for the trends
    )

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=36)
    # Indexed through uq_incident_reporter_client and ix_incident_zone_occurred (leading columns).
    reporter_id: int = Field(foreign_key="user.id")
    zone_id: int = Field(foreign_key="zone.id")
    block_id: int | None = Field(default=None, foreign_key="block.id", index=True)
    status: str = Field(default="reported", max_length=20)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    duplicate_of: int | None = Field(default=None, foreign_key="incident.id")
    patrol_id: int | None = Field(default=None, foreign_key="patrol.id", index=True)
    assigned_patrol_id: int | None = Field(default=None, foreign_key="patrol.id", index=True)  # sent to it
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    reported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IncidentUpdate(SQLModel):
    status: IncidentStatus
    note: str | None = Field(default=None, max_length=NOTE_MAX)
    duplicate_of: Id | None = Field(default=None, description="Required when status is 'duplicate'")
    patrol_id: Id | None = Field(
        default=None, description="With status 'dispatched': the active patrol sent to it (optional)"
    )

    @field_validator("note")
    @classmethod
    def _clean_note(cls, value: str | None) -> str | None:
        return clean_text(value)


class IncidentChange(SQLModel, table=True):
    """One status change of an incident: who moved it, when, with which note."""

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    from_status: str = Field(max_length=20)
    to_status: str = Field(max_length=20)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    changed_by: int = Field(foreign_key="user.id")
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    patrol_id: int | None = Field(default=None, foreign_key="patrol.id")  # dispatched to it


class IncidentChangePublic(SQLModel):
    at: datetime
    from_status: str
    to_status: str
    note: str | None
    by_role: str
    assigned_patrol_id: int | None = None
    assigned_patrol_name: str | None = None


class IncidentHistory(SQLModel):
    items: list[IncidentChangePublic]


class PersonPublic(SQLModel):
    id: int
    username: str
    display_name: str


class IncidentPublic(SQLModel):
    id: int
    client_id: str | None = None
    kind: str
    severity: int
    status: str
    lat: float
    lon: float
    location_precision: Literal["exact", "block", "zone"] = "exact"
    accuracy: float | None = None
    zone_id: int
    block_id: int | None
    block_name: str | None = None
    description: str | None = None
    anonymous: bool
    duplicate_of: int | None = None
    occurred_at: datetime
    reported_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    closed_at: datetime | None = None
    patrol_id: int | None = None
    assigned_patrol_id: int | None = None
    assigned_patrol_name: str | None = None
    reporter: PersonPublic | None = None


class IncidentPage(SQLModel):
    items: list[IncidentPublic]
    next_cursor: str | None


# --- block alarms ---------------------------------------------------------------------

# A press that reaches the server later than this after the phone recorded it (sent from an
# offline outbox) is marked late on police screens, with the time it was pressed.
ALARM_LATE_AFTER = timedelta(seconds=60)


class AlarmDevice(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    lat: float
    lon: float
    zone_id: int | None = Field(default=None, foreign_key="zone.id", ondelete="SET NULL", index=True)
    block_id: int | None = Field(default=None, foreign_key="block.id", ondelete="SET NULL", index=True)
    key_hash: str | None = Field(default=None, max_length=255)
    active: bool = True


class AlarmDevicePublic(SQLModel):
    id: int
    name: str
    lat: float
    lon: float
    zone_id: int | None
    block_id: int | None
    active: bool


class AlarmCreate(SQLModel):
    client_id: uuid.UUID = Field(description="A UUID the phone or device generates; retries are not stored twice")
    source: Literal["app", "device"]
    device_id: Id | None = Field(default=None, description="The alarm device pressed (or give lat/lon)")
    lat: float | None = Field(default=None, ge=-90, le=90, schema_extra=LAT_EXAMPLE)
    lon: float | None = Field(default=None, ge=-180, le=180, schema_extra=LON_EXAMPLE)
    patrol_id: Id | None = Field(default=None, description="The patrol that raised it (its members only)")
    pressed_at: datetime | None = Field(
        default=None,
        description="When it was pressed, by the phone's clock (default: now); an alarm arriving "
        "late from a phone's outbox is marked late on police screens",
    )

    @field_validator("pressed_at")
    @classmethod
    def _pressed_at(cls, value: datetime | None) -> datetime | None:
        return lima_aware(value) if value is not None else None


class Alarm(SQLModel, table=True):
    """The alarm of one urban block: every press in the block while it is active pools into it."""

    # At most one active alarm per block, even when two presses race.
    __table_args__ = (
        Index(
            "uq_alarm_active_block",
            "block_id",
            unique=True,
            sqlite_where=text("status IN ('raised', 'acknowledged')"),
            postgresql_where=text("status IN ('raised', 'acknowledged')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    zone_id: int = Field(foreign_key="zone.id", index=True)
    block_id: int = Field(foreign_key="block.id", index=True)
    status: str = Field(default="raised", max_length=20, index=True)
    source: str = Field(max_length=10)
    device_id: int | None = Field(default=None, foreign_key="alarmdevice.id")
    raised_by: int | None = Field(default=None, foreign_key="user.id")
    patrol_id: int | None = Field(default=None, foreign_key="patrol.id", index=True)
    lat: float
    lon: float
    trigger_count: int = 1
    raised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)  # the server's clock
    pressed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the first press, by the phone's clock
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: int | None = Field(default=None, foreign_key="user.id")
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: int | None = Field(default=None, foreign_key="user.id")
    outcome: str | None = Field(default=None, max_length=20)


class AlarmTrigger(SQLModel, table=True):
    """One press of an alarm (from a phone or a device), kept for idempotent retries."""

    __table_args__ = (UniqueConstraint("origin", "client_id", name="uq_alarmtrigger_origin_client"),)

    id: int | None = Field(default=None, primary_key=True)
    alarm_id: int = Field(foreign_key="alarm.id", index=True)
    origin: str = Field(max_length=40)  # "user:<id>" or "device:<id>"
    client_id: str = Field(max_length=36)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    pressed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # by the phone's clock


class AlarmResolve(SQLModel):
    outcome: Literal["real", "false_alarm"]
    note: str | None = Field(default=None, max_length=NOTE_MAX)

    @field_validator("note")
    @classmethod
    def _clean_note(cls, value: str | None) -> str | None:
        return clean_text(value)


class AlarmPublic(SQLModel):
    id: int
    zone_id: int
    block_id: int
    block_name: str | None = None
    status: str
    source: str
    device_id: int | None
    lat: float
    lon: float
    location_precision: Literal["exact", "block", "zone"] = "exact"
    trigger_count: int
    raised_at: datetime
    pressed_at: datetime | None = None
    late: bool = False
    acknowledged_at: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None
    outcome: str | None
    patrol_id: int | None = None
    raised_by: PersonPublic | None = None
    acknowledged_by: PersonPublic | None = None


# --- committees and patrols ----------------------------------------------------------


class CommitteeCreate(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    zone_id: Id

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str) -> str:
        cleaned = clean_text(no_control(value))  # a name is refused, not silently changed
        if not cleaned:
            raise ValueError(EMPTY_NAME)
        return cleaned


class Committee(SQLModel, table=True):
    """A local citizen-security committee of one zone; its members patrol together."""

    __table_args__ = (UniqueConstraint("zone_id", "name", name="uq_committee_zone_name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    zone_id: int = Field(foreign_key="zone.id", index=True)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CommitteeMember(SQLModel, table=True):
    """A volunteer or coordinator belonging to a committee."""

    committee_id: int = Field(foreign_key="committee.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CommitteeMemberPublic(PersonPublic):
    role: str


class CommitteePublic(SQLModel):
    id: int
    name: str
    zone_id: int
    member_count: int
    members: list[CommitteeMemberPublic] | None = Field(description="Who they are: not for neighbours (null)")


class MemberAdd(SQLModel):
    user_id: Id | None = Field(default=None, description="The user to add (or give username)")
    username: str | None = Field(default=None, min_length=1, max_length=80)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        return no_control(value)


class LineString(SQLModel):
    """A GeoJSON LineString in WGS84: [[lon, lat], ...] (RFC 7946)."""

    type: Literal["LineString"]
    coordinates: list[Annotated[list[float], PydanticField(min_length=2, max_length=3)]] = Field(
        min_length=2, max_length=2000
    )

    @field_validator("coordinates")
    @classmethod
    def _in_range(cls, value: list[list[float]]) -> list[list[float]]:
        for lon, lat, *_ in value:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90) or lon != lon or lat != lat:
                raise ValueError(BAD_LINESTRING)
        return value


class PatrolCreate(SQLModel):
    client_id: uuid.UUID = Field(description="A UUID the phone generates; a retry with the same one starts nothing new")
    committee_id: Id
    members: list[Id] = Field(
        default_factory=list, max_length=50, description="User ids of the members present (the starter is added)"
    )
    planned_route: LineString | None = Field(default=None, description="The planned route, a GeoJSON LineString")
    started_at: datetime | None = Field(
        default=None, description="When the shift started, by the phone's clock (default: now)"
    )

    @field_validator("started_at")
    @classmethod
    def _started_at(cls, value: datetime | None) -> datetime | None:
        return lima_aware(value) if value is not None else None


class PatrolEnd(SQLModel):
    # The document says so too: no body at all ends the shift now.
    model_config = ConfigDict(openapi_extra={"required": False})  # type: ignore[typeddict-unknown-key, assignment]

    ended_at: datetime | None = Field(default=None, description="When the shift ended, by the phone's clock")

    @model_validator(mode="before")
    @classmethod
    def _no_body(cls, value: object) -> object:
        return {} if value is None else value  # no body at all: the shift ends now

    @field_validator("ended_at")
    @classmethod
    def _ended_at(cls, value: datetime | None) -> datetime | None:
        return lima_aware(value) if value is not None else None


class Patrol(SQLModel, table=True):
    """One shift of a committee's volunteers in the street."""

    __table_args__ = (UniqueConstraint("started_by", "client_id", name="uq_patrol_starter_client"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=36)
    committee_id: int = Field(foreign_key="committee.id", index=True)
    zone_id: int = Field(foreign_key="zone.id")
    started_by: int = Field(foreign_key="user.id")
    planned_route: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # GeoJSON LineString
    # Both clocks: the phone's (what the committee counts) and the server's (when it arrived).
    started_at: datetime = Field(sa_type=UTCDateTime, index=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    end_received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by: int | None = Field(default=None, foreign_key="user.id")
    auto_closed: bool = False  # left open too long: closed by the server, flagged for the committee
    distance_m: float = 0.0
    last_lat: float | None = None
    last_lon: float | None = None
    last_position_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PatrolMember(SQLModel, table=True):
    """A member present on a patrol."""

    patrol_id: int = Field(foreign_key="patrol.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True)


class PositionIn(SQLModel):
    t: datetime = Field(description="When the phone recorded the point (ISO 8601, or Unix seconds)")
    lat: float = Field(ge=-90, le=90, schema_extra=LAT_EXAMPLE)
    lon: float = Field(ge=-180, le=180, schema_extra=LON_EXAMPLE)
    accuracy: float | None = Field(default=None, ge=0, le=100_000, description="Metres")
    speed: float | None = Field(default=None, ge=0, le=1000, description="Metres per second")
    bearing: float | None = Field(default=None, ge=0, le=360, description="Degrees")
    battery: float | None = Field(default=None, ge=0, le=100, description="Per cent")

    @field_validator("t")
    @classmethod
    def _t(cls, value: datetime) -> datetime:
        return lima_aware(value)


class PositionBatch(SQLModel):
    positions: list[PositionIn] = Field(min_length=1, max_length=MAX_POSITIONS)


class PositionRejected(SQLModel):
    index: int = Field(description="Of the point in the batch")
    field: str
    problem: Literal["future", "outside_patrol"]


class PositionsPublic(SQLModel):
    accepted: int
    duplicates: int
    rejected: list[PositionRejected]


class PointPublic(SQLModel):
    t: datetime
    lat: float
    lon: float


class PatrolPublic(SQLModel):
    id: int
    committee_id: int
    committee_name: str | None
    zone_id: int
    status: Literal["active", "ended"]
    members: list[PersonPublic]
    started_at: datetime
    received_at: datetime
    ended_at: datetime | None
    auto_closed: bool
    hours: float | None
    distance_m: float | None
    planned_route: LineString | None
    last_position: PointPublic | None = Field(default=None, description="Police, serenazgo and admins only")
    track: list[tuple[datetime, float, float]] | None = Field(
        default=None, description="With track=true (police, serenazgo, admins): the last 15 minutes, [t, lat, lon]"
    )


class PatrolPosition(SQLModel, table=True):
    """A point of a patrol's track, recorded by a phone (or a Traccar device)."""

    __table_args__ = (UniqueConstraint("patrol_id", "t", name="uq_patrolposition_patrol_t"),)

    id: int | None = Field(default=None, primary_key=True)
    patrol_id: int = Field(foreign_key="patrol.id")  # indexed through uq_patrolposition_patrol_t
    t: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lat: float
    lon: float
    accuracy: float | None = None
    speed: float | None = None
    bearing: float | None = None
    battery: float | None = None
    source: str = Field(default="app", max_length=10)  # app | osmand


class Tracker(SQLModel, table=True):
    """A GPS tracker app (Traccar Client, OsmAnd protocol) registered to a volunteer."""

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=100, unique=True, index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SyncOperation(SQLModel, table=True):
    """An operation of an offline batch that was applied: the phone's time and the server's."""

    __table_args__ = (UniqueConstraint("user_id", "client_id", name="uq_syncoperation_user_client"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id")
    client_id: str = Field(max_length=36)
    op: str = Field(max_length=20)
    phone_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ref_id: int | None = None  # the incident, alarm or patrol it touched


# --- the event log --------------------------------------------------------------------


class Event(SQLModel, table=True):
    """One state change, in the order it was committed; `seq` is what clients catch up from."""

    seq: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=40)
    zone_id: int = Field(index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    data: str = Field(sa_column=Column(Text, nullable=False))  # the full record as JSON; redacted on the way out


class EventPublic(SQLModel):
    seq: int
    type: str
    zone_id: int
    at: datetime
    data: dict[str, object]


class EventPage(SQLModel):
    events: list[EventPublic]
    last_seq: int
    has_more: bool


# --- the audit record -----------------------------------------------------------------

AuditOutcome = Literal["ok", "denied", "failed"]


class AuditEntry(SQLModel, table=True):
    """One line of the append-only record: who did (or tried) what to which object, from where.

    Nothing in Ronda updates or deletes it; on PostgreSQL a trigger refuses both.
    """

    __table_args__ = (Index("ix_auditentry_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, index=True)  # no foreign key: the record outlives anything
    actor_username: str | None = Field(default=None, max_length=80)
    actor_role: str | None = Field(default=None, max_length=20)
    action: str = Field(max_length=40, index=True)
    object_type: str | None = Field(default=None, max_length=20)
    object_id: str | None = Field(default=None, max_length=80)
    outcome: str = Field(default="ok", max_length=10)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON


class AuditEntryPublic(SQLModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_username: str | None
    actor_role: str | None
    action: str
    object_type: str | None
    object_id: str | None
    outcome: AuditOutcome
    ip: str | None
    user_agent: str | None
    detail: dict[str, object] | None


class AuditPage(SQLModel):
    items: list[AuditEntryPublic]
    next_cursor: str | None
