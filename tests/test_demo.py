"""Acceptance 1 of issue 2: the embedded demo runs on a fresh machine, from any directory, offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import jsonschema

from reconciler.model import Kind

from .conftest import SCHEMA

ISSUE_2_KINDS = {Kind.UNREGISTERED, Kind.MISSING, Kind.DRIFTED, Kind.UNKNOWN, Kind.INVALID}


def _reconcile(*args, cwd):
    exe = shutil.which("reconcile")
    command = [exe] if exe else [sys.executable, "-c", "import sys; from reconciler.cli import main; sys.exit(main())"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILE_")} | {"NO_COLOR": "1"}
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_demo_table_from_any_directory(tmp_path):
    result = _reconcile("--site", "demo", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    for header in ("INVALID (", "UNREGISTERED (", "MISSING (", "DRIFTED (", "UNKNOWN ("):
        assert any(line.startswith(header) for line in lines), header
    assert lines[-1].startswith("demo: ") and "exit 1 (drift found)" in lines[-1]
    assert "\x1b[" not in result.stdout  # not a TTY: no colour


def test_demo_json_validates_and_has_every_kind(tmp_path):
    result = _reconcile("--site", "demo", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    kinds = {f["kind"] for f in report["findings"]}
    assert {k.value for k in ISSUE_2_KINDS} <= kinds
    assert report["exit_code"] == 1
    assert sum(report["summary"].values()) == len(report["findings"])
    drift_fields = {f["field"] for f in report["findings"] if f["kind"] == "drifted"}
    assert {"name", "type", "power", "cpu_cores", "memory_mb", "boot_disk_gb", "lan_ip", "placement",
            "lingering", "planning_live"} <= drift_fields
    reasons = {f["reason"] for f in report["findings"] if f["kind"] == "unknown"}
    assert {"node_offline", "agent_not_running"} <= reasons


def test_demo_finding_ids_are_stable(cli):
    first = json.loads(cli("--site", "demo", "-f", "json").out)
    second = json.loads(cli("--site", "demo", "-f", "json").out)
    assert [f["id"] for f in first["findings"]] == [f["id"] for f in second["findings"]]
    assert len({f["id"] for f in first["findings"]}) == len(first["findings"])


def test_demo_findings_cite_binding_lines(cli):
    report = json.loads(cli("--site", "demo", "-f", "json").out)
    by_address = {f["address"]: f for f in report["findings"]}
    memory = by_address["demo/qemu/101/drifted/memory_mb"]
    assert memory["declared"] == 8192 and memory["live"] == 4096
    assert memory["sources"] == ["ops/bindings/vm.lifecycle.yaml:25"]
    assert by_address["demo/qemu/106/missing"]["sources"] == ["ops/bindings/vm.lifecycle.yaml:46"]
    duplicate = by_address["demo/qemu/101/invalid/duplicate"]
    assert duplicate["sources"] == ["ops/bindings/vm.lifecycle.yaml:60", "ops/bindings/vm.lifecycle.yaml:20"]
