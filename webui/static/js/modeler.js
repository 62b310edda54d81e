// Process editor: bpmn-js Modeler bound to the page's form. The XML lives in the form's textarea,
// kept in step with the canvas, so "Save and check" and "Deploy" are plain form posts (CSRF token,
// base version hash) and the page works as an XML editor even without this script.
(function () {
  "use strict";

  var PF_NS = "https://propertyflow.dev/schema/bpmn/1";
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

  if (typeof window.BpmnJS !== "function") { fail(container.dataset.error); return; }

  var modeler = new window.BpmnJS({ container: container });
  var modeling = modeler.get("modeling");
  var moddle = modeler.get("moddle");
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

  document.querySelectorAll("[data-element]").forEach(function (button) {
    button.addEventListener("click", function () {
      var element = registry.get(button.dataset.element);
      if (!element) { return; }
      if (canvas.scrollToElement) { canvas.scrollToElement(element); }
      modeler.get("selection").select(element);
    });
  });

  // ---- properties: names in both languages, lane roles, an empty form for new user tasks --------
  var panel = document.getElementById("modeler-panel");
  var fields = document.getElementById("panel-fields");
  var empty = document.getElementById("panel-empty");
  var nameInput = document.getElementById("panel-name");
  var enInput = document.getElementById("panel-name-en");
  var roleSelect = document.getElementById("panel-role");
  var addForm = document.getElementById("panel-add-form");
  var current = null;

  function extension(bo, type) {
    var values = (bo.extensionElements && bo.extensionElements.values) || [];
    for (var i = 0; i < values.length; i++) { if (values[i].$type === type) { return values[i]; } }
    return null;
  }

  // Replace one pf: child of extensionElements (undoable: the whole container is swapped).
  function setExtension(element, type, made, first) {
    var bo = element.businessObject;
    var others = ((bo.extensionElements && bo.extensionElements.values) || []).filter(function (v) {
      return v.$type !== type;
    });
    var values = made ? (first ? [made].concat(others) : others.concat([made])) : others;
    modeling.updateProperties(element, {
      extensionElements: moddle.create("bpmn:ExtensionElements", { values: values })
    });
  }

  function isFlowNode(element) {
    return element && /^bpmn:(.*Task|.*Event|.*Gateway|SubProcess|CallActivity)$/.test(element.type);
  }

  function show(element) {
    current = element;
    var usable = element && element.type !== "label" && element.type !== "bpmn:Process" &&
      element.type !== "bpmn:Collaboration";
    fields.hidden = !usable;
    empty.hidden = !!usable;
    if (!usable) { return; }
    var bo = element.businessObject;
    document.getElementById("panel-id").textContent = bo.id;
    document.getElementById("panel-type").textContent = element.type.replace("bpmn:", "");
    nameInput.value = bo.name || "";
    var label = extension(bo, "pf:label");
    document.getElementById("panel-en-field").hidden = !isFlowNode(element);
    enInput.value = label ? (label.$body || "") : "";
    var isLane = element.type === "bpmn:Lane";
    document.getElementById("panel-role-field").hidden = !isLane;
    if (isLane) {
      var words = (bo.name || "").trim().split(/\s+/);
      roleSelect.value = words[words.length - 1] || "";
      if (roleSelect.selectedIndex < 0) { roleSelect.value = ""; }
    }
    var needsForm = element.type === "bpmn:UserTask" && !extension(bo, "pf:form");
    document.getElementById("panel-form-field").hidden = !needsForm;
  }

  nameInput.addEventListener("change", function () {
    if (current) { modeling.updateLabel(current, nameInput.value.trim()); }
  });
  enInput.addEventListener("change", function () {
    if (!current) { return; }
    var text = enInput.value.trim();
    var made = text ? moddle.createAny("pf:label", PF_NS, { lang: "en", $body: text }) : null;
    setExtension(current, "pf:label", made, true);
  });
  roleSelect.addEventListener("change", function () {
    var option = roleSelect.options[roleSelect.selectedIndex];
    if (current && option && option.dataset.lane) {
      modeling.updateLabel(current, option.dataset.lane);
      nameInput.value = option.dataset.lane;
    }
  });
  addForm.addEventListener("click", function () {
    if (current) {
      setExtension(current, "pf:form", moddle.createAny("pf:form", PF_NS, {}), false);
      show(current);
    }
  });

  modeler.on("selection.changed", function (event) {
    show(event.newSelection.length === 1 ? event.newSelection[0] : null);
  });
  modeler.on("element.changed", function (event) {
    if (current && event.element === current && document.activeElement !== nameInput &&
        document.activeElement !== enInput) { show(current); }
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

  modeler.importXML(source.value).then(function () {
    canvas.zoom("fit-viewport", "auto");
    markProblems();
    panel.hidden = false;
    download.hidden = false;
    container.dataset.ready = "true";
  }).catch(function () { fail(container.dataset.error); });
})();
