"""The package as a new user gets it: installed into a new virtual environment, run from anywhere.

Each venv is made with `python -m venv` (no system site packages) from a copy of the checkout, so only
what pyproject.toml declares is there: an undeclared import fails here the way it fails for a user.
- `pip install .` and `pip install -e .`: `reconcile --site demo` exits 1 with the table; `pip check` is clean;
- every subcommand on the demo, from `/`, with HOME an empty folder: its documented exit code, its state
  and ignore file in the per-user state folder, and not one file added or changed under the installed package;
- a dependency that cannot be imported makes `reconcile` exit 2 with one line, never 1 (drift).

Building a venv needs the package index (or pip's cache); where that fails outside CI the tests skip with
the reason, under CI=true they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 60
PACKAGE_FILES = ("pyproject.toml", "README.md", "reconciler")  # what a build reads: the package, not the tests


@dataclass(frozen=True)
class Venv:
    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def package_dir(self) -> Path:
        """Where `import reconciler` finds the package in this venv (site-packages, or the copy when editable)."""
        out = subprocess.run([self.bin / "python", "-c", "import reconciler; print(reconciler.__file__)"],
                             capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd="/", env=clean_env())
        assert out.returncode == 0, out.stderr
        return Path(out.stdout.strip()).parent


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a new user's shell would have: no variables of ours, no XDG overrides, no venv."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("RECONCILE_", "XDG_", "PYTHON", "VIRTUAL_ENV")) and k != "HOME"}
    return keep | {"NO_COLOR": "1", "PATH": "/usr/bin:/bin"} | extra


def make_venv(base: Path, editable: bool) -> Venv:
    source = base / "checkout"
    source.mkdir()
    for name in PACKAGE_FILES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    venv = Venv(base / "venv")
    subprocess.run([sys.executable, "-m", "venv", venv.root], check=True, timeout=INSTALL_TIMEOUT_S)
    target = ["-e", str(source)] if editable else [str(source)]
    result = subprocess.run([venv.bin / "pip", "install", "-q", "--disable-pip-version-check", *target],
                            capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=clean_env(HOME=str(base)))
    if result.returncode != 0:
        message = f"pip install {' '.join(target)} failed: {result.stderr.strip()[-800:]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    if not editable:
        shutil.rmtree(source)  # the installed copy must not need its source tree
    return venv


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return make_venv(tmp_path_factory.mktemp("venv-install"), editable=False)


@pytest.fixture(scope="session")
def editable(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return make_venv(tmp_path_factory.mktemp("venv-editable"), editable=True)


Run = Callable[..., subprocess.CompletedProcess[str]]


def runner(venv: Venv, home: Path, cwd: str = "/", **env: str) -> Run:
    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([venv.bin / "reconcile", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S, env=clean_env(HOME=str(home), **env))

    return run


def assert_demo_table(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr == "", result.stderr
    head = "INVALID (2)\n  error   demo/qemu/demo-pve/101/invalid/duplicate\n"
    assert result.stdout.startswith(head), result.stdout[:500]
    assert "UNREGISTERED (3)" in result.stdout and "DRIFTED (17)" in result.stdout, result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("demo: ") and re.search(r"exit 1 \(drift found: \d+ to act on\)$", last), last


@pytest.mark.parametrize("kind", ["installed", "editable"])
def test_new_venv_runs_the_demo_and_pip_check_is_clean(request: pytest.FixtureRequest, kind: str,
                                                       tmp_path: Path) -> None:
    venv: Venv = request.getfixturevalue(kind)
    assert_demo_table(runner(venv, tmp_path)("--site", "demo"))
    check = subprocess.run([venv.bin / "pip", "check"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                           env=clean_env(HOME=str(tmp_path)))
    assert check.returncode == 0, check.stdout + check.stderr
    # Nothing of the test environment leaked in: the venv has no pytest, so the run used only declared packages.
    probe = subprocess.run([venv.bin / "python", "-c", "import pytest"], capture_output=True, timeout=RUN_TIMEOUT_S)
    assert probe.returncode != 0


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and mtime: what a run may not change."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_subcommand_on_the_demo_from_root_with_an_empty_home(installed: Venv, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    package = installed.package_dir()
    before = tree(package)
    run = runner(installed, home)
    report = home / "report.json"

    assert_demo_table(run("--site", "demo"))
    assert run("--site", "demo", "-f", "json", "-o", report).returncode == 1
    codes = {
        "check": run("check", "--site", "demo").returncode,
        "coverage": run("coverage", "--site", "demo").returncode,
        "parity": run("parity", "--site", "demo").returncode,
        "plan-vm": run("plan-vm", "--site", "demo", "--vmid", "150", "--hostname", "newvm").returncode,
        "plan-vm --verify": run("plan-vm", "--site", "demo", "--verify", "101").returncode,
        "report": run("report", "--site", "demo").returncode,
    }
    assert codes == {"check": 1, "coverage": 1, "parity": 0, "plan-vm": 0, "plan-vm --verify": 1, "report": 1}

    snapshot = run("snapshot", "--site", "demo")
    assert snapshot.returncode == 2
    assert snapshot.stderr.strip().splitlines() == [
        "reconcile: error: site demo: reads its live state from live_snapshot, nothing to snapshot"]

    finding = json.loads(report.read_text())["findings"][0]
    added = run("ignore", "add", "--from-report", report, "--id", finding["id"], "--reason", "known, fixed in Q1")
    assert added.returncode == 0, added.stderr
    state = home / ".local" / "state" / "reconciler" / "demo"
    assert added.stdout.startswith(f"added {state / '.reconcileignore'}:"), added.stdout
    nightly = run("report", "--site", "demo", "-o", home / "nightly.json")
    assert nightly.returncode == 1, nightly.stderr
    assert [f["id"] for f in json.loads((home / "nightly.json").read_text())["ignored"]] == [finding["id"]]
    assert (state / "last-report.json").is_file()

    assert tree(package) == before, "a run wrote inside the installed package"


def test_state_follows_xdg_state_home(installed: Venv, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg-state"
    result = runner(installed, tmp_path / "home", XDG_STATE_HOME=str(xdg))("-q", "report", "--site", "demo")
    assert result.returncode == 1, result.stderr
    assert (xdg / "reconciler" / "demo" / "last-report.json").is_file()
    assert not (tmp_path / "home" / ".local").exists()


def test_a_dependency_that_cannot_be_imported_exits_2_in_one_line(installed: Venv, tmp_path: Path) -> None:
    """What a user saw when typer stopped bringing click: the console script itself must say error, exit 2."""
    shadow = tmp_path / "shadow" / "typer"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'typer'\")\n")
    result = runner(installed, tmp_path, PYTHONPATH=str(shadow.parent))("--site", "demo")
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reconcile: error: cannot start: ModuleNotFoundError: "), lines
    assert "typer" in lines[0] and result.stdout == ""


def test_a_broken_cli_import_exits_2_not_1() -> None:
    """The same in this interpreter: `import reconciler.cli` fails, the entry point still exits 2."""
    code = "import sys; sys.modules['reconciler.cli'] = None; from reconciler.__main__ import main; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                            cwd=REPO)
    assert result.returncode == 2, result
    assert result.stderr.startswith("reconcile: error: cannot start: ModuleNotFoundError: ")
    assert len(result.stderr.strip().splitlines()) == 1
