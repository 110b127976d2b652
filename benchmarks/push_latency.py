"""Report-to-screen latency of the live push: Ronda against the bare Flask-SocketIO baseline.

Starts Ronda (`app.py`, gevent, a fresh temporary SQLite database, one police user) and
`bare_push_server.py`, then for each dashboard count N (default 100, 500, 1000) and for each
server in turn:

1. connects N Socket.IO dashboards (`socketio.AsyncClient`, websocket transport, police
   token), `--per-process` of them per process, and waits until all are connected;
2. a separate poster process reports incidents at `--rate` per second for `--duration`
   seconds on one keep-alive connection, remembering each client_id's send time;
3. every dashboard stamps each `incident_reported` it receives; once all expected events have
   arrived (or `--drain` seconds after the last post) the stamps are collected and joined
   with the send times. An event not received by then counts as lost.

Prints, per server and N: p50/p95/p99/max report-to-screen latency (POST sent -> event
handled on the dashboard), delivered/expected events (expected = N x accepted posts), the
achieved post rate, server and client CPU; then the Ronda/bare p99 ratio per N against the
targets (p99 <= 1.25 x bare, 0 events lost). Missing a target is reported, not an error;
the exit status is non-zero only when something failed (a server, a connection, a post).

The clients run on the same 2 cores as the server. python-socketio's AsyncClient (the
default `--client socketio`) costs ~130 us of CPU per received event here, so from 500
dashboards at 20 events/s the clients take more than a core and set the latency; `--client
lean` (lean_dashboard.py, ~60 us per event) leaves the server as the bottleneck.

    .venv/bin/python benchmarks/push_latency.py                      # ~5-7 minutes
    .venv/bin/python benchmarks/push_latency.py --clients 100 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import multiprocessing as mp
import os
import resource
import selectors
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import (  # noqa: E402
    ZONE_POINTS,
    Server,
    ServerError,
    exit_on_signals,
    raise_fd_limit,
    start_bare,
    start_ronda,
    token_for,
)

P99_TARGET_RATIO = 1.25
DASHBOARD_USER = "bench-police"


# --- measurements -------------------------------------------------------------------------


@dataclass
class ListenerReport:
    """What one dashboard process saw: connections, per-event receive stamps and its CPU."""

    index: int
    connected: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    dropped: int = 0  # sockets that disconnected during the measurement
    cpu_seconds: float = 0.0  # during the posting window and drain
    payload_bytes: int = 0  # size of the first event's JSON payload
    received: list[tuple[int, str, float]] = field(default_factory=list)  # (client, client_id, time)


@dataclass
class PosterReport:
    """What the poster sent: client_id -> send time for accepted posts, statuses and round trips."""

    sent: dict[str, float] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    round_trips: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class RoundResult:
    """The figures of one server at one dashboard count."""

    server: str
    clients: int
    connected: int
    connect_seconds: float
    posts_ok: int
    post_failures: int
    post_rate: float
    expected: int
    delivered: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    post_p50_ms: float
    post_p99_ms: float
    server_cpu_pct: float
    client_cpu_pct: float
    machine_pct: float
    background_pct: float
    window_seconds: float
    payload_bytes: int
    dropped: int
    errors: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.expected - self.delivered


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Window:
    """The measured window of a round (posting + drain): its length and the CPU spent in it."""

    seconds: float
    server_cpu: float  # CPU seconds of the server process
    machine_pct: float  # the whole machine's busy CPU, % of one core (2 cores = 200 %)
    background_pct: float  # the machine's busy CPU just before the round, with our processes idle


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in jiffies, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def busy_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Busy CPU between two `cpu_jiffies()` readings, in % of one core."""
    total = after[1] - before[1]
    return 100 * (os.cpu_count() or 1) * (after[0] - before[0]) / total if total else 0.0


def wait_for_quiet(*, below: float, max_wait: float) -> float:
    """Wait (at most `max_wait` s) until the machine is below `below` % of one core busy.

    Other work on the 2 cores (a test suite, a build) inflates every latency; the figure
    returned, the last one-second reading, is printed with the round so that can be seen.
    """
    deadline = time.monotonic() + max_wait
    while True:
        before = cpu_jiffies()
        time.sleep(1.0)
        busy = busy_pct(before, cpu_jiffies())
        if busy < below or time.monotonic() >= deadline:
            return busy


# --- dashboards (child processes) ----------------------------------------------------------


@dataclass
class ListenPlan:
    """What one dashboard process is asked to do (handed to the child)."""

    index: int
    url: str
    token: str
    count: int
    client: str  # "socketio" (python-socketio AsyncClient) or "lean" (lean_dashboard.LeanDashboard)
    concurrency: int
    max_seconds: float


@dataclass
class Signals:
    """How the parent and the dashboard processes coordinate a round."""

    ready: Queue[Any]  # each process: (index, connected, failed, errors) once its dashboards are open
    results: Queue[Any]  # each process: its ListenerReport at the end
    start: MpEvent  # the parent: the measured window begins
    stop: MpEvent  # the parent: the measured window is over, report
    progress: Any  # multiprocessing.Array of int64: events received so far, one slot per process


def _note_failure(report: ListenerReport, error: BaseException) -> None:
    report.failed += 1
    if len(report.errors) < 3:
        report.errors.append(f"connect: {error!r}")


def _note_incident(report: ListenerReport, client_index: int, payload: dict[str, Any], received: float) -> None:
    report.received.append((client_index, payload["data"]["client_id"], received))
    if not report.payload_bytes:
        report.payload_bytes = len(json.dumps(payload, ensure_ascii=False).encode())


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def listen_socketio(plan: ListenPlan, signals: Signals) -> ListenerReport:
    """`plan.count` python-socketio AsyncClients in one asyncio loop, until told to stop."""
    import socketio  # imported in the child: the parent never needs it

    report = ListenerReport(index=plan.index)
    clients: list[Any] = []
    gate = asyncio.Semaphore(plan.concurrency)
    measuring = False

    async def connect(client_index: int) -> None:
        client = socketio.AsyncClient(reconnection=False)

        async def on_incident(payload: dict[str, Any]) -> None:
            _note_incident(report, client_index, payload, time.time())

        async def on_disconnect(*_args: Any) -> None:
            if measuring:
                report.dropped += 1

        client.on("incident_reported", on_incident)
        client.on("disconnect", on_disconnect)
        async with gate:
            try:
                await client.connect(plan.url, auth={"token": plan.token}, transports=["websocket"], wait_timeout=30)
            except Exception as exc:
                _note_failure(report, exc)
                return
        clients.append(client)

    deadline = time.monotonic() + plan.max_seconds
    try:
        await asyncio.gather(*(connect(i) for i in range(plan.count)))
        report.connected = len(clients)
        signals.ready.put((plan.index, report.connected, report.failed, report.errors))
        while not signals.start.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        measuring = True
        cpu_before = _own_cpu_seconds()
        while not signals.stop.is_set() and time.monotonic() < deadline:
            signals.progress[plan.index] = len(report.received)
            await asyncio.sleep(0.05)
        report.cpu_seconds = _own_cpu_seconds() - cpu_before
    finally:
        measuring = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True), 15)
    return report


def listen_lean(plan: ListenPlan, signals: Signals) -> ListenerReport:
    """`plan.count` lean dashboards on one `selectors` loop, until told to stop."""
    from benchmarks.lean_dashboard import LeanDashboard, decode_event

    report = ListenerReport(index=plan.index)
    parts = urlsplit(plan.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    dashboards: list[LeanDashboard] = []
    for _ in range(plan.count):
        try:
            dashboards.append(LeanDashboard(host, port, plan.token))
        except (OSError, ValueError) as exc:
            _note_failure(report, exc)
    report.connected = len(dashboards)
    signals.ready.put((plan.index, report.connected, report.failed, report.errors))
    selector = selectors.DefaultSelector()
    for client_index, dashboard in enumerate(dashboards):
        selector.register(dashboard.sock, selectors.EVENT_READ, (client_index, dashboard))
    deadline = time.monotonic() + plan.max_seconds
    measuring = False
    cpu_before = 0.0
    try:
        while time.monotonic() < deadline and not signals.stop.is_set():
            if not measuring and signals.start.is_set():
                measuring, cpu_before = True, _own_cpu_seconds()
            for key, _mask in selector.select(timeout=0.05):
                client_index, dashboard = key.data
                try:
                    data = dashboard.sock.recv(262_144)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                received = time.time()
                for body in dashboard.feed(data) if data else ():
                    name, payload = decode_event(body)
                    if name == "incident_reported":
                        _note_incident(report, client_index, payload, received)
                if not data or dashboard.closed:
                    selector.unregister(dashboard.sock)
                    dashboard.close()
                    report.dropped += measuring
            signals.progress[plan.index] = len(report.received)
        report.cpu_seconds = _own_cpu_seconds() - cpu_before if measuring else 0.0
    finally:
        selector.close()
        for dashboard in dashboards:
            dashboard.close()
    return report


def listener_process(plan: ListenPlan, signals: Signals) -> None:
    """Child process: hold `plan.count` dashboards open until told to stop, then report."""
    raise_fd_limit(plan.count * 2 + 256)
    # AsyncClient logs "packet queue is empty, aborting" for every socket it closes.
    logging.getLogger("engineio.client").setLevel(logging.CRITICAL)
    logging.getLogger("socketio.client").setLevel(logging.CRITICAL)
    try:
        if plan.client == "lean":  # noqa: SIM108  (clearer than a 120-column ternary)
            report = listen_lean(plan, signals)
        else:
            report = asyncio.run(listen_socketio(plan, signals))
    except BaseException as exc:  # report, never hang the parent
        report = ListenerReport(index=plan.index, failed=plan.count, errors=[f"listener crashed: {exc!r}"])
        signals.ready.put((plan.index, 0, plan.count, report.errors))
    signals.results.put(report)


# --- the poster (child process) ------------------------------------------------------------


def poster_process(url: str, token: str, rate: float, duration: float, results: Queue[Any]) -> None:
    """Child process: POST incidents at a fixed rate on one keep-alive connection."""
    import requests

    report = PosterReport()
    lat, lon = ZONE_POINTS[1]
    headers = {"Authorization": f"Bearer {token}"}
    total = max(1, int(rate * duration))
    try:
        with requests.Session() as session:
            began = time.monotonic()
            hard_stop = began + duration + 30  # bounded even if the server stalls
            for i in range(total):
                delay = began + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if time.monotonic() > hard_stop:
                    report.errors.append(f"stopped after {i} posts: the server fell behind")
                    break
                client_id = str(uuid.uuid4())
                sent = time.time()
                body: dict[str, Any] = {"client_id": client_id, "kind": "robbery", "lat": lat, "lon": lon}
                body["description"] = f"t={sent:.6f}"  # the send time, readable on a dashboard
                try:
                    response = session.post(f"{url}/api/v1/incidents", json=body, headers=headers, timeout=10)
                    status = str(response.status_code)
                except requests.RequestException as exc:
                    status = type(exc).__name__
                report.round_trips.append(time.time() - sent)
                report.statuses[status] += 1
                if status == "201":
                    report.sent[client_id] = sent
                elif len(report.errors) < 3:
                    report.errors.append(f"post answered {status}")
            report.seconds = time.monotonic() - began
    except BaseException as exc:
        report.errors.append(f"poster crashed: {exc!r}")
    results.put(report)


# --- one round ----------------------------------------------------------------------------


def run_round(server: Server, token: str, *, clients: int, args: argparse.Namespace) -> RoundResult:
    """Connect `clients` dashboards to `server`, post for `args.duration` s, measure delivery."""
    background = wait_for_quiet(below=args.quiet_below, max_wait=args.quiet_wait)
    ctx = mp.get_context("fork")
    processes = max(1, math.ceil(clients / args.per_process))
    counts = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    poster_results: Queue[Any] = ctx.Queue()
    signals = Signals(
        ready=ctx.Queue(),
        results=ctx.Queue(),
        start=ctx.Event(),
        stop=ctx.Event(),
        progress=ctx.Array("q", processes, lock=False),
    )
    max_seconds = args.connect_timeout + args.duration + args.drain + 120
    plans = [
        ListenPlan(
            index=i,
            url=server.url,
            token=token,
            count=n,
            client=args.client,
            concurrency=args.connect_concurrency,
            max_seconds=max_seconds,
        )
        for i, n in enumerate(counts)
    ]
    listeners = [ctx.Process(target=listener_process, args=(plan, signals), daemon=True) for plan in plans]
    poster = ctx.Process(
        target=poster_process, args=(server.url, token, args.rate, args.duration, poster_results), daemon=True
    )
    errors: list[str] = []
    began = time.monotonic()
    try:
        for process in listeners:
            process.start()
        connected = 0
        for _ in listeners:
            _index, ok, _failed, errs = signals.ready.get(timeout=args.connect_timeout)
            connected += ok
            errors += errs
        connect_seconds = time.monotonic() - began
        if connected < clients:
            errors.append(f"{clients - connected} of {clients} dashboards failed to connect")
        time.sleep(1.0)  # let the last connections settle (room joins, first pings)
        cpu_before = server.cpu_seconds()
        machine_before = cpu_jiffies()
        window_began = time.monotonic()
        signals.start.set()
        poster.start()
        posted: PosterReport = poster_results.get(timeout=args.duration + 60)
        poster.join(timeout=10)
        expected = connected * len(posted.sent)
        drain_until = time.monotonic() + args.drain
        while sum(signals.progress) < expected and time.monotonic() < drain_until:
            time.sleep(0.1)
        seconds = time.monotonic() - window_began
        window = Window(
            seconds=seconds,
            server_cpu=server.cpu_seconds() - cpu_before,
            machine_pct=busy_pct(machine_before, cpu_jiffies()),
            background_pct=background,
        )
        signals.stop.set()
        reports: list[ListenerReport] = [signals.results.get(timeout=60) for _ in listeners]
        for process in listeners:
            process.join(timeout=20)
    finally:
        signals.stop.set()
        for process in [*listeners, poster]:
            if process.pid is not None and process.is_alive():
                process.terminate()
                process.join(timeout=5)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=5)
    return summarise(server.name, clients, connected, connect_seconds, posted, reports, window, errors)


def summarise(
    name: str,
    clients: int,
    connected: int,
    connect_seconds: float,
    posted: PosterReport,
    reports: list[ListenerReport],
    window: Window,
    errors: list[str],
) -> RoundResult:
    """Join receive stamps with send times: latencies, delivered and expected counts."""
    latencies: list[float] = []
    seen: set[tuple[int, int, str]] = set()
    for report in reports:
        errors += [e for e in report.errors if e not in errors]
        for client_index, client_id, received in report.received:
            sent = posted.sent.get(client_id)
            key = (report.index, client_index, client_id)
            if sent is None or key in seen:
                continue
            seen.add(key)
            latencies.append((received - sent) * 1000)
    latencies.sort()
    trips = sorted(t * 1000 for t in posted.round_trips)
    posts_ok = len(posted.sent)
    failures = sum(posted.statuses.values()) - posts_ok
    errors += posted.errors
    return RoundResult(
        server=name,
        clients=clients,
        connected=connected,
        connect_seconds=connect_seconds,
        posts_ok=posts_ok,
        post_failures=failures,
        post_rate=sum(posted.statuses.values()) / posted.seconds if posted.seconds else 0.0,
        expected=connected * posts_ok,
        delivered=len(latencies),
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else math.nan,
        post_p50_ms=percentile(trips, 0.50),
        post_p99_ms=percentile(trips, 0.99),
        server_cpu_pct=100 * window.server_cpu / window.seconds,
        client_cpu_pct=100 * sum(r.cpu_seconds for r in reports) / window.seconds,
        machine_pct=window.machine_pct,
        background_pct=window.background_pct,
        window_seconds=window.seconds,
        payload_bytes=max((r.payload_bytes for r in reports), default=0),
        dropped=sum(r.dropped for r in reports),
        errors=errors,
    )


# --- report -------------------------------------------------------------------------------


def print_summary(results: list[RoundResult], args: argparse.Namespace) -> None:
    """The per-round tables, then the Ronda/bare comparison against the targets."""
    print(
        f"\nReport-to-screen latency (POST sent -> event handled by a dashboard), {args.rate:g} posts/s "
        f"for {args.duration:g} s, {args.client} clients, 2-core machine"
    )
    header = (
        f"{'server':<6} {'N':>5} {'conn':>5} {'posts/s':>7} {'delivered/expected':>19} {'lost':>6} "
        f"{'p50':>9} {'p95':>9} {'p99':>9} {'max':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.server:<6} {r.clients:>5} {r.connected:>5} {r.post_rate:>7.1f} "
            f"{f'{r.delivered}/{r.expected}':>19} {r.lost:>6} "
            f"{r.p50_ms:>7.1f}ms {r.p95_ms:>7.1f}ms {r.p99_ms:>7.1f}ms {r.max_ms:>7.0f}ms"
        )
    print("\nWhere the time went (CPU in % of one core over posting + drain; the machine has 200 %)")
    header = (
        f"{'server':<6} {'N':>5} {'POST p50':>9} {'POST p99':>9} {'server':>7} {'clients':>7} {'others':>7} "
        f"{'before':>7} {'event B':>7} {'dropped':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        others = max(0.0, r.machine_pct - r.server_cpu_pct - r.client_cpu_pct)
        print(
            f"{r.server:<6} {r.clients:>5} {r.post_p50_ms:>7.1f}ms {r.post_p99_ms:>7.1f}ms {r.server_cpu_pct:>6.0f}% "
            f"{r.client_cpu_pct:>6.0f}% {others:>6.0f}% {r.background_pct:>6.0f}% {r.payload_bytes:>7} {r.dropped:>7}"
        )
    print(
        "(others: the poster, the kernel and any other work on the machine; before: the machine's load just "
        "before the round)"
    )
    print(
        f"\n{'N':>5} {'bare p99':>9} {'Ronda p99':>10} {'ratio':>6}  {'target p99 ≤ 1.25× bare':<24} "
        f"{'Ronda lost':>10}  target 0 lost"
    )
    by_key = {(r.server, r.clients): r for r in results}
    for clients in sorted({r.clients for r in results}):
        bare, ronda = by_key.get(("bare", clients)), by_key.get(("ronda", clients))
        if bare is None or ronda is None:
            continue
        ratio = ronda.p99_ms / bare.p99_ms if bare.p99_ms else math.nan
        p99_verdict = "met" if ratio <= P99_TARGET_RATIO else "MISSED"
        lost_verdict = "met" if ronda.lost == 0 else "MISSED"
        print(
            f"{clients:>5} {bare.p99_ms:>7.1f}ms {ronda.p99_ms:>8.1f}ms {ratio:>6.2f}  {p99_verdict:<24} "
            f"{ronda.lost:>10}  {lost_verdict}"
        )
    for r in results:
        for error in r.errors:
            print(f"error: {r.server} N={r.clients}: {error}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="100,500,1000", help="dashboard counts, comma-separated")
    parser.add_argument("--rate", type=float, default=20.0, help="incident posts per second")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of posting per round")
    parser.add_argument(
        "--drain", type=float, default=10.0, help="at most this many seconds after the last post for late events"
    )
    parser.add_argument("--per-process", type=int, default=250, help="dashboards per client process")
    parser.add_argument(
        "--client",
        choices=("socketio", "lean"),
        default="socketio",
        help="dashboard client: python-socketio AsyncClient (~130 us CPU per event here) or the lean raw-socket "
        "client of lean_dashboard.py (~60 us, so the clients take fewer of the 2 cores from the server)",
    )
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=30.0,
        help="wait before a round until the machine is below this %% of one core busy (other work inflates latencies)",
    )
    parser.add_argument("--quiet-wait", type=float, default=20.0, help="seconds to wait for that at most")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="connection attempts at once per process")
    parser.add_argument("--connect-timeout", type=float, default=120.0, help="seconds for all dashboards to connect")
    parser.add_argument("--servers", default="bare,ronda", help="which servers to measure (bare, ronda)")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between rounds (servers settle)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, server logs)")
    args = parser.parse_args(argv)
    args.client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    args.server_names = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.client_counts or min(args.client_counts) < 1 or not 0 < args.rate <= 500:
        parser.error("--clients must be positive counts and --rate within (0, 500]")
    if not 0 < args.duration <= 300 or not set(args.server_names) <= {"bare", "ronda"}:
        parser.error("--duration must be within (0, 300] and --servers a subset of bare,ronda")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_signals()
    limit = raise_fd_limit(max(args.client_counts) * 2 + 1024)  # the servers inherit it
    print(f"open-file limit {limit}; load average {os.getloadavg()[0]:.2f} at start", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="ronda-push-"))
    servers: dict[str, Server] = {}
    results: list[RoundResult] = []
    try:
        if "ronda" in args.server_names:
            print("starting Ronda (fresh SQLite, demo district, one police user)...", flush=True)
            servers["ronda"] = start_ronda(workdir, users=[(DASHBOARD_USER, "police", None)])
        if "bare" in args.server_names:
            print("starting the bare baseline...", flush=True)
            servers["bare"] = start_bare(workdir)
        tokens = {name: token_for(server, DASHBOARD_USER) for name, server in servers.items()}
        for clients in args.client_counts:
            for name in args.server_names:
                print(f"  {name:<5} N={clients:<5} ...", end=" ", flush=True)
                result = run_round(servers[name], tokens[name], clients=clients, args=args)
                results.append(result)
                print(
                    f"connected {result.connected} in {result.connect_seconds:.1f} s, "
                    f"{result.delivered}/{result.expected} delivered, p99 {result.p99_ms:.1f} ms, "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
                time.sleep(args.pause)
    except (ServerError, OSError, mp.TimeoutError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if results:
            print_summary(results, args)
        return 2
    except Exception as exc:  # queue.Empty and the like: a round that never finished
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if results:
            print_summary(results, args)
        return 2
    finally:
        for server in servers.values():
            server.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            _remove_tree(workdir)
    print_summary(results, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) | {"lost": r.lost} for r in results], indent=2))
        print(f"\nwrote {args.json}")
    failed = any(r.errors or r.post_failures or r.connected < r.clients for r in results)
    return 1 if failed else 0


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
