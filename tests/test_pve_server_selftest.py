"""The fake Proxmox API (tests/fakes/pve_server.py) against the real response samples in tests/data/pve-api.

If the fake drifted from what PVE really sends, every test built on it would prove nothing: these tests pin its
shapes, status codes, reason phrases, TLS, token check, permission model and fault injection.
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests

from tests.fakes import pve_server
from tests.fakes.pve_server import Estate, FakePVE, Fault, Grant

TOKEN, SECRET = "audit@pve!reconciler", "5ecret-0000"
AUTH = {"Authorization": f"PVEAPIToken={TOKEN}={SECRET}"}

ESTATE = {
    "nodes": ["pve", {"name": "pve2", "status": "offline"}],
    "pools": {"prod": "production"},
    "guests": [
        {"vmid": 200, "name": "web", "ips": ["10.9.0.5", "fd00::5"], "tags": "web;prod", "pool": "prod"},
        {"vmid": 201, "type": "lxc", "name": "dns", "ips": ["10.9.0.6"]},
        {"vmid": 202, "name": "win", "agent": "guest_error"},
        {"vmid": 203, "name": "old", "status": "stopped"},
        {"vmid": 204, "name": "noagent", "agent": "not_configured"},
        {"vmid": 205, "name": "hung", "agent": "not_running"},
        {"vmid": 9000, "name": "tmpl", "status": "stopped", "template": True},
        {"vmid": 300, "name": "far", "node": "pve2"},
    ],
}


def sample(ref_data: Path, name: str) -> Any:
    return json.loads((ref_data / "pve-api" / f"{name}.json").read_text())


@pytest.fixture
def srv() -> Iterator[FakePVE]:
    with FakePVE(Estate.from_dict(ESTATE), token_id=TOKEN, secret=SECRET) as server:
        yield server


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # this machine exports REQUESTS_CA_BUNDLE; the fake's CA must be the one used
    return s


def get(server: FakePVE, path: str, headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
    kw.setdefault("verify", str(server.cert_path))
    kw.setdefault("timeout", 5)
    return session().get(f"{server.url}/api2/json/{path}", headers=AUTH if headers is None else headers, **kw)


def data(server: FakePVE, path: str) -> Any:
    response = get(server, path)
    assert response.status_code == 200, (path, response.status_code, response.reason)
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["data"]


def error_case(ref_data: Path, status: int) -> list[dict[str, Any]]:
    return [c for c in sample(ref_data, "errors.derived")["cases"] if c["status"] == status]


# ── shapes against the real samples ──────────────────────────────────────────


def test_cluster_resources_entries_have_the_real_keys(srv: FakePVE, ref_data: Path) -> None:
    real = {e["type"]: set(e) for e in sample(ref_data, "cluster_resources.standalone")["data"]}
    fake = data(srv, "cluster/resources")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in fake:
        by_type.setdefault(entry["type"], []).append(entry)
    assert {"qemu", "lxc", "node", "storage", "sdn", "pool"} <= set(by_type)
    optional = {"tags", "pool", "lock", "hastate"}
    for kind in ("qemu", "lxc", "node", "storage", "sdn"):
        online = [e for e in by_type[kind] if e.get("node") == "pve"]
        assert online, kind
        for entry in online:
            assert real[kind] <= set(entry) <= real[kind] | optional, (kind, set(entry) ^ real[kind])
    web = next(e for e in by_type["qemu"] if e["vmid"] == 200)
    assert (web["tags"], web["pool"], web["maxmem"], web["disk"]) == ("prod;web", "prod", 2 * 1024**3, 0)
    assert next(e for e in by_type["qemu"] if e["vmid"] == 9000)["template"] == 1


def test_offline_node_and_its_guests_look_like_real_pve(srv: FakePVE, ref_data: Path) -> None:
    real_entry = sample(ref_data, "cluster_resources.type_vm.offline_node_entry")["data"][0]
    vms = data(srv, "cluster/resources?type=vm")
    far = next(e for e in vms if e["vmid"] == 300)
    assert set(far) == set(real_entry) and far["status"] == "unknown" and "name" not in far
    assert {e["type"] for e in vms} == {"qemu", "lxc"}
    nodes = {e["node"]: e for e in data(srv, "cluster/resources?type=node")}
    assert (nodes["pve"]["status"], nodes["pve2"]["status"]) == ("online", "offline")
    assert "uptime" not in nodes["pve2"] and "uptime" in nodes["pve"]
    assert {e["type"] for e in data(srv, "cluster/resources?type=storage")} == {"storage"}
    # every /nodes/{offline}/... path is proxied to a dead node: 595 with an empty body
    response = get(srv, "nodes/pve2/qemu/300/config")
    real_595 = error_case(ref_data, 595)[0]
    assert response.status_code == 595 and response.reason in real_595["reason_examples"]
    assert response.content == b""


def test_listing_endpoints_have_the_real_keys(srv: FakePVE, ref_data: Path) -> None:
    assert set(data(srv, "version")) == set(sample(ref_data, "version.pve9")["data"])
    assert len(data(srv, "version")["repoid"]) == 16  # 8.x and later
    real_node = set(sample(ref_data, "nodes")["data"][0])
    nodes = {n["node"]: n for n in data(srv, "nodes")}
    assert set(nodes["pve"]) == real_node
    assert nodes["pve"]["ssl_fingerprint"] == srv.fingerprint.removeprefix("sha256:")
    assert set(sample(ref_data, "node_status.pve7")["data"]) <= set(data(srv, "nodes/pve/status"))

    qemu = {e["vmid"]: e for e in data(srv, "nodes/pve/qemu")}
    real_qemu = set(sample(ref_data, "nodes_qemu.pve6")["data"][0])
    assert real_qemu - {"template"} <= set(qemu[200]) and "type" not in qemu[200]
    assert "template" not in qemu[200] and qemu[9000]["template"] == 1  # only when 1, since PVE 7
    assert 300 not in qemu  # another node's guest
    lxc = data(srv, "nodes/pve/lxc")
    assert set(sample(ref_data, "nodes_lxc.pve7")["data"][0]) <= set(lxc[0])
    assert lxc[0]["type"] == "lxc" and isinstance(lxc[0]["vmid"], int)

    pools = data(srv, "pools")
    assert pools == [{"poolid": "prod", "comment": "production"}]
    assert set(pools[0]) == set(sample(ref_data, "pools")["data"][0])
    detail = data(srv, "pools?poolid=prod")[0]
    assert set(detail) == set(sample(ref_data, "pools.poolid")["data"][0])
    assert [m["vmid"] for m in detail["members"]] == [200]


def test_guest_configs_only_use_keys_real_configs_have(srv: FakePVE, ref_data: Path) -> None:
    names = ("qemu_config.pve6", "qemu_config.multi_nic.pve6", "qemu_config.template.pve9",
             "qemu_config.cloudinit.synthetic")
    qemu_keys = set().union(*(sample(ref_data, n)["data"] for n in names))
    config = data(srv, "nodes/pve/qemu/200/config")
    assert set(config) <= qemu_keys
    assert re.fullmatch(r"virtio=([0-9A-F]{2}:){5}[0-9A-F]{2},bridge=vmbr0", config["net0"])
    assert re.search(r",size=32G$", config["scsi0"]) and config["agent"] == "1"
    assert config["memory"] == "2048"  # a string from qemu-server 8.0.8 (PVE 8.1) on
    assert "agent" not in data(srv, "nodes/pve/qemu/204/config")

    lxc_keys = set().union(*(sample(ref_data, n)["data"]
                             for n in ("lxc_config.dhcp.pve7", "lxc_config.static_ip.pve6")))
    config = data(srv, "nodes/pve/lxc/201/config")
    assert set(config) <= lxc_keys
    assert "ip=10.9.0.6/24" in config["net0"] and config["hostname"] == "dns"


def test_guest_agent_answers_like_real_pve(srv: FakePVE, ref_data: Path) -> None:
    real = sample(ref_data, "qemu_agent_network_get_interfaces")["data"]["result"]
    real_iface, real_addr = set(real[1]), set(real[1]["ip-addresses"][0])
    result = data(srv, "nodes/pve/qemu/200/agent/network-get-interfaces")["result"]
    assert [i["name"] for i in result] == ["lo", "eth0"]
    for iface in result:
        assert set(iface) == real_iface
        assert set(iface["statistics"]) == set(real[1]["statistics"])
        assert all(set(a) == real_addr for a in iface["ip-addresses"])
    assert [a["ip-address"] for a in result[1]["ip-addresses"]][:2] == ["10.9.0.5", "fd00::5"]

    # the guest agent refused the command: HTTP 200, exactly the sample's body
    assert get(srv, "nodes/pve/qemu/202/agent/network-get-interfaces").json() == sample(
        ref_data, "qemu_agent_network_get_interfaces.guest_error")

    agent_500 = {r for c in error_case(ref_data, 500) for r in c["reason_examples"]}
    for vmid, reason in ((205, "QEMU guest agent is not running"), (204, "No QEMU guest agent configured"),
                         (203, "VM 203 is not running")):
        response = get(srv, f"nodes/pve/qemu/{vmid}/agent/network-get-interfaces")
        assert (response.status_code, response.reason) == (500, reason)
        assert reason in agent_500 or reason.replace("203", "101") in agent_500
        assert response.json() == {"data": None, "message": reason + "\n"}  # libpve-http-server >= 5.2


def test_lxc_interfaces_follow_the_version(ref_data: Path) -> None:
    real = sample(ref_data, "lxc_interfaces.pve81_83")["data"]
    estate = {"guests": [{"vmid": 101, "type": "lxc", "ips": ["10.9.0.7"]},
                         {"vmid": 102, "type": "lxc", "status": "stopped"}]}
    with FakePVE(Estate.from_dict({**estate, "version": "8.2.4"}), token_id=TOKEN, secret=SECRET) as server:
        interfaces = data(server, "nodes/pve/lxc/101/interfaces")
        assert [set(i) for i in interfaces] == [set(i) for i in real]
        assert interfaces[1]["inet"] == "10.9.0.7/24"
        assert get(server, "nodes/pve/lxc/102/interfaces").json() == {"data": None}  # stopped CT
    with FakePVE(Estate.from_dict({**estate, "version": "8.4.1"}), token_id=TOKEN, secret=SECRET) as server:
        eth0 = data(server, "nodes/pve/lxc/101/interfaces")[1]
        assert eth0["ip-addresses"] == [{"ip-address": "10.9.0.7", "ip-address-type": "inet", "prefix": "24"}]
    with FakePVE(Estate.from_dict({**estate, "version": "7.4-16"}), token_id=TOKEN, secret=SECRET) as server:
        response = get(server, "nodes/pve/lxc/101/interfaces")
        assert response.status_code == 501
        assert response.reason == "Method 'GET /nodes/pve/lxc/101/interfaces' not implemented"
        assert len(data(server, "version")["repoid"]) == 8


def test_unknown_paths_and_bad_parameters(srv: FakePVE, ref_data: Path) -> None:
    response = get(srv, "nodes/pve/qemu/200/bogus")
    assert (response.status_code, response.reason) == (501, "Method 'GET /nodes/pve/qemu/200/bogus' not implemented")
    response = get(srv, "cluster/resources?type=vms")
    assert response.status_code == 400 and set(response.json()) == set(sample(ref_data, "cluster_nextid.conflict_400"))
    missing = get(srv, "nodes/pve/qemu/999/config")
    assert (missing.status_code, missing.reason) == (
        500, "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist")


# ── authentication and TLS ───────────────────────────────────────────────────


@pytest.mark.parametrize("headers, reason", [
    ({"Authorization": f"PVEAPIToken={TOKEN}=wrong"}, "authentication failure"),
    ({"Authorization": f"PVEAPIToken=other@pve!x={SECRET}"}, "authentication failure"),
    ({"Authorization": f"Bearer {SECRET}"}, "authentication failure"),
    ({}, "No ticket"),
])
def test_bad_or_missing_token_is_refused(srv: FakePVE, headers: dict[str, str], reason: str) -> None:
    response = get(srv, "cluster/resources", headers=headers)
    assert (response.status_code, response.reason, response.content) == (401, reason, b"")
    assert srv.requests[-1].authenticated is False
    assert get(srv, "version").status_code == 200 and srv.requests[-1].authenticated is True


def test_tls_verification_uses_the_generated_certificate(srv: FakePVE, monkeypatch: pytest.MonkeyPatch) -> None:
    pem = ssl.get_server_certificate(("127.0.0.1", srv.port))
    der = ssl.PEM_cert_to_DER_cert(pem)
    digest = hashlib.sha256(der).hexdigest().upper()
    assert srv.fingerprint == "sha256:" + ":".join(digest[i:i + 2] for i in range(0, 64, 2))
    assert get(srv, "version").status_code == 200  # verify=cert_path
    assert session().get(f"https://localhost:{srv.port}/api2/json/version", headers=AUTH,
                         verify=str(srv.cert_path), timeout=5).status_code == 200  # SAN has localhost too
    seen = len(srv.requests)
    with pytest.raises(requests.exceptions.SSLError):
        get(srv, "version", verify=certifi.where())
    with pytest.raises(requests.exceptions.SSLError):
        get(srv, "version", verify=True)
    deadline = time.monotonic() + 3  # the server notices a refused handshake a moment after the client
    while srv.tls_failures < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.tls_failures == 2 and len(srv.requests) == seen  # refused before any request was sent


# ── permissions ──────────────────────────────────────────────────────────────


def test_restricted_token_sees_only_its_guests(srv: FakePVE) -> None:
    srv.estate.restrict_to(vmids=[201])
    assert [e["vmid"] for e in data(srv, "cluster/resources?type=vm")] == [201]
    assert data(srv, "nodes/pve/qemu") == []
    response = get(srv, "nodes/pve/qemu/200/config")
    assert (response.status_code, response.reason) == (403, "Permission check failed (/vms/200, VM.Audit)")
    assert data(srv, "access/permissions")["/vms/201"]["VM.Audit"] == 1
    assert "/" not in data(srv, "access/permissions")
    assert data(srv, "pools") == []  # no Pool.Audit anywhere
    node = data(srv, "cluster/resources?type=node")[0]
    assert node["status"] == "online" and "maxmem" not in node  # no Sys.Audit: no node stats


def test_pool_grant_and_propagation_flags(srv: FakePVE) -> None:
    srv.estate.restrict_to(pools=["prod"])
    assert [e["vmid"] for e in data(srv, "cluster/resources?type=vm")] == [200]
    permissions = data(srv, "access/permissions")
    assert permissions["/pool/prod"]["VM.Audit"] == 1
    assert permissions["/vms/200"]["VM.Audit"] == 0  # pool-derived privileges never propagate
    srv.estate.grants = [Grant("/vms/203", frozenset({"VM.Audit"}), propagate=False),
                         Grant("/", frozenset({"VM.Audit"}), propagate=False)]
    assert [e["vmid"] for e in data(srv, "cluster/resources?type=vm")] == [203]
    assert data(srv, "access/permissions") == {"/": {"VM.Audit": 0}, "/vms/203": {"VM.Audit": 0}}


def test_agent_needs_its_own_privilege(srv: FakePVE) -> None:
    srv.estate.grants = [Grant("/", frozenset({"VM.Audit"}))]
    response = get(srv, "nodes/pve/qemu/200/agent/network-get-interfaces")
    assert (response.status_code, response.reason) == (403, "Permission check failed (/vms/200, VM.Monitor)")
    srv.estate.version = "9.1.4"
    assert get(srv, "nodes/pve/qemu/200/agent/network-get-interfaces").reason == (
        "Permission check failed (/vms/200, VM.GuestAgent.Audit|VM.GuestAgent.Unrestricted)")
    assert get(srv, "nodes/pve/qemu/200/config").status_code == 200


# ── faults ───────────────────────────────────────────────────────────────────


def test_fault_status_message_and_times(srv: FakePVE) -> None:
    srv.add_fault("cluster/resources", status=500, message="cfs-lock timeout", times=1)
    first, second = get(srv, "cluster/resources"), get(srv, "cluster/resources")
    assert (first.status_code, first.reason) == (500, "cfs-lock timeout")
    assert first.json() == {"data": None, "message": "cfs-lock timeout\n"}
    assert second.status_code == 200
    srv.faults[:] = pve_server._faults({"nodes/*/qemu/*/agent/*": 596})
    response = get(srv, "nodes/pve/qemu/200/agent/network-get-interfaces")
    assert (response.status_code, response.content) == (596, b"")
    assert get(srv, "nodes/pve/qemu/200/config").status_code == 200


def test_fault_delay_not_json_and_wrong_shape(srv: FakePVE) -> None:
    srv.faults[:] = [Fault("version", delay=0.2), Fault("pools", not_json=True),
                     Fault("nodes", wrong_shape={"data": {"not": "a list"}}), Fault("access/*", wrong_shape=[1, 2])]
    started = time.monotonic()
    assert get(srv, "version").status_code == 200
    assert time.monotonic() - started >= 0.2
    response = get(srv, "pools")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()
    assert get(srv, "nodes").json() == {"data": {"not": "a list"}}
    assert get(srv, "access/permissions").json() == [1, 2]


def test_fault_cut_and_hang(srv: FakePVE) -> None:
    srv.faults[:] = [Fault("cluster/resources", cut=True), Fault("nodes/pve/status", hang=True)]
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        get(srv, "cluster/resources")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(srv, "nodes/pve/status", timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert srv.count("nodes/pve/status") == 1


def test_stop_is_quick_even_with_hanging_and_idle_connections() -> None:
    server = FakePVE(Estate.from_dict(ESTATE), token_id=TOKEN, secret=SECRET,
                     faults=[Fault("nodes/*/status", hang=True)]).start()
    idle = session()
    assert idle.get(f"{server.url}/api2/json/version", headers=AUTH, verify=str(server.cert_path)).status_code == 200

    outcome: list[str] = []

    def hang() -> None:
        try:
            get(server, "nodes/pve/status", timeout=10)
            outcome.append("answered")
        except requests.exceptions.RequestException as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=hang)
    thread.start()
    deadline = time.monotonic() + 2
    while server.count("nodes/pve/status") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.5
    thread.join(3)
    assert outcome and outcome[0] != "answered"  # the hanging request was dropped, never answered


# ── transport details and bookkeeping ────────────────────────────────────────


def test_keep_alive_and_no_delayed_ack_stall(srv: FakePVE) -> None:
    s = session()
    started = time.monotonic()
    for _ in range(40):
        assert s.get(f"{srv.url}/api2/json/version", headers=AUTH, verify=str(srv.cert_path), timeout=5).ok
    elapsed = time.monotonic() - started
    assert srv.connections == 1  # one TLS connection for all 40 requests
    assert elapsed < 1.2, f"40 keep-alive requests took {elapsed:.2f} s (a 40 ms stall each would be 1.6 s)"


def test_every_request_is_recorded_and_non_get_gets_501(srv: FakePVE) -> None:
    get(srv, "cluster/resources?type=vm")
    record = srv.requests[-1]
    assert (record.method, record.path, record.api_path, record.query) == (
        "GET", "/api2/json/cluster/resources", "cluster/resources", {"type": "vm"})
    assert record in pve_server.ALL_REQUESTS
    response = session().post(f"{srv.url}/api2/json/nodes/pve/qemu/200/status/start", headers=AUTH,
                              verify=str(srv.cert_path), timeout=5)
    assert (response.status_code, response.reason) == (
        501, "Method 'POST /nodes/pve/qemu/200/status/start' not implemented")
    posted = srv.requests[-1]
    assert posted.method == "POST" and posted in pve_server.ALL_REQUESTS
    # this write was sent on purpose: take it out again so the session-wide GET-only guard stays meaningful
    with pve_server._ALL_LOCK:
        pve_server.ALL_REQUESTS.remove(posted)
    assert srv.paths("GET") == ["cluster/resources"]


def test_estate_from_dict_validates() -> None:
    estate = Estate.from_dict({"guests": [{"vmid": 1, "cores": 4, "memory_mb": 1024, "disk_gb": 8.5, "node": "n1"}]})
    guest = estate.guest(1)
    assert guest is not None and (guest.maxcpu, guest.maxmem, guest.maxdisk) == (4, 1024**3, int(8.5 * 1024**3))
    assert [n.name for n in estate.nodes] == ["n1"]  # nodes of guests are added
    with pytest.raises(ValueError, match="unknown estate keys"):
        Estate.from_dict({"guest": []})
    with pytest.raises(ValueError, match="unique"):
        Estate.from_dict({"guests": [{"vmid": 1}, {"vmid": 1}]})
    with pytest.raises(ValueError, match="status"):
        estate.set_node_status("n1", "down")
