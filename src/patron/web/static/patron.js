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
      return chart;
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
    trendCharts(make, data.trends, labels.trends);
  }
  // Warnings raised per month, stacked by warning or by severity, and NPS with average CSAT.
  function trendCharts(make, trends, words) {
    var severities = ["critical", "high", "medium", "low"];
    var severityColors = { critical: "#8b1e1e", high: "#c8553d", medium: "#d9a441", low: "#7a8a99" };
    function warningSeries(by) {
      var table = trends.warnings[by], names = by === "rule" ? words.rules : words.severities;
      var keys = Object.keys(table).sort(function (a, b) {
        var ia = severities.indexOf(a), ib = severities.indexOf(b);
        return by === "severity" && ia !== ib ? (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) : (a < b ? -1 : a > b ? 1 : 0);
      });
      return keys.map(function (key) {
        var series = { type: "bar", stack: "raised", name: names[key] || key, data: table[key] };
        if (by === "severity" && severityColors[key]) { series.itemStyle = { color: severityColors[key] }; }
        return series;
      });
    }
    var warnings = make("chart-warnings", {
      grid: { left: 48, right: 16, top: 56, bottom: 48 },
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      xAxis: { type: "category", data: trends.months, axisLabel: { rotate: 30 } },
      yAxis: { type: "value", name: words.raised, minInterval: 1 },
      series: warningSeries("rule")
    });
    var by = document.getElementById("warnings-by");
    if (warnings && by) {
      by.addEventListener("change", function () {
        warnings.setOption({ series: warningSeries(by.value) }, { replaceMerge: ["series"] });
      });
    }
    function shown(value, answers) {
      return (value === null ? "–" : value) + " (" + answers + " " + words.answers + ")";
    }
    make("chart-satisfaction", {
      grid: { left: 48, right: 48, top: 56, bottom: 48 },
      tooltip: { trigger: "axis", formatter: function (items) {
        var i = items[0].dataIndex;
        return trends.months[i] + "<br>" + words.nps + ": " + shown(trends.nps[i], trends.nps_answers[i]) +
          "<br>" + words.csat + ": " + shown(trends.csat[i], trends.csat_answers[i]);
      } },
      legend: { top: 0 },
      xAxis: { type: "category", data: trends.months, axisLabel: { rotate: 30 } },
      yAxis: [{ type: "value", min: -100, max: 100, name: words.nps },
              { type: "value", min: 1, max: 5, name: "CSAT", splitLine: { show: false } }],
      series: [{ type: "line", name: words.nps, data: trends.nps, connectNulls: true },
               { type: "line", name: words.csat, yAxisIndex: 1, data: trends.csat, connectNulls: true }]
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
// The dashboard's cohort retention heatmap, drawn when its fragment arrives.
(function () {
  "use strict";
  function drawCohorts() {
    var source = document.getElementById("cohort-data"), el = document.getElementById("chart-cohorts");
    if (!source || !el || typeof echarts === "undefined") { return; }
    var data = JSON.parse(source.textContent), heatmap = data.heatmap, labels = data.labels;
    var width = heatmap.cells.reduce(function (most, cell) { return Math.max(most, cell[0] + 1); }, 1);
    var months = [];
    for (var k = 0; k < width; k++) { months.push("M" + k); }
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      grid: { left: 72, right: 16, top: 16, bottom: 72 },
      tooltip: { formatter: function (item) {
        var row = item.data[1];
        return heatmap.cohorts[row] + " · M" + item.data[0] + "<br>" + labels.buying + ": " + item.data[2] +
          "%<br>" + labels.customers + ": " + heatmap.sizes[row];
      } },
      xAxis: { type: "category", data: months, name: labels.after, nameLocation: "center", nameGap: 28 },
      yAxis: { type: "category", data: heatmap.cohorts, inverse: true, name: labels.cohort },
      visualMap: { min: 0, max: 100, calculable: false, orient: "horizontal", left: "center", bottom: 0,
                   itemHeight: 80, text: ["100%", "0%"], inRange: { color: ["#eef4f7", "#2f6f8f"] } },
      series: [{ type: "heatmap", data: heatmap.cells, label: { show: true, formatter: function (item) {
        return Math.round(item.data[2]) + "%";
      } } }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "dashboard-cohorts") { drawCohorts(); }
  });
})();
// Work pages: survey charts, ticket SLA countdowns that tick, and dragging a ticket to a status.
(function () {
  "use strict";
  function surveyCharts() {
    var source = document.getElementById("survey-data");
    if (!source || typeof echarts === "undefined") { return; }
    var data = JSON.parse(source.textContent), chart = data.chart, labels = data.labels;
    function line(id, name, values, counts, min, max, color) {
      var el = document.getElementById(id);
      if (!el) { return; }
      var c = echarts.init(el, null, { renderer: "svg" });
      c.setOption({
        animation: false, color: ["#c9d3da", color],
        grid: { left: 48, right: 48, top: 32, bottom: 48 },
        tooltip: { trigger: "axis" },
        legend: { data: [name, labels.answers], top: 0 },
        xAxis: { type: "category", data: chart.months, axisLabel: { rotate: 30 } },
        yAxis: [{ type: "value", min: min, max: max, name: name },
                { type: "value", name: labels.answers, splitLine: { show: false } }],
        series: [{ type: "bar", name: labels.answers, yAxisIndex: 1, data: counts, z: 1 },
                 { type: "line", name: name, data: values, connectNulls: true, z: 2 }]
      });
      window.addEventListener("resize", function () { c.resize(); });
    }
    line("chart-nps", labels.nps, chart.nps, chart.nps_responses, -100, 100, "#2f6f8f");
    line("chart-csat", labels.csat, chart.csat, chart.csat_responses, 0, 100, "#5b9a68");
  }
  var started = Date.now();
  function span(seconds, labels) {
    var s = Math.abs(seconds), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d > 0) { return d + labels.d + " " + h + labels.h; }
    if (h > 0) { return h + labels.h + " " + m + labels.m; }
    return m + labels.m;
  }
  function tick() {
    var board = document.getElementById("board");
    if (!board) { return; }
    var labels = JSON.parse(board.getAttribute("data-labels"));
    var loaded = Number(board.getAttribute("data-loaded") || started);
    var gone = Math.floor((Date.now() - loaded) / 1000);
    board.querySelectorAll(".sla[data-seconds]").forEach(function (el) {
      var left = Number(el.getAttribute("data-seconds")) - gone;
      var text = (left < 0 ? labels.late : labels.left).replace("{time}", span(left, labels));
      el.querySelector(".countdown").textContent = text;
      el.classList.toggle("late", left < 0);
      el.closest(".ticket").classList.toggle("late", left < 0);
    });
  }
  function dragging() {
    document.addEventListener("dragstart", function (event) {
      var card = event.target.closest && event.target.closest(".ticket[draggable]");
      if (card) { event.dataTransfer.setData("text/plain", card.getAttribute("data-ticket")); }
    });
    document.addEventListener("dragover", function (event) {
      var lane = event.target.closest && event.target.closest(".lane");
      if (lane) { event.preventDefault(); lane.classList.add("drop"); }
    });
    document.addEventListener("dragleave", function (event) {
      var lane = event.target.closest && event.target.closest(".lane");
      if (lane) { lane.classList.remove("drop"); }
    });
    document.addEventListener("drop", function (event) {
      var lane = event.target.closest && event.target.closest(".lane");
      var board = document.getElementById("board");
      var id = event.dataTransfer.getData("text/plain");
      if (!lane || !board || !id) { return; }
      event.preventDefault();
      lane.classList.remove("drop");
      htmx.ajax("POST", "/tickets/" + encodeURIComponent(id) + "/move", {
        source: board, target: "#board", swap: "outerHTML",
        values: { to: lane.getAttribute("data-status"), mine: board.getAttribute("data-mine") }
      });
    });
    // A new board arrived: its countdowns start from now.
    document.addEventListener("htmx:afterSettle", function () {
      var board = document.getElementById("board");
      if (board) { board.setAttribute("data-loaded", String(Date.now())); }
    });
  }
  function start() {
    surveyCharts();
    if (document.getElementById("board")) { dragging(); setInterval(tick, 30000); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
