// Ronda on the phone: the core the screens share. Session (a bearer token from /api/v1), the
// outbox's sync loop, the status line ("2 reportes por enviar"), the live channel of one's own
// reports, navigation between the screens. The screens live in report.js, alarm.js, patrol.js
// and mine.js and register themselves on `Ronda.screens`; boot runs once every script is in.
(function (self) {
  "use strict";
  var store = self.RondaStore;
  var outbox = self.RondaOutbox;
  var i18n = self.RondaI18n;
  var t = i18n.t;
  var config = JSON.parse(document.getElementById("ronda-app-config").textContent);
  var SYNC_EVERY_MS = 5000;       // while something waits to be sent
  var DATA_MAX_AGE_MS = 86400000;  // zone map and kinds are read again after a day
  var REQUEST_TIMEOUT_MS = 20000;  // a request stuck on a dying link is given up (and retried)
  var ROUTES = { "#reportar": "report", "#alarma": "alarm", "#ronda": "patrol", "#mis-reportes": "mine" };

  function $(id) { return document.getElementById(id); }

  // A new element with a class and text (never HTML).
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  var listeners = {};
  function on(name, handler) { (listeners[name] = listeners[name] || []).push(handler); }
  function off(name, handler) {
    listeners[name] = (listeners[name] || []).filter(function (h) { return h !== handler; });
  }
  function emit(name, value) {
    (listeners[name] || []).forEach(function (handler) {
      try { handler(value); } catch (error) { console.error(error); }
    });
  }

  var state = {
    session: null,     // {token, expires_at, user: /api/v1/me}
    expired: false,    // the token was refused: the outbox waits for a new sign-in
    reachable: navigator.onLine,
    kinds: [],         // /api/v1/incident-kinds
    zone: null,        // the person's zone, a GeoJSON Feature
    blocks: null,      // its blocks, a FeatureCollection
    reports: null,     // {incidents, alarms, fetched_at}
    items: [],         // the outbox, as last read
    lastSync: null,
    syncing: false,
    view: null
  };

  var app = self.Ronda = {
    config: config, state: state, screens: {}, t: t, i18n: i18n, store: store, outbox: outbox,
    $: $, el: el, on: on, off: off, emit: emit
  };

  // --- talking to /api/v1 -------------------------------------------------------------------

  function api(path, options) {
    options = options || {};
    var headers = Object.assign({ "Accept-Language": i18n.lang() }, options.headers || {});
    if (options.token) headers.Authorization = "Bearer " + options.token;
    else if (state.session && !options.anonymous) headers.Authorization = "Bearer " + state.session.token;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
    var asked = state.session && state.session.token;
    return fetch(path, {
      method: options.method || "GET", headers: headers, body: options.body, cache: "no-store",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      // The timer keeps running while the answer is read: a body stuck halfway is given up too
      // (aborting a finished request does nothing).
      reachable(true);
      if (response.status === 401 && !options.anonymous && asked === (state.session && state.session.token)) expire();
      return response;
    }, function (error) {
      clearTimeout(timer);
      reachable(false);
      throw error;
    });
  }

  // The JSON of a GET, or an error; an answer that arrives after another person signed in on
  // this phone is dropped (it is the last person's).
  function getJSON(path) {
    var asked = state.session && state.session.token;
    return api(path).then(function (response) {
      if (!response.ok) throw new Error(path + " " + response.status);
      return response.json();
    }).then(function (body) {
      if ((state.session && state.session.token) !== asked) throw new Error("stale answer for " + path);
      return body;
    });
  }

  function reachable(value) {
    if (state.reachable === value) return;
    state.reachable = value;
    renderStatus();
    if (value) syncSoon();
  }

  // --- the session ----------------------------------------------------------------------------

  function sessionValid() {
    return Boolean(state.session && !state.expired && Date.parse(state.session.expires_at) > Date.now());
  }

  // why: "ended" when the session was closed (elsewhere, or by the administration), else it ran out.
  function expire(why) {
    if (!state.session || state.expired) return;
    state.expired = true;
    disconnectLive();
    var notice = $("session-expired-text");
    notice.setAttribute("data-i18n", why === "ended" ? "session.ended" : "session.expired");
    notice.textContent = t(notice.getAttribute("data-i18n"));
    $("session-expired").hidden = false;
    renderStatus();
  }

  // The token's end is known: say so then, not when something fails to go out.
  var expiryTimer = null;
  function watchExpiry() {
    clearTimeout(expiryTimer);
    if (!state.session) return;
    var left = Date.parse(state.session.expires_at) - Date.now();
    if (left <= 0) { expire(); return; }
    expiryTimer = setTimeout(expire, Math.min(left, 2147483647));
  }

  // newPassword: after a reset, the password chosen to replace the one-time code typed as `password`.
  function signIn(username, password, newPassword) {
    var reply = null;
    var request = newPassword
      ? api("/api/v1/auth/password", { method: "POST", anonymous: true,
          json: { username: username, password: password, new_password: newPassword } })
      : api("/api/v1/auth/token", { method: "POST", json: { username: username, password: password }, anonymous: true });
    return request
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (!response.ok) {
            var error = new Error(body.message || t("signin.failed"));
            error.status = response.status;
            error.code = body.error;
            if (body.fields && body.fields.length) error.message += " " + body.fields.map(function (f) { return f.problem; }).join(" ");
            throw error;
          }
          reply = body;
          return api("/api/v1/me", { token: body.access_token });
        });
      })
      .then(function (response) {
        if (!response.ok) throw new Error(t("signin.failed"));
        return response.json();
      })
      .then(function (user) {
        var previous = state.session && state.session.user;
        return store.get("lastUser").then(function (lastUser) {
          var changed = previous ? previous.id !== user.id : lastUser !== user.id;
          if (changed) forgetPerson();  // another person on this phone: nothing of the last one stays
          state.session = {
            token: reply.access_token,
            expires_at: new Date(Date.now() + reply.expires_in * 1000).toISOString(),
            user: user
          };
          state.expired = false;
          $("session-expired").hidden = true;
          return Promise.all([store.set("session", state.session), store.set("lastUser", user.id)]);
        });
      })
      .then(function () {
        if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () {});
        start(true);
      });
  }

  // What the screens keep of one person (their reports, their shift, their committees' names,
  // notices meant for them) goes when another person signs in or they sign out. What they
  // still have to send stays in the outbox, sent only with their own session.
  function forgetPerson() {
    disconnectLive();
    emit("signout");
    clearToasts();
    state.reports = null;
    state.zone = null;
    state.blocks = null;
    ["reports", "patrol", "committee_members", "zone"].forEach(function (key) { store.remove(key); });
  }

  function signOut() {
    var waiting = pendingItems().length;
    var question = waiting ? t("signout.pending", { count: waiting }) : t("signout.confirm");
    if (!window.confirm(question)) return;
    forgetPerson();
    clearTimeout(expiryTimer);
    state.session = null;
    state.expired = false;
    $("session-expired").hidden = true;
    store.remove("session").then(function () { showScreen("signin"); });
  }

  // --- the outbox and its sync loop --------------------------------------------------------

  function myItems() {
    var id = state.session && state.session.user.id;
    return state.items.filter(function (item) { return item.user_id === id; });
  }
  function pendingItems() { return myItems().filter(function (item) { return item.state === "pending"; }); }

  function refreshItems() {
    return store.items().then(function (items) {
      state.items = items;
      renderStatus();
      emit("outbox", items);
      return items;
    });
  }

  // Store an action and send it as soon as possible. Resolves with the stored item.
  function act(op, data, at) {
    return outbox.queue(state.session.user.id, op, data, at).then(function (item) {
      return refreshItems().then(function () {
        requestBackgroundSync();
        syncSoon();
        return item;
      });
    });
  }

  var syncTimer = null;
  var backoff = SYNC_EVERY_MS;
  function syncSoon(delay) {
    if (syncTimer) clearTimeout(syncTimer);
    syncTimer = setTimeout(function () { syncTimer = null; sync(); }, delay || 0);
  }

  function sync() {
    if (state.session && !state.expired && !sessionValid()) expire();
    if (!state.session || !sessionValid() || state.syncing) return Promise.resolve(null);
    if (!pendingItems().length) return Promise.resolve(null);
    state.syncing = true;
    renderStatus();
    return outbox.flush(state.session, i18n.lang()).then(function (report) {
      state.syncing = false;
      if (report.status === "unauthorized") expire();
      if (report.status === "offline") reachable(false);
      if (report.status === "done") reachable(true);
      backoff = report.status === "done" || report.status === "empty"
        ? SYNC_EVERY_MS : Math.min(backoff * 2, 30000);
      if (report.retryAfter) backoff = Math.max(backoff, report.retryAfter * 1000);
      if (report.clash) { backoff = SYNC_EVERY_MS; syncSoon(1000); }  // a clash with another request: again in a moment
      return store.get("lastSync").then(function (lastSync) {
        state.lastSync = lastSync || state.lastSync;
        return refreshItems();
      }).then(function () {
        if (report.applied.length || report.rejected.length) emit("synced", report);
        if (report.rejected.length) toast(t("sync.rejected", { count: report.rejected.length }), "warning");
        if (report.applied.length) loadReports();
        return report;
      });
    }, function (error) {
      state.syncing = false;
      console.error(error);
      renderStatus();
      return null;
    });
  }

  function requestBackgroundSync() {
    // Chromium on Android sends the outbox from the service worker once the signal is back,
    // even with the app closed.
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) return registration.sync.register("ronda-outbox");
    }).catch(function () {});
  }

  // --- the status line ------------------------------------------------------------------------

  function countsText() {
    var incidents = 0, alarms = 0, patrol = 0, rejected = 0;
    myItems().forEach(function (item) {
      if (item.state === "rejected") rejected += 1;
      else if (item.op === "incident") incidents += 1;
      else if (item.op === "alarm") alarms += 1;
      else patrol += 1;
    });
    var parts = [];
    if (incidents) parts.push(t("pending.incidents", { count: incidents }));
    if (alarms) parts.push(t("pending.alarms", { count: alarms }));
    if (patrol) parts.push(t("pending.patrol", { count: patrol }));
    var text = parts.length ? t("pending.waiting", { what: parts.join(" · ") }) : t("pending.none");
    if (rejected) text += " · " + t("pending.rejected", { count: rejected });
    return text;
  }

  // Screen readers hear the status line when it changes, not every time it is redrawn.
  function write(node, text) { if (node.textContent !== text) node.textContent = text; }

  function renderStatus() {
    var net = $("net");
    var online = navigator.onLine && state.reachable;
    write(net, state.syncing ? t("status.sending") : online ? t("status.online") : t("status.offline"));
    net.className = "net " + (state.syncing ? "sending" : online ? "online" : "offline");
    document.body.setAttribute("data-online", online ? "yes" : "no");
    if (!state.session) { write($("pending"), ""); write($("last-sync"), ""); return; }
    write($("pending"), countsText());
    write($("last-sync"), state.lastSync
      ? t("status.last_sync", { when: i18n.ago(state.lastSync) }) : t("status.never_synced"));
    var waiting = pendingItems().length;
    document.body.setAttribute("data-pending", String(waiting));
    var badge = $("mine-badge");
    var rejected = myItems().length - waiting;
    badge.textContent = waiting + rejected ? String(waiting + rejected) : "";
    badge.hidden = !(waiting + rejected);
  }

  // --- kept data: kinds, the zone map, one's own reports ---------------------------------------

  function fresh(kept) { return kept && Date.now() - Date.parse(kept.fetched_at) < DATA_MAX_AGE_MS; }

  function loadKinds() {
    return store.get("kinds").then(function (kept) {
      if (kept) { state.kinds = kept.items; emit("kinds", state.kinds); }
      if (fresh(kept) && kept.items.length) return state.kinds;
      return getJSON("/api/v1/incident-kinds").then(function (items) {
        state.kinds = items;
        emit("kinds", items);
        return store.set("kinds", { items: items, fetched_at: new Date().toISOString() });
      }).catch(function () { return state.kinds; });
    });
  }

  function loadZone() {
    var zoneId = state.session.user.zone_id;
    if (!zoneId) return Promise.resolve();
    return store.get("zone").then(function (kept) {
      if (kept && kept.zone_id === zoneId) { state.zone = kept.zone; state.blocks = kept.blocks; emit("zone"); }
      if (fresh(kept) && kept.zone_id === zoneId) return;
      return Promise.all([getJSON("/api/v1/zones"), getJSON("/api/v1/zones/" + zoneId + "/blocks")])
        .then(function (answers) {
          var zone = answers[0].features.filter(function (f) { return f.id === zoneId; })[0] || null;
          state.zone = zone;
          state.blocks = answers[1];
          emit("zone");
          return store.set("zone", { zone_id: zoneId, zone: zone, blocks: answers[1], fetched_at: new Date().toISOString() });
        }).catch(function () {});
    });
  }

  function loadMe() {
    return getJSON("/api/v1/me").then(function (user) {
      state.session.user = user;
      emit("me", user);
      return store.set("session", state.session);
    }).catch(function () {});
  }

  function loadReports() {
    if (!sessionValid()) return Promise.resolve();
    return getJSON("/api/v1/me/reports").then(function (answer) {
      answer.fetched_at = new Date().toISOString();
      if (state.reports) merge(state.reports, answer);
      state.reports = answer;
      noteContact();
      emit("reports", answer);
      return store.set("reports", answer);
    }).catch(function () {});
  }

  // The phone and the server just agreed on its state: that is a sync, whether or not
  // anything was waiting.
  function noteContact() {
    state.lastSync = new Date().toISOString();
    store.set("lastSync", state.lastSync);
    renderStatus();
  }

  // A fresh listing against what the phone showed: a push may have brought a newer state than a
  // listing that was slower to arrive (that state stays), and a change the phone missed while
  // away is announced.
  var RANK = { reported: 0, raised: 0, acknowledged: 1, dispatched: 2, resolved: 3, dismissed: 3, duplicate: 3 };
  function merge(before, after) {
    ["incidents", "alarms"].forEach(function (kind) {
      (after[kind] || []).forEach(function (view, index) {
        var old = (before[kind] || []).filter(function (o) { return sameReport(o, view); })[0];
        if (!old) return;
        if ((RANK[old.status] || 0) > (RANK[view.status] || 0)) {
          after[kind][index] = Object.assign({}, view, old, { my_pressed_at: view.my_pressed_at, joined: view.joined });
        } else if (old.status !== view.status) {
          announce(view);
        }
      });
    });
  }

  // --- the live channel of one's own reports ---------------------------------------------

  var socket = null;
  var socketLoading = null;

  function loadSocketClient() {
    if (self.io) return Promise.resolve();
    if (!socketLoading) {
      socketLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = config.assets.socketio;
        script.onload = resolve;
        script.onerror = function () { socketLoading = null; reject(new Error("socket.io")); };
        document.head.appendChild(script);
      });
    }
    return socketLoading;
  }

  function connectLive() {
    if (socket || !sessionValid()) return;
    loadSocketClient().then(function () {
      if (socket || !sessionValid()) return;
      socket = self.io({ auth: { token: state.session.token, feed: "mine" }, transports: ["websocket", "polling"] });
      var connectedBefore = false;
      socket.on("connect", function () {
        document.body.setAttribute("data-live", "yes");
        reachable(true);
        loadReports();  // what changed while the phone was away
        if (connectedBefore) loadMe();  // and the shift (a push missed meanwhile)
        connectedBefore = true;
      });
      socket.on("disconnect", function (reason) {
        document.body.setAttribute("data-live", "no");
        // Closed by the server (a token that ran out, a session ended elsewhere): ask once more;
        // a refusal then signs this phone out, keeping the outbox.
        if (reason === "io server disconnect") setTimeout(function () { if (socket) socket.connect(); }, 1000);
      });
      socket.on("connect_error", function (error) {
        document.body.setAttribute("data-live", "no");
        if (error && error.message === "unauthorized") expire();
      });
      socket.on("session_ended", function (info) { expire(info && info.reason === "ended" ? "ended" : "expired"); });
      socket.on("own_report_updated", ownReportUpdated);
      socket.on("own_patrol_updated", function (event) { emit("ownpatrol", event.data); });
      socket.on("patrol_assignment", function (event) { emit("assignment", event.data); });
    }).catch(function () { /* offline before the client ever loaded: tried again when online */ });
  }

  function disconnectLive() {
    if (socket) { socket.close(); socket = null; }
    document.body.setAttribute("data-live", "no");
  }

  function sameReport(a, b) { return a.type === b.type && a.id === b.id; }

  function ownReportUpdated(event) {
    var view = event.data;
    if (!state.reports) state.reports = { incidents: [], alarms: [], fetched_at: new Date().toISOString() };
    var list = view.type === "incident" ? state.reports.incidents : state.reports.alarms;
    var old = null;
    for (var i = 0; i < list.length; i++) {
      if (!sameReport(list[i], view)) continue;
      old = list[i];
      // What only the listing knows (when this person pressed, whether they joined) stays.
      list[i] = Object.assign({ my_pressed_at: old.my_pressed_at, joined: old.joined }, view);
      break;
    }
    if (!old) list.unshift(view);
    if (!old || old.status !== view.status) announce(view);
    store.set("reports", state.reports);
    emit("reports", state.reports);
  }

  // Who works incidents and alarms from the live map, not from the phone app.
  var OPERATORS = { police: true, serenazgo: true, admin: true };

  function kindLabel(code) {
    var kind = state.kinds.filter(function (k) { return k.code === code; })[0];
    return kind ? (i18n.lang() === "en" ? kind.label_en : kind.label_es) : code;
  }

  function kindName(code) { return kindLabel(code).toLocaleLowerCase(i18n.locale()); }

  function actorName(role) {
    var keys = { police: "actor.police", serenazgo: "actor.serenazgo", coordinator: "actor.coordinator", admin: "actor.admin" };
    return t(keys[role] || "actor.police");
  }

  // "Su reporte de robo fue atendido por la comisaría": a sentence for a change of one's own report.
  function changeText(view) {
    if (view.type === "incident") {
      if (view.status === "reported") return null;
      return t("own.incident." + view.status, { kind: kindName(view.kind), actor: actorName(view.changed_by_role) });
    }
    if (view.status === "raised") return null;
    var outcome = view.outcome === "false_alarm" ? "own.alarm.resolved_false" : "own.alarm." + view.status;
    return t(outcome, { block: view.block_name || "" });
  }

  function announce(view) {
    var text = changeText(view);
    if (!text) return;
    toast(text, "news");
    if (navigator.vibrate) navigator.vibrate(200);
  }

  // --- toasts ------------------------------------------------------------------------------

  // One notice at a time, the newest: older ones stay readable on their cards in "Mis reportes".
  var toastTimer = null;
  function toast(text, kind) {
    var box = $("toast");
    clearTimeout(toastTimer);
    box.textContent = text;
    box.className = "toast " + (kind || "info");
    box.hidden = false;
    toastTimer = setTimeout(clearToasts, 8000);
  }
  function clearToasts() {
    clearTimeout(toastTimer);
    toastTimer = null;
    $("toast").hidden = true;
  }

  // --- screens and navigation ----------------------------------------------------------------

  function showScreen(name) {
    ["signin", "police", "main"].forEach(function (screen) {
      var node = $("screen-" + screen);
      if (node) node.hidden = screen !== name;
    });
    $("tabs").hidden = name !== "main";
    $("signout").hidden = !state.session;
    $("status").hidden = !state.session;
    document.body.setAttribute("data-screen", name);
    if (name === "signin") {
      // Whose items wait is said only to the person signing in again (an expired session).
      var mine = state.session ? myItems().filter(function (item) { return item.state === "pending"; }).length : 0;
      var any = state.items.some(function (item) { return item.state === "pending"; });
      $("signin-waiting").hidden = !(mine || any);
      $("signin-waiting").textContent = mine ? t("signin.waiting", { count: mine }) : t("signin.waiting_someone");
      if (state.session) $("username").value = state.session.user.username;
    }
    renderWho();
  }

  function renderWho() {
    var user = state.session && state.session.user;
    $("who-name").textContent = user ? user.display_name || user.username : "";
    $("who-zone").textContent = user && user.zone_name ? user.zone_name : "";
  }

  function route() {
    if (!state.session || OPERATORS[state.session.user.role]) return;
    var view = ROUTES[location.hash] || "report";
    if (view === "patrol" && !app.patrols()) view = "report";
    Object.keys(ROUTES).forEach(function (hash) {
      var name = ROUTES[hash];
      var section = $("view-" + name);
      if (section) section.hidden = name !== view;
      var tab = $("tab-" + name);
      if (tab) {
        if (name === view) tab.setAttribute("aria-current", "page");
        else tab.removeAttribute("aria-current");
      }
    });
    var changed = state.view !== view;
    var previous = app.screens[state.view];
    if (changed && previous && previous.hidden) previous.hidden();
    state.view = view;
    var screen = app.screens[view];
    if (screen && screen.shown) screen.shown();
    if (changed) {
      var heading = $("view-" + view).querySelector("h1");
      if (heading && document.activeElement && document.activeElement !== document.body) heading.focus();
    }
  }

  function go(view) {
    var hash = Object.keys(ROUTES).filter(function (h) { return ROUTES[h] === view; })[0];
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  // Volunteers and coordinators patrol; neighbours never see a patrol feature.
  app.patrols = function () {
    var role = state.session && state.session.user.role;
    return role === "volunteer" || role === "coordinator";
  };

  // After sign-in (`signedIn`: /me was just read) or on opening with a kept session.
  function start(signedIn) {
    var user = state.session.user;
    if (OPERATORS[user.role]) {
      showScreen("police");
      document.body.setAttribute("data-ready", "police");
      return;
    }
    showScreen("main");
    watchExpiry();
    $("tab-patrol").hidden = !app.patrols();
    emit("session", state.session);
    route();
    refreshItems();
    if (state.expired || !sessionValid()) { state.expired = false; expire(); }
    // On 3G the report form comes first: its kinds, then the zone map, the live channel, the rest.
    loadKinds().then(function () {
      loadZone().then(connectLive);
      if (signedIn) { emit("me", state.session.user); loadReports(); }
      else loadMe().then(loadReports);
    });
    syncSoon();
  }

  // --- the language switch ---------------------------------------------------------------

  function useLanguage(lang) {
    return i18n.use(lang, config.assets.messages).then(function () {
      i18n.translate();
      $("lang-es").setAttribute("aria-pressed", String(i18n.lang() === "es"));
      $("lang-en").setAttribute("aria-pressed", String(i18n.lang() === "en"));
      store.set("lang", i18n.lang());
      renderStatus();
      emit("lang", i18n.lang());
    });
  }

  // --- the service worker ---------------------------------------------------------------------

  // A new version waits beside the running one until the person taps "Actualizar": a page
  // never runs with files of two versions, and nobody loses a half-typed report to an upgrade.
  var updating = false;
  function registerWorker() {
    if (!("serviceWorker" in navigator)) return;
    function offer(worker) {
      if (!worker || !navigator.serviceWorker.controller) return;  // the first install needs no offer
      $("update").hidden = false;
      $("update-now").onclick = function () { updating = true; worker.postMessage("skip-waiting"); };
    }
    navigator.serviceWorker.register(config.assets.worker, { scope: config.scope }).then(function (registration) {
      if (registration.waiting) offer(registration.waiting);
      registration.addEventListener("updatefound", function () {
        var worker = registration.installing;
        if (!worker) return;
        worker.addEventListener("statechange", function () { if (worker.state === "installed") offer(worker); });
      });
    }).catch(function (error) { console.warn("service worker not registered", error); });
    navigator.serviceWorker.addEventListener("controllerchange", function () { if (updating) location.reload(); });
  }

  // --- boot ------------------------------------------------------------------------------

  function boot() {
    useLanguage(i18n.preferred()).then(function () {
      $("lang-es").addEventListener("click", function () { useLanguage("es"); });
      $("lang-en").addEventListener("click", function () { useLanguage("en"); });
      $("signout").addEventListener("click", signOut);
      $("reauth").addEventListener("click", function () { showScreen("signin"); $("password").focus(); });
      $("toast").addEventListener("click", clearToasts);
      $("signin-form").addEventListener("submit", function (event) {
        event.preventDefault();
        var error = $("signin-error");
        var username = $("username").value.trim();
        var password = $("password").value;
        var choosing = !$("signin-new").hidden;
        var newPassword = choosing ? $("new-password").value : null;
        error.hidden = true;
        if (!username || !password) { error.textContent = t("signin.missing"); error.hidden = false; return; }
        if (choosing && newPassword !== $("repeat-password").value) {
          error.textContent = t("signin.mismatch"); error.hidden = false; return;
        }
        var button = $("signin-submit");
        button.disabled = true;
        signIn(username, password, newPassword).then(function () {
          $("signin-new").hidden = true;
          $("password").value = "";
        }, function (failure) {
          // A reset account: the code it was given opens only the choice of a new password.
          if (failure.code === "password_change_required") {
            $("signin-new").hidden = false;  // its notice says what to do; no error to show
            $("new-password").focus();
            return;
          }
          if (!choosing || failure.status !== 422) $("password").value = "";
          error.textContent = failure.status ? failure.message : navigator.onLine ? t("signin.unreachable") : t("signin.offline");
          error.hidden = false;
        }).then(function () { button.disabled = false; $("new-password").value = ""; $("repeat-password").value = ""; });
      });
      window.addEventListener("hashchange", route);
      window.addEventListener("online", function () { reachable(true); syncSoon(); connectLive(); });
      window.addEventListener("offline", function () { state.reachable = false; renderStatus(); });
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible") { syncSoon(); renderStatus(); }
      });
      setInterval(function () {
        renderStatus();
        if (pendingItems().length && !state.syncing && !syncTimer) syncSoon(backoff === SYNC_EVERY_MS ? 0 : backoff);
      }, SYNC_EVERY_MS);
      Object.keys(app.screens).forEach(function (name) { if (app.screens[name].init) app.screens[name].init(); });
      return Promise.all([store.get("session"), store.get("reports"), store.get("lastSync"), refreshItems()]);
    }).then(function (kept) {
      state.lastSync = kept[2] || null;
      $("splash").hidden = true;
      if (kept[0]) {
        state.session = kept[0];
        state.reports = kept[1] || null;
        start();
      } else {
        showScreen("signin");
        document.body.setAttribute("data-ready", "signin");
      }
      renderStatus();
      registerWorker();
    }).catch(function (error) {
      console.error(error);
      $("splash").textContent = t("boot.failed");
    });
  }

  Object.assign(app, {
    getJSON: getJSON, act: act, syncSoon: syncSoon, refreshItems: refreshItems, myItems: myItems, toast: toast,
    loadMe: loadMe, loadReports: loadReports, go: go, kindLabel: kindLabel, changeText: changeText,
    sessionValid: sessionValid
  });
  document.addEventListener("DOMContentLoaded", boot);
})(self);
