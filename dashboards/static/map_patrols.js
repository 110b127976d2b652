// The live map's patrols: where each active patrol is and its track of the last 15 minutes.
(function () {
  "use strict";
  var M = window.RondaMap;
  var config = M.config, text = M.text, el = M.el, row = M.row, when = M.when, zoneLabel = M.zoneLabel;
  var MapIcon = M.MapIcon;

  // --- patrols (police, serenazgo and admins only: the server sends them nobody else) -------
  var patrolLayer = config.patrolsLayer ? window[config.patrolsLayer] : null;
  var patrols = {};  // id -> {data, points: [[t, lat, lon]], marker, line}
  var TRACK_MS = 15 * 60 * 1000;
  function patrolPopup(data) {
    var box = M.popupBox("patrol-popup", "data-patrol-id", data.id);
    box.appendChild(el("div", "kind", text.patrol));
    var dl = el("dl");
    if (data.committee_name) row(dl, text.committee, data.committee_name);
    row(dl, text.zone, zoneLabel(data.zone_id));
    if (data.members && data.members.length) {
      row(dl, text.members, data.members.map(function (m) { return m.display_name || m.username; }).join(", "));
    }
    if (data.started_at) row(dl, text.since, when(data.started_at));
    if (data.last_position) row(dl, text.lastPosition, when(data.last_position.t));
    box.appendChild(dl);
    return box;
  }
  function patrolIcon(data) {
    return new MapIcon({
      className: "map-icon patrol-icon", symbol: "P", attr: ["data-patrol-id", data.id],
      label: text.patrol + (data.committee_name ? ", " + data.committee_name : "")
    });
  }
  function drawPatrol(known) {
    var since = Date.now() - TRACK_MS;
    known.points = known.points.filter(function (p) { return new Date(p[0]).getTime() >= since; });
    var last = known.data.last_position;
    if (!last) return;  // started, but no position yet
    if (!known.marker) {
      known.line = L.polyline([], { color: "#1f5f99", weight: 4, opacity: 0.75, interactive: false }).addTo(patrolLayer);
      known.marker = L.marker([last.lat, last.lon], { icon: patrolIcon(known.data), zIndexOffset: 5000, keyboard: true });
      known.marker.options.patrolId = known.data.id;
      known.marker.addTo(patrolLayer);
    }
    known.marker.setLatLng([last.lat, last.lon]);
    known.line.setLatLngs(known.points.map(function (p) { return [p[1], p[2]]; }));
    known.marker.bindPopup(patrolPopup(known.data), M.popupOptions());
  }
  var endedPatrols = {};  // id -> true: a late position push must not bring an ended patrol back
  function removePatrol(id) {
    endedPatrols[id] = true;
    var known = patrols[id];
    if (!known) return;
    if (known.marker) { patrolLayer.removeLayer(known.marker); patrolLayer.removeLayer(known.line); }
    delete patrols[id];
    patrolStateChanged(id);
  }
  // A patrol came or went: the incidents sent to it say whether it is still out.
  function patrolStateChanged(patrolId) {
    var latest = M.latest;
    Object.keys(M.incidents).forEach(function (id) {
      if (latest[id] && latest[id].assigned_patrol_id === Number(patrolId)) M.patrolNewsFor(id);
    });
  }
  function addPoints(known, points) {
    var seen = {};
    known.points.concat(points || []).forEach(function (p) { seen[p[0]] = p; });
    known.points = Object.keys(seen).sort().map(function (t) { return seen[t]; });
  }
  function showPatrol(data) {
    if (!patrolLayer) return;
    if (data.status === "ended") { removePatrol(data.id); return; }
    delete endedPatrols[data.id];  // a refresh says it is active (a server-closed shift corrected, say)
    var isNew = !patrols[data.id];
    var known = patrols[data.id] || (patrols[data.id] = { data: data, points: [] });
    var last = known.data.last_position;
    known.data = data;
    if (!data.last_position) known.data.last_position = last;  // an older record must not hide a newer point
    addPoints(known, data.track);
    drawPatrol(known);
    if (isNew) patrolStateChanged(data.id);
  }
  function movePatrol(moved) {
    // Only patrols the map knows are active (from the page, patrol_started or a refresh) move.
    var known = patrols[moved.id];
    if (!patrolLayer || !known || endedPatrols[moved.id]) return;
    var last = known.data.last_position;
    if (moved.last_position && (!last || moved.last_position.t >= last.t)) known.data.last_position = moved.last_position;
    addPoints(known, moved.points);
    drawPatrol(known);
  }
  function refreshPatrols() {
    // Positions are not in the event log: after a disconnection, read the patrols again.
    if (!patrolLayer) return Promise.resolve();
    return fetch("/api/v1/patrols?active=true&track=true", { headers: { "Authorization": "Bearer " + config.token } })
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
      .then(function (list) {
        var active = {};
        list.forEach(function (data) { active[data.id] = true; showPatrol(data); });
        Object.keys(patrols).forEach(function (id) { if (!active[id]) removePatrol(id); });
      })
      .catch(function () { /* the next reconnect tries again */ });
  }
  if (patrolLayer) setInterval(function () { Object.keys(patrols).forEach(function (id) { drawPatrol(patrols[id]); }); }, 60000);

  Object.assign(M, {
    patrols: patrols, patrolLayer: patrolLayer, showPatrol: showPatrol, movePatrol: movePatrol,
    refreshPatrols: refreshPatrols
  });
})();
