"""`services.health.yaml` → one `HealthEndpoint` per probe, every one with its `file:line`.

Public API (the governance checks import it):

- `load_health(path, root, site) -> HealthFile`
- `HealthFile.endpoints` (file order, duplicates included: the governance duplicates rule reports
  them), `.problems`, `.shown`, `.present`.
- `HealthEndpoint` (frozen): id, host, url, enabled, expect, source, field_lines; `.url_host`.

File layout: `endpoints:` is a list of mappings with `id:`, `host:` (an ssh target id or hostname)
and `url:`. `enabled` defaults to true (the user's file only writes it to disable a probe). A
missing file is an empty, `present=False` result; semantic problems become `invalid` findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import BindingsError, located
from ..model import Finding, SourceRef, Subject
from ..yamlio import YList, YMap, load_yaml_file
from . import Located, display_path, invalid, text

RULE_ID = "bindings-services-health"


@dataclass(frozen=True, slots=True)
class HealthEndpoint(Located):
    id: str
    host: str | None
    url: str | None
    enabled: bool
    source: SourceRef
    expect: str | None = None
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def url_host(self) -> str | None:
        """The host part of the URL (an address or a name), or None when there is no usable URL."""
        if not self.url:
            return None
        try:
            return urlsplit(self.url).hostname
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class HealthFile:
    endpoints: tuple[HealthEndpoint, ...] = ()
    problems: tuple[Finding, ...] = ()
    shown: str = "ops/bindings/services.health.yaml"
    present: bool = False


def load_health(path: Path, root: Path, site: str) -> HealthFile:
    shown = display_path(path, root)
    if not path.exists():
        return HealthFile(shown=shown, present=False)
    data = load_yaml_file(path)
    if data is None:
        return HealthFile(shown=shown, present=True)
    if not isinstance(data, YMap):
        raise BindingsError(f"{path}: expected a YAML mapping with an 'endpoints:' list")
    items = data.get("endpoints")
    if items is None:
        return HealthFile(shown=shown, present=True)
    if not isinstance(items, YList):
        raise BindingsError(f"{located(path, data.line_of('endpoints'))}: 'endpoints' must be a list")
    problems: list[Finding] = []

    def problem(line: int, fld: str, message: str, hint: str, name: str | None = None) -> None:
        subject = Subject(type="health-endpoint", site=site, target=shown, name=name or f"line-{line}")
        problems.append(invalid(RULE_ID, subject, shown, line, fld, message, hint))

    endpoints: list[HealthEndpoint] = []
    for index, item in enumerate(items):
        line = items.line_of(index)
        if not isinstance(item, YMap):
            problem(line, "item", "a health endpoint must be a mapping", "fix the list entry's indentation")
            continue
        endpoint_id = item.get("id")
        if not isinstance(endpoint_id, str) or not endpoint_id.strip():
            problem(line, "id", "health endpoint has no 'id'", f"add 'id:' to the entry at {shown}:{line}")
            continue
        host = text(item.get("host"))
        if host is None:
            problem(item.line_of("host"), "host", f"health endpoint '{endpoint_id}' has no host",
                    "add 'host:' (the ssh target id of the machine it probes)", endpoint_id)
        enabled = item.get("enabled", True)
        if enabled is None:
            enabled = True
        if not isinstance(enabled, bool):
            problem(item.line_of("enabled"), "enabled",
                    f"health endpoint '{endpoint_id}': enabled {enabled!r} is not true/false; treated as true",
                    "write enabled: true or enabled: false", endpoint_id)
            enabled = True
        endpoints.append(HealthEndpoint(
            id=endpoint_id, host=host, url=text(item.get("url")), enabled=enabled,
            source=SourceRef(shown, item.line), expect=text(item.get("expect")),
            field_lines={str(k): v for k, v in item.key_lines.items()},
        ))
    return HealthFile(endpoints=tuple(endpoints), problems=tuple(problems), shown=shown, present=True)
