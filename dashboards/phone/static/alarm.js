// "Alarma": the block alarm. Pressed and held for 2 s (a pocket press or a stray tap does
// nothing), then 5 s to cancel, then it goes to the outbox with the GPS fix and the time it was
// pressed. Keyboards hold Space or Enter; screen readers double-tap and hold.
(function (self) {
  "use strict";
  var app = self.Ronda;
  var t = app.t;
  var $ = app.$;
  var HOLD_MS = 2000;
  var CANCEL_S = 5;
  var FIX_MAX_AGE_MS = 120000;
  var WAIT_FOR_FIX_MS = 20000;
  var MAX_ACCURACY_M = 200;
  var holdTimer = null;
  var holding = false;
  var countdown = null;  // {pressedAt, left, timer}: from the hold until the alarm is stored or cancelled

  function help(key, params) { $("alarm-help").textContent = key ? t(key, params) : ""; }

  function startHold() {
    if (holding || countdown) return;
    holding = true;
    $("alarm-button").classList.add("holding");
    help("alarm.keep_holding");
    holdTimer = setTimeout(held, HOLD_MS);
  }

  function stopHold() {
    if (!holding) return;
    holding = false;
    clearTimeout(holdTimer);
    $("alarm-button").classList.remove("holding");
    help("alarm.hold_longer");
  }

  function held() {
    holding = false;
    $("alarm-button").classList.remove("holding");
    if (navigator.vibrate) navigator.vibrate(150);
    countdown = { pressedAt: new Date(), left: CANCEL_S, timer: null };
    $("alarm-countdown").hidden = false;
    document.body.classList.add("sheet-open");
    $("alarm-button").disabled = true;
    help(null);
    tick();
    $("alarm-cancel").focus();
  }

  function tick() {
    if (!countdown) return;
    if (countdown.left <= 0) { send(countdown.pressedAt); return; }
    $("alarm-countdown-text").textContent = t("alarm.sending_in", { count: countdown.left });
    countdown.left -= 1;
    countdown.timer = setTimeout(tick, 1000);
  }

  function closeCountdown() {
    $("alarm-countdown").hidden = true;
    document.body.classList.remove("sheet-open");
    $("alarm-button").disabled = false;
  }

  // Cancelling works at any moment before the alarm is stored: during the 5 s, while waiting
  // for the GPS, while choosing the place on the map.
  function cancel() {
    if (!countdown) return;
    clearTimeout(countdown.timer);
    countdown = null;
    closeCountdown();
    if (app.closeMap) app.closeMap();
    $("alarm-result").textContent = t("alarm.cancelled");
    $("alarm-button").focus();
  }

  function waitForFix() {
    var fix = app.gps.recent(FIX_MAX_AGE_MS);
    if (fix) return Promise.resolve(fix);
    if (app.gps.error === "denied" || app.gps.error === "unsupported") return Promise.resolve(null);  // no use waiting
    $("alarm-countdown-text").textContent = t("alarm.waiting_fix");
    return new Promise(function (resolve) {
      var timer = setTimeout(function () { resolve(null); }, WAIT_FOR_FIX_MS);
      app.on("fix", function once(next) {
        app.off("fix", once);
        if (timer === null) return;
        clearTimeout(timer);
        timer = null;
        resolve(next);
      });
    });
  }

  function send(pressedAt) {
    var mine = countdown;  // this alarm: a cancel in between replaces it with null
    clearTimeout(mine.timer);
    waitForFix().then(function (fix) {
      if (countdown !== mine) return null;
      if (fix) return { lat: fix.lat, lon: fix.lon };
      // No GPS: the place is tapped on the map (closing it cancels the alarm).
      $("alarm-countdown").hidden = true;
      return app.pickPoint(t("alarm.no_fix"));
    }).then(function (where) {
      if (countdown !== mine) return null;  // cancelled meanwhile: nothing is sent
      countdown = null;
      closeCountdown();
      if (!where) { $("alarm-result").textContent = t("alarm.not_sent_no_place"); return null; }
      // Only a patrol the server has confirmed: an alarm must never be refused over its patrol.
      var patrol = app.patrolRef();
      var data = Object.assign({ source: "app", lat: where.lat, lon: where.lon }, patrol.patrol_id ? patrol : {});
      return app.act("alarm", data, pressedAt).then(function (item) {
        lastAlarm = item.client_id;
        $("alarm-result").textContent = t(navigator.onLine ? "alarm.sending" : "alarm.saved");
      });
    }).catch(function (error) {
      console.error(error);
      $("alarm-result").textContent = t("alarm.not_saved");
    });
  }

  var lastAlarm = null;

  function renderFix() {
    var fix = app.gps.recent(FIX_MAX_AGE_MS);
    var line = $("alarm-location");
    line.className = "location-line";
    if (fix && fix.accuracy > MAX_ACCURACY_M) {
      line.textContent = t("alarm.location_poor", { metres: fix.accuracy });
      line.className = "location-line warning";
    } else if (fix) {
      line.textContent = t("alarm.location", {
        metres: fix.accuracy || 0, block: app.blockName(fix.lat, fix.lon) || t("report.location.no_block")
      });
    }
    else if (app.gps.error === "denied") line.textContent = t("report.location.denied");
    else line.textContent = t("report.location.searching");
    $("alarm-countdown-place").textContent = line.textContent;
  }

  app.screens.alarm = {
    init: function () {
      var button = $("alarm-button");
      button.addEventListener("pointerdown", function (event) {
        if (event.button !== 0) return;
        event.preventDefault();
        if (button.setPointerCapture) { try { button.setPointerCapture(event.pointerId); } catch (e) { /* not capturable */ } }
        startHold();
      });
      ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (name) { button.addEventListener(name, stopHold); });
      button.addEventListener("contextmenu", function (event) { event.preventDefault(); });  // a long press is ours
      button.addEventListener("keydown", function (event) {
        if ((event.key === " " || event.key === "Enter") && !event.repeat) { event.preventDefault(); startHold(); }
        else if (event.key === " " || event.key === "Enter") event.preventDefault();
      });
      button.addEventListener("keyup", function (event) { if (event.key === " " || event.key === "Enter") stopHold(); });
      button.addEventListener("click", function (event) {
        // A click that was not a hold (a tap, a screen reader's double tap): say how it works.
        if (!holding && !countdown && event.detail !== undefined) help("alarm.hold_longer");
      });
      $("alarm-cancel").addEventListener("click", cancel);
      app.on("fix", renderFix);
      app.on("fixerror", renderFix);
      app.on("lang", renderFix);
      app.on("zone", renderFix);
      app.on("signout", function () {
        cancel();
        lastAlarm = null;
        $("alarm-result").textContent = "";
        help(null);
      });
      app.on("synced", function (report) {
        report.applied.concat(report.rejected).forEach(function (entry) {
          if (entry.item.client_id !== lastAlarm) return;
          $("alarm-result").textContent = entry.result.status === "rejected"
            ? t("alarm.rejected", { reason: (entry.result.error && entry.result.error.fields && entry.result.error.fields[0]
              ? entry.result.error.fields[0].problem : (entry.result.error || {}).message) || "" })
            : t("alarm.sent");
        });
      });
    },
    shown: function () {
      app.gps.want("alarm");
      renderFix();
    },
    hidden: function () { if (!countdown) app.gps.release("alarm"); }
  };
})(self);
