"""The incident list (/incidentes) over 100,000 incidents, on SQLite and on PostgreSQL.

Fills a fresh database with N synthetic incidents (two years, the demo district's zones and
blocks, kinds and statuses in realistic proportions, ids in time order as in real life) with
one bulk insert, signs a police officer in, then times filtered pages of /incidentes through
the Flask test client (the whole request: session, filter parsing, query, records, redaction,
template). Each is compared with the bare baseline: the same filter as one raw SQL
`SELECT * ... ORDER BY id DESC LIMIT 50`. Target: a page under 300 ms.

    .venv/bin/python benchmarks/incidents_list.py                         # both stores, ~2 min
    .venv/bin/python benchmarks/incidents_list.py --stores sqlite --rows 20000 --repeats 5
    .venv/bin/python benchmarks/incidents_list.py --explain               # and each baseline's plan

PostgreSQL is 127.0.0.1:5432, user postgres (trust), a fresh database made from `test` and
dropped afterwards; it is skipped with a message when unreachable.
"""

from __future__ import annotations

import argparse
import html
import math
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from app import create_app  # noqa: E402
from benchmarks.scratch_postgres import PG_ADMIN_URL, drop_pg_database, make_pg_database  # noqa: E402
from security.auth import create_user  # noqa: E402
from security.history import _KIND_WEIGHTS, import_user, insert_incidents  # noqa: E402
from security.models import OPEN_STATUSES  # noqa: E402
from zones.database import LIMA  # noqa: E402
from zones.models import Block  # noqa: E402

PASSWORD = "clave-de-benchmark-123"
TARGET_MS = 300.0
PAGE = 50
DAYS = 730
# What volunteers write; "moto" is in about one description in ten, "extorsión" in one in 400.
DESCRIPTIONS = (
    ("Dos sujetos en moto arrebataron un celular", 10),
    ("Robo de celular en el paradero", 12),
    ("Personas desconocidas rondando las casas", 14),
    ("Pintas en la pared del colegio", 8),
    ("Música a alto volumen toda la noche", 12),
    ("Pelea entre vecinos en la esquina", 8),
    ("Venta de drogas cerca del parque", 7),
    ("Grupo de jóvenes consumiendo alcohol en la losa deportiva", 10),
    ("Intento de robo a una tienda", 8),
    ("Auto sospechoso estacionado varias horas", 10),
    ("Cobro de cupos a mototaxistas: posible extorsión", 0.25),
    (None, 5),
)


def make_rows(
    *, rows: int, blocks: list[Block], reporter_id: int, now: datetime, seed: int = 11
) -> list[dict[str, Any]]:
    """N incidents over the last two years, sorted by time (so ids follow time, as in real life).

    Zones differ (some blocks far busier), evenings and weekends are busier, kinds follow the
    demo's weights; what is older than three days is mostly closed, the last days mostly open.
    """
    rng = random.Random(seed)
    block_weights = [rng.uniform(0.2, 2.0) for _ in blocks]
    kinds, kind_weights = zip(*_KIND_WEIGHTS.items(), strict=True)
    texts, text_weights = zip(*DESCRIPTIONS, strict=True)
    hour_weights = [3 if h >= 19 or h < 2 else 1.2 if 7 <= h < 19 else 0.6 for h in range(24)]
    chosen_blocks = rng.choices(blocks, weights=block_weights, k=rows)
    chosen_kinds = rng.choices(kinds, weights=kind_weights, k=rows)
    chosen_texts = rng.choices(texts, weights=text_weights, k=rows)
    hours = rng.choices(range(24), weights=hour_weights, k=rows)
    out = []
    for i in range(rows):
        day = (now - timedelta(days=rng.random() * DAYS)).astimezone(LIMA)
        occurred = day.replace(hour=hours[i], minute=rng.randrange(60), second=rng.randrange(60)).astimezone(UTC)
        if occurred > now:
            occurred -= timedelta(days=1)
        age = now - occurred
        if age < timedelta(days=3):
            status = rng.choices(
                ["reported", "acknowledged", "dispatched", "resolved", "dismissed"], [30, 20, 20, 25, 5]
            )[0]
        else:
            status = rng.choices(
                ["resolved", "dismissed", "duplicate", "dispatched", "acknowledged", "reported"], [78, 12, 5, 2, 1, 2]
            )[0]
        acknowledged = occurred + timedelta(seconds=rng.lognormvariate(6.0, 0.8)) if status != "reported" else None
        closed = (
            (acknowledged or occurred) + timedelta(minutes=rng.uniform(10, 240))
            if status not in OPEN_STATUSES
            else None
        )
        block = chosen_blocks[i]
        out.append(
            {
                "client_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "reporter_id": reporter_id,
                "kind": chosen_kinds[i],
                "lat": block.center_lat + rng.uniform(-0.0004, 0.0004),
                "lon": block.center_lon + rng.uniform(-0.0004, 0.0004),
                "severity": rng.choice((1, 2, 2, 3)),
                "description": chosen_texts[i],
                "anonymous": rng.random() < 0.15,
                "zone_id": block.zone_id,
                "block_id": block.id,
                "status": status,
                "occurred_at": occurred,
                "reported_at": occurred,
                "updated_at": closed or acknowledged or occurred,
                "acknowledged_at": acknowledged if acknowledged and acknowledged <= now else None,
                "closed_at": closed if closed and closed <= now else None,
            }
        )
    out.sort(key=lambda r: r["occurred_at"])
    return out


# --- the cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    url: str  # the page, as a police officer opens it
    where: str  # the baseline's WHERE (named parameters)
    params: dict[str, Any]
    order: str = "id DESC"


def cases(*, now: datetime, dialect: str) -> list[Case]:
    today = now.astimezone(LIMA).date()

    def start_of(day: date) -> Any:
        moment = datetime.combine(day, datetime.min.time(), tzinfo=LIMA).astimezone(UTC)
        # SQLite keeps times as naive UTC text; the baseline compares the same text the app binds.
        return (
            moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") if dialect == "sqlite" else moment
        )

    month_ago = today - timedelta(days=30)
    last_year = (today - timedelta(days=365)).replace(day=1)
    last_year_end = (last_year + timedelta(days=32)).replace(day=1)
    open_in = "status IN ('reported', 'acknowledged', 'dispatched')"
    return [
        Case("newest, no filter", "/incidentes", "1 = 1", {}),
        Case("zone 3 + open", "/incidentes?zona=3&estado=open", f"zone_id = 3 AND {open_in}", {}),
        Case(
            "robbery + last 30 days",
            f"/incidentes?tipo=robbery&desde={month_ago.isoformat()}",
            "kind = 'robbery' AND occurred_at >= :since",
            {"since": start_of(month_ago)},
        ),
        Case(
            "robbery + a month last year",
            f"/incidentes?tipo=robbery&desde={last_year.isoformat()}"
            f"&hasta={(last_year_end - timedelta(days=1)).isoformat()}",
            "kind = 'robbery' AND occurred_at >= :since AND occurred_at < :until",
            {"since": start_of(last_year), "until": start_of(last_year_end)},
        ),
        Case("text 'moto' (1 in 10)", "/incidentes?q=moto", "lower(description) LIKE '%moto%'", {}),
        Case(
            "text 'extorsión' (1 in 400)", "/incidentes?q=extorsi%C3%B3n", "lower(description) LIKE '%extorsión%'", {}
        ),
        Case("text found nowhere", "/incidentes?q=helic%C3%B3ptero", "lower(description) LIKE '%helicóptero%'", {}),
        Case("severity sort", "/incidentes?orden=severity", "1 = 1", {}, order="severity DESC, id DESC"),
        Case(
            "zone 3 + severity + open",
            "/incidentes?zona=3&estado=open&orden=severity",
            f"zone_id = 3 AND {open_in}",
            {},
            order="severity DESC, id DESC",
        ),
    ]


def next_link(page: str) -> str | None:
    found = re.search(r'id="next-page" rel="next" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def page_urls(client: FlaskClient, url: str, count: int) -> list[str]:
    """The URLs of the first `count` pages of a listing, following its "next page" links."""
    urls = [url]
    while len(urls) < count:
        link = next_link(client.get(urls[-1]).get_data(as_text=True))
        if link is None:
            raise RuntimeError(f"{url} has fewer than {count} pages")
        urls.append(link)
    return urls


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def time_page(client: FlaskClient, url: str, repeats: int) -> tuple[list[float], int]:
    response = client.get(url)  # warm-up (and a check)
    page = response.get_data(as_text=True)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}\n{page[:2000]}")
    shown = len(re.findall(r'<tr data-incident-id="', page))
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        response.get_data()
        timings.append((time.perf_counter() - started) * 1000)
    return timings, shown


def time_sql(engine: Engine, sql: str, params: dict[str, Any], repeats: int) -> list[float]:
    with engine.connect() as connection:
        connection.execute(text(sql), params).fetchall()
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            connection.execute(text(sql), params).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def explain(engine: Engine, sql: str, params: dict[str, Any]) -> str:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        rows = connection.execute(text(prefix + sql), params).fetchall()
    return "\n".join("      " + " ".join(str(c) for c in row[-1:]) for row in rows)


# --- the stores -----------------------------------------------------------------------------------


def pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # any failure means "not here"
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    return None


def run(store: str, *, rows: int, repeats: int, tmp: Path, show_plans: bool) -> list[dict[str, Any]]:
    pg_name = None
    if store == "postgresql":
        pg_name, url = make_pg_database()
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    try:
        app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "benchmark-secret"})
        engine = app.extensions["ronda"].engine
        now = datetime.now(UTC)
        with Session(engine, expire_on_commit=False) as session:
            blocks = list(session.exec(select(Block)).all())
            reporter = import_user(session=session)
            create_user(session=session, username="comisaria", password=PASSWORD, role="police")
            session.commit()
            started = time.perf_counter()
            data = make_rows(rows=rows, blocks=blocks, reporter_id=int(reporter.id or 0), now=now)
            made = time.perf_counter() - started
            started = time.perf_counter()
            for first in range(0, len(data), 20_000):
                insert_incidents(session=session, rows=data[first : first + 20_000])
                session.commit()
            stored = time.perf_counter() - started
        print(f"  [{store}] {rows:,} incidents made in {made:.1f} s, stored in {stored:.1f} s", flush=True)
        if store == "postgresql":
            with engine.connect() as connection:  # what autovacuum does soon after a bulk load
                connection.execute(text("ANALYZE"))
                connection.commit()
        client = app.test_client()
        client.get("/entrar")
        with client.session_transaction() as web_session:
            csrf = web_session["csrf"]
        signed = client.post("/entrar", data={"username": "comisaria", "password": PASSWORD, "csrf": csrf})
        if signed.status_code != 302:
            raise RuntimeError("could not sign in")
        results = []
        todo = cases(now=now, dialect=engine.dialect.name)
        for case in todo:
            results.append(measure(client, engine, case, repeats=repeats, show_plans=show_plans))
        # Page 3 through the page's own cursor links; the baseline starts after page 2's last row.
        for label, base in (
            ("page 3 (cursor), newest", "/incidentes"),
            ("page 3 (cursor), severity", "/incidentes?orden=severity"),
        ):
            _first, second, third = page_urls(client, base, 3)
            last = int(re.findall(r'<tr data-incident-id="(\d+)"', client.get(second).get_data(as_text=True))[-1])
            if "severity" in base:
                with engine.connect() as connection:
                    severity = connection.execute(
                        text("SELECT severity FROM incident WHERE id = :i"), {"i": last}
                    ).scalar()
                where, params, order = (
                    "(severity < :s OR (severity = :s AND id < :i))",
                    {"s": severity, "i": last},
                    "severity DESC, id DESC",
                )
            else:
                where, params, order = "id < :i", {"i": last}, "id DESC"
            results.append(
                measure(
                    client, engine, Case(label, third, where, params, order), repeats=repeats, show_plans=show_plans
                )
            )
        engine.dispose()
        return results
    finally:
        if pg_name:
            drop_pg_database(pg_name)


def measure(client: FlaskClient, engine: Engine, case: Case, *, repeats: int, show_plans: bool) -> dict[str, Any]:
    sql = f"SELECT * FROM incident WHERE {case.where} ORDER BY {case.order} LIMIT {PAGE}"
    page_ms, shown = time_page(client, case.url, repeats)
    sql_ms = time_sql(engine, sql, case.params, repeats)
    with engine.connect() as connection:
        matching = connection.execute(text(f"SELECT count(*) FROM incident WHERE {case.where}"), case.params).scalar()
    result = {
        "case": case.name,
        "matching": int(matching or 0),
        "shown": shown,
        "page_p50": statistics.median(page_ms),
        "page_p95": percentile(page_ms, 0.95),
        "sql_p50": statistics.median(sql_ms),
        "sql_p95": percentile(sql_ms, 0.95),
    }
    print(
        f"    {case.name:<28} page {result['page_p50']:7.1f} / {result['page_p95']:7.1f} ms"
        f"   SQL {result['sql_p50']:6.1f} / {result['sql_p95']:6.1f} ms   ({result['matching']:,} match)",
        flush=True,
    )
    if show_plans:
        print(explain(engine, sql, case.params))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per page (after one warm-up)")
    parser.add_argument("--explain", action="store_true", help="print each baseline query's plan")
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        for store in args.stores.split(","):
            if store == "postgresql":
                problem = pg_reachable()
                if problem:
                    print(f"postgresql: skipped, not reachable at 127.0.0.1:5432 ({problem})")
                    continue
            print(f"{store}:", flush=True)
            results[store] = run(
                store, rows=args.rows, repeats=args.repeats, tmp=Path(tmp_name), show_plans=args.explain
            )
    print(
        f"\n{args.rows:,} incidents; /incidentes as a police officer, {PAGE} a page;"
        f" median / p95 of {args.repeats} runs, ms"
    )
    print(f"{'store':<11} {'filter':<28} {'matching':>9} {'page p50':>9} {'p95':>7} {'SQL p50':>8} {'p95':>6}  target")
    for store, rows in results.items():
        for r in rows:
            verdict = "ok" if r["page_p95"] < TARGET_MS else "SLOW"
            print(
                f"{store:<11} {r['case']:<28} {r['matching']:>9,} {r['page_p50']:>9.1f} {r['page_p95']:>7.1f}"
                f" {r['sql_p50']:>8.1f} {r['sql_p95']:>6.1f}  {verdict}"
            )
    print(
        f"target: a page < {TARGET_MS:.0f} ms; SQL = the bare baseline, the same filter as one SELECT ... LIMIT {PAGE}"
    )


if __name__ == "__main__":
    main()
