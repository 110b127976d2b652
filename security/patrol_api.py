"""The API of committees, patrols, trackers and the phones' offline sync (under /api/v1), and the
OsmAnd endpoint (/osmand) that Traccar Client posts positions to.

Routes are thin, as in security.api: validate, call one service, commit, push, answer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_babel import gettext
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from security import committees, patrols, sync
from security.api import (
    BEARER,
    authenticate_request,
    db,
    error_body,
    error_response,
    me,
    validation_error_response,
    viewer,
)
from security.context import ronda
from security.errors import DomainError, NotFound
from security.models import (
    CommitteeCreate,
    CommitteePublic,
    Event,
    Id,
    MemberAdd,
    PatrolCreate,
    PatrolEnd,
    PatrolPublic,
    PositionBatch,
    PositionRejected,
    PositionsPublic,
    no_control,
)
from security.openapi import JSON, ErrorBody, answer, errors
from security.osmand import parse_fix
from security.patrols import TRACKER_ID_MIN
from security.push import publish, publish_moves, socketio

# Every route here needs a token (authenticate_request below), so every one may answer 401.
patrol_api = APIBlueprint(
    "patrol_api", __name__, url_prefix="/api/v1", abp_security=BEARER, abp_responses=errors(401)
)
patrol_api.before_request(authenticate_request)
t_committees = Tag(name="committees", description="Local citizen-security committees")
t_patrols = Tag(name="patrols", description="Patrol shifts, their members and their positions")
t_sync = Tag(name="sync", description="Operations queued on a phone while it was offline")

# Operations applied between two commits of a sync batch; between chunks the server serves
# other requests and websockets (a batch never holds the event loop for long).
SYNC_CHUNK = 10
SYNC_MAX_BYTES = 8 * 1024 * 1024  # unpacked; other routes keep MAX_CONTENT_LENGTH


def _commit_and_publish(events: list[Event | None], moved: list[dict[str, Any]] | None = None) -> None:
    db().commit()
    publish_moves(moved or [])  # first: a patrol_ended among the events must be the last word
    publish(events)


# --- committees ---------------------------------------------------------------------------


class CommitteeQuery(BaseModel):
    zone_id: Id | None = None


class CommitteePath(BaseModel):
    committee_id: Id


class MemberPath(BaseModel):
    committee_id: Id
    user_id: Id


@patrol_api.get(
    "/committees",
    tags=[t_committees],
    responses={200: answer("The committees, by zone and name", {JSON: list[CommitteePublic]}), **errors(403, 422)},
    summary="Committees, by zone and name",
)
def list_committees_route(query: CommitteeQuery) -> Response:
    """A phone or dashboard lists the committees it may see."""
    who = viewer()
    rows = committees.list_committees(session=db(), viewer=who, zone_id=query.zone_id)
    return jsonify(committees.committee_views(session=db(), viewer=who, committees=rows))


@patrol_api.post(
    "/committees",
    tags=[t_committees],
    responses={201: CommitteePublic, **errors(403, 409, 413, 422)},
    summary="Create a committee (admins; coordinators in their zone)",
)
def create_committee_route(body: CommitteeCreate) -> tuple[Response, int]:
    """An admin or a zone's coordinator sets up a committee."""
    committee = committees.create_committee(session=db(), actor=me(), data=body)
    db().commit()
    return jsonify(committees.committee_view(session=db(), actor=me(), committee=committee)), 201


@patrol_api.get(
    "/committees/<int:committee_id>",
    tags=[t_committees],
    responses={200: CommitteePublic, **errors(403, 404, 422)},
    summary="One committee and its members",
)
def get_committee_route(path: CommitteePath) -> Response:
    """A phone or dashboard opens a committee."""
    committee = committees.get_committee(session=db(), viewer=viewer(), committee_id=path.committee_id)
    return jsonify(committees.committee_view(session=db(), actor=me(), committee=committee))


@patrol_api.post(
    "/committees/<int:committee_id>/members",
    tags=[t_committees],
    responses={201: CommitteePublic, 200: CommitteePublic, **errors(403, 404, 413, 422)},
    summary="Add a member (the committee's coordinators, admins)",
)
def add_member_route(path: CommitteePath, body: MemberAdd) -> tuple[Response, int]:
    """A coordinator adds a volunteer to the committee."""
    committee = committees.get_committee(session=db(), viewer=viewer(), committee_id=path.committee_id)
    user = committees.member_candidate(
        session=db(), actor=me(), committee=committee, user_id=body.user_id, username=body.username
    )
    added = committees.add_member(session=db(), actor=me(), committee=committee, user=user)
    db().commit()
    return jsonify(committees.committee_view(session=db(), actor=me(), committee=committee)), 201 if added else 200


@patrol_api.delete(
    "/committees/<int:committee_id>/members/<int:user_id>",
    tags=[t_committees],
    responses={200: CommitteePublic, **errors(403, 404, 422)},
    summary="Remove a member (the committee's coordinators, admins)",
)
def remove_member_route(path: MemberPath) -> Response:
    """A coordinator takes a member out of the committee."""
    committee = committees.get_committee(session=db(), viewer=viewer(), committee_id=path.committee_id)
    if not committees.remove_member(session=db(), actor=me(), committee=committee, user_id=path.user_id):
        raise NotFound("Esa persona no es miembro del comité.")
    db().commit()
    return jsonify(committees.committee_view(session=db(), actor=me(), committee=committee))


# --- patrols ------------------------------------------------------------------------------


class PatrolQuery(BaseModel):
    zone_id: Id | None = None
    active: bool = Field(default=True, description="Only patrols still in the street")
    track: bool = Field(default=False, description="Add the last 15 minutes of track (police, admins)")


class PatrolPath(BaseModel):
    patrol_id: Id


def _patrol_answer(patrol: patrols.Patrol, *, status: int = 200) -> tuple[Response, int]:
    record = patrols.patrol_record(db(), patrol)
    return jsonify(patrols.patrol_view(record, viewer=viewer())), status


@patrol_api.post(
    "/patrols",
    tags=[t_patrols],
    responses={201: PatrolPublic, 200: PatrolPublic, **errors(403, 409, 413, 422)},
    summary="Start a patrol shift (idempotent on client_id)",
)
def start_patrol_route(body: PatrolCreate) -> tuple[Response, int]:
    """A committee member's phone starts the shift."""
    patrol, events = patrols.start_patrol(session=db(), actor=me(), data=body)
    _commit_and_publish(list(events))
    started = any(e.type == "patrol_started" for e in events)
    return _patrol_answer(patrol, status=201 if started else 200)


@patrol_api.get(
    "/patrols",
    tags=[t_patrols],
    responses={200: answer("The patrols, newest first", {JSON: list[PatrolPublic]}), **errors(403, 422)},
    summary="Patrols, newest first (police, admins, the zone's committees)",
)
def list_patrols_route(query: PatrolQuery) -> Response:
    """A police dashboard draws the patrols in the street."""
    who = viewer()
    rows = patrols.list_patrols(session=db(), viewer=who, zone_id=query.zone_id, active_only=query.active)
    records = patrols.patrol_records(session=db(), patrols=rows, with_track=query.track and who.sees_all_zones)
    return jsonify([patrols.patrol_view(r, viewer=who) for r in records])


@patrol_api.get(
    "/patrols/<int:patrol_id>",
    tags=[t_patrols],
    responses={200: PatrolPublic, **errors(403, 404, 422)},
    summary="One patrol",
)
def get_patrol_route(path: PatrolPath) -> tuple[Response, int]:
    """A dashboard opens a patrol."""
    return _patrol_answer(patrols.get_patrol(session=db(), viewer=viewer(), patrol_id=path.patrol_id))


@patrol_api.post(
    "/patrols/<int:patrol_id>/end",
    tags=[t_patrols],
    responses={200: PatrolPublic, **errors(403, 404, 413, 422)},
    summary="End a patrol shift (ending it again changes nothing)",
)
def end_patrol_route(path: PatrolPath, body: PatrolEnd) -> tuple[Response, int]:
    """A member's phone ends the shift."""
    # No body means "now"; a body that is not JSON must not end the shift at the wrong time, and
    # one sent without a JSON content type still says when it ended.
    raw = request.get_data().strip()
    if raw:
        try:
            body = PatrolEnd.model_validate_json(raw)
        except ValidationError as exc:
            return validation_error_response(exc), 422
    patrol, event = patrols.end_patrol(session=db(), actor=me(), patrol_id=path.patrol_id, data=body)
    _commit_and_publish([event])
    return _patrol_answer(patrol)


@patrol_api.post(
    "/patrols/<int:patrol_id>/positions",
    tags=[t_patrols],
    responses={200: PositionsPublic, **errors(403, 404, 413, 422)},
    summary="Positions a member's phone recorded on the patrol",
)
def record_positions_route(path: PatrolPath, body: PositionBatch) -> Response:
    """A member's phone sends the points it recorded."""
    result = patrols.record_positions(session=db(), actor=me(), patrol_id=path.patrol_id, positions=body.positions)
    _commit_and_publish([], patrols.moved_payloads(result))
    return jsonify({"accepted": result.accepted, "duplicates": result.duplicates, "rejected": result.rejected})


class TrackerCreate(BaseModel):
    device_id: str | None = Field(
        default=None,
        min_length=TRACKER_ID_MIN,
        max_length=100,
        description="The device identifier set in Traccar Client (at least 16 characters: it is the tracker's only "
        "secret); omit it and the server makes one to type in",
    )
    user_id: Id | None = Field(default=None, description="Whose tracker (default: yours; admins and coordinators "
                               "may register one for a member of their zone)")  # fmt: skip

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str | None) -> str | None:
        return no_control(value)


class TrackerPublic(BaseModel):
    id: int
    device_id: str = Field(description="To type into Traccar Client as its device identifier")
    user_id: int


@patrol_api.post(
    "/trackers",
    tags=[t_patrols],
    responses={201: TrackerPublic, **errors(403, 404, 409, 413, 422)},
    summary="Register a Traccar Client device id to a volunteer (OsmAnd protocol at /osmand)",
)
def register_tracker_route(body: TrackerCreate) -> tuple[Response, int]:
    """A volunteer links the tracker app of their phone."""
    actor = me()
    owner = actor if body.user_id in (None, actor.id) else patrols.tracker_owner(session=db(), actor=actor,
                                                                                 user_id=body.user_id)  # fmt: skip
    tracker = patrols.register_tracker(session=db(), device_id=body.device_id, user=owner, actor=actor)
    db().commit()
    return jsonify({"id": tracker.id, "device_id": tracker.device_id, "user_id": tracker.user_id}), 201


# --- offline sync ---------------------------------------------------------------------------


class OperationResult(BaseModel):
    index: int = Field(description="The operation's place in the batch")
    status: sync.Status
    id: int | None = Field(default=None, description="The incident, alarm or patrol it made or touched")
    client_id: str | None = Field(default=None, description="Of a rejected operation (null when it had none)")
    error: ErrorBody | None = Field(default=None, description="Why it was rejected; fields are named as data.<field>")
    accepted: int | None = Field(default=None, description="positions: points stored")
    duplicates: int | None = Field(default=None, description="positions: points already stored")
    rejected: list[PositionRejected] | None = Field(default=None, description="positions: points refused")


class SyncPublic(BaseModel):
    applied: int
    already_applied: int
    rejected: int
    results: list[OperationResult]


@patrol_api.post(
    "/sync",
    tags=[t_sync],
    responses={200: SyncPublic, **errors(413, 422, 503)},
    summary="Apply operations a phone queued offline, in order and idempotently; one answer per operation",
)
def sync_route(body: sync.SyncBatch) -> Response:
    """A phone that got its signal back sends what it recorded."""
    user = me()
    results: list[dict[str, Any]] = []
    events: list[Event | None] = []
    moved: list[dict[str, Any]] = []
    session = db()
    try:
        for outcome in sync.apply_operations(
            session=session, user=user, operations=body.operations, index=ronda().index
        ):
            results.append(_outcome_view(outcome))
            events.extend(outcome.events)
            moved.extend(outcome.moved)
            if (outcome.index + 1) % SYNC_CHUNK == 0:
                _commit_and_publish(events, moved)
                events, moved = [], []
                socketio.sleep(0.001)  # a timer, not sleep(0): the loop polls sockets, so others get served
        _commit_and_publish(events, moved)
    except OperationalError:
        # The database is busy (another writer held it too long): what was committed stays, and
        # the phone sends the batch again; applied operations are not applied twice.
        session.rollback()
        current_app.logger.warning("sync of %s operations stopped: database busy", len(body.operations))
        response = error_response(
            503, "busy", gettext("El servidor está ocupado; envíe el lote de nuevo (nada se aplica dos veces).")
        )
        response.headers["Retry-After"] = "5"
        return response
    counts = {
        status: sum(1 for r in results if r["status"] == status)
        for status in ("applied", "already_applied", "rejected")
    }
    return jsonify({**counts, "results": results})


def _outcome_view(outcome: sync.Outcome) -> dict[str, Any]:
    """One operation's answer, compact: its index in the batch, status, and id or error.

    The phone knows its operations by their order; only refused ones repeat their client_id
    (a UUID costs ~20 bytes even gzipped, most of a 500-operation answer).
    """
    view: dict[str, Any] = {"index": outcome.index, "status": outcome.status}
    if outcome.id is not None:
        view["id"] = outcome.id
    if outcome.error is not None:
        view["client_id"] = outcome.client_id
        view["error"] = error_body(outcome.error, prefix=outcome.error_prefix)
    view.update(outcome.details)
    return view


@patrol_api.before_request
def _sync_limits() -> None:
    if request.endpoint == "patrol_api.sync_route":
        request.max_content_length = SYNC_MAX_BYTES


# --- OsmAnd (Traccar Client) -----------------------------------------------------------------

tracking = Blueprint("tracking", __name__)


@tracking.route("/osmand", methods=["GET", "POST"])
def osmand() -> tuple[Response, int]:
    """Traccar Client (or OsmAnd) reports where a registered volunteer's phone is."""
    session = Session(ronda().engine, expire_on_commit=False)
    try:
        body = request.get_json(silent=True) if request.is_json else None
        params = request.values.to_dict()
        try:
            fix = parse_fix(params=params, body=body)
        except DomainError as exc:
            answer = error_body(exc)
            return error_response(400, answer.pop("error"), answer.pop("message"), answer.pop("fields", None)), 400
        tracker, patrol = patrols.tracker_patrol(session=session, device_id=fix.device_id, at=fix.position.t)
        if tracker is None:
            return error_response(
                403,
                "unknown_device",
                gettext("Dispositivo no registrado: regístrelo en Ronda (POST /api/v1/trackers)."),
            ), 403
        # Off duty, a volunteer is not tracked: the point is acknowledged (so the app does not
        # resend it for ever) and dropped.
        if not fix.valid or patrol is None:
            return jsonify({"stored": False}), 200
        result = patrols.store_positions(session=session, patrol=patrol, positions=[fix.position], source="osmand")
        session.commit()
        publish_moves(patrols.moved_payloads(result))
        return jsonify({"stored": result.accepted == 1, "duplicate": result.duplicates == 1}), 200
    finally:
        session.close()


def init_app(app: Flask) -> None:
    """Register the committees, patrols and sync API, and the OsmAnd endpoint."""
    app.register_api(patrol_api)  # type: ignore[attr-defined]
    app.register_blueprint(tracking)
