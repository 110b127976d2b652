"""Monthly trends for committees, computed with SQL aggregates (SQLite and PostgreSQL alike).

Months are calendar months in Lima time. Durations are in seconds; percentiles are
nearest-rank (the p-th percentile of n sorted values is the value at rank ceil(p * n)).
Incident figures read the monthly roll-ups (security.rollups), so they cost the same with a
million incidents as with a thousand; report-to-acknowledgement times are bucketed there
(10 s steps under 10 minutes, 1 minute under an hour, 5 minutes beyond). Alarm figures are
aggregated in SQL over the alarms themselves (window functions for the percentiles).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, text
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Dialect
from sqlmodel import Session, col, select

from security.exports import spreadsheet_safe
from security.models import Alarm, Committee, Patrol
from security.rollups import AckMonth, BlockMonth, IncidentMonth, IncidentWeek
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
        if not (1900 <= month.year <= 2200 and 1 <= month.month <= 12):
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


def _distribution_figures(rows: list[tuple[int, int]]) -> dict[str, Any]:
    """Median, p90 (nearest rank) and histogram of a bucketed distribution [(seconds, count)]."""
    rows = sorted((int(s), int(n)) for s, n in rows if n)
    n = sum(count for _, count in rows)
    histogram = {label: 0 for _, label in BUCKETS}
    for seconds, count in rows:
        label = next(label for limit, label in BUCKETS if limit is None or seconds < limit)
        histogram[label] += count
    figures: dict[str, Any] = {"median_s": None, "p90_s": None, "n": n}
    if n:
        for key, rank in (("median_s", (n + 1) // 2), ("p90_s", (9 * n + 9) // 10)):
            seen = 0
            for seconds, count in rows:
                seen += count
                if seen >= rank:
                    figures[key] = float(seconds)
                    break
    figures["histogram"] = [{"bucket": label, "count": histogram[label]} for _, label in BUCKETS]
    return figures


def compute_trends(*, session: Session, zone_id: int | None, first: Month, last: Month) -> dict[str, Any]:
    """The committee figures of a zone (or the district, zone_id None) from `first` to `last`.

    Incident figures come from the monthly roll-ups (a few thousand rows whatever the
    history); alarm figures from the alarms themselves, with SQL aggregates.
    """
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

    def scope(model: Any, *, only: Month | None = None) -> list[ColumnElement[bool]]:
        if only is not None:
            conditions = [col(model.month) == str(only)]
        else:
            conditions = [col(model.month) >= str(first), col(model.month) <= str(last)]
        if zone_id is not None:
            conditions.append(col(model.zone_id) == zone_id)
        return conditions

    by_month_kind = session.execute(
        select(IncidentMonth.month, IncidentMonth.kind, func.sum(IncidentMonth.total))
        .where(*scope(IncidentMonth))
        .group_by(col(IncidentMonth.month), col(IncidentMonth.kind))
    ).all()
    resolved = session.execute(select(func.sum(IncidentMonth.resolved)).where(*scope(IncidentMonth))).scalar_one()
    by_week = session.execute(
        select(IncidentWeek.week, func.sum(IncidentWeek.total))
        .where(*scope(IncidentWeek))
        .group_by(col(IncidentWeek.week))
        .order_by(col(IncidentWeek.week))
    ).all()
    top_totals = session.execute(
        select(BlockMonth.block_id, func.sum(BlockMonth.total).label("n"))
        .where(*scope(BlockMonth))
        .group_by(col(BlockMonth.block_id))
        .order_by(text("n DESC"), col(BlockMonth.block_id))
        .limit(10)
    ).all()
    blocks = {
        b.id: b for b in session.exec(select(Block).where(col(Block.id).in_([row[0] for row in top_totals]))).all()
    }
    ack_rows = session.execute(
        select(AckMonth.seconds, func.sum(AckMonth.total)).where(*scope(AckMonth)).group_by(col(AckMonth.seconds))
    ).all()
    zone_month = session.execute(
        select(IncidentMonth.zone_id, func.sum(IncidentMonth.total))
        .where(*scope(IncidentMonth, only=last))
        .group_by(col(IncidentMonth.zone_id))
    ).all()

    def alarm_scope() -> list[ColumnElement[bool]]:
        conditions = [col(Alarm.raised_at) >= start, col(Alarm.raised_at) < end]
        if zone_id is not None:
            conditions.append(col(Alarm.zone_id) == zone_id)
        return conditions

    alarm_month = _month_expr(dialect, col(Alarm.raised_at)).label("month")
    alarm_rows = session.execute(
        select(alarm_month, Alarm.outcome, func.count()).where(*alarm_scope()).group_by(alarm_month, col(Alarm.outcome))
    ).all()
    alarm_counts: dict[str | None, int] = {}
    alarms_by_month: dict[str, dict[str, int]] = {str(m): {"real": 0, "false_alarm": 0, "open": 0} for m in months}
    for month_key, outcome, n in alarm_rows:
        alarm_counts[outcome] = alarm_counts.get(outcome, 0) + int(n)
        alarms_by_month.setdefault(month_key, {"real": 0, "false_alarm": 0, "open": 0})[outcome or "open"] += int(n)
    alarm_ack = (
        select(_seconds_expr(dialect, col(Alarm.acknowledged_at), col(Alarm.raised_at)).label("d"))
        .where(*alarm_scope(), col(Alarm.acknowledged_at).is_not(None))
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
    resolved = int(resolved or 0)
    real = int(alarm_counts.get("real", 0))
    false_alarm = int(alarm_counts.get("false_alarm", 0))
    raised = sum(alarm_counts.values())
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
            "resolved": resolved,
            "resolved_share": round(resolved / total, 4) if total else None,
            "top_blocks": [
                {
                    "block_id": block_id,
                    "block_name": blocks[block_id].name,
                    "zone_id": blocks[block_id].zone_id,
                    "lat": blocks[block_id].center_lat,
                    "lon": blocks[block_id].center_lon,
                    "total": int(n),
                }
                for block_id, n in top_totals
                if block_id in blocks
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
            "incident_to_acknowledgement": _distribution_figures([(s, n) for s, n in ack_rows]),
        },
        "last_month_by_zone": {int(z): int(n) for z, n in zone_month},
        "comparison": _comparison(session=session, zone_id=zone_id, month=last),
        "patrols": patrol_coverage(session=session, zone_id=zone_id, months=months),
    }


def patrol_coverage(*, session: Session, zone_id: int | None, months: list[Month]) -> dict[str, Any]:
    """Patrol hours and distance per month, committee and zone, over finished patrols.

    A patrol's hours fall in the months they were walked (a shift across midnight at the end
    of a month counts in both), and its distance is shared out in proportion to its hours;
    it counts as one patrol in the month it started. Active patrols count once they end.
    """
    start, end = months[0].start_utc(), months[-1].shift(1).start_utc()
    bounds = [(str(m), m.start_utc(), m.shift(1).start_utc()) for m in months]
    conditions = [col(Patrol.ended_at).is_not(None), col(Patrol.started_at) < end, col(Patrol.ended_at) > start]
    if zone_id is not None:
        conditions.append(col(Patrol.zone_id) == zone_id)
    rows = session.execute(
        sa_select(
            col(Patrol.committee_id), col(Patrol.zone_id), col(Patrol.started_at), col(Patrol.ended_at),
            col(Patrol.distance_m), col(Patrol.auto_closed),
        ).where(*conditions)
    ).all()  # fmt: skip
    names = dict(session.execute(select(Committee.id, Committee.name)).all())

    def blank() -> dict[str, Any]:
        return {"patrols": 0, "hours": 0.0, "distance_km": 0.0, "auto_closed": 0}

    by_month = {key: blank() for key, _, _ in bounds}
    by_committee: dict[int, dict[str, Any]] = {}
    by_zone: dict[int, dict[str, Any]] = {}
    total = blank()
    for committee_id, patrol_zone, started_at, ended_at, distance_m, auto_closed in rows:
        length = (ended_at - started_at).total_seconds()
        for key, month_start, month_end in bounds:
            overlap = (min(ended_at, month_end) - max(started_at, month_start)).total_seconds()
            starts_here = month_start <= started_at < month_end
            if overlap <= 0 and not starts_here:
                continue
            hours = max(overlap, 0) / 3600
            km = distance_m / 1000 * (max(overlap, 0) / length if length > 0 else float(starts_here))
            committee = by_committee.setdefault(
                committee_id, {"committee_id": committee_id, "committee_name": names.get(committee_id),
                               "zone_id": patrol_zone, **blank()}
            )  # fmt: skip
            for figures in (by_month[key], committee, by_zone.setdefault(patrol_zone, blank()), total):
                figures["hours"] += hours
                figures["distance_km"] += km
                if starts_here:
                    figures["patrols"] += 1
                    figures["auto_closed"] += int(bool(auto_closed))

    def rounded(figures: dict[str, Any]) -> dict[str, Any]:
        return {**figures, "hours": round(figures["hours"], 2), "distance_km": round(figures["distance_km"], 2)}

    return {
        **rounded(total),
        "by_month": [{"month": key, **rounded(f)} for key, f in by_month.items()],
        "by_committee": sorted(
            (rounded(c) for c in by_committee.values()), key=lambda c: (-c["hours"], c["committee_name"] or "")
        ),
        "by_zone": {z: rounded(f) for z, f in sorted(by_zone.items())},
    }


def _count_month(session: Session, *, zone_id: int | None, month: Month) -> int:
    conditions = [col(IncidentMonth.month) == str(month)]
    if zone_id is not None:
        conditions.append(col(IncidentMonth.zone_id) == zone_id)
    return int(session.execute(select(func.sum(IncidentMonth.total)).where(*conditions)).scalar_one() or 0)


def _comparison(*, session: Session, zone_id: int | None, month: Month) -> dict[str, Any]:
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
    patrols = trends["patrols"]
    for key in ("patrols", "hours", "distance_km", "auto_closed"):
        writer.writerow([zone, "patrols", period, key, patrols[key]])
    for entry in patrols["by_month"]:
        for key in ("patrols", "hours", "distance_km"):
            writer.writerow([zone, "patrols_by_month", entry["month"], key, entry[key]])
    for entry in patrols["by_committee"]:
        for key in ("patrols", "hours", "distance_km", "auto_closed"):
            label = spreadsheet_safe(f"{entry['committee_name']}:{key}")
            writer.writerow([zone, "patrols_by_committee", period, label, entry[key]])
    comparison = trends["comparison"]
    writer.writerow([zone, "comparison", comparison["month"], "incidents", comparison["incidents"]])
    for key in ("previous_month", "year_before"):
        for field, value in comparison[key].items():
            writer.writerow([zone, f"comparison_{key}", comparison[key]["month"], field, value])
    return out.getvalue()
