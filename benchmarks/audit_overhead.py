"""What the audit record costs a report: the same reports stored with and without its line.

Builds a fresh migrated SQLite database (WAL, the embedded default) with the demo district,
then stores `--reports` reports through the report service, one transaction each as the API
does (`report_incident` + commit), alternately with the audit record on and with
`audit.record` replaced by a no-op: the bare baseline, in the same run on the same file. Each
round is `--reports` of each, interleaved in blocks of 50 so a noisy moment hits both; the
figures are the median per-report time of `--rounds` rounds, and the difference.

    .venv/bin/python benchmarks/audit_overhead.py                # ~30 s
    .venv/bin/python benchmarks/audit_overhead.py --postgres     # a scratch database on 127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from app import create_app  # noqa: E402
from benchmarks.scratch_postgres import drop_pg_database, make_pg_database  # noqa: E402
from security import audit, incidents  # noqa: E402
from security.auth import create_user  # noqa: E402
from security.models import IncidentCreate  # noqa: E402

ZONE_1 = (-12.1398, -76.9281)
TARGET_MS = 1.0


def report(engine, user, index, n: int) -> float:
    """Store `n` reports, one transaction each; seconds taken."""
    lat, lon = ZONE_1
    started = time.perf_counter()
    for i in range(n):
        with Session(engine, expire_on_commit=False) as session:
            data = IncidentCreate(
                client_id=uuid.uuid4(), kind="robbery", lat=lat + (i % 9) * 1e-5, lon=lon, description="Robo"
            )
            incidents.report_incident(session=session, reporter=user, data=data, index=index)
            session.commit()
    return time.perf_counter() - started


@contextlib.contextmanager
def scratch_postgres() -> Iterator[str]:
    """A new PostgreSQL database for the run, dropped afterwards; yields its URL."""
    name, url = make_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=1000, help="reports per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database, not SQLite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = stack.enter_context(scratch_postgres()) if args.postgres else f"sqlite:///{Path(tmp) / 'ronda.db'}"
        app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "bench", "SOCKETIO_MESSAGE_QUEUE": None})
        state = app.extensions["ronda"]
        with Session(state.engine, expire_on_commit=False) as session:
            user = create_user(
                session=session, username=f"bench-{uuid.uuid4().hex[:6]}", password="clave-bench-123",
                role="volunteer", zone_id=1,
            )  # fmt: skip
            session.commit()
        real_record = audit.record

        def no_record(**_kwargs: object) -> None:
            return None

        report(state.engine, user, state.index, 50)  # warm up both paths
        with_ms, without_ms = [], []
        for _ in range(args.rounds):
            on = off = 0.0
            for _block in range(args.reports // 50):
                audit.record = real_record  # type: ignore[assignment]
                on += report(state.engine, user, state.index, 50)
                audit.record = no_record  # type: ignore[assignment]
                off += report(state.engine, user, state.index, 50)
            audit.record = real_record  # type: ignore[assignment]
            with_ms.append(on / args.reports * 1000)
            without_ms.append(off / args.reports * 1000)
        state.engine.dispose()

    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite (WAL)"
    on, off = statistics.median(with_ms), statistics.median(without_ms)
    print(f"{database}: {args.reports} reports per round and mode, {args.rounds} rounds, one commit per report")
    print(f"{'':28}{'per report (median)':>22}")
    print(f"{'bare (no audit line)':28}{off:>19.3f} ms")
    print(f"{'Ronda (with the audit line)':28}{on:>19.3f} ms")
    verdict = "met" if on - off < TARGET_MS else "MISSED"
    print(f"{'audit record adds':28}{on - off:>19.3f} ms   (target < {TARGET_MS:.0f} ms: {verdict})")
    rounds = ", ".join(f"{v:.3f}" for v in with_ms), ", ".join(f"{v:.3f}" for v in without_ms)
    print(f"rounds with: {rounds[0]} | without: {rounds[1]}")


if __name__ == "__main__":
    main()
