// Statistics heatmap: draws a version's BPMN with bpmn-js and tints each step by its median wait.
(function () {
  "use strict";

  function tint(share) {
    // 0 → pale yellow, 1 → deep red
    var g = Math.round(230 - 190 * share), b = Math.round(160 - 130 * share);
    return "rgb(230," + g + "," + b + ")";
  }

  function overlay(viewer, stats) {
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var longest = 0;
    stats.elements.forEach(function (e) { longest = Math.max(longest, e.waiting.median_s || 0); });
    stats.elements.forEach(function (e) {
      var shape = registry.get(e.element_id);
      if (!shape || shape.type === "label" || !shape.width) { return; }
      var heat = document.createElement("div");
      heat.className = "pf-heat";
      heat.style.width = shape.width + "px";
      heat.style.height = shape.height + "px";
      heat.style.background = tint(longest ? (e.waiting.median_s || 0) / longest : 0);
      overlays.add(shape.id, "pf-heat", { position: { top: 0, left: 0 }, html: heat });
      if (e.case_share !== null) {
        var badge = document.createElement("span");
        badge.className = "pf-count pf-count--completed";
        badge.textContent = Math.round(e.case_share * 100) + "%";
        overlays.add(shape.id, "pf-share", { position: { top: -10, right: 10 }, html: badge });
      }
    });
  }

  var container = document.getElementById("heatmap-diagram");
  if (!container) { return; }
  if (typeof window.BpmnJS !== "function") {
    container.textContent = container.dataset.error;
    return;
  }
  var stats = JSON.parse(document.getElementById("heatmap-data").textContent);
  fetch(container.dataset.xmlSrc, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) {
      var viewer = new window.BpmnJS({ container: container });
      return viewer.importXML(xml).then(function () {
        if (container.clientWidth > 0 && container.clientHeight > 0) {
          viewer.get("canvas").zoom("fit-viewport", "auto");
        }
        overlay(viewer, stats);
        container.dataset.ready = "true";
      });
    })
    .catch(function () { container.textContent = container.dataset.error; });
})();
