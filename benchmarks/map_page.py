"""How heavy is the live map as history grows? Page size and server render time of /mapa.

Fills a fresh SQLite database (demo district) with N synthetic incidents spread over the last
90 days (about 8% still open), then renders /mapa for a police user and a neighbour, several
times each, and prints the HTML size and the render time (median and worst).

    .venv/bin/python benchmarks/map_page.py --sizes 1000,10000,100000
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from app import create_app  # noqa: E402
from security.auth import create_user  # noqa: E402
from security.kinds import KINDS  # noqa: E402
from security.models import Incident  # noqa: E402
from zones.database import utcnow  # noqa: E402
from zones.models import Block  # noqa: E402

TARGET_BYTES = 1_500_000
PASSWORD = "benchmark-pass-1"


def fill(session: Session, *, count: int, reporter_id: int, seed: int = 1) -> None:
    """Insert `count` incidents at random blocks of the district, in bulk."""
    rng = random.Random(seed)
    blocks = session.exec(select(Block)).all()
    kinds = list(KINDS)
    now = utcnow()
    rows = []
    for _ in range(count):
        block = rng.choice(blocks)
        occurred = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        is_open = rng.random() < 0.08
        rows.append(
            {
                "client_id": str(uuid.uuid4()),
                "reporter_id": reporter_id,
                "kind": rng.choice(kinds),
                "lat": block.center_lat + rng.uniform(-0.0008, 0.0008),
                "lon": block.center_lon + rng.uniform(-0.0008, 0.0008),
                "severity": rng.randint(1, 3),
                "anonymous": rng.random() < 0.2,
                "description": "Incidente sintético de prueba de carga",
                "zone_id": block.zone_id,
                "block_id": block.id,
                "status": rng.choice(["reported", "acknowledged", "dispatched"]) if is_open else "resolved",
                "occurred_at": occurred,
                "reported_at": occurred,
                "updated_at": occurred,
            }
        )
        if len(rows) == 5000:
            session.execute(insert(Incident), rows)
            rows = []
    if rows:
        session.execute(insert(Incident), rows)
    session.commit()


def measure(client, *, path: str, repeats: int) -> tuple[int, float, float]:
    sizes, times = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        sizes.append(len(response.data))
    return max(sizes), statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="incident counts to test")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/bench.db", "TESTING": True, "SECRET_KEY": "benchmark"})
        engine = app.extensions["ronda"].engine
        with Session(engine) as session:
            police = create_user(session=session, username="police", password=PASSWORD, role="police")
            create_user(session=session, username="vecino", password=PASSWORD, role="neighbor", zone_id=3)
            session.commit()
            reporter_id = police.id
        stored = 0
        for size in sizes:
            started = time.perf_counter()
            with Session(engine) as session:
                fill(session, count=size - stored, reporter_id=reporter_id, seed=size)
            stored = size
            fill_seconds = time.perf_counter() - started
            for username in ("police", "vecino"):
                client = app.test_client()
                client.get("/entrar")  # the sign-in form puts a CSRF token in the session
                with client.session_transaction() as web_session:
                    token = web_session.get("csrf")
                client.post("/entrar", data={"username": username, "password": PASSWORD, "csrf": token})
                for window in ("24h", "30d"):
                    size_bytes, median, worst = measure(client, path=f"/mapa?ventana={window}", repeats=args.repeats)
                    results.append((size, username, window, size_bytes, median, worst, fill_seconds))
    print(f"\n{'incidents':>10} {'viewer':>8} {'window':>6} {'HTML bytes':>11} {'render p50':>11} {'worst':>8}  target")
    for size, username, window, size_bytes, median, worst, _ in results:
        verdict = "ok" if size_bytes <= TARGET_BYTES else "OVER"
        print(
            f"{size:>10,} {username:>8} {window:>6} {size_bytes:>11,} {median * 1000:>9.0f}ms {worst * 1000:>6.0f}ms"
            f"  {verdict} (≤ {TARGET_BYTES:,} B)"
        )


if __name__ == "__main__":
    main()
