"""The map-building functions and the map data, without a browser."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

from sqlmodel import Session

from dashboards.livemap import (
    NO_DATA_COLOUR,
    ZONE_COLOURS,
    AssetUrls,
    MapLabels,
    build_live_map,
    map_parts,
    zone_colour,
)
from dashboards.mapdata import map_data
from security.auth import Viewer, create_user
from security.incidents import change_status, report_incident
from security.models import IncidentCreate, IncidentUpdate
from tests.conftest import PASSWORD, ZONE_POINTS
from zones.database import utcnow
from zones.service import build_index, zones_feature_collection

ASSETS = AssetUrls(
    leaflet_js="/vendor/leaflet/leaflet.js",
    leaflet_css="/vendor/leaflet/leaflet.css",
    markercluster_js="/vendor/mc/mc.js",
    markercluster_css="/vendor/mc/mc.css",
    markercluster_default_css="/vendor/mc/mcd.css",
    heat_js="/vendor/heat/heat.js",
)
LABELS = MapLabels(
    zones="Zonas",
    incidents="Incidentes abiertos",
    heat="Mapa de calor",
    zone_tooltip="Zona",
    count_tooltip="Incidentes",
)


def test_zone_colour_scales_with_the_count():
    assert zone_colour(count=0, maximum=10) == NO_DATA_COLOUR
    assert zone_colour(count=10, maximum=10) == ZONE_COLOURS[-1]
    assert zone_colour(count=1, maximum=100) == ZONE_COLOURS[0]
    shades = [zone_colour(count=c, maximum=50) for c in range(1, 51)]
    assert [ZONE_COLOURS.index(s) for s in shades] == sorted(ZONE_COLOURS.index(s) for s in shades)


def test_the_map_draws_every_zone_with_local_assets_only(session):
    zones = zones_feature_collection(session=session)
    counts = {zones["features"][0]["id"]: 12, zones["features"][1]["id"]: 3}
    fmap = build_live_map(zones=zones, zone_counts=counts, heat=[(-12.17, -76.92, 4)], assets=ASSETS, labels=LABELS)
    parts = map_parts(fmap)
    html = parts["head"] + parts["body"] + parts["script"]
    for zone in zones["features"]:
        assert json.dumps(zone["properties"]["name"]) in html  # as folium embeds it (JSON, ASCII-escaped)
    assert ZONE_COLOURS[-1] in html  # the busiest zone gets the darkest fill
    assert "L.markerClusterGroup" in parts["script"] and parts["cluster_name"] in parts["script"]
    assert "L.heatLayer" in parts["script"]
    external = re.findall(r'(?:src|href)="(https?:[^"]+)"', parts["head"])
    assert external == [], f"the page would load {external} from the internet"
    assert "/vendor/leaflet/leaflet.js" in parts["head"] and "/vendor/heat/heat.js" in parts["head"]


def test_map_data_sends_open_incidents_as_markers_and_the_rest_as_counts(db_url):
    from zones.database import make_engine

    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as session:
        index = build_index(session=session)
        police = create_user(session=session, username="p", password=PASSWORD, role="police")
        made = []
        for zone_id, days_ago in ((1, 0), (1, 0), (2, 0), (1, 3), (1, 40)):
            lat, lon = ZONE_POINTS[zone_id]
            data = IncidentCreate(
                client_id=uuid.uuid4(),
                kind="robbery",
                lat=lat,
                lon=lon,
                occurred_at=utcnow() - timedelta(days=days_ago),
            )
            made.append(report_incident(session=session, reporter=police, data=data, index=index)[0])
        change_status(session=session, actor=police, incident_id=made[1].id, update=IncidentUpdate(status="dismissed"))
        session.commit()

        day = map_data(session=session, viewer=Viewer(police.id, "police", None), window="24h")
        assert day.zone_counts == {1: 2, 2: 1}
        assert sorted(i["id"] for i in day.incidents) == sorted([made[0].id, made[2].id])  # dismissed is not a marker
        assert sum(w for _, _, w in day.heat) == 3
        month = map_data(session=session, viewer=Viewer(police.id, "police", None), window="30d")
        assert month.zone_counts == {1: 3, 2: 1}
        neighbor = map_data(session=session, viewer=Viewer(None, "neighbor", 2), window="7d")
        assert neighbor.zone_counts == {2: 1}
        assert [i["zone_id"] for i in neighbor.incidents] == [2]
        assert neighbor.incidents[0]["reporter"] is None and neighbor.incidents[0]["location_precision"] == "block"
        assert neighbor.last_seq == day.last_seq > 0
    engine.dispose()
