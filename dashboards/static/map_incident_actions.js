// What may be done with an incident from its popup, for who may move it on: acknowledge,
// dispatch (to one of the nearest patrols), dispatch again to another, resolve, dismiss, or mark
// it a duplicate of one of the server's candidates or of a report typed by its number.
(function () {
  "use strict";
  var M = window.RondaMap;
  var text = M.text, drafts = M.drafts, busy = M.busy, problems = M.problems;
  var el = M.el, fmt = M.fmt, metres = M.metres, statusLabel = M.statusLabel, kindLabel = M.kindLabel;
  var button = M.button, later = M.later, announce = M.announce, api = M.api, problemText = M.problemText;
  var choices = {};      // id -> patrol chosen in the dispatch list
  var rechoices = {};    // id -> patrol chosen in the re-dispatch list
  var typedOriginal = {}; // id -> number typed as the original of a duplicate
  var fieldProblems = {}; // "i12" -> why the typed original was refused (shown beside its field)

  function incidentActions(id, data) {
    var key = "i" + id, next = M.NEXT[data.status], sending = busy[key], found = M.suggestions[id];
    var group = el("div", "actions");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", text.actions);
    var noteLabel = el("label", "note-label", text.note);
    noteLabel.htmlFor = "note-" + key;
    var note = el("textarea", "note");
    note.id = "note-" + key;
    note.rows = 2;
    note.maxLength = 1000;
    note.value = drafts[key] || "";
    note.setAttribute("data-key", "note");
    note.addEventListener("input", function () { drafts[key] = note.value; });
    group.appendChild(noteLabel);
    group.appendChild(note);
    // `body` may be a function: read when pressed (the patrol chosen at that moment); null sends
    // nothing. `field`: the request field whose refusal is shown beside its input.
    function actionButton(label, status, body, tag, field) {
      tag = tag || status;
      var node = button(sending === tag ? text.sending : label, "act act-" + status, "act-" + tag, function () {
        var sent = typeof body === "function" ? body() : body;
        if (sent) act(id, sent, tag, field);
      });
      node.setAttribute("data-status", status);
      if (sending) node.setAttribute("aria-disabled", "true");
      return node;
    }
    var pick = null;
    if (next.indexOf("dispatched") >= 0) {
      // The nearest active patrols first (the server's suggestion); none chosen is allowed.
      var line = el("div", "dispatch");
      var pickLabel = el("label", null, text.dispatchTo);
      pickLabel.htmlFor = "patrol-" + key;
      pick = el("select", "patrol-choice");
      pick.id = "patrol-" + key;
      pick.setAttribute("data-key", "patrol");
      var none = el("option", null, text.noPatrol);
      none.value = "";
      pick.appendChild(none);
      var nearby = found && found !== "failed" ? found.patrols || [] : [];
      nearby.forEach(function (patrol) {
        var option = el("option", null, (patrol.committee_name || fmt(text.patrolNo, { id: patrol.id })) +
          " · " + metres(patrol.distance_m));
        option.value = String(patrol.id);
        pick.appendChild(option);
      });
      var kept = nearby.some(function (p) { return String(p.id) === choices[id]; });
      pick.value = kept ? choices[id] : "";
      pick.addEventListener("change", function () { choices[id] = pick.value; });
      line.appendChild(pickLabel);
      line.appendChild(pick);
      group.appendChild(line);
    }
    if (data.status === "dispatched") group.appendChild(redispatchLine(id, data, actionButton));
    var buttons = el("div", "buttons");
    if (next.indexOf("acknowledged") >= 0) {
      buttons.appendChild(actionButton(text.acknowledge, "acknowledged", { status: "acknowledged" }));
    }
    if (pick) {
      buttons.appendChild(actionButton(text.dispatch, "dispatched", function () {
        var body = { status: "dispatched" };
        if (pick.value) body.patrol_id = Number(pick.value);
        return body;
      }));
    }
    if (next.indexOf("resolved") >= 0) buttons.appendChild(actionButton(text.resolve, "resolved", { status: "resolved" }));
    buttons.appendChild(actionButton(text.dismiss, "dismissed", { status: "dismissed" }));
    group.appendChild(buttons);
    // A duplicate names the report it repeats: one of the server's candidates (same kind, near, recent, open).
    var dup = el("fieldset", "duplicates");
    dup.appendChild(el("legend", null, text.markDuplicate));
    if (found === undefined) dup.appendChild(el("p", "muted", text.searching));
    else if (found === "failed" || !(found.duplicates || []).length) dup.appendChild(el("p", "muted", text.noDuplicates));
    else {
      found.duplicates.forEach(function (candidate) {
        var label = fmt(text.duplicateOf, {
          id: candidate.id, kind: kindLabel(candidate.kind), distance: metres(candidate.distance_m),
          minutes: Math.round(candidate.minutes_apart || 0)
        });
        var node = actionButton(label, "duplicate", { status: "duplicate", duplicate_of: candidate.id },
          "duplicate-" + candidate.id);
        node.setAttribute("data-duplicate-of", candidate.id);
        dup.appendChild(node);
      });
    }
    dup.appendChild(typedDuplicate(id, actionButton));
    group.appendChild(dup);
    return group;
  }

  // Sent to another patrol (dispatched again): one of the nearest active ones but the assigned one.
  function redispatchLine(id, data, actionButton) {
    var key = "i" + id, found = M.suggestions[id];
    var line = el("div", "dispatch redispatch");
    var others = found === undefined || found === "failed" ? [] : (found.patrols || []).filter(function (p) {
      return p.id !== data.assigned_patrol_id;
    });
    if (!others.length) {
      line.appendChild(el("span", null, text.redispatchTo));
      line.appendChild(el("p", "muted", found === undefined ? text.loading : text.noOtherPatrol));
      return line;
    }
    var label = el("label", null, text.redispatchTo);
    line.appendChild(label);
    var pick = el("select", "patrol-choice redispatch-choice");
    pick.id = "redispatch-" + key;
    pick.setAttribute("data-key", "redispatch-patrol");
    label.htmlFor = pick.id;
    others.forEach(function (patrol) {
      var option = el("option", null, (patrol.committee_name || fmt(text.patrolNo, { id: patrol.id })) +
        " · " + metres(patrol.distance_m));
      option.value = String(patrol.id);
      pick.appendChild(option);
    });
    if (others.some(function (p) { return String(p.id) === rechoices[id]; })) pick.value = rechoices[id];
    pick.addEventListener("change", function () { rechoices[id] = pick.value; });
    var pickRow = el("div", "pick-row");
    pickRow.appendChild(pick);
    var send = actionButton(text.redispatch, "dispatched", function () {
      return { status: "dispatched", patrol_id: Number(pick.value) };
    }, "redispatch");
    send.className = "act act-redispatch";
    pickRow.appendChild(send);
    line.appendChild(pickRow);
    return line;
  }

  // The original of a duplicate by its number, when it is not among the candidates.
  function typedDuplicate(id, actionButton) {
    var key = "i" + id, problem = fieldProblems[key];
    var wrap = el("div", "dup-typed");
    var label = el("label", null, text.originalNumber);
    label.htmlFor = "original-" + key;
    var input = el("input", "original-number");
    input.id = "original-" + key;
    input.type = "text";
    input.inputMode = "numeric";
    input.autocomplete = "off";
    input.maxLength = 10;
    input.setAttribute("data-key", "original-number");
    input.value = typedOriginal[id] || "";
    input.addEventListener("input", function () { typedOriginal[id] = input.value; });
    // Checked here first: a positive whole number, not this incident; the server checks the rest.
    function body() {
      var words = (typedOriginal[id] || "").trim();
      var number = /^[0-9]{1,10}$/.test(words) ? Number(words) : 0;
      var refusal = number < 1 || number > 2147483647 ? text.originalInvalid
        : number === Number(id) ? text.originalItself : null;
      if (!refusal) return { status: "duplicate", duplicate_of: number };
      fieldProblems[key] = refusal;
      delete problems[key];
      later(function () {
        M.renderIncident(id);
        var again = M.boxes[id] && M.boxes[id].querySelector('[data-key="original-number"]');
        if (again) again.focus({ preventScroll: true });
      });
      return null;
    }
    var send = actionButton(text.markDuplicateTyped, "duplicate", body, "duplicate-typed", "duplicate_of");
    send.className = "act act-duplicate-typed";
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      send.click();
    });
    var pickRow = el("div", "pick-row");
    pickRow.appendChild(input);
    pickRow.appendChild(send);
    wrap.appendChild(label);
    wrap.appendChild(pickRow);
    if (problem) {
      var note = el("p", "problem field-problem", problem);
      note.id = "original-error-" + key;
      note.setAttribute("role", "alert");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", note.id);
      wrap.appendChild(note);
    }
    return wrap;
  }

  function act(id, body, tag, field) {
    var key = "i" + id;
    if (busy[key]) return;
    var note = (drafts[key] || "").trim();
    if (note) body.note = note;
    busy[key] = tag;
    delete problems[key];
    delete fieldProblems[key];
    later(function () { M.renderIncident(id); });
    api("PATCH", "/api/v1/incidents/" + id, body).then(function (answer) {
      delete busy[key];
      if (answer.ok && answer.body) {
        delete drafts[key];
        delete typedOriginal[id];
        delete rechoices[id];
        announce(fmt(text.incidentNo, { id: id }) + ": " + statusLabel(answer.body.status));
        M.showIncident(answer.body);  // the same state reaches every screen as incident_updated
        M.renderIncident(id);
      } else {
        var refused = field && answer.status === 422 ? fieldRefusal(answer, field) : null;
        if (refused) fieldProblems[key] = refused;
        else problems[key] = problemText(answer);
        M.renderIncident(id);
        if (answer.status === 409) M.loadDetails(id, true);  // someone moved it first: show where it is now
      }
    });
  }

  // What the server said of one field (its own words, never the field's name), or null.
  function fieldRefusal(answer, field) {
    var said = ((answer.body || {}).fields || []).filter(function (f) {
      return f.problem && (f.field === field || String(f.field).split(".").pop() === field);
    });
    return said.length ? said.map(function (f) { return f.problem; }).join(" ") : null;
  }

  M.incidentActions = incidentActions;
})();
