"""Acceptance 1: consecutive nightly runs against fake Proxmox APIs (real HTTPS on 127.0.0.1) mark findings new,
persisting (first-seen date kept) and resolved; a host that stops answering turns its findings unobserved —
never resolved — and they come back as persisting, with their first-seen date, once it answers again.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from reconciler.model import Finding, Kind, Reason, SourceStatus, Subject
from reconciler.model.nightly import Mark
from reconciler.nightly.marks import blind_spots, mark_absent, mark_current, previous_entries
from tests.test_e2e_proxmox import CLEAN_ALPHA, CLEAN_BETA, SECRET, SECRET_ENV, start, write_estate

NIGHTS = ("2026-11-01T03:00:00Z", "2026-11-02T03:00:00Z", "2026-11-03T03:00:00Z")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    yield tmp_path


def night(cli: Any, sites: Path, state: Path, out: Path, when: str) -> tuple[int, dict[str, Any]]:
    result = cli("report", "--sites-dir", sites, "--site", "lab", "--state-dir", state, "--skip-ssh",
                 "--output", f"json:{out}", "--now", when)
    assert "Traceback" not in result.err and "error" not in result.err, result.err
    return result.code, json.loads(out.read_text())


def marks(report: dict[str, Any], governance: bool = False) -> dict[str, tuple[str, str]]:
    """address → (mark, first-seen day) of the reported guest findings (or only the governance ones)."""
    return {f["address"]: (f["mark"], f["first_seen"][:10]) for f in report["findings"]
            if (f["subject"]["type"] == "binding") == governance}


def addresses(report: dict[str, Any], group: str) -> set[str]:
    return {f["address"] for f in report[group]}


def test_new_persisting_resolved_and_unreachable_host_is_not_resolved(cli, env: Path) -> None:
    alpha = copy.deepcopy(CLEAN_ALPHA)
    alpha["guests"][0]["memory_mb"] = 4096  # 100 gateway: declared 2048 → drifted, stays all three nights
    alpha["guests"][2]["status"] = "running"  # 102 cold: declared stopped → drifted power, fixed on night 2
    beta = copy.deepcopy(CLEAN_BETA)
    beta["guests"][0]["name"] = "builder-old"  # 200: declared builder → drifted name; beta goes away on night 2
    state, out = env / "state", env / "report.json"
    with ExitStack() as stack:
        servers = {"alpha": start(stack, alpha), "beta": start(stack, beta)}
        # pinned fingerprints, not ca_file: a stopped fake deletes its certificate file
        estate = write_estate(env / "n1", servers, tls="fingerprint")
        code1, first = night(cli, estate.sites, state, out, NIGHTS[0])

        # between the nights: 102 is stopped again, an undeclared container 150 appears, beta stops answering
        live_alpha = servers["alpha"].estate
        live_alpha.guest(102).status = "stopped"
        live_alpha.guests.append(copy.deepcopy(live_alpha.guest(101)))
        live_alpha.guests[-1].vmid, live_alpha.guests[-1].name = 150, "scratch"
        servers["beta"].stop()
        code2, second = night(cli, estate.sites, state, out, NIGHTS[1])

        # night 3: beta answers again (a fresh server: new port and certificate, so a new site file)
        servers["beta"] = start(stack, beta)
        estate = write_estate(env / "n3", servers, tls="fingerprint")
        code3, third = night(cli, estate.sites, state, out, NIGHTS[2])

    drift_memory, drift_power, drift_name = ("lab/qemu/alpha/100/drifted/memory_mb", "lab/qemu/alpha/102/drifted/power",
                                             "lab/qemu/beta/200/drifted/name")
    assert (code1, code2, code3) == (1, 1, 1)
    assert marks(first) == {drift_memory: ("new", "2026-11-01"), drift_power: ("new", "2026-11-01"),
                            drift_name: ("new", "2026-11-01")}
    assert first["previous_run"] is None and first["resolved"] == [] and first["unobserved"] == []
    # the governance part runs too (these bindings lack the optional files): unchanged → persisting
    assert marks(first, governance=True) and all(m == "new" for m, _ in marks(first, governance=True).values())

    # night 2: persisting keeps its first-seen date, the fix is resolved, the new guest is new,
    # and beta's drift is carried as unobserved: beta's one unknown finding (the cause) is what is new about it,
    # naming the declared guests it hides
    assert marks(second)[drift_memory] == ("persisting", "2026-11-01")
    assert marks(second)["lab/lxc/alpha/150/unregistered"] == ("new", "2026-11-02")
    assert {a for a, (m, _) in marks(second).items() if m == "new"} == {
        "lab/lxc/alpha/150/unregistered", "lab/host/beta/unknown"}
    outage = next(f for f in second["findings"] if f["address"] == "lab/host/beta/unknown")
    assert outage["hides"] == ["lab/qemu/beta/200"] and "hides 1 declared guest(s): 200 (builder)" in outage["message"]
    assert addresses(second, "resolved") == {drift_power}
    assert addresses(second, "unobserved") == {drift_name}
    carried = second["unobserved"][0]
    assert carried["mark"] == "unobserved" and carried["first_seen"] == NIGHTS[0]
    assert carried["last_seen"] == NIGHTS[0] and "unknown tonight" in carried["unobserved_reason"]
    assert set(marks(second, governance=True).values()) == {("persisting", "2026-11-01")}
    assert second["changes"]["resolved"] == 1 and second["changes"]["unobserved"] == 1
    beta_source = next(s for s in second["sources"] if s["name"] == "proxmox:beta")
    assert beta_source["status"] == "failed"

    # night 3: beta is back; its drift is persisting since night 1 (never resolved, never new again)
    assert marks(third)[drift_name] == ("persisting", "2026-11-01")
    assert marks(third)[drift_memory] == ("persisting", "2026-11-01")
    assert marks(third)["lab/lxc/alpha/150/unregistered"] == ("persisting", "2026-11-02")
    # and the end of the outage is not a fix: nothing resolved
    assert addresses(third, "resolved") == set() and third["changes"]["resolved"] == 0
    assert third["unobserved"] == []


def test_node_offline_carries_its_guests_findings_as_unobserved(cli, env: Path) -> None:
    alpha = copy.deepcopy(CLEAN_ALPHA)
    alpha["guests"][0]["memory_mb"] = 4096
    state, out = env / "state", env / "report.json"
    with ExitStack() as stack:
        servers = {"alpha": start(stack, alpha), "beta": start(stack, CLEAN_BETA)}
        estate = write_estate(env, servers)
        night(cli, estate.sites, state, out, NIGHTS[0])
        servers["alpha"].estate.set_node_status("pve", "offline")
        code, report = night(cli, estate.sites, state, out, NIGHTS[1])
    assert addresses(report, "unobserved") == {"lab/qemu/alpha/100/drifted/memory_mb"}
    assert report["resolved"] == []
    assert "node_offline" in report["unobserved"][0]["unobserved_reason"]
    assert code == 3  # nothing to act on was seen (the absent binding files are info), something was not seen


# ── what counts as "not observed" (pure) ─────────────────────────────────────


def finding_json(site: str, **subject: Any) -> dict[str, Any]:
    fields = {"type": "qemu", "site": site, "proxmox_host": None, "vmid": None, "name": None, "target": None}
    return {"subject": {**fields, **subject}, "field": subject.pop("field", None)}


def test_blind_spots_decide_per_subject_and_site() -> None:
    unknown_guest_ips = Finding(Kind.UNKNOWN, "guest-unknown", Subject("qemu", "home", "pve", 101), "m",
                                field="lan_ip", reason=Reason.AGENT_NOT_RUNNING.value)
    unknown_docker = Finding(Kind.UNKNOWN, "stack-unknown", Subject("host", "home", target="dock"), "m",
                             reason=Reason.SSH_TIMEOUT.value)
    failed = SourceStatus("proxmox", "pve2", "home", "failed", Reason.API_ERROR, "refused")
    blind = blind_spots(["home"], [unknown_guest_ips, unknown_docker], [failed])
    # unreadable addresses hide only the address comparison of that guest, not its other fields
    assert blind.reason_for({**finding_json("home", proxmox_host="pve", vmid=101), "field": "lan_ip"})
    assert blind.reason_for({**finding_json("home", proxmox_host="pve", vmid=101), "field": "memory_mb"}) is None
    assert blind.reason_for(finding_json("home", type="stack", target="dock", name="app"))
    assert blind.reason_for(finding_json("home", proxmox_host="pve2", vmid=5))
    assert blind.reason_for(finding_json("home", proxmox_host="pve", vmid=102)) is None
    assert "not part of this run" in str(blind.reason_for(finding_json("shop", proxmox_host="pve", vmid=201)))


def _previous(site: str, kind: str, last_seen: str, **subject: Any) -> dict[str, Any]:
    return {**finding_json(site, **subject), "id": f"{site}-{kind}-{subject.get('vmid')}", "kind": kind,
            "first_seen": "2026-09-01T03:00:00Z", "last_seen": last_seen}


def test_the_end_of_an_outage_is_not_resolved_and_old_sites_are_forgotten() -> None:
    blind = blind_spots(["home"], [], [])
    before = {e["id"]: e for e in (
        _previous("home", "unknown", "2026-11-01T03:00:00Z", type="host", proxmox_host="pve"),  # outage over
        _previous("home", "drifted", "2026-11-01T03:00:00Z", proxmox_host="pve", vmid=101),  # really fixed
        _previous("shop", "drifted", "2026-10-25T03:00:00Z", proxmox_host="pve2", vmid=201),  # 7 days: kept
        _previous("shop", "drifted", "2026-09-20T03:00:00Z", proxmox_host="pve2", vmid=202),  # 42 days: forgotten
    )}
    resolved, unobserved = mark_absent(before, set(), blind, "2026-11-01T03:00:00Z", forget_after_days=30)
    assert [t.data["id"] for t in resolved] == ["home-drifted-101"]
    assert [t.data["id"] for t in unobserved] == ["shop-drifted-201"]
    _, kept = mark_absent(before, set(), blind, "2026-11-01T03:00:00Z", forget_after_days=60)
    assert [t.data["id"] for t in kept] == ["shop-drifted-201", "shop-drifted-202"]


def test_a_report_written_with_the_older_guest_address_keeps_its_findings_persisting() -> None:
    """Before addresses carried the Proxmox host (`lab/qemu/200/...`): the upgrade must not read as fixes."""
    old_address = "lab/qemu/200/drifted/memory_mb"
    old_id = hashlib.sha256(f"{old_address}|guest-drift|alpha|".encode()).hexdigest()[:16]
    subject = {"type": "qemu", "site": "lab", "proxmox_host": "alpha", "vmid": 200, "name": "web", "target": None}
    previous = {"generated_at": "2026-11-01T03:00:00Z", "findings": [
        {"id": old_id, "address": old_address, "kind": "drifted", "rule": "guest-drift", "subject": subject,
         "field": "memory_mb", "first_seen": "2026-10-01T03:00:00Z"}]}
    tonight = Finding(Kind.DRIFTED, "guest-drift", Subject("qemu", "lab", "alpha", 200, "web"), "m", field="memory_mb")
    before = previous_entries(previous)
    assert list(before) == [tonight.id] and tonight.id != old_id
    assert mark_current({}, tonight, before, "2026-11-02T03:00:00Z", None).mark is Mark.PERSISTING
    assert mark_absent(before, {tonight.id}, blind_spots(["lab"], [], [])) == ([], [])


def test_a_backup_outage_hides_what_it_names_not_its_hosts_guests() -> None:
    """The scheduler of node pve is down: its jobs are not observed tonight, the host's guests still are."""
    down = Finding(Kind.UNKNOWN, "backup-run", Subject("host", "shop", "pve", target="pve", name="pve"), "m",
                   reason=Reason.SCHEDULER_DOWN.value, hides=("shop/backup-job/pve/daily",))
    blind = blind_spots(["shop"], [down], [])
    job = finding_json("shop", type="backup-job", proxmox_host="pve", name="daily", target="pve")
    assert blind.reason_for(job) == "unknown tonight: scheduler_down"
    assert blind.reason_for(finding_json("shop", proxmox_host="pve", vmid=200, field="memory_mb")) is None
