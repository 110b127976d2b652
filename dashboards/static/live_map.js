// Ronda live map and operations console. Finds the folium map, fills its marker cluster from the
// page data and keeps it current from Socket.IO events (catching up from /api/v1/events after a
// disconnection). Incident and alarm popups carry the actions the viewer may take and the
// incident's history; operators get a queue of what waits for attention; at street zoom the
// blocks of Ronda's own data are drawn, so the map works without tiles.
// Every text from users goes into the page with textContent, never as HTML.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("ronda-config").textContent);
  var map = window[config.map];
  var cluster = window[config.cluster];
  var text = config.text;
  var seesReporter = config.role === "police" || config.role === "admin";
  var hearsAlarms = !!(config.canAttend || config.canResolveAlarms);
  var OPEN = { reported: true, acknowledged: true, dispatched: true };
  // The moves the API allows from each open status (security/incidents.py NEXT_STATUSES).
  var NEXT = {
    reported: ["acknowledged", "dismissed", "duplicate"],
    acknowledged: ["dispatched", "dismissed", "duplicate"],
    dispatched: ["resolved", "dismissed", "duplicate"]
  };
  var ALARM_RANK = { raised: 0, acknowledged: 1, resolved: 2 };
  var incidents = {};    // id -> marker of an open incident on the map
  var latest = {};       // id -> newest view of every incident seen, closed ones too
  var boxes = {};        // id -> the incident popup's element, re-rendered in place
  var reporters = {};    // id -> the reporter named by the one-incident answer (only it names one)
  var histories = {};    // id -> [changes] | "failed"
  var suggestions = {};  // id -> {duplicates, patrols} | "failed"
  var choices = {};      // id -> patrol chosen in the dispatch list
  var rechoices = {};    // id -> patrol chosen in the re-dispatch list
  var asked = {};        // id -> {patrol, at}: the patrol assigned when the suggestions shown were asked, and when
  var asking = {};       // id -> {patrol, turn, at, done}: the last question for its suggestions
  var typedOriginal = {}; // id -> number typed as the original of a duplicate
  var fieldProblems = {}; // "i12" -> why the typed original was refused (shown beside its field)
  var shownGone = {};    // id -> whether its marker was last drawn with "patrol ended"
  var drafts = {};       // "i12" / "a7" -> note being typed
  var busy = {};         // "i12" / "a7" -> the action on its way
  var problems = {};     // "i12" / "a7" -> why the last action was refused
  var alarms = {};       // id -> {marker, data, box}
  var closedAlarms = {}; // id -> true: a late answer must not bring a resolved alarm back
  var openIncidentId = null;
  var openedPopup = null;
  var pendingReturn = null;  // where focus goes back when the popup being opened closes
  var windowStart = Date.now() - config.windowHours * 3600 * 1000;
  var timeFormat = new Intl.DateTimeFormat(config.locale, {
    timeZone: "America/Lima", dateStyle: "short", timeStyle: "short"
  });
  var numberFormat = new Intl.NumberFormat(config.locale, { maximumFractionDigits: 1 });
  map.createPane("alarms").style.zIndex = 690;  // above markers (600) and popups stay above (700)
  map.createPane("blocks").style.zIndex = 410;  // above the zones (400), below the markers
  var labelPane = map.createPane("blockLabels");
  labelPane.style.zIndex = 420;
  labelPane.style.pointerEvents = "none";

  // --- small helpers -------------------------------------------------------------------
  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = String(content);
    return node;
  }
  function row(dl, label, value) {
    dl.appendChild(el("dt", null, label));
    var dd = el("dd");
    (Array.isArray(value) ? value : [value]).forEach(function (part) {
      dd.appendChild(part instanceof Node ? part : document.createTextNode(String(part)));
    });
    dl.appendChild(dd);
  }
  function when(iso) { return iso ? timeFormat.format(new Date(iso)) : ""; }
  function fmt(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (_, name) {
      return values[name] === undefined || values[name] === null ? "" : String(values[name]);
    });
  }
  function ms(iso) { return iso ? new Date(iso).getTime() : 0; }
  function minutesSince(iso) { return Math.max(0, Math.floor((Date.now() - ms(iso)) / 60000)); }
  function ago(iso) {
    var m = minutesSince(iso);
    if (m < 1) return text.agoNow;
    if (m < 60) return fmt(text.agoMinutes, { n: m });
    if (m < 48 * 60) return fmt(text.agoHours, { h: Math.floor(m / 60), m: m % 60 });
    return fmt(text.agoDays, { n: Math.floor(m / 1440) });
  }
  function agoNode(iso) {  // refreshed by the ticker
    var node = el("span", "ago", ago(iso));
    node.setAttribute("data-since", iso);
    return node;
  }
  function metres(m) {
    if (m === null || m === undefined) return text.noPosition;
    return m < 1000 ? Math.round(m) + " m" : numberFormat.format(m / 1000) + " km";
  }
  function statusLabel(status) { return config.statuses[status] || status; }
  function kindLabel(kind) { return config.kinds[kind] || kind; }
  function zoneLabel(zoneId) { return config.zoneNames[zoneId] || String(zoneId); }
  function placeLabel(data) { return data.block_name || zoneLabel(data.zone_id); }
  function reportedAt(data) { return data.reported_at || data.occurred_at; }
  function overdue(data) {
    return data.status === "reported" && Date.now() - ms(reportedAt(data)) >= config.overdueMinutes * 60000;
  }
  // A dispatched incident whose patrol is no longer in the street. Who hears patrol events knows
  // the active patrols; a coordinator does not, and reads it from the incident's suggestions
  // (the server always lists the patrol already sent while it is active): missing, it has ended.
  function patrolGone(data) {
    if (!data || data.status !== "dispatched" || !data.assigned_patrol_id) return false;
    var patrolId = data.assigned_patrol_id;
    if (patrolLayer) return !patrols[patrolId];
    var found = suggestions[data.id], when = asked[data.id];
    if (!found || found === "failed" || !when || when.patrol !== patrolId) return false;  // not known (yet)
    return !(found.patrols || []).some(function (p) { return p.id === patrolId; });
  }
  function mayWork(data) {
    return !!config.canWork && (config.workZone === null || config.workZone === undefined ||
      config.workZone === data.zone_id);
  }
  function mayCloseAlarm(alarm) {
    return !!config.canResolveAlarms && (alarm.status === "raised" || alarm.status === "acknowledged") &&
      (config.workZone === null || config.workZone === undefined || config.workZone === alarm.zone_id);
  }
  function button(label, className, key, onClick) {
    var node = el("button", className, label);
    node.type = "button";
    if (key) node.setAttribute("data-key", key);
    node.addEventListener("click", onClick);
    return node;
  }
  // Re-render `container` without losing what the person was doing in it: the focused control
  // (found again by its data-key) and the caret in a note.
  function keepFocus(container, render) {
    var active = document.activeElement;
    var key = active && active !== container && container.contains(active) ? active.getAttribute("data-key") : null;
    var start = key && typeof active.selectionStart === "number" ? active.selectionStart : null;
    var end = start !== null ? active.selectionEnd : null;
    render();
    if (!key) return;
    var again = container.querySelector('[data-key="' + key + '"]');
    if (!again) { if (container.isConnected && container.tabIndex === -1) container.focus({ preventScroll: true }); return; }
    if (again !== document.activeElement) again.focus({ preventScroll: true });
    if (start !== null && again.setSelectionRange) {
      try { again.setSelectionRange(start, end); } catch (e) { /* not a text field any more */ }
    }
  }
  // Re-render after the click that asked for it has finished: a button taken out of the page in
  // the middle of its click reads to Leaflet as a click on the map, which closes the popup.
  function later(run) { setTimeout(run, 0); }
  var toast = document.getElementById("console-status");
  var toastTimer = null;
  function announce(message) {
    if (!toast) return;
    toast.textContent = message;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.hidden = true; }, 5000);
  }

  // --- the API -------------------------------------------------------------------------
  function api(method, path, body) {
    var options = { method: method, headers: { "Authorization": "Bearer " + config.token } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      if (response.status === 401) expired();
      return response.json().catch(function () { return null; }).then(function (json) {
        return { ok: response.ok, status: response.status, body: json };
      });
    }, function () { return { ok: false, status: 0, body: null, network: true }; });
  }
  // What to tell a person when the API refused: its own message (statuses in words, never a code),
  // the refused fields, and for a clash the state it is in now and where it may go.
  function problemText(answer, fallback) {
    if (answer.network) return text.networkError;
    var body = answer.body || {};
    if (!body.message) return fallback || text.actionFailed;
    var parts = [String(body.message).replace(/«(\w+)»/g, function (whole, code) {
      return config.statuses[code] ? "«" + config.statuses[code] + "»" : whole;
    })];
    (body.fields || []).forEach(function (field) { if (field.problem) parts.push(field.problem); });
    if (body.current_status) {
      parts.push(fmt(text.currentStatus, { status: statusLabel(body.current_status) }));
      parts.push(body.allowed && body.allowed.length
        ? fmt(text.allowedNext, { allowed: body.allowed.map(statusLabel).join(", ") })
        : text.noneAllowed);
    }
    return parts.join(" ");
  }

  // --- map icons: focusable elements with a name (Leaflet gives them role=button, tabindex=0) ----
  var MapIcon = L.DivIcon.extend({
    options: { iconSize: [44, 44], className: "map-icon", label: "", colour: null, symbol: null, attr: null },
    createIcon: function (old) {
      var div = L.DivIcon.prototype.createIcon.call(this, old);
      var o = this.options;
      var dot = el("span", "dot", o.symbol);
      if (o.colour) dot.style.backgroundColor = o.colour;
      div.textContent = "";
      div.appendChild(dot);
      div.setAttribute("aria-label", o.label);
      div.title = o.label;
      if (o.attr) div.setAttribute(o.attr[0], o.attr[1]);
      return div;
    }
  });
  var ClusterIcon = L.DivIcon.extend({
    createIcon: function (old) {
      var div = L.DivIcon.prototype.createIcon.call(this, old);
      var group = this.options.group;
      div.textContent = "";
      var inner = el("div");
      inner.appendChild(el("span", null, this.options.count));
      div.appendChild(inner);
      div.setAttribute("aria-label", this.options.label);
      div.addEventListener("keydown", function (event) {
        if (event.key !== "Enter" && event.key !== " ") return;
        event.preventDefault();
        event.stopPropagation();
        if (map.getZoom() >= map.getMaxZoom()) group.spiderfy();
        else group.zoomToBounds({ padding: [40, 40] });
        map.getContainer().focus({ preventScroll: true });  // Tab goes on to the markers it opened
      });
      return div;
    }
  });
  cluster.options.iconCreateFunction = function (group) {
    var count = group.getChildCount();
    var size = count < 10 ? "small" : count < 100 ? "medium" : "large";
    return new ClusterIcon({
      className: "marker-cluster marker-cluster-" + size, iconSize: L.point(44, 44),
      count: count, group: group, label: fmt(text.clusterLabel, { n: count })
    });
  };
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
  function alarmLabel(data) {
    var status = config.alarmStatuses[data.status] || statusLabel(data.status);
    var parts = [text.alarm, status, data.block_name || zoneLabel(data.zone_id), ago(data.raised_at)];
    if (data.escalated_at && data.status === "raised") parts.push(text.escalated);
    return parts.join(", ");
  }
  function alarmIcon(data) {
    return new MapIcon({
      className: "map-icon alarm-icon" + (data.escalated_at && data.status === "raised" ? " escalated" : ""),
      symbol: "!", label: alarmLabel(data), attr: ["data-alarm-id", data.id]
    });
  }
  // How far the map's own controls reach into it from the top and the bottom: Leaflet draws them
  // above popups, so a popup kept clear of them never hides its close button under the layers button.
  function controlMargins() {
    var box = map.getContainer().getBoundingClientRect(), top = 0, bottom = 0;
    Array.prototype.forEach.call(map.getContainer().querySelectorAll(".leaflet-control"), function (control) {
      var r = control.getBoundingClientRect();
      if (!r.height) return;
      if (control.parentNode.classList.contains("leaflet-top")) top = Math.max(top, r.bottom - box.top);
      else bottom = Math.max(bottom, box.bottom - r.top);
    });
    return { top: Math.min(top, box.height / 3), bottom: Math.min(bottom, box.height / 4) };
  }
  function popupOptions() {
    // Small screens: the popup scrolls inside and the map pans so its close button stays in view.
    var size = map.getSize(), margins = controlMargins();
    return {
      maxWidth: Math.max(220, Math.min(340, size.x - 48)),
      minWidth: Math.max(180, Math.min(250, size.x - 48)),
      maxHeight: Math.max(160, Math.min(520, size.y - margins.top - margins.bottom - 70)),
      autoPan: true,
      autoPanPaddingTopLeft: L.point(12, margins.top + 8),
      autoPanPaddingBottomRight: L.point(12, margins.bottom + 8),
      className: "ronda-popup"
    };
  }
  // After its content changed in place: size, scrolling and position again, and pan to keep it
  // in view. (Popup.update() would take the content out and back, losing the focus in it.)
  function relayout(popup) {
    if (!popup._map) return;
    if (popup._updateLayout && popup._updatePosition && popup._adjustPan) {
      popup._updateLayout();
      popup._updatePosition();
      popup._adjustPan();
    } else {
      popup.update();
    }
  }
  function popupBox(className, attribute, id) {
    var box = el("div", "popup " + className);
    box.tabIndex = -1;  // focus lands here when a popup is opened from the keyboard
    box.setAttribute(attribute, id);
    return box;
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
      scheduleQueue();
      return;
    }
    if (!marker) {
      marker = L.marker([data.lat, data.lon], { icon: incidentIcon(data), keyboard: true, riseOnHover: true });
      marker.options.incidentId = data.id;
      boxes[data.id] = boxes[data.id] || popupBox("incident-popup", "data-incident-id", data.id);
      marker.bindPopup(boxes[data.id], popupOptions());
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
    if (openIncidentId === data.id && (!old || old.updated_at !== data.updated_at || old.status !== data.status)) {
      loadDetails(data.id, false);  // moved on while open: its history and what it may do now
    } else if (watchesBySuggestions(data) && !(asking[data.id] && asking[data.id].patrol === data.assigned_patrol_id)) {
      loadSuggestions(data.id);  // is the patrol it was sent to still out?
    }
    scheduleQueue();
  }
  // Without patrol events (a coordinator), a dispatched incident's suggestions say whether its patrol is out.
  function watchesBySuggestions(data) {
    return !patrolLayer && data.status === "dispatched" && !!data.assigned_patrol_id && mayWork(data);
  }
  // After what is known of the patrols changed: the marker, the popup and the queue say it again.
  function patrolNewsFor(id) {
    var data = latest[id], marker = incidents[id];
    if (data && marker && patrolGone(data) !== !!shownGone[id]) { marker.setIcon(incidentIcon(data)); scheduleQueue(); }
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
      if (mayWork(data) && NEXT[data.status]) box.appendChild(incidentActions(id, data));
      if (problems["i" + id]) {
        var problem = el("p", "problem", problems["i" + id]);
        problem.setAttribute("role", "alert");
        box.appendChild(problem);
      }
      box.appendChild(historySection(id, data));
    });
    var marker = incidents[id];
    if (marker && marker.isPopupOpen()) relayout(marker.getPopup());
  }

  function incidentActions(id, data) {
    var key = "i" + id, next = NEXT[data.status], sending = busy[key], found = suggestions[id];
    var group = el("div", "actions");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", text.actions);
    var noteLabel = el("label", "note-label", text.note);
    noteLabel.htmlFor = "note-" + key;
    var note = el("textarea", "note");
    note.id = "note-" + key;
    note.rows = 2;
    note.maxLength = 1000;
    note.value = drafts[key] || "";
    note.setAttribute("data-key", "note");
    note.addEventListener("input", function () { drafts[key] = note.value; });
    group.appendChild(noteLabel);
    group.appendChild(note);
    // `body` may be a function: read when pressed (the patrol chosen at that moment); null sends
    // nothing. `field`: the request field whose refusal is shown beside its input.
    function actionButton(label, status, body, tag, field) {
      tag = tag || status;
      var node = button(sending === tag ? text.sending : label, "act act-" + status, "act-" + tag, function () {
        var sent = typeof body === "function" ? body() : body;
        if (sent) act(id, sent, tag, field);
      });
      node.setAttribute("data-status", status);
      if (sending) node.setAttribute("aria-disabled", "true");
      return node;
    }
    var pick = null;
    if (next.indexOf("dispatched") >= 0) {
      // The nearest active patrols first (the server's suggestion); none chosen is allowed.
      var line = el("div", "dispatch");
      var pickLabel = el("label", null, text.dispatchTo);
      pickLabel.htmlFor = "patrol-" + key;
      pick = el("select", "patrol-choice");
      pick.id = "patrol-" + key;
      pick.setAttribute("data-key", "patrol");
      var none = el("option", null, text.noPatrol);
      none.value = "";
      pick.appendChild(none);
      var nearby = found && found !== "failed" ? found.patrols || [] : [];
      nearby.forEach(function (patrol) {
        var option = el("option", null, (patrol.committee_name || fmt(text.patrolNo, { id: patrol.id })) +
          " · " + metres(patrol.distance_m));
        option.value = String(patrol.id);
        pick.appendChild(option);
      });
      var kept = nearby.some(function (p) { return String(p.id) === choices[id]; });
      pick.value = kept ? choices[id] : "";
      pick.addEventListener("change", function () { choices[id] = pick.value; });
      line.appendChild(pickLabel);
      line.appendChild(pick);
      group.appendChild(line);
    }
    if (data.status === "dispatched") group.appendChild(redispatchLine(id, data, actionButton));
    var buttons = el("div", "buttons");
    if (next.indexOf("acknowledged") >= 0) {
      buttons.appendChild(actionButton(text.acknowledge, "acknowledged", { status: "acknowledged" }));
    }
    if (pick) {
      buttons.appendChild(actionButton(text.dispatch, "dispatched", function () {
        var body = { status: "dispatched" };
        if (pick.value) body.patrol_id = Number(pick.value);
        return body;
      }));
    }
    if (next.indexOf("resolved") >= 0) buttons.appendChild(actionButton(text.resolve, "resolved", { status: "resolved" }));
    buttons.appendChild(actionButton(text.dismiss, "dismissed", { status: "dismissed" }));
    group.appendChild(buttons);
    // A duplicate names the report it repeats: one of the server's candidates (same kind, near, recent, open).
    var dup = el("fieldset", "duplicates");
    dup.appendChild(el("legend", null, text.markDuplicate));
    if (found === undefined) dup.appendChild(el("p", "muted", text.searching));
    else if (found === "failed" || !(found.duplicates || []).length) dup.appendChild(el("p", "muted", text.noDuplicates));
    else {
      found.duplicates.forEach(function (candidate) {
        var label = fmt(text.duplicateOf, {
          id: candidate.id, kind: kindLabel(candidate.kind), distance: metres(candidate.distance_m),
          minutes: Math.round(candidate.minutes_apart || 0)
        });
        var node = actionButton(label, "duplicate", { status: "duplicate", duplicate_of: candidate.id },
          "duplicate-" + candidate.id);
        node.setAttribute("data-duplicate-of", candidate.id);
        dup.appendChild(node);
      });
    }
    dup.appendChild(typedDuplicate(id, actionButton));
    group.appendChild(dup);
    return group;
  }

  // Sent to another patrol (dispatched again): one of the nearest active ones but the assigned one.
  function redispatchLine(id, data, actionButton) {
    var key = "i" + id, found = suggestions[id];
    var line = el("div", "dispatch redispatch");
    var others = found === undefined || found === "failed" ? [] : (found.patrols || []).filter(function (p) {
      return p.id !== data.assigned_patrol_id;
    });
    if (!others.length) {
      line.appendChild(el("span", null, text.redispatchTo));
      line.appendChild(el("p", "muted", found === undefined ? text.loading : text.noOtherPatrol));
      return line;
    }
    var label = el("label", null, text.redispatchTo);
    line.appendChild(label);
    var pick = el("select", "patrol-choice redispatch-choice");
    pick.id = "redispatch-" + key;
    pick.setAttribute("data-key", "redispatch-patrol");
    label.htmlFor = pick.id;
    others.forEach(function (patrol) {
      var option = el("option", null, (patrol.committee_name || fmt(text.patrolNo, { id: patrol.id })) +
        " · " + metres(patrol.distance_m));
      option.value = String(patrol.id);
      pick.appendChild(option);
    });
    if (others.some(function (p) { return String(p.id) === rechoices[id]; })) pick.value = rechoices[id];
    pick.addEventListener("change", function () { rechoices[id] = pick.value; });
    var pickRow = el("div", "pick-row");
    pickRow.appendChild(pick);
    var send = actionButton(text.redispatch, "dispatched", function () {
      return { status: "dispatched", patrol_id: Number(pick.value) };
    }, "redispatch");
    send.className = "act act-redispatch";
    pickRow.appendChild(send);
    line.appendChild(pickRow);
    return line;
  }

  // The original of a duplicate by its number, when it is not among the candidates.
  function typedDuplicate(id, actionButton) {
    var key = "i" + id, problem = fieldProblems[key];
    var wrap = el("div", "dup-typed");
    var label = el("label", null, text.originalNumber);
    label.htmlFor = "original-" + key;
    var input = el("input", "original-number");
    input.id = "original-" + key;
    input.type = "text";
    input.inputMode = "numeric";
    input.autocomplete = "off";
    input.maxLength = 10;
    input.setAttribute("data-key", "original-number");
    input.value = typedOriginal[id] || "";
    input.addEventListener("input", function () { typedOriginal[id] = input.value; });
    // Checked here first: a positive whole number, not this incident; the server checks the rest.
    function body() {
      var words = (typedOriginal[id] || "").trim();
      var number = /^[0-9]{1,10}$/.test(words) ? Number(words) : 0;
      var refusal = number < 1 || number > 2147483647 ? text.originalInvalid
        : number === Number(id) ? text.originalItself : null;
      if (!refusal) return { status: "duplicate", duplicate_of: number };
      fieldProblems[key] = refusal;
      delete problems[key];
      later(function () {
        renderIncident(id);
        var again = boxes[id] && boxes[id].querySelector('[data-key="original-number"]');
        if (again) again.focus({ preventScroll: true });
      });
      return null;
    }
    var send = actionButton(text.markDuplicateTyped, "duplicate", body, "duplicate-typed", "duplicate_of");
    send.className = "act act-duplicate-typed";
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      send.click();
    });
    var pickRow = el("div", "pick-row");
    pickRow.appendChild(input);
    pickRow.appendChild(send);
    wrap.appendChild(label);
    wrap.appendChild(pickRow);
    if (problem) {
      var note = el("p", "problem field-problem", problem);
      note.id = "original-error-" + key;
      note.setAttribute("role", "alert");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", note.id);
      wrap.appendChild(note);
    }
    return wrap;
  }

  function act(id, body, tag, field) {
    var key = "i" + id;
    if (busy[key]) return;
    var note = (drafts[key] || "").trim();
    if (note) body.note = note;
    busy[key] = tag;
    delete problems[key];
    delete fieldProblems[key];
    later(function () { renderIncident(id); });
    api("PATCH", "/api/v1/incidents/" + id, body).then(function (answer) {
      delete busy[key];
      if (answer.ok && answer.body) {
        delete drafts[key];
        delete typedOriginal[id];
        delete rechoices[id];
        announce(fmt(text.incidentNo, { id: id }) + ": " + statusLabel(answer.body.status));
        showIncident(answer.body);  // the same state reaches every screen as incident_updated
        renderIncident(id);
      } else {
        var refused = field && answer.status === 422 ? fieldRefusal(answer, field) : null;
        if (refused) fieldProblems[key] = refused;
        else problems[key] = problemText(answer);
        renderIncident(id);
        if (answer.status === 409) loadDetails(id, true);  // someone moved it first: show where it is now
      }
    });
  }

  // What the server said of one field (its own words, never the field's name), or null.
  function fieldRefusal(answer, field) {
    var said = ((answer.body || {}).fields || []).filter(function (f) {
      return f.problem && (f.field === field || String(f.field).split(".").pop() === field);
    });
    return said.length ? said.map(function (f) { return f.problem; }).join(" ") : null;
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

  function patrolName(id, patrolId) {
    var data = latest[id];
    if (data && data.assigned_patrol_id === patrolId && data.assigned_patrol_name) return data.assigned_patrol_name;
    var found = suggestions[id];
    var match = found && found !== "failed" && (found.patrols || []).filter(function (p) { return p.id === patrolId; })[0];
    if (match && match.committee_name) return match.committee_name;
    if (patrols[patrolId] && patrols[patrolId].data.committee_name) return patrols[patrolId].data.committee_name;
    return fmt(text.patrolNo, { id: patrolId });
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
        li.appendChild(el("div", "patrol", text.assignedPatrol + ": " + patrolName(id, item.assigned_patrol_id)));
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
      focusPopup();
    });
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
  function alarmActions(alarm, where) {
    var key = "a" + alarm.id, sending = busy[key];
    var attendable = config.canAttend && alarm.status === "raised";
    var closable = mayCloseAlarm(alarm);
    if (!attendable && !closable) return null;
    var group = el("div", "actions alarm-actions");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", text.actions);
    function action(label, className, tag, run) {
      var node = button(sending === tag ? (tag === "attend" ? text.attending : text.sending) : label, className,
        where + "-" + tag, run);
      if (sending) node.setAttribute("aria-disabled", "true");
      return node;
    }
    if (attendable) group.appendChild(action(text.attend, "attend", "attend", function () { attend(alarm.id); }));
    if (closable) {
      var note = el("input", "note");
      note.type = "text";
      note.maxLength = 1000;
      note.placeholder = text.note;
      note.setAttribute("aria-label", text.note);
      note.setAttribute("data-key", where + "-note");
      note.value = drafts[key] || "";
      note.addEventListener("input", function () { drafts[key] = note.value; });
      group.appendChild(note);
      group.appendChild(action(text.closeReal, "resolve-real", "real", function () { resolveAlarm(alarm.id, "real"); }));
      group.appendChild(action(text.falseAlarm, "resolve-false", "false_alarm", function () {
        resolveAlarm(alarm.id, "false_alarm");
      }));
    }
    if (problems[key]) {
      var problem = el("p", "problem", problems[key]);
      problem.setAttribute("role", "alert");
      group.appendChild(problem);
    }
    return group;
  }
  function renderBanner() {
    keepFocus(banner, function () {
      banner.textContent = "";
      var raised = Object.keys(alarms).map(function (id) { return alarms[id].data; })
        .filter(function (a) { return a.status === "raised"; })
        .sort(function (a, b) { return ms(a.raised_at) - ms(b.raised_at); });
      if (!hearsAlarms || raised.length === 0) { banner.hidden = true; return; }
      raised.forEach(function (a) {
        var line = el("div", "alarm-row" + (a.escalated_at ? " escalated-row" : ""));
        line.setAttribute("data-alarm-id", a.id);
        line.appendChild(el("span", "alarm-text", text.alarmIn + " " + zoneLabel(a.zone_id) +
          " · " + (a.block_name || text.block + " " + a.block_id) + " · " + when(a.raised_at)));
        if (a.late) line.appendChild(el("span", "late", lateText(a)));
        if (a.escalated_at) line.appendChild(el("span", "escalated", text.escalated));
        var actions = alarmActions(a, "banner-" + a.id);
        if (actions) line.appendChild(actions);
        banner.appendChild(line);
      });
      banner.hidden = false;
    });
  }
  function renderAlarmPopup(known) {
    var data = known.data, box = known.box;
    keepFocus(box, function () {
      box.textContent = "";
      var head = el("div", "popup-head");
      head.appendChild(el("strong", "kind", text.alarm));
      head.appendChild(el("span", "badge status-" + data.status, config.alarmStatuses[data.status] || statusLabel(data.status)));
      if (data.escalated_at && data.status === "raised") head.appendChild(el("span", "badge overdue", text.escalated));
      box.appendChild(head);
      var dl = el("dl");
      row(dl, text.zone, zoneLabel(data.zone_id));
      if (data.block_id) row(dl, text.block, data.block_name || data.block_id);
      row(dl, text.time, [when(data.raised_at), " (", agoNode(data.raised_at), ")"]);
      if (data.late) row(dl, text.pressed, lateText(data));
      row(dl, text.presses, data.trigger_count);
      box.appendChild(dl);
      var actions = alarmActions(data, "popup");
      if (actions) box.appendChild(actions);
    });
    if (known.marker.isPopupOpen()) relayout(known.marker.getPopup());
  }
  function rerenderAlarm(id) {
    if (alarms[id]) renderAlarmPopup(alarms[id]);
    renderBanner();
  }
  function alarmCall(id, tag, path, body, done) {
    var key = "a" + id;
    if (busy[key]) return;
    busy[key] = tag;
    delete problems[key];
    later(function () { rerenderAlarm(id); });
    api("POST", "/api/v1/alarms/" + id + path, body).then(function (answer) {
      delete busy[key];
      if (answer.ok && answer.body) {
        delete drafts[key];
        announce(done);
        showAlarm(answer.body);
      } else {
        problems[key] = problemText(answer, tag === "attend" ? text.attendFailed : null);
        rerenderAlarm(id);
      }
    });
  }
  function attend(id) { alarmCall(id, "attend", "/acknowledge", undefined, text.alarmAttended); }
  function resolveAlarm(id, outcome) {
    var body = { outcome: outcome };
    var note = (drafts["a" + id] || "").trim();
    if (note) body.note = note;
    alarmCall(id, outcome, "/resolve", body, outcome === "real" ? text.alarmClosedReal : text.alarmClosedFalse);
  }
  function showAlarm(data) {
    var known = alarms[data.id];
    if (data.status === "resolved") {
      closedAlarms[data.id] = true;
      if (known) { map.removeLayer(known.marker); delete alarms[data.id]; }
      renderBanner();
      scheduleQueue();
      return;
    }
    if (closedAlarms[data.id]) return;
    if (known && (ALARM_RANK[known.data.status] || 0) > (ALARM_RANK[data.status] || 0)) return;  // older news
    if (!known) {
      var marker = L.marker([data.lat, data.lon], {
        icon: alarmIcon(data), pane: "alarms", zIndexOffset: 10000, keyboard: true
      });
      marker.options.alarmId = data.id;
      var box = popupBox("alarm-popup", "data-alarm-id", data.id);
      marker.bindPopup(box, popupOptions());
      marker.addTo(map);
      known = alarms[data.id] = { marker: marker, data: data, box: box };
    } else {
      known.marker.setIcon(alarmIcon(data));
    }
    known.data = data;
    renderAlarmPopup(known);
    renderBanner();
    scheduleQueue();
  }
  function revealAlarm(id) {
    var known = alarms[id];
    if (!known) return;
    map.setView(known.marker.getLatLng(), Math.max(map.getZoom(), 15), { animate: false });
    known.marker.openPopup();
    focusPopup();
  }

  // --- patrols (police, serenazgo and admins only: the server sends them nobody else) -------
  var patrolLayer = config.patrolsLayer ? window[config.patrolsLayer] : null;
  var patrols = {};  // id -> {data, points: [[t, lat, lon]], marker, line}
  var TRACK_MS = 15 * 60 * 1000;
  function patrolPopup(data) {
    var box = popupBox("patrol-popup", "data-patrol-id", data.id);
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
    known.marker.bindPopup(patrolPopup(known.data), popupOptions());
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
    Object.keys(incidents).forEach(function (id) {
      if (latest[id] && latest[id].assigned_patrol_id === Number(patrolId)) patrolNewsFor(id);
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

  // --- popups and the keyboard -----------------------------------------------------------
  function focusPopup() {
    var content = openedPopup && openedPopup.getContent();
    if (content && content.focus) content.focus({ preventScroll: true });
  }
  function layerOfIcon(node) {
    if (!node || !node.classList || !node.classList.contains("leaflet-marker-icon")) return null;
    var id = node.getAttribute("data-incident-id");
    if (id) return incidents[id] || null;
    id = node.getAttribute("data-alarm-id");
    if (id) return alarms[id] ? alarms[id].marker : null;
    id = node.getAttribute("data-patrol-id");
    if (id) return patrols[id] ? patrols[id].marker : null;
    return null;
  }
  function markerElement(layer) {
    if (!layer) return null;
    var shown = layer.options.incidentId && cluster.hasLayer(layer) ? cluster.getVisibleParent(layer) : layer;
    return shown && shown.getElement ? shown.getElement() : null;
  }
  // Enter or Space on a focused marker opens its popup (and moves focus into it).
  map.getContainer().addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== " ") return;
    var layer = layerOfIcon(event.target);
    if (!layer || !layer.getPopup()) return;
    event.preventDefault();  // no keypress: Leaflet would toggle the popup again
    event.stopPropagation();
    pendingReturn = { marker: layer };
    layer.openPopup();
    focusPopup();
  });
  // Escape closes the open popup (and then the phone's queue drawer), from anywhere on the page.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    if (openedPopup) { map.closePopup(openedPopup); event.preventDefault(); return; }
    if (queue && queue.classList.contains("open")) { setDrawer(false); if (queueToggle) queueToggle.focus(); }
    if (menu && menu.classList.contains("open")) setMenu(false);
  });
  map.on("popupopen", function (event) {
    var popup = event.popup;
    openedPopup = popup;
    popup._rondaReturn = pendingReturn;
    pendingReturn = null;
    var node = popup.getElement();
    var close = node && node.querySelector(".leaflet-popup-close-button");
    if (close) { close.setAttribute("aria-label", text.closePopup); close.title = text.closePopup; }
    L.Util.extend(popup.options, popupOptions());
    var source = popup._source;
    if (source && source.options.incidentId) {
      var reopened = openIncidentId === source.options.incidentId;  // markercluster moved it
      openIncidentId = source.options.incidentId;
      if (!reopened) loadDetails(openIncidentId, true);
    }
    relayout(popup);
  });
  map.on("popupclose", function (event) {
    var popup = event.popup, back = popup._rondaReturn;
    popup._rondaReturn = null;
    if (openedPopup === popup) openedPopup = null;
    var source = popup._source;
    if (source && source.options.incidentId === openIncidentId) {
      // Forgotten once this turn ends, unless markercluster reopens it at once (a moved marker).
      setTimeout(function () { if (!openedPopup || openedPopup._source !== source) openIncidentId = null; }, 0);
    }
    if (!back) return;  // opened with the mouse: focus stays where the person put it
    var node = popup.getElement();  // still in the page while it fades out
    setTimeout(function () {
      var active = document.activeElement;
      var lost = !active || active === document.body || !active.isConnected || (node && node.contains(active));
      if (!lost || openedPopup) return;
      var target = back.queue ? queueTarget(back) : markerElement(back.marker);
      (target || map.getContainer()).focus({ preventScroll: true });
    }, 0);
  });

  // --- the queue: what waits for an operator ----------------------------------------------
  var queue = document.getElementById("queue");
  var queueList = document.getElementById("queue-list");
  var queueCount = document.getElementById("queue-count");
  var queueToggle = document.getElementById("queue-toggle");
  var queueClose = document.getElementById("queue-close");
  var queueRows = {};  // "a7" / "i12" -> <li>
  var queueEmpty = null;
  var queueScheduled = false;
  function scheduleQueue() {
    if (!queueList || queueScheduled) return;
    queueScheduled = true;
    setTimeout(function () { queueScheduled = false; renderQueue(); }, 0);
  }
  // Unacknowledged alarms first, then open incidents from the oldest report, then alarms already
  // attended but not yet closed.
  function queueEntries() {
    var entries = [];
    Object.keys(alarms).forEach(function (id) {
      var a = alarms[id].data;
      if (a.status !== "raised" && a.status !== "acknowledged") return;
      entries.push({
        key: "a" + a.id, rank: a.status === "raised" ? 0 : 2, since: a.raised_at,
        late: !!a.escalated_at && a.status === "raised", title: text.alarm, place: a.block_name || zoneLabel(a.zone_id),
        zone: zoneLabel(a.zone_id), status: a.status, statusText: config.alarmStatuses[a.status] || a.status,
        lateText: text.escalated, type: "alarm"
      });
    });
    Object.keys(incidents).forEach(function (id) {
      var d = latest[id];
      entries.push({
        key: "i" + d.id, rank: 1, since: reportedAt(d), late: overdue(d), title: kindLabel(d.kind),
        place: d.block_name || "", zone: zoneLabel(d.zone_id), status: d.status, statusText: statusLabel(d.status),
        lateText: text.overdue, type: "incident", ended: patrolGone(d)
      });
    });
    return entries.sort(function (x, y) {
      return x.rank - y.rank || ms(x.since) - ms(y.since) || (x.key < y.key ? -1 : 1);
    });
  }
  function fillRow(node, entry) {
    node.className = "queue-item " + entry.type + (entry.late ? " overdue" : "") + (entry.ended ? " patrol-ended" : "");
    node.textContent = "";
    var top = el("span", "q-top");
    top.appendChild(el("strong", "q-title", entry.title));
    top.appendChild(el("span", "badge status-" + entry.status, entry.statusText));
    node.appendChild(top);
    node.appendChild(el("span", "q-place", entry.place ? entry.zone + " · " + entry.place : entry.zone));
    var bottom = el("span", "q-time");
    bottom.appendChild(agoNode(entry.since));
    if (entry.late) bottom.appendChild(el("span", "badge overdue", entry.lateText));
    if (entry.ended) bottom.appendChild(el("span", "badge patrol-ended", text.patrolEndedShort));
    node.appendChild(bottom);
  }
  function renderQueue() {
    if (!queueList) return;
    var entries = queueEntries();
    var active = document.activeElement;
    var activeKey = active && queueList.contains(active) ? active.getAttribute("data-key") : null;
    var activeIndex = activeKey ? Array.prototype.indexOf.call(queueList.children, active.parentNode) : -1;
    var wanted = {};
    entries.forEach(function (entry, index) {
      wanted[entry.key] = true;
      var li = queueRows[entry.key];
      if (!li) {
        li = el("li");
        var node = el("button");
        node.type = "button";
        node.setAttribute("data-key", entry.key);
        node.addEventListener("click", function () { openEntry(node.getAttribute("data-key")); });
        li.appendChild(node);
        queueRows[entry.key] = li;
      }
      fillRow(li.firstChild, entry);
      if (queueList.children[index] !== li) queueList.insertBefore(li, queueList.children[index] || null);
    });
    Object.keys(queueRows).forEach(function (key) {
      if (!wanted[key]) { queueList.removeChild(queueRows[key]); delete queueRows[key]; }
    });
    if (!queueEmpty) {
      queueEmpty = el("p", "queue-empty muted", text.queueEmpty);
      queueList.parentNode.insertBefore(queueEmpty, queueList.nextSibling);
    }
    queueEmpty.hidden = entries.length > 0;
    if (queueCount) queueCount.textContent = "(" + entries.length + ")";
    if (queueToggle) queueToggle.textContent = fmt(text.queueButton, { n: entries.length });
    if (activeKey) {
      var target = queueRows[activeKey] ? queueRows[activeKey].firstChild : queueTarget({ index: activeIndex });
      if (target && document.activeElement !== target) target.focus({ preventScroll: true });
    }
  }
  function queueTarget(back) {
    if (back.queue && queueRows[back.queue]) return queueRows[back.queue].firstChild;
    var items = queueList ? queueList.querySelectorAll(".queue-item") : [];
    if (!items.length) return queueToggle && isDrawer() ? queueToggle : null;
    var index = back.index !== undefined && back.index >= 0 ? back.index : 0;
    return items[Math.min(index, items.length - 1)];
  }
  function openEntry(key) {
    var index = Array.prototype.indexOf.call(queueList.children, queueRows[key]);
    if (isDrawer()) setDrawer(false);
    pendingReturn = { queue: key, index: index };
    if (key.charAt(0) === "i") revealIncident(Number(key.slice(1)));
    else revealAlarm(Number(key.slice(1)));
  }
  function isDrawer() { return window.matchMedia("(max-width: 600px)").matches; }
  function setDrawer(open) {
    if (!queue) return;
    queue.classList.toggle("open", open);
    if (queueToggle) queueToggle.setAttribute("aria-expanded", String(open));
    if (open) {
      var first = queueList.querySelector(".queue-item");
      (first || queueClose).focus({ preventScroll: true });
    }
  }
  if (queueList) {
    queueList.addEventListener("keydown", function (event) {
      var items = Array.prototype.slice.call(queueList.querySelectorAll(".queue-item"));
      var i = items.indexOf(document.activeElement);
      if (i < 0) return;
      var j = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[event.key];
      if (j === undefined) return;
      event.preventDefault();
      items[Math.max(0, Math.min(items.length - 1, j))].focus();
    });
    if (queueToggle) queueToggle.addEventListener("click", function () { setDrawer(!queue.classList.contains("open")); });
    if (queueClose) queueClose.addEventListener("click", function () { setDrawer(false); if (queueToggle) queueToggle.focus(); });
  }

  // --- the phone's menu ----------------------------------------------------------------
  var menu = document.getElementById("menu");
  var menuToggle = document.getElementById("menu-toggle");
  function setMenu(open) {
    menu.classList.toggle("open", open);
    menuToggle.setAttribute("aria-expanded", String(open));
  }
  if (menu && menuToggle) {
    document.body.classList.add("menu-ready");  // without this script every link stays in view
    menuToggle.hidden = false;
    menuToggle.addEventListener("click", function () { setMenu(!menu.classList.contains("open")); });
  }

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

  // --- the clock: "hace N min", overdue marks ---------------------------------------------
  var RECHECK_MS = 60000;  // how often a coordinator's map asks again whether a dispatched patrol is out
  function tick() {
    Object.keys(incidents).forEach(function (id) {
      var data = latest[id], last = asking[id];
      incidents[id].setIcon(incidentIcon(data));
      if (watchesBySuggestions(data) && (!last || Date.now() - last.at >= RECHECK_MS)) {
        loadSuggestions(Number(id));
      }
    });
    Object.keys(alarms).forEach(function (id) { alarms[id].marker.setIcon(alarmIcon(alarms[id].data)); });
    if (openIncidentId !== null) renderIncident(openIncidentId);
    Array.prototype.forEach.call(document.querySelectorAll("[data-since]"), function (node) {
      node.textContent = ago(node.getAttribute("data-since"));
    });
    renderQueue();
  }
  setInterval(tick, 30000);

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
      if (isNew && hearsAlarms) beep();
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

  config.patrols.forEach(showPatrol);  // first: the incidents sent to them must find them out
  config.incidents.forEach(showIncident);
  config.alarms.forEach(showAlarm);
  renderQueue();
  updateBlocks();
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
    map: map, incidents: incidents, alarms: alarms, patrols: patrols, socket: socket, latest: latest, blocks: blockZones,
    openIncident: revealIncident, openAlarm: revealAlarm,
    caughtUpTo: function () { return caughtUpTo; }
  };
})();
