"""The one adapter to SpiffWorkflow: parser set-up, serializer, script engine, step loop, task helpers."""

# Nothing outside this folder imports SpiffWorkflow (bench/ and tests/ may, to compare with raw Spiff),
# and ruff's SLF001 is off only here. What the adapter relies on beyond Spiff's public API, and so why
# pyproject pins `SpiffWorkflow==3.2.0` exactly; an upgrade needs checking this folder only:
# - Task._get_internal_data / _set_internal_data and the timer keys "event_value" / "event_fired"
#   (parser.py's clocked timers; due_time and wakeup_time in tasks.py);
# - Task._set_state (tasks.restart_failed_tasks) and Task._parent (state.prune cuts the tree there);
# - TaskSpec._update (stepping.py refreshes waiting timers and subprocess parents with it);
# - boundary events sit under a task whose spec class name starts with "BoundaryEventSplit" (tasks.due_time);
# - serializer.py: BpmnWorkflowConverter.to_dict being WorkflowConverter.to_dict plus spec,
#   subprocess_specs, subprocesses and bpmn_events, and the key order that gives (state format 1 bytes);
# - state_json.py writes that dict's JSON itself: the keys, order and typenames of WorkflowConverter,
#   BpmnSubWorkflowConverter and TaskConverter (its DeepMerge delta), and Task._children / Task._state.
