"""Acceptance 3: the ignore file — patterns over finding addresses, `!` re-includes, `expires:` ends an entry (and
the expired entry is reported), ignored findings are listed apart and never fail a run, and `reconcile ignore add`
appends an entry while keeping every existing byte (comments included) of the file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.model.nightly import IgnoreRules
from reconciler.nightly.ignore import append_entry, load_file, parse_line
from tests.test_nightly_estate import IGNORE_FILE, NIGHT1, Lab, write_lab

TODAY = dt.date(2026, 11, 2)


def rules(text: str, tmp_path: Path) -> IgnoreRules:
    path = tmp_path / ".reconcileignore"
    path.write_text(text)
    return IgnoreRules(tuple(load_file(path)), (str(path),))


def test_patterns_negation_last_match_wins_and_expiry(tmp_path: Path) -> None:
    r = rules("home/qemu/101/*\n!home/qemu/101/drifted/*\nhome/qemu/101/drifted/memory_mb\n"
              "shop/stack/docker-host/*  expires: 2026-11-02  reason: until today, inclusive\n"
              "shop/qemu/20?/missing  expires: 2026-11-01\n", tmp_path)
    assert r.match("home/qemu/101/missing", TODAY) is not None  # `*` spans the remaining path segments
    assert r.match("home/qemu/101/drifted/cpu_cores", TODAY) is None  # re-included by `!`
    assert r.match("home/qemu/101/drifted/memory_mb", TODAY).line == 3  # then ignored again: the last match wins
    assert r.match("home/qemu/1010/missing", TODAY) is None  # a pattern matches the whole address
    assert r.match("shop/stack/docker-host/app/missing", TODAY).reason == "until today, inclusive"
    assert r.match("shop/stack/docker-host/app/missing", TODAY + dt.timedelta(days=1)) is None
    assert r.match("shop/qemu/205/missing", TODAY) is None  # expired yesterday
    assert r.match("shop/qemu/205/missing", dt.date(2026, 11, 1)) is not None
    assert [e.line for e in r.expired(TODAY)] == [5]


@pytest.mark.parametrize(("line", "message"), [
    ("!", "'!' must be followed by a pattern"),
    ("home/*  expires: 2026-13-01", "is not a date"),
    ("home/*  expires: tomorrow", "is not a date"),
    ("home/*  reason: later  expires: 2026-12-01", "'expires:' must come before 'reason:'"),
    ("home/*  because I said so", "expected 'expires: YYYY-MM-DD' and/or 'reason: TEXT'"),
])
def test_malformed_lines_name_file_and_line(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_line(line, "spine/.reconcileignore", 7)
    assert str(err.value).startswith("spine/.reconcileignore:7: ")


def test_report_lists_ignored_findings_apart_and_reports_expired_entries(tmp_path: Path, cli) -> None:
    lab = write_lab(tmp_path)
    result = cli(*lab.args(1, "--output", f"json:{lab.out / 'n.json'}"))
    report = json.loads((lab.out / "n.json").read_text())
    ignored = {f["address"]: (f["ignored_by"]["pattern"], f["ignored_by"]["line"], f["ignored_by"]["reason"])
               for f in report["ignored"]}
    assert ignored == {
        "lab/lxc/alpha/250/unregistered": ("lab/lxc/alpha/250/*", 2,
                                           "scratch container, destroyed after the migration"),
        "lab/qemu/alpha/201/parity/backup": ("lab/qemu/alpha/201/parity/*", 3, "db backups move to the NAS"),
    }
    reported = {f["address"] for f in report["findings"]}
    assert not reported & set(ignored)  # never both reported and ignored
    assert "lab/qemu/alpha/201/parity/backup_target" in reported  # re-included by the `!` line
    assert "lab/qemu/alpha/200/drifted/memory_mb" in reported  # its entry expired on 2026-10-31
    assert report["ignore_expired"] == [{"file": str(lab.root / ".reconcileignore"), "line": 7,
                                         "pattern": "lab/qemu/alpha/200/drifted/memory_mb",
                                         "reason": "resize planned in October", "expires": "2026-10-31"}]
    assert ".reconcileignore:7: ignore entry 'lab/qemu/alpha/200/drifted/memory_mb' expired on 2026-10-31" in result.err
    assert report["changes"]["ignored"] == 2 and report["summary"]["unregistered"] == 0


def test_ignored_findings_do_not_fail_the_run(tmp_path: Path, cli) -> None:
    lab = write_lab(tmp_path, ignore="lab/*  reason: everything, for this test\n")
    result = cli(*lab.args(1, "--output", f"json:{lab.out / 'n.json'}"))
    report = json.loads((lab.out / "n.json").read_text())
    assert report["findings"] == [] and len(report["ignored"]) == 6
    assert result.code == 0 and report["exit_code"] == 0
    # --ignore FILE replaces the bindings root's file
    other = tmp_path / "other.ignore"
    other.write_text("# nothing ignored here\n")
    again = cli(*lab.args(1, "--ignore", other, "--output", f"json:{lab.out / 'n.json'}"))
    assert again.code == 1 and json.loads((lab.out / "n.json").read_text())["ignored"] == []


def report_of(lab: Lab, cli) -> dict:
    result = cli(*lab.args(1, "--output", f"json:{lab.out / 'n.json'}"))
    assert result.code in (0, 1), result.err
    return json.loads((lab.out / "n.json").read_text())


def test_ignore_add_appends_and_keeps_every_existing_byte(tmp_path: Path, cli) -> None:
    original = IGNORE_FILE.replace("\n", "\r\n").rstrip("\r\n") + "   # last line: CRLF ends, no final newline"
    lab = write_lab(tmp_path, ignore=None)
    ignore = lab.root / ".reconcileignore"
    ignore.write_bytes(original.encode())
    report = report_of(lab, cli)
    target = next(f for f in report["findings"] if f["address"] == "lab/qemu/alpha/200/drifted/memory_mb")

    added = cli("ignore", "add", "--from-report", lab.out / "n.json", "--id", target["id"][:8],
                "--reason", "resize in the next maintenance window", "--expires", "2026-12-31",
                "--sites-dir", lab.sites)
    assert added.code == 0, added.err
    after = ignore.read_bytes()
    assert after.startswith(original.encode() + b"\r\n")  # old bytes untouched; only the missing line end added
    new_lines = after[len(original) + 2:].decode().split("\r\n")
    assert new_lines[0].startswith("# drifted: 200 (web) memory_mb: declared 2048, live 4096 (id " + target["id"])
    assert new_lines[1:] == ["lab/qemu/alpha/200/drifted/memory_mb  expires: 2026-12-31  "
                             "reason: resize in the next maintenance window", ""]
    assert f"{ignore}:{len(after.decode().split(chr(10))) - 1}" in added.out

    # the finding is now ignored, with the reason; adding it again changes nothing
    rerun = report_of(lab, cli)
    assert target["id"] in {f["id"] for f in rerun["ignored"]}
    again = cli("ignore", "add", "--from-report", lab.out / "n.json", "--id", target["id"], "--reason", "x",
                "--sites-dir", lab.sites)
    assert again.code == 0 and "already ignored by" in again.out and ignore.read_bytes() == after


def test_ignore_add_refuses_a_pattern_that_misses_the_finding(tmp_path: Path, cli) -> None:
    lab = write_lab(tmp_path)
    report = report_of(lab, cli)
    before = (lab.root / ".reconcileignore").read_bytes()
    finding = report["findings"][0]
    refused = cli("ignore", "add", "--from-report", lab.out / "n.json", "--id", finding["id"], "--reason", "r",
                  "--pattern", "shop/*", "--sites-dir", lab.sites)
    assert refused.code == 2 and "does not match the finding's address" in refused.err
    unknown = cli("ignore", "add", "--from-report", lab.out / "n.json", "--id", "ffffffffffff", "--reason", "r",
                  "--sites-dir", lab.sites)
    assert unknown.code == 2 and "no finding with id 'ffffffffffff'" in unknown.err
    assert (lab.root / ".reconcileignore").read_bytes() == before
    assert report["generated_at"] == NIGHT1


def test_append_entry_to_a_missing_file_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "fresh.ignore"
    assert append_entry(path, "lab/*  reason: r", ["why"]) == 2
    assert path.read_text() == "# why\nlab/*  reason: r\n"
