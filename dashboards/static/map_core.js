// Ronda live map and operations console. Finds the folium map, fills its marker cluster from the
// page data and keeps it current from Socket.IO events (catching up from /api/v1/events after a
// disconnection). Incident and alarm popups carry the actions the viewer may take and the
// incident's history; operators get a queue of what waits for attention; at street zoom the
// blocks of Ronda's own data are drawn, so the map works without tiles.
// Every text from users goes into the page with textContent, never as HTML.
//
// The map is a few plain scripts sharing one namespace, `window.RondaMap`, loaded in this order
// by map.html: this core (the page's config, small helpers, the API call, the map's icons),
// map_popups.js (popups and the keyboard), map_incidents.js and map_incident_actions.js,
// map_alarms.js, map_patrols.js, map_queue.js (and the phone's menu), map_blocks.js, and last
// map_live.js (the events, the socket and the clock; it puts the page's data on the map). A script
// calls another concept's function through the namespace when it runs, so the order only matters
// for what each does while loading.

// The filters above the map: a new period or kind reloads the page with it. Here rather than in an
// `onchange` attribute, which the Content-Security-Policy forbids; apart from the map, so they work
// even when the map cannot draw.
(function () {
  "use strict";
  document.querySelectorAll("select.submit-on-change").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();

(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("ronda-config").textContent);
  var map = window[config.map];
  var cluster = window[config.cluster];
  var text = config.text;
  var hearsAlarms = !!(config.canAttend || config.canResolveAlarms);
  var drafts = {};       // "i12" / "a7" -> note being typed
  var busy = {};         // "i12" / "a7" -> the action on its way
  var problems = {};     // "i12" / "a7" -> why the last action was refused
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
  function expired() {
    // The page's token outlived the shift (or the user was signed out): a reload signs it in
    // again with the session cookie, or shows the sign-in page.
    window.location.reload();
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

  window.RondaMap = {
    config: config, map: map, cluster: cluster, text: text, hearsAlarms: hearsAlarms,
    drafts: drafts, busy: busy, problems: problems,
    el: el, row: row, when: when, fmt: fmt, ms: ms, ago: ago, agoNode: agoNode, metres: metres,
    statusLabel: statusLabel, kindLabel: kindLabel, zoneLabel: zoneLabel, placeLabel: placeLabel,
    reportedAt: reportedAt, button: button, keepFocus: keepFocus, later: later, announce: announce,
    api: api, problemText: problemText, expired: expired, MapIcon: MapIcon
  };
})();
