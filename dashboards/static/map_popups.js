// The live map's popups and its keyboard: how a popup is sized and kept clear of the map's
// controls, Enter or Space on a marker to open one and Escape to close it, and where focus goes
// back when it closes.
(function () {
  "use strict";
  var M = window.RondaMap;
  var map = M.map, cluster = M.cluster, text = M.text, el = M.el;
  var openIncidentId = null;
  var openedPopup = null;
  var pendingReturn = null;  // where focus goes back when the popup being opened closes

  // How far the map's own controls reach into it from the top and the bottom: Leaflet draws them
  // above popups, so a popup kept clear of them never hides its close button under the layers button.
  function controlMargins() {
    var box = map.getContainer().getBoundingClientRect(), top = 0, bottom = 0;
    Array.prototype.forEach.call(map.getContainer().querySelectorAll(".leaflet-control"), function (control) {
      var r = control.getBoundingClientRect();
      if (!r.height) return;
      if (control.parentNode.classList.contains("leaflet-top")) top = Math.max(top, r.bottom - box.top);
      else bottom = Math.max(bottom, box.bottom - r.top);
    });
    return { top: Math.min(top, box.height / 3), bottom: Math.min(bottom, box.height / 4) };
  }
  function popupOptions() {
    // Small screens: the popup scrolls inside and the map pans so its close button stays in view.
    var size = map.getSize(), margins = controlMargins();
    return {
      maxWidth: Math.max(220, Math.min(340, size.x - 48)),
      minWidth: Math.max(180, Math.min(250, size.x - 48)),
      maxHeight: Math.max(160, Math.min(520, size.y - margins.top - margins.bottom - 70)),
      autoPan: true,
      autoPanPaddingTopLeft: L.point(12, margins.top + 8),
      autoPanPaddingBottomRight: L.point(12, margins.bottom + 8),
      className: "ronda-popup"
    };
  }
  // After its content changed in place: size, scrolling and position again, and pan to keep it
  // in view. (Popup.update() would take the content out and back, losing the focus in it.)
  function relayout(popup) {
    if (!popup._map) return;
    if (popup._updateLayout && popup._updatePosition && popup._adjustPan) {
      popup._updateLayout();
      popup._updatePosition();
      popup._adjustPan();
    } else {
      popup.update();
    }
  }
  function popupBox(className, attribute, id) {
    var box = el("div", "popup " + className);
    box.tabIndex = -1;  // focus lands here when a popup is opened from the keyboard
    box.setAttribute(attribute, id);
    return box;
  }

  // --- popups and the keyboard -----------------------------------------------------------
  function focusPopup() {
    var content = openedPopup && openedPopup.getContent();
    if (content && content.focus) content.focus({ preventScroll: true });
  }
  function layerOfIcon(node) {
    if (!node || !node.classList || !node.classList.contains("leaflet-marker-icon")) return null;
    var id = node.getAttribute("data-incident-id");
    if (id) return M.incidents[id] || null;
    id = node.getAttribute("data-alarm-id");
    if (id) return M.alarms[id] ? M.alarms[id].marker : null;
    id = node.getAttribute("data-patrol-id");
    if (id) return M.patrols[id] ? M.patrols[id].marker : null;
    return null;
  }
  function markerElement(layer) {
    if (!layer) return null;
    var shown = layer.options.incidentId && cluster.hasLayer(layer) ? cluster.getVisibleParent(layer) : layer;
    return shown && shown.getElement ? shown.getElement() : null;
  }
  // Enter or Space on a focused marker opens its popup (and moves focus into it).
  map.getContainer().addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== " ") return;
    var layer = layerOfIcon(event.target);
    if (!layer || !layer.getPopup()) return;
    event.preventDefault();  // no keypress: Leaflet would toggle the popup again
    event.stopPropagation();
    pendingReturn = { marker: layer };
    layer.openPopup();
    focusPopup();
  });
  // Escape closes the open popup (and then the phone's queue drawer), from anywhere on the page.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    if (openedPopup) { map.closePopup(openedPopup); event.preventDefault(); return; }
    M.closeDrawers();
  });
  map.on("popupopen", function (event) {
    var popup = event.popup;
    openedPopup = popup;
    popup._rondaReturn = pendingReturn;
    pendingReturn = null;
    var node = popup.getElement();
    var close = node && node.querySelector(".leaflet-popup-close-button");
    if (close) { close.setAttribute("aria-label", text.closePopup); close.title = text.closePopup; }
    L.Util.extend(popup.options, popupOptions());
    var source = popup._source;
    if (source && source.options.incidentId) {
      var reopened = openIncidentId === source.options.incidentId;  // markercluster moved it
      openIncidentId = source.options.incidentId;
      if (!reopened) M.loadDetails(openIncidentId, true);
    }
    relayout(popup);
  });
  map.on("popupclose", function (event) {
    var popup = event.popup, back = popup._rondaReturn;
    popup._rondaReturn = null;
    if (openedPopup === popup) openedPopup = null;
    var source = popup._source;
    if (source && source.options.incidentId === openIncidentId) {
      // Forgotten once this turn ends, unless markercluster reopens it at once (a moved marker).
      setTimeout(function () { if (!openedPopup || openedPopup._source !== source) openIncidentId = null; }, 0);
    }
    if (!back) return;  // opened with the mouse: focus stays where the person put it
    var node = popup.getElement();  // still in the page while it fades out
    setTimeout(function () {
      var active = document.activeElement;
      var lost = !active || active === document.body || !active.isConnected || (node && node.contains(active));
      if (!lost || openedPopup) return;
      var target = back.queue ? M.queueTarget(back) : markerElement(back.marker);
      (target || map.getContainer()).focus({ preventScroll: true });
    }, 0);
  });
  function openIncidentNow() { return openIncidentId; }
  // The next popup to open sends focus back there when it closes: {marker} or {queue, index}.
  function returnFocusTo(back) { pendingReturn = back; }

  Object.assign(M, {
    popupOptions: popupOptions, relayout: relayout, popupBox: popupBox, focusPopup: focusPopup,
    openIncidentId: openIncidentNow, returnFocusTo: returnFocusTo
  });
})();
