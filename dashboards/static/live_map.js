// Ronda live layer: finds the folium map, fills its marker cluster from the page data and
// keeps it current from Socket.IO events; catches up from /api/v1/events after a disconnection.
// Every text from users goes into the page with textContent, never as HTML.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("ronda-config").textContent);
  var map = window[config.map];
  var cluster = window[config.cluster];
  var text = config.text;
  var isPolice = config.role === "police" || config.role === "admin";
  var OPEN = { reported: true, acknowledged: true, dispatched: true };
  var incidents = {};  // id -> marker
  var alarms = {};     // id -> {marker, data}
  var windowStart = Date.now() - config.windowHours * 3600 * 1000;
  var timeFormat = new Intl.DateTimeFormat(config.locale, {
    timeZone: "America/Lima", dateStyle: "short", timeStyle: "short"
  });
  map.createPane("alarms").style.zIndex = 690;  // above markers (600) and popups stay above (700)

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = String(content);
    return node;
  }
  function row(dl, label, value) {
    dl.appendChild(el("dt", null, label));
    dl.appendChild(el("dd", null, value));
  }
  function when(iso) { return iso ? timeFormat.format(new Date(iso)) : ""; }

  function incidentPopup(data) {
    var box = el("div", "popup");
    box.appendChild(el("div", "kind", config.kinds[data.kind] || data.kind));
    var dl = el("dl");
    row(dl, text.time, when(data.occurred_at));
    row(dl, text.status, config.statuses[data.status] || data.status);
    row(dl, text.zone, config.zoneNames[data.zone_id] || data.zone_id);
    if (data.block_id) row(dl, text.block, data.block_name || data.block_id);
    if (data.description) row(dl, text.description, data.description);
    if (data.reporter) row(dl, text.reporter, data.reporter.display_name || data.reporter.username);
    else if (data.anonymous && isPolice) row(dl, text.reporter, text.anonymous);
    if (data.accuracy) row(dl, text.accuracy, "± " + Math.round(data.accuracy) + " m");
    if (data.location_precision && data.location_precision !== "exact") row(dl, "", text.approximate);
    box.appendChild(dl);
    return box;
  }

  function visible(data) {
    if (!OPEN[data.status]) return false;
    if (config.kind && data.kind !== config.kind) return false;
    return !data.occurred_at || new Date(data.occurred_at).getTime() >= windowStart;
  }

  function showIncident(data) {
    var marker = incidents[data.id];
    if (!visible(data)) {
      if (marker) { cluster.removeLayer(marker); delete incidents[data.id]; }
      return;
    }
    var colour = config.kindColours[data.kind] || "#555";
    if (!marker) {
      marker = L.circleMarker([data.lat, data.lon], {
        radius: 9, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 0.95
      });
      marker.options.incidentId = data.id;
      incidents[data.id] = marker;
      cluster.addLayer(marker);
    } else {
      marker.setLatLng([data.lat, data.lon]);
      marker.setStyle({ fillColor: colour });
    }
    marker.options.status = data.status;
    marker.bindPopup(incidentPopup(data));
    var el_ = marker.getElement && marker.getElement();
    if (el_) el_.setAttribute("data-incident-id", data.id);
  }

  // --- alarms --------------------------------------------------------------------------
  var banner = document.getElementById("alarm-banner");
  function beep() {
    try {
      var audio = new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.35, 0.7].forEach(function (start) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.frequency.value = 880; osc.type = "square"; gain.gain.value = 0.15;
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(audio.currentTime + start); osc.stop(audio.currentTime + start + 0.25);
      });
    } catch (e) { /* no audio device: the banner is enough */ }
  }
  // An alarm pressed with no signal reaches the screen late: say when it was really pressed.
  // An old one (an outbox sent the next day) is for the record, not an emergency now.
  function lateText(alarm) {
    var minutes = Math.max(1, Math.round((new Date(alarm.raised_at) - new Date(alarm.pressed_at)) / 60000));
    var delay = minutes < 120 ? minutes + " min" : Math.round(minutes / 60) + " h";
    return text.late.replace("%(time)s", when(alarm.pressed_at)).replace("%(delay)s", delay);
  }
  function renderBanner() {
    banner.textContent = "";
    var raised = Object.keys(alarms).map(function (id) { return alarms[id].data; })
      .filter(function (a) { return a.status === "raised"; });
    if (!isPolice || raised.length === 0) { banner.hidden = true; return; }
    raised.forEach(function (a) {
      var line = el("div", "alarm-row");
      line.setAttribute("data-alarm-id", a.id);
      line.appendChild(el("span", null, text.alarmIn + " " + (config.zoneNames[a.zone_id] || a.zone_id) +
        " · " + (a.block_name || text.block + " " + a.block_id) + " · " + when(a.raised_at)));
      if (a.late) line.appendChild(el("span", "late", lateText(a)));
      if (a.escalated_at) line.appendChild(el("span", "escalated", text.escalated));
      var button = el("button", "attend", text.attend);
      button.type = "button";
      button.addEventListener("click", function () { attend(a.id, button); });
      line.appendChild(button);
      banner.appendChild(line);
    });
    banner.hidden = false;
  }
  function attend(id, button) {
    button.disabled = true; button.textContent = text.attending;
    fetch("/api/v1/alarms/" + id + "/acknowledge", {
      method: "POST", headers: { "Authorization": "Bearer " + config.token }
    }).then(function (response) {
      if (!response.ok) throw new Error(response.status);
      return response.json();
    }).then(showAlarm).catch(function () {
      button.disabled = false; button.textContent = text.attend; window.alert(text.attendFailed);
    });
  }
  function showAlarm(data) {
    var known = alarms[data.id];
    if (data.status === "resolved") {
      if (known) { map.removeLayer(known.marker); delete alarms[data.id]; }
      renderBanner();
      return;
    }
    if (!known) {
      var icon = L.divIcon({ className: "alarm-icon", html: "!", iconSize: [30, 30] });
      var marker = L.marker([data.lat, data.lon], { icon: icon, pane: "alarms", zIndexOffset: 10000 });
      marker.addTo(map);
      known = alarms[data.id] = { marker: marker, data: data };
    }
    known.data = data;
    var box = el("div", "popup");
    box.appendChild(el("div", "kind", text.alarm));
    var dl = el("dl");
    row(dl, text.status, config.statuses[data.status] || data.status);
    row(dl, text.time, when(data.raised_at));
    if (data.late) row(dl, text.pressed, lateText(data));
    row(dl, text.presses, data.trigger_count);
    box.appendChild(dl);
    known.marker.bindPopup(box);
    renderBanner();
  }

  // --- patrols (police and admins only: the server sends them nobody else) ------------------
  var patrolLayer = config.patrolsLayer ? window[config.patrolsLayer] : null;
  var patrols = {};  // id -> {data, points: [[t, lat, lon]], marker, line}
  var TRACK_MS = 15 * 60 * 1000;
  function patrolPopup(data) {
    var box = el("div", "popup");
    box.appendChild(el("div", "kind", text.patrol));
    var dl = el("dl");
    if (data.committee_name) row(dl, text.committee, data.committee_name);
    row(dl, text.zone, config.zoneNames[data.zone_id] || data.zone_id);
    if (data.members && data.members.length) {
      row(dl, text.members, data.members.map(function (m) { return m.display_name || m.username; }).join(", "));
    }
    if (data.started_at) row(dl, text.since, when(data.started_at));
    if (data.last_position) row(dl, text.lastPosition, when(data.last_position.t));
    box.appendChild(dl);
    return box;
  }
  function drawPatrol(known) {
    var since = Date.now() - TRACK_MS;
    known.points = known.points.filter(function (p) { return new Date(p[0]).getTime() >= since; });
    var last = known.data.last_position;
    if (!last) return;  // started, but no position yet
    if (!known.marker) {
      var icon = L.divIcon({ className: "patrol-icon", html: "P", iconSize: [24, 24] });
      known.line = L.polyline([], { color: "#1f5f99", weight: 4, opacity: 0.75, interactive: false }).addTo(patrolLayer);
      known.marker = L.marker([last.lat, last.lon], { icon: icon, zIndexOffset: 5000 }).addTo(patrolLayer);
    }
    known.marker.setLatLng([last.lat, last.lon]);
    known.line.setLatLngs(known.points.map(function (p) { return [p[1], p[2]]; }));
    known.marker.bindPopup(patrolPopup(known.data));
    var node = known.marker.getElement && known.marker.getElement();
    if (node) node.setAttribute("data-patrol-id", known.data.id);
  }
  var endedPatrols = {};  // id -> true: a late position push must not bring an ended patrol back
  function removePatrol(id) {
    endedPatrols[id] = true;
    var known = patrols[id];
    if (!known) return;
    if (known.marker) { patrolLayer.removeLayer(known.marker); patrolLayer.removeLayer(known.line); }
    delete patrols[id];
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
    var known = patrols[data.id] || (patrols[data.id] = { data: data, points: [] });
    var last = known.data.last_position;
    known.data = data;
    if (!data.last_position) known.data.last_position = last;  // an older record must not hide a newer point
    addPoints(known, data.track);
    drawPatrol(known);
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

  // --- events ----------------------------------------------------------------------------
  // Live events and the catch-up answer may interleave (a slow 3G answer, several server
  // processes): each event is applied once, and an entity never goes back to an older state.
  var applied = {};        // seq -> true
  var entitySeq = {};      // "i12" / "a7" -> seq of the state shown
  var caughtUpTo = config.lastSeq;  // moved only by the catch-up answers
  function apply(event) {
    if (applied[event.seq]) return;
    applied[event.seq] = true;
    var isIncident = event.type.indexOf("incident_") === 0;
    var isPatrol = event.type.indexOf("patrol_") === 0;
    var key = (isIncident ? "i" : isPatrol ? "p" : "a") + event.data.id;
    if ((entitySeq[key] || 0) > event.seq) return;  // a newer state is already shown
    entitySeq[key] = event.seq;
    if (isIncident) showIncident(event.data);
    else if (isPatrol) showPatrol(event.data);
    else {
      var isNew = event.type === "alarm_raised" && !alarms[event.data.id];
      showAlarm(event.data);
      if (isNew && isPolice) beep();
    }
  }
  var status = document.getElementById("connection");
  function setState(state) {
    status.className = "connection " + state;
    status.textContent = state === "live" ? text.live : text.reconnecting;
    document.body.setAttribute("data-connection", state);
  }
  function expired() {
    // The page's token outlived the shift (or the user was signed out): a reload signs it in
    // again with the session cookie, or shows the sign-in page.
    window.location.reload();
  }
  function catchUp() {
    return fetch("/api/v1/events?since=" + caughtUpTo, { headers: { "Authorization": "Bearer " + config.token } })
      .then(function (response) {
        if (response.status === 401) { expired(); throw new Error("expired"); }
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (page) {
        (page.events || []).forEach(apply);
        caughtUpTo = Math.max(caughtUpTo, page.last_seq);
        if (page.has_more) return catchUp();
      })
      .catch(function () { /* the next reconnect tries again */ });
  }

  config.incidents.forEach(showIncident);
  config.alarms.forEach(showAlarm);
  config.patrols.forEach(showPatrol);
  var socket = io({ auth: { token: config.token }, transports: ["websocket", "polling"] });
  ["incident_reported", "incident_updated", "alarm_raised", "alarm_acknowledged", "alarm_escalated",
   "alarm_resolved", "patrol_started", "patrol_ended"].forEach(function (name) { socket.on(name, apply); });
  socket.on("patrol_moved", function (event) { movePatrol(event.data); });
  var connectedBefore = false;
  socket.on("connect", function () {
    setState("live");
    catchUp();  // whatever happened since the page was made, or while we were away
    if (connectedBefore) refreshPatrols();
    connectedBefore = true;
  });
  socket.on("disconnect", function () { setState("reconnecting"); });
  socket.on("connect_error", function (error) {
    setState("reconnecting");
    if (error && error.message === "unauthorized") expired();
  });
  window.ronda = {
    incidents: incidents, alarms: alarms, patrols: patrols, socket: socket,
    caughtUpTo: function () { return caughtUpTo; }
  };
})();
