// Text of the phone app: one catalogue per language (messages-es.js first, messages-en.js), the
// same `lang` cookie as the live map's ES | EN switch, dates in Lima time. Markup never takes
// user text as HTML: everything goes in with textContent.
(function (self) {
  "use strict";
  var catalogues = self.RondaMessages = self.RondaMessages || {};
  var LANGS = ["es", "en"];
  var current = "es";
  var formats = {};

  function fromCookie() {
    var match = /(?:^|;\s*)lang=(es|en)(?:;|$)/.exec(document.cookie || "");
    return match ? match[1] : null;
  }

  function preferred() {
    var chosen = fromCookie();
    if (chosen) return chosen;
    var wanted = navigator.languages || [navigator.language || "es"];
    for (var i = 0; i < wanted.length; i++) {
      var code = String(wanted[i]).slice(0, 2).toLowerCase();
      if (LANGS.indexOf(code) >= 0) return code;
    }
    return "es";
  }

  function locale() { return current === "en" ? "en-GB" : "es-PE"; }

  function lookup(key, params) {
    var keys = [key];
    if (params && typeof params.count === "number") {
      keys = [key + "." + new Intl.PluralRules(locale()).select(params.count), key + ".other", key];
    }
    var tables = [catalogues[current] || {}, catalogues.es || {}];
    for (var i = 0; i < tables.length; i++) {
      for (var k = 0; k < keys.length; k++) if (tables[i][keys[k]] !== undefined) return tables[i][keys[k]];
    }
    return key;
  }

  // The text of `key` with {name} placeholders filled from `params`.
  function t(key, params) {
    return String(lookup(key, params)).replace(/\{(\w+)\}/g, function (whole, name) {
      if (!params || params[name] === undefined || params[name] === null) return whole;
      return typeof params[name] === "number" ? new Intl.NumberFormat(locale()).format(params[name]) : String(params[name]);
    });
  }

  // Fill every element of `root` marked data-i18n (text), data-i18n-aria (aria-label) or
  // data-i18n-placeholder.
  function translate(root) {
    (root || document).querySelectorAll("[data-i18n]").forEach(function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    (root || document).querySelectorAll("[data-i18n-aria]").forEach(function (node) {
      node.setAttribute("aria-label", t(node.getAttribute("data-i18n-aria")));
    });
    (root || document).querySelectorAll("[data-i18n-placeholder]").forEach(function (node) {
      node.setAttribute("placeholder", t(node.getAttribute("data-i18n-placeholder")));
    });
    document.documentElement.lang = locale();
  }

  function loadScript(url) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = url;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  // Switch language (remembered in the cookie the map reads too); `urls` maps a language to its catalogue.
  function use(lang, urls) {
    if (LANGS.indexOf(lang) < 0) lang = "es";
    var ready = catalogues[lang] ? Promise.resolve() : loadScript(urls[lang]);
    return ready.then(function () {
      current = lang;
      formats = {};
      document.cookie = "lang=" + lang + "; path=/; max-age=31536000; samesite=lax";
    }, function () { current = "es"; });
  }

  function format(name, options) {
    if (!formats[name]) formats[name] = new Intl.DateTimeFormat(locale(), Object.assign({ timeZone: "America/Lima" }, options));
    return formats[name];
  }

  function time(iso) { return iso ? format("time", { timeStyle: "short" }).format(new Date(iso)) : ""; }
  function dateTime(iso) {
    return iso ? format("dateTime", { dateStyle: "short", timeStyle: "short" }).format(new Date(iso)) : "";
  }

  // "hace 3 min", "hace 2 h", or the date: how old something is, in words.
  function ago(iso) {
    if (!iso) return "";
    var seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return t("time.just_now");
    if (seconds < 3600) return t("time.minutes_ago", { count: Math.floor(seconds / 60) });
    if (seconds < 86400) return t("time.hours_ago", { count: Math.floor(seconds / 3600) });
    return dateTime(iso);
  }

  self.RondaI18n = {
    t: t, translate: translate, use: use, preferred: preferred, locale: locale,
    lang: function () { return current; }, time: time, dateTime: dateTime, ago: ago
  };
})(self);
