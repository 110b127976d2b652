"""Security headers on every kind of response, nonces for the inline scripts that stay, HSTS and
Secure cookies over HTTPS only, and the Origin check of the live channel (Socket.IO)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import create_app
from security.headers import TILE_ORIGIN, socket_origins
from tests.conftest import PASSWORD, TEST_SECRET

REQUIRED = (
    "default-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
POLLING = "/socket.io/?EIO=4&transport=polling"


def sign_in(client, username: str) -> None:
    client.get("/entrar")
    with client.session_transaction() as web_session:
        token = web_session["csrf"]
    response = client.post("/entrar", data={"username": username, "password": PASSWORD, "csrf": token})
    assert response.status_code == 302


def policy(response) -> dict[str, str]:
    """The response's CSP as directive -> sources."""
    directives = (part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


def assert_protected(response, *, own_policy: bool = False) -> None:
    """The headers every response carries; `own_policy` for a view that sets its own CSP (the phone app)."""
    csp = response.headers["Content-Security-Policy"]
    directives = policy(response)
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "form-action 'self'" in csp
    if not own_policy:
        for directive in REQUIRED:
            assert directive in csp, directive
        assert directives["connect-src"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Permissions-Policy"].startswith("geolocation=(self)")
    assert "Strict-Transport-Security" not in response.headers


def session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "the response sets the session cookie"
    return cookies[-1]


def test_every_kind_of_response_carries_the_headers(client, make_person):
    make_person("police", username="comisaria")
    sign_in(client, "comisaria")
    for path in (
        "/entrar",
        "/mapa",
        "/tendencias",
        "/incidentes",
        "/api/v1/zones",
        "/api/v1/openapi.json",
        "/static/web/style.css",
        "/vendor/leaflet/leaflet.js",
        "/api/swagger",
        "/api/",
        "/app/sw.js",
        "/app/manifest.webmanifest",
        "/no-such-page",
    ):
        with client.get(path) as response:  # files are streamed: closed after reading the headers
            assert response.status_code in (200, 404), path
            assert_protected(response)
    # The phone app's shell keeps its own (equivalent) policy: no inline script at all.
    assert_protected(client.get("/app/"), own_policy=True)


def test_the_session_cookie_is_http_only_and_lax_and_not_secure_over_http(client):
    cookie = session_cookie(client.get("/entrar"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    lang = client.get("/idioma/en").headers["Set-Cookie"]
    assert lang.startswith("lang=en") and "Secure" not in lang


def test_inline_scripts_carry_a_nonce_that_changes_with_every_request(client, make_person):
    make_person("police", username="comisaria")
    sign_in(client, "comisaria")
    for path in ("/mapa", "/tendencias", "/api/swagger"):
        nonces = set()
        for _ in range(2):
            response = client.get(path)
            html = response.get_data(as_text=True)
            nonce = re.fullmatch(r"'self' 'nonce-([\w-]{20,})'", policy(response)["script-src"])
            assert nonce, policy(response)["script-src"]
            nonces.add(nonce.group(1))
            inline = [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag and "json" not in tag]
            assert inline, f"{path} has its inline script"
            for tag in inline:
                assert f'nonce="{nonce.group(1)}"' in tag, (path, tag)
            assert not re.search(r"\son[a-z]+=", html), f"{path} has an inline event handler"
        assert len(nonces) == 2, path
    # A page with no inline script gets no nonce.
    assert policy(client.get("/incidentes"))["script-src"] == "'self'"


def test_the_swagger_page_sends_nothing_to_swagger_io(client):
    html = client.get("/api/swagger").get_data(as_text=True)
    assert '"validatorUrl": "none"' in html


def test_tiles_are_allowed_only_when_the_map_draws_them(client, make_person, app):
    make_person("police", username="comisaria")
    sign_in(client, "comisaria")
    page = client.get("/mapa")
    assert policy(page)["img-src"] == f"'self' data: blob: {TILE_ORIGIN}"
    html = page.get_data(as_text=True)
    tiles = re.search(r'L\.tileLayer\(\s*"([^"]+)",\s*(\{.*?\})', html, re.S)
    assert tiles and tiles.group(1).startswith(TILE_ORIGIN + "/")
    assert '"referrerPolicy": "strict-origin"' in tiles.group(2)  # OpenStreetMap requires a Referer
    app.config["MAP_TILES"] = False
    page = client.get("/mapa")
    assert policy(page)["img-src"] == "'self' data: blob:"
    assert "tile.openstreetmap.org" not in page.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"HTTPS": True}])
def test_hsts_and_secure_cookies_when_https_is_configured(client, app_config):
    page = client.get("/entrar")
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Secure" in session_cookie(page) and "HttpOnly" in session_cookie(page)
    lang = client.get("/idioma/en")
    assert "Secure" in lang.headers["Set-Cookie"] and lang.headers["Strict-Transport-Security"]
    assert client.get("/api/v1/zones").headers["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.parametrize("app_config", [{"PROXY_COUNT": 1}])
def test_hsts_and_secure_cookies_when_the_trusted_proxy_says_https(app, client, app_config):
    over_https = client.get("/entrar", headers={"X-Forwarded-Proto": "https"})
    assert over_https.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Secure" in session_cookie(over_https)
    assert "Secure" in client.get("/idioma/es", headers={"X-Forwarded-Proto": "https"}).headers["Set-Cookie"]
    over_http = app.test_client().get("/entrar", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in over_http.headers and "Secure" not in session_cookie(over_http)


def test_a_forwarded_proto_is_not_believed_without_a_proxy(client):
    response = client.get("/entrar", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
    assert "Secure" not in session_cookie(response)


def test_the_settings_come_from_the_environment(monkeypatch, db_url, tmp_path):
    monkeypatch.setenv("RONDA_HTTPS", "1")
    monkeypatch.setenv("RONDA_ALLOWED_ORIGINS", "https://ronda.example.pe, https://panel.example.pe/")
    monkeypatch.setenv("RONDA_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": TEST_SECRET})
    try:
        assert app.config["HTTPS"] is True
        assert socket_origins(app.config["ALLOWED_ORIGINS"]) == ["https://ronda.example.pe", "https://panel.example.pe"]
        client = app.test_client()
        assert client.get("/entrar").headers["Strict-Transport-Security"]
        assert client.get(POLLING, headers={"Origin": "https://panel.example.pe"}).status_code == 200
        assert client.get(POLLING, headers={"Origin": "http://localhost"}).status_code == 400
    finally:
        app.extensions["ronda"].engine.dispose()


# --- the live channel's Origin check --------------------------------------------------------


def opens(client, origin: str | None, **headers: Any) -> bool:
    """Whether an engine.io polling handshake with this Origin is accepted."""
    if origin is not None:
        headers["Origin"] = origin
    response = client.get(POLLING, headers=headers)
    if response.status_code == 200:
        assert response.get_data(as_text=True).startswith('0{"sid":')
        return True
    assert response.status_code == 400 and b"Not an accepted origin" in response.get_data()
    return False


def test_the_live_channel_accepts_only_its_own_origin_by_default(client):
    assert opens(client, "http://localhost")
    assert opens(client, None)  # not a browser (a phone's native client, a script): nothing to check
    assert not opens(client, "http://evil.example")
    assert not opens(client, "https://localhost")  # another scheme is another origin
    websocket = client.get(
        "/socket.io/?EIO=4&transport=websocket",
        headers={"Origin": "http://evil.example", "Upgrade": "websocket", "Connection": "Upgrade"},
    )
    assert websocket.status_code == 400


@pytest.mark.parametrize("app_config", [{"PROXY_COUNT": 1}])
def test_behind_the_proxy_the_public_origin_is_the_own_one(client, app_config):
    proxied = {"Host": "ronda.example.pe", "X-Forwarded-Proto": "https"}
    assert opens(client, "https://ronda.example.pe", **proxied)
    assert not opens(client, "https://evil.example", **proxied)


@pytest.mark.parametrize("app_config", [{"ALLOWED_ORIGINS": "https://ronda.example.pe,https://panel.example.pe"}])
def test_configured_origins_replace_the_default(client, app_config):
    assert opens(client, "https://ronda.example.pe")
    assert opens(client, "https://panel.example.pe")
    assert not opens(client, "http://localhost")
    assert not opens(client, "https://evil.example")


@pytest.mark.parametrize("value", ["*", "ronda.example.pe", "https://ronda.example.pe/app", "https://x.pe?q=1"])
def test_an_origin_that_is_not_one_is_refused_at_start(value):
    with pytest.raises(RuntimeError, match="RONDA_ALLOWED_ORIGINS"):
        socket_origins(value)


def test_origins_are_read_from_a_list_or_a_comma_separated_text():
    assert socket_origins(None) is None and socket_origins("") is None and socket_origins(" , ") is None
    assert socket_origins(["http://a.pe:8080/"]) == ["http://a.pe:8080"]
