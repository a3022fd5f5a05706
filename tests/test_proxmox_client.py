"""The Proxmox collector (reconciler/collect/proxmox.py, pve_parse.py): parsing, error classification, read-only.

Two layers: `responses` mocks for what only needs a status code and a body (fast, no socket), and the fake PVE over
real HTTPS on 127.0.0.1 (tests/fakes/pve_server.py) where the reason phrase or TLS matters: PVE carries its error
messages in the HTTP reason phrase, which `responses` cannot set, and certificate handling needs a real handshake.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests
import responses

from reconciler.collect import pve_parse
from reconciler.collect.proxmox import FATAL_REASONS, DetailPlan, collect_host
from reconciler.collect.pve_client import ProxmoxClient, ReadOnlyViolation, _classify_status
from reconciler.config import ProxmoxHostConfig
from reconciler.model import AuditScope, GuestType, ProxmoxObservation, Reason
from tests.fakes.pve_server import Estate, FakePVE, Fault, Guest

SECRET_ENV = "RECONCILER_TEST_PVE_SECRET"
SECRET = "c0ffee00-0000-4000-8000-000000000001"
TOKEN = "audit@pve!reconciler"
MOCK = "https://127.0.0.1:8006"  # only ever reached through `responses`: no packet leaves the process
API = f"{MOCK}/api2/json"


def sample(ref_data: Path, name: str) -> Any:
    return json.loads((ref_data / "pve-api" / f"{name}.json").read_text())


def host_config(url: str = MOCK, **changes: Any) -> ProxmoxHostConfig:
    cfg = ProxmoxHostConfig(name="pve-test", url=url, token_id=TOKEN, token_secret_env=SECRET_ENV, timeout_s=2.0)
    return replace(cfg, **changes)


@pytest.fixture(autouse=True)
def token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def listing(*guests: dict[str, Any], nodes: dict[str, str] | None = None) -> dict[str, Any]:
    """A /cluster/resources body: full guest entries on online nodes, nameless 'unknown' ones on the others."""
    nodes = nodes or {"pve": "online"}
    entries: list[dict[str, Any]] = []
    for g in guests:
        kind, node = g.get("type", "qemu"), g.get("node", "pve")
        entry = {"id": f"{kind}/{g['vmid']}", "vmid": g["vmid"], "node": node, "type": kind}
        if nodes[node] == "online":
            entry.update({"name": g.get("name", f"g{g['vmid']}"), "status": g.get("status", "running"),
                          "template": 0, "maxcpu": 2, "maxmem": 2 * 1024**3, "maxdisk": 32 * 1024**3})
        else:
            entry["status"] = "unknown"
        entries.append(entry)
    entries += [{"id": f"node/{n}", "node": n, "type": "node", "status": s, "level": ""} for n, s in nodes.items()]
    return {"data": entries}


def gap_for(observation: ProxmoxObservation, vmid: int) -> Any:
    found = [g for g in observation.gaps if g.vmid == vmid]
    assert len(found) == 1, observation.gaps
    return found[0]


# ── parsing (pure) ───────────────────────────────────────────────────────────


def test_parse_cluster_resources_real_standalone_sample(ref_data: Path) -> None:
    parsed = pve_parse.parse_cluster_resources(sample(ref_data, "cluster_resources.standalone")["data"], "pve-test")
    guests = {g.vmid: g for g in parsed.guests}
    assert sorted(guests) == [100, 101, 102]
    jellyfin = guests[100]
    assert (jellyfin.vm_type, jellyfin.name, jellyfin.status, jellyfin.cores) == (GuestType.LXC, "Jellyfin",
                                                                                   "running", 8)
    assert (jellyfin.memory_mb, jellyfin.boot_disk_gb, jellyfin.ips) == (12288, 124.93, None)
    assert guests[101].vm_type is GuestType.QEMU and guests[101].status == "stopped"
    assert guests[102].boot_disk_gb is None  # maxdisk 0 (no boot disk known)
    assert parsed.node_status == {"pve": "online"}
    assert [s["storage"] for s in parsed.storage] == ["DSM", "hard", "local"]  # the sdn entry is ignored
    assert all(g.proxmox_host == "pve-test" and g.key == ("pve-test", g.vmid) for g in parsed.guests)


def test_parse_cluster_resources_old_offline_and_broken_shapes(ref_data: Path) -> None:
    offline = sample(ref_data, "cluster_resources.type_vm.offline_node_entry")["data"]
    guest = pve_parse.parse_cluster_resources(offline, "h").guests[0]
    assert (guest.vmid, guest.node, guest.name, guest.status, guest.cores, guest.memory_mb) == (
        1002, "pve2", None, "unknown", None, None)
    old = [{"id": "qemu/101", "vmid": "101", "node": "pve", "type": "qemu", "status": "running", "name": "x",
            "template": "", "tags": "one, two, three"}]
    parsed = pve_parse.parse_cluster_resources(old, "h").guests[0]
    assert (parsed.vmid, parsed.template, parsed.tags) == (101, False, ("one", "two", "three"))
    with pytest.raises(pve_parse.ShapeError):
        pve_parse.parse_cluster_resources({"not": "a list"}, "h")
    with pytest.raises(pve_parse.ShapeError):
        pve_parse.parse_cluster_resources([{"type": "qemu", "vmid": True, "node": "pve"}], "h")
    with pytest.raises(pve_parse.ShapeError):
        pve_parse.parse_cluster_resources([{"type": "lxc", "vmid": 5}], "h")


def test_parse_interfaces_real_samples(ref_data: Path) -> None:
    plain = sample(ref_data, "qemu_agent_network_get_interfaces")["data"]
    assert pve_parse.parse_agent_interfaces(plain) == ("10.1.2.3", "fd8c:4687:e88d:1be3:5b70:7b88:c79c:293",
                                                       "10.10.2.3")
    multi = sample(ref_data, "qemu_agent_network_get_interfaces.multi_nic")["data"]
    assert pve_parse.parse_agent_interfaces(multi) == ("172.16.0.143", "10.0.0.133", "172.17.0.1", "10.42.0.1")
    error = sample(ref_data, "qemu_agent_network_get_interfaces.guest_error")["data"]
    with pytest.raises(pve_parse.AgentError, match="not currently supported"):
        pve_parse.parse_agent_interfaces(error)
    with pytest.raises(pve_parse.ShapeError):
        pve_parse.parse_agent_interfaces({"result": "nope"})
    lxc = sample(ref_data, "lxc_interfaces.pve81_83")["data"]
    assert pve_parse.parse_lxc_interfaces(lxc) == ("192.168.3.95",)  # lo and fe80:: dropped
    new_shape = [{"name": "eth0", "ip-addresses": [{"ip-address": "10.0.0.9", "ip-address-type": "inet",
                                                    "prefix": "24"}]}]
    assert pve_parse.parse_lxc_interfaces(new_shape) == ("10.0.0.9",)
    assert pve_parse.parse_lxc_interfaces(None) is None  # a stopped container


@pytest.mark.parametrize("permissions, visible, invisible, everything", [
    ({"/": {"VM.Audit": 1, "Sys.Audit": 1}}, [1, 500], [], True),
    ({"/vms": {"VM.Audit": 1}}, [7], [], True),
    ({"/vms/101": {"VM.Audit": 1}, "/vms/102": {"VM.Monitor": 1}}, [101], [102, 103], False),
    ({"/": {"Sys.Audit": 1}, "/pool/prod": {"VM.Audit": 1}}, [], [101], False),
    ({"/": {"VM.Audit": 0}}, [], [101], False),  # set on "/" without propagation: not on the guests
    ({}, [], [101], False),
])
def test_parse_permissions(permissions: dict[str, Any], visible: list[int], invisible: list[int],
                           everything: bool) -> None:
    scope = pve_parse.parse_permissions(permissions)
    assert scope.known and scope.everything is everything
    assert all(scope.can_see(v) for v in visible) and not any(scope.can_see(v) for v in invisible)
    assert pve_parse.parse_permissions({"/pool/prod": {"VM.Audit": 1}}).pools == {"prod"}
    with pytest.raises(pve_parse.ShapeError):
        pve_parse.parse_permissions([])


def test_parse_permissions_counts_a_non_propagated_grant_on_the_guest_itself() -> None:
    assert pve_parse.parse_permissions({"/vms/101": {"VM.Audit": 0}}).can_see(101)
    # ...but a non-propagated grant on `/vms` stops at `/vms` itself
    assert not pve_parse.parse_permissions({"/vms": {"VM.Audit": 0}}).can_see(101)


@pytest.mark.parametrize("status, message, reason", [
    (401, "authentication failure", Reason.AUTH_FAILED),
    (403, "Permission check failed (/vms/101, VM.Audit)", Reason.NO_PERMISSION),
    (595, "No route to host", Reason.NODE_OFFLINE),
    (596, "Connection timed out", Reason.NODE_OFFLINE),
    (500, "QEMU guest agent is not running", Reason.AGENT_NOT_RUNNING),
    (500, "No QEMU guest agent configured", Reason.AGENT_NOT_CONFIGURED),
    (500, "VM 101 is not running", Reason.API_ERROR),
    (501, "Method 'GET /nodes/pve/lxc/100/interfaces' not implemented", Reason.API_ERROR),
])
def test_classify_status(status: int, message: str, reason: Reason) -> None:
    failure = _classify_status(status, message + "\n")
    assert failure.reason is reason and message in failure.detail


# ── the client through `responses` ───────────────────────────────────────────


def test_listing_from_real_sample_is_one_authenticated_get(rsps: responses.RequestsMock, ref_data: Path) -> None:
    rsps.get(f"{API}/cluster/resources", json=sample(ref_data, "cluster_resources.standalone"))
    observation = collect_host(host_config(), "shop", DetailPlan())
    assert observation.listed and observation.status is not None
    assert (observation.status.status, observation.status.requests) == ("ok", 1)
    assert {g.vmid: g.name for g in observation.guests} == {100: "Jellyfin", 101: "ubuntu", 102: "win"}
    assert observation.audit == AuditScope(known=True, everything=True)
    assert observation.offline_nodes == frozenset() and observation.gaps == ()
    [call] = rsps.calls
    assert call.request.method == "GET" and call.request.url == f"{API}/cluster/resources"
    assert call.request.headers["Authorization"] == f"PVEAPIToken={TOKEN}={SECRET}"


@pytest.mark.parametrize("status, reason", [(401, Reason.AUTH_FAILED), (403, Reason.NO_PERMISSION),
                                            (500, Reason.API_ERROR)])
def test_listing_failure_fails_the_host(rsps: responses.RequestsMock, status: int, reason: Reason) -> None:
    rsps.get(f"{API}/cluster/resources", status=status, body="")
    observation = collect_host(host_config(), "shop", DetailPlan())
    assert not observation.listed and observation.guests == ()
    assert observation.status is not None and observation.status.status == "failed"
    assert observation.status.reason is reason and observation.status.detail.startswith(str(status))
    assert [(g.scope, g.reason) for g in observation.gaps] == [("host", reason)]
    assert (reason in FATAL_REASONS) is (status == 401)


@pytest.mark.parametrize("error", [requests.exceptions.ReadTimeout("read timed out"),
                                   requests.exceptions.ConnectTimeout("connect timed out")])
def test_timeout_is_api_timeout(rsps: responses.RequestsMock, error: Exception) -> None:
    rsps.get(f"{API}/cluster/resources", body=error)
    observation = collect_host(host_config(timeout_s=1.5), "shop", DetailPlan())
    assert observation.status is not None and observation.status.reason is Reason.API_TIMEOUT
    assert observation.status.detail.startswith("no answer within 1.5 s from https://")


def test_non_json_answer_is_api_error(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/cluster/resources", body="<html><body>login</body></html>", content_type="text/html")
    observation = collect_host(host_config(), "shop", DetailPlan())
    assert observation.status is not None and observation.status.reason is Reason.API_ERROR
    assert "not JSON" in observation.status.detail


def test_wrong_shape_listing_is_api_error(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/cluster/resources", json={"data": {"unexpected": "object"}})
    observation = collect_host(host_config(), "shop", DetailPlan())
    assert observation.status is not None and observation.status.reason is Reason.API_ERROR
    assert "expected a list" in observation.status.detail


def test_detail_failures_become_guest_gaps(rsps: responses.RequestsMock, ref_data: Path) -> None:
    rsps.get(f"{API}/cluster/resources", json=listing(
        {"vmid": 201}, {"vmid": 202}, {"vmid": 203}, {"vmid": 204, "type": "lxc"}, {"vmid": 205, "type": "lxc"},
        {"vmid": 206}))
    agent = f"{API}/nodes/pve/qemu/{{}}/agent/network-get-interfaces"
    rsps.get(agent.format(201), json=sample(ref_data, "qemu_agent_network_get_interfaces"))
    rsps.get(agent.format(202), json=sample(ref_data, "qemu_agent_network_get_interfaces.guest_error"))
    rsps.get(agent.format(203), status=403, json={"data": None})
    rsps.get(f"{API}/nodes/pve/lxc/204/interfaces", json=sample(ref_data, "lxc_interfaces.pve81_83"))
    rsps.get(f"{API}/nodes/pve/lxc/205/interfaces", status=501, json={"data": None})
    rsps.get(agent.format(206), body=requests.exceptions.ReadTimeout())
    observation = collect_host(host_config(), "shop", DetailPlan(ips_for=None))
    ips = {g.vmid: g.ips for g in observation.guests}
    assert ips[201] == ("10.1.2.3", "fd8c:4687:e88d:1be3:5b70:7b88:c79c:293", "10.10.2.3")
    assert ips[204] == ("192.168.3.95",)
    assert (gap_for(observation, 202).reason, gap_for(observation, 202).detail) == (
        Reason.AGENT_ERROR, "guest agent error: this feature or command is not currently supported")
    assert gap_for(observation, 203).reason is Reason.NO_PERMISSION
    assert gap_for(observation, 205).reason is Reason.API_ERROR and "8.1" in gap_for(observation, 205).detail
    assert gap_for(observation, 206).reason is Reason.API_TIMEOUT
    assert all(ips[v] is None for v in (202, 203, 205, 206))  # unobserved, not "no addresses"
    assert observation.status is not None and observation.status.status == "partial"
    assert observation.status.requests == 7 == len(rsps.calls)


def test_only_planned_running_guests_get_detail_requests(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/cluster/resources", json=listing({"vmid": 1}, {"vmid": 2}, {"vmid": 3, "status": "stopped"}))
    rsps.get(f"{API}/nodes/pve/qemu/1/agent/network-get-interfaces", json={"data": {"result": []}})
    observation = collect_host(host_config(), "shop", DetailPlan(ips_for=frozenset({1, 3})))
    assert [c.request.url.removeprefix(API) for c in rsps.calls] == [
        "/cluster/resources", "/nodes/pve/qemu/1/agent/network-get-interfaces"]
    assert {g.vmid: g.ips for g in observation.guests} == {1: (), 2: None, 3: None}


def test_offline_node_is_a_gap_and_is_never_asked(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/cluster/resources", json=listing(
        {"vmid": 1}, {"vmid": 2, "node": "pve2"}, nodes={"pve": "online", "pve2": "offline"}))
    rsps.get(f"{API}/nodes/pve/qemu/1/agent/network-get-interfaces", json={"data": {"result": []}})
    observation = collect_host(host_config(), "shop", DetailPlan(ips_for=None))
    assert observation.offline_nodes == {"pve2"}
    assert [(g.scope, g.reason, g.node) for g in observation.gaps] == [("node", Reason.NODE_OFFLINE, "pve2")]
    far = next(g for g in observation.guests if g.vmid == 2)
    assert (far.status, far.name, far.ips) == ("unknown", None, None)
    assert not any("/pve2/" in c.request.url for c in rsps.calls)


def test_permissions_are_read_only_when_a_declared_guest_is_absent(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/cluster/resources", json=listing({"vmid": 101}))
    rsps.get(f"{API}/access/permissions", json={"data": {"/vms/101": {"VM.Audit": 1}}})
    present = collect_host(host_config(), "shop", DetailPlan(expected=frozenset({101})))
    assert present.audit.everything and len(rsps.calls) == 1
    absent = collect_host(host_config(), "shop", DetailPlan(expected=frozenset({101, 102})))
    assert rsps.calls[-1].request.url == f"{API}/access/permissions"
    assert absent.audit.known and not absent.audit.everything
    assert absent.audit.can_see(101) and not absent.audit.can_see(102)


def test_unreadable_permissions_make_every_absence_doubtful(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/cluster/resources", json=listing({"vmid": 101}))
    rsps.get(f"{API}/access/permissions", status=403, json={"data": None})
    observation = collect_host(host_config(), "shop", DetailPlan(expected=frozenset({102})))
    assert observation.audit == AuditScope(known=False) and not observation.audit.can_see(102)
    assert [(g.scope, g.reason) for g in observation.gaps] == [("host", Reason.NO_PERMISSION)]


@pytest.mark.parametrize("call", [
    lambda api: api.nodes("pve").qemu(100).status.start.post(),
    lambda api: api.nodes("pve").qemu(100).config.put(memory=1024),
    lambda api: api.nodes("pve").qemu(100).delete(),
    lambda api: api.access.ticket.post(username="x", password="y"),
])
def test_client_refuses_every_non_get(rsps: responses.RequestsMock, call: Any) -> None:
    client = ProxmoxClient(host_config(), SECRET)
    with pytest.raises(ReadOnlyViolation):
        call(client._api)
    assert len(rsps.calls) == 0  # refused before anything left the process
    rsps.get(f"{API}/version", json={"data": {"version": "8.2.4"}})
    assert client.get("version") == {"version": "8.2.4"} and client.requests == 1


# ── against the fake PVE over real HTTPS ─────────────────────────────────────

ESTATE = {
    "nodes": ["pve", {"name": "pve2", "status": "offline"}],
    "guests": [
        {"vmid": 200, "name": "web", "ips": ["10.9.0.5"]},
        {"vmid": 201, "type": "lxc", "name": "dns", "ips": ["10.9.0.6"]},
        {"vmid": 202, "name": "win", "agent": "guest_error"},
        {"vmid": 204, "name": "noagent", "agent": "not_configured"},
        {"vmid": 205, "name": "hung", "agent": "not_running"},
        {"vmid": 206, "name": "stopped", "status": "stopped"},
        {"vmid": 300, "name": "far", "node": "pve2"},
    ],
}


@pytest.fixture
def srv() -> Iterator[FakePVE]:
    with FakePVE(Estate.from_dict(ESTATE), token_id=TOKEN, secret=SECRET) as server:
        yield server


def test_collect_over_https_with_ca_file_despite_env_bundle(srv: FakePVE, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # a valid bundle that does not hold the fake's CA
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path), "shop", DetailPlan(ips_for=None))
    assert observation.listed, observation.gaps
    assert {g.vmid: g.ips for g in observation.guests if g.ips} == {200: ("10.9.0.5",), 201: ("10.9.0.6",)}
    assert {g.vmid: g.reason for g in observation.gaps if g.vmid} == {
        202: Reason.AGENT_ERROR, 204: Reason.AGENT_NOT_CONFIGURED, 205: Reason.AGENT_NOT_RUNNING}
    assert [(g.scope, g.node) for g in observation.gaps if g.vmid is None] == [("node", "pve2")]
    assert observation.status is not None and observation.status.requests == len(srv.requests) == 6
    assert {r.method for r in srv.requests} == {"GET"} and all(r.authenticated for r in srv.requests)
    assert srv.count("nodes/pve2/*") == 0 and srv.count("nodes/pve/qemu/206/*") == 0
    assert srv.connections <= 1 + 5  # the listing's connection is reused; at most one per pool worker


def test_fingerprint_pin_with_verify_tls_left_true(srv: FakePVE, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    cfg = host_config(srv.url, fingerprint=srv.fingerprint)
    assert cfg.verify_tls and cfg.ca_file is None
    observation = collect_host(cfg, "shop", DetailPlan(ips_for=frozenset({200})))
    assert observation.listed and observation.status is not None and observation.status.status == "partial"
    assert next(g for g in observation.guests if g.vmid == 200).ips == ("10.9.0.5",)


@pytest.mark.parametrize("env_bundle", ["certifi", "fake"])
def test_wrong_fingerprint_fails_closed(srv: FakePVE, monkeypatch: pytest.MonkeyPatch, env_bundle: str) -> None:
    # even when the environment's bundle would trust the server, a pin that does not match must win
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where() if env_bundle == "certifi" else str(srv.cert_path))
    wrong = "sha256:" + ":".join(["5A"] * 32)
    observation = collect_host(host_config(srv.url, fingerprint=wrong, ca_file=srv.cert_path), "shop",
                               DetailPlan(ips_for=None))
    assert not observation.listed and observation.status is not None
    assert observation.status.reason is Reason.TLS_ERROR and Reason.TLS_ERROR in FATAL_REASONS
    assert "fingerprint" in observation.status.detail
    assert srv.requests == []  # no request (and no token) was sent to the impostor


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_unknown_certificate_fails_closed_and_verify_false_ignores_env(srv: FakePVE,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    untrusted = collect_host(host_config(srv.url), "shop", DetailPlan())
    assert untrusted.status is not None and untrusted.status.reason is Reason.TLS_ERROR
    assert srv.requests == []
    # psf/requests#3829: an environment bundle must not silently turn verify_tls: false back on
    unverified = collect_host(host_config(srv.url, verify_tls=False), "shop", DetailPlan())
    assert unverified.listed and len(unverified.guests) == 7


def test_bad_token_over_https_is_auth_failed(srv: FakePVE, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "wrong-secret")
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path), "shop", DetailPlan(ips_for=None))
    assert observation.status is not None and observation.status.reason is Reason.AUTH_FAILED
    assert observation.status.detail == "401 authentication failure"
    assert srv.paths() == ["cluster/resources"]  # nothing else is tried with a refused token


@pytest.mark.parametrize("status, message", [(595, "No route to host"), (596, "Connection timed out")])
def test_proxy_errors_on_details_are_node_offline(srv: FakePVE, status: int, message: str) -> None:
    srv.add_fault("nodes/pve/qemu/200/agent/*", status=status, message=message)
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path), "shop",
                               DetailPlan(ips_for=frozenset({200})))
    gap = gap_for(observation, 200)
    assert (gap.scope, gap.reason, gap.detail) == ("guest_ips", Reason.NODE_OFFLINE, f"{status} {message}")


def test_offline_node_in_the_fake_is_a_gap(srv: FakePVE) -> None:
    srv.estate.set_node_status("pve2", "unknown")
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path), "shop", DetailPlan(ips_for=None))
    assert observation.offline_nodes == {"pve2"}
    assert ("node", Reason.NODE_OFFLINE, "node pve2 is unknown") in {(g.scope, g.reason, g.detail)
                                                                     for g in observation.gaps}
    assert next(g for g in observation.guests if g.vmid == 300).status == "unknown"


def test_hang_is_api_timeout_and_cut_is_api_error(srv: FakePVE) -> None:
    srv.add_fault("cluster/resources", hang=True, times=1)
    started = time.monotonic()
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path, timeout_s=0.3), "shop", DetailPlan())
    assert time.monotonic() - started < 2
    assert observation.status is not None and observation.status.reason is Reason.API_TIMEOUT
    srv.faults[:] = [Fault("cluster/resources", cut=True)]
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path), "shop", DetailPlan())
    assert observation.status is not None and observation.status.reason is Reason.API_ERROR
    srv.faults[:] = [Fault("cluster/resources", not_json=True)]
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path), "shop", DetailPlan())
    assert observation.status is not None and "not JSON" in observation.status.detail


def test_restricted_token_reports_what_it_can_audit(srv: FakePVE) -> None:
    srv.estate.restrict_to(vmids=[200])
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path), "shop",
                               DetailPlan(expected=frozenset({200, 201})))
    assert [g.vmid for g in observation.guests] == [200]  # 201 exists but is invisible to this token
    assert observation.audit.known and not observation.audit.everything
    assert observation.audit.can_see(200) and not observation.audit.can_see(201)
    assert srv.paths() == ["cluster/resources", "access/permissions"]


def test_a_vmid_containing_501_is_not_mistaken_for_a_missing_endpoint(srv: FakePVE) -> None:
    srv.estate.guests.append(Guest(vmid=1501, name="race"))
    srv.add_fault("nodes/pve/qemu/1501/agent/*", status=500, message="VM 1501 is not running")
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path), "shop",
                               DetailPlan(ips_for=frozenset({1501})))
    assert gap_for(observation, 1501).detail == "500 VM 1501 is not running"


@pytest.mark.parametrize("document", [{"unexpected": 1}, [1, 2]])
def test_detail_answer_without_data_is_a_gap(srv: FakePVE, document: Any) -> None:
    srv.add_fault("nodes/pve/qemu/200/agent/*", wrong_shape=document)
    observation = collect_host(host_config(srv.url, ca_file=srv.cert_path), "shop",
                               DetailPlan(ips_for=frozenset({200})))
    assert gap_for(observation, 200).reason is Reason.API_ERROR


def test_a_refused_connection_names_the_url_and_the_likely_cause() -> None:
    from tests.fakes.sshd import free_port

    url = f"https://127.0.0.1:{free_port()}"
    observation = collect_host(host_config(url=url), "shop", DetailPlan())
    assert observation.status is not None and observation.status.reason is Reason.API_ERROR
    assert observation.status.detail == f"{url}: connection refused (is pveproxy listening on that port?)"


def test_a_url_without_a_port_means_pves_8006() -> None:
    from reconciler.collect.pve_client import _host_port

    assert _host_port("https://pve.example") == ("pve.example", 8006)
    assert _host_port("https://pve.example:443") == ("pve.example", 443)
