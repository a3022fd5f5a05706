"""Findings a user can trust night after night (issue 15): one finding per cause, the right kind, stable ids.

Each test builds its own small bindings (or uses the packaged demo / the real snapshots in tests/data) and
asserts on what the reconciler reports, never on how it computes it.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

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


def _estate_with_hostname(tmp_path, hostname: str, category: str):
    """BASE with the guest's hostname and a custom parity category name set; a sites folder for the CLI."""
    files = copy.deepcopy(BASE)
    files["ops/bindings/vm.lifecycle.yaml"]["vms"][0]["hostname"] = hostname
    del files["ops/bindings/vm.lifecycle.yaml"]["vms"][0]["backup_target"]  # a gap: the hostname is in a note
    root = tmp_path / "bindings"
    write(root, files)
    sites = tmp_path / "sites"
    sites.mkdir()
    parity = {"categories": [{"name": category, "glob": "ops/bindings/*.yaml", "default_site": "shop"}]}
    (sites / "shop.yaml").write_text(yaml.safe_dump(
        {"site": "shop", "bindings_root": str(root), "proxmox": [], "rules": {"parity": parity}}))
    return sites


@pytest.mark.parametrize("args", [
    ("check", "--site", "shop"), ("check", "--site", "shop", "-f", "markdown"),
    ("coverage", "--site", "shop", "--all"), ("coverage", "--site", "shop", "--all", "-f", "markdown"),
    ("parity", "--sites", "shop"), ("parity", "--sites", "shop", "-f", "markdown"),
], ids=" ".join)
def test_binding_values_are_escaped_in_every_renderer(cli, tmp_path, args):
    sites = _estate_with_hostname(tmp_path, "web\x1b[31m", "Files\x1b[31m")
    result = cli("--sites-dir", sites, *args)
    assert result.code in (0, 1), result.err
    assert "\x1b" not in result.out and "\x1b" not in result.err
    assert "\\x1b" in result.out  # shown, escaped


def test_compose_target_stack_missing_from_the_lifecycle_is_parity(tmp_path):
    files = copy.deepcopy(BASE)
    files["ops/bindings/docker.compose.targets.yaml"]["targets"]["web"]["stacks"].append(
        {"name": "extra", "path": "/opt/stacks/extra"})
    write(tmp_path, files)
    found = [f for f in run_check(site(tmp_path)).findings if f.rule == "governance-compose"]
    assert [(f.kind.value, f.subject.vmid, f.field) for f in found] == [("parity", 200, "lifecycle.stacks.extra")]
    assert [s.file for s in found[0].sources] == ["ops/bindings/docker.compose.targets.yaml",
                                                  "ops/bindings/vm.lifecycle.yaml"]


def test_full_run_reports_a_lifecycle_compose_disagreement_once_as_parity(cli, packaged_demo):
    findings = json.loads(cli("--site", "demo", "-f", "json").out)["findings"]
    books = [f for f in findings if "books" in (f["field"] or "") or "books" in f["message"]]
    assert [(f["kind"], f["rule"]) for f in books] == [("parity", "governance-compose")]
    assert not [f for f in findings if f["kind"] == "drifted" and f["rule"].startswith("governance")]
