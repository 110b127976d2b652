"""What every response tells the browser about itself: a Content-Security-Policy, framing,
sniffing, referrer and permission rules, HSTS and Secure cookies over HTTPS; and the Origins
the live channel (Socket.IO) accepts.

Ronda names the people who report gangs and drug sales, and its pages show what they wrote: the
policy makes sure a report's text can never run as code. Scripts come only from Ronda itself;
the few inline scripts that must stay (folium's map script, Swagger UI's starter) carry a nonce
made afresh for each request.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_openapi3_swagger.templates import swagger_html_string
from markupsafe import Markup

# Where the map's background comes from (folium's "OpenStreetMap" tiles and the phone app's).
TILE_ORIGIN = "https://tile.openstreetmap.org"
HSTS = "max-age=31536000"  # a year; no `preload`: leaving that list takes months
# Only Ronda's own pages may ask for the position (the phone app's reports, the map); nothing
# else of the browser's is needed.
PERMISSIONS_POLICY = "geolocation=(self), camera=(), microphone=(), payment=(), usb=()"
SCRIPT_TAG = re.compile(r"<script\b")
# The OpenAPI index page (/api/) of flask-openapi3 opens each UI with an inline `onclick`, which
# the policy blocks: the same choice as plain links.
API_INDEX_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Ronda API</title></head>
<body>
<ul>{% for ui in ui_templates %}<li><a href="{{ ui.name }}">{{ ui.display_name }}</a></li>{% endfor %}</ul>
</body>
</html>
"""


def csp_nonce() -> str:
    """This request's nonce for the inline scripts that must stay (a new one for every request)."""
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def with_csp_nonce(html: str) -> Markup:
    """Trusted markup (folium's <head> parts) with this request's nonce on each of its <script> tags."""
    return Markup(SCRIPT_TAG.sub(f'<script nonce="{csp_nonce()}"', html))


def served_over_https() -> bool:
    """Whether the browser reached this request over HTTPS: `RONDA_HTTPS=1`, or the request's scheme
    (what the proxy says in X-Forwarded-Proto, trusted through ProxyFix when PROXY_COUNT is set)."""
    return bool(current_app.config.get("HTTPS")) or request.is_secure


def content_security_policy(*, nonce: str | None, tiles: bool) -> str:
    """The policy of every Ronda response; `nonce` when the page has inline scripts, `tiles` when
    the map may draw OpenStreetMap's background."""
    script_src = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    # Leaflet draws with data: and blob: images; the background tiles are the only outside source.
    img_src = "'self' data: blob:" + (f" {TILE_ORIGIN}" if tiles else "")
    directives = (
        "default-src 'self'",
        f"script-src {script_src}",
        # Styles may stay inline: Leaflet, its plugins and folium put style attributes and <style>
        # blocks in the page, and a style cannot run code. (A nonce here would turn 'unsafe-inline' off.)
        "style-src 'self' 'unsafe-inline'",
        f"img-src {img_src}",
        # 'self' covers the Socket.IO websocket (ws:/wss: of the same host) in CSP Level 3 browsers.
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
    return "; ".join(directives)


def _add_headers(response: Response) -> Response:
    """Put the security headers on a response (a view that set its own policy, like the phone app's, keeps it)."""
    policy = content_security_policy(nonce=g.get("csp_nonce"), tiles=bool(current_app.config.get("MAP_TILES", True)))
    headers = response.headers
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for browsers older than CSP 2
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    if served_over_https():
        headers["Strict-Transport-Security"] = HSTS
    return response


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, whose cookie is also `Secure` whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when configured so, or when this request came over HTTPS (known only per request behind a proxy)."""
        return bool(super().get_cookie_secure(app)) or served_over_https()


def socket_origins(value: Any) -> list[str] | None:
    """The Origins Socket.IO accepts, from ALLOWED_ORIGINS (a list or a comma-separated string).

    None when nothing is configured: python-engineio then accepts only the page's own origin
    (the Host header with the request's scheme, or with the proxy's X-Forwarded-Proto/-Host).
    A configured list replaces that default, so it must name the site's own address too.
    """
    items = value.split(",") if isinstance(value, str) else list(value or [])
    origins = [str(item).strip().rstrip("/") for item in items if str(item).strip()]
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise RuntimeError(
                f"RONDA_ALLOWED_ORIGINS: {origin!r} is not an origin; write scheme://host[:port], "
                "e.g. https://ronda.example.pe (no path, no `*`)"
            )
    return origins or None


def init_app(app: Flask) -> None:
    """Add the security headers to every response, mark the session cookie Secure over HTTPS and
    give the API documentation pages nonces."""
    app.session_interface = HttpsAwareSessionInterface()
    app.add_template_global(csp_nonce)
    app.add_template_filter(with_csp_nonce)
    # Swagger UI's page (flask-openapi3-swagger) starts with one inline script: the same page
    # with a nonce. Its online validator badge would send the document's address to swagger.io
    # and load an image from there: off.
    app.config.setdefault(
        "SWAGGER_HTML_STRING", swagger_html_string.replace("<script>", '<script nonce="{{ csp_nonce() }}">')
    )
    app.config.setdefault("SWAGGER_CONFIG", {"validatorUrl": "none"})
    app.config.setdefault("OPENAPI_HTML_STRING", API_INDEX_HTML)
    app.after_request(_add_headers)
