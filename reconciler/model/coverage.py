"""The coverage matrix (a row per guest, a cell per governance surface) and the site parity table. Pure data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from ..errors import ExitCode
from ..record import record


class Cell(StrEnum):
    OK = "OK"
    MISS = "MISS"
    NA = "n.a."


SURFACE_LABELS = {"ssh": "SSH", "registry": "registry", "backup": "backup", "health": "health", "compose": "compose"}


@record
class CoverageRow:
    site: str
    proxmox_host: str
    vmid: int
    hostname: str
    status: str
    cells: Mapping[str, Cell]  # surface → cell, in SURFACE_LABELS order
    notes: tuple[str, ...] = ()

    @property
    def in_scope(self) -> bool:
        return any(c is not Cell.NA for c in self.cells.values())

    @property
    def governed(self) -> bool:
        return self.in_scope and all(c is not Cell.MISS for c in self.cells.values())

    @property
    def gaps(self) -> int:
        return sum(c is Cell.MISS for c in self.cells.values())


@record
class CoverageMatrix:
    sites: tuple[str, ...]
    surfaces: tuple[str, ...]
    rows: tuple[CoverageRow, ...]
    include_all: bool = False

    @property
    def guests(self) -> int:
        return len(self.rows)

    @property
    def governed(self) -> int:
        return sum(r.governed for r in self.rows)

    @property
    def gaps(self) -> int:
        return sum(r.gaps for r in self.rows)

    @property
    def summary(self) -> str:
        return f"{self.guests} guests | {self.governed} governed | {self.gaps} gaps"

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.DRIFT if self.gaps else ExitCode.OK


def merge_coverage(matrices: Sequence[CoverageMatrix]) -> CoverageMatrix:
    rows = sorted((r for m in matrices for r in m.rows), key=lambda r: (r.site, r.vmid, r.proxmox_host))
    return CoverageMatrix(tuple(s for m in matrices for s in m.sites), tuple(SURFACE_LABELS), tuple(rows),
                          any(m.include_all for m in matrices))


@record
class ParityRow:
    category: str
    counts: Mapping[str, int]  # site → entries counted
    totals: Mapping[str, int] | None = None  # site → all entries, for "E of T" rows
    unassigned: int = 0

    def cell(self, site: str) -> str:
        count = self.counts.get(site, 0)
        if self.totals is None:
            return str(count)
        return f"{count} of {self.totals.get(site, 0)}"

    def ratio(self, sites: Sequence[str]) -> str:
        if len(sites) != 2:
            return ""
        first, second = (self.counts.get(s, 0) for s in sites)
        if not first and not second:
            return "N/A"
        if not second:
            return "N/A"
        return f"{first / second:.1f}x"


@record
class ParityTable:
    sites: tuple[str, ...]
    rows: tuple[ParityRow, ...]
