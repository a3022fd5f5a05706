"""Live-state snapshots: the normalized LiveState as JSON (no secrets), and back.

The converter is driven by the model's type hints, so a snapshot is validated against exactly
the types the rules consume: a malformed file is one clear error naming the JSON path.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import SnapshotError
from ..model import LiveState, SourceStatus
from ..model.serialize import to_data

FORMAT = "reconciler-snapshot"
FORMAT_VERSION = 3
# 1: a source status named its host as `name: "proxmox:HOST"`; 2: no backup observations (read as "not in the
# snapshot": its backup targets are unknown, never missing); 3: `backups` per Proxmox host and `backup_files`
READABLE_VERSIONS = (1, 2, 3)
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024


def dump_snapshot(state: LiveState, sites: list[str]) -> str:
    body = {"format": FORMAT, "format_version": FORMAT_VERSION, "sites": sites, **to_data(state)}
    return json.dumps(body, indent=2, sort_keys=False) + "\n"


def load_snapshot(path: Path) -> LiveState:
    try:
        if path.stat().st_size > MAX_SNAPSHOT_BYTES:
            raise SnapshotError(f"{path}: snapshot larger than {MAX_SNAPSHOT_BYTES} bytes")
        if not path.is_file():  # a FIFO would block forever, a device never end
            raise SnapshotError(f"{path}: not a regular file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_SNAPSHOT_BYTES + 1)
        if len(raw) > MAX_SNAPSHOT_BYTES:
            raise SnapshotError(f"{path}: snapshot larger than {MAX_SNAPSHOT_BYTES} bytes")
    except SnapshotError:
        raise
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read snapshot: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SnapshotError(f"{path}: snapshot is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path}:{exc.lineno}:{exc.colno}: snapshot is not valid JSON: {exc.msg}") from None
    except ValueError:  # json.loads lets int()'s own limit through: a number of 4,300+ digits
        raise SnapshotError(f"{path}: snapshot holds a number too large to read") from None
    except RecursionError:
        raise SnapshotError(f"{path}: snapshot JSON is nested too deeply") from None
    return parse_snapshot(data, str(path))


def parse_snapshot(data: Any, name: str) -> LiveState:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError(f"{name}: not a reconciler snapshot (missing \"format\": \"{FORMAT}\")")
    if data.get("format_version") not in READABLE_VERSIONS:
        raise SnapshotError(f"{name}: snapshot format_version {data.get('format_version')!r} is not supported "
                            f"(this version reads {', '.join(map(str, READABLE_VERSIONS))})")
    body = {k: v for k, v in data.items() if k not in ("format", "format_version", "sites")}
    try:
        return _build(LiveState, body, "$")
    except _Bad as exc:
        raise SnapshotError(f"{name}: {exc}") from None


class _Bad(Exception):
    pass


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise _Bad(f"{where}: expected an object for {cls.__name__}")
    if cls is SourceStatus and "name" in data and "host" not in data:
        data = _source_status_v1(data, where)
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        # repr: a key is data from the file and may hold a newline; the error must stay one line
        raise _Bad(f"{where}: unknown key(s) {', '.join(sorted(map(repr, unknown)))}")
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _Bad(f"{where}: missing key '{name}'")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise _Bad(f"{where}: {exc}") from None


def _source_status_v1(data: dict[str, Any], where: str) -> dict[str, Any]:
    """format_version 1 packed the host into `name` ("proxmox:HOST", "docker:TARGET")."""
    name = data["name"]
    if not isinstance(name, str) or ":" not in name:
        raise _Bad(f"{where}.name: expected 'proxmox:HOST' or 'docker:TARGET'")
    rest = {k: v for k, v in data.items() if k != "name"}
    return {**rest, "host": name.split(":", 1)[1]}


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _convert(options[0], value, where) if len(options) == 1 else _first_fit(options, value, where)
    if origin is tuple:
        _expect(value, list, where)
        item = args[0]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is frozenset:
        _expect(value, list, where)
        try:
            return frozenset(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        except TypeError:
            raise _Bad(f"{where}: items must be plain values") from None
    if origin in (Mapping, dict) or origin is typing.get_origin(Mapping[str, int]):
        _expect(value, dict, where)
        return {str(k): _convert(args[1], v, f"{where}.{k}" if str(k).isidentifier() else f"{where}[{k!r}]")
                for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise _Bad(f"{where}: {value!r} is not a valid {hint.__name__}") from None
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(f"{where}: expected a number")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            raise _Bad(f"{where}: number out of range") from None
        if not math.isfinite(number):  # NaN/Infinity (Python's json accepts them) would compare as drift
            raise _Bad(f"{where}: expected a finite number")
        return number
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise _Bad(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
        return value
    raise _Bad(f"{where}: unsupported type {hint}")


def _first_fit(options: list[Any], value: Any, where: str) -> Any:
    for option in options:
        try:
            return _convert(option, value, where)
        except _Bad:
            continue
    raise _Bad(f"{where}: unexpected value {value!r}")


def _expect(value: Any, kind: type, where: str) -> None:
    if not isinstance(value, kind):
        raise _Bad(f"{where}: expected a {'list' if kind is list else 'object'}")
