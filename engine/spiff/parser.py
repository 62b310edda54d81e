"""SpiffWorkflow parser set up for this product: clocked timers and readable timer expressions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import SpiffWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    BoundaryEventParser,
    IntermediateCatchEventParser,
    StartEventParser,
)
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, IntermediateCatchEvent, StartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

# An ISO-8601 duration or datetime literal may be written without Python quotes in the diagram.
ISO_DURATION = re.compile(r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
                          r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
# The BPMN 2.0 schema SpiffWorkflow ships, which deploy validates every file against.
BPMN_XSD = Path(str(SpiffWorkflow.__file__)).parent / "bpmn" / "parser" / "schema" / "BPMN20.xsd"


def normalise_timer_expression(text: str | None) -> str:
    """Quote a bare ISO literal so the expression evaluates to it; leave real expressions alone."""
    source = (text or "").strip()
    if ISO_DURATION.match(source.upper()) or ISO_DATETIME.match(source.upper()):
        return repr(source)
    return source


def is_iso_duration(text: str) -> bool:
    """Tell whether Spiff's timers read text as an ISO-8601 duration."""
    try:
        TimerEventDefinition.parse_iso_duration(text)
    except Exception:
        return False
    return True


def engine_now(task: Any) -> datetime:
    """Return the unit of work's clock (tests and `bpm worker --now` set it), else wall-clock UTC."""
    clock = getattr(task.workflow.script_engine, "clock", None)
    return clock() if callable(clock) else datetime.now(UTC)


class ClockedTimeDate(TimeDateEventDefinition):
    """A timeDate timer that reads the engine's clock instead of the process's wall clock."""

    def has_fired(self, my_task: Any) -> bool:
        """Compute the due time once, then compare it with the engine's clock."""
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            event_value = _as_iso(value)
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.parse_time_or_duration(event_value) <= engine_now(my_task):
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedDuration(DurationTimerEventDefinition):
    """A timeDuration timer measured from the engine's clock."""

    def has_fired(self, my_task: Any) -> bool:
        """Fix the due time when the timer starts waiting, then compare with the engine's clock."""
        event_value = my_task._get_internal_data("event_value")
        now = engine_now(my_task)
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            parsed = TimerEventDefinition.parse_iso_duration(str(expression))
            delta = TimerEventDefinition.get_timedelta_from_start(parsed, now)
            event_value = (now + delta).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.get_datetime(event_value) <= now:
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


def _as_iso(value: Any) -> str:
    """Turn what a timeDate expression returned into an aware ISO string."""
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"a timeDate expression must give a datetime or ISO string, not {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


class _ClockedTimerParsing:
    """Mixin replacing Spiff's timer definitions by the clocked ones."""

    node: Any
    filename: str | None

    def parse_timer_event(self, event: Any) -> TimerEventDefinition:
        """Parse a timerEventDefinition into a clocked timer, quoting bare ISO literals."""
        description = self.get_event_description(event)  # type: ignore[attr-defined]
        name = self.node.get("name", self.node.get("id"))
        for tag, cls in (("timeDate", ClockedTimeDate), ("timeDuration", ClockedDuration),
                         ("timeCycle", CycleTimerEventDefinition)):
            found = self.xpath(f".//bpmn:{tag}")  # type: ignore[attr-defined]
            if found:
                return cls(name, normalise_timer_expression(found[0].text), description=description)
        raise ValidationException("Timer event has no timeDate, timeDuration or timeCycle",
                                  node=self.node, file_name=self.filename)


class ClockedStartEventParser(_ClockedTimerParsing, StartEventParser):
    """Start events with clocked timers."""


class ClockedCatchEventParser(_ClockedTimerParsing, IntermediateCatchEventParser):
    """Intermediate catch events with clocked timers."""


class ClockedBoundaryEventParser(_ClockedTimerParsing, BoundaryEventParser):
    """Boundary events with clocked timers."""


class ProductParser(BpmnParser):
    """The BPMN parser of this product."""

    OVERRIDE_PARSER_CLASSES = {
        full_tag("startEvent"): (ClockedStartEventParser, StartEvent),
        full_tag("intermediateCatchEvent"): (ClockedCatchEventParser, IntermediateCatchEvent),
        full_tag("boundaryEvent"): (ClockedBoundaryEventParser, BoundaryEvent),
    }
