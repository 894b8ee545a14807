// Larder UI: charts from the JSON the server renders into each canvas's data-spec, copy buttons. No inline
// scripts (the Content-Security-Policy forbids them); htmx swaps re-run setup on the new content.
"use strict";

const COLORS = ["#00594f", "#c2410c", "#1d4ed8", "#7e22ce", "#4d7c0f", "#b91c1c"];
const BEST = "#c2410c";

function chartData(canvas) {
  return canvas.dataset.spec ? JSON.parse(canvas.dataset.spec) : null;
}

function makeChart(canvas) {
  if (typeof Chart === "undefined" || Chart.getChart(canvas)) return;
  const spec = chartData(canvas);
  if (!spec) return;
  const datasets = spec.datasets.map((d, i) => {
    const color = d.color || COLORS[i % COLORS.length];
    const out = { label: d.label, data: d.data, backgroundColor: color, borderColor: color, borderWidth: 1 };
    if (spec.best !== undefined && spec.best !== null) {
      // the best version stands out: another colour and a larger point
      out.backgroundColor = d.data.map((_, j) => (j === spec.best ? BEST : color));
      out.pointRadius = d.data.map((_, j) => (j === spec.best ? 8 : 4));
      out.pointStyle = d.data.map((_, j) => (j === spec.best ? "star" : "circle"));
      out.pointBorderColor = out.backgroundColor;
    }
    return out;
  });
  new Chart(canvas, {
    type: spec.type || "bar",
    data: { labels: spec.labels, datasets: datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      indexAxis: spec.horizontal ? "y" : "x",
      plugins: { legend: { display: datasets.length > 1 || !!spec.legend } },
      scales: {
        x: { stacked: !!spec.stacked, title: { display: !!spec.x, text: spec.x || "" } },
        y: { stacked: !!spec.stacked, title: { display: !!spec.y, text: spec.y || "" }, beginAtZero: spec.beginAtZero !== false },
      },
    },
  });
}

function setup(root) {
  root.querySelectorAll("canvas[data-chart]").forEach(makeChart);
  root.querySelectorAll("button[data-copy]").forEach((button) => {
    if (button.dataset.ready) return;
    button.dataset.ready = "1";
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      const status = button.parentElement.querySelector(".copied");
      try {
        await navigator.clipboard.writeText(field.value);
        if (status) status.textContent = "Copied.";
      } catch (e) {
        field.select();
        if (status) status.textContent = "Press Ctrl+C to copy.";
      }
    });
  });
}

// a <select data-submit> submits its form when it changes (htmx, when the form has hx-get, swaps
// the part of the page it names); one listener for the whole document, so swapped-in selects work
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.dataset.submit !== undefined && select.form) {
    select.form.requestSubmit();
  }
});
document.addEventListener("DOMContentLoaded", () => setup(document));
// after an htmx swap: draw the charts and wire the buttons that came in (setup is idempotent)
document.addEventListener("htmx:afterSettle", () => setup(document));
