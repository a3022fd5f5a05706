"""End to end: the `reconcile` CLI against fake Proxmox APIs served over real HTTPS on 127.0.0.1.

Each test writes a bindings folder and a site file, starts one FakePVE per Proxmox host and runs the CLI
in-process. Nothing here is mocked between the CLI and the socket.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.pve_server import FakePVE

SECRET_ENV = "RECONCILE_TEST_PVE_TOKEN"
SECRET = "5ecr3t-70k3n-1234-abcd-e2e000000000"
TOKEN_ID = "audit@pve!reconciler"

# Declared estate on two Proxmox hosts, alpha and beta. Clean with CLEAN_ALPHA / CLEAN_BETA.
LIFECYCLE = """\
version: 1
defaults:
  proxmox_host: alpha
vms:
  - id: 100
    hostname: gateway
    status: active
    lan_ip: 10.9.0.10
    resources:
      cpu_cores: 2
      memory_mb: 2048
      boot_disk_gb: 32
  - id: 101
    hostname: dns
    vm_type: lxc
    status: active
    lan_ip: 10.9.0.11
  - id: 102
    hostname: cold
    status: stopped
  - id: 103
    hostname: golden
    status: template
  - id: 200
    hostname: builder
    proxmox_host: beta
    status: active
"""

CLEAN_ALPHA: dict[str, Any] = {"nodes": ["pve"], "guests": [
    {"vmid": 100, "name": "gateway", "cores": 2, "memory_mb": 2048, "disk_gb": 32, "ips": ["10.9.0.10"]},
    {"vmid": 101, "type": "lxc", "name": "dns", "ips": ["10.9.0.11"]},
    {"vmid": 102, "name": "cold", "status": "stopped"},
    {"vmid": 103, "name": "golden", "status": "stopped", "template": True},
]}
CLEAN_BETA: dict[str, Any] = {"nodes": ["pve"], "guests": [{"vmid": 200, "name": "builder"}]}


@dataclass
class Estate:
    """A bindings folder + a site file pointing at running fake Proxmox servers."""

    sites: Path
    lifecycle: Path
    servers: dict[str, FakePVE]

    def line_of(self, vmid: int, key: str | None = None) -> str:
        """`ops/bindings/vm.lifecycle.yaml:N` of item `vmid` (its `key:` line, or the item's first line)."""
        lines = self.lifecycle.read_text().splitlines()
        start = next(i for i, text in enumerate(lines) if re.match(rf"\s*- (id|vmid): {vmid}$", text))
        if key is not None:
            start = next(i for i in range(start, len(lines)) if re.match(rf"\s*{key}:", lines[i]))
        return f"ops/bindings/vm.lifecycle.yaml:{start + 1}"


def more_items(yaml_items: str) -> str:
    """Items for the `vms:` list, written flush left, indented like LIFECYCLE's."""
    return textwrap.indent(textwrap.dedent(yaml_items), "  ")


def write_estate(tmp_path: Path, servers: dict[str, FakePVE], lifecycle: str = LIFECYCLE,
                 tls: str = "ca_file", site_extra: str = "") -> Estate:
    bindings = tmp_path / "spine" / "ops" / "bindings"
    bindings.mkdir(parents=True)
    lifecycle_path = bindings / "vm.lifecycle.yaml"
    lifecycle_path.write_text(lifecycle)
    hosts = []
    for name, srv in servers.items():
        trust = f"ca_file: {srv.cert_path}" if tls == "ca_file" else f'fingerprint: "{srv.fingerprint}"'
        hosts.append(textwrap.indent(textwrap.dedent(f"""\
            - name: {name}
              url: {srv.url}
              token_id: "{TOKEN_ID}"
              token_secret_env: {SECRET_ENV}
              {trust}
              timeout_s: 3
            """), "  "))
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "lab.yaml").write_text(f"site: lab\nbindings_root: {tmp_path / 'spine'}\nproxmox:\n"
                                    + "".join(hosts) + site_extra)
    return Estate(sites, lifecycle_path, servers)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    # A bundle that does not contain the fake's certificate: ca_file and pins must win over it.
    bundle = tmp_path / "unrelated-bundle.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bundle))
    yield tmp_path


def start(stack: ExitStack, estate: dict[str, Any], **kwargs: Any) -> FakePVE:
    return stack.enter_context(FakePVE(estate, token_id=TOKEN_ID, secret=SECRET, **kwargs))


def run_json(cli: Any, estate: Estate, *extra: str) -> tuple[int, dict[str, Any]]:
    # --only guests: these estates have no docker or governance files (those parts have their own tests)
    result = cli("--sites-dir", estate.sites, "--site", "lab", "-f", "json", "--only", "guests", *extra)
    assert result.err.count("Traceback") == 0, result.err
    return result.code, json.loads(result.out)


def by_key(report: dict[str, Any]) -> dict[tuple[str, int | None, str | None], dict[str, Any]]:
    return {(f["kind"], f["subject"]["vmid"], f["field"]): f for f in report["findings"]}


@pytest.mark.parametrize("tls", ["ca_file", "fingerprint"])
def test_clean_estate_is_exit_0_with_no_findings(cli, env: Path, tls: str) -> None:
    with ExitStack() as stack:
        servers = {"alpha": start(stack, CLEAN_ALPHA), "beta": start(stack, CLEAN_BETA)}
        estate = write_estate(env, servers, tls=tls)
        code, report = run_json(cli, estate)
    assert report["findings"] == [], report["findings"]
    assert code == 0
    assert {s["name"]: s["status"] for s in report["sources"]} == {"proxmox:alpha": "ok", "proxmox:beta": "ok"}
    # the agent and LXC interfaces were actually asked (LAN IPs were compared, not skipped)
    assert servers["alpha"].count("*/qemu/100/agent/network-get-interfaces") == 1
    assert servers["alpha"].count("*/lxc/101/interfaces") == 1


def test_every_kind_and_drift_field_with_file_and_line(cli, env: Path) -> None:
    lifecycle = LIFECYCLE + more_items("""\
          - id: 110
            hostname: web
            status: active
            resources:
              cpu_cores: 4
              memory_mb: 4096
              boot_disk_gb: 20
            lan_ip: 10.9.0.20
          - id: 111
            hostname: queue
            vm_type: lxc
            status: active
          - id: 112
            hostname: idle
            status: active
          - id: 113
            hostname: base
            status: active
          - id: 114
            hostname: mail-old
            status: decommissioned
          - id: 115
            hostname: sandbox
            status: planning
          - id: 116
            hostname: moved
            proxmox_host: alpha
            status: active
          - id: 117
            hostname: vault
            status: active
          - id: 118
            hostname: twin
            status: active
          - id: 118
            hostname: twin-again
            status: active
          - id: 119
            hostname: odd
            status: sleeping
        """)
    alpha = {"nodes": ["pve"], "guests": CLEAN_ALPHA["guests"] + [
        {"vmid": 110, "name": "web-old", "cores": 8, "memory_mb": 8192, "disk_gb": 40, "ips": ["10.9.0.99"]},
        {"vmid": 111, "type": "qemu", "name": "queue"},
        {"vmid": 112, "name": "idle", "status": "stopped"},
        {"vmid": 113, "name": "base", "template": True, "status": "running"},
        {"vmid": 114, "name": "mail-old"},
        {"vmid": 115, "name": "sandbox"},
        {"vmid": 118, "name": "twin"},
        {"vmid": 150, "type": "lxc", "name": "scratch"},
    ]}
    beta = {"nodes": ["pve"], "guests": CLEAN_BETA["guests"] + [{"vmid": 116, "name": "moved"}]}
    with ExitStack() as stack:
        estate = write_estate(env, {"alpha": start(stack, alpha), "beta": start(stack, beta)}, lifecycle=lifecycle)
        code, report = run_json(cli, estate)
    found = by_key(report)
    expected = {
        ("unregistered", 150, None): None,
        ("missing", 117, None): estate.line_of(117),
        ("drifted", 110, "name"): estate.line_of(110, "hostname"),
        ("drifted", 110, "cpu_cores"): estate.line_of(110, "cpu_cores"),
        ("drifted", 110, "memory_mb"): estate.line_of(110, "memory_mb"),
        ("drifted", 110, "boot_disk_gb"): estate.line_of(110, "boot_disk_gb"),
        ("drifted", 110, "lan_ip"): estate.line_of(110, "lan_ip"),
        ("drifted", 111, "type"): estate.line_of(111, "vm_type"),
        ("drifted", 112, "power"): estate.line_of(112, "status"),
        ("drifted", 113, "template"): estate.line_of(113, "status"),
        ("drifted", 114, "lingering"): estate.line_of(114, "status"),
        ("drifted", 115, "planning_live"): estate.line_of(115, "status"),
        ("drifted", 116, "placement"): estate.line_of(116, "proxmox_host"),
    }
    for key, source in expected.items():
        assert key in found, f"no {key} finding; got {sorted(found, key=str)}"
        if source is not None:
            assert found[key]["sources"] == [source], (key, found[key]["sources"])
        assert found[key]["hint"], key
    assert found[("drifted", 110, "cpu_cores")]["declared"] == 4 and found[("drifted", 110, "cpu_cores")]["live"] == 8
    assert found[("drifted", 116, "placement")]["live"] == "beta"
    invalid = [f for f in report["findings"] if f["kind"] == "invalid"]
    assert {f["field"] for f in invalid} >= {"duplicate", "status"}
    assert any(estate.line_of(119) in f["sources"][0] or estate.line_of(119, "status") in f["sources"][0]
               for f in invalid if f["field"] == "status")
    assert report["summary"]["unknown"] == 0
    assert code == 1
    # a moved guest is placement drift, not also missing on alpha and unregistered on beta
    assert ("missing", 116, None) not in found and ("unregistered", 116, None) not in found


def test_offline_node_and_agent_failures_are_unknown_exit_3(cli, env: Path) -> None:
    lifecycle = LIFECYCLE + more_items("""\
        - id: 120
          hostname: on-the-dead-node
          status: active
        - id: 121
          hostname: no-agent
          status: active
          lan_ip: 10.9.0.21
        - id: 122
          hostname: agent-off
          status: active
          lan_ip: 10.9.0.22
        - id: 123
          hostname: agent-broken
          status: active
          lan_ip: 10.9.0.23
        """)
    alpha = {"nodes": ["pve", {"name": "pve2", "status": "offline"}], "guests": CLEAN_ALPHA["guests"] + [
        {"vmid": 120, "node": "pve2", "name": "on-the-dead-node"},
        {"vmid": 121, "name": "no-agent", "agent": "not_running"},
        {"vmid": 122, "name": "agent-off", "agent": "not_configured"},
        {"vmid": 123, "name": "agent-broken", "agent": "guest_error"},
    ]}
    with ExitStack() as stack:
        estate = write_estate(env, {"alpha": start(stack, alpha), "beta": start(stack, CLEAN_BETA)},
                              lifecycle=lifecycle)
        code, report = run_json(cli, estate)
    kinds = {f["kind"] for f in report["findings"]}
    assert kinds == {"unknown"}, report["findings"]
    reasons = {(f["subject"]["vmid"], f["reason"]) for f in report["findings"]}
    # the offline node is the cause for 120 (one finding naming it); the agents are each guest's own cause
    assert {(None, "node_offline"), (121, "agent_not_running"), (122, "agent_not_configured"),
            (123, "agent_error")} <= reasons
    node = next(f for f in report["findings"] if f["reason"] == "node_offline")
    assert node["subject"]["name"] == "alpha/pve2" and "lab/qemu/alpha/120" in node["hides"]
    assert code == 3


def test_node_status_unknown_is_unknown_not_missing(cli, env: Path) -> None:
    alpha = {"nodes": ["pve", {"name": "pve2", "status": "unknown"}],
             "guests": [g if g["vmid"] != 102 else {**g, "node": "pve2"} for g in CLEAN_ALPHA["guests"]]}
    with ExitStack() as stack:
        estate = write_estate(env, {"alpha": start(stack, alpha), "beta": start(stack, CLEAN_BETA)})
        code, report = run_json(cli, estate)
    unknown = [f for f in report["findings"] if f["kind"] == "unknown"]
    assert [(f["subject"]["name"], f["hides"]) for f in unknown] == [("alpha/pve2", ["lab/qemu/alpha/102"])]
    assert report["summary"]["missing"] == 0 and code == 3


def test_token_that_cannot_see_a_guest_gives_no_permission(cli, env: Path) -> None:
    alpha = {**CLEAN_ALPHA, "grants": [{"path": f"/vms/{v}"} for v in (100, 101, 103)]}
    with ExitStack() as stack:
        srv = start(stack, alpha)
        estate = write_estate(env, {"alpha": srv, "beta": start(stack, CLEAN_BETA)})
        code, report = run_json(cli, estate)
        assert srv.count("access/permissions") == 1
    hidden = [f for f in report["findings"] if f["subject"]["vmid"] == 102]
    assert [(f["kind"], f["reason"]) for f in hidden] == [("unknown", "no_permission")]
    assert report["summary"]["missing"] == 0 and code == 3


def test_bad_token_is_exit_2_one_line_naming_site_and_host(cli, env: Path) -> None:
    with ExitStack() as stack:
        servers = {"alpha": start(stack, CLEAN_ALPHA), "beta": stack.enter_context(
            FakePVE(CLEAN_BETA, token_id=TOKEN_ID, secret="a-different-secret"))}
        estate = write_estate(env, servers)
        for fmt in ("table", "json"):
            result = cli("--sites-dir", estate.sites, "--site", "lab", "-f", fmt)
            assert result.code == 2
            errors = [line for line in result.err.splitlines() if line.startswith("reconcile: error:")]
            assert len(errors) == 1 and "lab" in errors[0] and "beta" in errors[0] and "401" in errors[0]
            assert "Traceback" not in result.err
            assert SECRET not in result.out + result.err
        debug = cli("--sites-dir", estate.sites, "--site", "lab", "--debug")
        assert SECRET not in debug.out + debug.err


@pytest.mark.parametrize("pin", ["sha256:" + ":".join(["AB"] * 32), "wrong-format"])
def test_wrong_fingerprint_fails_closed(cli, env: Path, pin: str) -> None:
    with ExitStack() as stack:
        srv = start(stack, CLEAN_ALPHA)
        estate = write_estate(env, {"alpha": srv}, lifecycle=LIFECYCLE.split("  - id: 200")[0])
        estate_file = estate.sites / "lab.yaml"
        estate_file.write_text(estate_file.read_text().replace(srv.cert_path.as_posix(), "x").replace(
            "ca_file: x", f'fingerprint: "{pin}"'))
        result = cli("--sites-dir", estate.sites, "--site", "lab")
        # no guest data may be read over a connection whose certificate did not match
        assert srv.count("cluster/*") == 0
    assert result.code == 2
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    # a malformed pin is a config error at its file:line; a well-formed wrong one a TLS error of that host
    assert ("lab.yaml:" in result.err and "fingerprint" in result.err) if pin == "wrong-format" else \
        ("alpha" in result.err and "fingerprint" in result.err.lower())


def test_untrusted_certificate_fails_closed(cli, env: Path) -> None:
    with ExitStack() as stack:
        srv = start(stack, CLEAN_ALPHA)
        estate = write_estate(env, {"alpha": srv}, lifecycle=LIFECYCLE.split("  - id: 200")[0])
        site = estate.sites / "lab.yaml"
        site.write_text(re.sub(r"(?m)^ *ca_file: .*\n", "", site.read_text()))
        result = cli("--sites-dir", estate.sites, "--site", "lab")
        assert srv.count("cluster/*") == 0
    assert result.code == 2 and "certificate could not be verified" in result.err and "alpha" in result.err


def test_snapshot_round_trip_matches_the_live_run(cli, env: Path) -> None:
    alpha = {"nodes": ["pve"], "guests": CLEAN_ALPHA["guests"] + [{"vmid": 150, "type": "lxc", "name": "scratch"}]}
    snapshot = env / "live.json"
    with ExitStack() as stack:
        estate = write_estate(env, {"alpha": start(stack, alpha), "beta": start(stack, CLEAN_BETA)})
        live_code, live_report = run_json(cli, estate)
        taken = cli("--sites-dir", estate.sites, "snapshot", "--site", "lab", "-o", snapshot)
        assert taken.code == 0, taken.err
    text = snapshot.read_text()
    assert SECRET not in text and TOKEN_ID not in text
    offline_code, offline_report = run_json(cli, estate, "--live", str(snapshot))
    assert (offline_code, [f["id"] for f in offline_report["findings"]]) == (
        live_code, [f["id"] for f in live_report["findings"]])
    assert [f["subject"]["vmid"] for f in offline_report["findings"]] == [150]


def test_missing_ca_file_is_one_line_naming_the_setting(cli, env: Path) -> None:
    with ExitStack() as stack:
        srv = start(stack, CLEAN_ALPHA)
        estate = write_estate(env, {"alpha": srv}, lifecycle=LIFECYCLE.split("  - id: 200")[0])
        site = estate.sites / "lab.yaml"
        site.write_text(site.read_text().replace(str(srv.cert_path), str(env / "gone.pem")))
        result = cli("--sites-dir", estate.sites, "--site", "lab", "--only", "guests")
        assert srv.count("*") == 0
    assert result.code == 2
    errors = [line for line in result.err.splitlines() if line.startswith("reconcile: error:")]
    assert len(errors) == 1 and "alpha" in errors[0] and "gone.pem" in errors[0] and "lab.yaml:" in errors[0]
    assert "unexpected" not in result.err


def test_snapshot_records_what_the_token_could_see(cli, env: Path) -> None:
    """Bindings that later declare a guest the token could not audit must not turn it into `missing`."""
    alpha = {"nodes": ["pve"], "guests": [*CLEAN_ALPHA["guests"], {"vmid": 104, "name": "hidden"}],
             "grants": [{"path": f"/vms/{v}"} for v in (100, 101, 102, 103)]}
    snapshot = env / "live.json"
    with ExitStack() as stack:
        srv = start(stack, alpha)
        estate = write_estate(env, {"alpha": srv}, lifecycle=LIFECYCLE.split("  - id: 200")[0])
        taken = cli("--sites-dir", estate.sites, "snapshot", "--site", "lab", "-o", snapshot)
        assert taken.code == 0, taken.err
        assert srv.count("access/permissions") == 1
    estate.lifecycle.write_text(estate.lifecycle.read_text() + more_items("""\
        - id: 104
          hostname: hidden
          status: active
        """))
    code, report = run_json(cli, estate, "--live", str(snapshot))
    assert [(f["kind"], f["subject"]["vmid"], f["reason"]) for f in report["findings"]] == [
        ("unknown", 104, "no_permission")]
    assert code == 3
