// Metrics page charts (Chart.js, vendored in static/vendor/chartjs). The figures come from the
// page's JSON (json_script) and are the same numbers as the tables beside each chart, which stay
// the accessible version. Colours: an Okabe-Ito palette that colour-blind readers can tell apart.
(function () {
  "use strict";
  var source = document.getElementById("metrics-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var BLUE = "#0072B2", ORANGE = "#E69F00", GREEN = "#009E73", RED = "#D55E00", GREY = "#999999";
  var percentAxis = {
    beginAtZero: true,
    suggestedMax: 20,
    ticks: { callback: function (value) { return value + "%"; } },
  };
  function percentLabel(context) {
    var value = context.parsed.y;
    return context.dataset.label + ": " + (value === null ? "no sessions" : value.toFixed(1) + "%");
  }
  var drawn = [];
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
    drawn.push(new Chart(canvas, config));
  }

  draw("chart-weekly", {
    type: "line",
    data: {
      labels: data.weekly.labels,
      datasets: [
        { label: "No-show rate", data: data.weekly.no_show, borderColor: RED, backgroundColor: RED, spanGaps: true },
        { label: "Late-cancel rate", data: data.weekly.late_cancel, borderColor: BLUE, backgroundColor: BLUE, borderDash: [6, 4], spanGaps: true },
      ],
    },
    options: { scales: { y: percentAxis }, plugins: { tooltip: { callbacks: { label: percentLabel } } } },
  });

  draw("chart-clinicians", {
    type: "bar",
    data: {
      labels: data.clinicians.labels,
      datasets: [
        { label: "No-show rate", data: data.clinicians.no_show, backgroundColor: RED },
        { label: "Late-cancel rate", data: data.clinicians.late_cancel, backgroundColor: BLUE },
      ],
    },
    options: { scales: { y: percentAxis }, plugins: { tooltip: { callbacks: { label: percentLabel } } } },
  });

  draw("chart-deliverability", {
    type: "bar",
    data: {
      labels: data.deliverability.labels,
      datasets: [
        { label: "Delivered", data: data.deliverability.delivered, backgroundColor: GREEN },
        { label: "Accepted", data: data.deliverability.accepted, backgroundColor: BLUE },
        { label: "Failed or undeliverable", data: data.deliverability.undelivered, backgroundColor: RED },
        { label: "Unknown", data: data.deliverability.unknown, backgroundColor: GREY },
      ],
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  });

  draw("chart-utilization", {
    type: "bar",
    data: {
      labels: data.utilization.labels,
      datasets: [{ label: "Attended minutes of booked", data: data.utilization.rate, backgroundColor: ORANGE }],
    },
    options: {
      scales: { y: Object.assign({}, percentAxis, { suggestedMax: 100 }) },
      plugins: { tooltip: { callbacks: { label: percentLabel } } },
    },
  });
  // Lets the browser test (and anyone curious) see that the charts were drawn.
  document.documentElement.dataset.chartsDrawn = String(drawn.length);
})();
