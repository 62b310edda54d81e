// The editor bundle (built by esbuild in `make install`): bpmn-js Modeler with the properties panel,
// the BPMN providers, the product's `pf` provider and moddle descriptor, bpmnlint and token simulation.
import Modeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import LintModule from "bpmn-js-bpmnlint";
import TokenSimulationModule from "bpmn-js-token-simulation";
import pfDescriptor from "./pf-moddle.json";
import PfProviderModule from "./pf-provider";
import { createFormBuilder } from "./form-builder";
import lintConfig from "./lint-config";
import TranslateModule from "./translate";

// The simulation's switch writes its English label itself, also on every toggle: say it in the page's words.
function SimulationLabel(eventBus, canvas, translate) {
  const relabel = () => {
    const toggle = canvas.getContainer().parentNode.querySelector(".bts-toggle-mode");
    const text = toggle && toggle.firstChild;
    if (text && text.nodeType === Node.TEXT_NODE) { text.textContent = translate("Token Simulation") + " "; }
  };
  eventBus.on(["import.done", "tokenSimulation.toggleMode"], 500, () => setTimeout(relabel));
}
SimulationLabel.$inject = ["eventBus", "canvas", "translate"];
const SimulationLabelModule = { __init__: ["simulationLabel"], simulationLabel: ["type", SimulationLabel] };

window.PfModeler = function PfModeler(options) {
  return new Modeler(Object.assign({}, options, {
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, PfProviderModule, LintModule,
      TokenSimulationModule, TranslateModule, SimulationLabelModule],
    moddleExtensions: { pf: pfDescriptor },
    linting: { bpmnlint: lintConfig, active: true }
  }));
};

window.PfFormBuilder = createFormBuilder;
