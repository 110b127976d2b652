"""The bare baseline: the least a Flask-SocketIO + SQLModel server must do to push a report live.

One POST endpoint validates a small SQLModel body, inserts one row into SQLite (WAL,
synchronous=NORMAL), commits, broadcasts the row to every connected Socket.IO client and
answers 201. No users, zones, rooms, event log or redaction: any token is accepted. It serves
the same URLs and payload shapes as Ronda, so the same load clients drive both:

    POST /api/v1/auth/token   {username, password} -> {access_token: "bare", ...}
    POST /api/v1/incidents    {client_id, kind, lat, lon, description?} -> 201 + the row
    GET  /api/v1/zones        200 (readiness)
    GET  /form                the least a phone page can be: sign in, then one button that posts a
                              report with fetch (no outbox, no service worker, no map), for
                              benchmarks/phone_app.py to compare Ronda's phone app against
    Socket.IO event `incident_reported`: {seq, type, zone_id, at, data: {id, client_id, ...}}

Served like Ronda: gevent pywsgi with gevent-websocket and TCP_NODELAY on every connection.

    .venv/bin/python benchmarks/bare_push_server.py --port 5050 --db /tmp/bare.db
"""

if __name__ == "__main__":
    # Before anything imports socket or threading.
    from gevent import monkey

    monkey.patch_all()

import argparse
import contextlib
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_socketio import SocketIO
from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine

socketio = SocketIO()
# Sign in, then report: one page, inline script, every request with fetch.
FORM = """<!doctype html><html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Bare</title></head><body>
<form id="signin"><input id="username" required><input id="password" type="password" required>
<button id="signin-submit">Entrar</button></form>
<div id="report" hidden><button id="send" type="button">Enviar</button><p id="done"></p></div>
<script>
var token = null;
document.getElementById("signin").addEventListener("submit", function (e) {
  e.preventDefault();
  fetch("/api/v1/auth/token", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({username: username.value, password: password.value})})
    .then(function (r) { return r.json(); }).then(function (b) {
      token = b.access_token; signin.hidden = true; report.hidden = false;
      document.body.setAttribute("data-ready", "report");
    });
});
document.getElementById("send").addEventListener("click", function () {
  done.textContent = "";
  fetch("/api/v1/incidents", {method: "POST", headers: {"Content-Type": "application/json",
    "Authorization": "Bearer " + token}, body: JSON.stringify({client_id: crypto.randomUUID(),
    kind: "robbery", lat: -12.1398, lon: -76.9281, severity: 2})})
    .then(function (r) { done.textContent = r.status === 201 ? "sent" : "failed " + r.status; });
});
document.body.setAttribute("data-ready", "signin");
</script></body></html>"""


class BareIncidentCreate(SQLModel):
    """What a phone posts (the fields Ronda's IncidentCreate also requires)."""

    client_id: uuid.UUID
    kind: str = Field(min_length=1, max_length=40)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    severity: int = Field(default=2, ge=1, le=3)
    description: str | None = Field(default=None, max_length=2000)


class BareIncident(SQLModel, table=True):
    """One stored report."""

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=36)
    kind: str = Field(max_length=40)
    lat: float
    lon: float
    severity: int = 2
    description: str | None = None
    zone_id: int = 1
    status: str = "reported"
    reported_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(path: str) -> Engine:
    """A SQLite engine in WAL mode with synchronous=NORMAL, tables created."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 10})
    event.listen(engine, "connect", _sqlite_pragmas)
    SQLModel.metadata.create_all(engine)
    return engine


def create_app(db_path: str) -> Flask:
    """The baseline app: token, incidents and zones routes, Socket.IO in gevent mode."""
    app = Flask(__name__)
    engine = make_engine(db_path)

    @app.post("/api/v1/auth/token")
    def issue_token() -> Response:
        """Any credentials get the same dummy token."""
        return jsonify({"access_token": "bare", "token_type": "bearer", "expires_in": 43200})

    @app.get("/form")
    def form() -> Response:
        """A minimal report page: the floor for a phone page's bytes and round trips."""
        return Response(FORM, mimetype="text/html")

    @app.get("/api/v1/zones")
    def list_zones() -> Response:
        """Readiness probe (an empty FeatureCollection)."""
        return jsonify({"type": "FeatureCollection", "features": []})

    @app.post("/api/v1/incidents")
    def report_incident() -> tuple[Response, int]:
        """Validate, insert one row, commit, broadcast it, answer 201."""
        try:
            body = BareIncidentCreate.model_validate(request.get_json(force=True, silent=True) or {})
        except ValidationError as exc:
            return jsonify({"error": "validation_error", "fields": exc.errors(include_url=False)}), 422
        with Session(engine, expire_on_commit=False) as session:
            row = BareIncident(
                client_id=str(body.client_id),
                kind=body.kind,
                lat=body.lat,
                lon=body.lon,
                severity=body.severity,
                description=body.description,
            )
            session.add(row)
            session.commit()
        record = row.model_dump(mode="json")
        event = {"seq": row.id, "type": "incident_reported", "zone_id": row.zone_id, "at": record["reported_at"]}
        socketio.emit("incident_reported", event | {"data": record})
        return jsonify(record), 201

    @socketio.on("connect")
    def on_connect(auth: Any = None) -> bool:
        """Any dashboard may connect, with or without a token."""
        return True

    socketio.init_app(app, async_mode="gevent", ping_interval=20, ping_timeout=20)
    return app


def serve(app: Flask, *, host: str, port: int) -> None:
    """Serve with gevent pywsgi + gevent-websocket, TCP_NODELAY on every accepted socket."""
    from gevent import pywsgi
    from geventwebsocket.handler import WebSocketHandler

    class NoDelayHandler(WebSocketHandler):  # type: ignore[misc]
        # pywsgi writes headers and body separately; without TCP_NODELAY a keep-alive client
        # waits ~40 ms per request on Nagle + delayed ACK (STACK-NOTES.md).
        def handle(self) -> Any:
            with contextlib.suppress(OSError):
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return super().handle()

    server = pywsgi.WSGIServer((host, port), app, handler_class=NoDelayHandler, log=None)
    print(f"bare push server listening on http://{host}:{port}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--db", required=True, help="SQLite file (created if missing)")
    args = parser.parse_args()
    serve(create_app(args.db), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
