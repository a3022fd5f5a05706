"""Which site files a run uses: `--site` names resolved in the sites folder (the demo ships in the package)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .config import SiteConfig, load_site, site_files
from .errors import ConfigError

DEMO_SITE = "demo"
PACKAGED_DEMO = Path(__file__).resolve().parent / "demo" / "demo.yaml"


def default_sites_dir(explicit: Path | None) -> Path:
    """--sites-dir, else $RECONCILE_SITES_DIR, else ./sites when present, else ~/.config/reconciler/sites."""
    if explicit is not None:
        return explicit
    env = os.environ.get("RECONCILE_SITES_DIR")
    if env:
        return Path(env)
    local = Path("sites")
    if local.is_dir():
        return local
    return Path.home() / ".config" / "reconciler" / "sites"


def resolve_site_paths(names: Sequence[str], sites_dir: Path) -> list[Path]:
    """Site names → site files. `all` means every site in the folder except the demo."""
    if not names:
        raise ConfigError("no site given: use --site NAME (or --site all)")
    available = site_files(sites_dir) if sites_dir.is_dir() else {}
    chosen: dict[str, Path] = {}
    for name in names:
        if name == "all":
            real = {n: p for n, p in available.items() if n != DEMO_SITE}
            if not real:
                raise ConfigError(f"{sites_dir}: no site files found for --site all")
            chosen.update(real)
        elif name in available:
            chosen[name] = available[name]
        elif name == DEMO_SITE:
            chosen[name] = PACKAGED_DEMO
        else:
            known = ", ".join(sorted(available)) or "none"
            raise ConfigError(f"no site '{name}' in {sites_dir} (known sites: {known}; "
                              f"use --sites-dir or RECONCILE_SITES_DIR)")
    return list(chosen.values())


def load_sites(names: Sequence[str], sites_dir: Path | None, bindings: Path | None) -> list[SiteConfig]:
    paths = resolve_site_paths(names, default_sites_dir(sites_dir))
    configs = [load_site(path, bindings) for path in paths]
    seen: dict[str, Path] = {}
    for cfg in configs:
        if cfg.name in seen:
            raise ConfigError(f"{cfg.path}: site '{cfg.name}' is also defined in {seen[cfg.name]}")
        seen[cfg.name] = cfg.path
    return configs
