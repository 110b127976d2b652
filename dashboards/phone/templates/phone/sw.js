// Ronda's service worker (scope /app/): the app shell and its files are cached at install, so
// after the first visit the app opens with no network at all. A new version installs beside the
// old one and takes over when the person taps "Actualizar" (or when every tab of the old one is
// closed), so an open page never mixes files of two versions. The API and Socket.IO are never
// answered from here: the app knows it is offline and keeps what the person did in its outbox,
// which this worker also sends when the signal comes back (Background Sync), app closed or not.
"use strict";
var VERSION = {{ version|tojson }};
var CACHE = "ronda-app-" + VERSION;
var SCOPE = {{ scope|tojson }};
var SHELL = {{ shell|tojson }};
var PRECACHE = {{ precache|tojson }};
var PRECACHED = {};
PRECACHE.forEach(function (url) { PRECACHED[url] = true; });
importScripts.apply(self, {{ scripts|tojson }});

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE).then(function (cache) {
      // cache: "reload": the server's copy, not one an HTTP cache kept from an older version.
      return cache.addAll(PRECACHE.map(function (url) { return new Request(url, { cache: "reload" }); }));
    })
  );
});

self.addEventListener("message", function (event) {
  if (event.data === "skip-waiting") self.skipWaiting();  // the person asked for the new version
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (key) {
        return key.indexOf("ronda-app-") === 0 && key !== CACHE;
      }).map(function (key) { return caches.delete(key); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.indexOf(SCOPE) === 0) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(SHELL);
    }).then(function (shell) { return shell || fetch(request); }));
    return;
  }
  if (PRECACHED[url.pathname + url.search]) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(request);
    }).then(function (kept) { return kept || fetch(request); }));
  }
  // Anything else (the API, Socket.IO, map tiles) goes to the network untouched.
});

self.addEventListener("sync", function (event) {
  if (event.tag !== "ronda-outbox") return;
  event.waitUntil(self.RondaOutbox.flushStored().then(function (report) {
    // Rejecting asks the browser to try again later, with the signal back.
    if (report && (report.status === "offline" || report.status === "retry")) throw new Error("outbox not sent yet");
  }));
});
