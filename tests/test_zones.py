"""The district's geography: the demo district, GET /zones, locate, and `zones import`."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlmodel import select

from security.models import AlarmDevice
from tests.conftest import OUTSIDE, SHARED_DATA, ZONE_POINTS, incident_body
from zones.geometry import BoundaryFileError, read_boundaries
from zones.models import Block, Zone

DEMO_ZONES = [
    "Nueva Esperanza",
    "Cercado",
    "Inca Pachacútec",
    "José Carlos Mariátegui",
    "Tablada de Lurín",
    "José Gálvez",
    "Nuevo Milenio",
]


def test_demo_district_has_seven_named_zones_blocks_and_devices(session):
    zones = session.exec(select(Zone).order_by(Zone.id)).all()
    assert [z.name for z in zones] == DEMO_ZONES
    blocks = session.exec(select(Block)).all()
    assert len(blocks) > 700
    assert {b.zone_id for b in blocks} == {z.id for z in zones}
    devices = session.exec(select(AlarmDevice)).all()
    assert len(devices) > 100
    assert all(d.block_id is not None and d.zone_id is not None for d in devices)


def test_demo_geometry_is_inside_the_district_box_and_labelled_approximate():
    data = json.loads((Path(__file__).parent.parent / "data" / "vmt_zones.geojson").read_text())
    for feature in data["features"]:
        assert feature["properties"]["approximate"] is True
        minx, miny, maxx, maxy = shapely.geometry.shape(feature["geometry"]).bounds
        assert -76.959 <= minx and maxx <= -76.882 and -12.232 <= miny and maxy <= -12.119


def test_zones_are_a_public_geojson_feature_collection(client):
    response = client.get("/api/v1/zones")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    collection = response.get_json()
    assert collection["type"] == "FeatureCollection"
    assert [f["properties"]["name"] for f in collection["features"]] == DEMO_ZONES
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert isinstance(feature["id"], int) and feature["properties"]["id"] == feature["id"]
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid and geometry.geom_type in ("Polygon", "MultiPolygon")
        # RFC 7946: exterior rings counter-clockwise, coordinates longitude first
        polygons = getattr(geometry, "geoms", [geometry])
        assert all(p.exterior.is_ccw for p in polygons)
        assert -77 < geometry.centroid.x < -76.8


def test_locate_places_a_point_in_its_zone_and_block(client, make_person):
    volunteer = make_person("volunteer", zone_id=3)
    lat, lon = ZONE_POINTS[3]
    response = client.get(f"/api/v1/zones/locate?lat={lat}&lon={lon}", headers=volunteer.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["zone_id"] == 3 and body["zone_name"] == "Inca Pachacútec"
    assert isinstance(body["block_id"], int)


def test_locate_needs_a_token(client):
    lat, lon = ZONE_POINTS[1]
    assert client.get(f"/api/v1/zones/locate?lat={lat}&lon={lon}").status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"lat={OUTSIDE[0]}&lon={OUTSIDE[1]}", "lat"),
        ("lat=95&lon=-76.92", "lat"),
        ("lat=-12.15&lon=abc", "lon"),
        ("lon=-76.92", "lat"),
    ],
)
def test_locate_refuses_points_it_cannot_place(client, make_person, query, field):
    police = make_person("police")
    response = client.get(f"/api/v1/zones/locate?{query}", headers=police.headers)
    assert response.status_code == 422
    assert field in [f["field"] for f in response.get_json()["fields"]]


def _write(path: Path, frame: gpd.GeoDataFrame, driver: str = "GeoJSON") -> Path:
    frame.to_file(path, driver=driver)
    return path


def test_import_replaces_zones_and_blocks_from_a_shapefile_in_another_crs(runner, session, tmp_path):
    squares = [shapely.box(-76.95 + i * 0.02, -12.2, -76.93 + i * 0.02, -12.18) for i in range(3)]
    zones = gpd.GeoDataFrame({"NOMBRE": ["Sector A", "Sector B", "Sector C"]}, geometry=squares, crs="EPSG:4326")
    shp = _write(tmp_path / "sectores.shp", zones.to_crs("EPSG:32718"), driver="ESRI Shapefile")
    blocks = gpd.GeoDataFrame(
        {"name": ["Mz 1", "Mz 2"]},
        geometry=[shapely.box(-76.949, -12.199, -76.945, -12.195), shapely.box(-76.929, -12.199, -76.925, -12.195)],
        crs="EPSG:4326",
    )
    gpkg = _write(tmp_path / "manzanas.gpkg", blocks, driver="GPKG")

    result = runner.invoke(args=["zones", "import", str(shp), "--blocks", str(gpkg)])

    assert result.exit_code == 0, result.output
    assert "Imported 3 zones" in result.output and "2 blocks" in result.output
    session.expire_all()
    stored = session.exec(select(Zone).order_by(Zone.id)).all()
    assert [z.name for z in stored] == ["Sector A", "Sector B", "Sector C"]
    first = shapely.from_geojson(stored[0].geometry)
    assert first.bounds == pytest.approx((-76.95, -12.2, -76.93, -12.18), abs=1e-6)  # back in EPSG:4326
    placed = {b.name: b.zone_id for b in session.exec(select(Block)).all()}
    assert placed == {"Mz 1": stored[0].id, "Mz 2": stored[1].id}


def test_import_of_the_real_lima_boundaries_gives_50_zones(runner, session, client, make_person):
    source = SHARED_DATA / "lima_callao_distritos.geojson"
    if not source.exists():
        pytest.skip(f"{source} not present")
    result = runner.invoke(args=["zones", "import", str(source)])
    assert result.exit_code == 0, result.output
    names = [f["properties"]["name"] for f in client.get("/api/v1/zones").get_json()["features"]]
    assert len(names) == 50
    assert "VILLA MARIA DEL TRIUNFO" in names and "CALLAO" in names


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_import_refuses_a_file_without_crs(runner, tmp_path):
    frame = gpd.GeoDataFrame({"name": ["Z"]}, geometry=[shapely.box(0, 0, 1, 1)])  # no CRS
    shp = _write(tmp_path / "sin_crs.shp", frame, driver="ESRI Shapefile")
    result = runner.invoke(args=["zones", "import", str(shp)])
    assert result.exit_code != 0
    assert "coordinate reference system" in result.output


def test_import_refuses_invalid_geometry_naming_the_feature(runner, tmp_path):
    bowtie = shapely.Polygon([(-76.95, -12.2), (-76.93, -12.18), (-76.93, -12.2), (-76.95, -12.18)])
    frame = gpd.GeoDataFrame(
        {"name": ["Buena", "Corbata"]}, geometry=[shapely.box(-76.95, -12.2, -76.94, -12.19), bowtie], crs="EPSG:4326"
    )
    path = _write(tmp_path / "invalida.geojson", frame)
    result = runner.invoke(args=["zones", "import", str(path)])
    assert result.exit_code != 0
    assert "feature 2" in result.output and "invalid geometry" in result.output


def test_import_refuses_a_file_without_a_name_column(runner, tmp_path):
    frame = gpd.GeoDataFrame({"codigo": ["A1"]}, geometry=[shapely.box(-76.95, -12.2, -76.94, -12.19)], crs="EPSG:4326")
    path = _write(tmp_path / "sin_nombre.geojson", frame)
    result = runner.invoke(args=["zones", "import", str(path)])
    assert result.exit_code != 0
    assert "no name column" in result.output and "codigo" in result.output
    named = runner.invoke(args=["zones", "import", str(path), "--name-column", "codigo"])
    assert named.exit_code == 0, named.output


def test_read_boundaries_refuses_points_and_missing_files(tmp_path):
    frame = gpd.GeoDataFrame({"name": ["P"]}, geometry=[shapely.Point(-76.9, -12.2)], crs="EPSG:4326")
    with pytest.raises(BoundaryFileError, match="Point"):
        read_boundaries(path=_write(tmp_path / "p.geojson", frame))
    with pytest.raises(BoundaryFileError, match="not found"):
        read_boundaries(path=tmp_path / "nada.geojson")


def test_import_keeps_zone_ids_by_name_and_never_drops_history(runner, client, make_person, tmp_path):
    volunteer = make_person("volunteer", zone_id=1)
    assert client.post("/api/v1/incidents", json=incident_body(1), headers=volunteer.headers).status_code == 201
    only_two = gpd.read_file(Path(__file__).parent.parent / "data" / "vmt_zones.geojson").iloc[[1, 2]]
    path = _write(tmp_path / "dos.geojson", only_two)
    # Zone 1 has a user and an incident: removing it is refused and nothing changes.
    result = runner.invoke(args=["zones", "import", str(path)])
    assert result.exit_code != 0 and "history is never deleted" in result.output
    assert len(client.get("/api/v1/zones").get_json()["features"]) == 7
    # Re-importing all seven keeps every id.
    full = runner.invoke(args=["zones", "import", str(Path(__file__).parent.parent / "data" / "vmt_zones.geojson")])
    assert full.exit_code == 0 and "7 kept their id" in full.output
