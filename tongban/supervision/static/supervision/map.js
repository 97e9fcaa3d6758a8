// 跨域流转地图: lines from the receiving region to the competent region, width by volume; clicking a
// region drills down (a new page load, so the figures always come from the server's authorised query).
(function () {
  "use strict";
  var holder = document.getElementById("flow-map");
  var dataNode = document.getElementById("flow-map-data");
  if (!holder || !dataNode || typeof echarts === "undefined") return;
  var data = JSON.parse(dataNode.textContent);
  var spec = data.map;

  function draw() {
    var chart = echarts.init(holder);
    var max = 1;
    data.flows.forEach(function (f) { if (f.source !== f.target && f.count > max) max = f.count; });
    var lines = [];
    var volume = {};
    data.flows.forEach(function (f) {
      volume[f.target] = (volume[f.target] || 0) + f.count;
      volume[f.source] = (volume[f.source] || 0) + f.count;
      var a = data.regions[f.source].coord, b = data.regions[f.target].coord;
      if (f.source === f.target || !a || !b) return;
      lines.push({
        name: f.source_name + " → " + f.target_name,
        coords: [a, b],
        value: f.count,
        lineStyle: { width: 1 + 7 * f.count / max }
      });
    });
    var points = Object.keys(data.regions).filter(function (c) { return data.regions[c].coord; }).map(function (c) {
      return { name: data.regions[c].name, code: c, value: data.regions[c].coord.concat([volume[c] || 0]) };
    });
    chart.setOption({
      tooltip: {
        trigger: "item",
        formatter: function (p) {
          if (p.seriesType === "lines") return p.name + "：" + p.value + " 件";
          if (p.seriesType === "effectScatter") return p.name + "：收发合计 " + p.value[2] + " 件";
          return p.name + (spec.drill && spec.drill[p.name] ? "（点击下钻）" : "");
        }
      },
      geo: {
        map: spec.name, roam: true,
        itemStyle: { areaColor: "#eef3f8", borderColor: "#8aa2bd" },
        emphasis: { itemStyle: { areaColor: "#cfe0f3" }, label: { show: true } }
      },
      series: [
        { type: "lines", coordinateSystem: "geo", zlevel: 2, data: lines,
          effect: { show: true, symbol: "arrow", symbolSize: 6, period: 5 },
          lineStyle: { color: "#c0392b", opacity: 0.7, curveness: 0.2 } },
        { type: "effectScatter", coordinateSystem: "geo", zlevel: 3, data: points,
          symbolSize: function (v) { return 4 + Math.min(12, Math.sqrt(v[2])); },
          itemStyle: { color: "#1f5fa8" }, label: { show: true, position: "right", formatter: "{b}", fontSize: 11 } }
      ]
    });
    var drillable = {};
    Object.keys(spec.drill || {}).forEach(function (name) { drillable[spec.drill[name]] = true; });
    chart.on("click", function (p) {
      // a region's shape (by its map name) or its point on the map (by its code)
      var code = p.componentType === "geo" ? (spec.drill || {})[p.name] : (p.data && drillable[p.data.code] ? p.data.code : null);
      if (code) {
        var q = new URLSearchParams({ region: code, start: data.start, end: data.end });
        window.location.search = q.toString();
      }
    });
    window.addEventListener("resize", function () { chart.resize(); });
    holder.setAttribute("data-rendered", "1");
  }

  if (spec.geojson) {
    fetch(spec.geojson).then(function (r) { return r.json(); }).then(function (geojson) {
      echarts.registerMap(spec.name, geojson);
      draw();
    });
  } else {
    draw();  // the province script registered its map on load
  }
})();
