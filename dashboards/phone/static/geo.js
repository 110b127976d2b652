// Geometry the phone needs without a server: is a point in my zone, which block is it in.
// GeoJSON in WGS84 (EPSG:4326), [longitude, latitude]; ray casting on the coordinates is exact
// enough for blocks of a few hundred metres.
(function (self) {
  "use strict";

  function inRing(lon, lat, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function inPolygon(lon, lat, rings) {
    if (!rings.length || !inRing(lon, lat, rings[0])) return false;
    for (var k = 1; k < rings.length; k++) if (inRing(lon, lat, rings[k])) return false;  // a hole
    return true;
  }

  // Whether (lat, lon) lies in a GeoJSON Polygon or MultiPolygon geometry.
  function contains(geometry, lat, lon) {
    if (!geometry) return false;
    if (geometry.type === "Polygon") return inPolygon(lon, lat, geometry.coordinates);
    if (geometry.type === "MultiPolygon") {
      return geometry.coordinates.some(function (rings) { return inPolygon(lon, lat, rings); });
    }
    return false;
  }

  // The feature of a FeatureCollection containing the point, or null.
  function featureAt(collection, lat, lon) {
    var features = (collection && collection.features) || [];
    for (var i = 0; i < features.length; i++) if (contains(features[i].geometry, lat, lon)) return features[i];
    return null;
  }

  self.RondaGeo = { contains: contains, featureAt: featureAt };
})(self);
