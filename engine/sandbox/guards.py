"""Run-time half of the script sandbox: guarded methods, stores and iteration, and the guard table.

`engine.scripting` compiles process code so that every loop iteration, call, operator, container
display, f-string and store goes through the `GUARDS` functions; its builtins are `SAFE_BUILTINS`.
They read the current thread's `Run` (limits and counters, `sandbox_budget`), so nothing is global and
concurrent runs never share a budget. Operators live in `sandbox_operators`, builtins in
`sandbox_builtins`; their public names are re-exported here.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from RestrictedPython.Guards import full_write_guard, guarded_unpack_sequence, safer_getattr_raise

from engine.sandbox.budget import (
    ForbiddenOperation,
    LimitExceeded,
    Limits,
    Run,
    current,
    measure,
    running,
    to_text,
)
from engine.sandbox.builtins import (
    SAFE_BUILTINS,
    STAND_INS,
    fill_collection,
    guarded_range,
    guarded_round,
    guarded_sum,
    make_dict,
    make_int,
    make_list,
    make_str,
)
from engine.sandbox.operators import PrintCollector, binop, format_value, inplacevar, join_text

__all__ = [
    "GUARDS", "SAFE_BUILTINS", "STAND_INS", "ForbiddenOperation", "LimitExceeded", "Limits",
    "PrintCollector", "Run", "binop", "current", "format_value", "guarded_getattr", "guarded_iter",
    "guarded_range", "guarded_round", "guarded_sum", "guarded_write", "inplacevar", "iter_unpack_sequence",
    "join_text", "make_dict", "make_int", "make_list", "make_str", "measure", "new_value", "running",
    "tick", "to_text",
]


def _join(run: Run, obj: Any, method: Any, iterable: Iterable[Any]) -> Any:
    items = make_list(iterable)
    with contextlib.suppress(TypeError):  # join itself reports an element of the wrong type
        run.size(sum(map(len, items)) + len(obj) * max(len(items) - 1, 0), "the joined string")
    return method(items)


def _replace(run: Run, obj: Any, method: Any, old: Any, new: Any, count: int = -1) -> Any:
    found = obj.count(old) if old else len(obj) + 1
    found = min(found, count) if count >= 0 else found
    run.size(len(obj) + found * (len(new) - len(old)), "the replaced string")
    return method(old, new, count)


def _pad(run: Run, obj: Any, method: Any, width: Any, *rest: Any) -> Any:
    run.size(width if isinstance(width, int) else 0, "the padded string")
    return method(width, *rest)


def _store(run: Run, obj: Any, method: Any, *args: Any) -> Any:
    run.size(len(obj) + 1, "the container")
    run.charge(args[-1] if args else None)
    return method(*args)


def _grow(run: Run, obj: Any, method: Any, *args: Any, **kwargs: Any) -> Any:
    other: Any = make_dict(*args, **kwargs) if isinstance(obj, dict) else make_list(*args)
    run.size(len(obj) + len(other), "the container")
    run.charge(other)
    return method(fill_collection(set(), other) if isinstance(obj, set) else other)


_METHODS: dict[tuple[type, str], Callable[..., Any]] = {
    (list, "append"): _store, (list, "insert"): _store, (list, "extend"): _grow, (dict, "setdefault"): _store,
    (dict, "update"): _grow, (set, "add"): _store, (set, "update"): _grow,
    **{(kind, name): guard for kind in (str, bytes) for name, guard in (
        ("join", _join), ("replace", _replace), ("center", _pad), ("ljust", _pad), ("rjust", _pad),
        ("zfill", _pad))}}
_GUARDED_NAMES = frozenset(name for _, name in _METHODS)
# Escapes (mro reaches object), unchecked size changers, huge int conversions, process-wide
# side effects reachable from a datetime's ZoneInfo.
_REFUSED = frozenset({"mro", "format", "format_map", "translate", "maketrans", "expandtabs",
                      "to_bytes", "from_bytes", "fromkeys", "as_integer_ratio", "clear_cache",
                      "no_cache", "from_file"})
_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
                       "update", "setdefault", "popitem", "add", "discard", "intersection_update",
                       "difference_update", "symmetric_difference_update"})


def guarded_getattr(obj: Any, name: str) -> Any:
    """Read obj.name, refusing escapes and routing size-changing methods through their guards."""
    guard = _METHODS.get((type(obj), name))
    if guard is None:
        if name in _REFUSED:
            raise ForbiddenOperation(f"'.{name}' is not allowed")
        value = safer_getattr_raise(obj, name)  # refuses '_' names and frame/code attributes
        if isinstance(obj, type) and name in _GUARDED_NAMES:
            raise ForbiddenOperation(f"call .{name}() on a value, not on its type")
    else:
        value = getattr(obj, name)  # a guarded method of a builtin value
    if name in _MUTATORS and current().read_only and isinstance(obj, (list, dict, set)):
        raise ForbiddenOperation(f"an expression may not change data (.{name}())")
    if guard is None:
        return value

    def guarded(*args: Any, **kwargs: Any) -> Any:  # a closure: no public attribute reaches `value`
        return guard(current(), obj, value, *args, **kwargs)
    return guarded


class _StoreProxy:
    """What `_write_` returns for lists and dicts: item stores are size-checked and charged."""

    __slots__ = ("_target",)

    def __init__(self, target: Any) -> None:
        self._target = target

    def __setitem__(self, key: Any, value: Any) -> None:
        run = current()
        if isinstance(key, slice):
            value = make_list(value)
            run.size(len(self._target) + len(value), "the list")
        run.charge(value)
        self._target[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._target[key]


def guarded_write(obj: Any) -> Any:
    """Return what `obj[k] = v`, `del obj[k]` and `obj.a = v` write through."""
    if current().read_only:
        raise ForbiddenOperation("an expression may not change data")
    return _StoreProxy(obj) if type(obj) in (list, dict) else full_write_guard(obj)


def guarded_iter(obj: Any) -> Iterator[Any]:
    """Iterate obj for a for loop or comprehension, ticking the step budget per element."""
    run, iterator = current(), iter(obj)
    for item in iterator:
        run.tick()
        yield item


def iter_unpack_sequence(obj: Any, spec: Any, _getiter_: Any = None) -> Iterator[Any]:
    """Iterate `for a, b in obj`: one tick per element, not per unpacked value."""
    for item in guarded_iter(obj):
        yield guarded_unpack_sequence(item, spec, iter)


def tick(value: Any = None) -> Any:
    """Count a call (compiled in at the top of every def and around every lambda body)."""
    current().tick()
    return value


def new_value(value: Any) -> Any:
    """Check a container display or comprehension result, counting shared references."""
    run = current()
    run.size(measure(value, run.limits.max_size), "the new value")
    return value


GUARDS: dict[str, Any] = {
    "_getattr_": guarded_getattr, "_getitem_": operator.getitem, "_write_": guarded_write,
    "_getiter_": guarded_iter, "_iter_unpack_sequence_": iter_unpack_sequence,
    "_unpack_sequence_": lambda obj, spec, _getiter_=None: guarded_unpack_sequence(obj, spec, iter),
    "_inplacevar_": inplacevar, "_print_": PrintCollector, "_apply_": lambda f, *a, **k: f(*a, **k),
    "_binop_": binop, "_tick_": tick, "_check_limit_": lambda: current().check(), "_new_": new_value,
    "_format_": format_value, "_join_": join_text,
}
