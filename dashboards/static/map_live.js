// The live map kept live: the clock, the events from Socket.IO and the catch-up after a
// disconnection. Loaded last: it puts the page's data on the map and opens the socket.
(function () {
  "use strict";
  var M = window.RondaMap;
  var config = M.config, map = M.map, text = M.text, hearsAlarms = M.hearsAlarms, ago = M.ago;
  var expired = M.expired;
  var incidents = M.incidents, latest = M.latest, alarms = M.alarms, patrols = M.patrols;

  // --- the clock: "hace N min", overdue marks ---------------------------------------------
  function tick() {
    M.tickIncidents();
    Object.keys(alarms).forEach(function (id) { alarms[id].marker.setIcon(M.alarmIcon(alarms[id].data)); });
    var openIncidentId = M.openIncidentId();
    if (openIncidentId !== null) M.renderIncident(openIncidentId);
    Array.prototype.forEach.call(document.querySelectorAll("[data-since]"), function (node) {
      node.textContent = ago(node.getAttribute("data-since"));
    });
    M.renderQueue();
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
    if (isIncident) M.showIncident(event.data);
    else if (isPatrol) M.showPatrol(event.data);
    else {
      var isNew = event.type === "alarm_raised" && !alarms[event.data.id];
      M.showAlarm(event.data);
      if (isNew && hearsAlarms) M.beep();
    }
  }
  var status = document.getElementById("connection");
  function setState(state) {
    status.className = "connection " + state;
    status.textContent = state === "live" ? text.live : text.reconnecting;
    document.body.setAttribute("data-connection", state);
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

  config.patrols.forEach(M.showPatrol);  // first: the incidents sent to them must find them out
  config.incidents.forEach(M.showIncident);
  config.alarms.forEach(M.showAlarm);
  M.renderQueue();
  M.updateBlocks();
  var socket = io({ auth: { token: config.token }, transports: ["websocket", "polling"] });
  ["incident_reported", "incident_updated", "alarm_raised", "alarm_acknowledged", "alarm_escalated",
   "alarm_resolved", "patrol_started", "patrol_ended"].forEach(function (name) { socket.on(name, apply); });
  socket.on("patrol_moved", function (event) { M.movePatrol(event.data); });
  var connectedBefore = false;
  socket.on("connect", function () {
    setState("live");
    catchUp();  // whatever happened since the page was made, or while we were away
    if (connectedBefore) M.refreshPatrols();
    connectedBefore = true;
  });
  socket.on("disconnect", function (reason) {
    setState("reconnecting");
    // Closed by the server: the page's token ran out or the session ended (signed out elsewhere,
    // deactivated); a reload signs it in again with the session cookie, or shows the sign-in page.
    if (reason === "io server disconnect" && !leaving) expired();
  });
  var leaving = false;
  socket.on("session_ended", function (info) {
    // Closed elsewhere or by the administration: say so on the sign-in page; a token that ran
    // out is renewed by a reload while the web session lasts.
    leaving = true;
    if (info && info.reason === "ended") window.location.assign("/entrar?cerrada=1&next=/mapa");
    else expired();
  });
  socket.on("connect_error", function (error) {
    setState("reconnecting");
    if (error && error.message === "unauthorized") expired();
  });
  window.ronda = {
    map: map, incidents: incidents, alarms: alarms, patrols: patrols, socket: socket, latest: latest, blocks: M.blockZones,
    openIncident: M.revealIncident, openAlarm: M.revealAlarm,
    caughtUpTo: function () { return caughtUpTo; }
  };
})();
