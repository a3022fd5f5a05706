"""plan-vm checks against the governance files: VMID range, naming policy, stacks, entry names, health URL."""

from __future__ import annotations

from collections.abc import Iterator

from ...model.plan import Check
from ...rules.governance.health import calls_another_address
from ...rules.governance.vmid_range import in_range
from .inputs import FAIL, PASS, WARN, PlanInput, sources_of, unique_pairs


def check_vmid_range(inp: PlanInput) -> Iterator[Check]:
    req, ctx = inp.request, inp.target
    vmid_range = ctx.bindings.scope.vmid_range
    placed = ctx.bindings.placement.sites.get(req.site)
    source = sources_of(placed.source if placed and placed.vmid_range == vmid_range else None)
    if vmid_range is None:
        yield Check("vmid.range", WARN, f"site {req.site} has no VMID range (placement policy or site file)",
                    hint="add vmid_min/vmid_max to the placement policy, or vmid_range to the site file")
        return
    low, high = vmid_range
    if in_range(req.vmid, vmid_range):  # the governance-vmid-range rule's own test
        yield Check("vmid.range", PASS, f"{req.vmid} is inside site {req.site}'s range {low}-{high}", source)
    else:
        yield Check("vmid.range", FAIL, f"{req.vmid} is outside site {req.site}'s range {low}-{high}", source,
                    hint=f"choose a free VMID in {low}-{high}")


def check_hostname_naming(inp: PlanInput) -> Iterator[Check]:
    name, naming = inp.request.hostname, inp.target.bindings.naming
    source = sources_of(naming.rules.source)
    broken = naming.rules.violations(name)
    if broken and naming.exempt(name, "hostname"):
        yield Check("hostname.naming", PASS, f"'{name}' breaks {', '.join(broken)}, but is an allowed exception "
                    f"in {naming.shown}", source)
    elif broken:
        limit = f", at most {naming.rules.max_length} characters" if naming.rules.max_length else ""
        yield Check("hostname.naming", FAIL, f"'{name}' breaks the naming policy: {'; '.join(broken)}", source,
                    hint=f"use lowercase letters, digits and single hyphens{limit}, named for its function")
    else:
        yield Check("hostname.naming", PASS, f"'{name}' follows the naming rules of {naming.shown}", source)


def check_stacks(inp: PlanInput) -> Iterator[Check]:
    stacks = inp.request.stacks
    if not stacks:
        return
    elsewhere = []
    for ctx in inp.contexts:
        for target in ctx.bindings.compose.targets.values():
            if not target.enabled:
                continue
            for stack in target.stacks:
                if stack.name in stacks:
                    elsewhere.append((f"'{stack.name}' under compose target '{target.id}'", str(stack.source)))
    elsewhere = unique_pairs(elsewhere)
    if elsewhere:
        yield Check("stacks", WARN, f"already declared elsewhere: {'; '.join(t for t, _ in elsewhere)}",
                    tuple(s for _, s in elsewhere), hint="a moved stack must be removed from its old target")
        return
    registry = inp.target.bindings.stacks
    unregistered = [s for s in stacks if s not in registry.ids]
    said = f"not declared on any other docker host: {', '.join(stacks)}"
    if unregistered and registry.present:
        said += f" (new in {registry.shown}: {', '.join(unregistered)})"
    yield Check("stacks", PASS, said)


def check_entry_names(inp: PlanInput) -> Iterator[Check]:
    """The names the stubs create are free in their files (the hostname check covers the hostname itself)."""
    names, b = inp.names, inp.target.bindings
    taken: list[tuple[str, str]] = []
    backup = b.backup.by_name.get(names.backup_target)
    if backup is not None:
        taken.append((f"backup target '{names.backup_target}' in {b.backup.shown}", str(backup.source)))
    health = next((e for e in b.health.endpoints if e.id == names.health_id), None)
    if health is not None:
        taken.append((f"health probe id '{names.health_id}' in {b.health.shown}", str(health.source)))
    if taken:
        yield Check("register.names", FAIL, f"already taken: {'; '.join(t for t, _ in taken)}",
                    tuple(s for _, s in taken), hint="rename the old entry, or choose another hostname")
        return
    yield Check("register.names", PASS, f"the new entries' names are free (backup target {names.backup_target})")


def check_health_url(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    if not req.health_url:
        return
    from urllib.parse import urlsplit

    try:
        host = urlsplit(req.health_url).hostname
    except ValueError:
        host = None
    addresses = {a for a in (req.lan_ip, req.tailscale_ip) if a}
    if host is None:
        yield Check("health.url", FAIL, f"--health-url {req.health_url!r} has no host", hint="write http://ADDR:PORT/PATH")
    elif not calls_another_address(host, addresses):  # the governance-health rule's own test
        yield Check("health.url", PASS, f"probe URL {req.health_url}")
    else:
        yield Check("health.url", FAIL, f"probe URL calls {host}, which is not the guest's address "
                    f"({', '.join(sorted(addresses))})", hint="use the guest's Tailscale or LAN address in the URL")
