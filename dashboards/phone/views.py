"""The phone app at /app/: an installable, offline-first web app (PWA) for volunteers and
neighbours, served by Ronda itself. It talks only to /api/v1 like any other client.

The shell page holds no person's data (sign-in happens in the app, against the API), so the
service worker can keep it and open the app with no network. Every file URL carries its
content revision (`?v=`); the service worker's precache list is made from the same files, so
a new version of any file installs a new worker and nothing is served stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from dashboards.assets import resolve, revision, revision_of_bytes, send_asset, send_bytes
from dashboards.livemap import KIND_COLOURS
from dashboards.views import vendor_path

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
SCOPE = "/app/"
# The app's scripts, in the order the page runs them (each one registers on the `Ronda` object).
SCRIPTS = (
    "vendor:idb/umd.js",
    "messages-es.js",
    "i18n.js",
    "geo.js",
    "store.js",
    "outbox.js",
    "app.js",
    "gps.js",
    "map.js",
    "report.js",
    "alarm.js",
    "patrol.js",
    "mine.js",
)
# Loaded when needed, kept by the service worker from the first visit.
LAZY = ("messages-en.js", "vendor:socket.io-client/socket.io.min.js", "vendor:leaflet/leaflet.js",
        "vendor:leaflet/leaflet.css")  # fmt: skip
ICONS = ("icons/icon.svg", "icons/icon-192.png", "icons/icon-512.png", "icons/icon-maskable-512.png",
         "icons/apple-touch-icon.png")  # fmt: skip
# What the service worker imports itself to send the outbox with the app closed.
WORKER_SCRIPTS = ("vendor:idb/umd.js", "store.js", "outbox.js")
TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
# No inline script, nothing from elsewhere but map tiles: a report's text can never run as code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https://tile.openstreetmap.org; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "object-src 'none'"
)

phone = Blueprint("phone", __name__, template_folder="templates")


def asset_url(name: str) -> str:
    """The URL of one of the app's files ("vendor:package/file" for npm's), with its content revision."""
    if name.startswith("vendor:"):
        package, _, filename = name.removeprefix("vendor:").partition("/")
        v = revision(vendor_path(package, filename))
        return url_for("web.vendor", package=package, filename=filename, v=v)
    return url_for("phone.static_file", filename=name, v=revision(STATIC / name))


@dataclass(frozen=True)
class Shell:
    """The rendered shell page and the revision of its bytes."""

    html: bytes
    revision: str


def _config() -> dict[str, Any]:
    return {
        "scope": SCOPE,
        "tiles": TILES if current_app.config.get("MAP_TILES", True) else None,
        "kind_colours": KIND_COLOURS,
        "assets": {
            "worker": url_for("phone.service_worker"),
            "socketio": asset_url("vendor:socket.io-client/socket.io.min.js"),
            "leaflet_js": asset_url("vendor:leaflet/leaflet.js"),
            "leaflet_css": asset_url("vendor:leaflet/leaflet.css"),
            "messages": {"es": asset_url("messages-es.js"), "en": asset_url("messages-en.js")},
        },
    }


def shell() -> Shell:
    """The app's one page, the same for everybody (the app fills in the person after sign-in)."""
    html = render_template(
        "phone/app.html",
        scripts=[asset_url(name) for name in SCRIPTS],
        config=_config(),
        urls={
            "manifest": url_for("phone.manifest"),
            "css": asset_url("app.css"),
            "icon": asset_url("icons/icon.svg"),
            "apple_icon": asset_url("icons/apple-touch-icon.png"),
        },
    ).encode()
    return Shell(html=html, revision=revision_of_bytes(html))


def precache_list() -> list[str]:
    """Every URL the service worker keeps at install: the shell, the manifest, every file."""
    names = [*SCRIPTS, *LAZY, "app.css", *ICONS]
    return [SCOPE, url_for("phone.manifest"), *dict.fromkeys(asset_url(name) for name in names)]


@cache
def _manifest_text() -> str:
    return json.dumps(
        {
            "name": "Ronda",
            "short_name": "Ronda",
            "description": "Reportes, alarmas vecinales y rondas de patrullaje de Villa María del Triunfo.",
            "lang": "es-PE",
            "dir": "ltr",
            "id": SCOPE,
            "start_url": SCOPE,
            "scope": SCOPE,
            "display": "standalone",
            "orientation": "portrait",
            "background_color": "#ffffff",
            "theme_color": "#0d3b66",
            "categories": ["utilities", "news"],
            "icons": [
                {"src": "static/icons/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
                {"src": "static/icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
                {"src": "static/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
                {
                    "src": "static/icons/icon-maskable-512.png",
                    "sizes": "512x512",
                    "type": "image/png",
                    "purpose": "maskable",
                },
            ],
        },
        ensure_ascii=False,
        indent=1,
    )


@phone.get("/app")
def app_without_slash() -> ResponseReturnValue:
    """The link people type: send them to the app's scope."""
    return redirect(SCOPE, code=301)


@phone.get(SCOPE)
def app_shell() -> ResponseReturnValue:
    """The phone app (volunteers, coordinators and neighbours; police are pointed to /mapa)."""
    response = send_bytes(shell().html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # The service worker keeps its own copy; the browser checks with the server each time.
    response.headers["Cache-Control"] = "no-cache"
    return response


@phone.get("/app/sw.js")
def service_worker() -> ResponseReturnValue:
    """The service worker: its precache list names every file by revision."""
    precache = precache_list()
    version = revision_of_bytes(("\n".join(precache) + shell().revision + _manifest_text()).encode())
    body = render_template(
        "phone/sw.js",
        version=version,
        scope=SCOPE,
        shell=SCOPE,
        precache=precache,
        scripts=[asset_url(name) for name in WORKER_SCRIPTS],
    )
    response = send_bytes(body.encode(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


@phone.get("/app/manifest.webmanifest")
def manifest() -> ResponseReturnValue:
    """The web app manifest: installable as "Ronda", opening at /app/ like an app."""
    response = Response(_manifest_text(), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@phone.get("/app/static/<path:filename>")
def static_file(filename: str) -> ResponseReturnValue:
    """The app's own files, gzipped, immutable when asked by revision."""
    return send_asset(resolve(STATIC, filename), max_age=3600)
