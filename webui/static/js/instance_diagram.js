// Instance diagram: draws the version's BPMN with bpmn-js and marks where the case has been.
// Completed steps green, active blue, failed red; a badge counts how often each step was done.
(function () {
  "use strict";

  function showError(container, message) {
    container.classList.add("diagram--error");
    container.textContent = message;
  }

  function counts(visits, id) {
    return visits[id] || { completed: 0, active: 0, failed: 0 };
  }

  function badge(text, kind, title) {
    var el = document.createElement("span");
    el.className = "pf-count pf-count--" + kind;
    el.textContent = text;
    el.title = title;
    return el;
  }

  function highlight(viewer, data) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var visits = data.visits || {};
    var labels = data.labels || {};
    var moved = {};
    (data.transitions || []).forEach(function (pair) { moved[pair[0] + "\u0000" + pair[1]] = true; });
    registry.forEach(function (element) {
      if (element.type === "label") { return; }
      var c = counts(visits, element.id);
      if (element.type === "bpmn:SequenceFlow") {
        var bo = element.businessObject;
        if (bo.sourceRef && bo.targetRef && moved[bo.sourceRef.id + "\u0000" + bo.targetRef.id]) {
          canvas.addMarker(element.id, "pf-taken");
        }
        return;
      }
      if (c.failed > 0) {
        canvas.addMarker(element.id, "pf-failed");
      } else if (c.active > 0) {
        canvas.addMarker(element.id, "pf-active");
      } else if (c.completed > 0) {
        canvas.addMarker(element.id, "pf-completed");
      } else {
        return;
      }
      var shown = c.completed + c.active;
      if (shown > 1 || c.failed > 0) {
        var kind = c.failed > 0 ? "failed" : (c.active > 0 ? "active" : "completed");
        var title = c.completed + " × " + (labels.completed || "completed") +
          (c.active ? ", " + c.active + " × " + (labels.active || "active") : "") +
          (c.failed ? ", " + (labels.failed || "failed") : "");
        overlays.add(element.id, "pf-visits", {
          position: { top: -10, right: 10 },
          html: badge(c.failed > 0 ? "!" : String(shown), kind, title)
        });
      }
    });
  }

  function render(container, xml, data) {
    var viewer = new window.BpmnJS({ container: container });
    container.pfViewer = viewer;  // for the zoom buttons (diagram_zoom.js)
    return viewer.importXML(xml).then(function () {
      var canvas = viewer.get("canvas");
      // Fitting a zero-sized (hidden or collapsing) container would scale by infinity.
      function fit() {
        if (container.clientWidth > 0 && container.clientHeight > 0) { canvas.zoom("fit-viewport", "auto"); }
      }
      fit();
      if (data) { highlight(viewer, data); }
      container.dataset.ready = "true";
      window.addEventListener("resize", fit);
    });
  }

  // An instance's diagram comes as JSON with its visits; a model version's as plain XML.
  function init(container) {
    if (typeof window.BpmnJS !== "function") {
      showError(container, container.dataset.error);
      return;
    }
    var asJson = !!container.dataset.src;
    fetch(container.dataset.src || container.dataset.xmlSrc, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return asJson ? response.json() : response.text();
      })
      .then(function (body) {
        return asJson ? render(container, body.xml, body) : render(container, body, null);
      })
      .catch(function () { showError(container, container.dataset.error); });
  }

  document.querySelectorAll("#instance-diagram[data-src], #model-diagram[data-xml-src]").forEach(init);
})();
