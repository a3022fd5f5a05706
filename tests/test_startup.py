"""Start-up imports only what the command uses (issue 19; the timings are benchmarks, docs/performance.md).

`reconcile --help` (and each subcommand's `--help`) builds every option from the CLI package alone: no
pipeline module (engine, bindings, rules, model, collectors, renderers) and no YAML, HTTP or SSH library is
imported. The demo, which does use the pipeline, still never imports the HTTP or SSH stack.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PIPELINE = ("reconciler.engine", "reconciler.bindings", "reconciler.rules", "reconciler.model",
            "reconciler.collect", "reconciler.governance", "reconciler.plan.run", "reconciler.doctor",
            "reconciler.render.table", "reconciler.config")
LIBRARIES = ("yaml", "requests", "urllib3", "proxmoxer", "paramiko", "pydantic",
             "logging", "tempfile")  # the stdlib modules only a run needs (a few ms each; the probe uses json)

PROBE = """
import contextlib, io, json, sys
from reconciler.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def imported_by(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                          check=True)
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("args", [("--help",), ("-h",), ("check", "--help"), ("plan-vm", "--help"),
                                  ("report", "--help"), ("doctor", "--help"), ("ignore", "add", "--help"),
                                  ("snapshot", "--help"), ("fix", "--help")], ids=" ".join)
def test_help_imports_no_pipeline_and_no_library(args: tuple[str, ...]) -> None:
    result = imported_by(*args)
    assert result["code"] == 0 and "Usage: reconcile" in result["out"]
    loaded = [m for m in result["modules"] if m.startswith(PIPELINE) or m.split(".")[0] in LIBRARIES]
    assert loaded == [], loaded


def test_the_probe_sees_what_a_run_imports() -> None:
    """The same probe on a real run: the pipeline is there (so an empty list above means something)."""
    result = imported_by("--site", "demo", "-q")
    assert result["code"] == 1
    modules = set(result["modules"])
    assert {"reconciler.engine", "reconciler.rules.registry", "yaml"} <= modules
    assert not modules & {"requests", "urllib3", "proxmoxer", "paramiko"}, "the demo asks no host"
