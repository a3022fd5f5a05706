"""The backup-file script (issue 17 groundwork), run for real under /bin/sh on real files with real times.

Binding values travel on stdin as data: hostile ones must run nothing and read as ordinary non-matches.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from reconciler.collect.backup_files import (
    FileCheck,
    TargetSpec,
    UnsendableValue,
    encode_targets,
    parse_output,
    remote_script,
)

NOW = 1_772_500_000  # a fixed epoch: every file time below is set relative to it


def run_script(targets: list[TargetSpec], tmp_path: Path) -> dict[str, FileCheck]:
    result = subprocess.run(["/bin/sh", "-c", remote_script()], input=encode_targets(targets), capture_output=True,
                            timeout=30, cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    return parse_output(result.stdout.decode())


def make(path: Path, age_s: int, size: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age_s, NOW - age_s))


def test_newest_match_count_and_missing_or_empty_folders(tmp_path):
    dump = tmp_path / "dump"
    make(dump / "vzdump-qemu-200-2026_03_01-02_00_00.vma.zst", 27 * 3600, 5000)
    make(dump / "vzdump-qemu-200-2026_03_02-02_00_00.vma.zst", 3 * 3600, 0)
    make(dump / "vzdump-qemu-201-2026_03_02-02_00_00.vma.zst", 3600)
    (tmp_path / "empty").mkdir()
    checks = run_script([TargetSpec("vm-200", str(dump), "vzdump-qemu-200-*.vma.zst"),
                         TargetSpec("app", str(tmp_path / "empty"), "*.sql.gz"),
                         TargetSpec("gone", str(tmp_path / "no-such-folder"), "*")], tmp_path)
    assert checks["vm-200"] == FileCheck("vm-200", True, True, 2, NOW - 3 * 3600, 0,
                                         "vzdump-qemu-200-2026_03_02-02_00_00.vma.zst")
    assert checks["app"] == FileCheck("app", True, True, 0)
    assert checks["gone"] == FileCheck("gone", False)
    assert not list(tmp_path.glob(".reconciler-backup.*"))  # its scratch file is gone


@pytest.mark.parametrize("glob", ["$(touch PWNED)", "`touch PWNED`", "x; touch PWNED", "*/../..", "a" * 4096,
                                  "$(touch PWNED)*", "*'\"$HOME"])
def test_hostile_values_run_nothing_and_match_nothing(tmp_path, glob):
    folder = tmp_path / "dump"
    make(folder / "backup.tar", 60)
    checks = run_script([TargetSpec("t", str(folder), glob), TargetSpec("$(touch PWNED)", "`touch PWNED`", "*")],
                        tmp_path)
    assert checks["t"].exists and checks["t"].count == 0
    assert checks["$(touch PWNED)"].exists is False  # a name and a path are data too
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_values_the_protocol_cannot_carry_are_refused():
    for value in ("a\tb", "a\nb", "a\0b"):
        with pytest.raises(UnsendableValue):
            encode_targets([TargetSpec("t", "/srv", value)])
