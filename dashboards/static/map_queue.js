// The operator's queue, "Por atender": alarms and open incidents in the order they should be
// attended, kept current and walked with the arrow keys; on a phone a drawer. Beside it the
// phone's menu, the other drawer that Escape closes.
(function () {
  "use strict";
  var M = window.RondaMap;
  var config = M.config, text = M.text, el = M.el, fmt = M.fmt, ms = M.ms, agoNode = M.agoNode;
  var statusLabel = M.statusLabel, kindLabel = M.kindLabel, zoneLabel = M.zoneLabel, reportedAt = M.reportedAt;

  // --- the queue: what waits for an operator ----------------------------------------------
  var queue = document.getElementById("queue");
  var queueList = document.getElementById("queue-list");
  var queueCount = document.getElementById("queue-count");
  var queueToggle = document.getElementById("queue-toggle");
  var queueClose = document.getElementById("queue-close");
  var queueRows = {};  // "a7" / "i12" -> <li>
  var queueEmpty = null;
  var queueScheduled = false;
  function scheduleQueue() {
    if (!queueList || queueScheduled) return;
    queueScheduled = true;
    setTimeout(function () { queueScheduled = false; renderQueue(); }, 0);
  }
  // Unacknowledged alarms first, then open incidents from the oldest report, then alarms already
  // attended but not yet closed.
  function queueEntries() {
    var alarms = M.alarms, incidents = M.incidents, latest = M.latest;
    var entries = [];
    Object.keys(alarms).forEach(function (id) {
      var a = alarms[id].data;
      if (a.status !== "raised" && a.status !== "acknowledged") return;
      entries.push({
        key: "a" + a.id, rank: a.status === "raised" ? 0 : 2, since: a.raised_at,
        late: !!a.escalated_at && a.status === "raised", title: text.alarm, place: a.block_name || zoneLabel(a.zone_id),
        zone: zoneLabel(a.zone_id), status: a.status, statusText: config.alarmStatuses[a.status] || a.status,
        lateText: text.escalated, type: "alarm"
      });
    });
    Object.keys(incidents).forEach(function (id) {
      var d = latest[id];
      entries.push({
        key: "i" + d.id, rank: 1, since: reportedAt(d), late: M.overdue(d), title: kindLabel(d.kind),
        place: d.block_name || "", zone: zoneLabel(d.zone_id), status: d.status, statusText: statusLabel(d.status),
        lateText: text.overdue, type: "incident", ended: M.patrolGone(d)
      });
    });
    return entries.sort(function (x, y) {
      return x.rank - y.rank || ms(x.since) - ms(y.since) || (x.key < y.key ? -1 : 1);
    });
  }
  function fillRow(node, entry) {
    node.className = "queue-item " + entry.type + (entry.late ? " overdue" : "") + (entry.ended ? " patrol-ended" : "");
    node.textContent = "";
    var top = el("span", "q-top");
    top.appendChild(el("strong", "q-title", entry.title));
    top.appendChild(el("span", "badge status-" + entry.status, entry.statusText));
    node.appendChild(top);
    node.appendChild(el("span", "q-place", entry.place ? entry.zone + " · " + entry.place : entry.zone));
    var bottom = el("span", "q-time");
    bottom.appendChild(agoNode(entry.since));
    if (entry.late) bottom.appendChild(el("span", "badge overdue", entry.lateText));
    if (entry.ended) bottom.appendChild(el("span", "badge patrol-ended", text.patrolEndedShort));
    node.appendChild(bottom);
  }
  function renderQueue() {
    if (!queueList) return;
    var entries = queueEntries();
    var active = document.activeElement;
    var activeKey = active && queueList.contains(active) ? active.getAttribute("data-key") : null;
    var activeIndex = activeKey ? Array.prototype.indexOf.call(queueList.children, active.parentNode) : -1;
    var wanted = {};
    entries.forEach(function (entry, index) {
      wanted[entry.key] = true;
      var li = queueRows[entry.key];
      if (!li) {
        li = el("li");
        var node = el("button");
        node.type = "button";
        node.setAttribute("data-key", entry.key);
        node.addEventListener("click", function () { openEntry(node.getAttribute("data-key")); });
        li.appendChild(node);
        queueRows[entry.key] = li;
      }
      fillRow(li.firstChild, entry);
      if (queueList.children[index] !== li) queueList.insertBefore(li, queueList.children[index] || null);
    });
    Object.keys(queueRows).forEach(function (key) {
      if (!wanted[key]) { queueList.removeChild(queueRows[key]); delete queueRows[key]; }
    });
    if (!queueEmpty) {
      queueEmpty = el("p", "queue-empty muted", text.queueEmpty);
      queueList.parentNode.insertBefore(queueEmpty, queueList.nextSibling);
    }
    queueEmpty.hidden = entries.length > 0;
    if (queueCount) queueCount.textContent = "(" + entries.length + ")";
    if (queueToggle) queueToggle.textContent = fmt(text.queueButton, { n: entries.length });
    if (activeKey) {
      var target = queueRows[activeKey] ? queueRows[activeKey].firstChild : queueTarget({ index: activeIndex });
      if (target && document.activeElement !== target) target.focus({ preventScroll: true });
    }
  }
  function queueTarget(back) {
    if (back.queue && queueRows[back.queue]) return queueRows[back.queue].firstChild;
    var items = queueList ? queueList.querySelectorAll(".queue-item") : [];
    if (!items.length) return queueToggle && isDrawer() ? queueToggle : null;
    var index = back.index !== undefined && back.index >= 0 ? back.index : 0;
    return items[Math.min(index, items.length - 1)];
  }
  function openEntry(key) {
    var index = Array.prototype.indexOf.call(queueList.children, queueRows[key]);
    if (isDrawer()) setDrawer(false);
    M.returnFocusTo({ queue: key, index: index });
    if (key.charAt(0) === "i") M.revealIncident(Number(key.slice(1)));
    else M.revealAlarm(Number(key.slice(1)));
  }
  function isDrawer() { return window.matchMedia("(max-width: 600px)").matches; }
  function setDrawer(open) {
    if (!queue) return;
    queue.classList.toggle("open", open);
    if (queueToggle) queueToggle.setAttribute("aria-expanded", String(open));
    if (open) {
      var first = queueList.querySelector(".queue-item");
      (first || queueClose).focus({ preventScroll: true });
    }
  }
  if (queueList) {
    queueList.addEventListener("keydown", function (event) {
      var items = Array.prototype.slice.call(queueList.querySelectorAll(".queue-item"));
      var i = items.indexOf(document.activeElement);
      if (i < 0) return;
      var j = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[event.key];
      if (j === undefined) return;
      event.preventDefault();
      items[Math.max(0, Math.min(items.length - 1, j))].focus();
    });
    if (queueToggle) queueToggle.addEventListener("click", function () { setDrawer(!queue.classList.contains("open")); });
    if (queueClose) queueClose.addEventListener("click", function () { setDrawer(false); if (queueToggle) queueToggle.focus(); });
  }

  // --- the phone's menu ----------------------------------------------------------------
  var menu = document.getElementById("menu");
  var menuToggle = document.getElementById("menu-toggle");
  function setMenu(open) {
    menu.classList.toggle("open", open);
    menuToggle.setAttribute("aria-expanded", String(open));
  }
  if (menu && menuToggle) {
    document.body.classList.add("menu-ready");  // without this script every link stays in view
    menuToggle.hidden = false;
    menuToggle.addEventListener("click", function () { setMenu(!menu.classList.contains("open")); });
  }

  // Escape, once no popup is open: the phone's queue drawer and menu close.
  function closeDrawers() {
    if (queue && queue.classList.contains("open")) { setDrawer(false); if (queueToggle) queueToggle.focus(); }
    if (menu && menu.classList.contains("open")) setMenu(false);
  }

  Object.assign(M, {
    scheduleQueue: scheduleQueue, renderQueue: renderQueue, queueTarget: queueTarget, closeDrawers: closeDrawers
  });
})();
