"""Incidents as files (CSV, RFC 7946 GeoJSON), written from views already redacted for the reader."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from security.kinds import KINDS
from zones.database import LIMA

CSV_COLUMNS = [
    "id",
    "kind",
    "kind_label",
    "status",
    "severity",
    "occurred_at",
    "occurred_at_lima",
    "reported_at",
    "zone_id",
    "zone_name",
    "block_id",
    "block_name",
    "lat",
    "lon",
    "location_precision",
    "anonymous",
    "description",
    "reporter",
]


def _lima(value: str | None) -> str:
    return datetime.fromisoformat(value).astimezone(LIMA).strftime("%Y-%m-%d %H:%M") if value else ""


def _row(view: dict[str, Any], zone_names: dict[int, str], locale: str) -> list[Any]:
    kind = KINDS.get(view["kind"])
    reporter = view.get("reporter")
    return [
        view["id"],
        view["kind"],
        kind.label(locale) if kind else view["kind"],
        view["status"],
        view["severity"],
        view["occurred_at"],
        _lima(view["occurred_at"]),
        view["reported_at"],
        view["zone_id"],
        zone_names.get(view["zone_id"], ""),
        view.get("block_id") or "",
        view.get("block_name") or "",
        view["lat"],
        view["lon"],
        view.get("location_precision", "exact"),
        view["anonymous"],
        view.get("description") or "",
        reporter["username"] if reporter else "",
    ]


def spreadsheet_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (=, +, -, @ lead formulas)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_lines(views: Iterable[dict[str, Any]], *, zone_names: dict[int, str], locale: str) -> Iterator[str]:
    """The CSV file, a header then one line per incident view (streamed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for view in views:
        writer.writerow([spreadsheet_safe(value) for value in _row(view, zone_names, locale)])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def geojson_chunks(views: Iterable[dict[str, Any]], *, zone_names: dict[int, str]) -> Iterator[str]:
    """An RFC 7946 FeatureCollection of Points (longitude, latitude), streamed feature by feature."""
    yield '{"type": "FeatureCollection", "features": ['
    first = True
    for view in views:
        properties = {k: v for k, v in view.items() if k not in ("lat", "lon")}
        properties["zone_name"] = zone_names.get(view["zone_id"])
        feature = {
            "type": "Feature",
            "id": view["id"],
            "geometry": {"type": "Point", "coordinates": [view["lon"], view["lat"]]},
            "properties": properties,
        }
        yield ("" if first else ",") + json.dumps(feature, ensure_ascii=False)
        first = False
    yield "]}"
