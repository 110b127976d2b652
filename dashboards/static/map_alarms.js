// The live map's block alarms: the banner that stays on screen while one waits to be attended,
// their markers and popups, and attending and closing them.
(function () {
  "use strict";
  var M = window.RondaMap;
  var config = M.config, map = M.map, text = M.text, hearsAlarms = M.hearsAlarms;
  var drafts = M.drafts, busy = M.busy, problems = M.problems;
  var el = M.el, row = M.row, when = M.when, ms = M.ms, ago = M.ago, agoNode = M.agoNode;
  var statusLabel = M.statusLabel, zoneLabel = M.zoneLabel, button = M.button, keepFocus = M.keepFocus;
  var later = M.later, announce = M.announce, api = M.api, problemText = M.problemText, MapIcon = M.MapIcon;
  var ALARM_RANK = { raised: 0, acknowledged: 1, resolved: 2 };
  var alarms = {};       // id -> {marker, data, box}
  var closedAlarms = {}; // id -> true: a late answer must not bring a resolved alarm back

  function mayCloseAlarm(alarm) {
    return !!config.canResolveAlarms && (alarm.status === "raised" || alarm.status === "acknowledged") &&
      (config.workZone === null || config.workZone === undefined || config.workZone === alarm.zone_id);
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
    if (known.marker.isPopupOpen()) M.relayout(known.marker.getPopup());
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
      M.scheduleQueue();
      return;
    }
    if (closedAlarms[data.id]) return;
    if (known && (ALARM_RANK[known.data.status] || 0) > (ALARM_RANK[data.status] || 0)) return;  // older news
    if (!known) {
      var marker = L.marker([data.lat, data.lon], {
        icon: alarmIcon(data), pane: "alarms", zIndexOffset: 10000, keyboard: true
      });
      marker.options.alarmId = data.id;
      var box = M.popupBox("alarm-popup", "data-alarm-id", data.id);
      marker.bindPopup(box, M.popupOptions());
      marker.addTo(map);
      known = alarms[data.id] = { marker: marker, data: data, box: box };
    } else {
      known.marker.setIcon(alarmIcon(data));
    }
    known.data = data;
    renderAlarmPopup(known);
    renderBanner();
    M.scheduleQueue();
  }
  function revealAlarm(id) {
    var known = alarms[id];
    if (!known) return;
    map.setView(known.marker.getLatLng(), Math.max(map.getZoom(), 15), { animate: false });
    known.marker.openPopup();
    M.focusPopup();
  }

  Object.assign(M, {
    alarms: alarms, alarmIcon: alarmIcon, showAlarm: showAlarm, revealAlarm: revealAlarm, beep: beep
  });
})();
