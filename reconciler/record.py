"""`@record`: the project's frozen, slotted dataclass, created at a fraction of the stdlib's import cost.

Every value type in the pipeline is `@dataclass(frozen=True, slots=True)` in meaning. On CPython 3.11-3.13 the
stdlib compiles five to seven methods per class with `exec` (`__init__`, `__repr__`, `__eq__`, `__hash__`,
the frozen `__setattr__`/`__delattr__`) and builds an `inspect.signature` for the docstring: about 1.5 ms a
class, 0.14 s for the ~90 classes a `reconcile` imports, a third of the demo's start-up (docs/performance.md).

`record` lets `dataclasses.dataclass` do everything that costs no compile (fields, defaults, `__slots__`,
`__match_args__`, `fields()`/`replace()`/`asdict()`), and compiles only `__init__`, the one method whose speed
matters per instance. The others are shared functions over an `operator.attrgetter` of the class's fields,
with the stdlib's semantics: equality and hash over the `compare`/`hash` fields, and only between instances of
the same class; order over the `compare` fields; every assignment or deletion raises `FrozenInstanceError`;
copy and pickle restore through `object.__setattr__`. tests/test_record.py holds each class the project
defines to the stdlib's behaviour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

_MISSING = dataclasses.MISSING


class _FactoryMarker:
    """The default of a parameter whose field has a `default_factory` (shown as the stdlib shows it)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _FactoryMarker()


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[object]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[object]) -> None:
    for f, value in zip(dataclasses.fields(self), state, strict=True):
        object.__setattr__(self, f.name, value)


def _key_of(names: list[str]) -> Callable[[object], tuple[object, ...]]:
    """A C-speed `(self.a, self.b, ...)`."""
    if not names:
        return lambda self: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda self: (one(self),)
    return attrgetter(*names)


def _init_source(cls: type, fields: list[dataclasses.Field[Any]]) -> tuple[str, dict[str, object]]:
    """The text of a frozen `__init__` as the stdlib writes it, and the names it refers to."""
    names: dict[str, object] = {"__set": object.__setattr__, "__factory_marker": _FACTORY}
    params: list[str] = []
    body: list[str] = []
    for f in fields:
        if f.init:
            if f.default is not _MISSING:
                names[f"__default_{f.name}"] = f.default
                params.append(f"{f.name}=__default_{f.name}")
            elif f.default_factory is not _MISSING:
                params.append(f"{f.name}=__factory_marker")
            else:
                params.append(f.name)
        if f.default_factory is not _MISSING:
            names[f"__factory_{f.name}"] = f.default_factory
            value = f"__factory_{f.name}()"
            if f.init:
                value = f"{value} if {f.name} is __factory_marker else {f.name}"
        elif f.init:
            value = f.name
        elif f.default is not _MISSING:
            names[f"__default_{f.name}"] = f.default
            value = f"__default_{f.name}"
        else:
            continue  # init=False and no default: __post_init__ sets it
        body.append(f"  __set(self, {f.name!r}, {value})")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    signature = ", ".join(["self", *params])
    return f"def __init__({signature}):\n" + ("\n".join(body) or "  pass") + "\n", names


def _refuse_what_init_does_not_write(cls: type, fields: list[dataclasses.Field[Any]]) -> None:
    """The stdlib features this `__init__` leaves out fail at import, never as a wrong value."""
    # `_FIELD_INITVAR`: the stdlib's own marker (3.7-3.13); `fields()` leaves InitVars out without a word
    initvars = [f for f in cls.__dataclass_fields__.values() if f._field_type is dataclasses._FIELD_INITVAR]  # type: ignore[attr-defined]
    if initvars or any(f.kw_only for f in fields):
        raise TypeError(f"@record {cls.__qualname__}: InitVar and keyword-only fields are not supported")
    defaulted = False
    for f in fields:
        if not f.init:
            continue
        has_default = f.default is not _MISSING or f.default_factory is not _MISSING
        if defaulted and not has_default:
            raise TypeError(f"@record {cls.__qualname__}: non-default argument {f.name!r} follows default argument")
        defaulted = defaulted or has_default


def _add_init(cls: type, fields: list[dataclasses.Field[Any]]) -> None:
    source, names = _init_source(cls, fields)
    namespace: dict[str, object] = {}
    exec(source, {**names, "__builtins__": __builtins__}, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    init.__annotations__ = {**{f.name: f.type for f in fields if f.init}, "return": None}  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[misc]


def _add_repr(cls: type, fields: list[dataclasses.Field[Any]]) -> None:
    shown = [f.name for f in fields if f.repr]

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{type(self).__qualname__}({inner})"

    cls.__repr__ = __repr__  # type: ignore[assignment]


def _add_eq_and_hash(cls: type, fields: list[dataclasses.Field[Any]]) -> Callable[[object], tuple[object, ...]]:
    compared = _key_of([f.name for f in fields if f.compare])
    hashed = _key_of([f.name for f in fields if (f.compare if f.hash is None else f.hash)])

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: object) -> int:
        return hash(hashed(self))

    cls.__eq__ = __eq__  # type: ignore[assignment]
    cls.__hash__ = __hash__  # type: ignore[assignment]
    return compared


def _add_order(cls: type, key: Callable[[object], tuple[object, ...]]) -> None:
    def compare(test: Callable[[Any, Any], bool]) -> Callable[[object, object], bool]:
        def method(self: object, other: object) -> bool:
            if other.__class__ is self.__class__:
                return test(key(self), key(other))
            return NotImplemented

        return method

    cls.__lt__ = compare(lambda a, b: a < b)  # type: ignore[operator]
    cls.__le__ = compare(lambda a, b: a <= b)  # type: ignore[operator]
    cls.__gt__ = compare(lambda a, b: a > b)  # type: ignore[operator]
    cls.__ge__ = compare(lambda a, b: a >= b)  # type: ignore[operator]


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[T] | None = None, *, order: bool = False) -> Any:
    """`@dataclass(frozen=True, slots=True)` (with `order=True` when asked); see the module's docstring."""

    def build(cls: type[T]) -> type[T]:
        own = {"__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"} & set(cls.__dict__)
        if own:
            raise TypeError(f"@record {cls.__qualname__} defines {sorted(own)}: a record generates them")
        if cls.__doc__ is None:
            cls.__doc__ = cls.__qualname__  # spares the stdlib's inspect.signature for a docstring
        built = dataclasses.dataclass(cls, init=False, repr=False, eq=False, slots=True)
        fields = list(dataclasses.fields(built))
        _refuse_what_init_does_not_write(built, fields)
        _add_init(built, fields)
        _add_repr(built, fields)
        key = _add_eq_and_hash(built, fields)
        if order:
            _add_order(built, key)
        built.__setattr__ = _frozen_setattr  # type: ignore[assignment]
        built.__delattr__ = _frozen_delattr  # type: ignore[assignment]
        built.__getstate__ = _getstate  # type: ignore[attr-defined]
        built.__setstate__ = _setstate  # type: ignore[attr-defined]
        return built

    return build if cls is None else build(cls)
