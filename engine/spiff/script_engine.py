"""Spiff's script engine running every expression and script in the engine's sandbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine

from engine.sandbox.scripting import SandboxEnvironment, ScriptError, check_expression


def _task_exception(task: Any, error: ScriptError) -> Any:
    """Wrap error in Spiff's WorkflowTaskException so callers learn the task and line."""
    wrapped = WorkflowTaskException(str(error), task=task, exception=error, line_number=error.line,
                                    error_line=error.source_line)
    wrapped.exception = error  # engine.spiff.stepping reads the inner error from here
    return wrapped


class SandboxScriptEngine(PythonScriptEngine):
    """Spiff's script engine with everything run in the sandbox; failures name task and line.

    Spiff also calls `environment.evaluate(expression, data)` itself (process completion conditions,
    message correlations): the sandbox has that signature, so those run sandboxed too.
    """

    clock: Callable[[], datetime] | None = None  # the unit of work's clock, read by engine.spiff.parser

    def __init__(self, environment: SandboxEnvironment | None = None) -> None:
        super().__init__(environment=environment or SandboxEnvironment())

    def validate(self, expression: str) -> None:
        """Raise ScriptError when expression would be refused."""
        if problems := check_expression(expression):
            raise ScriptError("; ".join(problems), kind="compile", what="expression")

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        """Evaluate expression on the task's data."""
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ScriptError as error:
            raise _task_exception(task, error) from error

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> bool:
        """Run script on the task's data."""
        try:
            return bool(self.environment.execute(script, task.data, external_context))
        except ScriptError as error:
            raise _task_exception(task, error) from error
