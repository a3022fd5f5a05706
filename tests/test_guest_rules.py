"""The guest rules as pure functions: declared × live → findings (no I/O, nothing mocked)."""

from __future__ import annotations

from dataclasses import replace

from reconciler.errors import ExitCode
from reconciler.model import (
    AuditScope,
    Declared,
    DeclaredGuest,
    Gap,
    GuestType,
    Kind,
    LiveGuest,
    LiveState,
    ProxmoxObservation,
    Reason,
    SiteScope,
    SourceRef,
    Status,
)
from reconciler.model.report import exit_code_for
from reconciler.rules import RuleContext
from reconciler.rules.registry import GUEST_RULES, run_rules

SCOPE = SiteScope(site="home", proxmox_hosts=frozenset({"proxmox-home"}))
SEE_ALL = AuditScope(known=True, everything=True)


def declared(vmid: int, name: str, status: Status = Status.ACTIVE, host: str = "proxmox-home", **kw) -> DeclaredGuest:
    return DeclaredGuest(proxmox_host=host, vmid=vmid, hostname=name, status=status,
                         vm_type=kw.pop("vm_type", GuestType.QEMU), source=SourceRef("vm.lifecycle.yaml", vmid), **kw)


def live(vmid: int, name: str, status: str = "running", host: str = "proxmox-home", **kw) -> LiveGuest:
    return LiveGuest(proxmox_host=host, node=kw.pop("node", "pve"), vmid=vmid,
                     vm_type=kw.pop("vm_type", GuestType.QEMU), name=name, status=status, **kw)


def observe(*guests: LiveGuest, host: str = "proxmox-home", **kw) -> ProxmoxObservation:
    return ProxmoxObservation(proxmox_host=host, site="home", listed=True, guests=guests,
                              audit=kw.pop("audit", SEE_ALL), **kw)


def findings(guests, *observations, scope=SCOPE):
    ctx = RuleContext(scope=scope, declared=Declared(guests=tuple(guests)), live=LiveState(proxmox=observations))
    return list(run_rules(ctx, GUEST_RULES))


def kinds(result):
    return sorted((f.kind.value, f.subject.vmid, f.field) for f in result)


def test_clean_estate_has_no_findings_and_exit_0():
    result = findings([declared(101, "immich", cpu_cores=4)], observe(live(101, "immich", cores=4)))
    assert result == []
    assert exit_code_for(result, []) is ExitCode.OK


def test_unregistered_and_missing():
    result = findings([declared(101, "immich")], observe(live(102, "stray")))
    assert kinds(result) == [("missing", 101, None), ("unregistered", 102, None)]
    assert exit_code_for(result, []) is ExitCode.DRIFT


def test_same_hostname_on_another_site_is_not_a_match():
    """immich exists on both sites: keyed by (Proxmox host, vmid), never by hostname."""
    guests = [declared(101, "immich"), declared(203, "immich", host="pve")]
    result = findings(guests, observe(live(101, "immich")), observe(live(203, "immich", host="pve"), host="pve"))
    assert result == []


def test_each_drift_field_cites_its_line():
    guest = declared(101, "immich", cpu_cores=4, memory_mb=8192, boot_disk_gb=32.0, lan_ip="10.0.0.5",
                     field_lines={"hostname": 201, "cpu_cores": 205, "memory_mb": 206, "boot_disk_gb": 207,
                                  "lan_ip": 203, "status": 202})
    running = live(101, "immich-2", cores=2, memory_mb=4096, boot_disk_gb=64.0, ips=("10.0.0.9",))
    result = {f.field: f for f in findings([guest], observe(running))}
    assert set(result) == {"name", "cpu_cores", "memory_mb", "boot_disk_gb", "lan_ip"}
    assert [str(result[f].sources[0]) for f in ("name", "cpu_cores", "memory_mb", "boot_disk_gb", "lan_ip")] == [
        "vm.lifecycle.yaml:201", "vm.lifecycle.yaml:205", "vm.lifecycle.yaml:206", "vm.lifecycle.yaml:207",
        "vm.lifecycle.yaml:203"]
    assert (result["memory_mb"].declared, result["memory_mb"].live) == (8192, 4096)


def test_disk_within_tolerance_is_not_drift():
    guest = declared(101, "a", boot_disk_gb=32.0)
    assert findings([guest], observe(live(101, "a", boot_disk_gb=32.5))) == []
    assert kinds(findings([guest], observe(live(101, "a", boot_disk_gb=34.0)))) == [("drifted", 101, "boot_disk_gb")]


def test_type_power_template():
    guests = [declared(101, "a", vm_type=GuestType.LXC), declared(102, "b", Status.STOPPED),
              declared(103, "c", Status.TEMPLATE)]
    lives = observe(live(101, "a"), live(102, "b"), live(103, "c", status="stopped", template=False))
    assert kinds(findings(guests, lives)) == [("drifted", 101, "type"), ("drifted", 102, "power"),
                                              ("drifted", 103, "template")]


def test_lan_ip_only_compared_when_addresses_are_known():
    guest = declared(101, "a", lan_ip="10.0.0.5")
    assert findings([guest], observe(live(101, "a", ips=None))) == []
    assert findings([guest], observe(live(101, "a", ips=("10.0.0.5", "100.64.0.1")))) == []


def test_lingering_planning_and_placement():
    guests = [declared(104, "old", Status.DECOMMISSIONED), declared(105, "new", Status.PLANNING),
              declared(120, "moved", host="proxmox-home")]
    scope = SiteScope(site="home", proxmox_hosts=frozenset({"proxmox-home", "proxmox-lab"}))
    result = findings(guests, observe(live(104, "old"), live(105, "new", status="stopped")),
                      observe(live(120, "moved", host="proxmox-lab"), host="proxmox-lab"), scope=scope)
    assert kinds(result) == [("drifted", 104, "lingering"), ("drifted", 105, "planning_live"),
                             ("drifted", 120, "placement")]


def test_decommissioned_and_absent_is_fine():
    assert findings([declared(104, "old", Status.DECOMMISSIONED)], observe()) == []


def test_node_offline_is_unknown_never_missing():
    guests = [declared(101, "a"), declared(102, "b")]
    obs = observe(live(101, "a", status="unknown", node="pve2"), offline_nodes=frozenset({"pve2"}),
                  gaps=(Gap("node", Reason.NODE_OFFLINE, "node pve2 is offline", proxmox_host="proxmox-home",
                            node="pve2"),))
    result = findings(guests, obs)
    assert {f.kind for f in result} == {Kind.UNKNOWN}
    # one finding for the cause (the node), naming both guests it hides: 101 on it, 102 absent while it is off
    assert [(f.subject.vmid, f.reason) for f in result] == [(None, "node_offline")]
    assert result[0].hides == ("home/qemu/proxmox-home/101", "home/qemu/proxmox-home/102")
    assert "hides 2 declared guest(s): 101 (a), 102 (b)" in result[0].message
    assert exit_code_for(result, []) is ExitCode.UNOBSERVED


def test_guest_the_token_cannot_audit_is_unknown_no_permission():
    obs = observe(live(101, "a"), audit=AuditScope(known=True, vmids=frozenset({101})))
    result = findings([declared(101, "a"), declared(102, "b")], obs)
    assert [(f.kind, f.subject.vmid, f.reason) for f in result] == [(Kind.UNKNOWN, 102, "no_permission")]


def test_permissions_unreadable_means_no_absence_is_trusted():
    result = findings([declared(102, "b")], observe(audit=AuditScope(known=False)))
    assert [(f.kind, f.reason) for f in result] == [(Kind.UNKNOWN, "no_permission")]


def test_failed_host_makes_its_guests_unknown():
    failed = ProxmoxObservation(proxmox_host="proxmox-home", site="home", listed=False,
                                gaps=(Gap("host", Reason.API_TIMEOUT, "no answer", proxmox_host="proxmox-home"),))
    result = findings([declared(101, "a")], failed)
    assert {(f.kind, f.reason) for f in result} == {(Kind.UNKNOWN, "api_timeout")}
    assert not any(f.kind is Kind.MISSING for f in result)


def test_agent_failure_makes_lan_ip_unknown():
    guest = declared(101, "a", lan_ip="10.0.0.5")
    obs = observe(live(101, "a"), gaps=(Gap("guest_ips", Reason.AGENT_NOT_RUNNING, "agent down",
                                            proxmox_host="proxmox-home", vmid=101),))
    result = findings([guest], obs)
    assert [(f.kind, f.field, f.reason) for f in result] == [(Kind.UNKNOWN, "lan_ip", "agent_not_running")]


def test_host_of_other_site_is_ignored():
    other = observe(live(300, "x", host="pve"), host="pve")
    assert findings([], other) == []


def test_finding_ids_are_stable_and_distinct():
    guest = declared(101, "a", cpu_cores=4, memory_mb=1024)
    running = live(101, "a", cores=2, memory_mb=512)
    first, second = findings([guest], observe(running)), findings([replace(guest)], observe(running))
    assert [f.id for f in first] == [f.id for f in second]
    assert len({f.id for f in first}) == 2


def test_address_gaps_only_for_this_sites_compared_guests():
    """Another site's host in a shared snapshot, and a lingering guest, give no lan_ip `unknown`."""
    def gap(vmid, host):
        return Gap("guest_ips", Reason.AGENT_NOT_RUNNING, "agent down", proxmox_host=host, vmid=vmid)

    guests = [declared(101, "a", lan_ip="192.0.2.1"), declared(102, "old", status=Status.DECOMMISSIONED,
                                                                 lan_ip="192.0.2.2"),
              declared(201, "shop", host="pve", lan_ip="192.0.2.3")]
    result = findings(guests, observe(live(101, "a"), live(102, "old"), gaps=(gap(101, "proxmox-home"),
                                                                               gap(102, "proxmox-home"))),
                      observe(live(201, "shop", host="pve"), host="pve", gaps=(gap(201, "pve"),)))
    assert [(f.subject.vmid, f.field) for f in result if f.kind is Kind.UNKNOWN] == [(101, "lan_ip")]
    assert (102, "lingering") in [(f.subject.vmid, f.field) for f in result]
