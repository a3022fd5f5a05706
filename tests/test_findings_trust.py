"""Findings a user can trust night after night (issue 15): one finding per cause, the right kind, stable ids.

Each test builds its own small bindings (or uses the packaged demo / the real snapshots in tests/data) and
asserts on what the reconciler reports, never on how it computes it.
"""

from __future__ import annotations

import copy

from reconciler.governance import run_check
from tests.test_governance_rules import BASE, site, write


def test_registry_host_with_vmid_only_is_resolved_within_its_own_site(tmp_path):
    """`oldbox` (a shop host, vmid 120, no proxmox_host) must not take home's guest 120."""
    files = copy.deepcopy(BASE)
    files["ops/bindings/vm.lifecycle.yaml"]["vms"].append(
        {"id": 120, "hostname": "media", "proxmox_host": "proxmox-home", "status": "active"})
    files["ops/bindings/infra.placement.policy.yaml"]["hosts"]["oldbox"] = {"site": "shop", "kind": "vm"}
    files["docs/governance/SERVICE_REGISTRY.yaml"]["hosts"]["oldbox"] = {"vmid": 120, "ssh": "oldbox"}
    write(tmp_path, files)
    shop = [f for f in run_check(site(tmp_path, "shop")).findings if f.rule == "governance-orphans"]
    assert [(f.subject.type, f.subject.name, f.field) for f in shop] == [("registry-host", "oldbox", "orphan")]
    assert "'oldbox'" in shop[0].message
    home = [f for f in run_check(site(tmp_path, "home")).findings if f.rule == "governance-orphans"]
    assert [f for f in home if f.subject.name == "oldbox"] == []  # a shop entry: not home's to report
