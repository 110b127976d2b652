"""Historical incidents: bulk import from CSV and the demo district's synthetic history.

Rows are placed in zones and blocks with one geopandas spatial join per chunk (not a loop
over rows), inserted with INSERT ... ON CONFLICT DO NOTHING, and keyed by a client_id derived
from the row (or its `external_id`), so importing the same file twice adds nothing twice.
Imported history produces no live events: it is the past, not news.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import func
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select
from werkzeug.security import generate_password_hash

from security.kinds import KINDS
from security.models import DESCRIPTION_MAX, Alarm, Committee, Incident, Patrol, User, clean_text
from security.rollups import roll_up
from zones.database import EARLIEST, LIMA, utcnow
from zones.geometry import CRS
from zones.models import Block, Zone

IMPORT_USERNAME = "historial"
_NAMESPACE = uuid.UUID("5d1c3f5e-8a44-4c57-9d0f-2b7e6a0c9e11")
REQUIRED = ("kind", "lat", "lon", "occurred_at")
OPTIONAL = ("status", "severity", "description", "acknowledged_at", "closed_at", "external_id")
STATUSES = ("reported", "acknowledged", "dispatched", "resolved", "dismissed", "duplicate")
CHUNK = 50_000


@dataclass
class ImportReport:
    """What an import did: rows read, added, already there, and refused (line, reason)."""

    read: int = 0
    added: int = 0
    already_present: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def import_user(*, session: Session) -> User:
    """The account historical rows are filed under (cannot sign in)."""
    user = session.exec(select(User).where(User.username == IMPORT_USERNAME)).first()
    if user is None:
        user = User(
            username=IMPORT_USERNAME,
            display_name="Historial importado",
            password_hash=generate_password_hash(uuid.uuid4().hex),
            role="admin",
            active=False,
        )
        session.add(user)
        session.flush()
    return user


@dataclass(frozen=True)
class Places:
    """Zones and blocks as GeoDataFrames, for bulk spatial joins."""

    zones: gpd.GeoDataFrame
    blocks: gpd.GeoDataFrame


def load_places(*, session: Session) -> Places:
    """The district's zones and blocks as GeoDataFrames (EPSG:4326)."""
    zones = session.exec(select(Zone)).all()
    blocks = session.exec(select(Block)).all()
    return Places(
        zones=gpd.GeoDataFrame(
            {"zone_id": [z.id for z in zones]}, geometry=[shapely.from_geojson(z.geometry) for z in zones], crs=CRS
        ),
        blocks=gpd.GeoDataFrame(
            {"block_id": [b.id for b in blocks], "block_zone": [b.zone_id for b in blocks]},
            geometry=[shapely.from_geojson(b.geometry) for b in blocks],
            crs=CRS,
        ),
    )


def place(*, lat: np.ndarray, lon: np.ndarray, places: Places) -> tuple[np.ndarray, np.ndarray]:
    """Zone and block id of each point (NaN where none), by spatial join, EPSG:4326."""
    points = gpd.GeoDataFrame({"i": np.arange(len(lat))}, geometry=gpd.points_from_xy(lon, lat), crs=CRS)
    zone = np.full(len(lat), np.nan)
    block = np.full(len(lat), np.nan)
    if len(places.blocks):
        in_blocks = gpd.sjoin(points, places.blocks, how="inner", predicate="intersects")
        in_blocks = in_blocks[~in_blocks["i"].duplicated(keep="first")]
        block[in_blocks["i"].to_numpy()] = in_blocks["block_id"].to_numpy()
        zone[in_blocks["i"].to_numpy()] = in_blocks["block_zone"].to_numpy()
    missing = np.isnan(zone)
    if missing.any() and len(places.zones):
        rest = gpd.sjoin(points[missing], places.zones, how="inner", predicate="intersects")
        rest = rest[~rest["i"].duplicated(keep="first")]
        zone[rest["i"].to_numpy()] = rest["zone_id"].to_numpy()
    return zone, block


# Lima has kept UTC-5 all year since 1994; a fixed offset converts ten times faster than tzdata.
_LIMA_SINCE_1995 = timezone(timedelta(hours=-5))


def _parse_time(value: Any, name: str) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{name} '{value}' is not an ISO 8601 date and time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_LIMA_SINCE_1995 if parsed.year >= 1995 else LIMA)
    return parsed.astimezone(UTC)


def _client_id(row: dict[str, Any]) -> str:
    external = row.get("external_id")
    key = (
        f"ext:{external}"
        if isinstance(external, str) and external.strip()
        else "|".join(str(row.get(name) or "").strip() for name in (*REQUIRED, "status", "severity", "description"))
    )
    return str(uuid.uuid5(_NAMESPACE, key))


def prepare_chunk(
    *, frame: pd.DataFrame, first_line: int, places: Places, reporter_id: int, now: datetime
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Validate and place one chunk of CSV rows; good rows ready to insert, bad ones by line."""
    refused: list[tuple[int, str]] = []
    names = [name for name in (*REQUIRED, *OPTIONAL) if name in frame.columns]
    columns = {name: frame[name].tolist() for name in names}  # column lists: far cheaper than row dicts
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    valid = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    zone = np.full(len(frame), np.nan)
    block = np.full(len(frame), np.nan)
    if valid.any():
        zone[valid], block[valid] = place(lat=lat[valid], lon=lon[valid], places=places)
    latest = now + timedelta(minutes=5)
    rows: list[dict[str, Any]] = []
    for i in range(len(frame)):
        row = {name: columns[name][i] for name in names}
        try:
            kind = str(row.get("kind") or "").strip()
            if kind not in KINDS:
                raise ValueError(f"unknown kind '{kind}'")
            if not valid[i]:
                raise ValueError("lat/lon are not valid coordinates")
            if math.isnan(zone[i]):
                raise ValueError("the point is outside the district")
            occurred_at = _parse_time(row.get("occurred_at"), "occurred_at")
            if occurred_at is None:
                raise ValueError("occurred_at is missing")
            if not EARLIEST <= occurred_at <= latest:
                raise ValueError("occurred_at is in the future or before 1990")
            status = str(row.get("status") or "resolved").strip()
            if status not in STATUSES:
                raise ValueError(f"unknown status '{status}'")
            severity_text = str(row.get("severity") or "2").strip()
            if severity_text not in ("1", "2", "3"):
                raise ValueError("severity must be 1, 2 or 3")
            raw_description = row.get("description")
            description = clean_text(raw_description) if isinstance(raw_description, str) else None
            if description and len(description) > DESCRIPTION_MAX:
                raise ValueError(f"description longer than {DESCRIPTION_MAX} characters")
            acknowledged_at = _parse_time(row.get("acknowledged_at"), "acknowledged_at")
            closed_at = _parse_time(row.get("closed_at"), "closed_at")
        except ValueError as exc:
            refused.append((first_line + i, str(exc)))
            continue
        rows.append(
            {
                "client_id": _client_id(row),
                "reporter_id": reporter_id,
                "kind": kind,
                "lat": float(lat[i]),
                "lon": float(lon[i]),
                "severity": int(severity_text),
                "description": description,
                "anonymous": False,
                "zone_id": int(zone[i]),
                "block_id": None if math.isnan(block[i]) else int(block[i]),
                "status": status,
                "occurred_at": occurred_at,
                "reported_at": occurred_at,
                "updated_at": closed_at or acknowledged_at or occurred_at,
                "acknowledged_at": acknowledged_at,
                "closed_at": closed_at,
            }
        )
    return rows, refused


_COLUMNS = (
    "client_id", "reporter_id", "kind", "lat", "lon", "severity", "description", "anonymous", "zone_id", "block_id",
    "status", "occurred_at", "reported_at", "updated_at", "acknowledged_at", "closed_at",
)  # fmt: skip
_TIMES = frozenset({"occurred_at", "reported_at", "updated_at", "acknowledged_at", "closed_at"})


def _sqlite_time(value: datetime | None) -> str | None:
    # Exactly the text SQLAlchemy's SQLite DateTime writes (naive UTC), so comparisons agree.
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def insert_incidents(*, session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping those already stored (same reporter and client_id); returns how many.

    One DB-API executemany with a prepared INSERT ... ON CONFLICT DO NOTHING (the ORM's
    per-value processing costs more than the database here).
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    before = session.exec(select(func.max(Incident.id))).one() or 0
    names = ", ".join(_COLUMNS)
    connection = session.connection()
    if dialect == "postgresql":
        # COPY into a scratch table, then one INSERT ... SELECT: an order of magnitude faster
        # than row-by-row inserts, with the same ON CONFLICT guard.
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS incident_load ON COMMIT DROP AS "
                f"SELECT {names} FROM incident WITH NO DATA"
            )
            with cursor.copy(f"COPY incident_load ({names}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(tuple(r[c] for c in _COLUMNS))
            cursor.execute(
                f"INSERT INTO incident ({names}) SELECT {names} FROM incident_load "
                "ON CONFLICT (reporter_id, client_id) DO NOTHING"
            )
            cursor.execute("TRUNCATE incident_load")
    else:
        placeholders = ", ".join("?" for _ in _COLUMNS)
        values = [tuple(_sqlite_time(r[c]) if c in _TIMES else r[c] for c in _COLUMNS) for r in rows]
        connection.exec_driver_sql(
            f"INSERT INTO incident ({names}) VALUES ({placeholders}) ON CONFLICT (reporter_id, client_id) DO NOTHING",
            values,  # type: ignore[arg-type]
        )
    # New rows get ids above the previous maximum: counting and rolling them up is a range scan.
    roll_up(connection, where="id > :after", params={"after": before})
    return int(session.exec(select(func.count()).where(col(Incident.id) > before)).one())


def import_incidents_csv(
    *, session: Session, path: Path, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import a CSV of historical incidents (columns in README), committing chunk by chunk."""
    header = pd.read_csv(path, nrows=0, dtype=str)
    missing = [name for name in REQUIRED if name not in header.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (needed: {', '.join(REQUIRED)})")
    report = ImportReport()
    reporter = import_user(session=session)
    session.commit()
    places = load_places(session=session)
    now = utcnow()
    line = 2  # line 1 is the header
    reporter_id = int(reporter.id or 0)

    def store(rows: list[dict[str, Any]], read: int) -> None:
        added = insert_incidents(session=session, rows=rows)
        session.commit()
        report.added += added
        report.already_present += len(rows) - added
        if progress:
            progress(read)

    # One writer thread: the next chunk is parsed and placed while the database stores the
    # previous one (both drivers release the GIL while the database works). Chunks are stored
    # in file order, each in its own transaction.
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending: Future[None] | None = None
        for frame in _chunks(path):
            rows, refused = prepare_chunk(
                frame=frame,
                first_line=line,
                places=places,
                reporter_id=reporter_id,
                now=now,
            )
            report.read += len(frame)
            report.refused.extend(refused)
            line += len(frame)
            if pending is not None:
                pending.result()
            pending = writer.submit(store, rows, len(frame))
        if pending is not None:
            pending.result()
    return report


def _chunks(path: Path) -> Iterator[pd.DataFrame]:
    yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK)


def count_rows(path: Path) -> int:
    """Data rows of a CSV file (for the progress bar)."""
    with path.open("rb") as handle:
        return max(0, sum(1 for _ in handle) - 1)


# --- the demo district's synthetic history ---------------------------------------------------

# Relative weights; some kinds are far more common than others.
_KIND_WEIGHTS = {
    "robbery": 26, "suspicious_activity": 18, "noise_disturbance": 14, "vandalism": 9, "assault": 8,
    "drug_dealing": 7, "gang_activity": 6, "domestic_violence": 5, "sexual_harassment": 3, "prostitution": 2,
    "other": 2,
}  # fmt: skip


def synthetic_history(
    *, session: Session, months: int, per_month: int = 900, seed: int = 2024, now: datetime | None = None
) -> tuple[int, int, int]:
    """Fill the district with plausible, clearly synthetic history; returns (incidents, alarms, patrols).

    More at night and on weekends, a summer peak (December-March), some zones worse than
    others; most incidents closed, acknowledged minutes after the report. Every committee
    patrols a few evenings a week. Descriptions say the data is synthetic. Running it again
    with the same seed and dates adds nothing twice.
    """
    rng = random.Random(seed)
    now = now or utcnow()
    reporter = import_user(session=session)
    blocks = session.exec(select(Block)).all()
    zone_ids = sorted({b.zone_id for b in blocks})
    zone_weight = {z: 0.6 + 0.25 * i for i, z in enumerate(rng.sample(zone_ids, len(zone_ids)))}
    block_weights = [zone_weight[b.zone_id] * rng.uniform(0.3, 1.7) for b in blocks]
    kinds, kind_weights = zip(*_KIND_WEIGHTS.items(), strict=True)
    hour_weights = [3 if h >= 19 or h < 2 else 1.2 if 7 <= h < 19 else 0.6 for h in range(24)]
    start = now - timedelta(days=30.44 * months)
    incident_rows: list[dict[str, Any]] = []
    alarm_rows: list[dict[str, Any]] = []
    total_days = int((now - start).days)
    daily = per_month / 30.44
    for day in range(total_days):
        date = (start + timedelta(days=day)).astimezone(LIMA)
        season = 1.25 if date.month in (12, 1, 2, 3) else 0.9
        weekend = 1.35 if date.weekday() >= 4 else 1.0
        for n in range(_poisson(rng, daily * season * weekend)):
            block = rng.choices(blocks, weights=block_weights)[0]
            hour = rng.choices(range(24), weights=hour_weights)[0]
            occurred = datetime(date.year, date.month, date.day, hour, rng.randrange(60), tzinfo=LIMA).astimezone(UTC)
            if occurred > now:
                continue
            ack = occurred + timedelta(seconds=rng.lognormvariate(6.0, 0.8))
            status = rng.choices(["resolved", "dismissed", "duplicate", "dispatched"], weights=[78, 12, 5, 5])[0]
            closed = ack + timedelta(minutes=rng.uniform(10, 240)) if status != "dispatched" else None
            incident_rows.append(
                {
                    "client_id": str(uuid.uuid5(_NAMESPACE, f"demo:{seed}:{day}:{n}:{block.id}")),
                    "reporter_id": reporter.id,
                    "kind": rng.choices(kinds, weights=kind_weights)[0],
                    "lat": block.center_lat + rng.uniform(-0.0005, 0.0005),
                    "lon": block.center_lon + rng.uniform(-0.0005, 0.0005),
                    "severity": rng.choice((1, 2, 2, 3)),
                    "description": "Dato sintético de demostración / synthetic demo data",
                    "anonymous": rng.random() < 0.15,
                    "zone_id": block.zone_id,
                    "block_id": block.id,
                    "status": status,
                    "occurred_at": occurred,
                    "reported_at": occurred,
                    "updated_at": closed or ack,
                    "acknowledged_at": ack if ack <= now else None,
                    "closed_at": closed if closed and closed <= now else None,
                }
            )
        for _ in range(_poisson(rng, daily * 0.12 * weekend)):
            block = rng.choices(blocks, weights=block_weights)[0]
            hour = rng.choices(range(24), weights=hour_weights)[0]
            raised = datetime(date.year, date.month, date.day, hour, rng.randrange(60), tzinfo=LIMA).astimezone(UTC)
            if raised > now - timedelta(hours=1):
                continue
            acked = raised + timedelta(seconds=rng.lognormvariate(4.5, 0.7))
            alarm_rows.append(
                {
                    "zone_id": block.zone_id, "block_id": block.id, "status": "resolved", "source": "device",
                    "lat": block.center_lat, "lon": block.center_lon, "trigger_count": rng.randint(1, 4),
                    "raised_at": raised, "acknowledged_at": acked, "resolved_at": acked + timedelta(minutes=20),
                    "outcome": "real" if rng.random() < 0.62 else "false_alarm",
                    "escalated_at": raised + timedelta(seconds=120) if (acked - raised).total_seconds() > 120 else None,
                }
            )  # fmt: skip
    added = 0
    for offset in range(0, len(incident_rows), CHUNK):
        added += insert_incidents(session=session, rows=incident_rows[offset : offset + CHUNK])
    alarms_added = 0
    if added and alarm_rows:  # alarms have no natural key: only add them with the first run's incidents
        session.execute(sa_insert(Alarm), alarm_rows)
        alarms_added = len(alarm_rows)
    patrols_added = _synthetic_patrols(
        session=session, rng=rng, start=start, now=now, reporter_id=int(reporter.id or 0), seed=seed
    )
    session.commit()
    return added, alarms_added, patrols_added


def _synthetic_patrols(
    *, session: Session, rng: random.Random, start: datetime, now: datetime, reporter_id: int, seed: int
) -> int:
    """Evening patrols of every committee (two to four a week, about 2.5 km walked an hour)."""
    committees = session.exec(select(Committee).order_by(col(Committee.id))).all()
    rows: list[dict[str, Any]] = []
    for committee in committees:
        keen = rng.uniform(0.25, 0.6)  # some committees patrol more than others
        for day in range(int((now - start).days)):
            if rng.random() > keen:
                continue
            date = (start + timedelta(days=day)).astimezone(LIMA)
            begins = datetime(
                date.year, date.month, date.day, rng.choice((19, 20, 21, 22)), rng.randrange(60), tzinfo=LIMA
            )
            hours = min(6.0, max(1.0, rng.lognormvariate(0.9, 0.3)))
            ends = begins + timedelta(hours=hours)
            if ends > now:
                continue
            rows.append(
                {
                    "client_id": str(uuid.uuid5(_NAMESPACE, f"demo-patrol:{seed}:{committee.id}:{day}")),
                    "committee_id": committee.id, "zone_id": committee.zone_id, "started_by": reporter_id,
                    "started_at": begins.astimezone(UTC), "received_at": begins.astimezone(UTC),
                    "ended_at": ends.astimezone(UTC), "end_received_at": ends.astimezone(UTC),
                    "auto_closed": rng.random() < 0.02, "distance_m": round(hours * rng.uniform(1800, 3200), 1),
                }
            )  # fmt: skip
    if not rows:
        return 0
    before = session.exec(select(func.count()).select_from(Patrol)).one()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for offset in range(0, len(rows), CHUNK):
        session.execute(insert(Patrol).on_conflict_do_nothing(), rows[offset : offset + CHUNK])
    return int(session.exec(select(func.count()).select_from(Patrol)).one() - before)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; means here are small)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
