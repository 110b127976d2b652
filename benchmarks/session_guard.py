"""What guarding sessions costs: the per-process check of live sockets against ended sessions, and
the sign-in throttle's count, each next to the bare work it sits beside in the same run.

- The socket check (`security.push.ended_sockets`) runs once a second in every server process:
  one query over the accounts of the connected sockets and a pass over them. Measured with 1,000
  and 5,000 sockets of 200 and 1,000 people on SQLite, against the bare query alone.
- The throttle (`security.throttle.SignInThrottle`: `attempt` before a password check, `finish`
  after it, a failure counted) runs around every sign-in, in memory or in Redis, against the
  password check it surrounds (scrypt, what a sign-in costs anyway).

    .venv/bin/python benchmarks/session_guard.py            # ~20 s
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, col, select  # noqa: E402
from werkzeug.security import check_password_hash, generate_password_hash  # noqa: E402

from security import push  # noqa: E402
from security.auth import Viewer  # noqa: E402
from security.models import User  # noqa: E402
from security.throttle import SignInThrottle  # noqa: E402
from zones.database import make_engine, migrate, utcnow  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"


def median_ms(run: Callable[[], object], *, rounds: int) -> float:
    """The median wall time of `run`, in milliseconds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def socket_check(folder: Path) -> list[tuple[str, float, float]]:
    """(case, ended_sockets ms, bare query ms) for each number of sockets and people."""
    engine = make_engine(f"sqlite:///{folder / 'guard.db'}")
    migrate(engine)
    with Session(engine) as session:
        session.add_all(
            User(username=f"u{i}", password_hash="x", role="police", session_version=0) for i in range(1000)
        )
        session.commit()
        ids = list(session.exec(select(User.id)).all())
    rows = []
    expires = utcnow() + timedelta(hours=12)
    for sockets, people in ((1000, 200), (5000, 1000)):
        push._live.clear()
        for n in range(sockets):
            uid = ids[n % people]
            viewer = Viewer(user_id=uid, role="police", zone_id=None)
            push._live[f"sid{n}"] = push.LiveSession(viewer=viewer, session_version=0, expires_at=expires)
        wanted = set(ids[:people])

        def guard() -> None:
            with Session(engine) as session:
                assert push.ended_sockets(session=session, now=utcnow()) == {}

        def bare(wanted: set[int | None] = wanted) -> None:
            with Session(engine) as session:
                query = select(User.id, User.session_version, User.active).where(col(User.id).in_(wanted))
                session.exec(query).all()

        case = f"{sockets:,} sockets, {people:,} people"
        rows.append((case, median_ms(guard, rounds=50), median_ms(bare, rounds=50)))
    push._live.clear()
    engine.dispose()
    return rows


def throttle_cost() -> list[tuple[str, float, float]]:
    """(store, attempt ms, password check ms)."""
    hashed = generate_password_hash("una-clave-cualquiera")
    check = median_ms(lambda: check_password_hash(hashed, "otra-clave"), rounds=10)
    rows = []
    stores = [("memory", "memory://")]
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        stores.append(("Redis", REDIS_URL))
    except Exception:
        print("Redis not reachable: its row is left out")
    for name, uri in stores:
        throttle = SignInThrottle(uri, account_limit=10**9, address_limit=10**9, window=900, secret="bench")
        counter = iter(range(10**9))

        def guarded(t: SignInThrottle = throttle, c: Any = counter) -> None:
            name = f"nombre{next(c) % 500}"
            t.attempt(username=name, address="10.0.0.1")
            t.finish(username=name, address="10.0.0.1", failed=True)

        attempt = median_ms(guarded, rounds=500)
        rows.append((name, attempt, check))
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        checks = socket_check(Path(folder))
    print("\nLive socket check, once a second per process (median of 50):")
    print(f"{'case':<28}{'ended_sockets':>16}{'bare query':>14}")
    for case, guard, bare in checks:
        print(f"{case:<28}{guard:>13.2f} ms{bare:>11.2f} ms")
    print("\nSign-in throttle around a failed password check (attempt + finish, median of 500):")
    print(f"{'store':<10}{'throttle':>12}{'password check':>18}")
    for store, attempt, check in throttle_cost():
        print(f"{store:<10}{attempt:>9.3f} ms{check:>15.1f} ms")


if __name__ == "__main__":
    main()
