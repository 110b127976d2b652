"""The live zone map, built with folium: pure functions from data to a `folium.Map`.

folium draws the zones (coloured by incident count), an empty MarkerCluster that the live
scripts (static/map_*.js) fill and update from Socket.IO events, and a heat layer.
Every library is served by the app itself (`AssetUrls`); nothing is loaded from a CDN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import folium
from branca.element import Figure
from folium.plugins import HeatMap, MarkerCluster
from markupsafe import escape

# Sequential reds, light to dark, for zone counts (ColorBrewer Reds, 6 classes).
ZONE_COLOURS = ("#fee5d9", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15")
NO_DATA_COLOUR = "#f0f0f0"

# One colour per incident kind, shared by markers and legend.
KIND_COLOURS: dict[str, str] = {
    "robbery": "#d7191c",
    "assault": "#b2182b",
    "gang_activity": "#7b3294",
    "drug_dealing": "#c51b7d",
    "domestic_violence": "#e66101",
    "sexual_harassment": "#f1a340",
    "prostitution": "#8073ac",
    "vandalism": "#1a9641",
    "suspicious_activity": "#2c7bb6",
    "noise_disturbance": "#4dac26",
    "other": "#636363",
}


@dataclass(frozen=True)
class AssetUrls:
    """Where the page loads Leaflet and its plugins from (the app's own /vendor/ URLs)."""

    leaflet_js: str
    leaflet_css: str
    markercluster_js: str
    markercluster_css: str
    markercluster_default_css: str
    heat_js: str


@dataclass(frozen=True)
class MapLabels:
    """Translated words the map itself shows (layer names, tooltips)."""

    zones: str
    incidents: str
    heat: str
    zone_tooltip: str  # e.g. "Zona"
    count_tooltip: str  # e.g. "Incidentes"
    patrols: str | None = None  # the patrols layer's name; None: no such layer (not police)


def as_html_text(value: object) -> str:
    """Text made safe for the places folium pastes as HTML (tooltips), even inside JS template literals."""
    return str(escape(str(value))).replace("`", "&#96;").replace("$", "&#36;")


def zone_colour(*, count: int, maximum: int) -> str:
    """The fill colour of a zone with `count` incidents when the busiest zone has `maximum`."""
    if count <= 0 or maximum <= 0:
        return NO_DATA_COLOUR
    step = round(count / maximum * (len(ZONE_COLOURS) - 1))
    return ZONE_COLOURS[min(len(ZONE_COLOURS) - 1, max(0, step))]


def build_live_map(
    *,
    zones: dict[str, Any],
    zone_counts: dict[int, int],
    heat: list[tuple[float, float, int]],
    assets: AssetUrls,
    labels: MapLabels,
    count_labels: dict[int, str] | None = None,
    tiles: bool = True,
    layer_control: bool = True,
) -> folium.Map:
    """A folium map of `zones` (an EPSG:4326 FeatureCollection with `id` and `name`).

    Zones are filled by `zone_counts` (zone id -> incidents in the window), `heat` holds
    (lat, lon, weight) points for the heat layer (off until switched on). The incident
    cluster is empty: the live script fills it. `count_labels` are the counts formatted for
    the reader's locale (zone id -> text); tiles come from OpenStreetMap when online.
    """
    features = zones.get("features", [])
    bounds = _bounds(features)
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds else [-12.17, -76.92]
    # The pages send no Referer elsewhere (Referrer-Policy: same-origin), but OpenStreetMap's tile
    # servers require one: the tiles alone send the site's origin (never the page's path).
    background = folium.TileLayer("OpenStreetMap", referrer_policy="strict-origin") if tiles else None
    fmap = folium.Map(location=center, zoom_start=13, tiles=background, prefer_canvas=False)
    # The map's own maxZoom (folium gives it to the tile layer only): without tiles the marker
    # cluster needs one, and the block outlines are read up to street level.
    fmap.options["max_zoom"] = 19
    fmap.default_js = [("leaflet", assets.leaflet_js)]
    fmap.default_css = [("leaflet_css", assets.leaflet_css)]
    if bounds:
        fmap.fit_bounds(bounds)

    maximum = max(zone_counts.values(), default=0)
    shown = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": feature["id"],
                "geometry": feature["geometry"],
                "properties": {
                    "id": feature["id"],
                    # folium's tooltip pastes properties as HTML: names from boundary files are escaped
                    "name": as_html_text(feature["properties"]["name"]),
                    "count": zone_counts.get(feature["id"], 0),
                    "count_label": (count_labels or {}).get(feature["id"], str(zone_counts.get(feature["id"], 0))),
                    "fill": zone_colour(count=zone_counts.get(feature["id"], 0), maximum=maximum),
                },
            }
            for feature in features
        ],
    }
    folium.GeoJson(
        shown,
        name=labels.zones,
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "color": "#444444",
            "weight": 2,
            "fillOpacity": 0.45,
        },
        highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.6},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "count_label"], aliases=[labels.zone_tooltip, labels.count_tooltip], sticky=True
        ),
    ).add_to(fmap)

    heat_layer = HeatMap(
        [[lat, lon, weight] for lat, lon, weight in heat] or [[center[0], center[1], 0]],
        name=labels.heat,
        show=False,
        radius=18,
        blur=15,
        min_opacity=0.3,
    )
    heat_layer.default_js = [("leaflet-heat.js", assets.heat_js)]
    heat_layer.add_to(fmap)

    cluster = MarkerCluster(name=labels.incidents, options={"maxClusterRadius": 40, "spiderfyOnMaxZoom": True})
    cluster.default_js = [("markerclusterjs", assets.markercluster_js)]
    cluster.default_css = [
        ("markerclustercss", assets.markercluster_css),
        ("markerclusterdefaultcss", assets.markercluster_default_css),
    ]
    cluster.add_to(fmap)
    patrols = None
    if labels.patrols:  # filled by the live script: where the patrols are, for police eyes only
        patrols = folium.FeatureGroup(name=labels.patrols, show=True).add_to(fmap)
    if layer_control:  # last: it lists the layers added before it
        folium.LayerControl(collapsed=True).add_to(fmap)
    fmap.ronda_cluster_name = cluster.get_name()  # type: ignore[attr-defined]
    fmap.ronda_heat_name = heat_layer.get_name()  # type: ignore[attr-defined]
    fmap.ronda_patrols_name = patrols.get_name() if patrols is not None else None  # type: ignore[attr-defined]
    return fmap


def build_month_map(
    *,
    zones: dict[str, Any],
    zone_counts: dict[int, int],
    count_labels: dict[int, str],
    top_blocks: list[dict[str, Any]],
    assets: AssetUrls,
    labels: MapLabels,
    tiles: bool = True,
) -> folium.Map:
    """A choropleth of one month's incidents by zone, with the top blocks marked (no live layer)."""
    fmap = build_live_map(
        zones=zones, zone_counts=zone_counts, count_labels=count_labels, heat=[], assets=assets, labels=labels,
        tiles=tiles, layer_control=False,
    )  # fmt: skip
    biggest = max((b["total"] for b in top_blocks), default=1)
    layer = folium.FeatureGroup(name=labels.incidents).add_to(fmap)
    for rank, block in enumerate(top_blocks, start=1):
        folium.CircleMarker(
            location=[block["lat"], block["lon"]],
            radius=6 + 10 * block["total"] / biggest,
            color="#ffffff",
            weight=2,
            fill=True,
            fill_color="#08306b",
            fill_opacity=0.85,
            tooltip=as_html_text(f"{rank}. {block['block_name']}: {block['total']}"),
        ).add_to(layer)
    folium.LayerControl(collapsed=True).add_to(fmap)
    return fmap


def feature_bounds(feature: dict[str, Any]) -> list[list[float]] | None:
    """[[south, west], [north, east]] of one EPSG:4326 GeoJSON feature (None without coordinates)."""
    return _bounds([feature])


def _bounds(features: list[dict[str, Any]]) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the features' coordinates, or None when there are none."""
    lons: list[float] = []
    lats: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            lons.append(float(coords[0]))
            lats.append(float(coords[1]))
        else:
            for item in coords:
                walk(item)

    for feature in features:
        walk(feature["geometry"]["coordinates"])
    if not lons:
        return None
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def map_parts(fmap: folium.Map) -> dict[str, str | None]:
    """The map's <head> tags, its <div> and its script, to place in a page of our own (and the names
    of its live layers; `patrols_name` None when the map has no patrol layer)."""
    root = fmap.get_root()
    assert isinstance(root, Figure)
    root.render()
    return {
        "head": root.header.render(),
        "body": root.html.render(),
        "script": root.script.render(),
        "map_name": fmap.get_name(),
        "cluster_name": fmap.ronda_cluster_name,  # type: ignore[attr-defined]
        "heat_name": fmap.ronda_heat_name,  # type: ignore[attr-defined]
        "patrols_name": getattr(fmap, "ronda_patrols_name", None),
    }
