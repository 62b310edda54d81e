"""The curated builtins of sandboxed code: constructors, range, sum, round… are size-checked stand-ins."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from engine.sandbox.budget import current, to_text


def make_list(iterable: Iterable[Any] = ()) -> list[Any]:
    """list() within the size limit."""
    items = list(iterable)
    current().size(len(items), "the list")
    return items


def fill_collection(target: Any, items: list[Any]) -> Any:
    """Add items to a set or dict in chunks with clock checks (integer keys crafted to share
    a hash make one bulk insert quadratic)."""
    run = current()
    run.size(len(items), "the collection")
    for start in range(0, len(items), 256):
        target.update(items[start:start + 256])
        run.check_time()
    return target


def make_dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    """dict() within the size and time limits."""
    if len(args) > 1:
        raise TypeError(f"dict expected at most 1 argument, got {len(args)}")
    pairs = (list(args[0].items()) if isinstance(args[0], dict) else make_list(args[0])) if args else []
    return fill_collection({}, pairs + list(kwargs.items()))


def make_str(*args: Any, **kwargs: Any) -> str:
    """str() refusing values whose text would be too long."""
    if len(args) == 1 and not kwargs:
        return to_text(current(), args[0])
    result = str(*args, **kwargs)
    current().size(len(result), "the text")
    return result


def make_int(*args: Any, **kwargs: Any) -> int:
    """int() refusing results beyond the integer limit (int(Decimal('1e999999')) takes minutes)."""
    limit = current().limits.max_int_bits
    if args and isinstance(args[0], Decimal) and args[0].is_finite() and args[0].adjusted() > limit // 3:
        current().fail("the integer would be too large")
    result = int(*args, **kwargs)
    if result.bit_length() > limit:
        current().fail("the integer would be too large")
    return result


def guarded_range(*args: int) -> range:
    """range() of at most max_size numbers, so no C loop runs over a huge range."""
    result = range(*args)
    try:
        count = len(result)
    except OverflowError:  # more than sys.maxsize numbers
        count = current().limits.max_size + 1
    current().size(count, "the range")
    return result


def guarded_sum(iterable: Iterable[Any], start: Any = 0) -> Any:
    """sum() of numbers only: summing lists or strings is quadratic and unchecked."""
    if not isinstance(start, int | float | Decimal):
        raise TypeError("sum() adds numbers only in scripts; use list concatenation or ''.join()")
    return sum(iterable, start)


def guarded_round(number: Any, ndigits: int | None = None) -> Any:
    """round() refusing what computes a huge power of ten (round(5, -10**9))."""
    if isinstance(ndigits, int) and abs(ndigits) > 1000:
        raise ValueError("round() digits must be between -1000 and 1000 in scripts")
    if ndigits is None and isinstance(number, Decimal):
        return make_int(number.to_integral_value())
    return round(number, ndigits)


class _StandIn(type):
    """Metaclass of the builtin-type stand-ins: isinstance works, calls go through a guard."""

    _real: type
    _make: Callable[..., Any]

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._real)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._make(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real, name)

    def __repr__(cls) -> str:
        return repr(cls._real)


STAND_INS: dict[str, Any] = {real.__name__: _StandIn(real.__name__, (), {
    "_real": real, "_make": staticmethod(make)}) for real, make in (
    (str, make_str), (int, make_int), (list, make_list), (dict, make_dict),
    (tuple, lambda items=(): tuple(make_list(items))),
    (set, lambda items=(): fill_collection(set(), make_list(items))),
    (frozenset, lambda items=(): frozenset(fill_collection(set(), make_list(items)))))}


SAFE_BUILTINS: dict[str, Any] = {
    "None": None, "True": True, "False": False, "abs": abs, "all": all, "any": any, "bin": bin,
    "bool": bool, "callable": callable, "chr": chr, "divmod": divmod, "enumerate": enumerate,
    "filter": filter, "float": float, "hex": hex, "isinstance": isinstance, "issubclass": issubclass,
    "len": len, "map": map, "max": max, "min": min, "next": next, "oct": oct, "ord": ord,
    "range": guarded_range, "repr": lambda value: to_text(current(), value, repr), "reversed": reversed,
    "round": guarded_round, "slice": slice, "sum": guarded_sum, "zip": zip,
    "sorted": lambda items, *, key=None, reverse=False: sorted(make_list(items), key=key, reverse=reverse),
    **STAND_INS, **{error.__name__: error for error in (
        Exception, ArithmeticError, AssertionError, AttributeError, IndexError, KeyError, LookupError,
        NameError, NotImplementedError, OverflowError, RuntimeError, StopIteration, TypeError,
        UnicodeError, ValueError, ZeroDivisionError)},
}
