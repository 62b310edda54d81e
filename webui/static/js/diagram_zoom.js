// Zoom in, zoom out and fit buttons for read-only diagrams ([data-zoom] buttons naming their diagram).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-zoom]") : null;
    if (!button) { return; }
    var container = document.getElementById(button.getAttribute("data-zoom-target"));
    var viewer = container && container.pfViewer;
    if (!viewer) { return; }
    var canvas = viewer.get("canvas");
    var how = button.getAttribute("data-zoom");
    if (how === "fit") { canvas.zoom("fit-viewport", "auto"); return; }
    var scale = canvas.zoom() * (how === "in" ? 1.25 : 0.8);
    canvas.zoom(Math.max(0.05, Math.min(4, scale)), "auto");
    container.setAttribute("data-zoom-scale", String(canvas.zoom()));
  });
})();
