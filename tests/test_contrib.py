"""The scheduling files in contrib/ run as written: the cron line through /bin/sh as cron runs it, the systemd
units through `systemd-analyze verify` (where it exists), and docs/nightly.md shows exactly these files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONTRIB = REPO / "contrib"
NIGHTLY = (REPO / "docs" / "nightly.md").read_text()
PROGRAM = "/opt/reconciler/bin/reconcile"

# a `reconcile` that records how it was called (argv and the token from the env file), then exits like a run
_FAKE = """#!{python}
import json, os, sys
with open(os.environ["FAKE_RECORD"], "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "token": os.environ.get("RECONCILE_PVE_HOME_TOKEN"),
                          "sites": os.environ.get("RECONCILE_SITES_DIR")}}) + "\\n")
"""


def cron_entry() -> tuple[list[str], str, str]:
    """(the five time fields, the user, the command) of the one job line of contrib/cron/reconcile."""
    lines = [line for line in (CONTRIB / "cron" / "reconcile").read_text().splitlines()
             if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(lines) == 1, lines
    fields = lines[0].split(None, 6)
    return fields[:5], fields[5], fields[6]


def test_the_docs_show_the_contrib_files_verbatim() -> None:
    for path in (CONTRIB / "systemd" / "reconcile-report.service", CONTRIB / "systemd" / "reconcile-report.timer",
                 CONTRIB / "cron" / "reconcile"):
        assert path.read_text().rstrip() in NIGHTLY, path


def test_the_cron_line_runs_under_sh_as_cron_runs_it(tmp_path: Path) -> None:
    times, user, command = cron_entry()
    assert times == ["15", "3", "*", "*", "*"] and user == "reconciler"
    root = tmp_path / "root"  # the absolute paths of the line, under this test's folder
    fake = root / PROGRAM.lstrip("/")
    fake.parent.mkdir(parents=True)
    fake.write_text(_FAKE.format(python=sys.executable))
    fake.chmod(0o755)
    env_file = root / "etc/reconciler/reconcile.env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text("RECONCILE_PVE_HOME_TOKEN=0b3c-test\nRECONCILE_SITES_DIR=/etc/reconciler/sites\n")
    for folder in ("var/lib/reconciler", "var/log/reconciler", "srv/reports"):  # what docs/nightly.md installs
        (root / folder).mkdir(parents=True)
    line = command
    for absolute in (PROGRAM, "/etc/reconciler/", "/var/lib/reconciler", "/var/log/reconciler", "/srv/reports",
                     "/var/lib/prometheus"):
        line = line.replace(absolute, f"{root}{absolute}")
    record = tmp_path / "calls.jsonl"
    cron_env = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "HOME": str(tmp_path), "LOGNAME": user,
                "FAKE_RECORD": str(record)}
    done = subprocess.run(["/bin/sh", "-c", line], env=cron_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "", done
    calls = [json.loads(c) for c in record.read_text().splitlines()]
    assert len(calls) == 1
    assert calls[0]["token"] == "0b3c-test" and calls[0]["sites"] == "/etc/reconciler/sites"
    assert calls[0]["argv"][:4] == ["-q", "report", "--site", "all"] and "--exit-zero" in calls[0]["argv"]
    assert (root / "var/log/reconciler/report.log").exists()  # the redirection worked


def test_without_the_log_folder_sh_runs_nothing(tmp_path: Path) -> None:
    """Why the install creates /var/log/reconciler: the shell refuses the redirection and skips the command."""
    _, _, command = cron_entry()
    marker = tmp_path / "ran"
    line = command.split("; /opt/", 1)[0] + f"; touch {marker} 2>>{tmp_path}/missing/report.log"
    line = line.replace("/etc/reconciler/reconcile.env", "/dev/null")
    done = subprocess.run(["/bin/sh", "-c", line], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert done.returncode != 0 and not marker.exists()


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the units are checked where it exists)")
    fake = tmp_path / "reconcile"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    for name in ("reconcile-report.service", "reconcile-report.timer"):
        (tmp_path / name).write_text((CONTRIB / "systemd" / name).read_text().replace(PROGRAM, str(fake)))
    done = subprocess.run([analyze, "verify", str(tmp_path / "reconcile-report.service"),
                           str(tmp_path / "reconcile-report.timer")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in (done.stderr + done.stdout).splitlines()
                if "reconcile-report" in line and "Documentation" not in line]
    assert done.returncode == 0 and not problems, done.stderr + done.stdout
    service = (CONTRIB / "systemd" / "reconcile-report.service").read_text()
    assert "ReadWritePaths=-/srv/reports -/var/lib/prometheus/node-exporter" in service
