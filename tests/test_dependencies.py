"""The declared dependencies are the imported ones, read from the code by deptry (not a hand-kept list).

- reconciler/ imports only runtime dependencies, and every runtime dependency is imported (DEP001-DEP004);
- tests/ and benchmarks/ import only what the runtime or the `test` extra declares;
- the check itself fails when a dependency the code imports is taken out of pyproject.toml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def deptry(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """deptry's report (it writes to stderr) and exit status."""
    return subprocess.run([sys.executable, "-m", "deptry", "--no-ansi", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_runtime_imports_are_exactly_the_runtime_dependencies() -> None:
    result = deptry("reconciler")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No dependency issues found" in result.stdout + result.stderr


def test_test_and_benchmark_imports_are_declared() -> None:
    # tests/ is excluded by deptry's defaults, so the exclusions are given in full; unused runtime dependencies
    # (DEP002) and test-extra imports (DEP004) are what tests are allowed.
    result = deptry("tests", "benchmarks", "--exclude", r"(\.venv|build|\.git|__pycache__)",
                    "--known-first-party", "reconciler", "--known-first-party", "tests",
                    "--known-first-party", "benchmarks", "--ignore", "DEP002,DEP004")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Scanning \d+ files", result.stdout + result.stderr)


def test_the_check_fails_when_an_imported_dependency_is_not_declared(tmp_path: Path) -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    without = re.sub(r'^\s*"paramiko[<>=!~ ,.0-9]*",\n', "", pyproject, count=1, flags=re.MULTILINE)
    assert without != pyproject, "the paramiko line of pyproject.toml moved: update this test"
    (tmp_path / "pyproject.toml").write_text(without)
    shutil.copytree(REPO / "reconciler", tmp_path / "reconciler", ignore=shutil.ignore_patterns("__pycache__"))
    result = deptry("reconciler", cwd=tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    # DEP001 where paramiko is not installed at all, DEP003 where it is (pulled in by another package)
    assert re.search(r"reconciler/collect/ssh\.py:\d+:\d+: DEP00[13] 'paramiko' imported but", report), report
