"""Spiff's serializer extended, through its public converter hooks, to store workflows without their spec.

Thread-safe by construction: the registry is filled once at import and only read afterwards, and no
conversion keeps state between calls, so the web server's threads and the timer worker share it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.workflow import VERSION, BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow


class EncoderRegistry(DefaultRegistry):
    """A registry that always converts the way Spiff's JSON-encoder path does.

    Registered objects (workflow, tasks, events) become dicts; any other dict is only cleaned of
    callables and left for `json.dumps` to encode. Spiff reaches the same result by flipping a flag on
    a shared registry around each dump, which is a race once two threads dump at the same time.
    """

    def convert(self, obj: Any) -> Any:
        """Convert a registered object to its dict; clean a plain dict; pass anything else through."""
        typename = self.typenames.get(obj.__class__)
        if typename in self.convert_to_dict:
            return self.convert_to_dict[typename](obj)
        if isinstance(obj, dict):
            return self.clean(obj)
        return obj


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Spiff's top-level workflow converter without `spec` and `subprocess_specs`.

    The engine caches parsed specs per process version, so storing them in every instance would only
    cost bytes and load time; a stored workflow is rebuilt on the spec it is given.
    """

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        """Return the workflow's dict in Spiff's key order, less the specs."""
        # BpmnWorkflowConverter.to_dict would convert the whole spec only for us to drop it: start from
        # the attributes shared with subprocesses and add the top-level ones it adds.
        dct: dict[str, Any] = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], *, spec: Any, subprocess_specs: dict[str, Any],
                  script_engine: Any) -> Any:
        """Rebuild a workflow on the given spec (and subprocess specs) from its dict."""
        workflow = self.target_class(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_SERIALIZER = BpmnWorkflowSerializer(
    registry=BpmnWorkflowSerializer.configure({**DEFAULT_CONFIG, BpmnWorkflow: SpecFreeWorkflowConverter},
                                              EncoderRegistry()),
    version=VERSION)
SERIALIZER_VERSION: str = _SERIALIZER.VERSION
convert = _SERIALIZER.registry.convert  # one object, as Spiff's registry converts it (see EncoderRegistry)


def workflow_to_dict(workflow: Any) -> dict[str, Any]:
    """Return a workflow as Spiff's dict without specs (state_json writes its JSON without building it)."""
    dct: dict[str, Any] = _SERIALIZER.to_dict(workflow)
    return dct


def workflow_from_dict(dct: dict[str, Any], spec: Any, subprocess_specs: dict[str, Any],
                       script_engine: Any) -> Any:
    """Rebuild a workflow from `workflow_to_dict`'s output on the given spec."""
    return _SERIALIZER.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs,
                                 script_engine=script_engine)
