// The bpmnlint rules the editor runs while drawing (bundled; no rule is fetched at run time).
import noDisconnected from "bpmnlint/rules/no-disconnected";
import conditionalFlows from "bpmnlint/rules/conditional-flows";
import noImplicitSplit from "bpmnlint/rules/no-implicit-split";
import startEventRequired from "bpmnlint/rules/start-event-required";
import endEventRequired from "bpmnlint/rules/end-event-required";
import noDuplicateSequenceFlows from "bpmnlint/rules/no-duplicate-sequence-flows";

const RULES = {
  "no-disconnected": noDisconnected, "conditional-flows": conditionalFlows, "no-implicit-split": noImplicitSplit,
  "start-event-required": startEventRequired, "end-event-required": endEventRequired,
  "no-duplicate-sequence-flows": noDuplicateSequenceFlows
};

export default {
  config: { rules: {
    "no-disconnected": "error", "conditional-flows": "error", "no-implicit-split": "error",
    "start-event-required": "error", "end-event-required": "error", "no-duplicate-sequence-flows": "error"
  } },
  resolver: {
    resolveRule(pkg, name) { return RULES[name] || null; },
    resolveConfig() { return null; }
  }
};
