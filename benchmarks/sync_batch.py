"""Offline sync: how long a 500-operation batch takes, and how many bytes it costs on the wire.

Starts Ronda (`app.py`, gevent, a fresh temporary SQLite database; a volunteer who belongs to a
demo committee of zone 1). For each batch shape below it sends `--rounds` fresh batches of
`--operations` operations (gzip both ways, as a phone on 3G should), then the same batch
again (the replay a phone makes when the first answer is lost), and prints:

- request and answer sizes, raw and gzipped;
- the time to apply the batch and to replay it;
- the worst answer time of a small GET sent every 20 ms by another client while the batch
  is applied: how long the batch holds the server's event loop from everyone else.

Shapes: `shift` (a patrol started, 490 position uploads of 6 points, 6 incidents, 2 alarms, the
patrol ended: a phone without signal for a whole shift), `incidents` (500 reports) and
`positions` (a patrol started, 498 uploads of 1 point, the patrol ended).

    .venv/bin/python benchmarks/sync_batch.py                 # ~1 minute
    .venv/bin/python benchmarks/sync_batch.py --rounds 1 --shapes shift
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import FLASK, ZONE_POINTS, Server, exit_on_signals, start_ronda, token_for  # noqa: E402

VOLUNTEER = "bench-volunteer"
COMMITTEE_ID = 1  # the demo's "Comité vecinal Nueva Esperanza – Sector A" (zone 1)


def op(kind: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"op": kind, "client_id": str(uuid.uuid4()), "at": at.isoformat(), "data": data}


def batch(shape: str, operations: int) -> list[dict[str, Any]]:
    """A batch of `operations` operations of one shape, timed over the last hours."""
    lat, lon = ZONE_POINTS[1]
    start = datetime.now(UTC) - timedelta(hours=5)
    if shape == "incidents":
        return [
            op("incident", start + timedelta(seconds=20 * i),
               {"kind": "suspicious_activity", "lat": lat + (i % 7) * 1e-4, "lon": lon, "description": f"Ronda {i}"})
            for i in range(operations)
        ]  # fmt: skip
    patrol = op("patrol_start", start, {"committee_id": COMMITTEE_ID})
    ref = {"patrol_client_id": patrol["client_id"]}
    points_each = 6 if shape == "shift" else 1
    extras = 9 if shape == "shift" else 1  # (6 incidents, 2 alarms) and the end
    uploads = operations - 1 - extras
    ops = [patrol]
    for i in range(uploads):
        t0 = start + timedelta(seconds=5 * points_each * i)
        points = [{"t": (t0 + timedelta(seconds=5 * k)).isoformat(), "lat": lat + (i * points_each + k) * 2e-6,
                   "lon": lon + ((i + k) % 3) * 1e-5, "accuracy": 8} for k in range(points_each)]  # fmt: skip
        ops.append(op("positions", t0, {**ref, "positions": points}))
    if shape == "shift":
        for n in range(6):
            at = start + timedelta(minutes=30 * (n + 1))
            ops.insert(1 + 80 * n, op("incident", at, {**ref, "kind": "robbery", "lat": lat, "lon": lon}))
        for n in range(2):
            ops.insert(200 + 100 * n, op("alarm", start + timedelta(hours=1 + n), {**ref, "lat": lat, "lon": lon}))
    ops.append(op("patrol_end", start + timedelta(hours=4, minutes=50), ref))
    return ops


def send(url: str, token: str, body: bytes) -> tuple[float, int, dict[str, Any]]:
    """POST a gzipped batch; (seconds, gzipped answer bytes, answer)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip",
               "Accept-Encoding": "gzip"}  # fmt: skip
    started = time.perf_counter()
    connection.request("POST", "/api/v1/sync", body=body, headers=headers)
    response = connection.getresponse()
    packed = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"sync answered {response.status}: {packed[:300]!r}")
    raw = gzip.decompress(packed) if response.getheader("Content-Encoding") == "gzip" else packed
    return elapsed, len(packed), json.loads(raw)


class Prober(threading.Thread):
    """Another client: GET /api/v1/zones/locate every 20 ms; the worst answer time while running."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.token = token
        self.times: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        lat, lon = ZONE_POINTS[1]
        while not self.stop.is_set() and len(self.times) < 100_000:
            started = time.perf_counter()
            self.connection.request("GET", f"/api/v1/zones/locate?lat={lat}&lon={lon}",
                                    headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
            self.connection.getresponse().read()
            self.times.append(time.perf_counter() - started)
            time.sleep(0.02)


def measure(server: Server, token: str, shape: str, operations: int, rounds: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for _ in range(rounds):
        ops = batch(shape, operations)
        raw = json.dumps({"operations": ops}, separators=(",", ":")).encode()
        packed = gzip.compress(raw)
        prober = Prober(server.url, token)
        prober.start()
        time.sleep(0.2)
        seconds, answer_bytes, answer = send(server.url, token, packed)
        prober.stop.set()
        prober.join(timeout=10)
        if answer["applied"] != len(ops):
            raise RuntimeError(f"{shape}: {answer['applied']} of {len(ops)} applied: {answer['results'][:3]}")
        replay_seconds, _, replay = send(server.url, token, packed)
        if replay["already_applied"] != len(ops):
            raise RuntimeError(f"{shape}: the replay applied something again")
        answer_raw = len(json.dumps(answer, separators=(",", ":")).encode())
        rows.append(
            {
                "request_raw": len(raw),
                "request_gzip": len(packed),
                "answer_raw": answer_raw,
                "answer_gzip": answer_bytes,
                "seconds": seconds,
                "replay_seconds": replay_seconds,
                "probe_worst": max(prober.times, default=0.0),
                "probe_median": statistics.median(prober.times or [0]),
            }
        )
    return {"shape": shape, "operations": operations, "rounds": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--operations", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=["shift", "incidents", "positions"])
    args = parser.parse_args()
    exit_on_signals()
    with tempfile.TemporaryDirectory(prefix="ronda-sync-") as folder:
        server = start_ronda(Path(folder), users=[(VOLUNTEER, "volunteer", 1)])
        try:
            subprocess.run([str(FLASK), "--app", "app", "committees", "add-member", str(COMMITTEE_ID), VOLUNTEER],
                           cwd=ROOT, env=server.env, check=True, capture_output=True)  # fmt: skip
            token = token_for(server, VOLUNTEER)
            results = [measure(server, token, shape, args.operations, args.rounds) for shape in args.shapes]
        finally:
            server.stop()
    print(f"\nSync of {args.operations}-operation batches, {args.rounds} rounds each (worst round shown after /)")
    print("| shape | request raw / gzip | answer raw / gzip | apply s (median / worst) | replay s | "
          "other client's worst wait |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for result in results:
        r = result["rounds"]

        def med(key: str, rows: list[dict[str, Any]] = r) -> float:
            return statistics.median(x[key] for x in rows)

        def worst(key: str, rows: list[dict[str, Any]] = r) -> float:
            return max(x[key] for x in rows)

        print(f"| {result['shape']} | {med('request_raw') / 1024:.0f} KB / {med('request_gzip') / 1024:.1f} KB "
              f"| {med('answer_raw') / 1024:.1f} KB / {med('answer_gzip') / 1024:.1f} KB "
              f"| {med('seconds'):.2f} / {worst('seconds'):.2f} | {med('replay_seconds'):.2f} "
              f"| {worst('probe_worst') * 1000:.0f} ms (median {med('probe_median') * 1000:.1f} ms) |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
