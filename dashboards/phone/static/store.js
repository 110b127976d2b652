// The phone's own storage (IndexedDB, through idb): the outbox of what the person did, GPS points
// buffered during a patrol, and kept data (session, kinds, zone map, own reports) under "meta".
// Loaded by the page and by the service worker; no DOM here.
(function (self) {
  "use strict";
  var NAME = "ronda";
  var VERSION = 1;
  // Outbox writes are flushed to disk before they count as done: a report the person saw
  // "guardado" survives the phone dying a second later.
  var STRICT = { durability: "strict" };
  var opening = null;

  function open() {
    if (!opening) {
      opening = self.idb.openDB(NAME, VERSION, {
        upgrade: function (db) {
          var outbox = db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
          outbox.createIndex("client_id", "client_id", { unique: true });
          db.createObjectStore("points", { keyPath: "seq", autoIncrement: true });
          db.createObjectStore("meta");
        },
        blocked: function () { /* another tab holds an older version; it reloads on versionchange */ },
        terminated: function () { opening = null; }
      });
    }
    return opening;
  }

  function get(key) { return open().then(function (db) { return db.get("meta", key); }); }
  function set(key, value) { return open().then(function (db) { return db.put("meta", value, key); }); }
  function remove(key) { return open().then(function (db) { return db.delete("meta", key); }); }

  // --- the outbox ------------------------------------------------------------------------
  // An item: {seq, client_id, op, at, data, user_id, state: "pending"|"rejected", error, saved_at}

  function addItem(item) {
    return open().then(function (db) {
      var tx = db.transaction("outbox", "readwrite", STRICT);
      var added = tx.store.add(item);
      return Promise.all([added, tx.done]).then(function (done) { item.seq = done[0]; return item; });
    });
  }

  function items() {
    return open().then(function (db) { return db.getAll("outbox"); });  // in seq order: the order of acting
  }

  function itemByClientId(clientId) {
    return open().then(function (db) { return db.getFromIndex("outbox", "client_id", clientId); });
  }

  function putItem(item) {
    return open().then(function (db) {
      var tx = db.transaction("outbox", "readwrite", STRICT);
      tx.store.put(item);
      return tx.done;
    });
  }

  function deleteItem(seq) {
    return open().then(function (db) {
      var tx = db.transaction("outbox", "readwrite", STRICT);
      tx.store.delete(seq);
      return tx.done;
    });
  }

  // Whether a refused item goes again by itself: it clashed with a simultaneous request
  // (the server says `retry`), at most three times.
  function retries(item, result) {
    return Boolean(result.status === "rejected" && result.error && result.error.retry && (item.tries || 0) < 3);
  }

  // What the server answered for a batch: each confirmed item is deleted by its own key (never
  // by clearing the store), each refused one kept with the reason. One transaction.
  function settle(sent, results) {
    return open().then(function (db) {
      var tx = db.transaction("outbox", "readwrite", STRICT);
      results.forEach(function (result) {
        var item = sent[result.index];
        if (!item) return;
        if (result.status === "applied" || result.status === "already_applied") {
          tx.store.delete(item.seq);
        } else if (retries(item, result)) {
          item.tries = (item.tries || 0) + 1;
          tx.store.put(item);
        } else if (result.status === "rejected") {
          item.state = "rejected";
          item.error = result.error || null;
          tx.store.put(item);
        }
      });
      return tx.done;
    });
  }

  // --- GPS points of a patrol, until they become one outbox operation ----------------------

  function addPoint(point) {
    return open().then(function (db) {
      var tx = db.transaction("points", "readwrite", STRICT);
      tx.store.add(point);
      return tx.done;
    });
  }

  function countPoints() { return open().then(function (db) { return db.count("points"); }); }

  // Move the buffered points of a patrol into one `positions` operation, in one transaction:
  // a point is either buffered or in the outbox, never both, never neither.
  function pointsToItem(makeItem, limit) {
    return open().then(function (db) {
      var tx = db.transaction(["points", "outbox"], "readwrite", STRICT);
      var points = tx.objectStore("points");
      return points.getAll(null, limit).then(function (rows) {
        var made = rows.length ? makeItem(rows) : null;  // {item, rows: the points it took}
        if (!made) return tx.done.then(function () { return null; });
        var item = made.item;
        made.rows.forEach(function (row) { points.delete(row.seq); });
        var added = tx.objectStore("outbox").add(item);
        return Promise.all([added, tx.done]).then(function (done) { item.seq = done[0]; return item; });
      });
    });
  }

  function clearPoints() {
    return open().then(function (db) { return db.clear("points"); });
  }

  self.RondaStore = {
    open: open, get: get, set: set, remove: remove,
    addItem: addItem, items: items, itemByClientId: itemByClientId, putItem: putItem,
    deleteItem: deleteItem, settle: settle, retries: retries,
    addPoint: addPoint, countPoints: countPoints, pointsToItem: pointsToItem, clearPoints: clearPoints
  };
})(self);
