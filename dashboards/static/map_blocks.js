// The live map's blocks: their outlines and names at street zoom, from Ronda's own data, so the
// map works without tiles.
(function () {
  "use strict";
  var M = window.RondaMap;
  var config = M.config, map = M.map, el = M.el;

  // --- block outlines and names at street zoom, from Ronda's own data ----------------------
  var BLOCK_ZOOM = 16;
  var blockLayer = L.layerGroup();
  var blockLabels = L.layerGroup();
  var blockZones = {};    // zone id -> "loading" | [{id, name, center}] (its outlines drawn)
  var labelMarkers = {};  // block id -> label marker in view
  var LabelIcon = L.DivIcon.extend({
    options: { iconSize: [0, 0], className: "block-label" },
    createIcon: function (old) {
      var div = L.DivIcon.prototype.createIcon.call(this, old);
      div.textContent = "";
      div.appendChild(el("span", null, this.options.name));
      return div;
    }
  });
  function loadBlocks(zoneId) {
    blockZones[zoneId] = "loading";
    fetch("/api/v1/zones/" + zoneId + "/blocks")
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
      .then(function (collection) {
        var list = [];
        L.geoJSON(collection, {
          pane: "blocks", interactive: false,
          style: { className: "block-outline", color: "#263238", weight: 1.2, opacity: 0.85, fill: false },
          onEachFeature: function (feature, layer) {
            list.push({ id: feature.id, name: feature.properties.name, center: layer.getBounds().getCenter() });
          }
        }).addTo(blockLayer);
        blockZones[zoneId] = list;
        updateBlockLabels();
      })
      .catch(function () { delete blockZones[zoneId]; });  // the next move tries again
  }
  function updateBlocks() {
    var container = map.getContainer();
    container.setAttribute("data-zoom", String(map.getZoom()));
    if (map.getZoom() < BLOCK_ZOOM) {
      if (map.hasLayer(blockLayer)) { map.removeLayer(blockLayer); map.removeLayer(blockLabels); }
      return;
    }
    if (!map.hasLayer(blockLayer)) { blockLayer.addTo(map); blockLabels.addTo(map); }
    var view = map.getBounds();
    (config.zoneIds || []).forEach(function (zoneId) {
      var bounds = config.zoneBounds && config.zoneBounds[zoneId];
      if (bounds && !view.intersects(L.latLngBounds(bounds))) return;
      if (!blockZones[zoneId]) loadBlocks(zoneId);
    });
    updateBlockLabels();
  }
  function updateBlockLabels() {
    if (!map.hasLayer(blockLabels)) return;
    var view = map.getBounds().pad(0.2), seen = {};
    Object.keys(blockZones).forEach(function (zoneId) {
      var list = blockZones[zoneId];
      if (!Array.isArray(list)) return;
      list.forEach(function (block) {
        if (!view.contains(block.center)) return;
        seen[block.id] = true;
        if (!labelMarkers[block.id]) {
          labelMarkers[block.id] = L.marker(block.center, {
            icon: new LabelIcon({ name: block.name }), interactive: false, keyboard: false, pane: "blockLabels"
          }).addTo(blockLabels);
        }
      });
    });
    Object.keys(labelMarkers).forEach(function (id) {
      if (!seen[id]) { blockLabels.removeLayer(labelMarkers[id]); delete labelMarkers[id]; }
    });
  }
  map.on("zoomend moveend", updateBlocks);

  Object.assign(M, { blockZones: blockZones, updateBlocks: updateBlocks });
})();
