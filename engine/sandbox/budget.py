"""The budget of one sandboxed run: its limits, counters and the size measure every guard uses.

A run's `Run` lives in a thread-local, so nothing is global and concurrent runs never share a budget.
Sizes count elements and characters ("leaves"), not bytes; see `measure`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn


@dataclass(frozen=True)
class Limits:
    """Resource limits of one evaluation or script run."""

    max_seconds: float = 1.0  # CPU time of this thread, checked at every loop iteration and call
    max_steps: int = 100_000  # loop iterations plus function calls
    max_size: int = 1_000_000  # elements/characters of any one value the code builds
    max_int_bits: int = 10_000  # any integer operand or result (about 3,000 decimal digits)
    max_total: int = 10_000_000  # elements stored into existing containers over the whole run
    max_data: int = 5_000_000  # elements/characters of task data the scripts of a unit of work write


class UnitBudget:
    """What all sandboxed runs of one unit of work may spend together (conditions, rules, scripts)."""

    __slots__ = ("cpu_seconds", "data", "max_cpu_seconds", "max_steps", "steps")

    def __init__(self, max_cpu_seconds: float = 2.0, max_steps: int = 500_000) -> None:
        # Per-run limits alone let 40 conditions of 0.5 s each hold the write lock for 20 s.
        self.max_cpu_seconds = max_cpu_seconds
        self.max_steps = max_steps
        self.cpu_seconds = 0.0
        self.steps = 0
        self.data = 0  # elements/characters of task data its scripts wrote (see Limits.max_data)


class LimitExceeded(BaseException):
    """A run broke a limit; not an Exception, so a script's `except Exception` cannot swallow it."""


class ForbiddenOperation(Exception):
    """Sandboxed code reached for something refused at run time."""


class CpuClock:
    """CPU seconds this thread spent since the clock started, without a system call for short runs."""

    __slots__ = ("cpu", "wall")

    # Below this much wall time the wall clock stands in: a thread's CPU time never exceeds it.
    EARLY = 0.002

    def __init__(self) -> None:
        # The thread's CPU clock is a system call (about 25 µs here) and most evaluations take a few
        # µs in all; the wall clock is not one. Waiting for the database or a busy machine is not the
        # code's cost, so past EARLY the CPU clock decides.
        self.wall = time.perf_counter()
        self.cpu: float | None = None

    def spent(self) -> float:
        """Return the CPU seconds spent so far (at most EARLY more for a run that lasted longer)."""
        wall = time.perf_counter() - self.wall
        if self.cpu is None:
            if wall < self.EARLY:
                return wall
            # Counted from here on the CPU clock, all the wall time before as if it had been CPU time.
            self.cpu = time.thread_time() - wall
            return wall
        return time.thread_time() - self.cpu


class Run:
    """The counters of one sandboxed evaluation or execution."""

    __slots__ = ("broken", "calls", "clock", "limits", "read_only", "seconds", "step_limit", "steps",
                 "total", "unit")

    def __init__(self, limits: Limits, read_only: bool = False, unit: UnitBudget | None = None) -> None:
        self.limits = limits
        self.read_only = read_only  # expressions may not change the data they read
        self.unit = unit
        self.clock = CpuClock()
        seconds, self.step_limit = limits.max_seconds, limits.max_steps
        if unit is not None:
            seconds = min(seconds, unit.max_cpu_seconds - unit.cpu_seconds)
            self.step_limit = min(self.step_limit, unit.max_steps - unit.steps)
        self.seconds = seconds
        self.steps = self.total = self.calls = 0
        self.broken: str | None = None

    def fail(self, message: str) -> NoReturn:
        """Break the run for good: every later tick and exception handler raises again."""
        self.broken = message
        raise LimitExceeded(message)

    def check(self) -> None:
        """Re-raise a broken limit (compiled code calls this first in every except/finally)."""
        if self.broken is not None:
            raise LimitExceeded(self.broken)

    def check_time(self) -> None:
        """Fail once the run is past its deadline."""
        self.check()
        if self.clock.spent() > self.seconds:
            if self.seconds < self.limits.max_seconds and self.unit is not None:
                self.fail(f"the expressions and scripts of this unit of work together ran longer than "
                          f"{self.unit.max_cpu_seconds:g} s of CPU time")
            self.fail(f"it ran longer than {self.limits.max_seconds:g} s")

    def tick(self) -> None:
        """Count one loop iteration or call against the step and time budgets."""
        self.steps += 1
        if self.steps > self.step_limit:
            if self.step_limit < self.limits.max_steps and self.unit is not None:
                self.fail(f"the expressions and scripts of this unit of work together ran more than "
                          f"{self.unit.max_steps:,} loop iterations and calls")
            self.fail(f"it ran more than {self.limits.max_steps:,} loop iterations and calls")
        # Every 64th step is precise enough for a budget of seconds; most expressions finish before
        # their first look.
        if not self.steps & 63:
            self.check_time()

    def settle(self) -> None:
        """Charge what this run spent to its unit of work."""
        if self.unit is not None:
            self.unit.cpu_seconds += self.clock.spent()
            self.unit.steps += self.steps

    def size(self, count: int, what: str) -> None:
        """Refuse to build a value of more than max_size elements or characters."""
        if count > self.limits.max_size:
            self.fail(f"{what} would hold {count:,} or more elements or characters; "
                      f"the limit is {self.limits.max_size:,}")

    def charge(self, value: Any) -> None:
        """Count what a store into an existing container keeps alive against the run's total."""
        self.total += 1 if type(value) in _FLAT else measure(value, self.limits.max_total - self.total)
        if self.total > self.limits.max_total:
            self.fail(f"it stored more than {self.limits.max_total:,} elements in total")


class _Local(threading.local):
    run: Run | None = None


_local = _Local()


def current() -> Run:
    """Return this thread's running budget."""
    run = _local.run
    if run is None:
        raise ForbiddenOperation("sandboxed code can only run inside the sandbox")
    run.calls += 1
    if not run.calls & 7:  # C code may call guards in a loop (map(str, …)): watch the clock there too
        run.check_time()
    return run


@contextmanager
def running(run: Run) -> Iterator[Run]:
    """Make run this thread's budget for the block; a nested run restores the outer one."""
    outer = _local.run
    _local.run = run
    try:
        if run.unit is not None:
            run.check_time()  # a unit that spent its budget runs nothing more, not even a loop-free line
        yield run
    finally:
        _local.run = outer
        run.settle()


_CONTAINERS = frozenset({list, tuple, dict, set, frozenset, type({}.keys()), type({}.values()),
                         type({}.items())})
_FLAT = frozenset({int, float, bool, type(None)})  # leaves counting one each


def _leaf(item: Any, text: bool) -> int:
    """Count one non-container value: its characters, or roughly its digits in text mode."""
    kind = type(item)
    if kind is str or kind is bytes:
        return len(item) + 2 if text else len(item) or 1
    if kind is int:
        return item.bit_length() // 3 + 1 if text else 1
    if kind is Decimal and text and item.is_finite():  # '%d' % Decimal('1e999999'): a million digits
        return abs(item.adjusted()) + 24
    return 24 if text else 1


def measure(value: Any, limit: int, text: bool = False) -> int:
    """Count the leaves (elements, characters) reachable from value, or return limit + 1 past limit.

    A shared reference counts every time it is reached, as repr, JSON and deep comparison pay it
    (`x = [x, x]` doubles), yet each distinct container is walked once; a cycle is infinite.
    With text=True, estimate the length of str(value) instead.
    """
    if type(value) not in _CONTAINERS:
        return _leaf(value, text)
    sizes: dict[int, int | None] = {}  # id -> size; None while its children are being measured
    stack: list[tuple[Any, bool]] = [(value, False)]
    work = 0
    while stack:
        item, leaving = stack.pop()
        children = [*item.keys(), *item.values()] if type(item) is dict else item
        if leaving:
            if not text and set(map(type, children)) <= _FLAT:  # fast path, all in C
                sizes[id(item)] = len(children) or 1
                continue
            own = 2 + 2 * len(children) if text else (0 if len(children) else 1)
            sizes[id(item)] = own + sum(
                sizes[id(c)] or 0 if type(c) in _CONTAINERS else _leaf(c, text) for c in children)
            continue
        if id(item) in sizes:
            if sizes[id(item)] is None:  # an ancestor of itself
                return limit + 1
            continue
        work += len(children)
        if work > limit:  # every child counts at least one
            return limit + 1
        sizes[id(item)] = None
        stack.append((item, True))
        stack.extend((c, False) for c in children if type(c) in _CONTAINERS)
    return min(sizes[id(value)] or 0, limit + 1)


def to_text(run: Run, value: Any, convert: Callable[[Any], str] = str) -> str:
    """Return str(value) (or repr/ascii), refusing values whose text would be too long."""
    if type(value) is str and convert is str:
        return value
    run.size(measure(value, run.limits.max_size, text=True), "the text")
    result = convert(value)
    run.size(len(result), "the text")
    return result
