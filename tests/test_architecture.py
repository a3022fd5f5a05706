"""The pipeline's import rules (docs/architecture.md), read from the code itself.

Every import inside reconciler/ is resolved to the package it reaches; an edge that runs up the pipeline, or
out of a layer that must stay pure, fails with the file and line. Also: no module over 500 lines and no
`global` statement in reconciler/.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"
MAX_LINES = 500

# Lower ranks are imported by higher ones, never the other way. `model` and `errors` are the vocabulary every
# stage passes on, so they sit at the bottom; engine, governance, nightly and plan are the orchestrators.
RANK = {
    "errors": 0, "choices": 0, "record": 0, "model": 1, "yamlio": 1, "yamlscalar": 1, "fileio": 1, "settings": 1.5,
    "config": 2, "sites": 3, "bindings": 4, "collect": 5, "rules": 6, "render": 7,
    "governance": 8, "engine": 9, "plan": 10, "nightly": 10, "doctor": 10, "fix": 10, "cli": 11, "__main__": 12,
}
# Layers with a narrower allowance than their rank: what they may import besides themselves.
ONLY = {
    "model": {"errors", "choices", "record"},
    "render": {"errors", "model", "record"},  # renderers see model types only
    "rules": {"errors", "model", "record", "settings", "bindings"},  # pure: declared × live → findings
    "collect": {"errors", "model", "record", "config"},
}
# Modules that must stay pure although their package may talk to hosts or read files.
PURE_MODULES = ("plan/checks", "plan/stubs")
PURE_FORBIDDEN = {"collect", "fileio", "yamlio"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path, source: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module) of every reconciler import in `source`, `path` being its file under PACKAGE."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    module = ".".join(relative.parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names if alias.name.startswith("reconciler"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                if node.module:
                    yield node.lineno, ".".join([*base, node.module])
                else:  # `from . import x`: each name may be a module of its own
                    yield from ((node.lineno, ".".join([*base, alias.name])) for alias in node.names)
            elif node.module and node.module.startswith("reconciler"):
                yield node.lineno, node.module


def violations(path: Path, source: str) -> list[str]:
    here = layer_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    pure = any(str(path.relative_to(PACKAGE)).startswith(m) for m in PURE_MODULES)
    found = []
    for line, target in imports_of(path, source):
        there = layer_of(target)
        if there == here or there == "reconciler":
            continue
        where = f"{path.relative_to(PACKAGE.parent)}:{line}"
        if there not in RANK or here not in RANK:
            found.append(f"{where}: {here} → {there}: a package docs/architecture.md does not place")
        elif here in ONLY and there not in ONLY[here]:
            found.append(f"{where}: {here} may import only {sorted(ONLY[here])}, not {there}")
        elif RANK[there] >= RANK[here]:
            found.append(f"{where}: {here} → {there} runs up the pipeline")
        elif pure and there in PURE_FORBIDDEN:
            found.append(f"{where}: a pure module imports {there}")
    return found


# The libraries that talk to hosts: only the collectors may import them.
HOST_LIBRARIES = {"paramiko", "proxmoxer", "requests", "urllib3", "http", "ssl"}


def host_library_imports(path: Path, source: str) -> list[str]:
    if path.relative_to(PACKAGE).parts[0] == "collect":
        return []
    found = []
    for node in ast.walk(ast.parse(source)):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else [])
        found += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: imports {name} outside collect/"
                  for name in names if name.split(".")[0] in HOST_LIBRARIES]
    return found


def python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_import_runs_up_the_pipeline() -> None:
    found = [v for path in python_files() for v in violations(path, path.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)


def test_only_the_collectors_import_libraries_that_talk_to_hosts() -> None:
    found = [v for path in python_files() for v in host_library_imports(path, path.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)
    bindings = PACKAGE / "bindings" / "docker.py"
    assert host_library_imports(bindings, bindings.read_text() + "\nimport paramiko\n")  # the check can fail


@pytest.mark.parametrize("file, line, expected", [
    ("render/table.py", "from ..engine import reconcile", "render may import only"),
    ("model/report.py", "from ..rules.registry import run_rules", "model may import only"),
    ("bindings/lifecycle.py", "from ..collect.proxmox import collect_host", "bindings → collect runs up"),
    ("config.py", "from .bindings import lifecycle", "config → bindings runs up"),
    ("plan/checks/capacity.py", "from ...collect.pve_capacity import parse_capacity", "a pure module imports collect"),
    ("engine.py", "import reconciler.cli.base", "engine → cli runs up"),
    ("rules/guest_drift.py", "from .. import render", "rules may import only"),
])
def test_an_upward_import_is_caught(file: str, line: str, expected: str) -> None:
    """The checker itself: each of these edges, added to a real module, is a violation naming its line."""
    path = PACKAGE / file
    source = path.read_text(encoding="utf-8") + "\n" + line + "\n"
    found = violations(path, source)
    assert any(expected in v and v.startswith(f"reconciler/{file}:") for v in found), found


def test_modules_are_small_and_keep_no_global_state() -> None:
    too_long = [f"{p.relative_to(PACKAGE.parent)}: {n} lines" for p in python_files()
                if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    globals_ = [f"{p.relative_to(PACKAGE.parent)}:{node.lineno}" for p in python_files()
                for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))) if isinstance(node, ast.Global)]
    assert not too_long, too_long
    assert not globals_, globals_


def skeleton_bypasses(path: Path, source: str) -> list[str]:
    """Where a loader of reconciler/bindings/ reads YAML itself instead of through `open_binding`."""
    if path.name == "__init__.py":
        return []  # the skeleton itself
    return [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: calls {node.func.id} (use bindings.open_binding)"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in {"load_yaml_file", "parse_yaml", "read_text"}]


def test_every_binding_loader_uses_the_one_skeleton() -> None:
    loaders = sorted((PACKAGE / "bindings").glob("*.py"))
    found = [v for path in loaders for v in skeleton_bypasses(path, path.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)
    opening = [p.name for p in loaders if p.name != "__init__.py" and "open_binding(" in p.read_text(encoding="utf-8")]
    assert len(opening) >= 10, opening  # every file-reading loader opens through the skeleton
    backup = PACKAGE / "bindings" / "backup.py"
    assert skeleton_bypasses(backup, backup.read_text() + "\ndata = load_yaml_file(path)\n")  # the check can fail


@pytest.mark.parametrize("args", [("--site", "demo"), ("plan-vm", "--site", "demo", "--vmid", "150", "--hostname", "x"),
                                  ("check", "--site", "demo"), ("coverage", "--site", "demo")], ids=" ".join)
def test_each_binding_file_is_read_once_per_run(cli, packaged_demo, monkeypatch, args) -> None:
    from reconciler import yamlio
    from reconciler.plan import layout  # noqa: F401  (see below)

    # What is counted is every load of a binding file (load_yaml_file → yamlio.read_text). plan-vm also reads the
    # text of the files it writes stubs for, to place them (plan/layout.py binds read_text when imported): that
    # read is not a load, and importing it here, before the counter, keeps the count the same in any test order
    # (the CLI imports plan-vm's modules only when the command runs).
    reads: list[str] = []
    original = yamlio.read_text

    def counting(path, *rest, **kwargs):
        reads.append(str(path))
        return original(path, *rest, **kwargs)

    monkeypatch.setattr(yamlio, "read_text", counting)
    result = cli(*args)
    assert result.code in (0, 1), result.err
    bindings = [path for path in reads if "/bindings/" in path]
    assert bindings, "no binding file was read: the counter is not on the reading path"
    assert sorted(p for p in set(bindings) if bindings.count(p) > 1) == []


def test_a_run_that_asks_no_proxmox_api_does_not_import_the_http_stack() -> None:
    """requests, urllib3 and proxmoxer (~0.09 s) load only when a Proxmox API is asked (collect/pve_client.py):
    the SSH fan-out and the demo start faster for it."""
    import subprocess
    import sys

    probe = ("import sys, reconciler.cli; "
             "print(sorted(m for m in ('requests', 'urllib3', 'proxmoxer') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout
