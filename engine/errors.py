"""The engine's error tree; every error carries the instance, task and BPMN element it concerns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "engine_error"

    def __init__(
        self,
        message: str,
        *,
        instance_id: int | None = None,
        task_id: str | None = None,
        element_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.instance_id = instance_id
        self.task_id = task_id
        self.element_id = element_id

    def to_dict(self) -> dict[str, Any]:
        """Describe the error for a JSON response or a history row."""
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        for key in ("instance_id", "task_id", "element_id"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class NotFound(EngineError):
    """The instance, task, process or user does not exist."""

    code = "not_found"


class Forbidden(EngineError):
    """The actor's roles or a separation-of-duty rule forbid the action."""

    code = "forbidden"


class Conflict(EngineError):
    """The task or instance changed meanwhile (completed, claimed, suspended…)."""

    code = "conflict"


class PreconditionFailed(EngineError):
    """The caller's expectation (an If-Match ETag) no longer names the current version."""

    code = "precondition_failed"


@dataclass(frozen=True)
class FieldMessage:
    """One reason a form field was refused, in both UI languages."""

    code: str
    en: str
    zh: str


class InvalidData(EngineError):
    """Submitted data failed the form's validation; `fields` maps field → reasons."""

    code = "invalid_data"

    def __init__(self, message: str, fields: Mapping[str, Sequence[Any]], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.fields = {name: list(msgs) for name, msgs in fields.items()}

    def to_dict(self) -> dict[str, Any]:
        """Describe the error with per-field reasons in English and Chinese."""
        out = super().to_dict()
        out["fields"] = {
            name: [getattr(m, "en", str(m)) for m in msgs] for name, msgs in self.fields.items()
        }
        out["fields_zh"] = {
            name: [getattr(m, "zh", str(m)) for m in msgs] for name, msgs in self.fields.items()
        }
        return out


@dataclass(frozen=True)
class Problem:
    """One reason a BPMN file was refused, tied to the element it concerns."""

    element_id: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.element_id}: {self.message}" if self.element_id else self.message


class InvalidBpmn(EngineError):
    """A BPMN file was refused; `problems` lists every reason found."""

    code = "invalid_bpmn"

    def __init__(self, problems: Sequence[Problem], filename: str = "") -> None:
        self.problems = list(problems)
        self.filename = filename
        head = f"{filename}: " if filename else ""
        lines = "; ".join(str(p) for p in self.problems[:5])
        more = f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{head}{len(self.problems)} problem(s): {lines}{more}")

    def to_dict(self) -> dict[str, Any]:
        """Describe every problem with its element id."""
        out = super().to_dict()
        out["fields"] = {"bpmn": [str(p) for p in self.problems]}
        out["problems"] = [{"element_id": p.element_id, "message": p.message} for p in self.problems]
        return out


class ProcessFailure(EngineError):
    """A script, expression or assignment failed while running; the instance goes to `error`."""

    code = "process_error"

    def __init__(self, message: str, *, line: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.line = line


class StateFormatError(EngineError):
    """Stored instance state is of a format this engine cannot read."""

    code = "state_format"
