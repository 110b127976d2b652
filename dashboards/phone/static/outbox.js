// The outbox: every action is stored on the phone first, then sent with POST /api/v1/sync.
// An item leaves only when the server answered applied or already_applied; a refused item
// stays with the server's reason. A reload, a crash or a server restart mid-sync loses nothing
// and duplicates nothing (the server remembers each client_id). Used by the page and by the
// service worker (background sync); no DOM here.
(function (self) {
  "use strict";
  var store = self.RondaStore;
  var SYNC_URL = "/api/v1/sync";
  var BATCH = 200;  // operations per request: ~8 KB gzipped, a few seconds on 3G
  var TIMEOUT_MS = 60000;  // a batch stuck on a dying link is given up, and sent again later
  var batch = BATCH;  // halved after a "too large" answer
  var chain = Promise.resolve();

  function uuid() {
    if (self.crypto && self.crypto.randomUUID) return self.crypto.randomUUID();
    // Plain-http origins have no randomUUID; getRandomValues is there everywhere.
    var bytes = self.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // One sync at a time on this phone: across tabs and the service worker when the browser has
  // Web Locks, within this page otherwise. Two at once would be harmless, only wasteful.
  function exclusive(task) {
    if (self.navigator && self.navigator.locks && self.navigator.locks.request) {
      return self.navigator.locks.request("ronda-outbox", task);
    }
    var run = chain.then(task, task);
    chain = run.catch(function () {});
    return run;
  }

  // Store an action of `userId` (what the person did, when by the phone's clock) before sending it.
  function queue(userId, op, data, at) {
    return store.addItem({
      client_id: uuid(),
      op: op,
      at: (at || new Date()).toISOString(),
      data: data,
      user_id: userId,
      state: "pending",
      error: null,
      saved_at: new Date().toISOString()
    });
  }

  function gzip(text) {
    if (typeof self.CompressionStream !== "function") return Promise.resolve(null);
    var stream = new Blob([text]).stream().pipeThrough(new self.CompressionStream("gzip"));
    return new Response(stream).arrayBuffer().catch(function () { return null; });
  }

  function post(body, session, lang) {
    return gzip(body).then(function (packed) {
      var headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer " + session.token,
        "Accept-Language": lang || "es"
      };
      if (packed) headers["Content-Encoding"] = "gzip";
      var controller = typeof AbortController === "function" ? new AbortController() : null;
      var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
      // The timer also covers reading the answer; aborting a finished request does nothing.
      return fetch(SYNC_URL, {
        method: "POST", headers: headers, body: packed || body, cache: "no-store",
        signal: controller ? controller.signal : undefined
      }).catch(function (error) { clearTimeout(timer); throw error; });
    });
  }

  // Send the pending items of the signed-in person, oldest first, until none is left or the
  // network says no. Resolves {status, applied: [{item, result}], rejected: [{item, result}],
  // retryAfter}; status is "done", "offline", "unauthorized", "retry" or "empty".
  function flush(session, lang) {
    return exclusive(function () {
      var report = { status: "empty", applied: [], rejected: [], retryAfter: null, clash: false };
      function round() {
        return store.items().then(function (all) {
          var sent = all.filter(function (item) {
            return item.state === "pending" && item.user_id === session.user.id;
          }).slice(0, batch);
          if (!sent.length) return report;
          var body = JSON.stringify({
            operations: sent.map(function (item) {
              return { op: item.op, client_id: item.client_id, at: item.at, data: item.data };
            })
          });
          return post(body, session, lang).then(function (response) {
            if (response.status === 401) { report.status = "unauthorized"; return report; }
            if (response.status === 413 && batch > 1) {  // too much at once for this server: smaller batches
              batch = Math.ceil(batch / 2);
              return round();
            }
            if (!response.ok) {
              report.status = "retry";
              report.retryAfter = Number(response.headers.get("Retry-After")) || null;
              return report;
            }
            batch = BATCH;
            return response.json().then(function (answer) {
              var results = answer.results || [];
              var again = false;
              results.forEach(function (result) {
                var entry = { item: sent[result.index], result: result };
                if (!entry.item) return;
                if (result.status !== "rejected") report.applied.push(entry);
                else if (store.retries(entry.item, result)) again = true;  // a clash: goes again, later
                else report.rejected.push(entry);
              });
              return store.settle(sent, results).then(function () {
                report.status = again ? "retry" : "done";
                report.clash = again;
                var progressed = results.some(function (result) { return sent[result.index]; });
                return store.set("lastSync", new Date().toISOString()).then(function () {
                  // An answer about none of them, or a clash to retry: stop here, the loop comes back.
                  return progressed && !again ? round() : report;
                });
              });
            });
          }, function () {
            report.status = "offline";
            return report;
          });
        });
      }
      return round();
    });
  }

  // For the service worker: send what is stored, with the stored session, if it is still valid.
  function flushStored() {
    return Promise.all([store.get("session"), store.get("lang")]).then(function (values) {
      var session = values[0];
      if (!session || !session.token || Date.parse(session.expires_at) <= Date.now()) return null;
      return flush(session, values[1] || "es");
    });
  }

  self.RondaOutbox = { uuid: uuid, queue: queue, flush: flush, flushStored: flushStored, exclusive: exclusive };
})(self);
