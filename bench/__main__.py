"""Run every benchmark and print one table: `python -m bench [--quick] [--only 1,3] [--no-pg]`."""

from __future__ import annotations

import argparse
import importlib
import io
import os
import re
import sys
import time
import traceback
from collections.abc import Sequence
from contextlib import redirect_stdout
from typing import Any

from department.domain import register

from .common import Results, heading, machine, pg_reachable, say

FIGURES = {
    "1": "lifecycle",
    "2": "history_growth",
    "3": "inbox_scale",
    "4": "timers",
    "5": "http",
    "6": "stored_size",
    "7": "operations",
}
COLUMNS = ("figure", "engine", "raw Spiff", "ratio", "target", "met")


class _Tee(io.TextIOBase):
    """Write to the terminal and keep a copy (the timer bench prints its own table)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.kept = io.StringIO()

    def write(self, s: str) -> int:
        self.out.write(s)
        self.kept.write(s)
        return len(s)

    def flush(self) -> None:
        self.out.flush()


TIMER_LINE = re.compile(r"^(sqlite|postgresql)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(yes|NO)")
TIMER_RAW = re.compile(r"raw SpiffWorkflow in memory.*?: (\S+) firings/s")


def timer_rows(results: Results, output: str) -> None:
    """Turn the timer bench's printed table into summary rows: p99 delay and firing throughput."""
    runs: dict[str, dict[int, tuple[float, float]]] = {}
    for line in output.splitlines():
        m = TIMER_LINE.match(line.strip())
        if m:
            runs.setdefault(m[1], {})[int(m[2])] = (float(m[5]), float(m[7]))
    raw = TIMER_RAW.search(output)
    raw_rate = raw[1] + "/s" if raw else "?"
    if not runs:
        results.add("4 timers", "no result (see above)", raw_rate, "", "p99 < 2 s", "NO")
        return
    for database, by_workers in runs.items():
        shown = " / ".join(f"{p99:.0f} ms" for _, (p99, _) in sorted(by_workers.items()))
        worst = max(p99 for p99, _ in by_workers.values())
        results.add(f"4 timers, {database}: p99 delay (1 / 2 workers)", shown,
                    "n/a — Spiff has no timer worker", "", "p99 < 2 s", worst < 2000)
        rates = [rate for _, (_, rate) in sorted(by_workers.items())]
        ratio = f"{rates[0] / float(raw[1]):.2f}× (1 w)" if raw and rates and float(raw[1]) else ""
        results.add(f"4 timers, {database}: firings/s (1 / 2 workers)",
                    " / ".join(f"{r:.0f}/s" for r in rates), raw_rate, ratio, "reported", "—")


def _run_timers(results: Results, quick: bool, use_pg: bool) -> None:
    """Figure 4: the colleague's timer bench, its output read back into the table."""
    from . import timers

    heading("4 Timers: instances waiting on deadlines; due time → committed firing (bench/timers.py)")
    # The timer bench's own default (10,000 instances, 8,000 due at once, four runs) takes longer than
    # the whole suite may; the suite runs 4,000 (`python -m bench.timers` runs the full size).
    size = ["--quick"] if quick else ["--instances", "4000", "--spread", "1000", "--window", "20"]
    argv = size + ([] if use_pg else ["--no-pg"])
    tee = _Tee(sys.stdout)
    with redirect_stdout(tee):
        code = timers.main(argv)
    timer_rows(results, tee.kept.getvalue())
    if code != 0:
        results.failures.append("4: a timer fired more than once or not at all")


def print_table(results: Results) -> str:
    """Print the summary table and return it as Markdown."""
    rows = [COLUMNS] + [(r.figure, r.engine, r.raw, r.ratio, r.target, r.met) for r in results.rows]
    widths = [max(_width(row[i]) for row in rows) for i in range(len(COLUMNS))]
    print()
    for n, row in enumerate(rows):
        print("  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _width(text: str) -> int:
    """Return the display width (CJK and a few symbols are two columns wide in most terminals)."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected figures; exit non-zero when a figure crashed."""
    register()  # the department the engine serves, as every entry point does
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test, ~60 s)")
    parser.add_argument("--only", default="", help="comma-separated figure numbers, e.g. 1,6")
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--markdown", help="also write the table and the machine to this file")
    args = parser.parse_args(list(argv) if argv is not None else None)
    chosen = [f.strip() for f in args.only.split(",") if f.strip()] or list(FIGURES)
    unknown = [f for f in chosen if f not in FIGURES]
    if unknown:
        parser.error(f"--only: unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    use_pg = not args.no_pg and pg_reachable()
    if not args.no_pg and not use_pg:
        print("!! PostgreSQL is NOT reachable: PostgreSQL figures are SKIPPED (3 and 5 entirely)")
    info = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    results = Results()
    started = time.perf_counter()
    for figure in chosen:
        try:
            if figure == "4":
                _run_timers(results, args.quick, use_pg)
            else:
                module = importlib.import_module(f".{FIGURES[figure]}", __package__)
                module.run(results, args.quick, use_pg)
        except Exception:
            traceback.print_exc()
            results.failures.append(f"{figure}: crashed")
            results.add(f"{figure} {FIGURES[figure]}", "CRASHED", "", "", "", "NO")
    elapsed = time.perf_counter() - started
    heading(f"Summary ({'quick' if args.quick else 'default'} size, {elapsed:.0f} s; "
            f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    markdown = print_table(results)
    for failure in results.failures:
        say(f"FAILED {failure}")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(markdown + "\n\n" + "\n".join(f"- {k}: {v}" for k, v in info.items()) + "\n")
    return 1 if results.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
