"""Golden tests on the user's real bindings (tests/data/spine-bindings, both dates), sockets blocked.

Every expected gap below was found by reading the YAML by hand; the comment next to it says why it
is a gap. `check` must report exactly these (no more, no fewer), each citing the lines given.
"""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.config import BINDING_FILES, SiteConfig
from reconciler.governance import run_check, run_coverage, run_parity
from reconciler.model import Kind, Severity
from reconciler.model.coverage import Cell
from reconciler.render.governance import coverage_markdown, coverage_text, parity_markdown

GOLDEN = Path(__file__).parent / "golden"
E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
LC, BK = "ops/bindings/vm.lifecycle.yaml", "ops/bindings/backup.inventory.yaml"
SR, ST = "docs/governance/SERVICE_REGISTRY.yaml", "docs/governance/STACK_REGISTRY.yaml"
HL, CT, SSH = "ops/bindings/services.health.yaml", "ops/bindings/docker.compose.targets.yaml", \
    "ops/bindings/ssh.targets.yaml"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Acceptance 4: check, coverage and parity touch no network — any socket use fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network use attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def cfg(ref_data: Path, site: str, date: str) -> SiteConfig:
    root = ref_data / "spine-bindings" / date
    return SiteConfig(name=site, path=root / f"{site}.yaml", bindings_root=root,
                      binding_paths={k: root / v for k, v in BINDING_FILES.items()})


def found(ref_data, site, date):
    result = run_check(cfg(ref_data, site, date))
    assert all(f.kind is Kind.PARITY for f in result.findings), "the real bindings load without invalid items"
    return {(f.rule, f.subject.vmid or f.subject.name, f.field, f.severity, tuple(map(str, f.sources)))
            for f in result.findings}, result


# Shared by both dates (the lines move by two: 2026-02-20 added a two-line header).
def backup_target_gaps(shift: int):
    # vm.lifecycle.yaml backup_target names that backup.inventory.yaml does not have: the inventory spells
    # them with the hostname (vm-206-dev-tools-primary …); each finding also cites that covering target.
    rows = [(206, 226, 51), (207, 253, 87), (209, 300, 69), (210, 333, 78), (211, 367, 96)]
    return {("governance-backup", vmid, "backup_target", E, (f"{LC}:{lc + shift}", f"{BK}:{bk + shift}"))
            for vmid, lc, bk in rows}


EXPECTED_SHOP_0212 = backup_target_gaps(0) | {
    # SERVICE_REGISTRY hosts.docker-host has no vmid (and no proxmox_host); vm.lifecycle.yaml says 200.
    ("governance-registry", 200, "registry.vmid", E, (f"{SR}:692", f"{LC}:28")),
    # docker-host's compose target declares stack 'storage'; VM 200's `stacks:` in the lifecycle does not list it.
    ("governance-compose", 200, "lifecycle.stacks.storage", E, (f"{CT}:17", f"{LC}:45")),
    # VM 202 declares stack 'automation'; STACK_REGISTRY calls it automation-stack / n8n (warning).
    ("governance-stack-registry", 202, "stack_registry.automation", W, (f"{LC}:88",)),
    # VM 204 declares stack 'cloudflared'; STACK_REGISTRY calls it cloudflare-tunnel (warning).
    ("governance-stack-registry", 204, "stack_registry.cloudflared", W, (f"{LC}:151",)),
}
EXPECTED_HOME_0212 = {
    # services.health.yaml probe 'vaultwarden-home' uses host 'vaultwarden-home', which is no ssh target id
    # and no hostname; its URL 100.93.142.63 is VM 102's tailscale_ip (ssh target 'vault').
    ("governance-orphans", "vaultwarden-home", "orphan", W, (f"{HL}:312", f"{LC}:463")),
}
# Not gaps on 2026-02-12 (checked by hand): every active guest's ssh target exists with host = its
# tailscale_ip; every active guest has an enabled vzdump target of its type; every docker guest has a
# probe; every stack is under its compose target; the stopped home guests (101, 103, 105) and the
# registry at home are out of scope by default; the template 9000 is exempt from the VMID range.

EXPECTED_SHOP_0220 = backup_target_gaps(2) | {
    ("governance-registry", 200, "registry.vmid", E, (f"{SR}:694", f"{LC}:30")),
    ("governance-compose", 200, "lifecycle.stacks.storage", E, (f"{CT}:19", f"{LC}:47")),
    # SERVICE_REGISTRY says immich's ssh_user is ubuntu; ssh.targets.yaml (and the lifecycle) say ronny.
    ("governance-registry", 203, "registry.ssh_user", E, (f"{SR}:736", f"{SSH}:115", f"{LC}:116")),
    ("governance-stack-registry", 202, "stack_registry.automation", W, (f"{LC}:90",)),
    ("governance-stack-registry", 204, "stack_registry.cloudflared", W, (f"{LC}:153",)),
    # STACK_REGISTRY has two entries with stack_id finance (the old one and the VM 211 one).
    ("governance-duplicates", "finance", "duplicate", E, (f"{ST}:52", f"{ST}:355")),
}
EXPECTED_HOME_0220 = {
    # Home VMs 101, 102 and LXC 103 were decommissioned; their entries stay, disabled (info, not gaps).
    ("governance-orphans", "home-vm-102-vaultwarden-primary", "orphan", I, (f"{BK}:170", f"{LC}:519")),
    ("governance-orphans", "home-lxc-103-download-primary", "orphan", I, (f"{BK}:180", f"{LC}:549")),
    ("governance-orphans", "home-vm-101-immich-primary", "orphan", I, (f"{BK}:190", f"{LC}:494")),
    ("governance-orphans", "vaultwarden-home", "orphan", I, (f"{CT}:139", f"{LC}:519")),
    ("governance-orphans", "vaultwarden-home", "orphan", I, (f"{HL}:351", f"{LC}:519")),
}


@pytest.mark.network_blocked
@pytest.mark.parametrize(("site", "date", "expected"), [
    ("shop", "2026-02-12", EXPECTED_SHOP_0212), ("home", "2026-02-12", EXPECTED_HOME_0212),
    ("shop", "2026-02-20", EXPECTED_SHOP_0220), ("home", "2026-02-20", EXPECTED_HOME_0220),
])
def test_check_reports_exactly_the_hand_verified_gaps(ref_data, site, date, expected):
    got, _ = found(ref_data, site, date)
    assert got - expected == set(), "unexpected findings"
    assert expected - got == set(), "expected findings not reported"


@pytest.mark.parametrize("date", ["2026-02-12", "2026-02-20"])
def test_cited_lines_hold_what_the_findings_say(ref_data, date):
    """Spot-check: the first source of each backup_target finding is the line that names the bad target."""
    _, result = found(ref_data, "shop", date)
    text = (ref_data / "spine-bindings" / date / LC).read_text().splitlines()
    inventory = (ref_data / "spine-bindings" / date / BK).read_text().splitlines()
    backup = [f for f in result.findings if f.field == "backup_target"]
    assert len(backup) == 5
    for finding in backup:
        assert text[finding.sources[0].line - 1].strip() == f"backup_target: vm-{finding.subject.vmid}-primary"
        assert inventory[finding.sources[1].line - 1].strip().startswith(f"- name: vm-{finding.subject.vmid}-")


def test_exit_codes_follow_actionable_findings(ref_data):
    # shop has errors → 1; home on 2026-02-20 has only info findings → 0
    assert int(run_check(cfg(ref_data, "shop", "2026-02-12")).exit_code) == 1
    assert int(run_check(cfg(ref_data, "home", "2026-02-20")).exit_code) == 0


def test_registry_required_at_home_when_configured(ref_data):
    """Home guests without registry entries, once the site requires them: the active ones, 100 and 102."""
    home = cfg(ref_data, "home", "2026-02-12")
    home = replace(home, rules={"governance-registry": {"sites": ["shop", "home"]}})
    result = run_check(home)
    missing = sorted(f.subject.vmid for f in result.findings if f.rule == "governance-registry")
    assert missing == [100, 102]


# ── acceptance 2: the coverage matrix of 2026-02-12 ─────────────────────────

# Hand-checked: (vmid, SSH, registry, backup, health, compose). Registry is n.a. at home (shop-only
# policy); health and compose are n.a. for 100 (HA OS: no stacks); stopped, decommissioned and template
# guests are n.a. everywhere; 200 misses its registry vmid and the lifecycle lacks its compose stack 'storage';
# 206-211 miss their backup_target names.
EXPECTED_CELLS_0212 = {
    100: "OK n.a. OK n.a. n.a.", 101: "n.a. n.a. n.a. n.a. n.a.", 102: "OK n.a. OK OK OK",
    103: "n.a. n.a. n.a. n.a. n.a.", 105: "n.a. n.a. n.a. n.a. n.a.",
    200: "OK MISS OK OK MISS", 201: "n.a. n.a. n.a. n.a. n.a.", 202: "OK OK OK OK OK", 203: "OK OK OK OK OK",
    204: "OK OK OK OK OK", 205: "OK OK OK OK OK", 206: "OK OK MISS OK OK", 207: "OK OK MISS OK OK",
    209: "OK OK MISS OK OK", 210: "OK OK MISS OK OK", 211: "OK OK MISS OK OK", 9000: "n.a. n.a. n.a. n.a. n.a.",
}


def test_coverage_matrix_2026_02_12_matches_the_hand_checked_table(ref_data):
    date = "2026-02-12"
    matrix = run_coverage([cfg(ref_data, "home", date), cfg(ref_data, "shop", date)], include_all=True)
    cells = {r.vmid: " ".join(r.cells[s].value for s in matrix.surfaces) for r in matrix.rows}
    assert cells == EXPECTED_CELLS_0212
    # 17 guests; governed = in scope with no MISS: 100, 102, 202, 203, 204, 205; gaps = 2 + 5 MISS cells
    assert matrix.summary == "17 guests | 6 governed | 7 gaps"
    assert int(matrix.exit_code) == 1
    assert coverage_text(matrix) == (GOLDEN / "coverage-2026-02-12.txt").read_text()
    assert coverage_markdown(matrix) == (GOLDEN / "coverage-2026-02-12.md").read_text()


def test_coverage_default_rows_are_the_guests_in_scope(ref_data):
    """Without --all only guests some surface applies to: the 10 active shop VMs and home 100, 102."""
    date = "2026-02-12"
    matrix = run_coverage([cfg(ref_data, "shop", date), cfg(ref_data, "home", date)])
    assert sorted(r.vmid for r in matrix.rows) == [100, 102, 200, 202, 203, 204, 205, 206, 207, 209, 210, 211]
    assert matrix.summary == "12 guests | 6 governed | 7 gaps"
    assert all(r.cells["registry"] is Cell.NA for r in matrix.rows if r.site == "home")


# ── acceptance 3: the parity table ───────────────────────────────────────────


def parity(ref_data, date):
    table = run_parity([cfg(ref_data, "shop", date), cfg(ref_data, "home", date)])
    return table, {r.category: ([r.cell(s) for s in table.sites], r.ratio(table.sites), r.unassigned)
                   for r in table.rows}


def test_parity_2026_02_12_hand_derived(ref_data):
    table, rows = parity(ref_data, "2026-02-12")
    assert table.sites == ("shop", "home")  # placement sites with Proxmox hosts (mobile has none)
    # SSH targets — shop: docker-host, pve, automation-stack, infra-core, observability, dev-tools,
    # download-stack, streaming-stack, ai-consolidation, immich, finance-stack + 5 lan-only *-shop
    # devices (tag shop) = 16; home: proxmox-home, nas (placement site home), vault (VM 102), ha (VM 100),
    # pihole-home (LXC 105), download-home (LXC 103) = 6.
    assert rows["SSH targets"] == (["16", "6"], "2.7x", 0)
    # Compose targets — 10 shop VMs; home: vaultwarden-home (ssh_target vault → VM 102).
    assert rows["Docker compose targets"] == (["10", "1"], "10.0x", 0)
    # Lifecycle — shop: 10 active + 201 decommissioned + 9000 template = 12; home: 100-103, 105 = 5.
    assert rows["VM lifecycle entries"] == (["12", "5"], "2.4x", 0)
    # Backup — shop: 10 pve vzdump targets (enabled) + vm-200-docker-host-offsite (vmid 200, disabled) +
    # app-n8n-workflows (host automation-stack, enabled) = 11 of 12; home: the 5 home-* targets, 100 and
    # 102 enabled = 2 of 5; 10 entries on the NAS name no guest (offsite-critical, 7 app-*, device, asset):
    # storage shared by both sites, unassigned. Ratio of enabled: 11/2.
    assert rows["Backup inventory (enabled)"] == (["11 of 12", "2 of 5"], "5.5x", 10)
    # Health — 44 shop probes (the seed's own count; 4 of them disabled); home: home-assistant, vaultwarden-home
    # (its URL is VM 102's address), pihole-home = 3.
    assert rows["Health probes"] == (["44", "3"], "14.7x", 0)
    assert parity_markdown(table).splitlines()[0] == "| Category | Shop | Home | Ratio | Unassigned |"


def test_parity_2026_02_20_hand_derived(ref_data):
    _, rows = parity(ref_data, "2026-02-20")
    # SSH: +mint-data, +mint-apps at the shop (18); home lost vault and download-home, gained udr-home (5).
    assert rows["SSH targets"] == (["18", "5"], "3.6x", 0)
    # Compose: +mint-data, +mint-apps (12); vaultwarden-home is still an entry (disabled) at home.
    assert rows["Docker compose targets"] == (["12", "1"], "12.0x", 0)
    # Lifecycle: +212, +213 at the shop; home keeps its 5 entries (3 of them decommissioned).
    assert rows["VM lifecycle entries"] == (["14", "5"], "2.8x", 0)
    # Backup: +vm-212, +vm-213 (enabled) → 13 of 14; home: 100 and 105 enabled now, 101-103 disabled.
    assert rows["Backup inventory (enabled)"] == (["13 of 14", "2 of 5"], "6.5x", 10)
    # Health: +5 mint probes (mint-modules-minio, files-api-v2, quote-page-v2, order-intake-v2,
    # finance-adapter) = 49; home unchanged at 3 entries.
    assert rows["Health probes"] == (["49", "3"], "16.3x", 0)


# ── the same, through the command line ───────────────────────────────────────


def site_files(tmp_path: Path, ref_data: Path, date: str) -> Path:
    """Site files for shop and home on one dated snapshot (bindings only: no API, no snapshot)."""
    root = ref_data / "spine-bindings" / date
    sites = tmp_path / "sites"
    sites.mkdir()
    for name in ("shop", "home"):
        (sites / f"{name}.yaml").write_text(f"site: {name}\nbindings_root: {root}\nproxmox: []\n")
    return sites


@pytest.mark.parametrize(("site", "date", "expected"), [
    ("shop", "2026-02-12", EXPECTED_SHOP_0212), ("home", "2026-02-20", EXPECTED_HOME_0220),
])
def test_check_command_reports_the_hand_verified_gaps(cli, ref_data, tmp_path, site, date, expected):
    result = cli("--sites-dir", site_files(tmp_path, ref_data, date), "check", "--site", site, "-f", "json")
    report = json.loads(result.out)
    got = {(f["rule"], f["subject"]["vmid"] or f["subject"]["name"], f["field"], Severity(f["severity"]),
            tuple(f["sources"])) for f in report["findings"]}
    assert got == expected
    assert result.code == (1 if any(e[3] is not I for e in expected) else 0)


def test_coverage_command_prints_the_golden_table(cli, ref_data, tmp_path):
    sites = site_files(tmp_path, ref_data, "2026-02-12")
    result = cli("--sites-dir", sites, "coverage", "--site", "home", "--site", "shop", "--all")
    assert result.out == (GOLDEN / "coverage-2026-02-12.txt").read_text()
    assert result.code == 1
    markdown = cli("--sites-dir", sites, "coverage", "--site", "home", "--site", "shop", "--all", "-f", "markdown")
    assert markdown.out == (GOLDEN / "coverage-2026-02-12.md").read_text()
    data = json.loads(cli("--sites-dir", sites, "coverage", "--site", "shop", "-f", "json").out)
    assert {row["vmid"] for row in data["rows"]} >= {200, 206, 211}


def test_parity_command_prints_the_seed_table(cli, ref_data, tmp_path):
    result = cli("--sites-dir", site_files(tmp_path, ref_data, "2026-02-20"), "parity", "--sites", "shop,home")
    assert result.code == 0
    rows = {line.split("  ")[0]: line.split() for line in result.out.splitlines()[2:]}
    assert rows["SSH targets"][-4:] == ["18", "5", "3.6x", "0"]
    assert rows["Health probes"][-4:] == ["49", "3", "16.3x", "0"]
    assert result.out.splitlines()[0].split() == ["Category", "Shop", "Home", "Ratio", "Unassigned"]
