// Process editor: bpmn-js Modeler bound to the page's form. The XML lives in the form's textarea,
// kept in step with the canvas, so "Save and check" and "Deploy" are plain form posts (CSRF token,
// base version hash) and the page works as an XML editor even without this script.
(function () {
  "use strict";

  var form = document.getElementById("modeler-form");
  var container = document.getElementById("modeler-canvas");
  var source = document.getElementById("bpmn-xml");
  if (!form || !container || !source) { return; }

  function readJson(id) {
    var node = document.getElementById(id);
    try { return node ? JSON.parse(node.textContent) : []; } catch (e) { return []; }
  }

  function fail(message) {
    container.classList.add("diagram--error");
    container.textContent = message;
    var details = source.closest("details");
    if (details) { details.open = true; }
  }

  var config = readJson("editor-config") || {};
  window.PF_EDITOR = config;
  var Modeler = window.PfModeler;
  if (typeof Modeler !== "function") { fail(container.dataset.error); return; }

  var modeler = new Modeler({ container: container, propertiesPanel: { parent: "#properties-panel" } });
  var canvas = modeler.get("canvas");
  var registry = modeler.get("elementRegistry");
  var synced = true;
  var rawEdited = false;
  // Edits since the page was loaded (a save or deploy reloads the page); leaving warns about them.
  var dirty = false;
  var submitting = false;
  window.addEventListener("beforeunload", function (event) {
    if (!dirty || submitting) { return; }
    event.preventDefault();
    event.returnValue = form.dataset.unsaved || "";
    return form.dataset.unsaved;
  });

  // ---- keep the textarea in step with the canvas ------------------------------------------------
  function sync() {
    return modeler.saveXML({ format: true }).then(function (result) {
      source.value = result.xml;
      synced = true;
    });
  }

  modeler.on("commandStack.changed", function () {
    dirty = true;
    synced = false;
    rawEdited = false;
    sync();
  });

  source.addEventListener("input", function () { rawEdited = true; dirty = true; });
  source.addEventListener("change", function () {
    modeler.importXML(source.value).then(function () {
      container.classList.remove("diagram--error");
      markProblems();
    }).catch(function () { /* the server check will list what is wrong with the text */ });
  });

  form.addEventListener("submit", function (event) {
    if (synced || rawEdited) { submitting = true; return; }
    event.preventDefault();
    var submitter = event.submitter;
    sync().then(function () { form.requestSubmit(submitter || undefined); });
  });

  // ---- problems from the last check: marked on the diagram and linked from the list -------------
  function markProblems() {
    var overlays = modeler.get("overlays");
    overlays.remove({ type: "pf-problem" });
    var byElement = {};
    readJson("modeler-problems").forEach(function (problem) {
      if (!problem.element_id) { return; }
      (byElement[problem.element_id] = byElement[problem.element_id] || []).push(problem.message);
    });
    Object.keys(byElement).forEach(function (id) {
      var element = registry.get(id);
      if (!element) { return; }
      canvas.addMarker(id, "pf-problem");
      var badge = document.createElement("span");
      badge.className = "pf-count pf-count--failed";
      badge.textContent = String(byElement[id].length);
      badge.title = byElement[id].join("\n");
      // Lanes and pools are as wide as the diagram: badge their label band, not the far edge.
      var wide = /^bpmn:(Lane|Participant)$/.test(element.type);
      overlays.add(id, "pf-problem", {
        position: wide ? { top: -10, left: 4 } : { top: -10, right: 10 }, html: badge
      });
    });
  }

  function goTo(id) {
    var element = registry.get(id);
    if (!element) { return; }
    if (canvas.scrollToElement) { canvas.scrollToElement(element); }
    modeler.get("selection").select(element);
  }

  document.querySelectorAll("[data-element]").forEach(function (button) {
    button.addEventListener("click", function () { goTo(button.dataset.element); });
  });

  // ---- bpmnlint issues listed by element title in the page's language (as the server's problems) ----
  function englishLabel(bo) {
    var values = (bo.extensionElements && bo.extensionElements.values) || [];
    var label = values.filter(function (v) { return v.$type === "pf:Label" && (v.lang || "en") === "en"; })[0];
    return label && label.body ? label.body.trim() : "";
  }

  // An element without a shape (typed into the source) is not in the registry: look in the definitions.
  function findBo(id) {
    var found = null;
    function walk(node) {
      if (!node || found || typeof node !== "object") { return; }
      if (node.id === id) { found = node; return; }
      ["rootElements", "flowElements", "laneSets", "lanes", "participants"].forEach(function (key) {
        (node[key] || []).forEach(walk);
      });
    }
    walk(modeler.getDefinitions());
    return found;
  }

  function titleOf(id) {
    var element = registry.get(id);
    var bo = element ? element.businessObject : findBo(id);
    if (!bo) { return id; }
    var name = (bo.name || "").trim();
    var title = config.lang === "en" ? (englishLabel(bo) || name) : (name || englishLabel(bo));
    if (title) { return title; }
    if (bo.$type === "bpmn:SequenceFlow" && bo.sourceRef && bo.targetRef) {
      return (config.text && config.text.flowFrom || "{source} → {target}")
        .replace("{source}", titleOf(bo.sourceRef.id)).replace("{target}", titleOf(bo.targetRef.id));
    }
    return id;
  }

  var lintBox = document.getElementById("lint-issues");
  var lintList = document.getElementById("lint-list");
  var translate = modeler.get("translate");
  modeler.on("linting.completed", function (event) {
    if (!lintBox || !lintList) { return; }
    lintList.textContent = "";
    Object.keys(event.issues || {}).forEach(function (id) {
      event.issues[id].forEach(function (entry) {
        var issue = Object.assign({}, entry, { id: entry.actualElementId || entry.id || id });
        var item = document.createElement("li");
        var link = document.createElement("button");
        link.type = "button";
        link.className = "linklike";
        link.dataset.lintElement = issue.id;
        link.textContent = titleOf(issue.id);
        link.addEventListener("click", function () { goTo(issue.id); });
        item.appendChild(link);
        item.appendChild(document.createTextNode(": " + translate(issue.message)));
        lintList.appendChild(item);
      });
    });
    lintBox.hidden = !lintList.children.length;
  });

  // ---- form builder: fields, options, rules and distinct-user checks, with the server's preview ----
  var builder = window.PfFormBuilder && window.PfFormBuilder({
    modeler: modeler, config: config, sync: sync, source: source, form: form,
    root: document.getElementById("form-builder")
  });
  // ---- "add a deadline": a non-interrupting timer on the selected user task, leading to an end ------
  var taskActions = document.getElementById("task-actions");
  var picked = null;
  modeler.on("selection.changed", function (event) {
    picked = event.newSelection.length === 1 ? event.newSelection[0] : null;
    if (builder) { builder.show(picked); }
    if (taskActions) { taskActions.hidden = !(picked && picked.type === "bpmn:UserTask"); }
  });
  var addDeadline = document.getElementById("add-deadline");
  if (addDeadline) {
    addDeadline.addEventListener("click", function () {
      if (!picked || picked.type !== "bpmn:UserTask") { return; }
      var task = picked;
      var modeling = modeler.get("modeling");
      var shape = modeler.get("elementFactory").createShape(
        { type: "bpmn:BoundaryEvent", eventDefinitionType: "bpmn:TimerEventDefinition" });
      var timer = modeling.createShape(shape, { x: task.x + task.width - 20, y: task.y + task.height },
        task, { attach: true });
      var definition = timer.businessObject.eventDefinitions[0];
      modeling.updateModdleProperties(timer, definition, {
        timeDuration: modeler.get("bpmnFactory").create("bpmn:FormalExpression", { body: "PT24H" })
      });
      modeling.updateProperties(timer, { cancelActivity: false, name: addDeadline.dataset.name });
      modeling.appendShape(timer, { type: "bpmn:EndEvent" },
        { x: timer.x + timer.width / 2 + 100, y: timer.y + timer.height / 2 + 40 });
      modeler.get("selection").select(timer);
    });
  }

  // ---- zoom and fit --------------------------------------------------------------------------------
  document.querySelectorAll(".modeler__zoom [data-zoom]").forEach(function (button) {
    button.addEventListener("click", function () {
      var how = button.dataset.zoom;
      if (how === "fit") { canvas.zoom("fit-viewport", "auto"); return; }
      if (how === "100") { canvas.zoom(1); return; }
      canvas.zoom(how === "in" ? canvas.zoom() * 1.2 : canvas.zoom() / 1.2);
    });
  });

  // ---- download what is on the canvas ----------------------------------------------------------
  var download = document.getElementById("download-xml");
  download.addEventListener("click", function () {
    sync().then(function () {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([source.value], { type: "application/xml" }));
      link.download = download.dataset.filename;
      document.body.appendChild(link);
      link.click();
      setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
    });
  });

  var panel = document.getElementById("modeler-panel");
  modeler.importXML(source.value).then(function () {
    canvas.zoom("fit-viewport", "auto");
    markProblems();
    panel.hidden = false;
    download.hidden = false;
    container.dataset.ready = "true";
  }).catch(function () { fail(container.dataset.error); });
})();
