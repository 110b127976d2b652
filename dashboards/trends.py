"""Monthly trends for committees, computed with SQL aggregates (SQLite and PostgreSQL alike).

Months are calendar months in Lima time. Durations are in seconds; percentiles are
nearest-rank (the p-th percentile of n sorted values is the value at rank ceil(p * n)),
computed in the database with window functions, so no incident row travels to Python.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, text
from sqlalchemy.engine import Dialect
from sqlmodel import Session, col, select

from security.models import Alarm, Incident
from zones.database import LIMA
from zones.models import Block, Zone


class TrendsError(ValueError):
    """A month range that cannot be reported; the message says why."""


@dataclass(frozen=True)
class Month:
    """A calendar month (in Lima)."""

    year: int
    month: int

    @classmethod
    def parse(cls, value: str) -> Month:
        """'2026-03' -> Month(2026, 3); TrendsError for anything else."""
        try:
            year_text, month_text = value.split("-")
            month = cls(int(year_text), int(month_text))
        except ValueError as exc:
            raise TrendsError(f"'{value}' is not a month (YYYY-MM)") from exc
        if not (1990 <= month.year <= 2200 and 1 <= month.month <= 12):
            raise TrendsError(f"'{value}' is not a month (YYYY-MM)")
        return month

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def start_utc(self) -> datetime:
        """The instant this month starts in Lima, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=LIMA).astimezone(UTC)

    def until(self, last: Month) -> list[Month]:
        """This month and every month up to `last`, in order."""
        count = (last.year * 12 + last.month) - (self.year * 12 + self.month) + 1
        return [self.shift(i) for i in range(max(0, count))]


MAX_MONTHS = 36


def _month_expr(dialect: Dialect, column: Any) -> ColumnElement[str]:
    if dialect.name == "postgresql":
        return func.to_char(func.timezone("America/Lima", column), "YYYY-MM")
    # Lima has kept UTC-5 all year since 1994: a fixed shift is exact for stored history.
    return func.strftime("%Y-%m", column, "-5 hours")


def _week_expr(dialect: Dialect, column: Any) -> ColumnElement[str]:
    if dialect.name == "postgresql":
        return func.to_char(func.date_trunc("week", func.timezone("America/Lima", column)), "YYYY-MM-DD")
    return func.date(column, "-5 hours", "weekday 0", "-6 days")  # the Monday starting the week


def _seconds_expr(dialect: Dialect, later: Any, earlier: Any) -> ColumnElement[Any]:
    if dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _percentiles(session: Session, durations: Any) -> dict[str, float | int | None]:
    """Median and 90th percentile (nearest rank) of a one-column subquery `d`, in SQL."""
    ranked = select(
        durations.c.d,
        func.row_number().over(order_by=durations.c.d).label("rn"),
        func.count().over().label("n"),
    ).subquery()
    rows = session.execute(
        select(ranked.c.d, ranked.c.rn, ranked.c.n).where(
            (ranked.c.rn == (ranked.c.n + 1) // 2) | (ranked.c.rn == (9 * ranked.c.n + 9) // 10)
        )
    ).all()
    if not rows:
        return {"median_s": None, "p90_s": None, "n": 0}
    n = int(rows[0].n)
    by_rank = {int(r.rn): float(r.d) for r in rows}
    return {
        "median_s": round(by_rank[(n + 1) // 2], 1),
        "p90_s": round(by_rank[(9 * n + 9) // 10], 1),
        "n": n,
    }


# Response-time buckets (upper bounds in seconds) for the distribution chart.
BUCKETS = ((60, "<1 min"), (300, "1-5 min"), (900, "5-15 min"), (3600, "15-60 min"), (None, ">60 min"))


def _histogram(session: Session, durations: Any) -> list[dict[str, Any]]:
    """How many durations fall in each bucket of BUCKETS, counted in SQL."""
    whens = [(durations.c.d < limit, label) for limit, label in BUCKETS if limit is not None]
    bucket = case(*whens, else_=BUCKETS[-1][1]).label("bucket")
    counts = dict(session.execute(select(bucket, func.count()).group_by(bucket)).all())
    return [{"bucket": label, "count": int(counts.get(label, 0))} for _, label in BUCKETS]


def compute_trends(*, session: Session, zone_id: int | None, first: Month, last: Month) -> dict[str, Any]:
    """The committee figures of a zone (or the district, zone_id None) from `first` to `last`."""
    months = first.until(last)
    if not months:
        raise TrendsError("'from' is after 'to'")
    if len(months) > MAX_MONTHS:
        raise TrendsError(f"at most {MAX_MONTHS} months at a time")
    dialect = session.get_bind().dialect
    start, end = first.start_utc(), last.shift(1).start_utc()
    zone_name = None
    if zone_id is not None:
        zone = session.get(Zone, zone_id)
        if zone is None:
            raise TrendsError(f"there is no zone {zone_id}")
        zone_name = zone.name

    def in_range(column: Any, model: Any) -> list[ColumnElement[bool]]:
        conditions = [column >= start, column < end]
        if zone_id is not None:
            conditions.append(model.zone_id == zone_id)
        return conditions

    incident_where = in_range(col(Incident.occurred_at), Incident)
    month = _month_expr(dialect, col(Incident.occurred_at)).label("month")
    by_month_kind = session.execute(
        select(month, Incident.kind, func.count().label("n")).where(*incident_where).group_by(month, Incident.kind)
    ).all()
    week = _week_expr(dialect, col(Incident.occurred_at)).label("week")
    by_week = session.execute(select(week, func.count()).where(*incident_where).group_by(week).order_by(week)).all()
    resolved = session.execute(
        select(func.count()).where(*incident_where, col(Incident.status) == "resolved")
    ).scalar_one()
    top_blocks = session.execute(
        select(  # type: ignore[call-overload]
            Block.id, Block.name, Block.zone_id, Block.center_lat, Block.center_lon, func.count().label("n")
        )
        .select_from(Incident)
        .join(Block, col(Block.id) == col(Incident.block_id))
        .where(*incident_where)
        .group_by(col(Block.id), col(Block.name), col(Block.zone_id), col(Block.center_lat), col(Block.center_lon))
        .order_by(text("n DESC"), col(Block.id))
        .limit(10)
    ).all()

    alarm_where = in_range(col(Alarm.raised_at), Alarm)
    alarm_month = _month_expr(dialect, col(Alarm.raised_at)).label("month")
    alarm_rows = session.execute(
        select(alarm_month, Alarm.outcome, func.count()).where(*alarm_where).group_by(alarm_month, col(Alarm.outcome))
    ).all()
    alarm_counts: dict[str | None, int] = {}
    alarms_by_month: dict[str, dict[str, int]] = {str(m): {"real": 0, "false_alarm": 0, "open": 0} for m in months}
    for month_key, outcome, n in alarm_rows:
        alarm_counts[outcome] = alarm_counts.get(outcome, 0) + int(n)
        alarms_by_month.setdefault(month_key, {"real": 0, "false_alarm": 0, "open": 0})[outcome or "open"] += int(n)
    last_month_where = [col(Incident.occurred_at) >= last.start_utc(), col(Incident.occurred_at) < end]
    if zone_id is not None:
        last_month_where.append(col(Incident.zone_id) == zone_id)
    zone_month = session.execute(
        select(Incident.zone_id, func.count()).where(*last_month_where).group_by(col(Incident.zone_id))
    ).all()
    alarm_ack = (
        select(_seconds_expr(dialect, col(Alarm.acknowledged_at), col(Alarm.raised_at)).label("d"))
        .where(*alarm_where, col(Alarm.acknowledged_at).is_not(None))
        .subquery()
    )
    incident_ack = (
        select(_seconds_expr(dialect, col(Incident.acknowledged_at), col(Incident.reported_at)).label("d"))
        .where(*incident_where, col(Incident.acknowledged_at).is_not(None))
        .subquery()
    )

    by_month: dict[str, dict[str, int]] = {str(m): {} for m in months}
    for month_key, kind, n in by_month_kind:
        by_month.setdefault(month_key, {})[kind] = int(n)
    by_kind: dict[str, int] = {}
    for kinds in by_month.values():
        for kind, n in kinds.items():
            by_kind[kind] = by_kind.get(kind, 0) + n
    total = sum(by_kind.values())
    real = int(alarm_counts.get("real", 0))
    false_alarm = int(alarm_counts.get("false_alarm", 0))
    raised = sum(int(n) for n in alarm_counts.values())
    closed = real + false_alarm

    return {
        "zone_id": zone_id,
        "zone_name": zone_name,
        "from": str(first),
        "to": str(last),
        "months": [str(m) for m in months],
        "incidents": {
            "total": total,
            "by_kind": dict(sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_month": [{"month": m, "total": sum(k.values()), "by_kind": k} for m, k in by_month.items()],
            "by_week": [{"week_start": str(w), "total": int(n)} for w, n in by_week],
            "resolved": int(resolved),
            "resolved_share": round(int(resolved) / total, 4) if total else None,
            "top_blocks": [
                {
                    "block_id": b.id,
                    "block_name": b.name,
                    "zone_id": b.zone_id,
                    "lat": b.center_lat,
                    "lon": b.center_lon,
                    "total": int(b.n),
                }
                for b in top_blocks
            ],
        },
        "alarms": {
            "raised": raised,
            "real": real,
            "false_alarm": false_alarm,
            "open": raised - closed,
            "real_share": round(real / closed, 4) if closed else None,
            "false_alarm_share": round(false_alarm / closed, 4) if closed else None,
            "by_month": [{"month": m, **counts} for m, counts in alarms_by_month.items()],
        },
        "response_times": {
            "alarm_to_acknowledgement": {
                **_percentiles(session, alarm_ack),
                "histogram": _histogram(session, alarm_ack),
            },
            "incident_to_acknowledgement": {
                **_percentiles(session, incident_ack),
                "histogram": _histogram(session, incident_ack),
            },
        },
        "last_month_by_zone": {int(z): int(n) for z, n in zone_month},
        "comparison": _comparison(session=session, zone_id=zone_id, month=last, dialect=dialect),
    }


def _count_month(session: Session, *, zone_id: int | None, month: Month) -> int:
    conditions = [
        col(Incident.occurred_at) >= month.start_utc(),
        col(Incident.occurred_at) < month.shift(1).start_utc(),
    ]
    if zone_id is not None:
        conditions.append(col(Incident.zone_id) == zone_id)
    return int(session.execute(select(func.count()).where(*conditions)).scalar_one())


def _comparison(*, session: Session, zone_id: int | None, month: Month, dialect: Dialect) -> dict[str, Any]:
    """The last month of the range against the month before and the same month a year before."""
    current = _count_month(session, zone_id=zone_id, month=month)

    def against(other: Month) -> dict[str, Any]:
        before = _count_month(session, zone_id=zone_id, month=other)
        return {
            "month": str(other),
            "incidents": before,
            "change": current - before,
            "change_pct": round((current - before) / before * 100, 1) if before else None,
        }

    return {
        "month": str(month),
        "incidents": current,
        "previous_month": against(month.shift(-1)),
        "year_before": against(month.shift(-12)),
    }


def trends_csv(trends: dict[str, Any]) -> str:
    """The figures as one long CSV table: section, month, key, value."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["zone", "section", "period", "key", "value"])
    zone = trends["zone_name"] or "district"
    incidents = trends["incidents"]
    for entry in incidents["by_month"]:
        writer.writerow([zone, "incidents_by_month", entry["month"], "total", entry["total"]])
        for kind, n in sorted(entry["by_kind"].items()):
            writer.writerow([zone, "incidents_by_month", entry["month"], kind, n])
    for entry in incidents["by_week"]:
        writer.writerow([zone, "incidents_by_week", entry["week_start"], "total", entry["total"]])
    period = f"{trends['from']}..{trends['to']}"
    for key in ("total", "resolved", "resolved_share"):
        writer.writerow([zone, "incidents", period, key, incidents[key]])
    for rank, block in enumerate(incidents["top_blocks"], start=1):
        writer.writerow([zone, "top_blocks", period, f"{rank}:{block['block_name']}", block["total"]])
    for key, value in trends["alarms"].items():
        writer.writerow([zone, "alarms", period, key, value])
    for name, figures in trends["response_times"].items():
        for key, value in figures.items():
            writer.writerow([zone, name, period, key, value])
    comparison = trends["comparison"]
    writer.writerow([zone, "comparison", comparison["month"], "incidents", comparison["incidents"]])
    for key in ("previous_month", "year_before"):
        for field, value in comparison[key].items():
            writer.writerow([zone, f"comparison_{key}", comparison[key]["month"], field, value])
    return out.getvalue()
