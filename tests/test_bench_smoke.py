"""A small version of every benchmark scenario (benchmarks/, docs/performance.md): it must complete and do
exactly the expected work. Nothing here is timed: timing targets are figures of `benchmarks/run`.
"""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import redirect_stdout

import pytest
import requests

from benchmarks import core
from benchmarks.estate import Estate, EstateSpec
from benchmarks.harness import BenchError, run_measured
from benchmarks.peer import _has_address
from benchmarks.pve import PveBench, expect_requests
from reconciler.model import (
    Declared,
    DeclaredStack,
    LiveState,
    SiteScope,
    SourceRef,
)
from reconciler.rules import RuleContext
from tests.fakes.sshd import sshd_available

IN_CI = os.environ.get("CI", "").lower() == "true"


def test_pve_bench_counts_one_listing_plus_one_request_per_guest_needing_detail() -> None:
    spec = EstateSpec(guests=60, nodes=3)
    with PveBench(spec, delay_s=0.0) as bench:
        sample, requests_made = bench.reconcile()  # raises BenchError on a wrong count or wrong findings
        srv = bench.srv
        running = [g for g in srv.estate.guests if g.status == "running" and not g.template]
        assert srv.count("cluster/resources") == 1
        assert srv.count("nodes/*/qemu/*/agent/network-get-interfaces") + srv.count("nodes/*/lxc/*/interfaces") \
            == len(running) == 54  # 60 minus every 10th stopped (the template, 49, among them)
        assert srv.count("access/permissions") == srv.count("version") == 0
        assert requests_made == 1 + len(running) == len(srv.requests)
        assert sample.exit_code == 1 and sample.peak_rss_mb > 0 and sample.cpu_s > 0
        report = json.loads(sample.stdout)
        drifted = [f for f in report["findings"] if f["kind"] == "drifted"]
        assert len(drifted) == round(60 * spec.drift_fraction) == 3
        assert all(f["field"] == "cpu_cores" and f["declared"] == f["live"] + 1 for f in drifted)

        _, snapshot_requests = bench.snapshot()
        assert snapshot_requests == 2 + len(running)  # + /access/permissions, recorded in the snapshot
        assert srv.count("access/permissions") == 1


def test_the_ideal_proxmox_client_makes_exactly_the_requests_of_the_reconcile() -> None:
    """The ratio's denominator does the same work: the same paths, the listing first, authenticated, over TLS
    verified against the same ca_file (a failed verification would be a failed request, hence a BenchError)."""
    with PveBench(EstateSpec(guests=30, nodes=3), delay_s=0.0) as bench:
        bench.reconcile()
        ours = bench.srv.paths()
        bench.ideal(8)
        assert sorted(bench.srv.paths()) == sorted(ours) and bench.srv.paths()[0] == ours[0] == "cluster/resources"
        assert all(r.authenticated for r in bench.srv.requests)
        cpu = bench.request_cpu(repeat=1)
        assert cpu["requests"] == len(ours) and cpu["ideal_ms"] > 0 and cpu["reconciler_ms"] > 0


def test_pve_bench_refuses_a_run_that_did_less_work() -> None:
    with pytest.raises(BenchError, match="expected exactly 10"):
        expect_requests(9, 10, "reconcile")
    with PveBench(EstateSpec(guests=12), delay_s=0.0) as bench:
        bench.srv.add_fault("nodes/*/qemu/*/agent/*", status=500, message="QEMU guest agent is not running")
        with pytest.raises(BenchError, match="guest findings"):
            bench.reconcile()  # unknown addresses instead of checked ones: not the benchmarked work


def test_the_fake_answers_what_the_peer_asks_for() -> None:
    # the ansible inventory plugin (want_facts) asks for status/current and snapshot of every guest
    with PveBench(EstateSpec(guests=12), delay_s=0.0) as bench:
        auth = {"Authorization": f"PVEAPIToken={bench.srv.token_id}={bench.srv.secret}"}

        def get(path: str) -> object:
            response = requests.get(f"{bench.srv.url}/api2/json/{path}", headers=auth, verify=str(bench.srv.cert_path),
                                    timeout=5)
            assert response.status_code == 200, (path, response.reason)
            return response.json()["data"]

        assert get("nodes/node1/qemu/1000/status/current")["qmpstatus"] == "running"
        assert get("nodes/node3/lxc/1011/status/current")["type"] == "lxc"
        assert [s["name"] for s in get("nodes/node1/qemu/1000/snapshot")] == ["current"]
    assert _has_address({"proxmox_lxc_interfaces": [{"inet": {"__ansible_unsafe": "198.18.0.11/24"}}]})
    assert not _has_address({"proxmox_agent_interfaces": [{"ip-addresses": ["127.0.0.1/8", "::1/128"]}]})


@pytest.mark.sshd
def test_ssh_fanout_bench_opens_one_session_per_docker_host() -> None:
    if not sshd_available():
        if IN_CI:
            pytest.fail("/usr/sbin/sshd is required under CI=true")
        pytest.skip("/usr/sbin/sshd is not installed")
    from benchmarks.ssh_fanout import SshBench

    with SshBench(EstateSpec(guests=0, docker_hosts=4, drift_fraction=0.25), delay_s=0.0) as bench:
        sample, sessions = bench.reconcile()  # raises BenchError unless 4 sessions, 4 docker commands
        assert sessions == 4
        assert bench.server is not None and len(bench.server.docker_calls()) == 4  # one docker command per host
        report = json.loads(sample.stdout)
        assert [(f["subject"]["target"], f["field"]) for f in report["findings"]] == [("docker-03", "path")]
        ideal = bench.ideal(concurrency=2)  # the ideal client: same sessions and command, nothing else
        assert ideal.exit_code == 0 and json.loads(ideal.stdout) == {"hosts": 4, "ok": 4}
        assert len(bench.server.commands()) == 8 and bench.ideal_host_seconds() > 0


def test_comparison_core_finds_exactly_the_generated_differences() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert core.main(["--guests", "500", "--docker-hosts", "6", "--stacks-per-host", "3"]) == 0
    result = json.loads(out.getvalue())
    assert result["declared_guests"] == result["live_guests"] == 500 and result["stacks"] == 18
    assert result["findings"] == result["expected"]
    assert result["expected"]["missing"] == result["expected"]["unregistered"] == 5
    assert result["expected"]["drifted"] == 25


def test_run_measured_reports_the_child_alone() -> None:
    sample = run_measured(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (sample.exit_code, sample.stdout, sample.stderr) == (3, "out\n", "err\n")
    assert sample.wall_s > 0 and sample.peak_rss_mb > 0


def test_peak_rss_is_the_childs_not_the_runners() -> None:
    """Linux records the old memory's high-water mark at exec: the runner's size must not become the child's."""
    ballast = b"x" * (200 * 2**20)  # the runner (this process) now holds 200 MB more
    small = run_measured(["/bin/sh", "-c", "exit 0"])
    big = run_measured([sys.executable, "-c", "b = b'x' * (120 * 2**20)"])
    assert len(ballast) and small.peak_rss_mb < 50 and 120 < big.peak_rss_mb < 200, (small, big)


def test_estate_generator_is_deterministic_and_declares_the_known_drift() -> None:
    one, two = Estate(EstateSpec(guests=200)), Estate(EstateSpec(guests=200))
    assert one.guests == two.guests and one.docker_ps_jsonl() == two.docker_ps_jsonl()
    assert sum(g.drifted for g in one.guests) == 10
    assert one.reconcile_requests() == 1 + sum(1 for g in one.guests if g.running and not g.template)


def test_host_views_group_the_declared_stacks_of_each_docker_host() -> None:
    # RuleContext.hosts groups stacks by host in one pass (benchmarks/core.py); same answers as before
    stacks = tuple(DeclaredStack(t, n, None, SourceRef("t.yaml", i)) for i, (t, n) in
                   enumerate((("h1", "a"), ("h2", "b"), ("h1", "c"), ("h9", "x"))))
    ctx = RuleContext(scope=SiteScope("s", frozenset(), docker_targets=frozenset({"h1", "h2", "h3"})),
                      declared=Declared(stacks=stacks), live=LiveState())
    views = {v.target: v for v in ctx.hosts}
    assert sorted(views) == ["h1", "h2", "h3"]
    assert [s.name for s in views["h1"].declared] == ["a", "c"] and views["h3"].declared == ()
    assert all(v.gap is not None and v.gap.reason.value == "skipped" for v in views.values())


def test_start_up_rows_run_each_command_beside_the_bare_interpreter() -> None:
    from benchmarks.run import startup_rows

    rows = startup_rows(1)
    assert [r.scenario.split(",")[0] for r in rows] == [
        "(floor) the interpreter alone: python -c pass", "`reconcile --version`", "`reconcile --help`",
        "`reconcile --site demo`"]
    assert all(len(r.samples) == 1 for r in rows)
    assert all(r.ideal_s == rows[0].wall_s and r.met is not None for r in rows[1:])
    assert "Usage: reconcile" in rows[2].samples[0].stdout and rows[3].samples[0].exit_code == 1
