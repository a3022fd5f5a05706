"""The one registry of output formats: format name → which report types it can render, and how.

Every command that prints a report asks here: `choose` turns `--format` / the `-o FILE` extension into a
format (a usage error, naming the valid ones, when the report has no such format) and `render` produces the
text. Adding a format is one new module and one entry in `FORMATS`; a report type gains a format by one
line in that entry.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ReconcileError
from ..record import record

Renderer = Callable[[Any], str]


@record
class FormatSpec:
    """`renderers`: report type name → "module:function" in this package, imported when first used, so that
    choosing a format (and `--help`, which lists them) imports no renderer and no model module."""

    renderers: Mapping[str, str]
    extensions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # also accepted as `--format` values and `--output PREFIX:` prefixes
    terminal: bool = False  # renderers take `color=` (only the terminal table paints)


FORMATS: dict[str, FormatSpec] = {
    # first, so that a report whose only other format is json (the fix plan) defaults to its patch
    "diff": FormatSpec({"FixPlan": "fix:fix_diff"}, (".patch", ".diff")),
    "table": FormatSpec({"Report": "table:render_table", "CoverageMatrix": "governance:coverage_text",
                         "ParityTable": "governance:parity_text", "Plan": "plan:plan_text",
                         "Verification": "plan:verify_text", "DoctorReport": "doctor:doctor_text"}, terminal=True),
    "brief": FormatSpec({"Report": "table:render_brief"}, terminal=True),
    "json": FormatSpec({"Report": "json_report:render_json", "CoverageMatrix": "governance:coverage_json",
                        "ParityTable": "governance:parity_json", "Plan": "plan:plan_json",
                        "Verification": "plan:verify_json", "NightlyReport": "nightly_json:render_nightly_json",
                        "DoctorReport": "doctor:doctor_json", "FixPlan": "fix:fix_json"}, (".json",)),
    "markdown": FormatSpec({"Report": "report_markdown:report_markdown",
                            "CoverageMatrix": "governance:coverage_markdown",
                            "ParityTable": "governance:parity_markdown", "Plan": "plan:plan_markdown",
                            "Verification": "plan:verify_markdown", "NightlyReport": "markdown:render_markdown"},
                           (".md", ".markdown"), ("md",)),
    "html": FormatSpec({"Report": "report_html:report_html", "NightlyReport": "html:render_html"},
                       (".html", ".htm")),
    "prometheus": FormatSpec({"NightlyReport": "prometheus:render_prometheus"}, (".prom",), ("prom",)),
}
DEFAULT = "table"


def kind_name(kind: type | str) -> str:
    """The registry's key for a report type: its class name (the type itself or the name may be given)."""
    return kind if isinstance(kind, str) else kind.__name__


def renderer_of(spec: FormatSpec, kind: type | str) -> Renderer:
    module, function = spec.renderers[kind_name(kind)].split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


class UnknownFormat(ReconcileError):
    """A format the report does not have; `str()` names the valid ones."""


def names_for(kind: type | str) -> list[str]:
    """The formats a report type (or its class name) can be rendered in, in registry order."""
    key = kind_name(kind)
    return [name for name, spec in FORMATS.items() if key in spec.renderers]


def canonical(name: str) -> str | None:
    """`md` → `markdown`; None for a name no format has."""
    lowered = name.lower()
    return next((key for key, spec in FORMATS.items() if lowered == key or lowered in spec.aliases), None)


def by_extension(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return next((key for key, spec in FORMATS.items() if suffix in spec.extensions), None)


def choose(kind: type | str, given: str | None, output: Path | None) -> str:
    """`--format` when given, else the extension of `-o FILE` when it names a format, else the table."""
    valid = names_for(kind)
    if given is not None:
        name = canonical(given)
        if name not in valid:
            raise UnknownFormat(f"'{given}' is not one of {', '.join(valid)}")
        return name
    name = by_extension(output) if output is not None else None
    if name is None:
        return DEFAULT if DEFAULT in valid else valid[0]
    if name not in valid:
        raise UnknownFormat(f"{output}: the extension names {name}, which this report does not have "
                            f"(one of {', '.join(valid)}); give --format")
    return name


def render(report: object, name: str, color: bool = False, width: int | None = None) -> str:
    """`width`: the terminal's columns, for the renderers that fold long lines (None: never fold)."""
    spec = FORMATS[name]
    renderer = renderer_of(spec, type(report))
    if not spec.terminal:
        return renderer(report)
    if width and "width" in inspect.signature(renderer).parameters:
        return renderer(report, color=color, width=width)
    return renderer(report, color=color)
