"""`naming.policy.yaml` → the naming rules, the canonical hosts (site and kind) and the exceptions.

Public API (the governance checks import it):

- `load_naming_policy(path, root, site) -> NamingPolicy`
- `NamingPolicy.rules` (`NamingRules`), `.hosts` (canonical name → `NamingHost`), `.exceptions`
  (`NamingException`s), `.problems`, `.shown`, `.present`; `.exempt(host, surface)`.
- `NamingRules.violations(name) -> list[str]` (empty when the name is fine).

The user's rules are prose (`naming_convention.rules`); the machine-checkable ones are recognised
by their wording: "lowercase", "max N characters", "no underscores", "hyphens for separators".
Without a naming policy the defaults apply (lowercase, hyphen-separated, at most 20 characters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from ..model import Finding, SourceRef
from ..record import record
from ..yamlio import YList, YMap
from . import open_binding, text

_MAX_LEN = re.compile(r"max(?:imum)?\s+([0-9]{1,9})\s+char", re.IGNORECASE)  # ASCII digits int() accepts


@record
class NamingRules:
    lowercase: bool = True
    hyphen_separators: bool = True
    no_underscores: bool = True
    max_length: int | None = 20
    source: SourceRef | None = None  # the `rules:` list, when read from a file

    def violations(self, name: str) -> list[str]:
        broken = []
        if self.lowercase and name != name.lower():
            broken.append("not lowercase")
        if self.no_underscores and "_" in name:
            broken.append("contains an underscore")
        if self.hyphen_separators and not re.fullmatch(r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*", name):
            broken.append("separators other than single hyphens")
        if self.max_length is not None and len(name) > self.max_length:
            broken.append(f"{len(name)} characters, more than {self.max_length}")
        return broken


@record
class NamingHost:
    name: str
    source: SourceRef
    kind: str | None = None
    site: str | None = None
    status: str | None = None
    surfaces: Mapping[str, bool] = field(default_factory=dict, hash=False)


@record
class NamingException:
    host: str
    surface: str
    source: SourceRef
    actual: str | None = None


@record
class NamingPolicy:
    rules: NamingRules = NamingRules()
    hosts: Mapping[str, NamingHost] = field(default_factory=dict)
    exceptions: tuple[NamingException, ...] = ()
    problems: tuple[Finding, ...] = ()
    shown: str = "ops/bindings/naming.policy.yaml"
    present: bool = False

    def exempt(self, host: str, surface: str) -> bool:
        return any(e.host == host and e.surface == surface for e in self.exceptions)


def load_naming_policy(path: Path, root: Path, site: str) -> NamingPolicy:
    file = open_binding(path, root, "'naming_convention:' and 'hosts:'")
    if not file.present:
        return NamingPolicy(shown=file.shown)
    return NamingPolicy(
        rules=_rules(file.data.get("naming_convention"), file.shown),
        hosts=_hosts(file.data.get("hosts"), file.shown),
        exceptions=_exceptions(file.data.get("allowed_exceptions"), file.shown),
        shown=file.shown, present=True,
    )


def _rules(raw: Any, shown: str) -> NamingRules:
    if not isinstance(raw, YMap) or not isinstance(raw.get("rules"), YList):
        return NamingRules()
    texts = [str(t).lower() for t in raw["rules"]]
    joined = " ".join(texts)
    match = _MAX_LEN.search(joined)
    return NamingRules(
        lowercase="lowercase" in joined,
        hyphen_separators="hyphen" in joined,
        no_underscores="no underscore" in joined,
        max_length=int(match.group(1)) if match else None,
        source=SourceRef(shown, raw.line_of("rules")),
    )


def _hosts(raw: Any, shown: str) -> dict[str, NamingHost]:
    hosts: dict[str, NamingHost] = {}
    if not isinstance(raw, YList):
        return hosts
    for index, item in enumerate(raw):
        if not isinstance(item, YMap) or not isinstance(item.get("canonical_name"), str):
            continue
        name = item["canonical_name"]
        surfaces = item.get("surfaces") if isinstance(item.get("surfaces"), YMap) else {}
        hosts.setdefault(name, NamingHost(
            name=name, source=SourceRef(shown, raw.line_of(index)), kind=text(item.get("kind")),
            site=text(item.get("site")), status=text(item.get("status")),
            surfaces={str(k): v is True for k, v in surfaces.items()},
        ))
    return hosts


def _exceptions(raw: Any, shown: str) -> tuple[NamingException, ...]:
    if not isinstance(raw, YList):
        return ()
    found = []
    for index, item in enumerate(raw):
        if isinstance(item, YMap) and isinstance(item.get("host"), str) and isinstance(item.get("surface"), str):
            found.append(NamingException(item["host"], item["surface"], SourceRef(shown, raw.line_of(index)),
                                         text(item.get("actual"))))
    return tuple(found)
