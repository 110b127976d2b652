"""The phone app as files: an installable PWA (manifest, icons, service worker) whose every file
comes from Ronda itself, gzipped, versioned by content, and whose texts exist in both languages."""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

from PIL import Image

from dashboards.phone.views import CSP, LAZY, SCRIPTS

STATIC = Path(__file__).resolve().parent.parent / "dashboards" / "phone" / "static"
TEMPLATE = STATIC.parent / "templates" / "phone" / "app.html"


def shell(client) -> str:
    response = client.get("/app/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def catalogue(lang: str) -> dict[str, str]:
    text = (STATIC / f"messages-{lang}.js").read_text()
    body = text[text.index("= {") + 2 : text.rindex("}") + 1]
    entries: dict[str, str] = json.loads(body)
    return entries


def test_the_app_page_loads_only_its_own_files_and_runs_no_inline_script(client):
    html = shell(client)
    assert client.get("/app/").headers["Content-Security-Policy"] == CSP
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP.split("script-src")[1].split(";")[0]
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="' in tag or 'type="application/json"' in tag, tag
    urls = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert len(urls) >= len(SCRIPTS) + 3
    for url in urls:
        assert url.startswith("/"), f"{url} would need another server"
        assert client.get(url).status_code == (302 if url == "/mapa" else 200), url  # the map asks police to sign in
    assert client.get("/app").status_code == 301


def test_files_are_gzipped_versioned_and_kept_a_year(client):
    html = shell(client)
    script = re.search(r'src="(/app/static/app\.js\?v=[0-9a-f]{12})"', html)
    assert script, "the app's script is referenced by its content revision"
    answer = client.get(script.group(1), headers={"Accept-Encoding": "gzip"})
    assert answer.headers["Content-Encoding"] == "gzip"
    assert "immutable" in answer.headers["Cache-Control"]
    assert gzip.decompress(answer.get_data()) == (STATIC / "app.js").read_bytes()
    leaflet = client.get("/vendor/leaflet/leaflet.js", headers={"Accept-Encoding": "gzip"})
    assert leaflet.headers["Content-Encoding"] == "gzip" and len(leaflet.get_data()) < 60_000
    again = client.get(script.group(1), headers={"If-None-Match": answer.headers["ETag"], "Accept-Encoding": "gzip"})
    assert again.status_code == 304
    assert client.get("/app/static/../views.py").status_code == 404
    assert client.get("/app/", headers={"Accept-Encoding": "gzip"}).headers["Content-Encoding"] == "gzip"


def test_the_manifest_makes_it_installable_as_ronda(client):
    answer = client.get("/app/manifest.webmanifest")
    assert answer.mimetype == "application/manifest+json"
    manifest = answer.get_json(force=True)
    assert manifest["short_name"] == "Ronda" and manifest["name"] == "Ronda"
    assert manifest["start_url"] == "/app/" and manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone" and manifest["theme_color"].startswith("#")
    sizes = set()
    for icon in manifest["icons"]:
        served = client.get("/app/" + icon["src"])
        assert served.status_code == 200, icon["src"]
        if icon["type"] == "image/png":
            image = Image.open(io.BytesIO(served.get_data()))
            assert f"{image.width}x{image.height}" == icon["sizes"]
            sizes.add((icon["sizes"], icon["purpose"]))
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    assert 'rel="manifest"' in shell(client)


def test_the_service_worker_keeps_every_file_the_app_needs_offline(client):
    worker = client.get("/app/sw.js")
    assert worker.mimetype == "text/javascript" and worker.headers["Cache-Control"] == "no-cache"
    text = worker.get_data(as_text=True)
    precache = json.loads(re.search(r"var PRECACHE = (\[.*?\]);", text).group(1))
    html = shell(client)
    page_files = re.findall(r'(?:src|href)="(/(?:app|vendor)/[^"]+)"', html)
    config = json.loads(re.search(r'id="ronda-app-config" type="application/json">(.*?)</script>', html).group(1))
    lazy = [config["assets"][k] for k in ("socketio", "leaflet_js", "leaflet_css")] + list(
        config["assets"]["messages"].values()
    )
    for url in ["/app/", *page_files, *lazy]:
        assert url in precache, f"{url} would be missing offline"
    assert len(lazy) == len(LAZY) + 1  # both catalogues; the Spanish one is also on the page
    for url in precache:
        assert client.get(url).status_code == 200, url
    # A new version of any file is a new worker (and a new cache).
    version = re.search(r'var VERSION = "([0-9a-f]+)"', text).group(1)
    assert version and "/api/" not in "".join(precache)


def test_every_text_of_the_app_exists_in_spanish_and_english():
    spanish, english = catalogue("es"), catalogue("en")
    assert set(spanish) == set(english)
    used = set(re.findall(r'data-i18n(?:-aria|-placeholder)?="([^"]+)"', TEMPLATE.read_text()))
    scripts = "\n".join(p.read_text() for p in STATIC.glob("*.js") if not p.name.startswith("messages-"))
    used |= {key for key in re.findall(r'\bt\("([a-z_.0-9]+)"', scripts) if not key.endswith(".")}
    used |= {f"status.incident.{s}" for s in ("reported", "acknowledged", "dispatched", "resolved", "dismissed",
                                               "duplicate")}  # fmt: skip
    used |= {f"own.incident.{s}" for s in ("acknowledged", "dispatched", "resolved", "dismissed", "duplicate")}
    used |= {f"status.alarm.{s}" for s in ("raised", "acknowledged", "resolved")}
    for key in used:
        assert key in spanish or f"{key}.other" in spanish, f"{key} has no Spanish text"
        assert key in english or f"{key}.other" in english, f"{key} has no English text"
    assert all(spanish.values()) and all(english.values())
    assert "usted" in spanish["patrol.me"] and "(you)" in english["patrol.me"]
