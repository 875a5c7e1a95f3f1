// Draws the dashboard's charts from the JSON data blocks the server renders next to each chart
// (<script type="application/json" class="chart-data">): no inline script, so the CSP stays `default-src 'self'`.
(function () {
  "use strict";
  var COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563", "#65a30d"];

  function width(el) {
    return Math.max(240, Math.min(el.clientWidth || 600, 1100));
  }

  function lineChart(block, el) {
    var d = JSON.parse(block.textContent);
    if (!d.x || d.x.length === 0) return null;
    var unit = block.dataset.unit || "";
    var series = [{}];
    var data = [d.x];
    d.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        points: { show: d.x.length < 40 },
        value: function (u, v) { return v == null ? "" : unit + v.toFixed(4); }
      });
      data.push(s.values);
    });
    var opts = {
      width: width(el), height: 260, series: series,
      scales: { x: { time: true } },
      axes: [{}, { values: function (u, vals) { return vals.map(function (v) { return unit + v; }); }, size: 60 }]
    };
    el.textContent = "";
    return new uPlot(opts, data, el);
  }

  function barChart(block, el) {
    var d = JSON.parse(block.textContent);
    if (!d.labels || d.labels.length === 0) return null;
    var unit = block.dataset.unit || "";
    var xs = d.labels.map(function (_, i) { return i; });
    var n = d.series.length;
    var series = [{ value: function (u, v) { return v == null ? "" : d.labels[v]; } }];
    var data = [xs];
    d.series.forEach(function (s, i) {
      var group = 0.7, size = group / n;
      series.push({
        label: s.label,
        fill: COLORS[i % COLORS.length],
        stroke: COLORS[i % COLORS.length],
        paths: uPlot.paths.bars({ size: [size, 80], align: 1, disp: { x0: { unit: 2, values: function () { return xs.map(function () { return -group / 2 + i * size; }); } } } }),
        points: { show: false },
        value: function (u, v) { return v == null ? "" : v.toFixed(2) + " " + unit; }
      });
      data.push(s.values);
    });
    var opts = {
      width: width(el), height: 260, series: series,
      scales: { x: { time: false, range: [-0.6, xs.length - 0.4] }, y: { range: function (u, min, max) { return [0, max * 1.1 || 1]; } } },
      axes: [
        { splits: function () { return xs; }, values: function (u, vals) { return vals.map(function (v) { return d.labels[v] || ""; }); }, rotate: 0 },
        { values: function (u, vals) { return vals.map(function (v) { return v + " " + unit; }); }, size: 60 }
      ]
    };
    el.textContent = "";
    return new uPlot(opts, data, el);
  }

  function draw() {
    var charts = [];
    document.querySelectorAll("script.chart-data").forEach(function (block) {
      var el = block.nextElementSibling;
      if (!el || !el.classList.contains("chart")) return;
      var chart = block.dataset.kind === "bars" ? barChart(block, el) : lineChart(block, el);
      if (chart) { el.dataset.drawn = "1"; charts.push([chart, el]); }
    });
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        charts.forEach(function (c) { c[0].setSize({ width: width(c[1]), height: 260 }); });
      }, 100);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
