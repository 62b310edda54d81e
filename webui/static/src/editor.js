// The editor bundle (built by esbuild in `make install`): bpmn-js Modeler with the properties panel,
// the BPMN providers and the product's `pf` provider and moddle descriptor. Exposes window.PfModeler.
import Modeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import pfDescriptor from "./pf-moddle.json";
import PfProviderModule from "./pf-provider";
import { createFormBuilder } from "./form-builder";

export { readTimer } from "./timer-reading";

window.PfModeler = function PfModeler(options) {
  return new Modeler(Object.assign({}, options, {
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, PfProviderModule],
    moddleExtensions: { pf: pfDescriptor }
  }));
};

window.PfFormBuilder = createFormBuilder;
