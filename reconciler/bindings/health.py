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
from dataclasses import field
from pathlib import Path
from urllib.parse import urlsplit

from ..model import Finding, SourceRef
from ..record import record
from . import Located, Problems, key_lines, named_entries, open_binding, text

RULE_ID = "bindings-services-health"


@record
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


@record
class HealthFile:
    endpoints: tuple[HealthEndpoint, ...] = ()
    problems: tuple[Finding, ...] = ()
    shown: str = "ops/bindings/services.health.yaml"
    present: bool = False


def load_health(path: Path, root: Path, site: str) -> HealthFile:
    file = open_binding(path, root, "an 'endpoints:' list")
    problems = Problems(RULE_ID, site, file.shown, item_type="health-endpoint")
    endpoints: list[HealthEndpoint] = []
    for _line, item, endpoint_id in named_entries(file.section("endpoints"), problems, "id", "health endpoint"):
        host = text(item.get("host"))
        if host is None:
            problems.add(item.line_of("host"), "host", f"health endpoint '{endpoint_id}' has no host",
                         "add 'host:' (the ssh target id of the machine it probes)", name=endpoint_id)
        enabled = item.get("enabled", True)
        if enabled is None:
            enabled = True
        if not isinstance(enabled, bool):
            problems.add(item.line_of("enabled"), "enabled",
                         f"health endpoint '{endpoint_id}': enabled {enabled!r} is not true/false; treated as true",
                         "write enabled: true or enabled: false", name=endpoint_id)
            enabled = True
        endpoints.append(HealthEndpoint(
            id=endpoint_id, host=host, url=text(item.get("url")), enabled=enabled,
            source=SourceRef(file.shown, item.line), expect=text(item.get("expect")), field_lines=key_lines(item),
        ))
    return HealthFile(endpoints=tuple(endpoints), problems=tuple(problems), shown=file.shown, present=file.present)
