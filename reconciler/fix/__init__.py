"""`reconcile fix`: the findings a binding edit resolves, as a patch the user reviews and applies.

Read-only by construction: the binding files are read, the edits applied in memory and checked by parsing the
result (`patch.FileState.propose`), and the patch is returned as text. Nothing here writes a file; the CLI prints
the patch or writes it (`-o`, never into the bindings).

The findings are the main run's (`engine.reconcile`, then what the ignore file covers set aside); the live state
is the snapshot the run used (`--live` / the site's `live_snapshot`) or, for a site with an API, one taken for it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ReconcileError
from ..model import Finding, Kind, LiveGuest, LiveState
from ..model.nightly import IgnoreRules
from ..record import record
from ..yamlio import parse_yaml, read_text
from . import planner, verify
from .patch import Edit, FileState, apply, unified_diff
from .yamltext import Refused


@record
class NotFixed:
    finding: Finding
    reason: str

    def to_data(self) -> dict[str, Any]:
        return {"finding": self.finding.id, "address": self.finding.address, "kind": self.finding.kind.value,
                "reason": self.reason, "hint": self.finding.hint}


@record
class FixPlan:
    root: Path
    edits: tuple[Edit, ...]
    fixed: tuple[Finding, ...]
    not_fixed: tuple[NotFixed, ...]
    diff: str
    errors: tuple[str, ...] = ()
    follow_ups: tuple[Finding, ...] = ()  # what the run reports once the patch is applied (about added entries)

    @property
    def files(self) -> list[str]:
        return sorted({edit.file for edit in self.edits})

    def summary(self) -> str:
        decide = sum(n.reason == DECIDE for n in self.not_fixed)
        refused = sum(n.reason.startswith("refused:") for n in self.not_fixed)
        text = (f"{len(self.edits)} change(s) in {len(self.files)} file(s) for {len(self.fixed)} finding(s), "
                f"{len(self.not_fixed) - decide - refused} finding(s) not fixable by editing bindings")
        if decide:
            text += f", {decide} drift(s) to decide (--accept live)"
        if refused:
            text += f", {refused} refused"
        if self.follow_ups:
            text += f"; {len(self.follow_ups)} follow-up(s) for the added entries"
        return text

    def to_data(self) -> dict[str, Any]:
        return {"bindings_root": str(self.root), "edits": [e.to_data() for e in self.edits],
                "fixed": [f.id for f in self.fixed], "not_fixed": [n.to_data() for n in self.not_fixed],
                "follow_ups": [{"finding": f.id, "address": f.address, "message": f.message, "hint": f.hint}
                               for f in self.follow_ups],
                "diff": self.diff, "summary": self.summary()}


DECIDE = "decide: change the guest or the binding (--accept live changes the binding to the live value)"


def selected(findings: Sequence[Finding], patterns: Sequence[str]) -> list[Finding]:
    """The findings whose address matches one of `patterns` (fnmatch, as in .reconcileignore); all without any."""
    if not patterns:
        return list(findings)
    return [f for f in findings if any(fnmatch.fnmatchcase(f.address, p) for p in patterns)]


def plan_fixes(configs: Sequence[Any], findings: Sequence[Finding], state: LiveState, *, accept_live: bool,
               patterns: Sequence[str] = (), rules: IgnoreRules | None = None, today: Any = None,
               check: bool = True) -> FixPlan:
    """Edits for every selected finding a binding edit resolves; the others with the reason they are left.

    With `check`, the patched bindings are run through the engine (verify.py): a fix whose finding stays, or
    that makes the run report something new (other than the governance follow-ups of an added entry), is refused
    and the plan made again without it."""
    roots = {cfg.bindings_root.resolve() for cfg in configs}
    if len(roots) != 1:
        raise ConfigError("reconcile fix: the selected sites have different bindings roots; fix one site at a time")
    root = roots.pop()
    rules = rules if rules is not None else IgnoreRules()
    today = today or dt.date.today()
    refused: dict[str, str] = {}
    for _ in range(MAX_ROUNDS):
        fixed, not_fixed, files = _plan_once(configs, findings, state, root, accept_live, patterns, refused)
        if not check or not fixed:
            break
        texts = {rel: f.new_text for rel, f in files.items() if f.edits}
        after = verify.run_patched(configs, root, texts, state, rules, today)
        before = {f.address for f in findings}
        added = [f for f in fixed if f.kind is Kind.UNREGISTERED]
        stayed = [f for f in fixed if f.address in {a.address for a in after}]
        new = [a for a in after if a.address not in before and not verify.follow_up(a, added)]
        for finding in stayed:
            refused[finding.id] = "refused: the patched bindings would still report it"
        for finding_id, caused in _blamed(new, fixed, files, configs, root, state, rules, today).items():
            refused[finding_id] = "refused: the patched bindings would also report " + ", ".join(sorted(caused))
        if not stayed and not new:
            follow_ups = tuple(a for a in after if a.address not in before)
            break
    else:  # pragma: no cover - every round refuses at least one fix
        fixed, not_fixed, files = [], [NotFixed(f, "refused: no consistent patch") for f in findings], {}
    if not check or not fixed:
        follow_ups = ()
    edits = tuple(e for rel in sorted(files) for e in sorted(files[rel].edits, key=lambda e: e.line))
    diff = "".join(unified_diff(rel, files[rel].text, files[rel].new_text) for rel in sorted(files))
    return FixPlan(root, edits, tuple(fixed), tuple(not_fixed), diff, follow_ups=follow_ups)


MAX_ROUNDS = 8


def _related(new: Finding, fix: Finding) -> bool:
    return new.subject.site == fix.subject.site and (
        new.subject.handle == fix.subject.handle
        or (new.subject.vmid is not None and new.subject.vmid == fix.subject.vmid)
        or (new.subject.name is not None and new.subject.name == fix.subject.name))


def _blamed(new: Sequence[Finding], fixed: Sequence[Finding], files: dict[str, FileState], configs: Sequence[Any],
            root: Path, state: LiveState, rules: IgnoreRules, today: Any) -> dict[str, set[str]]:
    """Which fix makes each new finding: the fix about the same subject, else found by running each fix alone."""
    blamed: dict[str, set[str]] = {}
    unexplained = []
    for found in new:
        culprits = [f for f in fixed if _related(found, f)]
        for culprit in culprits:
            blamed.setdefault(culprit.id, set()).add(found.address)
        if not culprits:
            unexplained.append(found.address)
    for fix in fixed if unexplained else ():
        texts = {rel: apply(f.text, [e for e in f.edits if e.finding == fix.id]) for rel, f in files.items()
                 if any(e.finding == fix.id for e in f.edits)}
        alone = {a.address for a in verify.run_patched(configs, root, texts, state, rules, today)}
        caused = alone.intersection(unexplained)
        if caused:
            blamed.setdefault(fix.id, set()).update(caused)
    if unexplained and not any(blamed.get(f.id, set()) & set(unexplained) for f in fixed):
        for fix in fixed:  # only the fixes together make it: none is offered
            blamed.setdefault(fix.id, set()).update(unexplained)
    return blamed


def _plan_once(configs: Sequence[Any], findings: Sequence[Finding], state: LiveState, root: Path,
               accept_live: bool, patterns: Sequence[str], refused: dict[str, str],
               ) -> tuple[list[Finding], list[NotFixed], dict[str, FileState]]:
    files: dict[str, FileState] = {}  # one state per file, shared by the sites of one bindings root
    estates = {cfg.name: _estate(cfg, state, root, files) for cfg in configs}
    fixed: list[Finding] = []
    not_fixed: list[NotFixed] = []
    for finding in selected(findings, patterns):
        estate = estates.get(finding.subject.site)
        if not (planner.is_addition(finding) or planner.is_drift_fix(finding)) or estate is None:
            not_fixed.append(NotFixed(finding, "not fixable by editing bindings"))
            continue
        if planner.is_drift_fix(finding) and not accept_live:
            not_fixed.append(NotFixed(finding, DECIDE))
            continue
        if finding.id in refused:
            not_fixed.append(NotFixed(finding, refused[finding.id]))
            continue
        saved = {}
        try:
            for rel, edits, changes in planner.plan(finding, estate):
                saved.setdefault(rel, files[rel].save())
                files[rel].propose(edits, changes)
        except Refused as exc:
            for rel, kept_state in saved.items():
                files[rel].restore(kept_state)
            not_fixed.append(NotFixed(finding, f"refused: {exc}"))
            continue
        fixed.append(finding)
    return fixed, not_fixed, files


def _estate(cfg: Any, state: LiveState, root: Path, files: dict[str, FileState]) -> planner.Estate:
    from ..engine import load_declared

    site = load_declared(cfg)
    shown: dict[str, str] = {}
    for key in ("vm_lifecycle", "docker_compose_targets"):
        path = cfg.binding(key)
        try:
            rel = path.resolve().relative_to(root).as_posix()
        except ValueError:
            continue  # a binding file outside the bindings root: no patch path for it
        shown[key] = rel
        if rel not in files and path.is_file():
            text = read_text(path)
            files[rel] = FileState(rel, text, parse_yaml(text, rel))
    hosts = site.scope.proxmox_hosts
    targets = site.backups.inventory.targets

    def covering(guest: Any) -> list[str]:
        return [t.name for t in targets if t.covers(guest.vm_type, guest.vmid)
                and (t.host not in hosts or t.host == guest.proxmox_host)]

    live: dict[tuple[str, int], LiveGuest] = {
        g.key: g for obs in state.proxmox for g in obs.guests}
    return planner.Estate(files=files, lifecycle=shown.get("vm_lifecycle", ""),
                          compose=shown.get("docker_compose_targets", ""), live_guests=live,
                          declared={g.key: g for g in site.lifecycle.guests}, covering=covering,
                          target_names=frozenset(t.name for t in targets))


def live_state(configs: Sequence[Any], live_file: Path | None) -> tuple[LiveState, Path | None]:
    """The live state the run compares with: the snapshot given or configured, else one taken from the APIs."""
    from ..collect.snapshot import load_snapshot
    from ..engine import fatal_errors, take_snapshot

    snapshots = {live_file or cfg.live_snapshot for cfg in configs}
    if len(snapshots) == 1 and None not in snapshots:
        path = snapshots.pop()
        return load_snapshot(path), path
    if None not in snapshots:
        raise ConfigError("reconcile fix: the selected sites use different live snapshots; fix one site at a time")
    state = take_snapshot(configs)
    errors = [e for cfg in configs for e in fatal_errors(
        cfg.name, [o.status for o in state.proxmox if o.site == cfg.name and o.status])]
    if errors:  # no patch from a run that could not see (authentication, TLS, nothing answered)
        raise ReconcileError(errors[0])
    return state, None


def run(configs: Sequence[Any], live_file: Path | None, rules: IgnoreRules, *, accept_live: bool,
        patterns: Sequence[str] = ()) -> FixPlan:
    """The findings of the main run (ignored ones set aside) turned into a plan of edits."""
    from ..engine import reconcile

    state, path = live_state(configs, live_file)
    report = reconcile(configs, live_file=path, state=state)
    if report.errors:
        return FixPlan(configs[0].bindings_root, (), (), (), "", tuple(report.errors))
    today = dt.date.fromisoformat(report.generated_at[:10])
    findings = verify.kept(report.findings, rules, today)
    return plan_fixes(configs, findings, state, accept_live=accept_live, patterns=patterns, rules=rules, today=today)
