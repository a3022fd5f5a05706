"""Acceptance 4: the nightly outputs. Prometheus text parsed by prometheus_client's own parser; the HTML page
rendered by headless Chromium (sections checked in the rendered DOM, screenshot kept in tests/artifacts/); the
Markdown compared with a golden file (fixed `now`, deterministic order); the JSON valid against the schema.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.model import Finding, Kind, SourceStatus, Subject
from reconciler.model.coverage import SURFACE_LABELS, CoverageMatrix
from reconciler.model.nightly import IgnoreRules
from reconciler.model.report import Report
from reconciler.nightly.report import build
from reconciler.nightly.state import Output, parse_output
from reconciler.render.prometheus import render_prometheus
from tests.conftest import IN_CI, REPO, SCHEMA
from tests.test_nightly_estate import NIGHT2, Lab, write_lab

GOLDEN = Path(__file__).parent / "golden" / "nightly-lab.md"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    """Night 1 then night 2 of the lab estate, night 2 written in every format."""
    from reconciler.cli import main

    lab = write_lab(tmp_path_factory.mktemp("lab"))
    assert main([str(a) for a in lab.args(1, "--output", f"json:{lab.out / 'night1.json'}")]) == 1
    outputs = [f"--output={lab.out / name}" for name in ("nightly.json", "nightly.md", "nightly.prom")]
    outputs.append(f"--output=html:{lab.out / 'nightly.html'}")
    assert main([str(a) for a in lab.args(2, *outputs)]) == 1
    return lab


# ── Prometheus ───────────────────────────────────────────────────────────────


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    families = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation and family.type == "gauge", family.name
        families[family.name] = {tuple(sorted(s.labels.items())): s.value for s in family.samples}
    return families


def test_prometheus_textfile_parses_with_the_expected_values(two_nights: Lab) -> None:
    text = (two_nights.out / "nightly.prom").read_text()
    metrics = samples(text)
    findings = metrics["reconcile_findings"]
    assert findings[(("kind", "drifted"), ("severity", "error"), ("site", "lab"))] == 2
    assert findings[(("kind", "unknown"), ("severity", "warning"), ("site", "lab"))] == 1  # one per cause: beta
    assert findings[(("kind", "unregistered"), ("severity", "error"), ("site", "lab"))] == 0  # ignored
    assert len(findings) == 7 * 3  # every kind x severity, zeros included
    assert metrics["reconcile_findings_new"] == {(("site", "lab"),): 2}
    assert metrics["reconcile_findings_ignored"] == {(("site", "lab"),): 2}
    assert metrics["reconcile_source_up"] == {(("site", "lab"), ("source", "docker:web")): 1,
                                              (("site", "lab"), ("source", "proxmox:alpha")): 1,
                                              (("site", "lab"), ("source", "proxmox:beta")): 0}
    stamp = dt.datetime(2026, 11, 2, 3, tzinfo=dt.UTC).timestamp()
    assert metrics["reconcile_last_run_timestamp_seconds"] == {(): stamp}
    assert metrics["reconcile_run_duration_seconds"][()] > 0
    assert metrics["reconcile_exit_code"] == {(): 1}
    for name in ("reconcile_findings", "reconcile_findings_new", "reconcile_source_up",
                 "reconcile_last_run_timestamp_seconds", "reconcile_run_duration_seconds"):
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge" in text


def test_prometheus_label_values_are_escaped() -> None:
    site = 'we"ird\\site\nname'
    finding = Finding(Kind.MISSING, "guest-missing", Subject("qemu", site, "pve", 101), "gone")
    source = SourceStatus("proxmox", 'p"v\\e', site, "failed")
    report = Report(NIGHT2, (site,), (source,), (finding,))
    nightly = build(report, CoverageMatrix((), tuple(SURFACE_LABELS), ()), None, IgnoreRules())
    text = render_prometheus(nightly)
    assert 'site="we\\"ird\\\\site\\nname"' in text
    metrics = samples(text)
    assert metrics["reconcile_findings"][(("kind", "missing"), ("severity", "error"), ("site", site))] == 1
    assert metrics["reconcile_source_up"] == {(("site", site), ("source", 'proxmox:p"v\\e')): 0}


# ── HTML in headless Chromium ────────────────────────────────────────────────


def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def run_chromium(page: Path, profile: Path, *action: str) -> subprocess.CompletedProcess[str]:
    args = [str(chromium()), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2200", *action,
            page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)


def test_html_is_self_contained_and_renders_in_headless_chromium(two_nights: Lab, tmp_path: Path) -> None:
    page = two_nights.out / "nightly.html"
    html = page.read_text()
    assert not re.search(r"<script|<link|<img|<iframe|src=|url\(|@import", html, re.I)  # no external assets

    dom = run_chromium(page, tmp_path / "profile", "--dump-dom").stdout
    sections = dict(re.findall(r'<section id="([a-z]+)"><h2>([^<]*)</h2>', dom))
    assert sections == {
        "summary": "Summary by site", "trend": "Trend", "new": "New findings (2)",
        "persisting": "Persisting findings (2)", "resolved": "Resolved since the previous run (1)",
        "unobserved": "Not observed tonight, so not resolved (1)", "ignored": "Ignored (2)",
        "expired": "Expired ignore entries (1)", "coverage": "Coverage matrix",
        "sources": "Sources not fully observed"}
    assert dom.count('class="night"') == 2  # one trend point per night in the history
    assert dom.count('class="cell-miss"') == 1 and dom.count('class="cell-ok"') >= 5
    assert "lab/qemu/beta/210/drifted/cpu_cores" in dom.split('id="unobserved"')[1].split("</section>")[0]

    shot = tmp_path / "nightly-report.png"
    run_chromium(page, tmp_path / "profile", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)


def test_history_is_bounded_by_keep(tmp_path: Path, cli) -> None:
    lab = write_lab(tmp_path)
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        args = lab.args(2, "--keep", "2", "--output", f"html:{lab.out / 'n.html'}")
        args[args.index("--now") + 1] = f"{day}T03:00:00Z"
        assert cli(*args).code == 1
    assert sorted(p.name for p in (lab.state / "history").iterdir()) == [
        "report-20261102T030000Z.json", "report-20261103T030000Z.json"]
    assert (lab.out / "n.html").read_text().count('class="night"') == 2


@pytest.mark.parametrize(("spec", "fmt", "path"), [
    ("json:out/r.txt", "json", "out/r.txt"), ("md:r", "markdown", "r"),
    ("r.prom", "prometheus", "r.prom"), ("out/R.HTML", "html", "out/R.HTML"),
    ("prom:/var/lib/node_exporter/reconcile.prom", "prometheus", "/var/lib/node_exporter/reconcile.prom"),
    ("weird:name.md", "markdown", "weird:name.md"),  # not a format prefix: part of the path
])
def test_output_format_from_prefix_or_extension(spec: str, fmt: str, path: str) -> None:
    assert parse_output(spec) == Output(fmt, Path(path))


def test_output_without_a_known_format_is_refused(cli, tmp_path: Path) -> None:
    result = cli("report", "--site", "demo", "--state-dir", tmp_path, "--output", tmp_path / "report.txt")
    assert result.code == 2 and "cannot tell the format" in result.err
    assert not (tmp_path / "lock").exists()  # refused before anything ran


# ── Markdown golden, JSON schema ─────────────────────────────────────────────


def test_markdown_matches_the_golden_file(two_nights: Lab) -> None:
    text = (two_nights.out / "nightly.md").read_text()
    if os.environ.get("RECONCILE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_json_report_validates_and_carries_marks(two_nights: Lab) -> None:
    schema = json.loads(SCHEMA.read_text())
    for name in ("night1.json", "nightly.json"):
        data = json.loads((two_nights.out / name).read_text())
        jsonschema.validate(data, schema)
    data = json.loads((two_nights.out / "nightly.json").read_text())
    assert {f["mark"] for f in data["findings"]} == {"new", "persisting"}
    assert [f["mark"] for f in data["resolved"]] == ["resolved"]
    assert data["coverage"]["summary"]["text"] == "3 guests | 2 governed | 1 gaps"
    state = json.loads((two_nights.state / "last-report.json").read_text())
    assert state == data  # the state is exactly the JSON output


def test_exit_zero_hides_drift_but_not_errors(tmp_path: Path, cli) -> None:
    lab = write_lab(tmp_path)
    drift = cli(*lab.args(1, "--exit-zero", "--output", f"md:{lab.out / 'n.md'}"))
    assert drift.code == 0 and "exit 1 (drift found)" in drift.out  # the summary still tells the truth
    missing = cli("report", "--sites-dir", lab.sites, "--site", "nowhere", "--state-dir", lab.state, "--exit-zero")
    assert missing.code == 2 and "no site 'nowhere'" in missing.err
