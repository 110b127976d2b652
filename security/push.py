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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, has_request_context, request
from flask_socketio import ConnectionRefusedError, SocketIO, join_room
from sqlalchemy import Engine
from sqlalchemy import event as orm_events
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from security.accounts import ENDED_SESSIONS
from security.alarms import pressers
from security.auth import AuthError, Viewer, read_token, viewer_of
from security.context import ronda
from security.events import event_view, may_hear
from security.models import Event, User
from security.patrols import patrol_member_ids, patrol_view
from security.visibility import assignment_view, own_view
from zones.database import utcnow

socketio = SocketIO()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveSession:
    """What a connected socket was let in on: who, in which session of theirs, until when."""

    viewer: Viewer
    session_version: int
    expires_at: datetime


# sid -> its live session, for the handlers that answer a connected socket and for the watch
# that disconnects sockets whose session ended (this process's sockets only).
_live: dict[str, LiveSession] = {}


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
            holder = read_token(
                session=session,
                token=token,
                secret_key=current_app.config["SECRET_KEY"],
                max_age=current_app.config["TOKEN_TTL_SECONDS"],
            )
        except AuthError as exc:
            raise ConnectionRefusedError("unauthorized", {"reason": exc.reason}) from exc
        user = holder.user
        viewer = viewer_of(user)
        live = LiveSession(viewer=viewer, session_version=user.session_version or 0, expires_at=holder.expires_at)
    _live[request.sid] = live  # type: ignore[attr-defined]
    join_room(user_room(int(user.id)))  # type: ignore[arg-type]
    if auth.get("feed") != "mine":  # type: ignore[union-attr]
        join_room(room_of(viewer))


@socketio.on("disconnect")
def on_disconnect(reason: Any = None) -> None:
    """Socket.IO tells us a client went away."""
    _live.pop(request.sid, None)  # type: ignore[attr-defined]


@socketio.on("join_zone")
def on_join_zone(data: Any) -> dict[str, Any]:
    """A client asks for a zone's events: granted only for zones its role already receives."""
    live = _live.get(request.sid)  # type: ignore[attr-defined]
    zone_id = data.get("zone_id") if isinstance(data, dict) else None
    if live is None or not isinstance(zone_id, int):
        return {"ok": False, "error": "bad_request"}
    if live.expires_at <= utcnow():
        return {"ok": False, "error": "unauthorized"}
    if not live.viewer.may_see_zone(zone_id):
        return {"ok": False, "error": "forbidden"}
    return {"ok": True, "zone_id": zone_id}


# --- ended sessions -------------------------------------------------------------------------


def _disconnect(sids: Iterable[str], *, reason: str) -> None:
    """Tell each socket why, then close it (the client does not reconnect by itself after this)."""
    for sid in sids:
        if _live.pop(sid, None) is None:
            continue
        try:
            socketio.emit("session_ended", {"reason": reason}, to=sid)
            socketio.server.disconnect(sid, namespace="/")
        except Exception:
            log.exception("could not disconnect socket %s", sid)


@orm_events.listens_for(OrmSession, "after_commit")
def _close_ended_sessions(session: OrmSession) -> None:
    """A transaction that ended people's sessions (security.accounts) committed: close their sockets.

    Within a request, later and apart: a socket's disconnect handler runs in a request context
    of its own, whose teardown would otherwise close this very request's database session in
    the middle of its commit. Elsewhere (a `flask users` command, the tests) at once."""
    ended = [int(user_id) for user_id in session.info.pop(ENDED_SESSIONS, ())]
    for user_id in ended:
        if has_request_context():
            try:
                socketio.start_background_task(end_live_sessions, user_id)
            except Exception:  # no server in this process: each process's watch closes them
                log.exception("could not schedule closing user %s's sockets", user_id)
        else:
            end_live_sessions(user_id)


@orm_events.listens_for(OrmSession, "after_rollback")
def _forget_ended_sessions(session: OrmSession) -> None:
    session.info.pop(ENDED_SESSIONS, None)  # nothing ended after all


def end_live_sessions(user_id: int) -> None:
    """A person's sessions just ended (call after commit): their sockets on this process close now,
    and every process is told; the watch of each process closes the rest within a check."""
    _disconnect([sid for sid, live in list(_live.items()) if live.viewer.user_id == user_id], reason="ended")
    try:  # through the message queue: the phones and pages of that person learn it on every process
        socketio.emit("session_ended", {"reason": "ended"}, to=user_room(user_id))
    except Exception:
        log.exception("could not tell user %s's sockets that their session ended", user_id)


def ended_sockets(*, session: Session, now: datetime) -> dict[str, str]:
    """This process's sockets whose token expired or whose session ended (deactivated, signed out,
    a new password, role or zone), with why: sid -> expired | ended."""
    ended: dict[str, str] = {}
    current = list(_live.items())
    for sid, live in current:
        if live.expires_at <= now:
            ended[sid] = "expired"
    user_ids = {live.viewer.user_id for sid, live in current if sid not in ended and live.viewer.user_id}
    if not user_ids:
        return ended
    query = select(User.id, User.session_version, User.active).where(col(User.id).in_(user_ids))
    accounts = {row[0]: (row[1] or 0, bool(row[2])) for row in session.exec(query).all()}
    for sid, live in current:
        if sid in ended:
            continue
        version, active = accounts.get(live.viewer.user_id, (None, False))
        if not active or version != live.session_version:
            ended[sid] = "ended"
    return ended


def watch_sessions(engine: Engine, *, interval: float) -> None:
    """Forever, in each server process: close the sockets whose token expired or whose session
    ended, within `interval` seconds plus one query (an account changed on another process too)."""
    while True:
        socketio.sleep(interval)
        if not _live:
            continue
        try:
            with Session(engine) as session:
                ended = ended_sockets(session=session, now=utcnow())
            for reason in ("expired", "ended"):
                _disconnect([sid for sid, why in ended.items() if why == reason], reason=reason)
        except Exception:  # a transient database error: check again next time
            log.exception("checking live sockets against ended sessions failed; retrying")
