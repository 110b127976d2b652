// "Mis reportes": what is still on the phone (waiting, or refused with the server's reason, to
// fix or discard), then one's own reports and alarms as the server has them, with their status,
// updated live. The kept copy says how old it is.
(function (self) {
  "use strict";
  var app = self.Ronda;
  var t = app.t;
  var $ = app.$;
  var el = app.el;
  var i18n = app.i18n;

  function problem(error) {
    if (!error) return "";
    if (error.fields && error.fields.length) {
      return error.fields.map(function (f) { return f.problem; }).join(" ");
    }
    return error.message || "";
  }

  function card(className) {
    var item = el("li", "card " + (className || ""));
    return item;
  }

  function line(parent, className, text) { parent.appendChild(el("p", className, text)); }

  function titleOf(item) {
    if (item.op === "incident") return app.kindLabel(item.data.kind);
    if (item.op === "alarm") return t("mine.alarm");
    return t("mine.op." + item.op);
  }

  function renderOutbox() {
    var list = $("outbox-list");
    list.textContent = "";
    var items = app.myItems();
    var patrolOps = items.filter(function (i) { return i.state === "pending" && (i.op === "positions" || i.op === "patrol_start" || i.op === "patrol_end"); });
    items.forEach(function (item) {
      if (item.state === "pending" && patrolOps.indexOf(item) >= 0) return;  // summed up below
      var box = card(item.state === "rejected" ? "rejected" : "pending");
      box.setAttribute("data-client-id", item.client_id);
      var head = el("p", "card-title");
      head.appendChild(el("strong", null, titleOf(item)));
      head.appendChild(el("span", "badge " + (item.state === "rejected" ? "badge-rejected" : "badge-pending"),
        item.state === "rejected" ? t("mine.rejected") : t("mine.pending")));
      box.appendChild(head);
      var what = [t("mine.saved_at", { when: i18n.dateTime(item.at) })];
      if (item.op === "incident" && item.data.description) what.push(snippet(item.data.description));
      line(box, "meta", what.join(" · "));
      if (item.state === "rejected") {
        line(box, "reason", t("mine.reason", { reason: problem(item.error) }));
        var actions = el("div", "actions");
        if (item.op === "incident") actions.appendChild(button(t("mine.fix"), "fix", function () { app.screens.report.edit(item); }));
        actions.appendChild(button(t("mine.retry"), "retry", function () {
          item.state = "pending";
          item.error = null;
          item.tries = 0;
          app.store.putItem(item).then(function () { app.refreshItems(); app.syncSoon(); });
        }));
        actions.appendChild(button(t("mine.discard"), "discard danger", function () {
          if (!window.confirm(t("mine.discard_confirm"))) return;
          app.store.deleteItem(item.seq).then(app.refreshItems);
        }));
        box.appendChild(actions);
      }
      list.appendChild(box);
    });
    if (patrolOps.length) {
      var box = card("pending");
      line(box, "card-title", t("mine.patrol_pending", { count: patrolOps.length }));
      list.appendChild(box);
    }
    var others = app.state.items.length - items.length;
    $("outbox-others").hidden = !others;
    $("outbox-others").textContent = t("mine.others_waiting", { count: others });
  }

  function snippet(text) { return text.length > 80 ? text.slice(0, 79) + "…" : text; }

  function button(text, className, handler) {
    var node = el("button", "small " + className, text);
    node.type = "button";
    node.addEventListener("click", handler);
    return node;
  }

  function statusText(view) {
    if (view.type === "alarm") return t("status.alarm." + view.status);
    return t("status.incident." + view.status);
  }

  function renderReports() {
    var list = $("mine-list");
    list.textContent = "";
    var reports = app.state.reports;
    var views = reports ? reports.incidents.concat(reports.alarms) : [];
    views.sort(function (a, b) {
      var ta = a.type === "incident" ? a.reported_at : a.raised_at;
      var tb = b.type === "incident" ? b.reported_at : b.raised_at;
      return String(tb).localeCompare(String(ta));
    });
    views.forEach(function (view) {
      var box = card("report status-" + view.status);
      box.setAttribute("data-report", view.type + "-" + view.id);
      var head = el("p", "card-title");
      head.appendChild(el("strong", null, view.type === "incident" ? app.kindLabel(view.kind) : t("mine.alarm")));
      head.appendChild(el("span", "badge badge-" + view.status, statusText(view)));
      box.appendChild(head);
      var when = view.type === "incident" ? view.occurred_at : view.my_pressed_at || view.pressed_at || view.raised_at;
      var meta = [i18n.dateTime(when)];
      if (view.block_name) meta.push(view.block_name);
      if (view.anonymous) meta.push(t("mine.anonymous"));
      line(box, "meta", meta.join(" · "));
      if (view.type === "alarm" && view.joined) line(box, "meta", t("mine.joined", { count: view.trigger_count }));
      var change = app.changeText(view);
      if (change) line(box, "change", change);
      if (view.description) line(box, "description", view.description);
      list.appendChild(box);
    });
    $("mine-empty").hidden = views.length > 0 || app.myItems().length > 0;
    $("mine-age").textContent = reports && reports.fetched_at ? t("mine.updated", { when: i18n.ago(reports.fetched_at) }) : "";
  }

  app.screens.mine = {
    init: function () {
      app.on("outbox", function () { renderOutbox(); renderReports(); });
      app.on("reports", renderReports);
      app.on("lang", function () { renderOutbox(); renderReports(); });
      app.on("session", function () { renderOutbox(); renderReports(); });
      app.on("kinds", function () { renderOutbox(); renderReports(); });
    },
    shown: function () {
      renderOutbox();
      renderReports();
      app.loadReports();
    }
  };
})(self);
