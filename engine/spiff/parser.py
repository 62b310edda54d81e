"""SpiffWorkflow parser set up for this product: clocked timers and readable timer expressions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
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

from engine.messages import Message, msg

# An ISO-8601 duration or datetime literal may be written without Python quotes in the diagram.
ISO_DURATION = re.compile(r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
                          r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
# A repeating timer written as an ISO-8601 literal: R<count>/<duration> (or a start datetime in between).
ISO_CYCLE = re.compile(r"^R\d*/\S*$")
MAX_CYCLE_REPETITIONS = 1000  # a cycle is a bounded series of reminders, never an endless one
MIN_CYCLE_INTERVAL_SECONDS = 60  # a cycle firing more often would flood history and the worker
# Upper bound of any timer: far beyond a lease or inspection cycle, and Spiff adds years and months one
# at a time, so P99999999Y would hold the write lock for minutes before failing.
MAX_TIMER_HORIZON_YEARS = 10
MAX_TIMER_HORIZON = timedelta(days=3653)
_UNIT_DAYS = {"years": 365.25, "months": 30.44, "weeks": 7.0, "days": 1.0, "hours": 1 / 24,
              "minutes": 1 / 1440, "seconds": 1 / 86400}
# The BPMN 2.0 schema SpiffWorkflow ships, which deploy validates every file against.
BPMN_XSD = Path(str(SpiffWorkflow.__file__)).parent / "bpmn" / "parser" / "schema" / "BPMN20.xsd"


def normalise_timer_expression(text: str | None) -> str:
    """Quote a bare ISO literal so the expression evaluates to it; leave real expressions alone."""
    source = (text or "").strip()
    if (ISO_DURATION.match(source.upper()) or ISO_DATETIME.match(source.upper())
            or ISO_CYCLE.match(source.upper())):
        return repr(source)
    return source


def timer_value_problem(kind: str, value: str) -> Message | None:
    """Return why a timer's ISO text (literal or evaluated) cannot be run, or None when it can."""
    text = value.strip()
    if ISO_CYCLE.match(text.upper()):
        return _cycle_problem(text)
    if text[:1] in "+-" and ISO_DURATION.match(text[1:].upper()):
        return msg("timer duration '{value}' cannot be negative or signed", value=text)
    if text.upper().startswith("P"):
        return _duration_problem(text) or timer_horizon_problem(kind, text)
    if kind == "timeDate" and ISO_DATETIME.match(text.upper()):
        return _date_problem(text) or timer_horizon_problem(kind, text)
    return None


def timer_horizon_problem(kind: str, value: str, now: datetime | None = None) -> Message | None:
    """Return why a valid ISO duration or date lies beyond MAX_TIMER_HORIZON, or None (upper bound only)."""
    text = value.strip()
    if kind == "timeDate" and not text.upper().startswith("P"):
        due = TimerEventDefinition.get_datetime(_as_iso(text))
        if due - (now or datetime.now(UTC)) <= MAX_TIMER_HORIZON:
            return None
        return msg("timer date '{value}' lies more than {years} years ahead: the limit is {years} years",
                   value=text, years=MAX_TIMER_HORIZON_YEARS)
    parsed = TimerEventDefinition.parse_iso_duration(text)
    # Summed from the parsed numbers, never by adding the duration to a date (which spins on huge years).
    days = sum(float(parsed.get(unit) or 0) * size for unit, size in _UNIT_DAYS.items())
    if days <= MAX_TIMER_HORIZON.days:
        return None
    return msg("timer duration '{value}' is longer than {years} years: the limit is {years} years",
               value=text, years=MAX_TIMER_HORIZON_YEARS)


def _duration_problem(text: str) -> Message | None:
    """Return why an ISO duration cannot be run (Spiff counts years and months as whole units)."""
    if not is_iso_duration(text):
        return msg("timer duration '{value}' is not an ISO-8601 duration (e.g. PT15M)", value=text)
    parsed = TimerEventDefinition.parse_iso_duration(text)
    if any(isinstance(parsed.get(unit), float) for unit in ("years", "months")):
        return msg("timer duration '{value}' has a fraction of a year or month, whose length varies: "
                   "write it in smaller whole units (e.g. P6M or P182D)", value=text)
    return None


def _date_problem(text: str) -> Message | None:
    """Return why an ISO datetime cannot be compared with the engine's clock."""
    try:
        TimerEventDefinition.get_datetime(_as_iso(text))
    except (ValueError, OverflowError):
        return msg("timer date '{value}' is not a date or lies outside the range a clock can reach",
                   value=text)
    return None


def _cycle_problem(text: str) -> Message | None:
    """Return why a timer cycle is refused: it must repeat a bounded number of times, not too often."""
    match = re.fullmatch(r"R(\d*)/(?:([^/]+)/)?([^/]+)", text.upper())
    if match is None or not is_iso_duration(match.group(3)) or (
            match.group(2) is not None and _date_problem(match.group(2)) is not None):
        return msg("timer cycle '{value}' is not R<count>/<duration> (e.g. R3/PT1H) "
                   "or R<count>/<start>/<duration>", value=text)
    if not match.group(1):
        return msg("timer cycle '{value}' needs a repetition count: an endless cycle never stops firing "
                   "(write e.g. R3/PT1H, at most R{most})", value=text, most=MAX_CYCLE_REPETITIONS)
    if not 1 <= int(match.group(1)) <= MAX_CYCLE_REPETITIONS:
        return msg("timer cycle '{value}' must repeat between 1 and {most} times", value=text,
                   most=MAX_CYCLE_REPETITIONS)
    problem = _duration_problem(match.group(3)) or timer_horizon_problem("timeDuration", match.group(3))
    if problem is not None:
        return problem
    parsed = TimerEventDefinition.parse_iso_duration(match.group(3))
    start = datetime(2000, 1, 1, tzinfo=UTC)
    interval = TimerEventDefinition.get_timedelta_from_start(parsed, start).total_seconds()
    if interval < MIN_CYCLE_INTERVAL_SECONDS:
        return msg("timer cycle '{value}' repeats more often than every minute: its interval is shorter "
                   "than PT1M", value=text)
    return None


def _checked(kind: str, value: str) -> str:
    """Return an evaluated timer value, or raise ValueError saying why it cannot be run."""
    problem = timer_value_problem(kind, value)
    if problem is not None:
        raise ValueError(problem)
    return value


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
            _checked("timeDate", event_value)
            beyond = timer_horizon_problem("timeDate", event_value, engine_now(my_task))
            if beyond is not None:
                raise ValueError(beyond)
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
            parsed = TimerEventDefinition.parse_iso_duration(_checked("timeDuration", str(expression)))
            delta = TimerEventDefinition.get_timedelta_from_start(parsed, now)
            event_value = (now + delta).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.get_datetime(event_value) <= now:
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class CheckedCycle(CycleTimerEventDefinition):
    """A timeCycle timer whose evaluated value must be a bounded cycle before it starts."""

    def cycle_complete(self, my_task: Any) -> bool:
        """Check the cycle the expression gives once, then let Spiff count it."""
        if my_task._get_internal_data("event_value") is None:
            value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            problem = _cycle_problem(str(value).strip())
            if problem is not None:
                raise ValueError(problem)
        return bool(super().cycle_complete(my_task))


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
                         ("timeCycle", CheckedCycle)):
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
