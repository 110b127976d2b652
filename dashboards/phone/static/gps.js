// One GPS watch (the Geolocation API's watchPosition) shared by whoever needs a fix: the report
// form, the alarm, a patrol. It runs while at least one of them asks, and stops after.
(function (self) {
  "use strict";
  var app = self.Ronda;
  var owners = {};
  var watchId = null;
  var gps = { fix: null, error: null };

  function onFix(position) {
    var c = position.coords;
    gps.error = null;
    gps.fix = {
      lat: Math.round(c.latitude * 1e6) / 1e6,
      lon: Math.round(c.longitude * 1e6) / 1e6,
      accuracy: typeof c.accuracy === "number" ? Math.round(c.accuracy) : null,
      speed: typeof c.speed === "number" && c.speed >= 0 ? c.speed : null,
      bearing: typeof c.heading === "number" && c.heading >= 0 && c.heading <= 360 ? c.heading : null,
      t: new Date(position.timestamp || Date.now()).toISOString(),
      received: Date.now()
    };
    app.emit("fix", gps.fix);
  }

  function onError(error) {
    // 1: permission denied, 2: no position, 3: timed out (the watch goes on after 2 and 3).
    gps.error = error.code === 1 ? "denied" : "unavailable";
    app.emit("fixerror", gps.error);
  }

  function ensure() {
    if (watchId !== null) return;
    if (!navigator.geolocation) { gps.error = "unsupported"; app.emit("fixerror", gps.error); return; }
    watchId = navigator.geolocation.watchPosition(onFix, onError, {
      enableHighAccuracy: true, maximumAge: 5000, timeout: 60000
    });
  }

  // `owner` ("report", "alarm", "patrol") needs fixes until it lets go.
  gps.want = function (owner) { owners[owner] = true; ensure(); };
  gps.release = function (owner) {
    delete owners[owner];
    if (watchId !== null && !Object.keys(owners).length) {
      navigator.geolocation.clearWatch(watchId);
      watchId = null;
    }
  };
  // The last fix if it is at most `maxAgeMs` old.
  gps.recent = function (maxAgeMs) {
    return gps.fix && Date.now() - gps.fix.received <= maxAgeMs ? gps.fix : null;
  };

  app.gps = gps;
})(self);
