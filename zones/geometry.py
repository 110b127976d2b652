"""Reading boundary files and placing points in them.

Every function here is pure and keyword-only, works in EPSG:4326 (longitude, latitude) and
refuses data without a coordinate reference system rather than guessing one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

CRS = "EPSG:4326"
# Looked for, in this order, when the caller names no column (case-insensitive).
NAME_COLUMNS = ("name", "nombre", "zona", "zone", "distrito", "district", "sector", "manzana", "block")


class BoundaryFileError(ValueError):
    """A boundary file that cannot become zones or blocks; the message says why."""


@dataclass(frozen=True)
class Boundary:
    """One named polygon read from a file, in EPSG:4326."""

    name: str
    geometry: BaseGeometry
    properties: dict[str, object]


def read_boundaries(*, path: Path | str, name_column: str | None = None, layer: str | None = None) -> list[Boundary]:
    """Read named polygons from any file geopandas reads (GeoJSON, shapefile, GeoPackage...).

    The data is reprojected from its declared CRS to EPSG:4326. A file with no CRS, a
    feature with no, empty, non-polygonal or invalid geometry, a missing name column or an
    empty name is refused with a `BoundaryFileError` naming the file, feature and problem.
    """
    path = Path(path)
    if not path.exists():
        raise BoundaryFileError(f"{path}: file not found")
    try:
        frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types; all mean "not a readable file"
        raise BoundaryFileError(f"{path}: cannot be read as a geographic file ({exc})") from exc
    if len(frame) == 0:
        raise BoundaryFileError(f"{path}: the file has no features")
    if frame.crs is None:
        raise BoundaryFileError(
            f"{path}: the file declares no coordinate reference system (CRS); "
            "add one (e.g. a .prj next to a shapefile) so its coordinates can be placed"
        )
    column = _name_column(frame=frame, requested=name_column, path=path)
    frame = frame.to_crs(CRS)
    result: list[Boundary] = []
    for position, (_, row) in enumerate(frame.iterrows(), start=1):
        geometry = row.geometry
        label = f"{path}: feature {position}"
        if geometry is None or geometry.is_empty:
            raise BoundaryFileError(f"{label}: has no geometry")
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            raise BoundaryFileError(f"{label}: geometry is a {geometry.geom_type}, a Polygon or MultiPolygon is needed")
        if not geometry.is_valid:
            raise BoundaryFileError(f"{label}: invalid geometry ({explain_validity(geometry)})")
        raw_name = row[column]
        name = "" if raw_name is None or (isinstance(raw_name, float) and np.isnan(raw_name)) else str(raw_name).strip()
        if not name:
            raise BoundaryFileError(f"{label}: the name column '{column}' is empty")
        properties = {key: _plain(value) for key, value in row.items() if key != frame.geometry.name}
        result.append(Boundary(name=name, geometry=geometry, properties=properties))
    return result


def _name_column(*, frame: gpd.GeoDataFrame, requested: str | None, path: Path) -> str:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if requested:
        if requested not in columns:
            raise BoundaryFileError(
                f"{path}: no column '{requested}' (columns: {', '.join(map(str, columns)) or 'none'})"
            )
        return requested
    by_lower = {str(c).lower(): str(c) for c in columns}
    for candidate in NAME_COLUMNS:
        if candidate in by_lower:
            return by_lower[candidate]
    raise BoundaryFileError(
        f"{path}: no name column found (looked for {', '.join(NAME_COLUMNS)}; "
        f"columns: {', '.join(map(str, columns)) or 'none'}); name one with --name-column"
    )


def _plain(value: object) -> object:
    """A JSON-friendly copy of an attribute value read by pandas."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def to_geojson(*, geometry: BaseGeometry) -> str:
    """GeoJSON text of a geometry (EPSG:4326, RFC 7946 ring orientation)."""
    return shapely.to_geojson(shapely.orient_polygons(geometry))


def from_geojson(*, text: str) -> BaseGeometry:
    """A shapely geometry from GeoJSON text (EPSG:4326)."""
    return shapely.from_geojson(text)


def geojson_dict(*, text: str) -> dict[str, object]:
    """GeoJSON text as a dict, for embedding in a Feature."""
    value: dict[str, object] = json.loads(text)
    return value


@dataclass(frozen=True)
class Location:
    """Where a point falls: its zone and, when blocks cover it, its block."""

    zone_id: int
    zone_name: str
    block_id: int | None


class ZoneIndex:
    """In-memory spatial index of zones and blocks (shapely STRtree), EPSG:4326.

    Built once from the store; `locate` costs microseconds, so placing a report never
    touches the database.
    """

    def __init__(
        self,
        *,
        zones: list[tuple[int, str, BaseGeometry]],
        blocks: list[tuple[int, int, BaseGeometry]],
    ) -> None:
        self._zone_ids = np.array([z[0] for z in zones], dtype=np.int64)
        self._zone_names = {z[0]: z[1] for z in zones}
        self._zone_tree = shapely.STRtree([z[2] for z in zones])
        self._block_ids = np.array([b[0] for b in blocks], dtype=np.int64)
        self._block_zone = {b[0]: b[1] for b in blocks}
        self._block_tree = shapely.STRtree([b[2] for b in blocks])
        self.bounds = tuple(shapely.total_bounds([z[2] for z in zones])) if zones else None

    @property
    def zone_count(self) -> int:
        return len(self._zone_ids)

    def zone_name(self, zone_id: int) -> str | None:
        return self._zone_names.get(zone_id)

    def locate(self, *, lat: float, lon: float) -> Location | None:
        """The zone and block containing (lat, lon), or None outside the district.

        A point on a shared edge goes to the lowest-numbered polygon, so the answer is stable.
        """
        point = shapely.Point(lon, lat)
        blocks = self._block_tree.query(point, predicate="intersects")
        if len(blocks):
            block_id = int(self._block_ids[np.min(blocks)])
            zone_id = self._block_zone[block_id]
            return Location(zone_id=zone_id, zone_name=self._zone_names[zone_id], block_id=block_id)
        zones = self._zone_tree.query(point, predicate="intersects")
        if not len(zones):
            return None
        zone_id = int(self._zone_ids[np.min(zones)])
        return Location(zone_id=zone_id, zone_name=self._zone_names[zone_id], block_id=None)


EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


def distance_m(*, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 (EPSG:4326) points (haversine).

    Within a district the error against the ellipsoid is well under 1 %, plenty to rank
    nearby patrols or candidates for a duplicate report.
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
