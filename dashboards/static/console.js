// The actions of the operations console (/incidentes, /incidentes/<id>): Recibir, Despachar,
// Reasignar a otra ronda, Resolver, Descartar, Marcar como duplicado. The page works without this script; it only adds
// the buttons, and calls the JSON API with the token the page carries. Text via textContent only.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("console-config").textContent);
  var text = config.text;
  var status = document.getElementById("action-status");
  var ORDER = ["acknowledged", "dispatched", "redispatch", "resolved", "dismissed", "duplicate"];
  var MAX_ID = 2147483647;

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = content;
    return node;
  }
  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_all, name) { return values[name]; });
  }
  function say(message, failed) {
    if (!status) return;
    status.textContent = message;
    status.classList.toggle("failed", !!failed);
  }
  function api(method, path, body) {
    var options = { method: method, headers: { "Authorization": "Bearer " + config.token } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }
  function problem(answer) {
    if (answer.status === 401) return text.expired;
    var data = answer.data || {};
    var parts = [data.message || text.failed];
    (data.fields || []).forEach(function (f) { parts.push(f.problem); });
    return parts.join(" ");
  }

  function renderActions(box) {
    box.textContent = "";
    var next = (config.next[box.getAttribute("data-status")] || []).slice();
    // A dispatched incident may also be sent to another patrol (dispatched again, another patrol_id).
    if (box.getAttribute("data-status") === "dispatched") next.push("redispatch");
    ORDER.filter(function (target) { return next.indexOf(target) >= 0; }).forEach(function (target) {
      var button = el("button", "act act-" + target, text[target]);
      button.type = "button";
      button.setAttribute("data-target", target);
      if (target === "acknowledged") button.classList.add("primary");
      button.addEventListener("click", function () { choose(box, target); });
      box.appendChild(button);
    });
  }

  function closeForm(box) {
    var open = box.parentNode.querySelector(".action-form");
    if (open) open.parentNode.removeChild(open);
  }

  function choose(box, target) {
    closeForm(box);
    if (target === "acknowledged") { send(box, { status: target }); return; }
    var form = el("form", "action-form");
    form.noValidate = true;  // the script checks the fields, in the page's words
    form.setAttribute("data-for", target);
    var extra = el("div", "extra");
    form.appendChild(extra);
    var noteLabel = el("label", null, target === "resolved" ? text.resolutionNote : text.note);
    var note = el("textarea");
    note.name = "note";
    note.maxLength = 1000;
    noteLabel.appendChild(note);
    form.appendChild(noteLabel);
    var row = el("div", "row");
    var confirm = el("button", "primary", text.confirm);
    confirm.type = "submit";
    var cancel = el("button", null, text.cancel);
    cancel.type = "button";
    cancel.addEventListener("click", function () { closeForm(box); });
    row.appendChild(confirm);
    row.appendChild(cancel);
    form.appendChild(row);
    box.parentNode.insertBefore(form, box.nextSibling);
    if (target !== "resolved" && target !== "dismissed") suggest(box, target, extra, confirm);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = { status: target === "redispatch" ? "dispatched" : target };
      if (note.value.trim()) body.note = note.value.trim();
      if (target === "dispatched" || target === "redispatch") {
        var patrol = form.querySelector("select[name=patrol]");
        if (patrol && patrol.value) body.patrol_id = Number(patrol.value);
        if (target === "redispatch" && !body.patrol_id) return;  // nothing to send it to (the form says so)
      }
      var typed = null;  // the number field, when the original is the number typed there
      if (target === "duplicate") {
        var picked = form.querySelector("input[name=original]:checked");
        if (picked && picked.value !== "typed") body.duplicate_of = Number(picked.value);
        else {
          typed = form.querySelector("input[name=original_id]");
          if (!typed) return;  // the candidates are still loading
          var number = originalNumber(box, typed);
          if (number === null) return;
          body.duplicate_of = number;
        }
      }
      confirm.disabled = true;
      send(box, body).then(function (answer) {
        confirm.disabled = false;
        if (answer.ok) { closeForm(box); return; }
        var refused = typed && answer.status === 422 ? fieldProblem(answer, "duplicate_of") : null;
        if (refused) { showFieldProblem(typed, refused); typed.focus(); }
      });
    });
  }

  // The number typed as the original: a positive whole number, not this incident (the server
  // checks that it exists and may be seen); null, with the reason beside the field, otherwise.
  function originalNumber(box, input) {
    var words = input.value.trim();
    var number = /^[0-9]{1,10}$/.test(words) ? Number(words) : 0;
    var refusal = number < 1 || number > MAX_ID ? text.originalInvalid
      : String(number) === box.getAttribute("data-id") ? text.originalItself : null;
    if (refusal) { showFieldProblem(input, refusal); input.focus(); return null; }
    showFieldProblem(input, null);
    return number;
  }
  function showFieldProblem(input, words) {
    var id = input.getAttribute("aria-describedby");
    var note = id ? document.getElementById(id) : null;
    if (!note) return;
    note.textContent = words || "";
    note.hidden = !words;
    if (words) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
  function fieldProblem(answer, field) {
    var said = ((answer.data || {}).fields || []).filter(function (f) {
      return f.problem && String(f.field).split(".").pop() === field;
    });
    return said.length ? said.map(function (f) { return f.problem; }).join(" ") : null;
  }

  function distance(m) {
    return m === null || m === undefined ? text.noPosition : fill(text.metres, { m: Math.round(m) });
  }

  function suggest(box, target, extra, confirm) {
    var id = box.getAttribute("data-id");
    extra.appendChild(el("p", "loading", text.loading));
    api("GET", "/api/v1/incidents/" + id + "/suggestions").then(function (answer) {
      extra.textContent = "";
      var data = answer.ok ? answer.data : { patrols: [], duplicates: [] };
      if (!answer.ok) say(problem(answer), true);
      if (target === "dispatched" || target === "redispatch") {
        var current = box.getAttribute("data-patrol-id") || "";
        var patrols = (data.patrols || []).filter(function (p) {
          return target !== "redispatch" || String(p.id) !== current;  // another patrol than the one sent
        });
        if (target === "redispatch" && !patrols.length) {
          if (answer.ok) extra.appendChild(el("p", "note", text.noOtherPatrol));
          confirm.hidden = true;
          return;
        }
        var label = el("label", null, target === "redispatch" ? text.redispatchTo : text.patrol);
        var select = el("select");
        select.name = "patrol";
        if (target === "dispatched") select.appendChild(el("option", null, text.noPatrol)).value = "";
        patrols.forEach(function (p) {
          var option = el("option", null, (p.committee_name || "#" + p.id) + " · " + distance(p.distance_m));
          option.value = p.id;
          select.appendChild(option);
        });
        label.appendChild(select);
        extra.appendChild(label);
        return;
      }
      // A duplicate: one of the nearby candidates, or any incident by its number.
      var candidates = data.duplicates || [];
      var group = el("fieldset", "originals");
      group.appendChild(el("legend", null, candidates.length ? text.original : text.noCandidates));
      var other = null;
      candidates.forEach(function (c, index) {
        var choice = el("label", "choice");
        var radio = el("input");
        radio.type = "radio"; radio.name = "original"; radio.value = c.id; radio.checked = index === 0;
        choice.appendChild(radio);
        var words = "#" + c.id + " · " + (config.kinds[c.kind] || c.kind) + " · " + distance(c.distance_m);
        if (c.minutes_apart !== undefined && c.minutes_apart !== null) {
          words += " · " + fill(text.minutes, { min: Math.round(c.minutes_apart) });
        }
        if (c.description) words += " · " + c.description;
        choice.appendChild(el("span", null, words));
        group.appendChild(choice);
      });
      if (candidates.length) {
        var otherChoice = el("label", "choice");
        other = el("input");
        other.type = "radio"; other.name = "original"; other.value = "typed";
        otherChoice.appendChild(other);
        otherChoice.appendChild(el("span", null, text.otherOriginal));
        group.appendChild(otherChoice);
      }
      var typed = el("label", "typed-original", text.originalNumber);
      var input = el("input");
      input.id = "original-id-" + id;
      input.name = "original_id"; input.type = "text"; input.inputMode = "numeric";
      input.autocomplete = "off"; input.maxLength = 10;
      input.setAttribute("aria-describedby", "original-error-" + id);
      // Typing a number means that one: its radio is chosen with it.
      input.addEventListener("input", function () { if (other) other.checked = true; });
      typed.appendChild(input);
      group.appendChild(typed);
      var error = el("p", "field-problem");
      error.id = "original-error-" + id;
      error.setAttribute("role", "alert");
      error.hidden = true;
      group.appendChild(error);
      extra.appendChild(group);
    });
  }

  // Resolves to the API's answer ({ok, status, data}); the page shows what happened.
  function send(box, body) {
    var id = box.getAttribute("data-id");
    var buttons = box.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    say(text.sending);
    return api("PATCH", "/api/v1/incidents/" + id, body).then(function (answer) {
      if (!answer.ok) {
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
        say(problem(answer), true);
        return answer;
      }
      var now = answer.data.status;
      box.setAttribute("data-status", now);
      box.setAttribute("data-patrol-id", answer.data.assigned_patrol_id || "");
      document.querySelectorAll("[data-status-for='" + id + "']").forEach(function (badge) {
        badge.textContent = config.statuses[now] || now;
        badge.className = "status status-" + now;
      });
      var patrolName = now === "dispatched" ? answer.data.assigned_patrol_name : null;
      document.querySelectorAll("[data-patrol-for='" + id + "']").forEach(function (name) {
        name.textContent = patrolName ? " · " + patrolName : "";
      });
      // Sent again, or closed: the warning that its patrol ended no longer applies.
      document.querySelectorAll("[data-patrol-ended-for='" + id + "']").forEach(function (mark) {
        mark.parentNode.removeChild(mark);
      });
      say(fill(text.done, { status: config.statuses[now] || now }));
      if (config.reloadAfter) { window.location.reload(); return answer; }
      renderActions(box);
      return answer;
    }, function () {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      say(text.failed, true);
      return { ok: false, status: 0, data: {} };
    });
  }

  document.querySelectorAll(".actions[data-id]").forEach(renderActions);
})();
