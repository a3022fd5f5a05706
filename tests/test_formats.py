"""Output formats through the one registry (reconciler/render/registry.py), on the demo, through the CLI.

Every command takes every format its report has; `-o FILE` without `-f` takes the format from the extension;
an unknown format, or an extension naming a format the report lacks, is a usage error that lists the valid ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler.model.coverage import CoverageMatrix, ParityTable
from reconciler.model.nightly import NightlyReport
from reconciler.model.plan import Plan, Verification
from reconciler.model.report import Report
from reconciler.render import registry
from tests.test_nightly_formats import run_chromium

PLAN = ("plan-vm", "--site", "demo", "--vmid", "150", "--hostname", "newvm")
COMMANDS = {  # command line → (report type, exit code on the demo)
    ("--site", "demo"): (Report, 1),
    ("check", "--site", "demo"): (Report, 1),
    ("coverage", "--site", "demo"): (CoverageMatrix, 1),
    ("parity", "--site", "demo"): (ParityTable, 0),
    PLAN: (Plan, 0),
    ("plan-vm", "--site", "demo", "--verify", "101"): (Verification, 1),
}


@pytest.fixture(autouse=True)
def offline_demo(packaged_demo):
    yield


def test_every_report_type_has_its_formats() -> None:
    assert registry.names_for(Report) == ["table", "brief", "json", "markdown", "html"]
    assert registry.names_for(CoverageMatrix) == ["table", "json", "markdown"]
    assert registry.names_for(ParityTable) == ["table", "json", "markdown"]
    assert registry.names_for(Plan) == registry.names_for(Verification) == ["table", "json", "markdown"]
    assert registry.names_for(NightlyReport) == ["json", "markdown", "html", "prometheus"]


def test_every_registry_entry_names_a_report_type_and_a_renderer_that_exist() -> None:
    """The renderers are named as text (imported when used, for start-up): a typo must fail here, not in a run."""
    from reconciler.fix import FixPlan
    from reconciler.model.doctor import DoctorReport

    kinds = {k.__name__ for k in (Report, CoverageMatrix, ParityTable, Plan, Verification, NightlyReport,
                                  DoctorReport, FixPlan)}
    for name, spec in registry.FORMATS.items():
        assert set(spec.renderers) <= kinds, (name, set(spec.renderers) - kinds)
        for kind in spec.renderers:
            assert callable(registry.renderer_of(spec, kind)), (name, kind)
    assert registry.names_for("Report") == registry.names_for(Report)  # a class name is the same key
    assert registry.names_for(FixPlan) == ["diff", "json"] and registry.choose(FixPlan, None, None) == "diff"


@pytest.mark.parametrize("args", list(COMMANDS), ids=" ".join)
def test_every_command_renders_every_format_of_its_report(cli, args) -> None:
    kind, code = COMMANDS[args]
    texts = {}
    for fmt in registry.names_for(kind):
        result = cli(*args, "-f", fmt)
        assert result.code == code, (fmt, result.err)
        texts[fmt] = result.out
    json.loads(texts["json"])
    assert texts["markdown"] != texts["table"]
    assert texts["markdown"].startswith("# ") or texts["markdown"].startswith("| ")  # a heading, or a bare table
    if "html" in texts:
        assert texts["html"].startswith("<!DOCTYPE html>") and texts["html"].rstrip().endswith("</html>")


def test_the_full_run_in_markdown_and_html_has_every_finding(cli, tmp_path: Path) -> None:
    report = json.loads(cli("--site", "demo", "-f", "json").out)
    markdown = cli("--site", "demo", "-f", "markdown").out
    html = cli("--site", "demo", "-f", "html").out
    for finding in report["findings"]:
        assert f"`{finding['address']}`" in markdown
        assert f"<code>{finding['address']}</code>" in html
    for kind, count in report["summary"].items():
        if count:
            assert f"## {kind} ({count})" in markdown
            assert f'<section id="{kind}"><h2>{kind} ({count})</h2>' in html
    assert re.search(r"exit 1 \(drift found: \d+ to act on\)$", markdown.rstrip())


def test_check_in_markdown_lists_only_governance_kinds(cli) -> None:
    markdown = cli("check", "--site", "demo", "-f", "markdown").out
    headings = re.findall(r"^## (\w+) \(\d+\)$", markdown, flags=re.M)
    assert headings == ["invalid", "parity"]


@pytest.mark.parametrize("name, expected", [
    ("r.md", "# Reconcile report — demo"), ("r.markdown", "# Reconcile report — demo"),
    ("r.html", "<!DOCTYPE html>"), ("r.json", "{"), ("r.txt", "INVALID (2)"), ("report", "INVALID (2)")])
def test_output_extension_chooses_the_format(cli, tmp_path: Path, name: str, expected: str) -> None:
    out = tmp_path / name
    result = cli("--site", "demo", "-o", out)
    assert result.code == 1, result.err
    assert out.read_text().startswith(expected)
    assert result.out.startswith("demo: ")  # the summary on stdout, the report in the file


def test_an_explicit_format_wins_over_the_extension(cli, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    assert cli("--site", "demo", "-f", "json", "-o", out).code == 1
    assert json.loads(out.read_text())["sites"] == ["demo"]


@pytest.mark.parametrize("args", list(COMMANDS), ids=" ".join)
def test_an_unknown_format_is_a_usage_error_naming_the_valid_ones(cli, args) -> None:
    kind, _ = COMMANDS[args]
    result = cli(*args, "-f", "nosuch")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        f"reconcile: error: Invalid value for '--format' / '-f': 'nosuch' is not one of "
        f"{', '.join(registry.names_for(kind))} (see {' '.join(['reconcile', *args[:1]]).replace(' --site', '')} "
        "--help)"]
    assert result.out == ""


def test_an_extension_naming_a_format_the_report_lacks_is_refused(cli, tmp_path: Path) -> None:
    out = tmp_path / "coverage.html"
    result = cli("coverage", "--site", "demo", "-o", out)
    assert result.code == 2
    assert "the extension names html, which this report does not have (one of table, json, markdown)" in result.err
    assert not out.exists()


def test_format_aliases_and_case(cli) -> None:
    def without_stamp(text: str) -> str:
        return re.sub(r"generated: \S+", "", text)

    alias, upper = cli("--site", "demo", "-f", "md"), cli("--site", "demo", "-f", "MARKDOWN")
    assert alias.code == upper.code == 1
    assert without_stamp(alias.out) == without_stamp(upper.out) and alias.out.startswith("# Reconcile report")


def test_help_lists_the_formats_of_each_command(cli) -> None:
    assert "table, brief, json, markdown, html" in " ".join(cli("--help").out.split())
    assert "table, json, markdown [default" in " ".join(cli("coverage", "--help").out.split())


def test_the_run_report_page_renders_in_headless_chromium(cli, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert cli("--site", "demo", "-o", page).code == 1
    html = page.read_text()
    assert not re.search(r"<script|<link|<img|<iframe|src=|url\(|@import", html, re.I)  # self-contained
    dom = run_chromium(page, tmp_path / "profile", "--dump-dom").stdout
    sections = re.findall(r'<section id="([a-z]+)"><h2>', dom)
    assert sections == ["summary", "invalid", "security", "unregistered", "missing", "drifted", "parity", "unknown",
                        "sources"]
    # the lifecycle-vs-compose disagreement is parity; 5 of the 17 are backups (age, size, 2 jobs, a run)
    assert dom.count('<li class="f-drifted">') == 17


# ── a table made to be read (issue 18) ───────────────────────────────────────


def test_the_table_shows_severity_first_within_each_kind_and_says_why_it_exits(cli) -> None:
    out = cli("--site", "demo").out
    heads = [line for line in out.splitlines() if re.match(r"^  (error|warning|info) +\S", line)]
    report = json.loads(cli("--site", "demo", "-f", "json").out)
    assert len(heads) == len(report["findings"])  # every finding's head names its severity, then the address
    for kind in {f["kind"] for f in report["findings"]}:
        section = out.split(f"{kind.upper()} (")[1].split("\n\n")[0]
        severities = re.findall(r"^  (error|warning|info) ", section, re.M)
        assert severities == sorted(severities, key=["error", "warning", "info"].index), kind
    actionable = sum(1 for f in report["findings"] if f["kind"] not in ("unknown",) and f["severity"] != "info")
    assert out.splitlines()[-1].endswith(f"exit 1 (drift found: {actionable} to act on)")


def test_the_summary_says_why_the_exit_code_is_what_it_is() -> None:
    from reconciler.model import Finding, Kind, Severity, Subject
    from reconciler.render.table import summary_line

    def finding(kind: Kind, severity: Severity) -> Finding:
        return Finding(kind, "r", Subject("binding", "home", target="f"), "m", severity=severity)

    info = Report("t", ("home",), (), (finding(Kind.PARITY, Severity.INFO),) * 5)
    assert summary_line(info) == "home: 5 parity — exit 0 (in sync: 5 findings, info only)"
    unknown = Report("t", ("home",), (), (finding(Kind.UNKNOWN, Severity.WARNING),))
    assert summary_line(unknown).endswith("exit 3 (no drift found, but not everything could be observed: 1 unknown)")
    drift = Report("t", ("home",), (), (finding(Kind.PARITY, Severity.INFO), finding(Kind.MISSING, Severity.ERROR)))
    assert summary_line(drift).endswith("exit 1 (drift found: 1 to act on)")
    assert summary_line(Report("t", ("home",), (), ())) == "home: no findings — exit 0 (in sync)"


def test_long_lines_fold_to_the_terminal_width_with_indented_continuations(cli) -> None:
    narrow = cli("--site", "demo", env={"COLUMNS": "100"}).out
    wide = cli("--site", "demo").out  # a pipe: never folded
    body = [line for line in narrow.splitlines()[:-1] if line.startswith("      ")]
    assert all(len(line) <= 100 for line in body)
    assert any(line.startswith("        ") for line in body)  # a continuation, indented under its line
    assert max(len(line) for line in wide.splitlines()) > 100
    assert re.sub(r"\s+", " ", narrow) == re.sub(r"\s+", " ", wide)  # the same words, only folded


def test_brief_is_one_line_per_finding(cli) -> None:
    brief = cli("--site", "demo", "--brief")
    report = json.loads(cli("--site", "demo", "-f", "json").out)
    lines = brief.out.splitlines()
    assert brief.code == 1 and len(lines) == len(report["findings"]) + 1
    assert {line.split()[2] for line in lines[:-1]} == {f["address"] for f in report["findings"]}
    assert lines[-1] == cli("--site", "demo", "-q").out.strip()
