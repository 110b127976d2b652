"""Trends and history import at scale: 1,000,000 incidents on SQLite and on PostgreSQL.

Writes a CSV of N synthetic incidents (36 months, all kinds, every zone), imports it with the
same code as `flask incidents import` (bulk spatial join, ON CONFLICT DO NOTHING), then times
the committee trends for the last 12 months (district and one zone) and prints the figures.
Targets: import under 180 s, a year's trends under 2 s.

    .venv/bin/python benchmarks/trends_scale.py --rows 1000000 --stores sqlite,postgresql
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from app import create_app  # noqa: E402
from benchmarks.scratch_postgres import drop_pg_database, make_pg_database  # noqa: E402
from dashboards.trends import Month, compute_trends  # noqa: E402
from security.history import import_incidents_csv  # noqa: E402
from security.kinds import KINDS  # noqa: E402
from zones.models import Block  # noqa: E402


def write_csv(path: Path, *, rows: int, blocks: list[Block], seed: int = 7) -> None:
    """N incidents at random blocks over the last 36 months (Lima times, no offset)."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    now = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=5)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "lat", "lon", "occurred_at", "status", "severity", "acknowledged_at", "external_id"])
        for i in range(rows):
            block = blocks[rng.randrange(len(blocks))]
            occurred = now - timedelta(seconds=rng.randrange(36 * 30 * 86400))
            ack = occurred + timedelta(seconds=rng.randrange(30, 3600))
            writer.writerow(
                [
                    kinds[rng.randrange(len(kinds))],
                    f"{block.center_lat + rng.uniform(-0.0004, 0.0004):.6f}",
                    f"{block.center_lon + rng.uniform(-0.0004, 0.0004):.6f}",
                    occurred.isoformat(timespec="seconds"),
                    "resolved" if rng.random() < 0.8 else "dismissed",
                    rng.randint(1, 3),
                    ack.isoformat(timespec="seconds"),
                    f"bench-{i}",
                ]
            )


def run(store: str, *, csv_path: Path | None, rows: int, repeats: int, tmp: Path) -> dict[str, float]:
    pg_name = None
    if store == "postgresql":
        pg_name, url = make_pg_database()
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    try:
        app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "benchmark"})
        engine = app.extensions["ronda"].engine
        with Session(engine, expire_on_commit=False) as session:
            blocks = list(session.exec(select(Block)).all())
        if csv_path is None or not csv_path.exists():
            csv_path = tmp / "incidents.csv"
            started = time.perf_counter()
            write_csv(csv_path, rows=rows, blocks=blocks)
            print(f"  wrote {rows:,} rows to CSV in {time.perf_counter() - started:.1f} s", flush=True)
        with Session(engine, expire_on_commit=False) as session:
            started = time.perf_counter()
            report = import_incidents_csv(session=session, path=csv_path)
            import_seconds = time.perf_counter() - started
        print(f"  [{store}] imported {report.added:,} rows in {import_seconds:.1f} s", flush=True)
        if store == "postgresql":
            with engine.connect() as connection:
                connection.execute(text("ANALYZE"))
                connection.commit()
        today = datetime.now(UTC) - timedelta(hours=5)
        last = Month(today.year, today.month)
        first = last.shift(-11)
        timings: dict[str, list[float]] = {"district": [], "zone": []}
        for _ in range(repeats):
            for label, zone_id in (("district", None), ("zone", 3)):
                with Session(engine) as session:
                    started = time.perf_counter()
                    figures = compute_trends(session=session, zone_id=zone_id, first=first, last=last)
                    timings[label].append(time.perf_counter() - started)
                    assert figures["incidents"]["total"] > 0
        engine.dispose()
        return {
            "import_s": import_seconds,
            "rows_per_s": report.added / import_seconds,
            "district_p50": statistics.median(timings["district"]),
            "district_max": max(timings["district"]),
            "zone_p50": statistics.median(timings["zone"]),
            "zone_max": max(timings["zone"]),
            "csv": str(csv_path),
        }  # type: ignore[dict-item]
    finally:
        if pg_name:
            drop_pg_database(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        csv_path: Path | None = None
        for store in args.stores.split(","):
            print(f"{store}:", flush=True)
            results[store] = run(store, csv_path=csv_path, rows=args.rows, repeats=args.repeats, tmp=tmp)
            csv_path = Path(str(results[store]["csv"]))
    print(f"\n{args.rows:,} incidents; trends for 12 months (median and worst of {args.repeats})")
    print(f"{'store':>11} {'import':>9} {'rows/s':>9} {'district':>9} {'worst':>7} {'zone':>7} {'worst':>7}")
    for store, r in results.items():
        print(
            f"{store:>11} {r['import_s']:>8.1f}s {r['rows_per_s']:>9,.0f} {r['district_p50']:>8.2f}s"
            f" {r['district_max']:>6.2f}s {r['zone_p50']:>6.2f}s {r['zone_max']:>6.2f}s"
        )
    print("targets: import < 180 s; a year's trends < 2 s")


if __name__ == "__main__":
    main()
