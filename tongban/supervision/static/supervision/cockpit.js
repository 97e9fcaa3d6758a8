// Renders the cockpit charts from the JSON the page embeds (no network: ECharts is vendored).
(function () {
  var el = document.getElementById("cockpit-data");
  if (!el || !window.echarts) return;
  var d = JSON.parse(el.textContent);
  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node) return;
    var c = echarts.init(node, null, { renderer: "canvas" });
    option.animation = false;  // drawn at once: no motion for elder mode, stable screenshots
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
    node.setAttribute("data-rendered", "1");
  }
  chart("chart-trend", {
    tooltip: { trigger: "axis" }, legend: { data: ["收件", "受理", "办结"] },
    xAxis: { type: "category", data: d.days }, yAxis: { type: "value", minInterval: 1 },
    series: [{ name: "收件", type: "line", data: d.received }, { name: "受理", type: "line", data: d.accepted },
             { name: "办结", type: "line", data: d.concluded }]
  });
  chart("chart-regions", {
    tooltip: { trigger: "axis" }, legend: { data: ["收件数", "按时办结率（%）"] },
    xAxis: { type: "category", data: d.regions },
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value", max: 100 }],
    series: [{ name: "收件数", type: "bar", data: d.region_received },
             { name: "按时办结率（%）", type: "line", yAxisIndex: 1, data: d.region_on_time }]
  });
  chart("chart-departments", {
    tooltip: { trigger: "axis" }, grid: { left: 200 },
    xAxis: { type: "value", minInterval: 1 }, yAxis: { type: "category", data: d.departments },
    series: [{ name: "收件数", type: "bar", data: d.department_received }]
  });
})();
