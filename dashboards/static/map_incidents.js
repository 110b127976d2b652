// The live map's incidents: their markers, the popup that tells an incident's state and history,
// the server's suggestions for it (nearby duplicates, the nearest patrols) and whether the patrol
// sent to it is still out. What may be done with it is drawn by map_incident_actions.js.
(function () {
  "use strict";
  var M = window.RondaMap;
  var config = M.config, map = M.map, cluster = M.cluster, text = M.text, problems = M.problems;
  var el = M.el, row = M.row, when = M.when, fmt = M.fmt, ms = M.ms, ago = M.ago, agoNode = M.agoNode;
  var statusLabel = M.statusLabel, kindLabel = M.kindLabel, zoneLabel = M.zoneLabel, placeLabel = M.placeLabel;
  var reportedAt = M.reportedAt, keepFocus = M.keepFocus, api = M.api, MapIcon = M.MapIcon;
  var seesReporter = config.role === "police" || config.role === "admin";
  var OPEN = { reported: true, acknowledged: true, dispatched: true };
  // The moves the API allows from each open status (security/incidents.py NEXT_STATUSES).
  var NEXT = {
    reported: ["acknowledged", "dismissed", "duplicate"],
    acknowledged: ["dispatched", "dismissed", "duplicate"],
    dispatched: ["resolved", "dismissed", "duplicate"]
  };
  var incidents = {};    // id -> marker of an open incident on the map
  var latest = {};       // id -> newest view of every incident seen, closed ones too
  var boxes = {};        // id -> the incident popup's element, re-rendered in place
  var reporters = {};    // id -> the reporter named by the one-incident answer (only it names one)
  var histories = {};    // id -> [changes] | "failed"
  var suggestions = {};  // id -> {duplicates, patrols} | "failed"
  var asked = {};        // id -> {patrol, at}: the patrol assigned when the suggestions shown were asked, and when
  var asking = {};       // id -> {patrol, turn, at, done}: the last question for its suggestions
  var shownGone = {};    // id -> whether its marker was last drawn with "patrol ended"
  var windowStart = Date.now() - config.windowHours * 3600 * 1000;

  function overdue(data) {
    return data.status === "reported" && Date.now() - ms(reportedAt(data)) >= config.overdueMinutes * 60000;
  }
  // A dispatched incident whose patrol is no longer in the street. Who hears patrol events knows
  // the active patrols; a coordinator does not, and reads it from the incident's suggestions
  // (the server always lists the patrol already sent while it is active): missing, it has ended.
  function patrolGone(data) {
    if (!data || data.status !== "dispatched" || !data.assigned_patrol_id) return false;
    var patrolId = data.assigned_patrol_id;
    if (M.patrolLayer) return !M.patrols[patrolId];
    var found = suggestions[data.id], when = asked[data.id];
    if (!found || found === "failed" || !when || when.patrol !== patrolId) return false;  // not known (yet)
    return !(found.patrols || []).some(function (p) { return p.id === patrolId; });
  }
  function mayWork(data) {
    return !!config.canWork && (config.workZone === null || config.workZone === undefined ||
      config.workZone === data.zone_id);
  }
  function incidentLabel(data) {
    var parts = [kindLabel(data.kind), statusLabel(data.status), placeLabel(data), ago(reportedAt(data))];
    if (overdue(data)) parts.push(text.overdue);
    if (patrolGone(data)) parts.push(text.patrolEndedShort);
    return parts.join(", ");
  }
  function incidentIcon(data) {
    shownGone[data.id] = patrolGone(data);
    return new MapIcon({
      className: "map-icon incident-icon status-" + data.status + (overdue(data) ? " overdue" : "") +
        (shownGone[data.id] ? " patrol-ended" : ""),
      colour: config.kindColours[data.kind] || "#555", label: incidentLabel(data),
      attr: ["data-incident-id", data.id]
    });
  }

  // --- incidents -----------------------------------------------------------------------
  function visible(data) {
    if (!OPEN[data.status]) return false;
    if (config.kind && data.kind !== config.kind) return false;
    return !data.occurred_at || new Date(data.occurred_at).getTime() >= windowStart;
  }
  function fresher(old, data) {
    return !old || !old.updated_at || !data.updated_at || ms(data.updated_at) >= ms(old.updated_at);
  }

  function showIncident(data) {
    var old = latest[data.id];
    if (!fresher(old, data)) return;  // an answer or event older than what is shown
    latest[data.id] = data;
    var marker = incidents[data.id];
    if (!visible(data)) {
      if (marker) { cluster.removeLayer(marker); delete incidents[data.id]; }
      M.scheduleQueue();
      return;
    }
    if (!marker) {
      marker = L.marker([data.lat, data.lon], { icon: incidentIcon(data), keyboard: true, riseOnHover: true });
      marker.options.incidentId = data.id;
      boxes[data.id] = boxes[data.id] || M.popupBox("incident-popup", "data-incident-id", data.id);
      marker.bindPopup(boxes[data.id], M.popupOptions());
      incidents[data.id] = marker;
      cluster.addLayer(marker);
    } else {
      // markercluster moves a marker by taking it off and back (closing and reopening its popup):
      // only when it really moved.
      var at = marker.getLatLng();
      if (at.lat !== data.lat || at.lng !== data.lon) marker.setLatLng([data.lat, data.lon]);
      marker.setIcon(incidentIcon(data));
    }
    renderIncident(data.id);
    if (M.openIncidentId() === data.id && (!old || old.updated_at !== data.updated_at || old.status !== data.status)) {
      loadDetails(data.id, false);  // moved on while open: its history and what it may do now
    } else if (watchesBySuggestions(data) && !(asking[data.id] && asking[data.id].patrol === data.assigned_patrol_id)) {
      loadSuggestions(data.id);  // is the patrol it was sent to still out?
    }
    M.scheduleQueue();
  }
  // Without patrol events (a coordinator), a dispatched incident's suggestions say whether its patrol is out.
  function watchesBySuggestions(data) {
    return !M.patrolLayer && data.status === "dispatched" && !!data.assigned_patrol_id && mayWork(data);
  }
  // After what is known of the patrols changed: the marker, the popup and the queue say it again.
  function patrolNewsFor(id) {
    var data = latest[id], marker = incidents[id];
    if (data && marker && patrolGone(data) !== !!shownGone[id]) { marker.setIcon(incidentIcon(data)); M.scheduleQueue(); }
    renderIncident(id);
  }

  function renderIncident(id) {
    var data = latest[id], box = boxes[id];
    if (!data || !box) return;
    keepFocus(box, function () {
      box.textContent = "";
      var head = el("div", "popup-head");
      head.appendChild(el("strong", "kind", kindLabel(data.kind)));
      head.appendChild(el("span", "badge status-" + data.status, statusLabel(data.status)));
      if (overdue(data)) head.appendChild(el("span", "badge overdue", text.overdue));
      var gone = patrolGone(data);
      if (gone) head.appendChild(el("span", "badge patrol-ended", text.patrolEndedShort));
      box.appendChild(head);
      var dl = el("dl");
      if (data.severity) row(dl, text.severity, config.severities[data.severity] || data.severity);
      row(dl, text.sinceReport, [agoNode(reportedAt(data)), " (" + when(reportedAt(data)) + ")"]);
      row(dl, text.time, when(data.occurred_at));
      row(dl, text.status, statusLabel(data.status));
      row(dl, text.zone, zoneLabel(data.zone_id));
      if (data.block_id) row(dl, text.block, data.block_name || data.block_id);
      if (data.description) row(dl, text.description, data.description);
      var reporter = reporters[id];
      if (reporter) {
        var name = [reporter.display_name || reporter.username];
        // Only the administration ever receives the name of an anonymous report: say so beside it.
        if (data.anonymous) name.push(el("strong", "anonymous-warning", text.anonymousWarning));
        row(dl, text.reporter, name);
      } else if (data.anonymous && seesReporter) row(dl, text.reporter, text.anonymous);
      if (data.status === "dispatched" && data.assigned_patrol_id) {
        row(dl, text.assignedPatrol, data.assigned_patrol_name || fmt(text.patrolNo, { id: data.assigned_patrol_id }));
      }
      if (data.accuracy) row(dl, text.accuracy, "± " + Math.round(data.accuracy) + " m");
      if (data.location_precision && data.location_precision !== "exact") row(dl, "", text.approximate);
      box.appendChild(dl);
      if (gone) {
        var warning = el("p", "patrol-ended-warning");
        warning.appendChild(el("strong", null, text.patrolEnded));
        if (mayWork(data)) warning.appendChild(el("span", "hint", text.patrolEndedHint));
        box.appendChild(warning);
      }
      if (mayWork(data) && NEXT[data.status]) box.appendChild(M.incidentActions(id, data));
      if (problems["i" + id]) {
        var problem = el("p", "problem", problems["i" + id]);
        problem.setAttribute("role", "alert");
        box.appendChild(problem);
      }
      box.appendChild(historySection(id, data));
    });
    var marker = incidents[id];
    if (marker && marker.isPopupOpen()) M.relayout(marker.getPopup());
  }

  // The one-incident answer (the only one that may name a reporter), its history and, for who
  // may move it on, the server's suggestions: nearby duplicates and the nearest active patrols.
  function loadDetails(id, opened) {
    var data = latest[id];
    if (!data) return;
    var path = "/api/v1/incidents/" + id;
    if (opened) {
      api("GET", path).then(function (answer) {
        if (!answer.ok || !answer.body) return;
        if (answer.body.reporter) reporters[id] = answer.body.reporter;
        showIncident(answer.body);
        renderIncident(id);
      });
    }
    api("GET", path + "/history").then(function (answer) {
      histories[id] = answer.ok && answer.body ? answer.body.items || [] : "failed";
      renderIncident(id);
    });
    loadSuggestions(id);
  }
  function loadSuggestions(id) {
    var data = latest[id];
    if (!data || !mayWork(data) || !NEXT[data.status]) return;
    var patrolId = data.assigned_patrol_id || null, turn = (asking[id] ? asking[id].turn : 0) + 1;
    asking[id] = { patrol: patrolId, turn: turn, at: Date.now() };
    api("GET", "/api/v1/incidents/" + id + "/suggestions").then(function (answer) {
      if (!asking[id] || asking[id].turn !== turn) return;  // a newer question is on its way
      asking[id].done = true;
      suggestions[id] = answer.ok && answer.body ? answer.body : "failed";
      asked[id] = { patrol: patrolId, at: Date.now() };
      patrolNewsFor(id);
    });
  }

  function historySection(id, data) {
    var section = el("section", "history");
    section.appendChild(el("h3", null, text.history));
    var items = histories[id];
    if (items === undefined) { section.appendChild(el("p", "muted", text.loading)); return section; }
    if (items === "failed") { section.appendChild(el("p", "muted", text.historyFailed)); return section; }
    var list = el("ol", "history-list");
    function entry(at, words) {
      var li = el("li");
      var stamp = el("time", null, when(at));
      if (at) stamp.setAttribute("datetime", at);
      li.appendChild(stamp);
      li.appendChild(document.createTextNode(" · " + words));
      list.appendChild(li);
      return li;
    }
    entry(reportedAt(data), text.reportedEntry);
    items.forEach(function (item) {
      var li = entry(item.at, (config.roles[item.by_role] || item.by_role || "") + ": " +
        statusLabel(item.from_status) + " → " + statusLabel(item.to_status));
      if (item.assigned_patrol_id) {
        li.appendChild(el("div", "patrol", text.assignedPatrol + ": " +
          (item.assigned_patrol_name || fmt(text.patrolNo, { id: item.assigned_patrol_id }))));
      }
      if (item.note) li.appendChild(el("div", "note", item.note));
    });
    section.appendChild(list);
    return section;
  }

  function revealIncident(id) {
    var marker = incidents[id];
    if (!marker) return;
    cluster.zoomToShowLayer(marker, function () {
      map.setView(marker.getLatLng(), map.getZoom(), { animate: false });
      marker.openPopup();
      M.focusPopup();
    });
  }

  // The clock's turn ("hace N min", overdue marks): every marker says it again, and a coordinator's
  // map asks again whether a dispatched patrol is out.
  var RECHECK_MS = 60000;  // how often a coordinator's map asks again whether a dispatched patrol is out
  function tickIncidents() {
    Object.keys(incidents).forEach(function (id) {
      var data = latest[id], last = asking[id];
      incidents[id].setIcon(incidentIcon(data));
      if (watchesBySuggestions(data) && (!last || Date.now() - last.at >= RECHECK_MS)) {
        loadSuggestions(Number(id));
      }
    });
  }

  Object.assign(M, {
    NEXT: NEXT, incidents: incidents, latest: latest, boxes: boxes, suggestions: suggestions,
    overdue: overdue, patrolGone: patrolGone, showIncident: showIncident, patrolNewsFor: patrolNewsFor,
    renderIncident: renderIncident, loadDetails: loadDetails, revealIncident: revealIncident,
    tickIncidents: tickIncidents
  });
})();
