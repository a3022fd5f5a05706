"""Where the time of a scenario goes, phase by phase (the figures of docs/performance.md "Where the time goes").

    python -m benchmarks.profile pve [--guests 1000]   # reconcile phases against the fake Proxmox API (20 ms)
    python -m benchmarks.profile ssh                   # one docker host over SSH (300 ms per docker command)

The fake servers run in this process; the measured phases run in a child process (`--child`), as in the
runner, so the fakes never compete with them for the GIL.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def pve_child(sites_dir: Path) -> None:
    """Each phase of `engine.reconcile` for the bench site, timed; plus the per-request latency."""
    started = time.perf_counter()
    from reconciler import engine
    from reconciler.collect import pve_client
    from reconciler.model import LiveState
    from reconciler.sites import load_sites

    phases = {"imports": time.perf_counter() - started}
    latencies: list[float] = []
    cpu: list[float] = []
    get = pve_client.ProxmoxClient.get

    def timed_get(self: pve_client.ProxmoxClient, path: str, /, **params: object) -> object:
        wall, thread_cpu = time.perf_counter(), time.thread_time()
        try:
            return get(self, path, **params)
        finally:
            latencies.append(time.perf_counter() - wall)
            cpu.append(time.thread_time() - thread_cpu)

    pve_client.ProxmoxClient.get = timed_get  # type: ignore[method-assign]
    configs = load_sites(["bench"], sites_dir, None)
    mark = time.perf_counter()
    site = engine.load_declared(configs[0])
    phases["load bindings"], mark = time.perf_counter() - mark, time.perf_counter()
    observations = engine.collect_proxmox(site)
    phases["collect (listing + detail requests)"], mark = time.perf_counter() - mark, time.perf_counter()
    engine.evaluate(site, LiveState(proxmox=observations))
    phases["evaluate"], mark = time.perf_counter() - mark, time.perf_counter()
    engine.governance_findings(site)
    phases["governance checks"] = time.perf_counter() - mark
    for name, seconds in phases.items():
        print(f"{name:40s} {seconds:6.3f} s")
    print(f"{'requests':40s} {len(latencies):6d}")
    print(f"{'mean request latency':40s} {statistics.mean(latencies) * 1000:6.1f} ms")
    print(f"{'mean client CPU per request':40s} {statistics.mean(cpu) * 1000:6.2f} ms")


def ssh_child(port: int, user: str, key: Path, known_hosts: Path) -> None:
    """One host, 5 times: SSH connect (kex + auth), remote script, the rest."""
    from reconciler.collect import ssh
    from reconciler.collect.docker_output import remote_command
    from reconciler.config import SshSettings

    marks: dict[str, list[float]] = {"connect": [], "command": [], "total": []}
    connect, read_all = ssh._connect, ssh._read_all

    def timed(name: str, function):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                marks[name].append(time.perf_counter() - started)
        return wrapper

    ssh._connect = timed("connect", connect)  # type: ignore[assignment]
    ssh._read_all = timed("command", read_all)  # type: ignore[assignment]
    settings = SshSettings(known_hosts=known_hosts, identity_file=key, use_agent=False)
    for _ in range(5):
        started = time.perf_counter()
        ssh.run_remote("127.0.0.1", port, user, key, settings, remote_command())
        marks["total"].append(time.perf_counter() - started)
    for name, values in marks.items():
        print(f"{name:10s} median {statistics.median(values):.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("scenario", choices=("pve", "ssh"))
    parser.add_argument("--guests", type=int, default=1000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.scenario == "pve":
            pve_child(Path(args.child[0]))
        else:
            ssh_child(int(args.child[0]), args.child[1], Path(args.child[2]), Path(args.child[3]))
        return 0
    from benchmarks.estate import EstateSpec
    from benchmarks.pve import PveBench, child_env
    from benchmarks.ssh_fanout import SshBench

    me = [sys.executable, "-m", "benchmarks.profile", args.scenario, "--child"]
    if args.scenario == "pve":
        with PveBench(EstateSpec(guests=args.guests), 0.020) as bench:
            return subprocess.run([*me, str(bench.sites_dir)], env=child_env(), cwd=REPO).returncode
    with SshBench(EstateSpec(guests=0, docker_hosts=1), 0.300) as ssh_bench:
        server = ssh_bench.server
        assert server is not None
        known = ssh_bench.dir / "known_hosts"
        return subprocess.run([*me, str(server.port), server.user, str(server.client_key), str(known)],
                              env=child_env(), cwd=REPO).returncode


if __name__ == "__main__":
    sys.exit(main())
