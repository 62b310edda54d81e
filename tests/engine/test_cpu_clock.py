"""The sandbox's CPU clock: no system call for short runs, the thread's CPU time for long ones."""

from __future__ import annotations

import pytest

from engine.sandbox import budget
from engine.sandbox.budget import CpuClock


class FakeTime:
    """A wall clock and a CPU clock the test moves by hand, counting CPU-clock reads."""

    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 5.0
        self.cpu_reads = 0

    def perf_counter(self) -> float:
        return self.wall

    def thread_time(self) -> float:
        self.cpu_reads += 1
        return self.cpu


@pytest.fixture
def clock_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(budget.time, "perf_counter", fake.perf_counter)
    monkeypatch.setattr(budget.time, "thread_time", fake.thread_time)
    return fake


def test_a_short_run_is_charged_its_wall_time_without_reading_the_cpu_clock(clock_time: FakeTime) -> None:
    clock = CpuClock()
    clock_time.wall += 0.0005
    assert clock.spent() == pytest.approx(0.0005)
    assert clock_time.cpu_reads == 0


def test_a_long_run_counts_cpu_time_not_time_spent_waiting(clock_time: FakeTime) -> None:
    clock = CpuClock()
    clock_time.wall += 0.003
    clock_time.cpu += 0.001
    first = clock.spent()  # the first look past EARLY counts all the wall time so far, as CPU time
    assert first == pytest.approx(0.003)
    clock_time.wall += 10.0  # ten seconds waiting for a lock or the machine...
    clock_time.cpu += 0.5  # ...of which half a second ran
    assert clock.spent() == pytest.approx(0.503)
    assert clock_time.cpu_reads == 2  # one to start counting, one to read


def test_a_sandboxed_loop_is_still_stopped_after_its_cpu_seconds() -> None:
    from engine.sandbox.budget import LimitExceeded, Limits, Run

    run = Run(Limits(max_seconds=0.05, max_steps=10**9))
    with pytest.raises(LimitExceeded, match=r"longer than 0\.05 s"):
        while True:
            run.tick()
