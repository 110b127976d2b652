// Charts of the monthly trends page (Chart.js served by the app). Labels come translated.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trends-data").textContent);
  var numbers = new Intl.NumberFormat(data.locale);
  Chart.defaults.locale = data.locale;
  Chart.defaults.animation = false;  // a report, not a show; and screenshots are stable

  var kinds = Object.keys(data.kinds).filter(function (code) {
    return data.incidents.some(function (m) { return (m.by_kind[code] || 0) > 0; });
  });
  new Chart(document.getElementById("chart-kinds"), {
    type: "line",
    data: {
      labels: data.months,
      datasets: kinds.map(function (code) {
        return {
          label: data.kinds[code],
          data: data.incidents.map(function (m) { return m.by_kind[code] || 0; }),
          borderColor: data.colours[code], backgroundColor: data.colours[code], tension: 0.2
        };
      })
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  new Chart(document.getElementById("chart-alarms"), {
    type: "bar",
    data: {
      labels: data.months,
      datasets: [
        { label: data.text.real, data: data.alarms.map(function (m) { return m.real; }), backgroundColor: "#b71c1c" },
        { label: data.text.false_alarm, data: data.alarms.map(function (m) { return m.false_alarm; }), backgroundColor: "#9e9e9e" }
      ]
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });
  new Chart(document.getElementById("chart-response"), {
    type: "bar",
    data: {
      labels: data.histograms.alarms.map(function (b) { return b.bucket; }),
      datasets: [
        { label: data.text.alarms, data: data.histograms.alarms.map(function (b) { return b.count; }), backgroundColor: "#d50000" },
        { label: data.text.incidents, data: data.histograms.incidents.map(function (b) { return b.count; }), backgroundColor: "#0d3b66" }
      ]
    },
    options: {
      scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: data.text.count } } },
      plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + numbers.format(c.parsed.y); } } } }
    }
  });
  document.body.setAttribute("data-charts", "ready");
})();
