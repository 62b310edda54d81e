"""The sandbox in which BPMN expressions and scripts run: policy, budget, guards and builtins."""
