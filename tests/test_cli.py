"""CLI behaviour: site selection, one-line errors naming file and line, atomic output, read-only."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.cli import base as cli_module

DEMO_BINDINGS = Path(cli_module.__file__).parents[1] / "demo" / "bindings"
DEMO_LIVE = Path(cli_module.__file__).parents[1] / "demo" / "live.json"


def _site(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(body)
    return path


def _offline_site(folder: Path, name: str = "lab", extra: str = "") -> Path:
    return _site(folder, name, f"site: {name}\nbindings_root: {DEMO_BINDINGS}\nproxmox_hosts: [demo-pve]\n"
                               f"live_snapshot: {DEMO_LIVE}\n{extra}")


def test_version(cli):
    result = cli("--version")
    assert result.code == 0 and result.out.startswith("reconcile ")


def test_help_has_examples(cli):
    result = cli("--help")
    assert result.code == 0
    assert "reconcile --site demo" in result.out and "Exit codes" in result.out


def test_no_site_is_an_error(cli):
    result = cli()
    assert result.code == 2
    assert result.err.strip() == "reconcile: error: no site given: use --site NAME (or --site all)"


def test_unknown_site_names_the_folder(cli, tmp_path):
    _offline_site(tmp_path / "sites")
    result = cli("--sites-dir", tmp_path / "sites", "--site", "nope")
    assert result.code == 2
    assert "no site 'nope'" in result.err and "known sites: lab" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_site_all_excludes_demo(cli, tmp_path):
    sites = tmp_path / "sites"
    _offline_site(sites, "lab")
    _offline_site(sites, "demo")
    report = json.loads(cli("--sites-dir", sites, "--site", "all", "-f", "json").out)
    assert report["sites"] == ["lab"]


def test_sites_dir_from_environment(cli, tmp_path):
    _offline_site(tmp_path / "elsewhere")
    result = cli("--site", "lab", "-q", env={"RECONCILE_SITES_DIR": str(tmp_path / "elsewhere")})
    assert result.code == 1 and result.out.startswith("lab: ")


def test_unknown_key_names_file_and_line(cli, tmp_path):
    path = _offline_site(tmp_path / "sites", extra="proxmox_hots: [x]\n")
    result = cli("--sites-dir", tmp_path / "sites", "--site", "lab")
    assert result.code == 2
    err = result.err.strip()
    assert len(err.splitlines()) == 1
    assert f"{path}:5" in err and "proxmox_hots" in err and "proxmox_hosts" in err  # did-you-mean


def test_missing_required_key(cli, tmp_path):
    sites = tmp_path / "sites"
    path = _site(sites, "bad", "site: bad\nproxmox: []\n")
    result = cli("--sites-dir", sites, "--site", "bad")
    assert result.code == 2
    assert str(path) in result.err and "bindings_root" in result.err
    assert "Traceback" not in result.err


def test_yaml_syntax_error_in_bindings_is_file_line_col(cli, tmp_path):
    root = tmp_path / "spine"
    (root / "ops/bindings").mkdir(parents=True)
    lifecycle = root / "ops/bindings/vm.lifecycle.yaml"
    lifecycle.write_text("vms:\n  - id: 100\n    hostname: [unclosed\n")
    sites = tmp_path / "sites"
    _site(sites, "lab", f"site: lab\nbindings_root: {root}\nproxmox_hosts: [demo-pve]\nlive_snapshot: {DEMO_LIVE}\n")
    result = cli("--sites-dir", sites, "--site", "lab")
    assert result.code == 2
    err = result.err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"reconcile: error: {lifecycle}:4:1: ")


def test_bindings_override(cli, tmp_path):
    sites = tmp_path / "sites"
    _site(sites, "lab", f"site: lab\nbindings_root: /nonexistent\nproxmox_hosts: [demo-pve]\n"
                        f"live_snapshot: {DEMO_LIVE}\n")
    assert cli("--sites-dir", sites, "--site", "lab").code == 2
    assert cli("--sites-dir", sites, "--site", "lab", "--bindings", DEMO_BINDINGS, "-q").code == 1
    assert cli("--sites-dir", sites, "--site", "lab", "-q", env={"RECONCILE_BINDINGS": str(DEMO_BINDINGS)}).code == 1


def test_output_is_written_atomically(cli, tmp_path):
    out = tmp_path / "report.json"
    out.write_text("yesterday")
    result = cli("--site", "demo", "-f", "json", "-o", out)
    assert result.code == 1
    assert json.loads(out.read_text())["sites"] == ["demo"]
    assert result.out.startswith("demo: ")  # only the summary on stdout
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left


def test_output_never_overwrites_a_binding_file(cli, tmp_path):
    sites = tmp_path / "sites"
    root = tmp_path / "spine"
    (root / "ops/bindings").mkdir(parents=True)
    lifecycle = root / "ops/bindings/vm.lifecycle.yaml"
    original = (DEMO_BINDINGS / "ops/bindings/vm.lifecycle.yaml").read_text()
    lifecycle.write_text(original)
    _site(sites, "lab", f"site: lab\nbindings_root: {root}\nproxmox_hosts: [demo-pve]\nlive_snapshot: {DEMO_LIVE}\n")
    result = cli("--sites-dir", sites, "--site", "lab", "-o", lifecycle)
    assert result.code == 2 and "refusing to write into the bindings" in result.err
    assert lifecycle.read_text() == original


def test_output_to_missing_folder_is_one_line(cli, tmp_path):
    result = cli("--site", "demo", "-o", tmp_path / "nope" / "r.json")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1


def test_quiet_prints_only_the_summary(cli):
    result = cli("--site", "demo", "-q")
    assert result.code == 1 and len(result.lines) == 1


def test_unexpected_exception_is_one_line_unless_debug(cli, monkeypatch):
    def boom(*_args, **_kwargs):
        raise RuntimeError("kaboom")

    from reconciler import engine

    monkeypatch.setattr(engine, "reconcile", boom)
    result = cli("--site", "demo")
    assert result.code == 2
    assert result.err.strip() == ("reconcile: error: unexpected RuntimeError: kaboom "
                                  "(run with --debug for the traceback)")
    debug = cli("--site", "demo", "--debug")
    assert debug.code == 2 and "Traceback" in debug.err


def test_live_snapshot_without_the_host_is_unknown_not_missing(cli, tmp_path):
    sites = tmp_path / "sites"
    _site(sites, "lab", f"site: lab\nbindings_root: {DEMO_BINDINGS}\nproxmox_hosts: [demo-pve, ghost]\n"
                        f"live_snapshot: {DEMO_LIVE}\n")
    report = json.loads(cli("--sites-dir", sites, "--site", "lab", "-f", "json").out)
    ghost = [s for s in report["sources"] if s["name"] == "proxmox:ghost"]
    assert ghost and ghost[0]["status"] == "failed" and ghost[0]["reason"] == "not_in_snapshot"


def test_bad_snapshot_is_one_line(cli, tmp_path):
    bad = tmp_path / "snap.json"
    bad.write_text("{not json")
    result = cli("--site", "demo", "--live", bad)
    assert result.code == 2
    assert result.err.strip().startswith(f"reconcile: error: {bad}:1:2: snapshot is not valid JSON")


def test_verify_tls_false_warns_every_run(cli, tmp_path):
    sites = tmp_path / "sites"
    _site(sites, "lab", f"site: lab\nbindings_root: {DEMO_BINDINGS}\nproxmox_hosts: [demo-pve]\n"
                        f"live_snapshot: {DEMO_LIVE}\nproxmox:\n  - name: demo-pve\n    url: https://127.0.0.1:1\n"
                        f"    token_id: 'a@pve!b'\n    token_secret_env: X_TOKEN\n    verify_tls: false\n")
    result = cli("--sites-dir", sites, "--site", "lab", "-q")
    assert "TLS verification is disabled for Proxmox host demo-pve" in result.err


def test_usage_errors_are_one_line_exit_2(cli):
    for args in (["--bogus"], ["--site"], ["check", "--site", "demo", "--format", "xml"]):
        result = cli(*args)
        assert result.code == 2, args
        assert result.err.startswith("reconcile: error: ") and len(result.err.strip().splitlines()) == 1, result.err
        assert "unexpected" not in result.err and "Traceback" not in result.err


def test_no_output_lands_in_any_bindings_tree(cli, tmp_path):
    """Neither the selected site's bindings nor another site's, whatever the command."""
    import shutil

    other_root = tmp_path / "other-spine"
    shutil.copytree(DEMO_BINDINGS, other_root)
    sites = tmp_path / "sites"
    _offline_site(sites, "lab")
    _site(sites, "other", f"site: other\nbindings_root: {other_root}\nlive_snapshot: {DEMO_LIVE}\n")
    _site(sites, "broken", "site: [\n")  # a broken site file beside them must not stop the guard
    before = {p: p.read_bytes() for p in other_root.rglob("*") if p.is_file()}
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    attempts = [
        ["--site", "lab", "-o", other_root / "ops/bindings/vm.lifecycle.yaml"],
        ["--site", "lab", "-o", other_root / "ops/bindings/new.json"],
        ["--site", "lab", "-o", DEMO_BINDINGS / "ops/bindings/new.json"],
        ["coverage", "--site", "lab", "-o", other_root / "ops/bindings/ssh.targets.yaml"],
        ["report", "--site", "lab", "--state-dir", other_root / "state"],
        ["report", "--site", "lab", "--state-dir", tmp_path / "state", "--output", f"md:{other_root}/x.md"],
    ]
    for args in attempts:
        result = cli("--sites-dir", sites, *args)
        assert result.code == 2, (args, result.err)
        assert "refusing to write into the bindings" in result.err, (args, result.err)
    assert {p: p.read_bytes() for p in other_root.rglob("*") if p.is_file()} == before
    assert not (DEMO_BINDINGS / "ops/bindings/new.json").exists()
    assert cli("--sites-dir", sites, "--site", "lab", "-q", "-o", out_dir / "fine.txt").code == 1


def test_plan_vm_refuses_to_plan_without_a_broken_sites_collisions(cli, tmp_path):
    sites = tmp_path / "sites"
    _offline_site(sites, "lab")
    broken = _site(sites, "empty", "")
    result = cli("--sites-dir", sites, "plan-vm", "--site", "lab", "--vmid", "150", "--hostname", "t1")
    assert result.code == 2, result.out
    assert str(broken) in result.err and len(result.err.strip().splitlines()) == 1


def test_control_characters_in_live_data_are_shown_not_obeyed(cli, tmp_path):
    live = json.loads(DEMO_LIVE.read_text())
    guest = next(g for obs in live["proxmox"] for g in obs["guests"] if g["vmid"] == 110)
    guest["name"] = "scr\x1b]0;pwned\x07atch\nFAKE LINE: all in sync"
    evil = tmp_path / "live.json"
    evil.write_text(json.dumps(live))
    result = cli("--site", "demo", "--live", evil)
    assert "\x1b" not in result.out and "\x07" not in result.out
    assert not any(line.startswith("FAKE LINE") for line in result.out.splitlines())
    assert "scr\\x1b]0;pwned\\x07atch\\nFAKE LINE" in result.out


def test_review_regressions_on_the_cli(cli, tmp_path):
    # parity: an unknown column is an error, not a row of zeros
    parity = cli("parity", "--site", "demo", "--sites", "demo,foo")
    assert parity.code == 2 and "unknown site 'foo'" in parity.err
    # `ignore` alone prints its help (not a many-line "error")
    group = cli("ignore")
    assert group.code == 2 and group.out.startswith("Usage: reconcile ignore") and group.err == ""
    # plan-vm --verify refuses the flags that describe a new guest
    verify = cli("plan-vm", "--site", "demo", "--verify", "101", "--cores", "4")
    assert verify.code == 2 and "--cores" in verify.err and "--verify" in verify.err
    # ignore add: an expiry in the past is refused; an address works as well as an id
    report = tmp_path / "r.json"
    assert cli("--site", "demo", "-f", "json", "-o", report, "-q").code == 1
    address = json.loads(report.read_text())["findings"][0]["address"]
    ignore = tmp_path / "ignore"
    past = cli("ignore", "add", "--from-report", report, "--id", address, "--reason", "r", "--expires", "2020-01-01",
               "--ignore", ignore)
    assert past.code == 2 and "has passed" in past.err and not ignore.exists()
    added = cli("ignore", "add", "--from-report", report, "--id", address, "--reason", "known", "--ignore", ignore)
    assert added.code == 0 and address in ignore.read_text()


def test_a_key_written_twice_is_an_error_at_its_line(cli, tmp_path):
    import shutil

    root = tmp_path / "spine"
    shutil.copytree(DEMO_BINDINGS, root)
    lifecycle = root / "ops/bindings/vm.lifecycle.yaml"
    lines = lifecycle.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "status: active")
    lines.insert(at + 1, lines[at].replace("active", "decommissioned"))
    lifecycle.write_text("\n".join(lines) + "\n")
    result = cli("--site", "demo", "--bindings", root)
    assert result.code == 2
    assert f"vm.lifecycle.yaml:{at + 2}:" in result.err and "duplicate key 'status'" in result.err
    assert f"first at line {at + 1}" in result.err and len(result.err.strip().splitlines()) == 1


def test_snapshot_numbers_must_be_finite_and_in_range(cli, tmp_path):
    for bad in ("1" + "0" * 400, "NaN", "Infinity"):
        text = DEMO_LIVE.read_text()
        live = json.loads(text)
        obs = next(o for o in live["proxmox"] if o["guests"])
        obs["guests"][0]["boot_disk_gb"] = "@@"
        path = tmp_path / "live.json"
        path.write_text(json.dumps(live).replace('"@@"', bad))
        result = cli("--site", "demo", "--live", path)
        assert result.code == 2, bad
        assert str(path) in result.err and "boot_disk_gb" in result.err and "unexpected" not in result.err, result.err


def test_whole_number_settings_refuse_fractions(cli, tmp_path):
    sites = tmp_path / "sites"
    path = _offline_site(sites, extra="ssh:\n  concurrency: 0.5\n")
    result = cli("--sites-dir", sites, "--site", "lab")
    assert result.code == 2 and f"{path}:" in result.err and "whole number" in result.err


def test_an_invalid_entry_is_not_also_unregistered_and_triples_are_one_finding(cli, tmp_path):
    import shutil

    root = tmp_path / "spine"
    shutil.copytree(DEMO_BINDINGS, root)
    lifecycle = root / "ops/bindings/vm.lifecycle.yaml"
    text = lifecycle.read_text()
    # the demo's live guest 110 (scratch) is unregistered; declare it with a misspelt status
    text = text.replace("vms:\n", "vms:\n  - id: 110\n    hostname: scratch\n    vm_type: lxc\n    status: actve\n", 1)
    text += "\n  - id: 101\n    hostname: media-third\n    status: active\n"  # 101 is already declared twice
    lifecycle.write_text(text)
    report = json.loads(cli("--site", "demo", "--bindings", root, "-f", "json").out)
    about_110 = [(f["kind"], f["field"]) for f in report["findings"] if f["subject"]["vmid"] == 110]
    assert about_110 == [("invalid", "status")]
    duplicates = [f for f in report["findings"] if f["field"] == "duplicate"]
    assert len(duplicates) == 1 and len(duplicates[0]["sources"]) == 3
    ids = [f["id"] for f in report["findings"]]
    assert len(ids) == len(set(ids))


# ── options where people type them (issue 18) ────────────────────────────────


def test_site_names_split_on_commas_and_suggest_a_close_name(cli, tmp_path):
    sites = tmp_path / "sites"
    _offline_site(sites, "lab")
    _offline_site(sites, "home")
    report = json.loads(cli("--sites-dir", sites, "--site", "lab,home", "-f", "json").out)
    assert sorted(report["sites"]) == ["home", "lab"]
    wrong = cli("--sites-dir", sites, "--site", "hom")
    assert wrong.code == 2 and "did you mean 'home'?" in wrong.err


def test_a_sites_dir_that_does_not_exist_says_so(cli, tmp_path):
    result = cli("--sites-dir", tmp_path / "nowhere", "--site", "lab")
    assert result.code == 2
    assert f"--sites-dir {tmp_path / 'nowhere'} does not exist" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_h_is_help_everywhere(cli):
    for args in (("-h",), ("check", "-h"), ("ignore", "add", "-h")):
        result = cli(*args)
        assert result.code == 0 and "Usage:" in result.out, args


def test_global_options_work_after_the_subcommand_and_site_before_it(cli, tmp_path):
    sites = tmp_path / "sites"
    _offline_site(sites, "lab")
    after = cli("check", "--sites-dir", sites, "--site", "lab", "-q")
    before = cli("-q", "--sites-dir", sites, "--site", "lab", "check")
    assert after.code == before.code == 1
    assert after.out == before.out and len(after.out.strip().splitlines()) == 1  # -q: the summary line only
    debug = cli("check", "--sites-dir", sites, "--site", "lab", "-f", "json", "--debug")
    assert debug.code == 1 and json.loads(debug.out)["findings"]


def test_a_usage_error_points_at_its_own_subcommands_help(cli):
    result = cli("ignore", "--bogus")
    assert result.code == 2 and "(see reconcile ignore --help)" in result.err


def test_argument_reordering_keeps_values_and_the_double_dash() -> None:
    move = cli_module.where_people_type_them
    assert move(["--site", "shop", "check", "-q"]) == ["-q", "check", "--site", "shop"]
    # a folder called "check" is the value of --sites-dir, not the subcommand
    assert move(["--sites-dir", "check", "--site", "x"]) == ["--sites-dir", "check", "--site", "x"]
    assert move(["--site=shop", "check"]) == ["check", "--site=shop"]
    assert move(["--live", "s.json", "--site", "a"]) == ["--live", "s.json", "--site", "a"]  # no subcommand
    assert move(["check", "--", "-q"]) == ["check", "--", "-q"]


# ── errors that name the setting and the cause (issue 18) ────────────────────


def _one_line_error(result) -> str:
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    return lines[0]


def test_a_missing_identity_file_is_a_config_error_at_its_line(cli, tmp_path):
    sites = tmp_path / "sites"
    _offline_site(sites, extra=f"ssh:\n  identity_file: {tmp_path}/no-such-key\n")
    error = _one_line_error(cli("--sites-dir", sites, "--site", "lab"))
    assert error == (f"reconcile: error: {sites / 'lab.yaml'}:6: ssh.identity_file: {tmp_path}/no-such-key "
                     "does not exist")


def test_http_urls_are_refused_when_the_site_file_is_read(cli, tmp_path):
    sites = tmp_path / "sites"
    _site(sites, "lab", f"site: lab\nbindings_root: {DEMO_BINDINGS}\nproxmox:\n  - name: pve\n"
                        "    url: http://127.0.0.1:8006\n    token_id: a@pve!b\n    token_secret_env: X\n")
    error = _one_line_error(cli("--sites-dir", sites, "--site", "lab"))
    assert ":5: proxmox[0].url: must start with https://" in error


def test_a_missing_bindings_root_names_the_setting(cli, tmp_path):
    sites = tmp_path / "sites"
    _site(sites, "lab", f"site: lab\nbindings_root: {tmp_path}/not-cloned-yet\nproxmox_hosts: [pve]\n")
    error = _one_line_error(cli("--sites-dir", sites, "--site", "lab"))
    assert f"lab.yaml:2: bindings_root: {tmp_path}/not-cloned-yet is not a folder" in error


def test_environment_variables_in_paths_expand_and_an_unset_one_is_named(cli, tmp_path, monkeypatch):
    sites = tmp_path / "sites"
    _site(sites, "lab", f"site: lab\nbindings_root: $DEMO_ROOT\nproxmox_hosts: [demo-pve]\n"
                        f"live_snapshot: {DEMO_LIVE}\n")
    monkeypatch.delenv("DEMO_ROOT", raising=False)
    error = _one_line_error(cli("--sites-dir", sites, "--site", "lab"))
    assert "lab.yaml:2: bindings_root: environment variable DEMO_ROOT is not set" in error
    monkeypatch.setenv("DEMO_ROOT", str(DEMO_BINDINGS))
    assert cli("--sites-dir", sites, "--site", "lab", "-q").code == 1  # the demo bindings, drift found


def test_shell_completion_is_offered(cli, tmp_path):
    import subprocess
    import sys

    assert "--install-completion" in cli("--help").out
    # as a shell would call it: a process of its own (click reads the completion variables from the environment)
    script = subprocess.run([sys.executable, "-m", "reconciler", "--show-completion", "bash"], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                                                      "SHELL": "/bin/bash"})
    assert script.returncode == 0, script.stderr
    assert "_RECONCILE_COMPLETE" in script.stdout and "complete" in script.stdout


def test_small_first_day_messages(cli, tmp_path):
    """A template is not said to run; coverage rows go by vmid; a snapshot given as a report is named as such;
    a bad --expires says the format once."""
    from reconciler.model import AuditScope, Declared, GuestType, LiveGuest, LiveState, ProxmoxObservation, SiteScope
    from reconciler.rules import RuleContext, guest_unregistered

    template = LiveGuest("pve", "pve", 9000, GuestType.QEMU, "ubuntu-tpl", "stopped", template=True)
    stopped = LiveGuest("pve", "pve", 9001, GuestType.QEMU, "old", "stopped")
    live = LiveState(proxmox=(ProxmoxObservation("pve", "lab", True, (template, stopped),
                                                 audit=AuditScope(known=True, everything=True)),))
    ctx = RuleContext(scope=SiteScope("lab", frozenset({"pve"})), declared=Declared(), live=live)
    messages = [f.message for f in guest_unregistered.check(ctx)]
    assert messages == ["VM 9000 (ubuntu-tpl) is a template on pve (node pve) but is not declared",
                        "VM 9001 (old) exists (stopped) on pve (node pve) but is not declared"]
    rows = json.loads(cli("coverage", "--site", "demo", "-f", "json").out)["rows"]
    assert [r["vmid"] for r in rows] == sorted(r["vmid"] for r in rows)
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(DEMO_LIVE.read_text())
    given = cli("ignore", "add", "--from-report", snapshot, "--reason", "x", "--id", "0123")
    assert given.code == 2 and "this is a snapshot (live state), not a report" in given.err
    report = tmp_path / "r.json"
    cli("--site", "demo", "-f", "json", "-o", report)
    finding = json.loads(report.read_text())["findings"][0]["id"]
    bad = cli("ignore", "add", "--from-report", report, "--reason", "x", "--expires", "31.12.2026",
              "--id", finding)
    assert bad.code == 2 and "--expires '31.12.2026' is not a date: write it as YYYY-MM-DD" in bad.err


def test_only_stacks_on_a_site_without_docker_hosts_says_so(cli, tmp_path):
    sites = tmp_path / "sites"
    _site(sites, "lab", f"site: lab\nbindings_root: {DEMO_BINDINGS}\nproxmox_hosts: [demo-pve]\n"
                        f"live_snapshot: {DEMO_LIVE}\ndocker_targets: []\n")
    result = cli("--sites-dir", sites, "--site", "lab", "--only", "stacks")
    assert result.code == 2 and "no docker host belongs to the site (0 hosts to check" in result.err


def test_version_is_answered_before_the_cli_is_imported(tmp_path):
    import subprocess
    import sys

    probe = ("import sys; from reconciler.__main__ import main; sys.argv = ['reconcile', '--version']; code = main(); "
             "print(code, 'typer' in sys.modules, 'reconciler.engine' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("reconcile ") and lines[1] == "0 False False", done.stdout + done.stderr
