"""Live push over Socket.IO: who may connect, which rooms they join, and the one `publish`.

Rooms are per audience: `police`, `admin`, and per zone `zone:<id>:member` (volunteers and
coordinators) and `zone:<id>:neighbor`. Every event is emitted once to each audience room,
redacted for that audience, so what a socket receives never depends on what it asks for.
Each person also has a room of their own, `user:<id>`: a change to an incident they reported
or an alarm they pressed reaches it as `own_report_updated` (anonymous reports included; no
other room learns who reported), and a patrol they are on, started or ended from any phone,
as `own_patrol_updated` (without its positions), and an incident the station dispatched that
patrol to (or took off it) as `patrol_assignment`. A phone that only follows its own reports connects with
auth={"token": ..., "feed": "mine"} and joins that room alone.
With a message queue (Redis) the emits reach the sockets of every server process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from flask import current_app, request
from flask_socketio import ConnectionRefusedError, SocketIO, join_room
from sqlmodel import Session

from security.alarms import pressers
from security.auth import AuthError, Viewer, user_from_token, viewer_of
from security.context import ronda
from security.events import event_view, may_hear
from security.models import Event
from security.patrols import patrol_member_ids, patrol_view
from security.visibility import assignment_view, own_view
from zones.database import utcnow

socketio = SocketIO()
log = logging.getLogger(__name__)

# sid -> viewer, for the handlers that answer a connected socket.
_viewers: dict[str, Viewer] = {}


def audiences(zone_id: int) -> list[tuple[str, Viewer]]:
    """Each room that hears about an event of `zone_id`, with the viewer it stands for."""
    return [
        ("police", Viewer(user_id=None, role="police", zone_id=None)),
        ("serenazgo", Viewer(user_id=None, role="serenazgo", zone_id=None)),
        ("admin", Viewer(user_id=None, role="admin", zone_id=None)),
        (f"zone:{zone_id}:member", Viewer(user_id=None, role="volunteer", zone_id=zone_id)),
        (f"zone:{zone_id}:neighbor", Viewer(user_id=None, role="neighbor", zone_id=zone_id)),
    ]


def room_of(viewer: Viewer) -> str:
    """The one audience room a viewer's sockets join."""
    if viewer.is_operator:
        return viewer.role
    kind = "neighbor" if viewer.role == "neighbor" else "member"
    return f"zone:{viewer.zone_id}:{kind}"


def user_room(user_id: int) -> str:
    """The room of one person's own sockets (their phone, their other devices)."""
    return f"user:{user_id}"


def publish(events: Iterable[Event | None]) -> None:
    """Push committed events to every audience that may see them (call after commit).

    A push that fails (the message queue is down, say) is logged, never raised: the change
    is already committed and acknowledged, and clients catch up from `GET /api/v1/events`.
    """
    for event in events:
        if event is None:
            continue
        if event.type == "patrol_ended":
            moves.forget(json.loads(event.data)["id"])
        try:
            for room, viewer in audiences(event.zone_id):
                if may_hear(event.type, viewer):
                    socketio.emit(event.type, event_view(event, viewer=viewer), to=room)
            _publish_to_owners(event)
        except Exception:
            log.exception("live push of event %s failed; clients will catch up from the log", event.seq)


def _publish_to_owners(event: Event) -> None:
    """The change of an incident or alarm, to the rooms of the people who reported or pressed it;
    a patrol started or ended, to the rooms of its members (their phones show the shift)."""
    if event.type in ("patrol_started", "patrol_ended"):
        record = json.loads(event.data)
        member_view = patrol_view(record, viewer=Viewer(user_id=None, role="volunteer", zone_id=record["zone_id"]))
        shift = {"seq": event.seq, "type": event.type, "at": event.at.isoformat(), "data": member_view}
        for member in record["members"]:
            socketio.emit("own_patrol_updated", shift, to=user_room(member["id"]))
        return
    if event.type.startswith("incident_"):
        record = json.loads(event.data)
        try:
            _publish_assignment(event, record)
        except Exception:  # the reporter's own push below must not depend on it
            log.exception("push of event %s to the patrol dispatched failed", event.seq)
        owners = [record["reporter"]["id"]] if record.get("reporter") else []
    elif event.type.startswith("alarm_"):
        record = json.loads(event.data)
        with Session(ronda().engine) as session:
            owners = pressers(session=session, alarm_id=record["id"])
    else:
        return
    if not owners:
        return
    payload = {"seq": event.seq, "type": event.type, "at": event.at.isoformat(), "data": own_view(record)}
    for user_id in owners:
        socketio.emit("own_report_updated", payload, to=user_room(user_id))


def _publish_assignment(event: Event, record: dict[str, Any]) -> None:
    """An incident the station dispatched to a patrol, or took off it (closed, or sent to another
    patrol), to the phones of that patrol's members as `patrol_assignment`."""
    if event.type != "incident_updated":
        return
    patrols = {record.get("previous_assigned_patrol_id")}
    if record.get("status") == "dispatched":
        patrols.add(record.get("assigned_patrol_id"))
    patrol_ids = {int(p) for p in patrols if p}
    if not patrol_ids:
        return
    with Session(ronda().engine) as session:
        members = patrol_member_ids(session=session, patrol_ids=patrol_ids)
    payload = {
        "seq": event.seq,
        "type": "patrol_assignment",
        "at": event.at.isoformat(),
        "data": assignment_view(record),
    }
    for user_id in sorted(members):
        socketio.emit("patrol_assignment", payload, to=user_room(user_id))


class MoveThrottle:
    """At most one `patrol_moved` per patrol every `interval` seconds, however many points arrive.

    The first batch is pushed at once; batches arriving within the interval are merged and
    pushed when it ends (so the map always ends on the newest point). Positions are state,
    not history: `patrol_moved` is not logged, and a map that reconnects reads the active
    patrols again (`GET /api/v1/patrols?active=true&track=true`). Each server process
    throttles what it receives.
    """

    MAX_POINTS = 300  # of track in one push; the map keeps the last 15 minutes

    def __init__(self) -> None:
        self._last: dict[int, float] = {}
        self._pending: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def offer(self, data: dict[str, Any], *, interval: float) -> None:
        """Push `data` (a patrol's new points) now, or merged into the push at the interval's end."""
        patrol_id = int(data["id"])
        now = time.monotonic()
        with self._lock:
            pending = self._pending.get(patrol_id)
            if pending is not None:
                pending["points"] = (pending["points"] + data["points"])[-self.MAX_POINTS :]
                if data["last_position"] and data["last_position"]["t"] >= (pending["last_position"] or {}).get(
                    "t", ""
                ):
                    pending["last_position"] = data["last_position"]
                return
            last = self._last.get(patrol_id)
            if last is not None and now - last < interval:
                self._pending[patrol_id] = dict(data, points=data["points"][-self.MAX_POINTS :])
                socketio.start_background_task(self._push_later, patrol_id, last + interval - now)
                return
            self._last[patrol_id] = now
            self._forget_older_than(now - 10 * interval)
        _emit_moved(dict(data, points=data["points"][-self.MAX_POINTS :]))

    def forget(self, patrol_id: int) -> None:
        """A patrol ended: drop the push it still had pending (it would bring it back on the map)."""
        with self._lock:
            self._pending.pop(patrol_id, None)

    def _push_later(self, patrol_id: int, delay: float) -> None:
        socketio.sleep(delay)
        with self._lock:
            data = self._pending.pop(patrol_id, None)
            self._last[patrol_id] = time.monotonic()
        if data is not None:
            _emit_moved(data)

    def _forget_older_than(self, moment: float) -> None:
        for patrol_id in [p for p, at in self._last.items() if at < moment and p not in self._pending]:
            del self._last[patrol_id]


moves = MoveThrottle()


def _emit_moved(data: dict[str, Any]) -> None:
    payload = {
        "seq": None,
        "type": "patrol_moved",
        "zone_id": data["zone_id"],
        "at": utcnow().isoformat(),
        "data": data,
    }
    try:
        for room in ("police", "serenazgo", "admin"):
            socketio.emit("patrol_moved", payload, to=room)
    except Exception:
        log.exception("live push of patrol %s's position failed", data.get("id"))


def publish_moves(moved: Iterable[dict[str, Any]]) -> None:
    """Push patrols' new positions to police dashboards, throttled (call after commit)."""
    interval = float(current_app.config.get("PATROL_PUSH_SECONDS", 5))
    for data in moved:
        if data.get("points"):
            moves.offer(data, interval=interval)


@socketio.on("connect")
def on_connect(auth: dict[str, Any] | None = None) -> None:
    """A dashboard or phone connects with auth={"token": ..., "feed"?: "mine"}; anything else is refused."""
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, str) or not token:
        raise ConnectionRefusedError("unauthorized", {"reason": "missing"})
    state = ronda()
    with Session(state.engine) as session:
        try:
            user = user_from_token(
                session=session,
                token=token,
                secret_key=current_app.config["SECRET_KEY"],
                max_age=current_app.config["TOKEN_TTL_SECONDS"],
            )
        except AuthError as exc:
            raise ConnectionRefusedError("unauthorized", {"reason": exc.reason}) from exc
        viewer = viewer_of(user)
    _viewers[request.sid] = viewer  # type: ignore[attr-defined]
    join_room(user_room(int(user.id)))  # type: ignore[arg-type]
    if auth.get("feed") != "mine":  # type: ignore[union-attr]
        join_room(room_of(viewer))


@socketio.on("disconnect")
def on_disconnect(reason: Any = None) -> None:
    """Socket.IO tells us a client went away."""
    _viewers.pop(request.sid, None)  # type: ignore[attr-defined]


@socketio.on("join_zone")
def on_join_zone(data: Any) -> dict[str, Any]:
    """A client asks for a zone's events: granted only for zones its role already receives."""
    viewer = _viewers.get(request.sid)  # type: ignore[attr-defined]
    zone_id = data.get("zone_id") if isinstance(data, dict) else None
    if viewer is None or not isinstance(zone_id, int):
        return {"ok": False, "error": "bad_request"}
    if not viewer.may_see_zone(zone_id):
        return {"ok": False, "error": "forbidden"}
    return {"ok": True, "zone_id": zone_id}
