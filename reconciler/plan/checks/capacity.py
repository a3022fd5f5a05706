"""plan-vm checks of size: the profile and resources asked for, and the chosen node's memory, CPU and storage."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ...model import GuestType, LiveGuest
from ...model.capacity import NodeCapacity
from ...model.plan import Check
from .inputs import FAIL, PASS, WARN, HostLive, PlanInput, sources_of


def check_profile(inp: PlanInput) -> Iterator[Check]:
    req, profiles = inp.request, inp.profiles
    if req.profile is None:
        yield Check("profile", WARN, "no profile given: resources come from the flags only and there is no clone "
                    "source to check", hint=f"pass --profile (one of: {', '.join(profiles.profiles) or 'none'})")
        return
    profile = profiles.get(req.profile)
    if profile is None:
        where = profiles.shown if profiles.present else f"{profiles.shown} (not found)"
        yield Check("profile", FAIL, f"profile '{req.profile}' is not defined in {where}",
                    hint=f"use one of: {', '.join(profiles.profiles) or 'none'}")
        return
    problems = [p for p in profiles.problems if p.subject.name == profile.name]
    if problems:
        yield Check("profile", WARN, "; ".join(p.message for p in problems),
                    sources_of(*(s for p in problems for s in p.sources)), hint=problems[0].hint)
        return
    yield Check("profile", PASS, f"profile {profile.name}: {profile.description or 'no description'}",
                sources_of(profile.source))


def check_resources(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    missing = [flag for flag, value in (("--cores", req.cores), ("--memory-mb", req.memory_mb),
                                        ("--disk-gb", req.disk_gb)) if value is None]
    if missing:
        yield Check("resources", FAIL, f"not known: {', '.join(missing)} (no flag, and no profile that sets it)",
                    hint=f"pass {' '.join(missing)} or a --profile")
        return
    said = f"{req.cores} cores, {req.memory_mb} MB memory, {_gb(req.disk_gb)} GB disk"
    labels: dict[str, None] = {}
    refs: list[str] = []
    for key in ("cores", "memory_mb", "disk_gb"):
        label, ref = split_origin(req.origins.get(key, ""))
        if label:
            labels[label] = None
        if ref:
            refs.append(ref)
    yield Check("resources", PASS, said + (f" (from {', '.join(labels)})" if labels else ""), sources_of(*refs))


def split_origin(origin: str) -> tuple[str, str | None]:
    """"profile X (file:12)" → ("profile X", "file:12"); "--cores" → ("--cores", None)."""
    match = re.fullmatch(r"(.*) \((\S+:\d+)\)", origin)
    return (match.group(1), match.group(2)) if match else (origin, None)


def _capacity_node(inp: PlanInput, check_id: str) -> tuple[tuple[HostLive, NodeCapacity] | None, Check | None]:
    """((host, node capacity), None), or (None, a WARN check saying why capacity is unknown)."""
    req, host = inp.request, inp.host()
    if host is None or req.node is None:
        return None, Check(check_id, WARN, "not checked: no node to place the guest on")
    capacity = host.capacity
    if capacity is None:
        return None, Check(check_id, WARN, f"not checked: node capacity is not part of {host.source}",
                           hint="run without --live / live_snapshot to ask the API")
    if not capacity.observed:
        return None, Check(check_id, WARN, f"not checked: capacity of {req.proxmox_host} could not be read: "
                           f"{capacity.detail}")
    node = capacity.nodes.get(req.node)
    if node is None or node.status != "online":
        return None, Check(check_id, WARN, f"not checked: node {req.node} is not an online node")
    return (host, node), None


def _running_on(host: HostLive, node: str) -> list[LiveGuest]:
    obs = host.observation
    if obs is None:
        return []
    return [g for g in obs.guests if g.node == node and g.status == "running" and not g.template]


def check_memory(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    if req.memory_mb is None:
        return
    found, problem = _capacity_node(inp, "placement.memory")
    if problem is not None:
        yield problem
        return
    host, node = found
    free, total = node.memory_free_mb, node.memory_total_mb
    if free is None or total is None:
        yield Check("placement.memory", WARN, f"memory of node {node.node} not reported (the token needs Sys.Audit "
                    "on the node)", hint="see docs/privileges.md")
        return
    if req.memory_mb > free:
        yield Check("placement.memory", FAIL, f"the guest needs {req.memory_mb} MB; node {node.node} has {free} MB "
                    f"free of {total} MB", hint="pick another node, free memory, or ask for less --memory-mb")
        return
    configured = sum(g.memory_mb or 0 for g in _running_on(host, node.node)) + req.memory_mb
    limit = total * inp.settings.memory_overcommit
    if configured > limit:
        yield Check("placement.memory", WARN, f"fits now ({free} MB free), but running guests on {node.node} are "
                    f"configured with {configured - req.memory_mb} MB; with this one {configured} MB, more than "
                    f"{inp.settings.memory_overcommit:g} x the node's {total} MB",
                    hint="memory ballooning or swapping may follow under load (rules.plan-vm.memory_overcommit)")
        return
    yield Check("placement.memory", PASS, f"needs {req.memory_mb} MB; node {node.node} has {free} MB free of "
                f"{total} MB")


def check_cpu(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    if req.cores is None:
        return
    found, problem = _capacity_node(inp, "placement.cpu")
    if problem is not None:
        yield problem
        return
    host, node = found
    if node.cpus is None:
        yield Check("placement.cpu", WARN, f"CPU count of node {node.node} not reported (needs Sys.Audit)")
        return
    if req.cores > node.cpus:
        yield Check("placement.cpu", FAIL, f"{req.cores} cores is more than node {node.node}'s {node.cpus} CPUs",
                    hint="ask for fewer --cores")
        return
    vcpus = sum(g.cores or 0 for g in _running_on(host, node.node)) + req.cores
    ratio = vcpus / node.cpus
    limit = inp.settings.cpu_overcommit
    said = f"{vcpus} vCPUs of running guests with this one on {node.cpus} CPUs: ratio {ratio:.2f} (limit {limit:g})"
    if ratio > limit:
        yield Check("placement.cpu", WARN, f"CPU overcommit: {said}",
                    hint="pick another node or fewer cores (limit: rules.plan-vm.cpu_overcommit)")
    else:
        yield Check("placement.cpu", PASS, said)


def check_storage(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    if req.disk_gb is None:
        return
    if req.storage is None:
        yield Check("placement.storage", WARN, "no target storage known (the profile sets none)",
                    hint="set storage in the profile or in --from FILE")
        return
    found, problem = _capacity_node(inp, "placement.storage")
    if problem is not None:
        yield problem
        return
    host, node = found
    entry = host.capacity.storage_on(node.node, req.storage)
    if entry is None:
        names = sorted({s.storage for s in host.capacity.storage if s.node == node.node})
        yield Check("placement.storage", FAIL, f"storage '{req.storage}' is not on node {node.node} (visible: "
                    f"{', '.join(names) or 'none'})", hint="use a storage of the node (Datastore.Audit shows it)")
        return
    if entry.status != "available":
        yield Check("placement.storage", FAIL, f"storage {req.storage} on {node.node} is {entry.status}")
        return
    needed = "rootdir" if req.vm_type is GuestType.LXC else "images"
    if entry.content and needed not in entry.content:
        yield Check("placement.storage", FAIL, f"storage {req.storage} holds {', '.join(entry.content)}, not "
                    f"{needed} ({req.vm_type.value} disks)", hint="use a storage whose content includes " + needed)
        return
    free = entry.free_gb
    if free is None:
        yield Check("placement.storage", WARN, f"free space of {req.storage} not reported (needs Datastore.Audit)")
        return
    if req.disk_gb > free:
        yield Check("placement.storage", FAIL, f"the disk needs {_gb(req.disk_gb)} GB; {req.storage} on {node.node} "
                    f"has {_gb(free)} GB free of {_gb(entry.total_gb or 0)} GB",
                    hint="use another storage or a smaller --disk-gb")
        return
    yield Check("placement.storage", PASS, f"needs {_gb(req.disk_gb)} GB; {req.storage} on {node.node} has "
                f"{_gb(free)} GB free of {_gb(entry.total_gb or 0)} GB")


def _gb(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
