"""The district's geography in the store: replacing it, reading it, indexing it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from zones.geometry import CRS, Boundary, BoundaryFileError, ZoneIndex, from_geojson, geojson_dict, to_geojson
from zones.models import Block, Zone


@dataclass(frozen=True)
class ImportSummary:
    """What an import changed."""

    zones: int
    zones_kept: int
    blocks: int
    blocks_skipped: int


def replace_district(
    *,
    session: Session,
    zones: list[Boundary],
    blocks: list[Boundary] | None = None,
    block_zone_property: str | None = None,
) -> ImportSummary:
    """Replace the district's zones (and blocks, when given) in one transaction.

    Zones are matched by name, so a zone that keeps its name keeps its id and its history.
    A zone or block that disappears while incidents or alarms still refer to it makes the
    whole import fail (nothing is changed). Blocks are placed in the zone named by
    `block_zone_property` when given, otherwise in the zone containing their interior point;
    blocks outside every zone are skipped and counted.
    """
    names = [z.name for z in zones]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BoundaryFileError(f"zone names must be unique; repeated: {', '.join(duplicates)}")
    existing = {z.name: z for z in session.exec(select(Zone)).all()}
    kept = 0
    zone_rows: dict[str, Zone] = {}
    for boundary in zones:
        code = boundary.properties.get("code")
        row = existing.pop(boundary.name, None)
        if row is None:
            row = Zone(name=boundary.name, geometry="")
        else:
            kept += 1
        row.code = str(code) if code is not None else row.code
        row.geometry = to_geojson(geometry=boundary.geometry)
        row.properties = json.dumps(boundary.properties, ensure_ascii=False, default=str)
        session.add(row)
        zone_rows[boundary.name] = row
    session.flush()

    skipped = 0
    block_count = 0
    try:
        removed_zone_ids = [z.id for z in existing.values()]
        if blocks is not None:
            session.execute(delete(Block))
            placed = _place_blocks(blocks=blocks, zone_rows=zone_rows, zone_property=block_zone_property)
            for boundary, zone in placed:
                if zone is None:
                    skipped += 1
                    continue
                center = boundary.geometry.representative_point()
                session.add(
                    Block(
                        name=boundary.name,
                        zone_id=zone.id,  # type: ignore[arg-type]
                        geometry=to_geojson(geometry=boundary.geometry),
                        center_lat=round(center.y, 7),
                        center_lon=round(center.x, 7),
                    )
                )
                block_count += 1
        elif removed_zone_ids:
            session.execute(delete(Block).where(Block.zone_id.in_(removed_zone_ids)))  # type: ignore[attr-defined]
        if removed_zone_ids:
            session.execute(delete(Zone).where(Zone.id.in_(removed_zone_ids)))  # type: ignore[union-attr]
        session.flush()
    except IntegrityError as exc:
        raise BoundaryFileError(
            "the import would remove zones or blocks that users, committees, patrols, incidents or alarms refer to; "
            "keep those zones' names in the new file (history is never deleted)"
        ) from exc
    if blocks is None:
        block_count = session.exec(select(func.count()).select_from(Block)).one()
    return ImportSummary(zones=len(zones), zones_kept=kept, blocks=block_count, blocks_skipped=skipped)


def _place_blocks(
    *, blocks: list[Boundary], zone_rows: dict[str, Zone], zone_property: str | None
) -> list[tuple[Boundary, Zone | None]]:
    if zone_property:
        return [(b, zone_rows.get(str(b.properties.get(zone_property, "")))) for b in blocks]
    # One bulk spatial join of the blocks' interior points, not a loop over polygons.
    points = gpd.GeoDataFrame(
        {"i": range(len(blocks))},
        geometry=[b.geometry.representative_point() for b in blocks],
        crs=CRS,
    )
    zone_list = list(zone_rows.values())
    areas = gpd.GeoDataFrame(
        {"z": range(len(zone_list))},
        geometry=[from_geojson(text=z.geometry) for z in zone_list],
        crs=CRS,
    )
    joined = gpd.sjoin(points, areas, how="left", predicate="intersects")
    joined = joined[~joined.index.duplicated(keep="first")]
    result: list[tuple[Boundary, Zone | None]] = []
    for i, z in zip(joined["i"], joined["z"], strict=True):
        result.append((blocks[int(i)], None if z != z else zone_list[int(z)]))  # z != z: NaN, no zone
    return result


def build_index(*, session: Session) -> ZoneIndex:
    """A spatial index of the stored zones and blocks."""
    zones = [
        (z.id, z.name, from_geojson(text=z.geometry)) for z in session.exec(select(Zone).order_by(col(Zone.id))).all()
    ]
    blocks = [
        (b.id, b.zone_id, from_geojson(text=b.geometry))
        for b in session.exec(select(Block).order_by(col(Block.id))).all()
    ]
    for geometry in [z[2] for z in zones] + [b[2] for b in blocks]:
        shapely.prepare(geometry)
    return ZoneIndex(zones=zones, blocks=blocks)  # type: ignore[arg-type]


def zones_feature_collection(*, session: Session) -> dict[str, Any]:
    """The zones as an RFC 7946 FeatureCollection with `id`, `name` and `code`."""
    features = [
        {
            "type": "Feature",
            "id": zone.id,
            "geometry": geojson_dict(text=zone.geometry),
            "properties": {"id": zone.id, "name": zone.name, "code": zone.code},
        }
        for zone in session.exec(select(Zone).order_by(col(Zone.id))).all()
    ]
    return {"type": "FeatureCollection", "features": features}


def blocks_feature_collection(*, session: Session, zone_id: int) -> dict[str, Any]:
    """A zone's urban blocks as an RFC 7946 FeatureCollection with `id`, `name` and `zone_id`."""
    features = [
        {
            "type": "Feature",
            "id": block.id,
            "geometry": geojson_dict(text=block.geometry),
            "properties": {"id": block.id, "name": block.name, "zone_id": block.zone_id},
        }
        for block in session.exec(select(Block).where(Block.zone_id == zone_id).order_by(col(Block.id))).all()
    ]
    return {"type": "FeatureCollection", "features": features}


def zone_count(*, session: Session) -> int:
    """How many zones the store holds."""
    return int(session.exec(select(func.count()).select_from(Zone)).one())
