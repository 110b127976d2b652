// "Reportar": the kind as large buttons, then where (GPS, or a tap on the map), what, how
// serious, anonymous or not, and when. The report goes to the outbox first, then to the server.
(function (self) {
  "use strict";
  var app = self.Ronda;
  var t = app.t;
  var $ = app.$;
  var el = app.el;
  var MAX_ACCURACY_M = 200;        // a worse GPS fix is only sent when the person confirms it
  var FUTURE_SLACK_MS = 5 * 60000;  // the server's tolerance for a fast phone clock
  var form = null;                  // {kind, mapPoint, accuracyConfirmed, timeEdited, replaces}


  function renderKinds() {
    var grid = $("kind-grid");
    grid.textContent = "";
    app.state.kinds.forEach(function (kind) {
      var button = el("button", "kind-button", app.kindLabel(kind.code));
      button.type = "button";
      button.setAttribute("data-kind", kind.code);
      button.style.setProperty("--kind", app.config.kind_colours[kind.code] || "#555");
      button.addEventListener("click", function () { open(kind.code); });
      grid.appendChild(button);
    });
    $("kinds-missing").hidden = app.state.kinds.length > 0;
    if (app.state.kinds.length) document.body.setAttribute("data-ready", "report");
  }

  function localInputValue(date) {
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function open(code, previous) {
    if (form && !previous && !$("report-kinds").hidden && form.draft) {
      // "Cambiar tipo": only the kind changes, what was typed stays.
      form.kind = code;
      form.draft = false;
      setKindLabel(code);
      $("report-kinds").hidden = true;
      $("report-form").hidden = false;
      $("report-kind-label").focus();
      return;
    }
    form = {
      kind: code, mapPoint: null, accuracyConfirmed: false, timeEdited: false, replaces: previous || null,
      openedAt: previous && previous.data.occurred_at ? new Date(previous.data.occurred_at) : new Date()
    };
    setKindLabel(code);
    var data = previous ? previous.data : {};
    $("report-description").value = data.description || "";
    $("report-anonymous").checked = Boolean(data.anonymous);
    document.querySelector("input[name=severity][value='" + (data.severity || 2) + "']").checked = true;
    $("report-time").value = localInputValue(data.occurred_at ? new Date(data.occurred_at) : new Date());
    $("report-time").max = localInputValue(new Date(Date.now() + FUTURE_SLACK_MS));
    if (previous && typeof data.lat === "number") form.mapPoint = { lat: data.lat, lon: data.lon, block_name: app.blockName(data.lat, data.lon) };
    $("report-error").hidden = true;
    $("report-confirm-accuracy").hidden = true;
    $("report-kinds").hidden = true;
    $("report-done").hidden = true;
    $("report-form").hidden = false;
    app.gps.want("report");
    renderLocation();
    $("report-kind-label").focus();
  }

  function setKindLabel(code) { $("report-kind-label").textContent = app.kindLabel(code); }

  function changeKind() {
    if (form) form.draft = true;
    $("report-form").hidden = true;
    $("report-kinds").hidden = false;
    $("report-title").focus();
  }

  function backToKinds() {
    form = null;
    app.gps.release("report");
    $("report-form").hidden = true;
    $("report-done").hidden = true;
    $("report-kinds").hidden = false;
  }

  function point() {
    if (!form) return null;
    if (form.mapPoint) return { lat: form.mapPoint.lat, lon: form.mapPoint.lon, source: "map" };
    var fix = app.gps.recent(120000);
    return fix ? { lat: fix.lat, lon: fix.lon, accuracy: fix.accuracy, source: "gps" } : null;
  }

  function renderLocation() {
    if (!form) return;
    var line = $("report-location");
    var where = point();
    $("report-use-gps").hidden = !form.mapPoint;
    line.className = "location-line";
    if (where && where.source === "map") {
      line.textContent = t("report.location.map", { block: form.mapPoint.block_name || t("report.location.no_block") });
    } else if (where) {
      var poor = where.accuracy !== null && where.accuracy > MAX_ACCURACY_M;
      line.textContent = t(poor ? "report.location.gps_poor" : "report.location.gps", { metres: where.accuracy || 0 });
      if (poor) line.className = "location-line warning";
    } else if (app.gps.error === "denied") {
      line.textContent = t("report.location.denied");
      line.className = "location-line warning";
    } else if (app.gps.error) {
      line.textContent = t("report.location.unavailable");
      line.className = "location-line warning";
    } else {
      line.textContent = t("report.location.searching");
    }
  }

  function fail(key, params) {
    var box = $("report-error");
    box.textContent = t(key, params);
    box.hidden = false;
    box.focus();
  }

  function submit(event) {
    if (event) event.preventDefault();
    $("report-error").hidden = true;
    var where = point();
    if (!where) return fail("report.error.no_location");
    if (where.source === "gps" && where.accuracy > MAX_ACCURACY_M && !form.accuracyConfirmed) {
      $("report-confirm-text").textContent = t("report.confirm_accuracy", { metres: where.accuracy });
      $("report-confirm-accuracy").hidden = false;
      $("report-confirm-send").focus();
      return;
    }
    var zone = app.state.zone;
    if (zone && !self.RondaGeo.contains(zone.geometry, where.lat, where.lon)) {
      return fail("report.error.outside_zone", { zone: zone.properties.name });
    }
    var when = $("report-time").value ? new Date($("report-time").value) : new Date();
    if (isNaN(when.getTime())) return fail("report.error.bad_time");
    if (when.getTime() > Date.now() + FUTURE_SLACK_MS) return fail("report.error.future_time");
    var now = new Date();
    var data = {
      kind: form.kind,
      lat: where.lat,
      lon: where.lon,
      severity: Number(document.querySelector("input[name=severity]:checked").value),
      anonymous: $("report-anonymous").checked,
      // Typed by the person, or else the moment they opened the form: when it happened.
      occurred_at: (form.timeEdited ? when : form.openedAt).toISOString()
    };
    if (where.source === "gps" && where.accuracy !== null) data.accuracy = Math.min(where.accuracy, 100000);  // police see how precise
    var description = $("report-description").value.trim();
    if (description) data.description = description;
    Object.assign(data, app.patrolRef());
    var replaces = form.replaces;
    var button = $("report-send");
    button.disabled = true;
    app.act("incident", data, now).then(function (item) {
      if (replaces) return app.store.deleteItem(replaces.seq).then(function () { app.refreshItems(); return item; });
      return item;
    }).then(function (item) {
      button.disabled = false;
      app.gps.release("report");
      form = null;
      showDone(item);
    }, function (error) {
      button.disabled = false;
      console.error(error);
      fail("report.error.not_saved");
    });
  }

  var lastSaved = null;
  function showDone(item) {
    lastSaved = item.client_id;
    $("report-form").hidden = true;
    $("report-kinds").hidden = true;
    $("report-done").hidden = false;
    $("report-done-text").textContent = t(navigator.onLine ? "report.done.sending" : "report.done.saved");
    $("report-done-text").focus();
  }

  app.screens.report = {
    init: function () {
      $("report-change-kind").addEventListener("click", changeKind);
      $("report-form").addEventListener("submit", submit);
      $("report-time").addEventListener("input", function () { if (form) form.timeEdited = true; });
      $("report-pick-map").addEventListener("click", function () {
        app.pickPoint().then(function (picked) {
          if (picked && form) { form.mapPoint = picked; renderLocation(); }
          $("report-pick-map").focus();
        });
      });
      $("report-use-gps").addEventListener("click", function () { if (form) { form.mapPoint = null; renderLocation(); } });
      $("report-confirm-send").addEventListener("click", function () {
        if (!form) return;
        form.accuracyConfirmed = true;
        $("report-confirm-accuracy").hidden = true;
        submit();
      });
      $("report-confirm-map").addEventListener("click", function () {
        $("report-confirm-accuracy").hidden = true;
        $("report-pick-map").click();
      });
      $("report-another").addEventListener("click", backToKinds);
      $("report-see-mine").addEventListener("click", function () { app.go("mine"); });
      app.on("kinds", renderKinds);
      app.on("lang", function () { renderKinds(); renderLocation(); });
      app.on("fix", renderLocation);
      app.on("fixerror", renderLocation);
      app.on("zone", renderLocation);
      app.on("signout", backToKinds);
      app.on("synced", function (report) {
        if (!lastSaved || $("report-done").hidden) return;
        report.applied.forEach(function (entry) {
          if (entry.item.client_id === lastSaved) $("report-done-text").textContent = t("report.done.sent");
        });
        report.rejected.forEach(function (entry) {
          if (entry.item.client_id === lastSaved) $("report-done-text").textContent = t("report.done.rejected");
        });
      });
    },
    shown: function () { if (form) app.gps.want("report"); },
    edit: function (item) { app.go("report"); open(item.data.kind, item); }
  };
})(self);
