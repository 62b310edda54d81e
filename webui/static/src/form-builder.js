// The form builder beside the diagram: add, reorder and remove pf:field elements of a user task or
// start event, edit every attribute and option, rules and distinct-user checks; every change is one
// undoable modeling command, and the preview is drawn by the server's staff form renderer.
import { is, getBusinessObject } from "bpmn-js/lib/util/ModelUtil";
import { findExt, setExt } from "./pf-provider";

const MORE = [["required-when", "requiredWhen"], ["min", "min"], ["max", "max"], ["max-length", "maxLength"],
  ["role", "role"], ["help-zh", "helpZh"], ["help-en", "helpEn"], ["default", "default"], ["decimals", "decimals"]];

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  Object.keys(attrs || {}).forEach((k) => {
    if (k === "text") { node.textContent = attrs[k]; } else if (k in node && k !== "list") { node[k] = attrs[k]; }
    else { node.setAttribute(k, attrs[k]); }
  });
  (children || []).forEach((c) => node.appendChild(c));
  return node;
}

export function createFormBuilder(opts) {
  const { modeler, config, sync, source, form, root } = opts;
  if (!root) { return null; }
  const modeling = modeler.get("modeling");
  const bpmnFactory = modeler.get("bpmnFactory");
  const t = (k) => (config.text || {})[k] || k;
  const list = root.querySelector("#form-fields");
  const rules = root.querySelector("#form-rules");
  const addForm = root.querySelector("#form-add-form");
  const actions = root.querySelector("#form-actions");
  const preview = root.querySelector("#form-preview");
  let current = null;
  let timer = null;

  const formOf = () => (current ? findExt(getBusinessObject(current), "pf:Form") : null);
  const items = () => { const f = formOf(); return f ? f.get("items") : []; };

  function setItems(next) { modeling.updateModdleProperties(current, formOf(), { items: next }); render(); }
  function setAttr(bo, name, value) {
    const attrs = {}; attrs[name] = value === "" ? undefined : value;
    modeling.updateModdleProperties(current, bo, attrs);
  }

  function input(bo, name, label, type) {
    const id = `fb-${Math.random().toString(36).slice(2, 9)}`;
    const field = el("input", { id, type: type || "text", value: bo.get(name) || "", autocomplete: "off",
      "data-attr": name });
    if (type === "checkbox") { field.checked = bo.get(name) === "true"; }
    field.addEventListener("change", () => setAttr(bo, name, type === "checkbox" ? (field.checked ? "true" : "") : field.value.trim()));
    return el("div", { className: type === "checkbox" ? "field field--check" : "field" },
      type === "checkbox" ? [field, el("label", { htmlFor: id, text: label })] : [el("label", { htmlFor: id, text: label }), field]);
  }

  function typeSelect(bo) {
    const id = `fb-${Math.random().toString(36).slice(2, 9)}`;
    const select = el("select", { id, "data-attr": "type" },
      (config.fieldTypes || []).map((v) => el("option", { value: v, text: v })));
    select.value = bo.get("type") || "text";
    select.addEventListener("change", () => { setAttr(bo, "type", select.value); render(); });
    return el("div", { className: "field" }, [el("label", { htmlFor: id, text: t("type") }), select]);
  }

  function button(label, onClick, cls) {
    const b = el("button", { type: "button", className: cls || "btn btn--ghost btn--small", text: label });
    b.addEventListener("click", onClick);
    return b;
  }

  function move(bo, delta) {
    const all = items().slice();
    const i = all.indexOf(bo);
    const j = i + delta;
    if (j < 0 || j >= all.length) { return; }
    all[i] = all[j]; all[j] = bo;
    setItems(all);
  }

  function optionsBlock(field) {
    const box = el("div", { className: "form-builder__options" }, [el("h4", { text: t("options") })]);
    field.get("options").forEach((option) => {
      box.appendChild(el("div", { className: "form-builder__option" }, [
        input(option, "value", t("value")), input(option, "label-zh", t("labelZh")), input(option, "label-en", t("labelEn")),
        button(t("remove"), () => {
          modeling.updateModdleProperties(current, field, { options: field.get("options").filter((o) => o !== option) });
          render();
        })]));
    });
    box.appendChild(button(t("addOption"), () => {
      const n = field.get("options").length + 1;
      const option = bpmnFactory.create("pf:Option", { value: `option_${n}`, "label-zh": `选项${n}`, "label-en": `Option ${n}` });
      option.$parent = field;
      modeling.updateModdleProperties(current, field, { options: field.get("options").concat([option]) });
      render();
    }, "btn btn--small"));
    return box;
  }

  function fieldRow(bo, index) {
    const more = el("details", { className: "form-builder__more" }, [el("summary", { text: t("more") })]
      .concat(MORE.map(([name, key]) => input(bo, name, t(key)))));
    const row = el("li", { className: "form-builder__field", "data-name": bo.get("name") || "" }, [
      el("div", { className: "form-builder__row" }, [
        input(bo, "name", t("name")), typeSelect(bo), input(bo, "label-zh", t("labelZh")), input(bo, "label-en", t("labelEn")),
        input(bo, "required", t("required"), "checkbox")]),
      el("div", { className: "form-builder__tools" }, [
        button(t("up"), () => move(bo, -1)), button(t("down"), () => move(bo, 1)),
        button(t("remove"), () => setItems(items().filter((i) => i !== bo)))])
    ]);
    if ((bo.get("type") || "text") === "choice") { row.appendChild(optionsBlock(bo)); }
    row.appendChild(more);
    row.dataset.index = String(index);
    return row;
  }

  function ruleRow(bo) {
    const isRule = is(bo, "pf:Rule");
    const parts = isRule ? [input(bo, "field", t("field")), input(bo, "expr", t("expr"))] : [input(bo, "fields", t("fields"))];
    return el("li", { className: "form-builder__rule" }, [el("h4", { text: isRule ? t("rule") : t("distinct") })]
      .concat(parts, [input(bo, "message-zh", t("messageZh")), input(bo, "message-en", t("messageEn")),
        button(t("remove"), () => setItems(items().filter((i) => i !== bo)))]));
  }

  function render() {
    list.textContent = ""; rules.textContent = "";
    const f = formOf();
    addForm.hidden = !!f;
    actions.hidden = !f;
    if (f) {
      items().forEach((bo, i) => {
        if (is(bo, "pf:Field")) { list.appendChild(fieldRow(bo, i)); } else { rules.appendChild(ruleRow(bo)); }
      });
    }
    schedulePreview();
  }

  function add(type, attrs) {
    const made = bpmnFactory.create(type, attrs);
    made.$parent = formOf();
    setItems(items().concat([made]));
  }

  addForm.addEventListener("click", () => {
    setExt(current, getBusinessObject(current), "pf:Form", { items: [] }, modeling, bpmnFactory);
    render();
  });
  root.querySelector("#form-add-field").addEventListener("click", () => {
    const n = items().filter((i) => is(i, "pf:Field")).length + 1;
    add("pf:Field", { name: `field_${n}`, type: "text", "label-zh": `字段${n}`, "label-en": `Field ${n}` });
  });
  root.querySelector("#form-add-rule").addEventListener("click", () => add("pf:Rule", { field: "", expr: "True",
    "message-zh": "", "message-en": "" }));
  root.querySelector("#form-add-distinct").addEventListener("click", () => add("pf:Distinct", { fields: "",
    "message-zh": "", "message-en": "" }));

  function schedulePreview() {
    clearTimeout(timer);
    if (!current || !formOf()) { preview.textContent = ""; return; }
    const id = current.id;
    timer = setTimeout(() => {
      sync().then(() => {
        const body = new FormData();
        body.append("xml", source.value);
        body.append("element", id);
        body.append("csrf_token", form.querySelector("[name=csrf_token]").value);
        return fetch(preview.dataset.url, { method: "POST", body, credentials: "same-origin" });
      }).then((r) => r.text()).then((html) => {
        if (current && current.id === id) { preview.innerHTML = html; }
      }).catch((err) => { preview.dataset.error = String(err); });
    }, 300);
  }

  modeler.on("commandStack.changed", () => { if (current) { schedulePreview(); } });

  return {
    show(element) {
      const usable = element && (is(element, "bpmn:UserTask") || is(element, "bpmn:StartEvent") ||
        is(element, "bpmn:ManualTask"));
      current = usable ? element : null;
      root.hidden = !usable;
      if (usable) { render(); }
    }
  };
}
