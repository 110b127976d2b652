"""Ronda: wiring of the application (configuration, extensions, blueprints, commands, server).

Run it with `python app.py [--host H] [--port P]`; manage it with `flask --app app ...`.
"""

if __name__ == "__main__":
    # First thing, before anything imports socket or threading: the live push is served by
    # gevent (see ../shared/STACK-NOTES.md for the measurements behind this choice).
    from gevent import monkey

    monkey.patch_all()

import argparse
import contextlib
import logging
import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, redirect, request
from flask_babel import Babel
from flask_openapi3 import Info, OpenAPI
from sqlmodel import Session, col, select

from dashboards import api as dashboards_api
from dashboards import cli as dashboards_cli
from dashboards.account import account
from dashboards.admin import admin
from dashboards.admin_committees import admin_committees
from dashboards.admin_devices import admin_devices
from dashboards.admin_home import admin_home
from dashboards.admin_users import admin_users
from dashboards.console import console
from dashboards.phone import phone
from dashboards.report_views import report_web
from dashboards.views import web
from security import api as security_api
from security import cli as security_cli
from security import headers as security_headers
from security import me_api, patrol_api
from security.alarms import escalate_overdue
from security.context import Ronda, ronda
from security.openapi import ErrorBody, RondaOpenAPI
from security.patrols import close_overdue
from security.push import publish, socketio, watch_sessions
from security.throttle import SignInThrottle, storage_uri
from zones.database import make_engine, migrate
from zones.service import build_index, zone_count

ROOT = Path(__file__).resolve().parent
LANGUAGES = ("es", "en")
# Secrets that must never protect a real deployment (refused outside debug and testing).
DEV_SECRET_KEYS = frozenset({"dev", "development", "secret", "changeme", "change-me", "ronda-dev"})
log = logging.getLogger("ronda")


def _env_config() -> dict[str, Any]:
    """Settings taken from the environment (only those that are set)."""
    config: dict[str, Any] = {}
    for name in ("DATABASE_URL", "SOCKETIO_MESSAGE_QUEUE", "SECRET_KEY", "RATE_LIMIT_STORAGE"):
        if os.environ.get(name):
            config[name] = os.environ[name]
    for name in (
        "TOKEN_TTL_SECONDS",
        "ALARM_ESCALATION_SECONDS",
        "INCIDENT_ACK_OVERDUE_MINUTES",
        "PROXY_COUNT",
        "SIGN_IN_MAX_FAILURES",
        "SIGN_IN_ADDRESS_MAX_FAILURES",
        "SIGN_IN_WINDOW_SECONDS",
    ):
        if os.environ.get(name):
            config[name] = int(os.environ[name])
    for name in ("PATROL_PUSH_SECONDS", "SESSION_CHECK_SECONDS"):
        if os.environ.get(name):
            config[name] = float(os.environ[name])
    if os.environ.get("MAP_TILES", "").lower() in ("0", "false", "no"):
        config["MAP_TILES"] = False  # no OpenStreetMap background (a station with no internet)
    if os.environ.get("RONDA_DEBUG", "").lower() in ("1", "true", "yes"):
        config["DEBUG"] = True
    if os.environ.get("RONDA_HTTPS", "").lower() in ("1", "true", "yes"):
        config["HTTPS"] = True
    if os.environ.get("RONDA_ALLOWED_ORIGINS"):
        config["ALLOWED_ORIGINS"] = os.environ["RONDA_ALLOWED_ORIGINS"]
    return config


def _secret_key(app: Flask) -> str:
    """The configured secret, refusing known development values outside debug and testing.

    With none configured, a random one is made once and kept in the instance folder, so
    tokens survive a restart and no two installations share a key.
    """
    key = app.config.get("SECRET_KEY")
    relaxed = app.debug or app.testing
    if key:
        if str(key) in DEV_SECRET_KEYS and not relaxed:
            raise RuntimeError(
                "SECRET_KEY is set to a development value; set a long random SECRET_KEY "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return str(key)
    if relaxed:
        return "ronda-dev"
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _compile_translations(directory: Path) -> None:
    """Compile each messages.po whose .mo is missing or older (the .mo files are not in git)."""
    for po_path in directory.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)


def select_locale() -> str:
    """?lang=, then the `lang` cookie, then the browser's languages; Spanish by default."""
    asked = request.args.get("lang") or request.cookies.get("lang")
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES, default="es") or "es"


def load_demo(*, session: Session) -> None:
    """Load the demo district (zones, blocks and alarm devices) from data/."""
    from security.alarms import load_devices
    from security.committees import create_committee
    from security.models import CommitteeCreate
    from zones.geometry import read_boundaries
    from zones.models import Zone
    from zones.service import replace_district

    data = ROOT / "data"
    replace_district(
        session=session,
        zones=read_boundaries(path=data / "vmt_zones.geojson"),
        blocks=read_boundaries(path=data / "vmt_blocks.geojson"),
        block_zone_property="zone",
    )
    session.flush()
    load_devices(session=session, path=data / "vmt_alarm_devices.geojson", index=build_index(session=session))
    # A few committees per zone, named after their zone (invented for the demo, like the geometry).
    for zone in session.exec(select(Zone).order_by(col(Zone.id))).all():
        for sector in ("A", "B", "C"):
            name = f"Comité vecinal {zone.name} – Sector {sector}"
            create_committee(session=session, actor=None, data=CommitteeCreate(name=name, zone_id=zone.id))  # type: ignore[arg-type]


def create_app(test_config: dict[str, Any] | None = None) -> OpenAPI:
    """Build the application: defaults, then the environment, then `test_config`."""
    app = RondaOpenAPI(
        __name__,
        info=Info(
            title="Ronda API",
            version="1.0.0",
            description="Seguridad ciudadana de Villa María del Triunfo: incidentes, alarmas vecinales y "
            "eventos en vivo. / Citizen security for Villa María del Triunfo.",
        ),
        security_schemes={
            "bearer": {"type": "http", "scheme": "bearer"},
            "deviceKey": {"type": "apiKey", "in": "header", "name": "X-Device-Key"},  # street alarm devices
        },
        doc_prefix="/api",
        doc_url="/v1/openapi.json",
        validation_error_callback=security_api.validation_error_response,
        validation_error_model=ErrorBody,
        instance_path=os.environ.get("RONDA_INSTANCE_PATH") or str(ROOT / "instance"),
        instance_relative_config=True,
    )
    app.config.from_mapping(
        DATABASE_URL=None,
        SOCKETIO_MESSAGE_QUEUE=None,
        SECRET_KEY=None,
        TOKEN_TTL_SECONDS=12 * 3600,
        ALARM_ESCALATION_SECONDS=120,
        # An incident still unacknowledged this long is highlighted in the operators' queue.
        INCIDENT_ACK_OVERDUE_MINUTES=15,
        # Proxies in front (nginx: 1) whose X-Forwarded-For/-Proto to trust, for the audit's addresses.
        PROXY_COUNT=0,
        PATROL_PUSH_SECONDS=5,
        # Sign-in throttling (security/throttle.py): failures per account (and per known device)
        # and per client address within the window; counts in Redis when one is configured.
        SIGN_IN_MAX_FAILURES=10,
        SIGN_IN_ADDRESS_MAX_FAILURES=30,
        SIGN_IN_WINDOW_SECONDS=15 * 60,
        RATE_LIMIT_STORAGE=None,
        # How often each server process checks its live sockets against ended sessions and expired tokens.
        SESSION_CHECK_SECONDS=1.0,
        LOAD_DEMO=True,
        MAX_CONTENT_LENGTH=1024 * 1024,
        BABEL_DEFAULT_LOCALE="es",
        BABEL_DEFAULT_TIMEZONE="America/Lima",
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "translations"),
        SOCKETIO_ASYNC_MODE="threading",
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAP_TILES=True,  # `python app.py` serves with gevent; see main()
        # Served over HTTPS (behind a TLS proxy): HSTS and Secure cookies even when the proxy's
        # X-Forwarded-Proto is not trusted (security/headers.py).
        HTTPS=False,
        # Origins whose pages may open the live channel; None: the page's own origin only.
        ALLOWED_ORIGINS=None,
    )
    app.config.update(_env_config())
    if test_config:
        app.config.update(test_config)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'ronda.db'}"
    app.config["SECRET_KEY"] = _secret_key(app)

    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep fields in model order
    _compile_translations(ROOT / "translations")
    Babel(app, locale_selector=select_locale)

    engine = make_engine(app.config["DATABASE_URL"])
    migrate(engine)
    with Session(engine) as session:
        if app.config["LOAD_DEMO"] and zone_count(session=session) == 0:
            load_demo(session=session)
            session.commit()
        index = build_index(session=session)
    throttle = SignInThrottle(
        storage_uri(configured=app.config["RATE_LIMIT_STORAGE"], message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"]),
        account_limit=app.config["SIGN_IN_MAX_FAILURES"],
        address_limit=app.config["SIGN_IN_ADDRESS_MAX_FAILURES"],
        window=app.config["SIGN_IN_WINDOW_SECONDS"],
        secret=app.config["SECRET_KEY"],
    )
    app.extensions["ronda"] = Ronda(engine=engine, index=index, throttle=throttle)

    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]
    security_api.init_app(app)
    patrol_api.init_app(app)
    me_api.init_app(app)
    dashboards_api.init_app(app)
    security_cli.init_app(app)
    dashboards_cli.init_app(app)
    security_headers.init_app(app)
    app.register_blueprint(web)
    app.register_blueprint(report_web)
    app.register_blueprint(phone)
    app.register_blueprint(console)
    app.register_blueprint(admin)
    app.register_blueprint(admin_home)
    app.register_blueprint(admin_users)
    app.register_blueprint(admin_committees)
    app.register_blueprint(admin_devices)
    app.register_blueprint(account)
    socketio.init_app(
        app,
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"],
        async_mode=app.config.get("SOCKETIO_ASYNC_MODE"),
        cors_allowed_origins=security_headers.socket_origins(app.config["ALLOWED_ORIGINS"]),
        ping_interval=20,
        ping_timeout=20,
    )

    @app.get("/api/docs", doc_ui=False)
    def api_docs() -> Any:
        """Browsable API documentation (Swagger UI served from the installed package)."""
        return redirect("/api/swagger")

    return app


def escalation_loop(app: Flask) -> None:
    """Escalate unacknowledged alarms and close forgotten patrols, forever, in the server's background."""
    seconds = app.config["ALARM_ESCALATION_SECONDS"]
    interval = max(0.5, min(5.0, seconds / 4))
    while True:
        socketio.sleep(interval)
        try:
            with app.app_context(), Session(ronda().engine, expire_on_commit=False) as session:
                events = escalate_overdue(session=session, after=timedelta(seconds=seconds))
                events += close_overdue(session=session)
                session.commit()
                publish(events)
        except Exception:  # keep going after a transient database error
            log.exception("alarm escalation or patrol closing failed; retrying")


def serve(app: Flask, *, host: str, port: int, access_log: bool = False) -> None:
    """Serve HTTP and Socket.IO with gevent, TCP_NODELAY on every connection."""
    from gevent import pywsgi
    from geventwebsocket.handler import WebSocketHandler

    class NoDelayHandler(WebSocketHandler):  # type: ignore[misc]
        # pywsgi writes headers and body separately; without TCP_NODELAY, Nagle's algorithm
        # and delayed ACKs stall keep-alive clients ~40 ms per request (STACK-NOTES.md).
        def handle(self) -> Any:
            with contextlib.suppress(OSError):  # not a TCP socket (e.g. a Unix socket)
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return super().handle()

    socketio.start_background_task(escalation_loop, app)
    interval = float(app.config["SESSION_CHECK_SECONDS"])
    socketio.start_background_task(watch_sessions, app.extensions["ronda"].engine, interval=interval)
    server = pywsgi.WSGIServer((host, port), app, handler_class=NoDelayHandler, log="default" if access_log else None)
    log.info("Ronda listening on http://%s:%s", host, port)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="Ronda: HTTP API and Socket.IO live push")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not args.access_log:
        # gevent-websocket logs every request at INFO by itself; that is the access log.
        logging.getLogger("geventwebsocket.handler").setLevel(logging.WARNING)
    app = create_app({"SOCKETIO_ASYNC_MODE": "gevent"})
    serve(app, host=args.host, port=args.port, access_log=args.access_log)


if __name__ == "__main__":
    main()
