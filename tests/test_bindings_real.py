"""The user's real bindings (both dated snapshots) load without problems and key guests correctly."""

from __future__ import annotations

import pytest

from reconciler.bindings.lifecycle import load_lifecycle
from reconciler.bindings.placement import load_placement
from reconciler.model import GuestType, Status

DATES = ["2026-02-12", "2026-02-20"]


def _load(ref_data, date):
    root = ref_data / "spine-bindings" / date
    placement = load_placement(root / "ops/bindings/infra.placement.policy.yaml", root)
    lifecycle = load_lifecycle(root / "ops/bindings/vm.lifecycle.yaml", root,
                               placement.site_of_proxmox_host, default_site="unassigned")
    return placement, lifecycle


@pytest.mark.parametrize(("date", "count"), [("2026-02-12", 17), ("2026-02-20", 19)])
def test_real_lifecycle_loads_without_problems(ref_data, date, count):
    _, lifecycle = _load(ref_data, date)
    assert lifecycle.problems == ()
    assert len(lifecycle.guests) == count
    assert len({g.key for g in lifecycle.guests}) == count


@pytest.mark.parametrize("date", DATES)
def test_both_immich_guests_are_keyed_by_host_and_vmid(ref_data, date):
    placement, lifecycle = _load(ref_data, date)
    immich = sorted((g for g in lifecycle.guests if g.hostname == "immich"), key=lambda g: g.proxmox_host)
    assert [(g.proxmox_host, placement.site_of_proxmox_host(g.proxmox_host)) for g in immich] == [
        ("proxmox-home", "home"), ("pve", "shop")]
    assert {g.vmid for g in immich} == {101, 203}


def test_placement_policy_sites(ref_data):
    placement, _ = _load(ref_data, "2026-02-20")
    assert placement.sites["shop"].proxmox_hosts == ("pve",)
    assert placement.sites["shop"].vmid_range == (200, 299)
    assert placement.sites["home"].vmid_range == (100, 199)


def test_defaults_section_is_applied(ref_data):
    """Entries without proxmox_host inherit `defaults.proxmox_host: pve`; resources come from `resources:`."""
    _, lifecycle = _load(ref_data, "2026-02-20")
    docker_host = next(g for g in lifecycle.guests if g.vmid == 200)
    assert docker_host.proxmox_host == "pve"
    assert (docker_host.cpu_cores, docker_host.memory_mb, docker_host.boot_disk_gb) == (16, 98304, 300.0)
    assert docker_host.status is Status.ACTIVE and docker_host.vm_type is GuestType.QEMU
    assert docker_host.source.file == "ops/bindings/vm.lifecycle.yaml"
    text = (ref_data / "spine-bindings/2026-02-20/ops/bindings/vm.lifecycle.yaml").read_text().splitlines()
    assert text[docker_host.source.line - 1].strip() == "- id: 200"
    assert text[docker_host.source_of("memory_mb").line - 1].strip().startswith("memory_mb: 98304")


def test_both_schemas_id_and_vmid(ref_data):
    """2026-02-12 spells the key one way; both snapshots must give the same kind of integer vmids."""
    for date in DATES:
        _, lifecycle = _load(ref_data, date)
        assert all(isinstance(g.vmid, int) and g.vmid > 0 for g in lifecycle.guests)
