"""PropertyFlow's workflow engine: deploy, run and persist BPMN instances (no web framework inside)."""
