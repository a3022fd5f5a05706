"""What changed since the last run: each finding marked new, persisting, resolved or unobserved.

Findings are matched by their stable id. A finding of last night that is absent tonight is `resolved` only
when tonight's run could actually see its subject. When it could not — its Proxmox host, node, guest or docker
host is `unknown` tonight, its source failed or was skipped, or its site was not part of this run — it is
carried forward as `unobserved`, keeping its first-seen date, so it comes back as `persisting` (not `new`)
once it can be seen again, and is never announced as fixed while nobody looked. The end of an outage (an
`unknown` finding gone) is not a fix either. Findings of a site no longer selected are forgotten after
`--forget-after` days (default 30).

Pure: previous-report entries (JSON dicts) + tonight's findings in, marks out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field

from ..model import Finding, Kind, SourceKind, SourceStatus, Subject
from ..model.nightly import Data, IgnoreEntry, Mark, Tracked
from ..record import record
from ..rules.registry import RULES, Family
from . import DEFAULT_FORGET_AFTER_DAYS


@record
class Blind:
    """What tonight's run could not see: subjects of `unknown` findings and failed sources, with the reason."""

    sites: frozenset[str]
    proxmox_hosts: Mapping[str, str]  # host (or one of its nodes) unobserved → reason
    guests: Mapping[tuple[str, int, str | None], str]  # (host, vmid, field or None for the whole guest) → reason
    docker_hosts: Mapping[str, str]
    stacks: Mapping[tuple[str, str], str]  # (docker host, stack) → reason
    hidden: Mapping[str, str] = field(default_factory=dict)  # subject path (an unknown's `hides`) → reason

    def reason_for(self, data: Data) -> str | None:
        """Why the subject of a previous finding was not observed tonight (None: it was observed)."""
        subject = data.get("subject") or {}
        site, host, vmid = subject.get("site"), subject.get("proxmox_host"), subject.get("vmid")
        target = subject.get("target")
        if site not in self.sites:
            return f"site {site} was not part of this run"
        if host and host in self.proxmox_hosts:
            return self.proxmox_hosts[host]
        if host and vmid is not None:
            for key in ((host, vmid, None), (host, vmid, data.get("field"))):
                if key in self.guests:
                    return self.guests[key]
        if target and target in self.docker_hosts:
            return self.docker_hosts[target]
        if target and subject.get("type") == "stack" and (target, subject.get("name")) in self.stacks:
            return self.stacks[(target, subject["name"])]
        return self.hidden.get(_subject_path(subject))


def blind_spots(sites: Iterable[str], findings: Iterable[Finding], sources: Iterable[SourceStatus]) -> Blind:
    hosts: dict[str, str] = {}
    guests: dict[tuple[str, int, str | None], str] = {}
    docker: dict[str, str] = {}
    stacks: dict[tuple[str, str], str] = {}
    hidden: dict[str, str] = {}
    for finding in findings:
        if finding.kind is not Kind.UNKNOWN:
            continue
        subject, why = finding.subject, f"unknown tonight: {finding.reason or 'not observed'}"
        for path in finding.hides:  # e.g. the backup targets behind an inactive storage or a skipped host
            hidden.setdefault(path, why)
        if _backup_rule(finding.rule):
            continue  # a backup source's outage hides what it names, not the guests of its Proxmox host
        if subject.type == "host" and subject.proxmox_host:
            # a node-level gap: which guests sat on that node is unknowable tonight, so the whole host counts
            hosts.setdefault(subject.proxmox_host, why)
        elif subject.type == "host" and subject.target:
            docker.setdefault(subject.target, why)
        elif subject.proxmox_host and subject.vmid is not None:
            guests.setdefault((subject.proxmox_host, subject.vmid, finding.field), why)
        elif subject.type == "stack" and subject.target and subject.name:
            stacks.setdefault((subject.target, subject.name), why)
    for source in sources:
        if source.status in ("failed", "skipped"):
            why = f"source {source.name} {source.status}" + (f": {source.reason.value}" if source.reason else "")
            (hosts if source.kind is SourceKind.PROXMOX else docker).setdefault(source.host, why)
    return Blind(frozenset(sites), hosts, guests, docker, stacks, hidden)


def _backup_rule(rule_id: str) -> bool:
    entry = RULES.get(rule_id)
    return entry is not None and entry.family is Family.BACKUP


def _subject_path(subject: Mapping[str, object]) -> str:
    """`site/type/handle` of a stored finding's subject, as an unknown's `hides` names it ("" if malformed)."""
    try:
        return f"{subject.get('site')}/{Subject(**subject).handle}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def previous_entries(previous: Data | None) -> dict[str, Data]:
    """Every finding the previous report knew about (reported, ignored or carried unobserved), by id."""
    if not previous:
        return {}
    stamp = str(previous.get("generated_at", ""))
    entries: dict[str, Data] = {}
    for group in ("unobserved", "ignored", "findings"):  # later groups win: a reported finding is the truth
        for item in previous.get(group) or []:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                item = _with_current_id(item)
                entries[item["id"]] = {"first_seen": stamp, "last_seen": stamp, **item}
    return entries


def _with_current_id(item: Data) -> Data:
    """A stored finding under the id and address this version gives it (a report written by an older version
    may use an older address form, e.g. `qemu/101` before `qemu/HOST/101`): one upgrade is not a night of
    resolved and new findings. Entries that cannot be re-identified keep their stored id."""
    try:
        subject = Subject(**{k: item["subject"][k] for k in ("type", "site", "proxmox_host", "vmid", "name", "target")})
        finding = Finding(Kind(item["kind"]), str(item["rule"]), subject, "", field=item.get("field"))
    except (KeyError, TypeError, ValueError):
        return item
    return {**item, "id": finding.id, "address": finding.address}


def mark_current(data: Data, finding: Finding, before: Mapping[str, Data], now: str,
                 ignored_by: IgnoreEntry | None) -> Tracked:
    prior = before.get(finding.id)
    if prior is None:
        return Tracked(data, Mark.NEW, now, now, finding, ignored_by)
    return Tracked(data, Mark.PERSISTING, str(prior["first_seen"]), now, finding, ignored_by)


def mark_absent(before: Mapping[str, Data], present: set[str], blind: Blind, now: str = "",
                forget_after_days: int = DEFAULT_FORGET_AFTER_DAYS) -> tuple[list[Tracked], list[Tracked]]:
    """Previous findings not reported tonight → (resolved, unobserved).

    An `unknown` finding that is gone is not a fix: its source is observed again, and what it hid is reported
    (persisting) or really resolved on its own. It is dropped, never counted as resolved. A finding of a site no
    longer selected stays unobserved for `forget_after_days` after it was last seen, then it is dropped.
    """
    resolved, unobserved = [], []
    for key, prior in before.items():
        if key in present or prior.get("kind") == Kind.UNKNOWN.value:
            continue
        data = {k: v for k, v in prior.items() if k not in _MARK_FIELDS}
        first, last = str(prior["first_seen"]), str(prior["last_seen"])
        why = blind.reason_for(prior)
        site = (prior.get("subject") or {}).get("site")
        if why is not None and site not in blind.sites and _days_between(last, now) > forget_after_days:
            continue  # its site has not been part of a run for that long: forgotten, not resolved
        if why is None:
            resolved.append(Tracked(data, Mark.RESOLVED, first, last))
        else:
            unobserved.append(Tracked(data, Mark.UNOBSERVED, first, last, why_unobserved=why))
    return resolved, unobserved


def _days_between(earlier: str, later: str) -> float:
    try:
        start = dt.datetime.fromisoformat(earlier.replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(later.replace("Z", "+00:00"))
    except ValueError:
        return 0.0  # an unreadable stamp forgets nothing
    return (end - start).total_seconds() / 86400


# fields the nightly report adds to a finding's JSON: stripped when a previous entry is carried over
_MARK_FIELDS = frozenset({"mark", "first_seen", "last_seen", "ignored_by", "unobserved_reason"})


def sort_tracked(items: Sequence[Tracked], kind_order: Sequence[str]) -> list[Tracked]:
    order = {kind: i for i, kind in enumerate(kind_order)}
    return sorted(items, key=lambda t: (t.site, order.get(t.kind, 99), str(t.data.get("address", "")), t.id))
