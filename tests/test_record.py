"""`@record` behaves as `@dataclass(frozen=True, slots=True)` does, and every value type of the project is one.

Each behaviour is checked side by side: the same class body decorated once by `record` and once by the stdlib,
so a difference in `__init__`, repr, equality, hash, order, immutability, copying or the `dataclasses`
functions fails here rather than as a wrong finding elsewhere.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import pickle
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, field
from typing import Any, ClassVar

import pytest

import reconciler
from reconciler.record import _frozen_setattr, record

STDLIB: Callable[..., Any] = dataclasses.dataclass(frozen=True, slots=True)


class Mixin:
    """A slot-less mixin with a method, like bindings.Located."""

    __slots__ = ()
    name: str

    def shout(self) -> str:
        return self.name.upper()


def make_all(decorate: Callable[..., Any], ordered: Callable[..., Any]) -> dict[str, type]:
    """The same bodies under one decorator; module-level names so that pickle finds them."""

    @decorate
    class Plain(Mixin):
        name: str
        size: int = 3
        tags: tuple[str, ...] = ()
        extra: Mapping[str, int] = field(default_factory=dict, hash=False)
        note: str = field(default="", compare=False)
        secret: str = field(default="s", repr=False)

    @decorate
    class Derived:
        text: str
        length: int = field(init=False, repr=False, compare=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "length", len(self.text))

    @decorate
    class Empty:
        pass

    @decorate
    class One:
        value: object
        label: ClassVar[str] = "a class constant, not a field"

    @ordered
    class Place:
        file: str
        line: int = 0

    return {"Plain": Plain, "Derived": Derived, "Empty": Empty, "One": One, "Place": Place}


OURS = make_all(record, record(order=True))
THEIRS = make_all(STDLIB, dataclasses.dataclass(frozen=True, slots=True, order=True))
for _name, _cls in OURS.items():  # pickle looks classes up by module and qualname
    _cls.__qualname__ = f"Ours{_name}"
    globals()[f"Ours{_name}"] = _cls


def both(name: str, *args: object, **kwargs: object) -> tuple[Any, Any]:
    return OURS[name](*args, **kwargs), THEIRS[name](*args, **kwargs)


def test_init_signature_defaults_and_factories_match_the_stdlib() -> None:
    for name in OURS:
        ours, theirs = inspect.signature(OURS[name]), inspect.signature(THEIRS[name])
        assert str(ours) == str(theirs), name
    a, b = both("Plain", "x")
    assert (a.size, a.tags, a.extra, a.note, a.secret) == (b.size, b.tags, b.extra, b.note, b.secret)
    assert a.extra is not both("Plain", "x")[0].extra  # a fresh dict each time, as the factory says
    with pytest.raises(TypeError):
        OURS["Plain"]()
    with pytest.raises(TypeError):
        OURS["Derived"]("x", 2)  # init=False is not a parameter
    assert both("Derived", "four")[0].length == 4


def test_repr_matches_the_stdlib_field_by_field() -> None:
    for name, args in (("Plain", ("x", 4, ("a",), {"k": 1}, "n")), ("Derived", ("t",)), ("Empty", ()),
                       ("One", ("v",)), ("Place", ("f", 2))):
        ours, theirs = both(name, *args)
        assert repr(ours).replace("Ours", "") == repr(theirs).replace("make_all.<locals>.", ""), name


@pytest.mark.parametrize(("left", "right"), [
    (("x",), ("x",)),
    (("x", 3, (), {}, "one note"), ("x", 3, (), {}, "another note")),  # compare=False field
    (("x", 3, (), {"a": 1}), ("x", 3, (), {"b": 2})),  # hash=False but compared
    (("x", 3), ("x", 4)),
    (("x",), ("y",)),
])
def test_equality_and_hash_follow_the_same_fields(left: tuple[object, ...], right: tuple[object, ...]) -> None:
    ours = OURS["Plain"](*left), OURS["Plain"](*right)
    theirs = THEIRS["Plain"](*left), THEIRS["Plain"](*right)
    assert (ours[0] == ours[1]) == (theirs[0] == theirs[1])
    assert (ours[0] != ours[1]) == (theirs[0] != theirs[1])
    assert (hash(ours[0]) == hash(ours[1])) == (hash(theirs[0]) == hash(theirs[1]))
    if ours[0] == ours[1]:
        assert hash(ours[0]) == hash(ours[1])


def test_equality_only_within_one_class() -> None:
    assert OURS["One"]("v") != THEIRS["One"]("v")
    assert OURS["One"]("v") != ("v",)
    assert OURS["One"].__eq__(OURS["One"]("v"), ("v",)) is NotImplemented
    assert OURS["Empty"]() == OURS["Empty"]() and hash(OURS["Empty"]()) == hash(OURS["Empty"]())
    assert len({OURS["One"](1), OURS["One"](1), OURS["One"](2)}) == 2


def test_order_compares_fields_in_order_like_the_stdlib() -> None:
    values = [("b", 1), ("a", 9), ("a", 2), ("b", 0)]
    ours = sorted(OURS["Place"](*v) for v in values)
    theirs = sorted(THEIRS["Place"](*v) for v in values)
    assert [(p.file, p.line) for p in ours] == [(p.file, p.line) for p in theirs]
    a, b = OURS["Place"]("a", 1), OURS["Place"]("a", 2)
    assert (a < b, a <= b, a > b, a >= b, a <= a) == (True, True, False, False, True)
    with pytest.raises(TypeError):
        _ = a < ("a", 2)
    with pytest.raises(TypeError):
        _ = OURS["One"](1) < OURS["One"](2)  # no order unless asked


def test_frozen_and_slotted() -> None:
    ours, theirs = both("Plain", "x")
    for obj in (ours, theirs):
        with pytest.raises(FrozenInstanceError):
            obj.name = "y"
        with pytest.raises(FrozenInstanceError):
            del obj.name
        with pytest.raises((FrozenInstanceError, AttributeError, TypeError)):
            obj.undeclared = 1
        assert not hasattr(obj, "__dict__")
    assert set(OURS["Plain"].__slots__) == set(THEIRS["Plain"].__slots__)
    assert ours.shout() == "X"


def test_dataclasses_functions_copy_and_pickle() -> None:
    ours, theirs = both("Plain", "x", 5, ("t",), {"k": 1}, "n", "z")
    assert dataclasses.is_dataclass(ours)
    assert [f.name for f in dataclasses.fields(ours)] == [f.name for f in dataclasses.fields(theirs)]
    assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
    assert OURS["Plain"].__match_args__ == THEIRS["Plain"].__match_args__
    changed = dataclasses.replace(ours, size=9)
    assert (changed.size, changed.name, type(changed)) == (9, "x", type(ours))
    derived = dataclasses.replace(OURS["Derived"]("abc"), text="abcdef")
    assert derived.length == 6  # __post_init__ ran again
    for clone in (copy.copy(ours), copy.deepcopy(ours), pickle.loads(pickle.dumps(ours))):
        assert clone == ours and clone is not ours and clone.secret == "z" and clone.note == "n"
    plain = OURS["Plain"]
    match ours:
        case plain(name, size):
            assert (name, size) == ("x", 5)
        case _:
            pytest.fail("positional match failed")


def test_a_record_refuses_a_method_it_would_overwrite() -> None:
    with pytest.raises(TypeError, match="__eq__"):
        @record
        class Custom:
            value: int

            def __eq__(self, other: object) -> bool:
                return True


def test_a_mutable_default_is_still_refused() -> None:
    with pytest.raises(ValueError, match="mutable default"):
        @record
        class Bad:
            items: list[int] = []  # noqa: RUF012


def project_dataclasses() -> list[type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == info.name:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


MUTABLE = {"reconciler.fix.patch.FileState"}  # the one builder that gathers edits while a patch is planned


def test_every_frozen_value_type_of_the_project_is_a_record() -> None:
    classes = project_dataclasses()
    assert len(classes) > 80  # the walk really found the package
    for cls in classes:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in MUTABLE:
            assert cls.__setattr__ is object.__setattr__, name
            continue
        assert cls.__setattr__ is _frozen_setattr, f"{name} is a dataclass but not a @record"


RECORDS = [cls for cls in project_dataclasses() if f"{cls.__module__}.{cls.__qualname__}" not in MUTABLE]


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_each_project_record_has_the_signature_the_stdlib_would_give_it(cls: type) -> None:
    spec = [(f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory, init=f.init,
                                               repr=f.repr, hash=f.hash, compare=f.compare))
            for f in dataclasses.fields(cls)]
    twin = dataclasses.make_dataclass(cls.__name__, spec, frozen=True, slots=True,
                                      namespace={"__post_init__": cls.__post_init__}
                                      if hasattr(cls, "__post_init__") else None)
    assert str(inspect.signature(cls)) == str(inspect.signature(twin))
    assert cls.__match_args__ == twin.__match_args__


def test_what_the_generated_init_would_get_wrong_fails_at_import() -> None:
    with pytest.raises(TypeError, match="non-default argument 'late'"):
        @record
        class Order:
            early: int = 0
            late: int  # type: ignore[misc]
    with pytest.raises(TypeError, match="keyword-only"):
        @record
        class KeywordOnly:
            value: int = field(kw_only=True)
    with pytest.raises(TypeError, match="InitVar"):
        @record
        class WithInitVar:
            seed: dataclasses.InitVar[int]
