"""Which site files a run uses: `--site` names resolved in the sites folder (the demo ships in the package).

The demo is sealed: `--site demo` is always the estate inside the package, it runs alone, it never reads
another site file, and whatever a run keeps for it (nightly state, ignore file) lives in the per-user state
folder, never inside the installed package.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:  # the site file reader (YAML and all) loads only when a site is: `--help` needs none of it
    from .config import SiteConfig

DEMO_SITE = "demo"
PACKAGED_DEMO = Path(__file__).resolve().parent / "demo" / "demo.yaml"
IGNORE_FILE_NAME = ".reconcileignore"


def user_state_dir() -> Path:
    """$XDG_STATE_HOME/reconciler, else ~/.local/state/reconciler (the XDG base directory default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "reconciler"


def is_demo(cfg: SiteConfig) -> bool:
    return cfg.path.resolve() == PACKAGED_DEMO


def demo_state_dir() -> Path:
    """The demo's own state folder (its nightly state and ignore file), apart from the real sites'."""
    return user_state_dir() / DEMO_SITE


def default_state_dir(configs: Sequence[SiteConfig]) -> Path:
    """The nightly state folder without --state-dir: the user's, or the demo's when the run is the demo."""
    return demo_state_dir() if any(is_demo(cfg) for cfg in configs) else user_state_dir()


def default_ignore_file(cfg: SiteConfig) -> Path:
    """The ignore file without --ignore: `.reconcileignore` in the bindings root; the demo's in its state folder."""
    return (demo_state_dir() if is_demo(cfg) else cfg.bindings_root) / IGNORE_FILE_NAME


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


def resolve_site_paths(names: Sequence[str], sites_dir: Path, explicit_dir: bool = False) -> list[Path]:
    """Site names → site files. `all` means every site in the folder except the demo; `--site a,b` is two."""
    names = [part.strip() for name in names for part in name.split(",") if part.strip()]
    if not names:
        raise ConfigError("no site given: use --site NAME (or --site all)")
    if DEMO_SITE in names:
        if len(set(names)) > 1:
            raise ConfigError(f"--site {DEMO_SITE} runs alone: it is a made-up estate, not to be mixed with "
                              f"{', '.join(sorted(set(names) - {DEMO_SITE}))}")
        reserved = sites_dir / f"{DEMO_SITE}.yaml"
        if reserved.is_file():
            raise ConfigError(f"{reserved}: the site name '{DEMO_SITE}' is reserved for the embedded demo; "
                              "rename this file (and its `site:`) to use it")
        return [PACKAGED_DEMO]
    if not sites_dir.is_dir():
        where = "--sites-dir" if explicit_dir else "the sites folder"
        close = [c for n in names if n != "all" for c in difflib.get_close_matches(n, [DEMO_SITE], n=1)]
        guess = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"{where} {sites_dir} does not exist ({guess}site files live there as NAME.yaml; "
                          "use --sites-dir or RECONCILE_SITES_DIR)")
    from .config import site_files

    available = site_files(sites_dir)
    chosen: dict[str, Path] = {}
    for name in names:
        if name == "all":
            real = {n: p for n, p in available.items() if n != DEMO_SITE}
            if not real:
                raise ConfigError(f"{sites_dir}: no site files found for --site all")
            chosen.update(real)
        elif name in available:
            chosen[name] = available[name]
        else:
            known = ", ".join(sorted(available)) or "none"
            close = difflib.get_close_matches(name, [*available, DEMO_SITE], n=1)
            guess = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"no site '{name}' in {sites_dir} ({guess}known sites: {known}; "
                              f"use --sites-dir or RECONCILE_SITES_DIR)")
    return list(chosen.values())


def load_sites(names: Sequence[str], sites_dir: Path | None, bindings: Path | None) -> list[SiteConfig]:
    paths = resolve_site_paths(names, default_sites_dir(sites_dir),
                               explicit_dir=sites_dir is not None or bool(os.environ.get("RECONCILE_SITES_DIR")))
    from .config import load_site

    configs = [load_site(path, bindings) for path in paths]
    seen: dict[str, Path] = {}
    for cfg in configs:
        if cfg.name in seen:
            raise ConfigError(f"{cfg.path}: site '{cfg.name}' is also defined in {seen[cfg.name]}")
        seen[cfg.name] = cfg.path
    return configs
