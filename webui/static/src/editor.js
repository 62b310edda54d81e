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

window.PfModeler = function PfModeler(options) {
  return new Modeler(Object.assign({}, options, {
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, PfProviderModule, LintModule,
      TokenSimulationModule, TranslateModule],
    moddleExtensions: { pf: pfDescriptor },
    linting: { bpmnlint: lintConfig, active: true }
  }));
};

window.PfFormBuilder = createFormBuilder;
