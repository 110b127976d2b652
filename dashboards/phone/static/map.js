// The small map of one's zone, to tap where something happened. Leaflet is loaded the first
// time it opens (the report form is usable before). Zones and blocks come from Ronda's own data
// kept on the phone, so the map works with no tiles and no signal; tiles are a bonus when online.
(function (self) {
  "use strict";
  var app = self.Ronda;
  var t = app.t;
  var $ = app.$;
  var leaflet = null;
  var map = null;
  var marker = null;
  var here = null;
  var blocksLayer = null;
  var LABEL_ZOOM = 17;  // block names from this zoom on (fewer would be unreadable)
  var GOOD_FIX_M = 200;
  var picked = null;
  var settle = null;

  function load(tag, attributes) {
    return new Promise(function (resolve, reject) {
      var node = document.createElement(tag);
      Object.keys(attributes).forEach(function (name) { node[name] = attributes[name]; });
      node.onload = resolve;
      node.onerror = reject;
      document.head.appendChild(node);
    });
  }

  function loadLeaflet() {
    if (!leaflet) {
      leaflet = Promise.all([
        load("link", { rel: "stylesheet", href: app.config.assets.leaflet_css }),
        load("script", { src: app.config.assets.leaflet_js })
      ]).catch(function (error) { leaflet = null; throw error; });
    }
    return leaflet;
  }

  function blockName(lat, lon) {
    var block = self.RondaGeo.featureAt(app.state.blocks, lat, lon);
    return block ? block.properties.name : null;
  }

  function describe(point) {
    var name = blockName(point.lat, point.lon);
    var inZone = !app.state.zone || self.RondaGeo.contains(app.state.zone.geometry, point.lat, point.lon);
    if (!inZone) return t("map.outside_zone");
    return name ? t("map.in_block", { block: name }) : t("map.no_block");
  }

  function build() {
    var L = self.L;
    map = L.map("pick-map", { zoomControl: true, attributionControl: Boolean(app.config.tiles) });
    if (app.config.tiles && navigator.onLine) {
      // OpenStreetMap's tile servers require a Referer, which the page's Referrer-Policy
      // (same-origin) leaves out: the tiles alone send the site's origin.
      L.tileLayer(app.config.tiles, { maxZoom: 19, attribution: "© OpenStreetMap", referrerPolicy: "strict-origin" })
        .addTo(map);
    }
    var zone = app.state.zone;
    var bounds = null;
    if (zone) {
      var outline = L.geoJSON(zone, { style: { color: "#0d3b66", weight: 3, fillOpacity: 0.04 }, interactive: false });
      outline.addTo(map);
      bounds = outline.getBounds();
    }
    if (app.state.blocks) {
      blocksLayer = L.geoJSON(app.state.blocks, {
        style: { color: "#44546a", weight: 1.5, fillColor: "#fff3d6", fillOpacity: 0.6 },
        interactive: false
      }).addTo(map);
      bounds = bounds || blocksLayer.getBounds();
    }
    map.zoneBounds = bounds;
    map.on("click", function (event) { choose(event.latlng.lat, event.latlng.lng); });
    map.on("zoomend moveend", labelBlocks);
  }

  // Block names on the blocks in view, once the map is close enough to read them.
  function labelBlocks() {
    if (!blocksLayer) return;
    var close = map.getZoom() >= LABEL_ZOOM;
    var view = map.getBounds();
    blocksLayer.eachLayer(function (layer) {
      var show = close && view.intersects(layer.getBounds());
      if (show && !layer.getTooltip()) {
        layer.bindTooltip(layer.feature.properties.name, { permanent: true, direction: "center", className: "block-label" });
      } else if (!show && layer.getTooltip()) {
        layer.unbindTooltip();
      }
    });
  }

  // Where the map opens: on the person, when the GPS knows well enough where they are;
  // otherwise the whole zone. The place is always tapped, never guessed.
  function frame() {
    var L = self.L;
    var fix = app.gps.recent(120000);
    if (fix && fix.accuracy !== null && fix.accuracy <= GOOD_FIX_M) {
      map.setView([fix.lat, fix.lon], LABEL_ZOOM);
      var style = { radius: 8, color: "#fff", weight: 3, fillColor: "#1565c0", fillOpacity: 1, interactive: false };
      if (!here) here = L.circleMarker([fix.lat, fix.lon], style).addTo(map);
      else here.setLatLng([fix.lat, fix.lon]);
    } else if (map.zoneBounds && map.zoneBounds.isValid()) {
      map.fitBounds(map.zoneBounds, { padding: [8, 8] });
    } else {
      map.setView([-12.17, -76.93], 13);
    }
    labelBlocks();
  }

  function choose(lat, lon) {
    var L = self.L;
    picked = { lat: Math.round(lat * 1e6) / 1e6, lon: Math.round(lon * 1e6) / 1e6 };
    if (!marker) marker = L.circleMarker([lat, lon], { radius: 11, color: "#fff", weight: 3, fillColor: "#b71c1c", fillOpacity: 1 }).addTo(map);
    else marker.setLatLng([lat, lon]);
    $("map-picked").textContent = describe(picked);
    $("map-use").disabled = false;
  }

  function close(result) {
    $("map-panel").hidden = true;
    document.body.classList.remove("map-open");
    var done = settle;
    settle = null;
    if (done) done(result);
  }

  // Open the map (`title`: why, when it is not the usual); resolves with {lat, lon, block_name}
  // or null when closed without a point.
  function pick(title) {
    picked = null;
    $("map-title").textContent = title || t("map.title");
    $("map-use").disabled = true;
    $("map-picked").textContent = t("map.tap");
    $("map-panel").hidden = false;
    document.body.classList.add("map-open");
    return loadLeaflet().then(function () {
      if (!map) build();
      else map.invalidateSize();
      if (marker) { map.removeLayer(marker); marker = null; }
      frame();
      $("map-close").focus();
      return new Promise(function (resolve) { settle = resolve; });
    }, function () {
      close(null);
      app.toast(t("map.unavailable"), "warning");
      return null;
    });
  }

  app.screens.map = {
    init: function () {
      $("map-close").addEventListener("click", function () { close(null); });
      $("map-use").addEventListener("click", function () {
        if (picked) close({ lat: picked.lat, lon: picked.lon, block_name: blockName(picked.lat, picked.lon) });
      });
      document.addEventListener("keydown", function (event) {
        if ($("map-panel").hidden) return;
        if (event.key === "Escape") close(null);
        if (event.key !== "Tab") return;
        // The map is a dialog: Tab goes round its own controls, not the page behind it.
        var inside = Array.prototype.filter.call(
          $("map-panel").querySelectorAll("button, a[href], [tabindex]:not([tabindex='-1'])"),
          function (node) { return !node.disabled && node.offsetParent !== null; }
        );
        if (!inside.length) return;
        var first = inside[0], last = inside[inside.length - 1];
        if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
        else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
      });
    }
  };
  app.pickPoint = pick;
  app.closeMap = function () { if (!$("map-panel").hidden) close(null); };
  app.blockName = blockName;
})(self);
