// Visual version compare (bundled by esbuild): both versions drawn side by side, with bpmn-js-differ's
// added / removed / changed elements coloured, and zoom / fit controls on each diagram.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import { diff } from "bpmn-js-differ";
import pfDescriptor from "./pf-moddle.json";

function controls(viewer, box) {
  const canvas = viewer.get("canvas");
  box.querySelectorAll("[data-zoom]").forEach((button) => {
    button.addEventListener("click", () => {
      const how = button.dataset.zoom;
      if (how === "fit") { canvas.zoom("fit-viewport", "auto"); return; }
      const level = canvas.zoom();
      canvas.zoom(how === "in" ? level * 1.2 : level / 1.2);
    });
  });
}

function mark(viewer, ids, marker) {
  const registry = viewer.get("elementRegistry");
  const canvas = viewer.get("canvas");
  ids.forEach((id) => { if (registry.get(id)) { canvas.addMarker(id, marker); } });
}

async function compare(root) {
  const oldBox = root.querySelector("[data-side=old]");
  const newBox = root.querySelector("[data-side=new]");
  const viewers = [oldBox, newBox].map((box) => new NavigatedViewer({
    container: box.querySelector(".compare__canvas"), moddleExtensions: { pf: pfDescriptor }
  }));
  const [oldXml, newXml] = await Promise.all([oldBox, newBox].map((box) =>
    fetch(box.dataset.xml, { credentials: "same-origin" }).then((r) => r.text())));
  await viewers[0].importXML(oldXml);
  await viewers[1].importXML(newXml);
  viewers.forEach((v, i) => { v.get("canvas").zoom("fit-viewport", "auto"); controls(v, [oldBox, newBox][i]); });
  const changes = diff(viewers[0].getDefinitions(), viewers[1].getDefinitions());
  const added = Object.keys(changes._added);
  const removed = Object.keys(changes._removed);
  const changed = Object.keys(changes._changed);
  const moved = Object.keys(changes._layoutChanged).filter((id) => !changes._changed[id]);
  mark(viewers[0], removed, "diff-removed");
  mark(viewers[0], changed, "diff-changed");
  mark(viewers[1], added, "diff-added");
  mark(viewers[1], changed, "diff-changed");
  mark(viewers[1], moved, "diff-moved");
  const counts = root.querySelector("[data-counts]");
  if (counts) {
    counts.querySelector("[data-count=added]").textContent = String(added.length);
    counts.querySelector("[data-count=removed]").textContent = String(removed.length);
    counts.querySelector("[data-count=changed]").textContent = String(changed.length);
  }
  root.dataset.ready = "true";
}

document.querySelectorAll("[data-visual-compare]").forEach((root) => {
  compare(root).catch(() => { root.dataset.ready = "error"; root.classList.add("compare--error"); });
});
