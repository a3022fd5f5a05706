"""The peer: ansible's `community.proxmox.proxmox` inventory plugin with `want_facts`, against the same fake.

It is not a project dependency. Install it once into its own virtual environment (it is large):

    python -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install ansible requests     # ansible ships community.proxmox

then `python benchmarks/run.py --peer` (or `--peer-venv DIR` for another place). The run is measured like
ours (one child process: wall, CPU, peak RSS) and the fake counts its requests. REQUESTS_CA_BUNDLE and
CURL_CA_BUNDLE are removed from its environment: with them set, `requests` ignores the plugin's
`validate_certs: false` and every request fails on the fake's self-signed certificate.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

from .estate import TOKEN_ID, TOKEN_SECRET
from .harness import BenchError, ProcessSample, run_measured
from .pve import PveBench

DEFAULT_VENV = Path("/tmp/peer-venv")


def ansible_inventory(venv: Path) -> Path:
    command = venv / "bin" / "ansible-inventory"
    if not command.is_file():
        raise BenchError(f"{command} not found: install the peer with `python -m venv {venv} && "
                         f"{venv}/bin/pip install ansible requests` (see docs/performance.md)")
    return command


def write_inventory(bench: PveBench) -> Path:
    """An inventory source the plugin accepts (the file name must end in proxmox.yml)."""
    user, token = TOKEN_ID.split("!", 1)
    path = bench.dir / "bench.proxmox.yml"
    path.write_text(textwrap.dedent(f"""\
        plugin: community.proxmox.proxmox
        url: {bench.srv.url}
        user: {user}
        token_id: {token}
        token_secret: {TOKEN_SECRET}
        validate_certs: false
        want_facts: true
        """))
    return path


def peer_env(venv: Path, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update({
        "PATH": f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",  # a plugin failure must fail the run, not give []
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
    })
    return env


def run_peer(bench: PveBench, venv: Path = DEFAULT_VENV) -> tuple[ProcessSample, int, int]:
    """One `ansible-inventory --list` run; (sample, requests, guests with addresses). Checked like ours."""
    command = ansible_inventory(venv)
    inventory = write_inventory(bench)
    bench.srv.reset_requests()
    sample = run_measured([str(command), "-i", str(inventory), "--list"], env=peer_env(venv, bench.dir),
                          timeout_s=1800)
    requests = len(bench.srv.requests)
    if sample.exit_code != 0:
        raise BenchError(f"ansible-inventory exited {sample.exit_code}: {sample.stderr.strip()[-500:]}")
    hostvars = json.loads(sample.stdout).get("_meta", {}).get("hostvars", {})
    guests = {name: v for name, v in hostvars.items() if "proxmox_vmid" in v}
    with_ips = sum(1 for v in guests.values() if _has_address(v))
    wanted_guests = sum(1 for g in bench.estate.guests if not g.template)  # the plugin skips templates
    if len(guests) != wanted_guests:
        raise BenchError(f"ansible inventory lists {len(guests)} guests, expected {wanted_guests}")
    return sample, requests, with_ips


def _has_address(hostvars: dict) -> bool:
    """Whether the plugin reported a usable guest address (agent interfaces or LXC interfaces)."""
    agent = _plain(hostvars.get("proxmox_agent_interfaces")) or []
    lxc = _plain(hostvars.get("proxmox_lxc_interfaces")) or []
    addresses = [a for i in agent for a in i.get("ip-addresses", [])]
    addresses += [i["inet"] for i in lxc if "inet" in i]
    return any(not a.startswith(("127.", "::1", "fe80")) for a in addresses)


def _plain(value: Any) -> Any:
    """ansible-inventory --list wraps strings as {"__ansible_unsafe": "..."}; unwrap them."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
