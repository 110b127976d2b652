"""Generate the demo district data for Ronda (Villa María del Triunfo, Lima).

IMPORTANT: every geometry produced here is OUR OWN APPROXIMATION for demos and
tests. Nothing is copied from an official or third-party boundary file. The
district outline is a coarse hand-drawn polygon (~20 vertices) placed inside
the bounding box of the real district (lon -76.959..-76.882, lat
-12.232..-12.119) with a similar size (~70 km²). Zone limits are Voronoi cells
of 7 hand-placed seed points clipped to that outline, and the "manzanas"
(alarm blocks) are a regular 260 m x 260 m grid (roughly 250 m) clipped to
each zone.

Outputs (GeoJSON, RFC 7946, EPSG:4326, lon/lat, 6-decimal coordinates,
counter-clockwise exterior rings):

* ``data/vmt_zones.geojson``          7 zone polygons tiling the outline
* ``data/vmt_blocks.geojson``         grid blocks, each inside exactly one zone
* ``data/vmt_alarm_devices.geojson``  one community alarm in ~1 of 3 blocks

The script is deterministic (fixed random seed, no network access). Re-run it
from the repository root with::

    python data/make_demo_district.py
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry import MultiPoint, Point, Polygon, box, mapping
from shapely.geometry.base import BaseGeometry

GEO_CRS = "EPSG:4326"
METRIC_CRS = "EPSG:32718"  # WGS 84 / UTM zone 18S
DECIMALS = 6
CELL_SIZE_M = 260.0  # "roughly 250 m"; keeps the count near 1,100-1,200
MIN_BLOCK_FRACTION = 0.10
RANDOM_SEED = 20240611
ALARM_FRACTION = 1 / 3
OUT_DIR = Path(__file__).resolve().parent

NOTE = (
    "Geometría aproximada de demostración, no es un límite oficial / "
    "Approximate demo geometry, not an official boundary"
)

# Hand-drawn coarse outline (lon, lat). North-south elongated, wider in the
# south and east. Not traced from any real boundary.
OUTLINE_LONLAT: tuple[tuple[float, float], ...] = (
    (-76.938, -12.121),
    (-76.926, -12.123),
    (-76.918, -12.132),
    (-76.910, -12.140),
    (-76.900, -12.148),
    (-76.889, -12.158),
    (-76.884, -12.172),
    (-76.887, -12.186),
    (-76.885, -12.203),
    (-76.893, -12.216),
    (-76.905, -12.226),
    (-76.920, -12.230),
    (-76.935, -12.229),
    (-76.948, -12.222),
    (-76.956, -12.210),
    (-76.957, -12.195),
    (-76.952, -12.182),
    (-76.951, -12.168),
    (-76.948, -12.154),
    (-76.946, -12.140),
    (-76.944, -12.128),
)


@dataclass(frozen=True)
class ZoneSeed:
    """A zone code, its display name and the seed point of its Voronoi cell."""

    code: str
    name: str
    lon: float
    lat: float


ZONE_SEEDS: tuple[ZoneSeed, ...] = (
    ZoneSeed("Z1", "Nueva Esperanza", -76.934, -12.136),
    ZoneSeed("Z2", "Cercado", -76.944, -12.166),
    ZoneSeed("Z3", "Inca Pachacútec", -76.929, -12.175),
    ZoneSeed("Z4", "José Carlos Mariátegui", -76.900, -12.178),
    ZoneSeed("Z5", "Tablada de Lurín", -76.946, -12.206),
    ZoneSeed("Z6", "José Gálvez", -76.924, -12.217),
    ZoneSeed("Z7", "Nuevo Milenio", -76.899, -12.209),
)


def to_metric(geoms: list[BaseGeometry]) -> list[BaseGeometry]:
    """Reproject geometries from EPSG:4326 to the metric CRS."""
    return list(gpd.GeoSeries(geoms, crs=GEO_CRS).to_crs(METRIC_CRS))


def to_geographic(geoms: list[BaseGeometry]) -> list[BaseGeometry]:
    """Reproject geometries from the metric CRS to EPSG:4326."""
    return list(gpd.GeoSeries(geoms, crs=METRIC_CRS).to_crs(GEO_CRS))


def build_outline() -> Polygon:
    """Return the approximate district outline in the metric CRS."""
    outline = to_metric([Polygon(OUTLINE_LONLAT)])[0]
    if not outline.is_valid:
        raise ValueError("district outline is not a valid polygon")
    return outline


def build_zones(outline: Polygon) -> list[BaseGeometry]:
    """Split the outline into one Voronoi cell per zone seed (metric CRS)."""
    seeds = to_metric([Point(s.lon, s.lat) for s in ZONE_SEEDS])
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=outline.envelope.buffer(5000))
    zones: list[BaseGeometry] = []
    for seed in seeds:
        cell = next(c for c in cells.geoms if c.contains(seed))
        zones.append(cell.intersection(outline))
    return zones


def polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    """Return the polygon parts of a (multi)polygon or collection."""
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty else []
    return [p for g in getattr(geom, "geoms", []) for p in polygon_parts(g)]


def build_grid(outline: Polygon) -> list[Polygon]:
    """Return square cells of CELL_SIZE_M aligned to the metric grid."""
    minx, miny, maxx, maxy = outline.bounds
    x0 = (minx // CELL_SIZE_M) * CELL_SIZE_M
    y0 = (miny // CELL_SIZE_M) * CELL_SIZE_M
    cells: list[Polygon] = []
    y = maxy // CELL_SIZE_M * CELL_SIZE_M
    while y >= y0:  # north to south, then west to east
        x = x0
        while x <= maxx:
            cells.append(box(x, y, x + CELL_SIZE_M, y + CELL_SIZE_M))
            x += CELL_SIZE_M
        y -= CELL_SIZE_M
    return cells


def split_zone(zone: BaseGeometry, grid: list[Polygon], tree: shapely.STRtree) -> tuple[BaseGeometry, list[Polygon]]:
    """Clip the grid to one zone (metric CRS).

    Returns the zone rebuilt as the coverage union of all its pieces (so its
    boundary carries every block vertex and stays exactly shared with its
    blocks after rounding) and the pieces kept as blocks (slivers dropped).
    """
    min_area = MIN_BLOCK_FRACTION * CELL_SIZE_M**2
    pieces: list[Polygon] = []
    for cell_idx in sorted(tree.query(zone, predicate="intersects")):
        pieces.extend(polygon_parts(grid[cell_idx].intersection(zone)))
    noded_zone = shapely.coverage_union_all(pieces)
    return noded_zone, [p for p in pieces if p.area >= min_area]


def build_blocks(
    zones: list[BaseGeometry], grid: list[Polygon]
) -> tuple[list[BaseGeometry], list[tuple[int, Polygon]]]:
    """Return noded zones and (zone index, block) pairs in the metric CRS."""
    tree = shapely.STRtree(grid)
    noded_zones: list[BaseGeometry] = []
    blocks: list[tuple[int, Polygon]] = []
    for zone_idx, zone in enumerate(zones):
        noded_zone, zone_blocks = split_zone(zone, grid, tree)
        noded_zones.append(noded_zone)
        blocks.extend((zone_idx, block) for block in zone_blocks)
    return noded_zones, blocks


def clean_geometry(geom: BaseGeometry) -> BaseGeometry:
    """Snap to 6-decimal precision and orient exterior rings counter-clockwise."""
    snapped = shapely.set_precision(geom, 10**-DECIMALS, mode="pointwise")
    return shapely.orient_polygons(snapped, exterior_cw=False)


def round_coords(obj: Any) -> Any:
    """Recursively round the floats of a GeoJSON coordinate array."""
    if isinstance(obj, (list, tuple)):
        return [round_coords(v) for v in obj]
    return round(float(obj), DECIMALS)


def feature(geom: BaseGeometry, properties: dict[str, Any]) -> dict[str, Any]:
    """Build a GeoJSON Feature with rounded coordinates."""
    geometry = mapping(clean_geometry(geom))
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {
            "type": geometry["type"],
            "coordinates": round_coords(geometry["coordinates"]),
        },
    }


def write_collection(path: Path, name: str, features: list[dict[str, Any]]) -> None:
    """Write a FeatureCollection, one feature per line."""
    head = json.dumps(
        {"type": "FeatureCollection", "name": name, "note": NOTE},
        ensure_ascii=False,
    )[:-1]
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    body = ",\n".join(lines)
    path.write_text(f'{head}, "features": [\n{body}\n]}}\n', encoding="utf-8")


def make_zone_features(zones_geo: list[BaseGeometry]) -> list[dict[str, Any]]:
    """Return the zone Features."""
    return [
        feature(
            geom,
            {"name": s.name, "code": s.code, "approximate": True, "note": NOTE},
        )
        for s, geom in zip(ZONE_SEEDS, zones_geo, strict=True)
    ]


def make_block_features(
    blocks: list[tuple[int, Polygon]],
) -> tuple[list[dict[str, Any]], list[tuple[str, int, Polygon]]]:
    """Return block Features and (block name, zone index, geographic geom)."""
    geo = to_geographic([b for _, b in blocks])
    counters = [0] * len(ZONE_SEEDS)
    features: list[dict[str, Any]] = []
    named: list[tuple[str, int, Polygon]] = []
    for (zone_idx, _), geom in zip(blocks, geo, strict=True):
        counters[zone_idx] += 1
        seed = ZONE_SEEDS[zone_idx]
        name = f"Manzana {seed.code}-{counters[zone_idx]:03d}"
        features.append(feature(geom, {"name": name, "zone": seed.name, "approximate": True}))
        named.append((name, zone_idx, geom))
    return features, named


def make_alarm_features(named_blocks: list[tuple[str, int, Polygon]], rng: random.Random) -> list[dict[str, Any]]:
    """Place an alarm at the representative point of ~1 in 3 blocks."""
    features: list[dict[str, Any]] = []
    for block_name, zone_idx, geom in named_blocks:
        if rng.random() >= ALARM_FRACTION:
            continue
        number = block_name.removeprefix("Manzana ")
        features.append(
            feature(
                clean_geometry(geom).representative_point(),
                {
                    "name": f"Alarma {number}",
                    "block": block_name,
                    "zone": ZONE_SEEDS[zone_idx].name,
                },
            )
        )
    return features


def main() -> None:
    """Generate the three demo GeoJSON files and print a summary."""
    rng = random.Random(RANDOM_SEED)
    outline = build_outline()
    zones, blocks = build_blocks(build_zones(outline), build_grid(outline))

    zone_features = make_zone_features(to_geographic(zones))
    block_features, named_blocks = make_block_features(blocks)
    alarm_features = make_alarm_features(named_blocks, rng)

    outputs = {
        "vmt_zones.geojson": ("VMT demo zones", zone_features),
        "vmt_blocks.geojson": ("VMT demo blocks", block_features),
        "vmt_alarm_devices.geojson": ("VMT demo alarm devices", alarm_features),
    }
    for filename, (name, features) in outputs.items():
        write_collection(OUT_DIR / filename, name, features)

    print(f"outline area: {outline.area / 1e6:.2f} km² (EPSG:32718)")
    for seed, zone in zip(ZONE_SEEDS, zones, strict=True):
        print(f"  {seed.code} {seed.name}: {zone.area / 1e6:.2f} km²")
    for filename, (_, features) in outputs.items():
        size_kb = (OUT_DIR / filename).stat().st_size / 1024
        print(f"{filename}: {len(features)} features, {size_kb:.0f} KB")


if __name__ == "__main__":
    main()
