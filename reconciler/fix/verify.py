"""Proof of a plan: the patched bindings, in a temporary folder, run through the engine against the same live state.

A fix is kept only when its finding is gone from that run and the run reports nothing new, except the governance
findings of an entry the patch adds (a new guest has no backup target, ssh target or registry entry yet: live data
cannot say them); those are shown as follow-ups. The binding files themselves are only read.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..model import Finding, Kind, LiveState
from ..model.nightly import IgnoreRules
from ..yamlio import read_text

FOLLOW_UP_KINDS = frozenset({Kind.PARITY})


def kept(findings: Iterable[Finding], rules: IgnoreRules, today: Any) -> list[Finding]:
    return [f for f in findings if rules.match(f.address, today) is None]


def run_patched(configs: Sequence[Any], root: Path, texts: Mapping[str, str], state: LiveState,
                rules: IgnoreRules, today: Any) -> list[Finding]:
    """The findings (ignored ones left out) of a run over the bindings with `texts` (relative path → text)."""
    from ..engine import reconcile

    with tempfile.TemporaryDirectory(prefix="reconcile-fix-") as folder:
        copy_root = Path(folder) / "bindings"
        moved = []
        for cfg in configs:
            paths = {}
            for key, path in cfg.binding_paths.items():
                try:
                    rel = path.resolve().relative_to(root).as_posix()
                except ValueError:
                    paths[key] = path  # outside the root: read where it is (never patched)
                    continue
                target = copy_root / rel
                paths[key] = target
                if rel in texts:
                    text = texts[rel]
                elif path.is_file():
                    text = read_text(path)
                else:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8", newline="")
            moved.append(dataclasses.replace(cfg, bindings_root=copy_root, binding_paths=paths))
        report = reconcile(moved, state=state)
        return kept(report.findings, rules, today)


def follow_up(finding: Finding, added: Iterable[Finding]) -> bool:
    """A governance finding about a subject the patch adds an entry for: the new guest itself, or for a new stack
    a parity field naming it (`stack_registry.NAME`: the stack registry does not list it yet)."""
    if finding.kind not in FOLLOW_UP_KINDS:
        return False
    for entry in added:
        if finding.subject.site != entry.subject.site:
            continue
        if finding.subject.handle == entry.subject.handle:
            return True
        if entry.subject.type == "stack" and (finding.field or "").endswith(f".{entry.subject.name}"):
            return True
    return False
