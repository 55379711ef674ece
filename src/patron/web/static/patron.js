// Draws the dashboard's charts from the JSON the page carries; no data leaves the page.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("chart-data");
    if (!source || typeof echarts === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var charts = data.charts, labels = data.labels;
    var palette = ["#2f6f8f", "#5b9a68", "#d9a441", "#c8553d", "#8a6fb0", "#7a8a99"];
    function make(id, option) {
      var el = document.getElementById(id);
      if (!el) { return; }
      var chart = echarts.init(el, null, { renderer: "svg" });
      option.color = palette;
      option.animation = false;
      chart.setOption(option);
      window.addEventListener("resize", function () { chart.resize(); });
    }
    function bar(id, names, values, rotate) {
      make(id, {
        grid: { left: 48, right: 16, top: 32, bottom: rotate ? 72 : 32 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: names, axisLabel: { rotate: rotate || 0 } },
        yAxis: { type: "value", name: labels.customers },
        series: [{ type: "bar", data: values, name: labels.customers }]
      });
    }
    bar("chart-grades",
      charts.grades.map(function (g) { return g[0] || labels.unscored; }),
      charts.grades.map(function (g) { return g[1]; }));
    bar("chart-stages",
      charts.stages.map(function (s) { return labels.stages[s[0]] || s[0]; }),
      charts.stages.map(function (s) { return s[1]; }), 20);
    var cells = [], max = 1;
    charts.rfm.forEach(function (row, r) {
      row.forEach(function (n, f) { cells.push([f, r, n]); max = Math.max(max, n); });
    });
    make("chart-rfm", {
      grid: { left: 56, right: 16, top: 16, bottom: 64 },
      tooltip: {},
      xAxis: { type: "category", data: [1, 2, 3, 4, 5], name: labels.frequency, nameLocation: "center", nameGap: 28 },
      yAxis: { type: "category", data: [1, 2, 3, 4, 5], name: labels.recency, nameLocation: "center", nameGap: 32 },
      visualMap: { min: 0, max: max, calculable: false, orient: "horizontal", left: "center", bottom: 0, itemHeight: 80,
                   inRange: { color: ["#eef4f7", "#2f6f8f"] } },
      series: [{ type: "heatmap", data: cells, label: { show: true } }]
    });
    bar("chart-clv", charts.clv.labels, charts.clv.counts, 35);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
