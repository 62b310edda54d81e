// Properties-panel provider for the product's `pf` extensions (docs/bpmn-extensions.md): titles,
// lane roles, who may start, assignee and run-time role expressions, separation of duties,
// deadlines with a plain-language reading, gateway conditions, script tasks and end outcomes.
import { h } from "@bpmn-io/properties-panel/preact";
import {
  CheckboxEntry, SelectEntry, TextAreaEntry, TextFieldEntry,
  isCheckboxEntryEdited, isSelectEntryEdited, isTextAreaEntryEdited, isTextFieldEntryEdited
} from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { is, getBusinessObject } from "bpmn-js/lib/util/ModelUtil";
import { readTimer } from "./timer-reading";

const CONFIG = () => window.PF_EDITOR || { roles: [], text: {} };
const t = (key, fallback) => (CONFIG().text || {})[key] || fallback;

export function findExt(bo, type) {
  const values = (bo.extensionElements && bo.extensionElements.values) || [];
  return values.find((v) => v.$type === type) || null;
}

// Set (or with `attrs` null remove) the pf extension `type` of an element, in one undoable command.
export function setExt(element, bo, type, attrs, modeling, bpmnFactory) {
  let ext = bo.extensionElements;
  const existing = findExt(bo, type);
  if (existing && attrs) {
    modeling.updateModdleProperties(element, existing, attrs);
    return existing;
  }
  if (!ext) {
    if (!attrs) { return null; }
    ext = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    ext.$parent = bo;
    modeling.updateModdleProperties(element, bo, { extensionElements: ext });
  }
  if (!attrs) {
    modeling.updateModdleProperties(element, ext, { values: ext.get("values").filter((v) => v !== existing) });
    return null;
  }
  const made = bpmnFactory.create(type, attrs);
  made.$parent = ext;
  const values = ext.get("values").slice();
  if (type === "pf:Label") { values.unshift(made); } else { values.push(made); }
  modeling.updateModdleProperties(element, ext, { values });
  return made;
}

// What every entry needs: its element and id, the business object and the editing services.
// (A hook: it calls the same services in the same order on every render.)
function useEntry(props) {
  const { element, id } = props;
  return { element, id, bo: getBusinessObject(element), modeling: useService("modeling"),
    bpmnFactory: useService("bpmnFactory"), debounce: useService("debounceInput") };
}

function bodyEntry(type, label, description) {
  return function Entry(props) {
    const { element, id, bo, modeling, bpmnFactory, debounce } = useEntry(props);
    const attrsOf = (value) => (type === "pf:Label" ? { lang: "en", body: value } : { body: value });
    return h(TextFieldEntry, {
      id, element, label, description, debounce,
      getValue: () => { const ext = findExt(bo, type); return ext ? ext.body || "" : ""; },
      setValue: (value) => setExt(element, bo, type, value && value.trim() ? attrsOf(value.trim()) : null,
        modeling, bpmnFactory)
    });
  };
}

function LaneRole(props) {
  const { element, id, bo, modeling } = useEntry(props);
  const roles = CONFIG().roles || [];
  return h(SelectEntry, {
    id, element, label: t("laneRole", "Lane role"),
    description: t("laneRoleHelp", "Everyone holding this role is offered the lane's tasks."),
    getOptions: () => [{ value: "", label: t("chooseRole", "Choose a role") }]
      .concat(roles.map((r) => ({ value: r.id, label: `${r.title} (${r.id})` }))),
    getValue: () => { const words = (bo.name || "").trim().split(/\s+/); return words[words.length - 1] || ""; },
    setValue: (value) => {
      const role = roles.find((r) => r.id === value);
      if (role) { modeling.updateProperties(element, { name: role.lane }); }
    }
  });
}

function Starters(props) {
  const { element, id, bo, modeling, bpmnFactory, debounce } = useEntry(props);
  return h(TextFieldEntry, {
    id, element, debounce, label: t("starters", "Who may start (role ids)"),
    description: t("startersHelp", "Space-separated role ids; empty: any signed-in staff."),
    getValue: () => { const s = findExt(bo, "pf:Starters"); return s ? s.roles || "" : ""; },
    setValue: (value) => setExt(element, bo, "pf:Starters", value && value.trim() ? { roles: value.trim() } : null,
      modeling, bpmnFactory)
  });
}

function separationOf(bo) { return findExt(bo, "pf:Separation"); }

function NotStarter(props) {
  const { element, id, bo, modeling, bpmnFactory } = useEntry(props);
  return h(CheckboxEntry, {
    id, element, label: t("notStarter", "The starter may not do this task"),
    getValue: () => { const s = separationOf(bo); return !!(s && s.get("notStarter").length); },
    setValue: (value) => {
      const s = separationOf(bo);
      const performers = s ? s.get("notPerformerOf") : [];
      const notStarter = value ? [bpmnFactory.create("pf:NotStarter")] : [];
      setExt(element, bo, "pf:Separation", notStarter.length || performers.length
        ? { notStarter, notPerformerOf: performers } : null, modeling, bpmnFactory);
    }
  });
}

function NotPerformerOf(props) {
  const { element, id, bo, modeling, bpmnFactory, debounce } = useEntry(props);
  return h(TextFieldEntry, {
    id, element, debounce, label: t("notPerformerOf", "Not whoever did these tasks (task ids)"),
    getValue: () => { const s = separationOf(bo); return s ? s.get("notPerformerOf").map((p) => p.task).join(" ") : ""; },
    setValue: (value) => {
      const s = separationOf(bo);
      const notStarter = s ? s.get("notStarter") : [];
      const notPerformerOf = (value || "").split(/\s+/).filter(Boolean)
        .map((task) => bpmnFactory.create("pf:NotPerformerOf", { task }));
      setExt(element, bo, "pf:Separation", notStarter.length || notPerformerOf.length
        ? { notStarter, notPerformerOf } : null, modeling, bpmnFactory);
    }
  });
}

function timerDefinition(bo) {
  return (bo.eventDefinitions || []).find((d) => is(d, "bpmn:TimerEventDefinition")) || null;
}

function timerPart(definition) {
  for (const kind of ["timeDuration", "timeDate", "timeCycle"]) {
    if (definition && definition.get(kind)) { return { kind, expression: definition.get(kind) }; }
  }
  return { kind: "timeDuration", expression: null };
}

function TimerKind(props) {
  const { element, id, bo, modeling, bpmnFactory } = useEntry(props);
  const definition = timerDefinition(bo);
  return h(SelectEntry, {
    id, element, label: t("timerKind", "Deadline kind"),
    getOptions: () => [
      { value: "timeDuration", label: t("timeDuration", "A duration (e.g. PT15M, 15 minutes)") },
      { value: "timeDate", label: t("timeDate", "A moment (e.g. working_hours(24))") },
      { value: "timeCycle", label: t("timeCycle", "Repeating") }],
    getValue: () => timerPart(definition).kind,
    setValue: (kind) => {
      const { expression } = timerPart(definition);
      const body = expression ? expression.body : "";
      const made = bpmnFactory.create("bpmn:FormalExpression", { body });
      modeling.updateModdleProperties(element, definition,
        { timeDuration: undefined, timeDate: undefined, timeCycle: undefined, [kind]: made });
    }
  });
}

function TimerValue(props) {
  const { element, id, bo, modeling, bpmnFactory, debounce } = useEntry(props);
  const definition = timerDefinition(bo);
  const { kind, expression } = timerPart(definition);
  const value = expression ? expression.body || "" : "";
  return h(TextFieldEntry, {
    id, element, debounce, label: t("timerValue", "Deadline"),
    description: readTimer(kind, value, CONFIG().lang || "zh", is(element, "bpmn:BoundaryEvent")),
    getValue: () => value,
    setValue: (text) => {
      const made = bpmnFactory.create("bpmn:FormalExpression", { body: (text || "").trim() });
      modeling.updateModdleProperties(element, definition, { [kind]: made });
    }
  });
}

function Condition(props) {
  const { element, id, bo, modeling, bpmnFactory, debounce } = useEntry(props);
  return h(TextFieldEntry, {
    id, element, debounce, label: t("condition", "Condition (Python)"),
    description: t("conditionHelp", "e.g. paid == True; form fields are variables"),
    getValue: () => (bo.conditionExpression ? bo.conditionExpression.body || "" : ""),
    setValue: (text) => {
      const value = (text || "").trim();
      modeling.updateProperties(element, {
        conditionExpression: value ? bpmnFactory.create("bpmn:FormalExpression", { body: value }) : undefined
      });
    }
  });
}

function Script(props) {
  const { element, id, bo, modeling, debounce } = useEntry(props);
  return h(TextAreaEntry, {
    id, element, debounce, rows: 6, monospace: true, label: t("script", "Script (Python)"),
    description: t("scriptHelp", "Runs in the sandbox; variables are the case's data."),
    getValue: () => bo.script || "",
    setValue: (text) => modeling.updateProperties(element, { scriptFormat: "python", script: text || "" })
  });
}

function Outcome(props) {
  const { element, id, bo, modeling, bpmnFactory } = useEntry(props);
  return h(SelectEntry, {
    id, element, label: t("outcome", "Outcome"),
    getOptions: () => [{ value: "", label: "—" }, { value: "closed", label: "closed" },
      { value: "completed", label: "completed" }, { value: "rejected", label: "rejected" }],
    getValue: () => { const o = findExt(bo, "pf:Outcome"); return o ? o.body || "" : ""; },
    setValue: (value) => setExt(element, bo, "pf:Outcome", value ? { body: value } : null, modeling, bpmnFactory)
  });
}

const edited = { text: isTextFieldEntryEdited, select: isSelectEntryEdited, check: isCheckboxEntryEdited,
  area: isTextAreaEntryEdited };

function groupsFor(element) {
  const entries = [];
  const add = (id, component, kind) => entries.push({ id, component, isEdited: edited[kind] });
  const bo = getBusinessObject(element);
  if (is(element, "bpmn:Process") || is(element, "bpmn:Participant")) {
    add("pf-title-en", bodyEntry("pf:Label", t("titleEn", "English title")), "text");
    add("pf-starters", Starters, "text");
  } else if (is(element, "bpmn:Lane")) {
    add("pf-lane-role", LaneRole, "select");
  } else if (is(element, "bpmn:FlowNode")) {
    add("pf-title-en", bodyEntry("pf:Label", t("titleEn", "English title")), "text");
  }
  if (is(element, "bpmn:UserTask")) {
    add("pf-assignee", bodyEntry("pf:Assignee", t("assignee", "Assignee (expression giving a username)"),
      t("assigneeHelp", "e.g. technician, or performed_by['approve']; empty: anyone in the lane's role")), "text");
    add("pf-role", bodyEntry("pf:Role", t("roleExpr", "Role chosen at run time (expression)"),
      t("roleExprHelp", "replaces the lane's role when set")), "text");
    add("pf-not-starter", NotStarter, "check");
    add("pf-not-performer", NotPerformerOf, "text");
  }
  if (is(element, "bpmn:Event") && timerDefinition(bo)) {
    add("pf-timer-kind", TimerKind, "select");
    add("pf-timer-value", TimerValue, "text");
  }
  if (is(element, "bpmn:SequenceFlow") && bo.sourceRef &&
      (is(bo.sourceRef, "bpmn:ExclusiveGateway") || is(bo.sourceRef, "bpmn:InclusiveGateway"))) {
    add("pf-condition", Condition, "text");
  }
  if (is(element, "bpmn:ScriptTask")) { add("pf-script", Script, "area"); }
  if (is(element, "bpmn:EndEvent")) { add("pf-outcome", Outcome, "select"); }
  return entries.length ? [{ id: "pf", label: t("groupLabel", "PropertyFlow"), entries }] : [];
}

function PfPropertiesProvider(propertiesPanel) {
  propertiesPanel.registerProvider(400, this);
}
PfPropertiesProvider.$inject = ["propertiesPanel"];
PfPropertiesProvider.prototype.getGroups = function (element) {
  return function (groups) { return groupsFor(element).concat(groups); };
};

export default { __init__: ["pfPropertiesProvider"], pfPropertiesProvider: ["type", PfPropertiesProvider] };
