// Draw a process diagram with bpmn-js (vendored NavigatedViewer) and mark the case's progress.
// The container names a JSON endpoint: {xml, visits: {id: {completed, active, failed}}, current: [id]}.
(function () {
  "use strict";
  var READABLE = 0.8;  // below this scale task names are too small to read

  function showError(container) {
    container.textContent = "";
    var message = document.createElement("p");
    message.className = "diagram__error";
    message.textContent = container.getAttribute("data-error") || "";
    container.appendChild(message);
  }

  function mark(viewer, data) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var visits = data.visits || {};
    Object.keys(visits).forEach(function (id) {
      var element = registry.get(id);
      if (!element || element.waypoints) { return; }
      var v = visits[id];
      var marker = v.failed ? "pf-failed" : v.active ? "pf-active" : v.completed ? "pf-completed" : null;
      if (marker) { canvas.addMarker(id, marker); }
    });
    (data.current || []).forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, "pf-current"); }
    });
  }

  function draw(container) {
    var url = container.getAttribute("data-diagram-url");
    if (!url || typeof window.BpmnJS !== "function") { showError(container); return; }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        container.textContent = "";
        var viewer = new window.BpmnJS({ container: container });
        container.pfViewer = viewer;  // for the zoom buttons (diagram_zoom.js)
        return viewer.importXML(data.xml).then(function () {
          var canvas = viewer.get("canvas");
          canvas.zoom("fit-viewport", "auto");
          mark(viewer, data);
          var element = viewer.get("elementRegistry").get((data.current || [])[0]);
          if (element && canvas.zoom() < READABLE) {
            // A whole process shrunk to fit is unreadable: show the task at a readable size instead.
            canvas.zoom(READABLE);
            var box = canvas.viewbox();
            canvas.viewbox({ x: element.x + element.width / 2 - box.width / 2,
                             y: element.y + element.height / 2 - box.height / 2,
                             width: box.width, height: box.height });
          }
        });
      })
      .catch(function () { showError(container); });
  }

  document.querySelectorAll("[data-diagram-url]").forEach(draw);
})();
