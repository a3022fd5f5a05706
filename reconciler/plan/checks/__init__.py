"""The plan-vm checks: pure functions from the declared and live data to pass / warn / fail with a reason.

Every check is a function `check_x(inp: PlanInput) -> Iterator[Check]`; `PLAN_CHECKS` fixes their order.
Nothing here reads a file or asks an API: the caller (`plan.run`) loads the bindings of every configured
site, observes every configured Proxmox host (or reads the snapshots) and hands the result over.

Outcome policy: a *fail* is a collision or a resource that is provably short (the plan is blocked, exit 1);
a *warn* is something that could not be proven either way (a host not observed, a permission that hides
guests, capacity unknown offline) or a documented soft limit (CPU overcommit); *pass* says what was checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ...model.plan import Check
from .capacity import check_cpu, check_memory, check_profile, check_resources, check_storage
from .governance import check_entry_names, check_health_url, check_hostname_naming, check_stacks, check_vmid_range
from .identity import (
    check_addresses,
    check_hostname_declared,
    check_hostname_live,
    check_vmid_declared,
    check_vmid_live,
)
from .inputs import HostLive, PlanInput
from .placement import check_node, check_placement_host, check_template, choose_node

PlanCheck = Callable[[PlanInput], Iterable[Check]]
PLAN_CHECKS: tuple[PlanCheck, ...] = (
    check_profile, check_resources,
    check_vmid_range, check_vmid_declared, check_vmid_live,
    check_hostname_naming, check_hostname_declared, check_hostname_live,
    check_addresses,
    check_placement_host, check_node, check_memory, check_cpu, check_storage,
    check_template, check_stacks, check_entry_names, check_health_url,
)


def run_checks(inp: PlanInput, checks: Sequence[PlanCheck] = PLAN_CHECKS) -> tuple[Check, ...]:
    return tuple(c for check in checks for c in check(inp))


__all__ = ["PLAN_CHECKS", "HostLive", "PlanInput", "choose_node", "run_checks"]
