// "Ronda" (volunteers and coordinators): start a committee's patrol with the members present,
// record its track while the app is open (watchPosition, points buffered on the phone and sent
// in batches, the screen kept awake where the browser allows), end it. Reports made meanwhile
// carry the patrol. Everything goes through the outbox, so a patrol works with no signal.
(function (self) {
  "use strict";
  var app = self.Ronda;
  var t = app.t;
  var $ = app.$;
  var el = app.el;
  var POINT_EVERY_MS = 5000;     // at most one point every 5 s (a walk, not a drive)
  var BATCH_EVERY_MS = 20000;    // buffered points become one outbox operation this often
  var MAX_POINTS = 2000;         // the server's limit per operation
  var patrol = null;             // {client_id?, id?, committee_id, committee_name, members, started_at, tracking}
  var lastPoint = 0;
  var wakeLock = null;
  var batchTimer = null;
  var members = {};              // committee id -> [{id, display_name, username}]

  function save() { return patrol ? app.store.set("patrol", patrol) : app.store.remove("patrol"); }

  // What a report or alarm made now says about the patrol: {patrol_id} or, for a patrol started
  // offline and not yet confirmed, {patrol_client_id}.
  app.patrolRef = function () {
    if (!patrol) return {};
    return patrol.id ? { patrol_id: patrol.id } : { patrol_client_id: patrol.client_id };
  };

  function committees() { return (app.state.session && app.state.session.user.committees) || []; }

  function loadMembers() {
    // Kept on the phone, so a patrol can start with no signal.
    return app.store.get("committee_members").then(function (kept) {
      members = kept || {};
      if (!app.sessionValid()) return;
      return Promise.all(committees().map(function (committee) {
        return app.getJSON("/api/v1/committees/" + committee.id).then(function (view) {
          members[committee.id] = view.members || [];
        }).catch(function () {});
      })).then(function () { return app.store.set("committee_members", members); });
    }).then(renderStart);
  }

  // A large labelled radio or checkbox (the whole label is the target).
  function choice(type, name, value, text) {
    var label = el("label", "choice");
    var input = el("input");
    input.type = type;
    input.name = name;
    input.value = value;
    label.appendChild(input);
    label.appendChild(el("span", null, text));
    return { label: label, input: input };
  }

  // The members of a committee known on the phone, the person first if the list lacks them.
  function people(committeeId) {
    var me = app.state.session.user;
    var known = (members[committeeId] || []).slice();
    if (!known.some(function (p) { return p.id === me.id; })) known.unshift({ id: me.id, display_name: me.display_name });
    return known;
  }

  function nameOf(person) { return person.display_name || person.username; }

  function selectedCommittee() {
    var checked = document.querySelector("input[name=committee]:checked");
    return checked ? Number(checked.value) : null;
  }

  function renderStart() {
    var list = $("patrol-committees");
    var chosen = selectedCommittee();
    list.textContent = "";
    var mine = committees();
    $("patrol-none").hidden = mine.length > 0;
    $("patrol-start").hidden = !mine.length || Boolean(patrol);
    mine.forEach(function (committee, index) {
      var option = choice("radio", "committee", committee.id, committee.name);
      option.input.checked = chosen ? chosen === committee.id : index === 0;
      option.input.addEventListener("change", renderMembers);
      list.appendChild(option.label);
    });
    renderMembers();
  }

  function renderMembers() {
    var box = $("patrol-members");
    box.textContent = "";
    var me = app.state.session && app.state.session.user;
    var committeeId = selectedCommittee();
    if (!me || !committeeId) return;
    people(committeeId).forEach(function (person) {
      var mine = person.id === me.id;
      var option = choice("checkbox", "member", person.id, mine ? t("patrol.me", { name: nameOf(person) }) : nameOf(person));
      if (mine) { option.input.checked = true; option.input.disabled = true; }  // the one who starts is present
      box.appendChild(option.label);
    });
    $("patrol-members-missing").hidden = Boolean(members[committeeId]);
  }

  function renderActive() {
    var active = $("patrol-active");
    active.hidden = !patrol;
    $("patrol-start").hidden = !committees().length || Boolean(patrol);
    document.body.setAttribute("data-patrol", patrol ? (patrol.tracking ? "tracking" : "active") : "none");
    if (!patrol) return;
    $("patrol-summary").textContent = t("patrol.summary", {
      committee: patrol.committee_name || "", since: app.i18n.time(patrol.started_at)
    });
    $("patrol-who").textContent = (patrol.members || []).map(nameOf).join(", ");
    $("patrol-track-toggle").textContent = t(patrol.tracking ? "patrol.tracking_stop" : "patrol.tracking_start");
    $("patrol-track-toggle").setAttribute("aria-pressed", String(Boolean(patrol.tracking)));
    renderTracking();
    renderAssignments();
  }

  function renderTracking() {
    if (!patrol) return;
    var line = $("patrol-tracking");
    if (!patrol.tracking) { line.textContent = t("patrol.not_tracking"); return; }
    var fix = app.gps.recent(60000);
    app.store.countPoints().then(function (buffered) {
      var parts = [fix ? t("patrol.tracking", { metres: fix.accuracy || 0 }) : t("report.location.searching")];
      if (buffered) parts.push(t("patrol.buffered", { count: buffered }));
      parts.push(wakeLock ? t("patrol.awake") : t("patrol.not_awake"));
      line.textContent = parts.join(" · ");
    });
  }

  // --- tracking -------------------------------------------------------------------------

  function keepAwake() {
    if (!("wakeLock" in navigator) || wakeLock || document.visibilityState !== "visible") return;
    navigator.wakeLock.request("screen").then(function (lock) {
      wakeLock = lock;
      lock.addEventListener("release", function () { wakeLock = null; renderTracking(); });
      renderTracking();
    }).catch(function () { wakeLock = null; });
  }

  function startTracking() {
    app.gps.want("patrol");
    keepAwake();
    if (!batchTimer) batchTimer = setInterval(batchPoints, BATCH_EVERY_MS);
    renderTracking();
  }

  function stopTracking() {
    app.gps.release("patrol");
    if (wakeLock) { wakeLock.release().catch(function () {}); wakeLock = null; }
    if (batchTimer) { clearInterval(batchTimer); batchTimer = null; }
  }

  function onFix(fix) {
    if (!patrol || !patrol.tracking || fix.received - lastPoint < POINT_EVERY_MS) return;
    lastPoint = fix.received;
    // A fix a moment older than the start is where the patrol started (the server keeps no
    // point before it).
    var t = Date.parse(fix.t) < Date.parse(patrol.started_at) ? patrol.started_at : fix.t;
    var point = { user_id: app.state.session.user.id, t: t, lat: fix.lat, lon: fix.lon };
    if (fix.accuracy !== null) point.accuracy = Math.min(fix.accuracy, 100000);
    if (fix.speed !== null) point.speed = fix.speed;
    if (fix.bearing !== null) point.bearing = fix.bearing;
    var first = !patrol.sent_first;
    battery().then(function (level) {
      if (level !== null) point.battery = level;
      return app.store.addPoint(point);
    }).then(function () {
      if (first && patrol) {  // the police see the patrol on their map from its first point
        patrol.sent_first = true;
        save();
        batchPoints();
      }
      renderTracking();
    });
  }

  var batteryManager = null;
  function battery() {
    if (!navigator.getBattery) return Promise.resolve(null);
    var ready = batteryManager ? Promise.resolve(batteryManager) : navigator.getBattery().then(function (b) { batteryManager = b; return b; });
    return ready.then(function (b) { return Math.round(b.level * 100); }, function () { return null; });
  }

  // The buffered points (of the person signed in, of the patrol under way) become one
  // `positions` operation in the outbox; called until the buffer is empty when the patrol ends.
  function batchPoints(owner) {
    var userId = owner ? owner.userId : app.state.session && app.state.session.user.id;
    var ref = owner ? owner.ref : app.patrolRef();
    if (!userId || !ref || !Object.keys(ref).length) return Promise.resolve(null);
    return app.store.pointsToItem(function (rows) {
      var taken = rows.filter(function (row) { return row.user_id === userId; }).slice(0, MAX_POINTS);
      if (!taken.length) return null;
      var positions = taken.map(function (row) {
        var p = { t: row.t, lat: row.lat, lon: row.lon };
        ["accuracy", "speed", "bearing", "battery"].forEach(function (k) { if (row[k] !== undefined) p[k] = row[k]; });
        return p;
      });
      return {
        rows: taken,
        item: {
          client_id: app.outbox.uuid(), op: "positions", at: new Date().toISOString(),
          data: Object.assign({ positions: positions }, ref), user_id: userId, state: "pending", error: null,
          saved_at: new Date().toISOString()
        }
      };
    }).then(function (item) {
      if (item) { app.refreshItems(); app.syncSoon(); }
      renderTracking();
      return item;
    });
  }

  // Every buffered point of the person and patrol of this moment, whatever happens meanwhile
  // (the person signing out, another signing in).
  function batchAllPoints() {
    if (!patrol || !app.state.session) return Promise.resolve(null);
    var owner = { userId: app.state.session.user.id, ref: app.patrolRef() };
    function next() { return batchPoints(owner).then(function (item) { return item ? next() : null; }); }
    return next();
  }

  // --- starting and ending ----------------------------------------------------------------

  var starting = false;
  function start(event) {
    event.preventDefault();
    if (starting || patrol) return;  // a second tap starts nothing
    var committeeId = selectedCommittee();
    var committee = committees().filter(function (c) { return c.id === committeeId; })[0];
    if (!committee) { showError("patrol.error.no_committee"); return; }
    var present = Array.prototype.map.call(document.querySelectorAll("input[name=member]:checked"), function (input) {
      return Number(input.value);
    });
    var onPatrol = people(committeeId).filter(function (p) { return present.indexOf(p.id) >= 0; });
    var startedAt = new Date();
    starting = true;
    $("patrol-start-button").disabled = true;
    app.store.clearPoints().then(function () {
      return app.act("patrol_start", { committee_id: committeeId, members: present }, startedAt);
    }).then(function (item) {
      patrol = {
        client_id: item.client_id, id: null, committee_id: committeeId, committee_name: committee.name,
        members: onPatrol, started_at: startedAt.toISOString(), tracking: true
      };
      return save();
    }).then(function () {
      $("patrol-error").hidden = true;
      startTracking();
      renderActive();
      $("patrol-summary").focus();
    }).catch(function (error) {
      console.error(error);
      showError("patrol.error.not_saved");
    }).then(function () {
      starting = false;
      $("patrol-start-button").disabled = false;
    });
  }

  function end() {
    if (!patrol) return;
    var ref = app.patrolRef();
    var ended = patrol;
    $("patrol-end-yes").disabled = true;
    batchAllPoints().then(function () {  // every point before the end, so none is left behind
      return app.act("patrol_end", ref, new Date());
    }).then(function () {
      stopTracking();
      patrol = null;
      return save();
    }).then(function () {
      closeConfirm();
      renderStart();
      renderActive();
      app.toast(t("patrol.ended", { committee: ended.committee_name || "" }), "info");
    }).catch(function (error) {
      console.error(error);
      showError("patrol.error.not_saved");
    }).then(function () { $("patrol-end-yes").disabled = false; });
  }

  function closeConfirm() { $("patrol-end-confirm").hidden = true; }

  function showError(key, params) {
    var box = $("patrol-error");
    box.textContent = t(key, params);
    box.hidden = false;
  }

  function startPending() {
    return Boolean(patrol && patrol.client_id && app.state.items.some(function (item) {
      return item.client_id === patrol.client_id && item.state === "pending";
    }));
  }

  function adopt(server) {
    var tracking = patrol ? patrol.tracking : false;
    patrol = {
      client_id: patrol ? patrol.client_id : null, id: server.id, committee_id: server.committee_id,
      committee_name: server.committee_name, members: server.members, started_at: server.started_at,
      tracking: tracking, sent_first: patrol ? patrol.sent_first : false
    };
    save();
    if (tracking) startTracking();
  }

  function closedElsewhere() {
    stopTracking();
    closeConfirm();
    var points = batchAllPoints();  // what this phone recorded still belongs to the shift
    patrol = null;
    save();
    points.then(function () { app.toast(t("patrol.closed_elsewhere"), "info"); });
  }

  function endPending() {
    return app.state.items.some(function (item) { return item.op === "patrol_end" && item.state === "pending"; });
  }

  // What the server says of the person's shift (GET /api/v1/me, or the push to its members): a
  // patrol started on another member's phone is adopted (without tracking until asked); one
  // that ended elsewhere is closed here too. A start still waiting in the outbox is left alone.
  function fromServer(server) {
    if (server && server.status === "active") {
      if (!patrol && endPending()) return;  // ended here, the end not sent yet: it is not active
      if (!patrol || patrol.id === server.id || (!patrol.id && !startPending())) adopt(server);
    } else if (patrol && (server ? server.id === patrol.id : patrol.id || !startPending())) {
      closedElsewhere();
    }
    renderStart();
    renderActive();
  }

  // A patrol the server refused to start never existed: its track and end are dropped, and the
  // reports made "during" it are sent again without it.
  function forgetPatrol(clientId) {
    stopTracking();
    app.store.clearPoints();
    if (patrol && patrol.client_id === clientId) { patrol = null; save(); }
    var work = app.state.items.filter(function (item) {
      return item.data && item.data.patrol_client_id === clientId;
    }).map(function (item) {
      if (item.op === "positions" || item.op === "patrol_end") return app.store.deleteItem(item.seq);
      delete item.data.patrol_client_id;
      item.state = "pending";
      item.error = null;
      return app.store.putItem(item);
    });
    Promise.all(work).then(function () { app.refreshItems(); app.syncSoon(); });
    renderStart();
    renderActive();
  }

  function aboutPatrol(error) {
    return Boolean(error && (error.fields || []).some(function (f) {
      return f.field === "data.patrol_id" || f.field === "data.patrol_client_id";
    }));
  }

  var asking = false;
  // After every look at the outbox (the page's own syncs, or the service worker's while the
  // app was closed): settle what became of a start, and never let a report wait on a patrol.
  function reconcile(items) {
    if (patrol && !patrol.id && patrol.client_id) {
      var start = items.filter(function (item) { return item.client_id === patrol.client_id; })[0];
      if (start && start.state === "rejected") {
        // Said once on this screen; the refused start itself cannot be retried, it goes.
        showError("patrol.error.refused", { reason: (start.error || {}).message || "" });
        forgetPatrol(start.client_id);
        app.store.deleteItem(start.seq).then(function () {
          app.refreshItems();
          if (app.sessionValid()) app.loadMe();  // the patrol they may be on after all (a colleague's)
        });
        return;
      }
      if (!start && app.sessionValid() && !asking) {  // sent while we were not looking: ask for its id
        asking = true;
        app.loadMe().then(function () { asking = false; });
      }
    }
    var repairs = items.filter(function (item) {
      return item.state === "rejected" && (item.op === "incident" || item.op === "alarm") && aboutPatrol(item.error);
    }).map(function (item) {
      delete item.data.patrol_id;
      delete item.data.patrol_client_id;
      item.state = "pending";
      item.error = null;
      return app.store.putItem(item);
    });
    if (repairs.length) Promise.all(repairs).then(function () { app.refreshItems(); app.syncSoon(); });
  }

  // The outbox's answers: the server id of a patrol started offline.
  function synced(report) {
    report.applied.forEach(function (entry) {
      if (entry.item.op === "patrol_start" && patrol && patrol.client_id === entry.item.client_id) {
        patrol.id = entry.result.id;
        save();
      }
    });
  }

  // --- incidents the station sent this patrol to ---------------------------------------------
  var assignments = {};  // incident id -> what the members see of it

  function ours(view) {
    return Boolean(patrol && patrol.id && view.assigned_patrol_id === patrol.id && view.status === "dispatched");
  }

  // A push: the station dispatched this patrol (new: said aloud), or took the incident off it.
  function assigned(view) {
    var isNew = !assignments[view.id];
    if (ours(view)) {
      assignments[view.id] = view;
      if (isNew) {
        app.toast(t("patrol.assigned_new", { kind: app.kindLabel(view.kind), block: view.block_name || "" }), "news");
        if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
      }
    } else {
      delete assignments[view.id];
    }
    renderAssignments();
  }

  // What the server says the patrol is sent to now (after sign-in or a reconnection).
  function replaceAssignments(views) {
    assignments = {};
    (views || []).forEach(function (view) { if (ours(view)) assignments[view.id] = view; });
    renderAssignments();
  }

  function renderAssignments() {
    var list = $("patrol-assigned-list");
    var ids = Object.keys(assignments).map(Number).sort(function (a, b) { return a - b; });
    $("patrol-assigned").hidden = !patrol || !ids.length;
    list.textContent = "";
    ids.forEach(function (id) {
      var view = assignments[id];
      var box = el("li", "card assignment");
      box.setAttribute("data-incident", id);
      var head = el("p", "card-title");
      head.appendChild(el("strong", null, app.kindLabel(view.kind)));
      head.appendChild(el("span", "badge badge-dispatched", app.i18n.ago(view.updated_at)));
      box.appendChild(head);
      box.appendChild(el("p", "meta", [view.block_name, app.i18n.time(view.occurred_at)].filter(Boolean).join(" · ")));
      if (view.note) box.appendChild(el("p", "change", t("patrol.assigned_note", { note: view.note })));
      if (view.description) box.appendChild(el("p", "description", view.description));
      var go = el("a", "button-link", t("patrol.assigned_directions"));
      go.href = "geo:" + view.lat + "," + view.lon + "?q=" + view.lat + "," + view.lon;
      box.appendChild(go);
      list.appendChild(box);
    });
  }

  app.screens.patrol = {
    init: function () {
      $("patrol-start").addEventListener("submit", start);
      $("patrol-end").addEventListener("click", function () { $("patrol-end-confirm").hidden = false; $("patrol-end-yes").focus(); });
      $("patrol-end-yes").addEventListener("click", end);
      $("patrol-end-no").addEventListener("click", function () { closeConfirm(); $("patrol-end").focus(); });
      $("patrol-track-toggle").addEventListener("click", function () {
        if (!patrol) return;
        patrol.tracking = !patrol.tracking;
        save();
        if (patrol.tracking) startTracking();
        else batchAllPoints().then(stopTracking);
        renderActive();
      });
      app.on("session", function () {
        if (!app.patrols()) return;
        app.store.get("patrol").then(function (kept) {
          patrol = kept || null;
          if (patrol && patrol.tracking) startTracking();
          renderActive();
          loadMembers();
        });
      });
      app.on("me", function (user) {
        if (!app.patrols()) return;
        fromServer(user.active_patrol);
        replaceAssignments(user.active_patrol && user.active_patrol.assignments);
        loadMembers();
      });
      app.on("assignment", function (view) { if (app.patrols()) assigned(view); });
      app.on("ownpatrol", function (server) { if (app.patrols()) fromServer(server); });
      app.on("outbox", function (items) { if (app.patrols()) reconcile(items); });
      app.on("fix", onFix);
      app.on("synced", synced);
      app.on("lang", function () { renderStart(); renderActive(); });
      app.on("signout", function () {
        // The person's last points go to their outbox (sent when they are back), then nothing
        // of them stays on screen.
        var points = batchAllPoints();
        stopTracking();
        patrol = null;
        members = {};
        assignments = {};
        renderAssignments();
        closeConfirm();
        $("patrol-error").hidden = true;
        renderActive();
        points.then(function () { return app.store.clearPoints(); });
      });
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible" && patrol && patrol.tracking) keepAwake();
        if (document.visibilityState === "hidden") batchPoints();  // the browser may stop us now
      });
    },
    shown: function () { renderStart(); renderActive(); }
  };
})(self);
