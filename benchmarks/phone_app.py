"""The phone app on an emulated slow 3G link, next to the bare baseline in the same run.

Starts Ronda (`app.py`, gevent, a fresh temporary SQLite database, a volunteer of zone 1) and
the bare baseline (`bare_push_server.py`, whose `/form` page signs in and posts a report with
fetch: no outbox, no service worker, no map: the least a phone page can be). Drives Debian's
Chromium with Playwright on a 360 × 740 phone viewport, each page under Chromium's network
emulation (CDP `Network.emulateNetworkConditions`): 400 kbit/s down and up, 400 ms latency.

It prints, for each:

1. **First visit** (a new browser profile, nothing cached): bytes on the wire and seconds from
   the navigation until the report form is usable, the sign-in typed at once on the way (median
   of `--visits`). The service worker then downloads the rest of the app for offline use after
   the form is usable; those bytes are printed apart.
2. **Later visit** (the same profile, the app installed): bytes of the app's files that came
   over the network (target 0) and seconds until the form is usable.
3. **Report tapped → acknowledged by the server**: median and p95 over `--reports` reports, from
   the tap on "Enviar reporte" to the screen saying it was sent (the outbox written, the sync
   answered, the outbox settled). Baseline: the bare page's fetch POST answered 201.
4. **A shift's outbox**: `--outbox` reports queued with no signal (through the app's own outbox
   code), then the link comes back (3G and, separately, unthrottled): seconds until the outbox is
   empty, and whether the server holds each report exactly once, in order. Baseline: the same
   number of reports posted one by one by the bare page, six at a time (a browser's connections
   per host), over the same link.

Targets (issue 9): first visit ≤ 250 KB and ≤ 8 s; later visits 0 bytes of app files; report
p95 < 3 s; 200 items synced in < 10 s once online, in order, each exactly once.

    .venv/bin/python benchmarks/phone_app.py                # ~4 minutes
    .venv/bin/python benchmarks/phone_app.py --visits 1 --reports 5 --outbox 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import (  # noqa: E402
    FLASK,
    PASSWORD,
    ZONE_POINTS,
    Server,
    exit_on_signals,
    http_json,
    start_bare,
    start_ronda,
    token_for,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8, "uploadThroughput": 400_000 / 8}
UNTHROTTLED = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
VOLUNTEER = "bench-phone"
POLICE = "bench-police"
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "es-PE", "timezone_id": "America/Lima", "service_workers": "allow"}  # fmt: skip
LAT, LON = ZONE_POINTS[1]


@dataclass
class Wire:
    """What one page moved over the network, from Chromium's own accounting (CDP Network events)."""

    cdp: Any
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.responseReceived", self._response)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        self.requests[event["requestId"]] = {"url": event["request"]["url"], "bytes": 0, "sw": False, "done": False}

    def _response(self, event: dict[str, Any]) -> None:
        entry = self.requests.setdefault(event["requestId"], {"url": event["response"]["url"], "bytes": 0})
        entry["sw"] = bool(event["response"].get("fromServiceWorker"))

    def _finished(self, event: dict[str, Any]) -> None:
        entry = self.requests.setdefault(event["requestId"], {"url": "?", "bytes": 0, "sw": False})
        entry["bytes"] = int(event.get("encodedDataLength") or 0)
        entry["done"] = True

    def emulate(self, conditions: dict[str, Any]) -> None:
        self.cdp.send("Network.emulateNetworkConditions", conditions)

    def reset(self) -> None:
        self.requests.clear()

    def network_bytes(self, *, app_files_only: bool = False) -> int:
        """Bytes that came over the network (not answered by the service worker)."""
        total = 0
        for entry in self.requests.values():
            if entry.get("sw"):
                continue
            path = entry["url"].split("//", 1)[-1].partition("/")[2]
            if app_files_only and not path.startswith(("app/", "vendor/")):
                continue
            total += entry["bytes"]
        return total

    def app_file_requests(self) -> int:
        """Requests for the app's files that went to the network."""
        return sum(
            1
            for e in self.requests.values()
            if not e.get("sw") and e["url"].split("//", 1)[-1].partition("/")[2].startswith(("app/", "vendor/"))
        )


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def new_phone(browser: Any) -> tuple[Any, Any, Wire]:
    context = browser.new_context(
        **PHONE, geolocation={"latitude": LAT, "longitude": LON, "accuracy": 10}, permissions=["geolocation"]
    )
    page = context.new_page()
    return context, page, Wire(context.new_cdp_session(page))


def sign_in(page: Any) -> None:
    page.fill("#username", VOLUNTEER)
    page.fill("#password", PASSWORD)
    page.click("#signin-submit")


def open_and_sign_in(page: Any, url: str) -> tuple[float, float]:
    """Seconds from the navigation to the sign-in form, and to a usable report form (sign-in typed at once)."""
    started = time.monotonic()
    page.goto(url, wait_until="commit")
    page.wait_for_selector("body[data-ready=signin]", timeout=60_000)
    signin_at = time.monotonic() - started
    sign_in(page)
    page.wait_for_selector("body[data-ready=report]", timeout=60_000)
    return signin_at, time.monotonic() - started


def first_visit(browser: Any, ronda: Server) -> dict[str, Any]:
    context, page, wire = new_phone(browser)
    wire.emulate(SLOW_3G)
    signin_at, ready_at = open_and_sign_in(page, f"{ronda.url}/app/")
    before_ready = wire.network_bytes()
    requests_before = len(wire.requests)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=120_000)
    return {"context": context, "page": page, "wire": wire, "signin_s": signin_at, "ready_s": ready_at,
            "bytes": before_ready, "requests": requests_before}  # fmt: skip


def later_visit(visit: dict[str, Any], ronda: Server) -> dict[str, Any]:
    page, wire = visit["page"], visit["wire"]
    page.wait_for_timeout(1500)  # let the socket and the kept data settle
    wire.reset()
    started = time.monotonic()
    page.goto(f"{ronda.url}/app/", wait_until="commit")
    page.wait_for_selector("body[data-ready=report]", timeout=60_000)
    ready = time.monotonic() - started
    return {"ready_s": ready, "app_bytes": wire.network_bytes(app_files_only=True),
            "app_requests": wire.app_file_requests(), "all_bytes": wire.network_bytes()}  # fmt: skip


def bare_visits(browser: Any, bare: Server) -> dict[str, Any]:
    context, page, wire = new_phone(browser)
    wire.emulate(SLOW_3G)
    _signin_at, ready_at = open_and_sign_in(page, f"{bare.url}/form")
    first = {"ready_s": ready_at, "bytes": wire.network_bytes(), "requests": len(wire.requests)}
    wire.reset()
    started = time.monotonic()
    page.reload(wait_until="commit")
    page.wait_for_selector("body[data-ready=signin]", timeout=60_000)
    later = {"ready_s": time.monotonic() - started, "app_bytes": wire.network_bytes()}
    sign_in(page)
    page.wait_for_selector("body[data-ready=report]", timeout=60_000)
    return {"context": context, "page": page, "wire": wire, "first": first, "later": later}


def ronda_reports(page: Any, count: int) -> list[float]:
    times = []
    for _ in range(count):
        if page.is_visible("#report-another"):
            page.click("#report-another")
        page.click("[data-kind=robbery]")
        page.wait_for_selector("#report-location:has-text('GPS')", timeout=30_000)
        started = time.monotonic()
        page.click("#report-send")
        page.wait_for_selector("#report-done-text:has-text('Reporte enviado')", timeout=60_000)
        times.append(time.monotonic() - started)
    return times


def bare_reports(page: Any, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.monotonic()
        page.click("#send")
        page.wait_for_selector("#done:has-text('sent')", timeout=60_000)
        times.append(time.monotonic() - started)
        page.evaluate("() => { document.getElementById('done').textContent = ''; }")
    return times


QUEUE = """async ([count, lat, lon, startIso]) => {
  const start = Date.parse(startIso);
  for (let i = 0; i < count; i++) {
    const at = new Date(start + i * 60000);
    await Ronda.act("incident", {kind: "suspicious_activity", lat: lat + (i % 9) * 1e-4, lon: lon,
      description: "Turno sin señal " + i, occurred_at: at.toISOString()}, at);
  }
  return (await RondaStore.items()).filter((item) => item.state === "pending").length;
}"""


def ronda_outbox(page: Any, wire: Wire, ronda: Server, *, count: int, link: dict[str, Any]) -> dict[str, Any]:
    police = token_for(ronda, POLICE)
    before = {i["id"] for i in all_incidents(ronda, police)}
    wire.emulate(OFFLINE)
    page.wait_for_selector("body[data-online=no]", timeout=30_000)
    start = datetime.now(UTC) - timedelta(hours=4)
    queued = page.evaluate(QUEUE, [count, LAT, LON, start.isoformat()])
    page.wait_for_selector(f"body[data-pending='{count}']", timeout=30_000)
    started = time.monotonic()
    wire.emulate(link)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")  # what the phone's radio coming back does
    page.wait_for_selector("body[data-pending='0']", timeout=120_000)
    seconds = time.monotonic() - started
    mine = [i for i in all_incidents(ronda, police) if i["id"] not in before]
    texts = [i["description"] for i in sorted(mine, key=lambda i: i["id"])]
    expected = [f"Turno sin señal {i}" for i in range(count)]
    return {"queued": queued, "seconds": seconds, "stored": len(mine),
            "exactly_once": sorted(texts) == sorted(expected), "in_order": texts == expected}  # fmt: skip


def bare_outbox(page: Any, wire: Wire, *, count: int, link: dict[str, Any]) -> float:
    wire.emulate(link)
    script = """async (count) => {
      const post = () => fetch("/api/v1/incidents", {method: "POST", headers: {"Content-Type": "application/json",
        "Authorization": "Bearer " + token}, body: JSON.stringify({client_id: crypto.randomUUID(),
        kind: "robbery", lat: -12.1398, lon: -76.9281})}).then((r) => r.status);
      let next = 0; const workers = [];
      for (let w = 0; w < 6; w++) workers.push((async () => { while (next < count) { next++; await post(); } })());
      await Promise.all(workers);
    }"""
    started = time.monotonic()
    page.evaluate(script, count)
    return time.monotonic() - started


def all_incidents(server: Server, token: str) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        query = "/api/v1/incidents?limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = http_json("GET", server.url + query, token=token)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def precache_bytes(ronda: Server) -> int:
    """The gzipped size of everything the service worker keeps (what installing for offline costs)."""
    with urllib.request.urlopen(f"{ronda.url}/app/sw.js", timeout=10) as answer:
        text = answer.read().decode()
    urls = json.loads(text.split("var PRECACHE = ", 1)[1].split(";\n", 1)[0])
    total = 0
    for url in urls:
        request = urllib.request.Request(ronda.url + url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            total += len(answer.read())
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visits", type=int, default=3, help="first visits measured (median printed)")
    parser.add_argument("--reports", type=int, default=20, help="reports timed from tap to acknowledgement")
    parser.add_argument("--outbox", type=int, default=200, help="reports queued offline, then synced")
    args = parser.parse_args()
    exit_on_signals()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="ronda-phone-bench-") as tmp:
        workdir = Path(tmp)
        ronda = start_ronda(workdir, users=[(VOLUNTEER, "volunteer", 1), (POLICE, "police", None)])
        bare = start_bare(workdir)
        subprocess.run([str(FLASK), "--app", "app", "committees", "add-member", "1", VOLUNTEER],
                       cwd=ROOT, env=ronda.env, check=True, capture_output=True)  # fmt: skip
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                visits = [first_visit(browser, ronda) for _ in range(args.visits)]
                kept = visits[-1]
                later = later_visit(kept, ronda)
                for visit in visits[:-1]:
                    visit["context"].close()
                base = bare_visits(browser, bare)
                report_times = ronda_reports(kept["page"], args.reports)
                bare_times = bare_reports(base["page"], args.reports)
                outbox_3g = ronda_outbox(kept["page"], kept["wire"], ronda, count=args.outbox, link=SLOW_3G)
                outbox_fast = ronda_outbox(kept["page"], kept["wire"], ronda, count=args.outbox, link=UNTHROTTLED)
                bare_3g = bare_outbox(base["page"], base["wire"], count=args.outbox, link=SLOW_3G)
                bare_fast = bare_outbox(base["page"], base["wire"], count=args.outbox, link=UNTHROTTLED)
                offline_bytes = precache_bytes(ronda)
                browser.close()
        finally:
            ronda.stop()
            bare.stop()

    first_bytes = statistics.median(v["bytes"] for v in visits)
    first_s = statistics.median(v["ready_s"] for v in visits)
    signin_s = statistics.median(v["signin_s"] for v in visits)
    kb = lambda b: f"{b / 1024:.1f} KB"  # noqa: E731
    rows = [
        ("first visit: bytes until the form is usable", kb(first_bytes), kb(base["first"]["bytes"]), "≤ 250 KB",
         first_bytes <= 250 * 1024),
        ("first visit: seconds until the form is usable", f"{first_s:.2f} s (sign-in screen {signin_s:.2f} s)",
         f"{base['first']['ready_s']:.2f} s", "≤ 8 s", first_s <= 8),
        ("first visit: requests until usable", str(statistics.median(v["requests"] for v in visits)),
         str(base["first"]["requests"]), "", None),
        ("installing for offline (after usable)", kb(offline_bytes), "—", "", None),
        ("later visit: app files over the network", f"{kb(later['app_bytes'])} in {later['app_requests']} requests",
         kb(base["later"]["app_bytes"]), "0 bytes", later["app_bytes"] == 0),
        ("later visit: seconds until usable", f"{later['ready_s']:.2f} s", f"{base['later']['ready_s']:.2f} s",
         "", None),
        ("report tap → acknowledged, median", f"{statistics.median(report_times):.2f} s",
         f"{statistics.median(bare_times):.2f} s", "", None),
        ("report tap → acknowledged, p95", f"{percentile(report_times, 95):.2f} s",
         f"{percentile(bare_times, 95):.2f} s", "< 3 s", percentile(report_times, 95) < 3),
        (f"outbox of {args.outbox}, 3G: seconds to empty", f"{outbox_3g['seconds']:.2f} s", f"{bare_3g:.2f} s",
         "< 10 s", outbox_3g["seconds"] < 10),
        (f"outbox of {args.outbox}, unthrottled", f"{outbox_fast['seconds']:.2f} s", f"{bare_fast:.2f} s", "", None),
        ("outbox: each stored exactly once, in order", f"{outbox_3g['stored']} + {outbox_fast['stored']} stored",
         "—", "yes", all(o["exactly_once"] and o["in_order"] and o["stored"] == args.outbox
                        for o in (outbox_3g, outbox_fast))),
    ]  # fmt: skip
    print("\nPhone app on emulated slow 3G (400 kbit/s each way, 400 ms latency), Chromium, 360 × 740")
    print(f"{'measure':46} {'Ronda app':44} {'bare page':12} {'target':9} met")
    for name, ours, theirs, target, met in rows:
        mark = "" if met is None else ("yes" if met else "MISSED")
        print(f"{name:46} {ours:44} {theirs:12} {target:9} {mark}")
    print("\nreport times (s):", " ".join(f"{t:.2f}" for t in report_times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
