// Figures page: horizontal bar charts (chart.js) of each KPI and its breakdowns, with the target
// drawn as a dashed line. The tables next to the charts carry the same numbers for everyone.
(function () {
  "use strict";
  var node = document.getElementById("figures-data");
  if (!node || typeof window.Chart !== "function") { return; }
  var data = JSON.parse(node.textContent);
  var GREEN = "#2e8b57", RED = "#c0392b", GREY = "#9aa5ae";

  // Draws each bar's own target (the overview mixes 100% and 95% targets) as a dashed mark.
  var targetLine = {
    id: "pfTarget",
    afterDatasetsDraw: function (chart, _args, options) {
      var targets = options.targets || [];
      var x = chart.scales.x, y = chart.scales.y, ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#1e2a33";
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1.5;
      targets.forEach(function (target, i) {
        if (target === null || target === undefined) { return; }
        var px = x.getPixelForValue(target);
        var center = y.getPixelForValue(i);
        var half = (y.height / Math.max(1, targets.length)) * 0.42;
        ctx.beginPath();
        ctx.moveTo(px, center - half);
        ctx.lineTo(px, center + half);
        ctx.stroke();
      });
      ctx.restore();
    }
  };

  function color(met) { return met === null || met === undefined ? GREY : (met ? GREEN : RED); }

  function draw(canvas, labels, values, mets, targets) {
    canvas.parentNode.style.height = Math.max(140, 48 + labels.length * 36) + "px";
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [{
          label: data.labels.ratio,
          data: values,
          backgroundColor: mets.map(color),
          borderRadius: 4,
          maxBarThickness: 26
        }]
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } } },
          y: { ticks: { autoSkip: false } }
        },
        plugins: {
          legend: { display: false },
          pfTarget: { targets: targets },
          tooltip: {
            callbacks: {
              label: function (item) {
                var t = targets[item.dataIndex];
                var value = item.raw === null ? "—" : item.raw + "%";
                return value + " (" + data.labels.target + " " + t + "%)";
              }
            }
          }
        }
      },
      plugins: [targetLine]
    });
  }

  var overview = document.getElementById("chart-overview");
  if (overview) {
    draw(overview,
      data.overview.map(function (k) { return k.title; }),
      data.overview.map(function (k) { return k.percent; }),
      data.overview.map(function (k) { return k.met; }),
      data.overview.map(function (k) { return k.target; }));
  }
  data.charts.forEach(function (chart) {
    var canvas = document.getElementById(chart.id);
    if (!canvas) { return; }
    draw(canvas,
      chart.rows.map(function (r) { return r.label; }),
      chart.rows.map(function (r) { return r.percent; }),
      chart.rows.map(function (r) { return r.met; }),
      chart.rows.map(function () { return chart.target; }));
  });
  document.body.dataset.chartsReady = "true";
})();
