"""plan-vm checks of placement: the Proxmox host, the node, and the template to clone from."""

from __future__ import annotations

from collections.abc import Iterator

from ...model.plan import Check, Resolved
from .inputs import FAIL, PASS, WARN, HostLive, PlanInput


def choose_node(req: Resolved, host: HostLive | None) -> tuple[str | None, str]:
    """The node to create on: the request's, else the clone source's node, else the host's only node."""
    if req.node:
        return req.node, req.origins.get("node", "--node")
    if host is None or not host.listed:
        return None, ""
    obs = host.observation
    template = next((g for g in obs.guests if g.vmid == req.template_vmid), None)  # type: ignore[union-attr]
    if template is not None:
        return template.node, f"the node of clone source {template.vmid}"
    nodes = _node_names(host)
    if len(nodes) == 1:
        return nodes[0], f"the only node of {host.proxmox_host}"
    return None, ""


def _node_names(host: HostLive) -> list[str]:
    if host.capacity is not None and host.capacity.observed:
        return sorted(host.capacity.nodes)
    obs = host.observation
    if obs is None:
        return []
    return sorted({g.node for g in obs.guests} | set(obs.offline_nodes))


def check_placement_host(inp: PlanInput) -> Iterator[Check]:
    req, scope = inp.request, inp.target.bindings.scope
    if req.proxmox_host not in scope.proxmox_hosts:
        known = ", ".join(sorted(scope.proxmox_hosts)) or "none"
        yield Check("placement.host", FAIL, f"{req.proxmox_host} is not a Proxmox host of site {req.site} ({known})",
                    hint="pick a Proxmox host of the site (--proxmox-host)")
        return
    host = inp.host()
    origin = req.origins.get("proxmox_host", "--proxmox-host")
    if host is None or not host.listed:
        why = host.why_not if host else f"no API or snapshot configured for {req.proxmox_host}"
        yield Check("placement.host", WARN, f"{req.proxmox_host} ({origin}): {why}",
                    hint="configure its API in the site file, or give a snapshot with --live")
        return
    yield Check("placement.host", PASS, f"{req.proxmox_host} ({origin}) answered ({host.source})")


def check_node(inp: PlanInput) -> Iterator[Check]:
    req, host = inp.request, inp.host()
    if host is None or not host.listed:
        yield Check("placement.node", WARN, f"node {req.node or '?'} not checked: Proxmox host {req.proxmox_host} "
                    "was not observed")
        return
    if req.node is None:
        nodes = _node_names(host)
        yield Check("placement.node", FAIL, f"{req.proxmox_host} has {len(nodes)} nodes ({', '.join(nodes)}) and no "
                    "clone source was found to pick one", hint="pass --node")
        return
    origin = req.origins.get("node", "--node")
    capacity = host.capacity
    if capacity is not None and capacity.observed:
        node = capacity.nodes.get(req.node)
        if node is None:
            yield Check("placement.node", FAIL, f"{req.proxmox_host} has no node '{req.node}' (nodes: "
                        f"{', '.join(sorted(capacity.nodes)) or 'none'})", hint="pass an existing --node")
        elif node.status != "online":
            yield Check("placement.node", FAIL, f"node {req.node} of {req.proxmox_host} is {node.status}",
                        hint="bring the node online, or pass another --node")
        else:
            yield Check("placement.node", PASS, f"node {req.node} ({origin}) of {req.proxmox_host} is online")
        return
    obs = host.observation
    if req.node in obs.offline_nodes:  # type: ignore[union-attr]
        yield Check("placement.node", FAIL, f"node {req.node} of {req.proxmox_host} is offline ({host.source})",
                    hint="bring the node online, or pass another --node")
    elif req.node in {g.node for g in obs.guests}:  # type: ignore[union-attr]
        yield Check("placement.node", PASS, f"node {req.node} ({origin}) hosts guests in {host.source} (its "
                    "capacity is not in the snapshot)")
    else:
        yield Check("placement.node", WARN, f"node {req.node} cannot be confirmed from {host.source} (no guests "
                    "there and no node list)")


def check_template(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    template_id = req.template_vmid
    if template_id is None:
        yield Check("clone.template", WARN, "no clone source: the profile has no template_vmid" if req.profile
                    else "no clone source: no profile given")
        return
    origin = req.origins.get("template_vmid", "")
    host = inp.host()
    if host is None or not host.listed:
        why = host.why_not if host else f"no API or snapshot for {req.proxmox_host}"
        yield Check("clone.template", WARN, f"template {template_id} not checked: {why}")
        return
    obs = host.observation
    guest = next((g for g in obs.guests if g.vmid == template_id), None)  # type: ignore[union-attr]
    if guest is None:
        elsewhere = [(h, g) for h in inp.live if h.listed and h is not host for g in h.observation.guests  # type: ignore
                     if g.vmid == template_id]
        extra = f"; it is on {', '.join(h.proxmox_host for h, _ in elsewhere)}, and qm clone works within one " \
                "cluster" if elsewhere else ""
        if not obs.audit.can_see(template_id) and not elsewhere:  # type: ignore[union-attr]
            yield Check("clone.template", WARN, f"template {template_id} ({origin}) is not in {req.proxmox_host}'s "
                        "listing, but the token may not see every guest", hint="grant VM.Audit on /vms")
            return
        yield Check("clone.template", FAIL, f"template {template_id} ({origin}) does not exist on "
                    f"{req.proxmox_host}{extra}", hint="create the template, or fix template_vmid in the profile")
        return
    if not guest.template:
        yield Check("clone.template", FAIL, f"{template_id} on {req.proxmox_host} exists ('{guest.name}', "
                    f"{guest.status}) but is not a template", hint="convert it (qm template) or fix template_vmid")
        return
    if guest.vm_type is not req.vm_type:
        yield Check("clone.template", FAIL, f"template {template_id} is a {guest.vm_type.value} guest; the plan is "
                    f"for {req.vm_type.value}", hint="use a profile whose template matches --type")
        return
    if req.node and req.node != guest.node:
        yield Check("clone.template", WARN, f"template {template_id} is on node {guest.node}, the guest is planned "
                    f"on {req.node}", hint=f"clone with --target {req.node} (needs the template on shared storage), "
                    "or plan on the template's node")
        return
    yield Check("clone.template", PASS, f"template {template_id} '{guest.name}' ({origin}) is a "
                f"{guest.vm_type.value} template on node {guest.node} of {req.proxmox_host}")
