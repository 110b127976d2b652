"""Sustained ingest: how many incident reports per second Ronda stores, against the bare baseline.

Starts Ronda (`app.py`, gevent, a fresh temporary SQLite database, one police user) and
`bare_push_server.py`. For each client count C in `--concurrency` (default 1 and 4), C client
processes each hold one keep-alive HTTP/1.1 connection (`http.client`) and POST
`/api/v1/incidents` back to back for `--seconds` seconds, after `--warmup` posts each. No
dashboard is connected, so this is the cost of accepting, validating, storing and publishing.

Prints posts/s for both servers, the request time (p50/p99), and the Ronda/bare ratio against
the target (>= 0.70). Missing the target is reported, not an error; the exit status is
non-zero only when something failed (a server, or posts that were not answered 201).

    .venv/bin/python benchmarks/ingest.py                   # ~1.5 minutes
    .venv/bin/python benchmarks/ingest.py --concurrency 1 --seconds 5
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
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
    exit_on_signals,
    start_bare,
    start_ronda,
    token_for,
)

RATIO_TARGET = 0.70
POSTER_USER = "bench-police"
MAX_POSTS_PER_CLIENT = 200_000  # a bound far above what 2 cores can store in --seconds


@dataclass
class ClientReport:
    """One client's posts inside the measured window: statuses and request times."""

    statuses: Counter[str] = field(default_factory=Counter)
    times: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class IngestResult:
    """One server at one concurrency."""

    server: str
    concurrency: int
    posts_ok: int
    failures: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: list[str]

    @property
    def rate(self) -> float:
        return self.posts_ok / self.seconds if self.seconds else 0.0


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (nan when empty)."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(1, math.ceil(fraction * len(sorted_values))) - 1]


def client_process(
    url: str, token: str, seconds: float, warmup: int, ready: Queue[Any], start: MpEvent, results: Queue[Any]
) -> None:
    """Child process: POST incidents back to back on one keep-alive connection."""
    report = ClientReport()
    parts = urlsplit(url)
    lat, lon = ZONE_POINTS[1]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}", "Connection": "keep-alive"}
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)

    def post() -> str:
        nonlocal connection
        body = json.dumps(
            {"client_id": str(uuid.uuid4()), "kind": "robbery", "lat": lat, "lon": lon, "description": "ingest"}
        )
        try:
            connection.request("POST", "/api/v1/incidents", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
            return str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()  # reconnects on the next request
            return type(exc).__name__

    try:
        for _ in range(warmup):
            post()
        ready.put(True)
        start.wait(timeout=60)
        began = time.perf_counter()
        deadline = began + seconds
        for _ in range(MAX_POSTS_PER_CLIENT):
            sent = time.perf_counter()
            if sent >= deadline:
                break
            status = post()
            report.times.append(time.perf_counter() - sent)
            report.statuses[status] += 1
            if status != "201" and len(report.errors) < 3:
                report.errors.append(f"post answered {status}")
        report.seconds = time.perf_counter() - began
    except BaseException as exc:  # report, never hang the parent
        report.errors.append(f"client crashed: {exc!r}")
    finally:
        connection.close()
    results.put(report)


def run(server: Server, token: str, *, concurrency: int, seconds: float, warmup: int) -> IngestResult:
    """`concurrency` keep-alive clients posting to `server` for `seconds`."""
    ctx = mp.get_context("fork")
    ready: Queue[Any] = ctx.Queue()
    results: Queue[Any] = ctx.Queue()
    start = ctx.Event()
    clients = [
        ctx.Process(
            target=client_process, args=(server.url, token, seconds, warmup, ready, start, results), daemon=True
        )
        for _ in range(concurrency)
    ]
    try:
        for process in clients:
            process.start()
        for _ in clients:
            ready.get(timeout=60)  # every client has made its warm-up posts
        start.set()
        reports: list[ClientReport] = [results.get(timeout=seconds + 90) for _ in clients]
        for process in clients:
            process.join(timeout=10)
    finally:
        for process in clients:
            if process.pid is not None and process.is_alive():
                process.terminate()
                process.join(timeout=5)
    statuses: Counter[str] = Counter()
    times: list[float] = []
    errors: list[str] = []
    for report in reports:
        statuses.update(report.statuses)
        times += report.times
        errors += [e for e in report.errors if e not in errors]
    times.sort()
    ok = statuses["201"]
    return IngestResult(
        server=server.name,
        concurrency=concurrency,
        posts_ok=ok,
        failures=sum(statuses.values()) - ok,
        seconds=max((r.seconds for r in reports), default=0.0),
        p50_ms=percentile(times, 0.50) * 1000,
        p99_ms=percentile(times, 0.99) * 1000,
        errors=errors,
    )


def print_summary(results: list[IngestResult], seconds: float) -> None:
    """Posts/s per server and concurrency, then the Ronda/bare ratio against the target."""
    print(f"\nSustained ingest, keep-alive clients posting back to back for {seconds:g} s, 2-core machine")
    header = f"{'server':<6} {'clients':>7} {'posts':>7} {'failed':>6} {'posts/s':>8} {'req p50':>8} {'req p99':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.server:<6} {r.concurrency:>7} {r.posts_ok:>7} {r.failures:>6} {r.rate:>8.1f} "
            f"{r.p50_ms:>6.1f}ms {r.p99_ms:>6.1f}ms"
        )
    print(f"\n{'clients':>7} {'bare/s':>8} {'Ronda/s':>8} {'ratio':>6}  target ≥ {RATIO_TARGET:.2f}")
    by_key = {(r.server, r.concurrency): r for r in results}
    for concurrency in sorted({r.concurrency for r in results}):
        bare, ronda = by_key.get(("bare", concurrency)), by_key.get(("ronda", concurrency))
        if bare is None or ronda is None:
            continue
        ratio = ronda.rate / bare.rate if bare.rate else math.nan
        verdict = "met" if ratio >= RATIO_TARGET else "MISSED"
        print(f"{concurrency:>7} {bare.rate:>8.1f} {ronda.rate:>8.1f} {ratio:>6.2f}  {verdict}")
    for r in results:
        for error in r.errors:
            print(f"error: {r.server} clients={r.concurrency}: {error}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per server and concurrency")
    parser.add_argument("--concurrency", default="1,4", help="keep-alive client counts, comma-separated")
    parser.add_argument("--warmup", type=int, default=50, help="posts per client before measuring")
    parser.add_argument("--servers", default="bare,ronda", help="which servers to measure (bare, ronda)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, server logs)")
    args = parser.parse_args(argv)
    args.levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.server_names = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.levels or not all(1 <= c <= 32 for c in args.levels):
        parser.error("--concurrency must be counts between 1 and 32")
    if not 0 < args.seconds <= 300 or not set(args.server_names) <= {"bare", "ronda"}:
        parser.error("--seconds must be within (0, 300] and --servers a subset of bare,ronda")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_signals()
    print(f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="ronda-ingest-"))
    servers: dict[str, Server] = {}
    results: list[IngestResult] = []
    try:
        if "ronda" in args.server_names:
            print("starting Ronda (fresh SQLite, demo district, one police user)...", flush=True)
            servers["ronda"] = start_ronda(workdir, users=[(POSTER_USER, "police", None)])
        if "bare" in args.server_names:
            print("starting the bare baseline...", flush=True)
            servers["bare"] = start_bare(workdir)
        tokens = {name: token_for(server, POSTER_USER) for name, server in servers.items()}
        for concurrency in args.levels:
            for name in args.server_names:
                result = run(
                    servers[name], tokens[name], concurrency=concurrency, seconds=args.seconds, warmup=args.warmup
                )
                results.append(result)
                print(f"  {name:<5} clients={concurrency}: {result.rate:.1f} posts/s", flush=True)
    except Exception as exc:  # ServerError, a queue that timed out: a run that never finished
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if results:
            print_summary(results, args.seconds)
        return 2
    finally:
        for server in servers.values():
            server.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    print_summary(results, args.seconds)
    return 1 if any(r.failures or r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
