"""The README's HTTPS deployment, for real: nginx with docs/nginx-ronda.conf (a self-signed
certificate standing in for the real one) in front of `python app.py`, and the phone app in
Chromium through it: a secure site, so the service worker installs, the live channel connects
through the proxy, and the app opens with no signal."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, IN_CI, PASSWORD, ROOT, LiveServer, free_port

pytestmark = pytest.mark.live
CONFIG = ROOT / "docs" / "nginx-ronda.conf"


def _need(program: str, package: str) -> str:
    found = shutil.which(program) or next((p for p in (program, f"/usr/sbin/{program}") if Path(p).is_file()), None)
    if found is None:
        message = f"{program} not installed (apt-get install -y {package})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def proxy(live_server: LiveServer, tmp_path: Path) -> Iterator[dict[str, str]]:
    nginx = _need("nginx", "nginx")
    openssl = _need("openssl", "openssl")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    https, http = free_port(), free_port()
    site = (
        CONFIG.read_text()
        .replace("127.0.0.1:5000", f"127.0.0.1:{live_server.port}")
        .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
        .replace("listen 80;", f"listen 127.0.0.1:{http};")
        .replace("/etc/letsencrypt/live/ronda.example.pe/fullchain.pem", str(tmp_path / "cert.pem"))
        .replace("/etc/letsencrypt/live/ronda.example.pe/privkey.pem", str(tmp_path / "key.pem"))
    )
    (tmp_path / "ronda.conf").write_text(site)
    temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (tmp_path / "nginx.conf").write_text(
        f"worker_processes 1;\npid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
        "events { worker_connections 256; }\nhttp {\n"
        f"  access_log {tmp_path / 'access.log'};\n"
        + "".join(f"  {name}_temp_path {path};\n" for name, path in
                  zip(("client_body", "proxy", "fastcgi", "uwsgi", "scgi"), temp.values(), strict=True))
        + f"  include {tmp_path / 'ronda.conf'};\n}}\n"
    )  # fmt: skip
    process = subprocess.Popen([nginx, "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"])
    url = f"https://127.0.0.1:{https}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                requests.get(f"{url}/api/v1/zones", verify=tmp_path / "cert.pem", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    errors = (tmp_path / "error.log").read_text() if (tmp_path / "error.log").exists() else ""
                    raise RuntimeError(f"nginx did not start: {errors}") from None
                time.sleep(0.2)
        yield {"https": url, "http": f"http://127.0.0.1:{http}"}
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def trusting_browser() -> Iterator[object]:
    """Chromium that takes the self-signed certificate as a real one (service workers refuse an
    "ignored" certificate error; a browser started with --ignore-certificate-errors has none)."""
    from playwright.sync_api import sync_playwright

    chromium = _need(CHROMIUM, "chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium, args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"]
        )
        yield instance
        instance.close()


def test_the_phone_app_works_through_nginx_over_https(trusting_browser, proxy, live_server, make_person):
    make_person("volunteer", zone_id=1, username="rosa")
    make_person("police", username="comisaria")
    https_url = proxy["https"]
    plain = requests.get(f"{proxy['http']}/app/", allow_redirects=False, timeout=5)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    context = trusting_browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, locale="es-PE",
        ignore_https_errors=True, service_workers="allow", permissions=["geolocation"],
        geolocation={"latitude": -12.1398, "longitude": -76.9281, "accuracy": 10},
    )  # fmt: skip
    page = context.new_page()
    page.goto(f"{https_url}/app/")
    page.wait_for_selector("body[data-ready=signin]", timeout=15_000)
    assert page.evaluate("isSecureContext") is True
    page.fill("#username", "rosa")
    page.fill("#password", PASSWORD)
    page.click("#signin-submit")
    page.wait_for_selector("body[data-ready=report]", timeout=15_000)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)
    page.wait_for_selector("body[data-live=yes]", timeout=15_000)  # the websocket through the proxy
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-ready=report]", timeout=15_000)
    page.click("[data-kind=robbery]")
    page.wait_for_selector("#report-location:has-text('GPS')", timeout=10_000)
    page.click("#report-send")
    context.set_offline(False)
    page.wait_for_selector("body[data-pending='0']", timeout=15_000)
    token = live_server.token("comisaria")
    items = requests.get(f"{live_server.url}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"},
                         timeout=10).json()["items"]  # fmt: skip
    opened = [
        requests.get(f"{live_server.url}/api/v1/incidents/{i['id']}", headers={"Authorization": f"Bearer {token}"},
                     timeout=10).json()
        for i in items
    ]  # fmt: skip
    assert [i["reporter"]["username"] for i in opened] == ["rosa"]
    context.close()
