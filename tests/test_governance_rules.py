"""Each governance rule on small hand-written bindings: a clean estate (no finding) and one broken case.

The clean estate is one shop guest (web, VM 200 on pve) present in every file. Each test breaks one
thing and asserts that exactly the expected rule fires, citing the right file:line.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from reconciler.bindings.governance import load_governance
from reconciler.config import BINDING_FILES, SiteConfig
from reconciler.errors import ConfigError, ExitCode
from reconciler.governance import check_site, coverage, run_check, run_parity
from reconciler.model import Kind, Severity
from reconciler.model.coverage import Cell
from reconciler.render.governance import coverage_json, coverage_markdown, coverage_text, parity_text
from reconciler.rules.registry import governance_policy

BASE = {
    "ops/bindings/infra.placement.policy.yaml": {
        "sites": {"shop": {"proxmox_hosts": ["pve"], "vmid_min": 200, "vmid_max": 299},
                  "home": {"proxmox_hosts": ["proxmox-home"], "vmid_min": 100, "vmid_max": 199}},
        "hosts": {"pve": {"site": "shop", "kind": "proxmox"}, "nas": {"site": "home", "kind": "storage"}},
    },
    "ops/bindings/vm.lifecycle.yaml": {"vms": [{
        "id": 200, "hostname": "web", "proxmox_host": "pve", "status": "active", "tailscale_ip": "100.64.0.1",
        "ssh_target": "web", "stacks": ["app"], "backup_target": "vm-200-web", "health_probe_policy": "full",
    }]},
    "ops/bindings/ssh.targets.yaml": {"ssh": {"defaults": {"user": "root"}, "targets": [
        {"id": "web", "host": "100.64.0.1", "user": "ubuntu", "tags": ["docker", "shop"]},
        {"id": "pve", "host": "100.64.0.9", "tags": ["proxmox"]},
        {"id": "switch", "host": "192.168.1.2", "access_method": "lan_only", "tags": ["network", "shop"]},
    ]}},
    "docs/governance/SERVICE_REGISTRY.yaml": {
        "services": {"app": {"host": "web", "container": "app"}},
        "hosts": {"web": {"tailscale_ip": "100.64.0.1", "ssh": "web", "vmid": 200, "proxmox_host": "pve"},
                  "pve": {"tailscale_ip": "100.64.0.9", "ssh": "pve"}},
    },
    "ops/bindings/backup.inventory.yaml": {"targets": [
        {"name": "vm-200-web", "enabled": True, "host": "pve", "glob": "vzdump-qemu-200-*.vma.zst"},
        {"name": "app-db", "enabled": True, "host": "nas", "glob": "*.sql.gz"},
    ]},
    "ops/bindings/services.health.yaml": {"endpoints": [
        {"id": "app", "host": "web", "url": "http://100.64.0.1:8080/health", "expect": 200},
    ]},
    "ops/bindings/docker.compose.targets.yaml": {"targets": {
        "web": {"ssh_target": "web", "stacks": [{"name": "app", "path": "/opt/stacks/app"}]},
    }},
    "docs/governance/STACK_REGISTRY.yaml": {"stacks": [{"stack_id": "app", "path": "proxmox:vm-200"}]},
    "ops/bindings/naming.policy.yaml": {
        "naming_convention": {"rules": ["Lowercase only, hyphens for separators", "Max 20 characters",
                                        "No underscores"]},
        "hosts": [{"canonical_name": "nas", "kind": "storage", "site": "home"}],
    },
}


def write(root: Path, files: dict) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            path.unlink(missing_ok=True)
            continue
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def site(root: Path, name: str = "shop", rules: dict | None = None) -> SiteConfig:
    return SiteConfig(name=name, path=root / f"{name}.yaml", bindings_root=root,
                      binding_paths={k: root / v for k, v in BINDING_FILES.items()}, rules=rules or {})


@pytest.fixture
def estate(tmp_path):
    """(files, run): edit `files` (a deep copy of BASE), then `run(rule)` → that rule's findings."""
    files = copy.deepcopy(BASE)

    def run(rule: str | None = None, name: str = "shop", rules: dict | None = None):
        write(tmp_path, files)
        result = run_check(site(tmp_path, name, rules))
        return [f for f in result.findings if rule is None or f.rule == rule]

    return files, run


def guest(files: dict) -> dict:
    return files["ops/bindings/vm.lifecycle.yaml"]["vms"][0]


def line_of(root: Path, rel: str, text: str) -> int:
    for number, line in enumerate((root / rel).read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {rel}")


# ── the clean estate ─────────────────────────────────────────────────────────


def test_clean_estate_has_no_findings_and_full_coverage(estate, tmp_path):
    _, run = estate
    assert run() == []
    matrix = run_check(site(tmp_path)).coverage
    assert [dict(r.cells) for r in matrix.rows] == [{s: Cell.OK for s in ("ssh", "registry", "backup", "health",
                                                                          "compose")}]
    assert matrix.summary == "1 guests | 1 governed | 0 gaps" and matrix.exit_code is ExitCode.OK


# ── ssh ──────────────────────────────────────────────────────────────────────


def test_ssh_target_missing_from_ssh_targets(estate, tmp_path):
    files, run = estate
    guest(files)["ssh_target"] = "web-typo"
    found = run("governance-ssh")
    assert [(f.field, f.kind, f.severity) for f in found] == [("ssh_target", Kind.PARITY, Severity.ERROR)]
    lifecycle = "ops/bindings/vm.lifecycle.yaml"
    assert [str(s) for s in found[0].sources] == [f"{lifecycle}:{line_of(tmp_path, lifecycle, 'ssh_target:')}"]
    assert "set ssh_target to 'web'" in found[0].hint  # found by the guest's address


def test_ssh_host_differs_from_guest_address(estate, tmp_path):
    files, run = estate
    files["ops/bindings/ssh.targets.yaml"]["ssh"]["targets"][0]["host"] = "100.64.0.77"
    found = run("governance-ssh")
    assert [f.field for f in found] == ["ssh.host"]
    rel = "ops/bindings/ssh.targets.yaml"
    assert str(found[0].sources[0]) == f"{rel}:{line_of(tmp_path, rel, '100.64.0.77')}"


# ── registry ─────────────────────────────────────────────────────────────────


def test_registry_entry_missing(estate):
    files, run = estate
    del files["docs/governance/SERVICE_REGISTRY.yaml"]["hosts"]["web"]
    assert [f.field for f in run("governance-registry")] == ["registry"]


def test_registry_vmid_and_ip_parity(estate, tmp_path):
    files, run = estate
    files["docs/governance/SERVICE_REGISTRY.yaml"]["hosts"]["web"].update(vmid=201, tailscale_ip="100.64.0.2")
    found = run("governance-registry")
    assert sorted(f.field for f in found) == ["registry.tailscale_ip", "registry.vmid"]
    rel = "docs/governance/SERVICE_REGISTRY.yaml"
    vmid = next(f for f in found if f.field == "registry.vmid")
    assert str(vmid.sources[0]) == f"{rel}:{line_of(tmp_path, rel, 'vmid: 201')}"


def test_registry_is_not_required_at_home_by_default_but_can_be(estate):
    files, run = estate
    files["ops/bindings/vm.lifecycle.yaml"]["vms"][0].update(id=150, proxmox_host="proxmox-home")
    files["ops/bindings/backup.inventory.yaml"]["targets"][0].update(host="proxmox-home",
                                                                     glob="vzdump-qemu-150-*.vma.zst")
    del files["docs/governance/SERVICE_REGISTRY.yaml"]["hosts"]["web"]
    assert run("governance-registry", name="home") == []
    required = run("governance-registry", name="home", rules={"governance-registry": {"sites": ["shop", "home"]}})
    assert [(f.subject.site, f.subject.vmid, f.field) for f in required] == [("home", 150, "registry")]


# ── backup ───────────────────────────────────────────────────────────────────


def test_backup_target_name_that_does_not_exist(estate, tmp_path):
    files, run = estate
    guest(files)["backup_target"] = "vm-200-primary"
    found = run("governance-backup")
    assert [f.field for f in found] == ["backup_target"]
    rel = "ops/bindings/backup.inventory.yaml"
    assert str(found[0].sources[1]) == f"{rel}:{line_of(tmp_path, rel, 'name: vm-200-web')}"
    assert "vm-200-web" in found[0].hint


def test_backup_glob_missing_disabled_or_wrong_type(estate):
    files, run = estate
    target = files["ops/bindings/backup.inventory.yaml"]["targets"][0]
    target["enabled"] = False
    assert [f.field for f in run("governance-backup")] == ["backup.enabled"]
    target.update(enabled=True, glob="vzdump-lxc-200-*.tar.zst")
    assert [f.field for f in run("governance-backup")] == ["backup.type", "backup_target"]
    target["glob"] = "vzdump-qemu-201-*.vma.zst"
    assert [f.field for f in run("governance-backup")] == ["backup", "backup_target"]


# ── health ───────────────────────────────────────────────────────────────────


def test_health_probe_missing(estate):
    files, run = estate
    files["ops/bindings/services.health.yaml"]["endpoints"][0]["host"] = "elsewhere"
    files["ops/bindings/services.health.yaml"]["endpoints"][0]["url"] = "http://10.9.9.9/"
    assert [f.field for f in run("governance-health")] == ["health"]


def test_health_not_required_without_docker_or_with_policy_none(estate):
    files, run = estate
    files["ops/bindings/services.health.yaml"]["endpoints"] = []
    guest(files)["health_probe_policy"] = "none"
    assert run("governance-health") == []
    guest(files).update(health_probe_policy="full", has_docker=False)
    assert run("governance-health") == []
    guest(files)["has_docker"] = True
    assert [f.field for f in run("governance-health")] == ["health"]


def test_health_url_address_parity(estate):
    files, run = estate
    files["ops/bindings/services.health.yaml"]["endpoints"][0]["url"] = "http://100.64.0.99:8080/health"
    assert [f.field for f in run("governance-health")] == ["health.url:app"]


# ── compose and STACK_REGISTRY ───────────────────────────────────────────────


def test_compose_stack_not_under_target(estate, tmp_path):
    files, run = estate
    guest(files)["stacks"] = ["app", "worker"]
    files["docs/governance/STACK_REGISTRY.yaml"]["stacks"].append({"stack_id": "worker"})
    found = run("governance-compose")
    assert [f.field for f in found] == ["compose.stacks.worker"]
    rel = "ops/bindings/docker.compose.targets.yaml"
    assert str(found[0].sources[1]) == f"{rel}:{line_of(tmp_path, rel, '  stacks:')}"


def test_compose_target_missing(estate):
    files, run = estate
    files["ops/bindings/docker.compose.targets.yaml"]["targets"] = {}
    assert [f.field for f in run("governance-compose")] == ["compose"]


def test_stack_registry_entry_missing_is_a_warning(estate):
    files, run = estate
    files["docs/governance/STACK_REGISTRY.yaml"]["stacks"] = [{"stack_id": "other"}]
    found = run("governance-stack-registry")
    assert [(f.field, f.severity) for f in found] == [("stack_registry.app", Severity.WARNING)]


# ── placeholders, range, naming ──────────────────────────────────────────────


def test_placeholder_left_in_an_active_guest(estate):
    files, run = estate
    guest(files)["tailscale_ip"] = "PENDING_TAILSCALE_IP"
    assert "placeholder.tailscale_ip" in [f.field for f in run("governance-placeholders")]
    guest(files)["status"] = "planning"  # allowed while planning
    assert run("governance-placeholders") == []


def test_vmid_outside_site_range_and_template_exemption(estate):
    files, run = estate
    files["ops/bindings/vm.lifecycle.yaml"]["vms"].append(
        {"id": 9000, "hostname": "tmpl", "proxmox_host": "pve", "status": "template"})
    assert run("governance-vmid-range") == []  # templates are out of scope by default
    files["ops/bindings/vm.lifecycle.yaml"]["vms"][1]["status"] = "active"
    found = run("governance-vmid-range")
    assert [(f.subject.vmid, f.field) for f in found] == [(9000, "vmid")]
    assert run("governance-vmid-range", rules={"governance-vmid-range": {"exempt": [9000]}}) == []


def test_hostname_breaking_naming_rules(estate):
    files, run = estate
    guest(files)["hostname"] = "Web_Server-with-a-long-name"
    found = run("governance-naming")
    assert [f.field for f in found] == ["hostname"]
    assert "underscore" in found[0].message and "more than 20" in found[0].message
    assert found[0].severity is Severity.WARNING


# ── orphans ──────────────────────────────────────────────────────────────────


def test_orphan_ssh_target_but_not_non_guest_hosts(estate):
    files, run = estate
    files["ops/bindings/ssh.targets.yaml"]["ssh"]["targets"].append(
        {"id": "old-vm", "host": "100.64.0.50", "tags": ["shop"]})
    found = run("governance-orphans")
    # pve (a Proxmox host) and switch (lan_only) are not guests: only old-vm is an orphan
    assert [(f.subject.type, f.subject.name) for f in found] == [("ssh-target", "old-vm")]
    assert run("governance-orphans", rules={"governance": {"non_guest_hosts": ["old-vm"]}}) == []


def test_orphan_entries_of_a_decommissioned_guest(estate):
    files, run = estate
    guest(files)["status"] = "decommissioned"
    files["ops/bindings/backup.inventory.yaml"]["targets"][0]["enabled"] = False
    found = {(f.subject.type, f.severity) for f in run("governance-orphans")}
    assert found == {("ssh-target", Severity.WARNING), ("compose-target", Severity.WARNING),
                     ("health-endpoint", Severity.WARNING), ("registry-host", Severity.WARNING),
                     ("backup-target", Severity.INFO)}  # disabled: a retained record


def test_orphan_health_host_resolved_only_by_address(estate):
    files, run = estate
    files["ops/bindings/services.health.yaml"]["endpoints"][0]["host"] = "web-home"
    found = run("governance-orphans")
    assert [(f.subject.name, f.field) for f in found] == [("app", "orphan")]
    assert "write host: web" in found[0].hint
    assert run("governance-health") == []  # the probe still counts: its URL is the guest's address


# ── duplicates ───────────────────────────────────────────────────────────────


def test_duplicate_backup_names_and_stack_ids(estate, tmp_path):
    files, run = estate
    files["ops/bindings/backup.inventory.yaml"]["targets"].append(dict(
        files["ops/bindings/backup.inventory.yaml"]["targets"][0]))
    files["docs/governance/STACK_REGISTRY.yaml"]["stacks"].append({"stack_id": "app", "path": "proxmox:vm-200"})
    found = run("governance-duplicates")
    assert sorted((f.subject.type, f.subject.name) for f in found) == [("backup-target", "vm-200-web"),
                                                                       ("registry-stack", "app")]
    assert all(len(f.sources) == 2 for f in found)


def test_duplicate_vmid_and_ssh_id_come_from_the_loaders(estate):
    files, run = estate
    files["ops/bindings/vm.lifecycle.yaml"]["vms"].append(dict(guest(files)))
    files["ops/bindings/ssh.targets.yaml"]["ssh"]["targets"].append({"id": "web", "host": "100.64.0.1"})
    invalid = [(f.rule, f.kind) for f in run() if f.kind is Kind.INVALID]
    assert sorted(invalid) == [("bindings-lifecycle", Kind.INVALID), ("bindings-ssh-targets", Kind.INVALID)]
    assert run("governance-duplicates") == []


# ── files, policy, renderers ─────────────────────────────────────────────────


def test_missing_optional_file_is_reported_not_a_crash(estate, tmp_path):
    files, run = estate
    files["ops/bindings/backup.inventory.yaml"] = None
    found = run()
    assert [(f.rule, f.subject.name, f.severity) for f in found] == [("governance-files", "not configured",
                                                                       Severity.INFO)]
    assert "ops/bindings/backup.inventory.yaml (backup checks are skipped)" in found[0].message
    matrix = run_check(site(tmp_path)).coverage
    assert matrix.rows[0].cells["backup"] is Cell.NA


def test_policy_rejects_unknown_rules_and_keys():
    with pytest.raises(ConfigError, match="did you mean 'governance-backup'"):
        governance_policy({"governance-bakup": {}})
    with pytest.raises(ConfigError, match="unknown key 'status'"):
        governance_policy({"governance-backup": {"status": ["active"]}})
    with pytest.raises(ConfigError, match="is not a valid Status"):
        governance_policy({"governance-ssh": {"statuses": ["running"]}})
    policy = governance_policy({"governance-ssh": False, "governance-backup": {"severity": "warning"}})
    assert policy.scope("governance-ssh").enabled is False
    assert policy.scope("governance-backup").severity is Severity.WARNING
    assert governance_policy().scope("governance-registry").sites == frozenset({"shop"})


def test_disabled_rule_gives_na_cells(estate, tmp_path):
    files, run = estate
    guest(files)["ssh_target"] = "nope"
    assert run("governance-ssh", rules={"governance-ssh": False}) == []
    write(tmp_path, files)
    bindings = load_governance(site(tmp_path))
    policy = governance_policy({"governance-ssh": False})
    matrix = coverage(bindings, policy, check_site(bindings, policy))
    assert matrix.rows[0].cells["ssh"] is Cell.NA


def test_renderers(estate, tmp_path):
    files, run = estate
    guest(files)["backup_target"] = "nope"
    run()
    matrix = run_check(site(tmp_path)).coverage
    text = coverage_text(matrix)
    assert text.splitlines()[-1] == "1 guests | 0 governed | 1 gaps"
    assert "MISS" in text and "backup_target 'nope'" in text
    assert coverage_markdown(matrix).startswith("| site | vmid | hostname | proxmox host | status | SSH |")
    assert '"gaps": 1' in coverage_json(matrix)
    table = run_parity([site(tmp_path)], sites=["shop", "home"])
    assert parity_text(table).splitlines()[0].split() == ["Category", "Shop", "Home", "Ratio", "Unassigned"]


def test_parity_configured_category_without_code(estate, tmp_path):
    files, _run = estate
    files["ops/bindings/secrets.namespaces.yaml"] = {"namespaces": {
        "/spine/shop/a": {}, "/spine/shop/b": {}, "/spine/home/c": {}, "/spine/home/d": {"enabled": False}}}
    write(tmp_path, files)
    (tmp_path / "docs/lessons").mkdir(parents=True)
    for name in ("shop-a.md", "home-b.md", "home-c.md"):
        (tmp_path / "docs/lessons" / name).write_text("x")
    rules = {"parity": {"categories": [
        {"name": "Secrets namespaces", "file": "ops/bindings/secrets.namespaces.yaml", "items": "namespaces",
         "match": {"home": "^/spine/home/", "shop": "^/spine/shop/"}, "count": "enabled"},
        {"name": "Lesson docs", "glob": "docs/lessons/*.md", "match": {"home": "home-"}, "default_site": "shop"},
    ], "host_sites": {"nas": "shop"}}}
    table = run_parity([site(tmp_path, rules=rules)], sites=["shop", "home"])
    rows = {r.category: r for r in table.rows}
    assert (rows["Secrets namespaces"].counts, rows["Secrets namespaces"].ratio(["shop", "home"])) == (
        {"shop": 2, "home": 1}, "2.0x")
    assert rows["Lesson docs"].counts == {"shop": 1, "home": 2}
    # host_sites puts the NAS's app backup at the shop: 2 enabled of 2
    assert rows["Backup inventory (enabled)"].cell("shop") == "2 of 2"
    with pytest.raises(ConfigError, match="set exactly one of file, glob"):
        run_parity([site(tmp_path, rules={"parity": {"categories": [{"name": "x"}]}})])
    # a mistyped file or items path is said, never a silent row of zeros
    typo = {"parity": {"categories": [{"name": "Secrets", "file": "ops/bindings/secret.namespaces.yaml"}]}}
    with pytest.raises(ConfigError, match=r"Secrets: file ops/bindings/secret\.namespaces\.yaml not found"):
        run_parity([site(tmp_path, rules=typo)])
    typo = {"parity": {"categories": [{"name": "Secrets", "file": "ops/bindings/secrets.namespaces.yaml",
                                       "items": "namespace"}]}}
    with pytest.raises(ConfigError, match="has no 'namespace'"):
        run_parity([site(tmp_path, rules=typo)])



def test_a_repo_with_only_the_lifecycle_is_adopting_not_drifting(estate, tmp_path):
    """Eight absent surfaces: one info finding, exit 0 from `check`, nothing to exempt."""
    files, run = estate
    for name in list(files):
        if name != "ops/bindings/vm.lifecycle.yaml":
            files[name] = None
    found = [f for f in run() if f.rule == "governance-files"]
    assert len(found) == 1 and found[0].severity is Severity.INFO and found[0].message.startswith("8 binding file")
    assert not found[0].actionable
