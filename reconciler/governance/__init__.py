"""Cross-file governance for `reconcile check`, `reconcile coverage` and `reconcile parity`. No network.

- `check`: every governance rule over one site's bindings → `parity` findings (plus the loaders' `invalid`);
- `coverage`: the matrix, one row per guest and a cell per surface (OK / MISS / n.a.);
- `parity`: the seed's shop-vs-home table, how many entries of each binding category each site has.

The entry points (`run_check`, `run_coverage`, `run_parity`) take `SiteConfig`s; the policy comes from each
site file's `rules:` (docs/governance.md).
"""

from __future__ import annotations

from .check import GovernanceResult, check_site, load_policy, run_check, run_coverage
from .coverage import coverage
from .parity import run_parity

__all__ = ["GovernanceResult", "check_site", "coverage", "load_policy", "run_check", "run_coverage", "run_parity"]
