"""Site configuration: `sites/NAME.yaml` → `SiteConfig`.

Key names are a public interface (docs/configuration.md). Unknown or mistyped keys are errors
naming the file, line and key: a typo must not silently disable a check.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError, did_you_mean, located
from .record import record
from .settings import RuleSettings, parse_rule_settings
from .yamlio import YMap, load_yaml_file

T = TypeVar("T")
MAX_TIMEOUT_S = 86400

# Binding files and their default location relative to the bindings root.
BINDING_FILES: dict[str, str] = {
    "vm_lifecycle": "ops/bindings/vm.lifecycle.yaml",
    "placement_policy": "ops/bindings/infra.placement.policy.yaml",
    "docker_compose_targets": "ops/bindings/docker.compose.targets.yaml",
    "ssh_targets": "ops/bindings/ssh.targets.yaml",
    "services_health": "ops/bindings/services.health.yaml",
    "backup_inventory": "ops/bindings/backup.inventory.yaml",
    "naming_policy": "ops/bindings/naming.policy.yaml",
    "vm_profiles": "ops/bindings/infra.vm.profiles.yaml",
    "service_registry": "docs/governance/SERVICE_REGISTRY.yaml",
    "stack_registry": "docs/governance/STACK_REGISTRY.yaml",
}


@record
class ProxmoxHostConfig:
    name: str  # the proxmox_host value the bindings use for this host
    url: str
    token_id: str
    token_secret_env: str | None = None
    token_secret_file: Path | None = None
    verify_tls: bool = True
    ca_file: Path | None = None
    fingerprint: str | None = None  # "sha256:AA:BB:..."
    timeout_s: float = 10.0
    concurrency: int = 8  # parallel per-guest detail requests
    where: str = ""  # file:line of this entry, for error messages

    def token_secret(self) -> str:
        """Read the token secret from its env var or its private file (never logged)."""
        if self.token_secret_env:
            value = os.environ.get(self.token_secret_env)
            if not value:
                raise ConfigError(
                    f"{self.where}: proxmox host '{self.name}': environment variable "
                    f"{self.token_secret_env} is not set"
                )
            return value.strip()
        if self.token_secret_file:
            return _read_private_file(self.token_secret_file, self.where, self.name)
        raise ConfigError(f"{self.where}: proxmox host '{self.name}': no token_secret_env or token_secret_file")


def _read_private_file(path: Path, where: str, host: str) -> str:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{where}: token_secret_file {path} is readable by group or others "
                f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
            )
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: proxmox host '{host}': cannot read token_secret_file {path}: "
                          f"{exc.strerror or exc}") from None


@record
class SshOverride:
    host: str | None = None
    port: int | None = None
    user: str | None = None
    identity_file: Path | None = None
    sudo: bool = False


@record
class SshSettings:
    known_hosts: Path | None = None  # None → ~/.ssh/known_hosts
    identity_file: Path | None = None
    use_agent: bool = True
    config_file: Path | None = None  # an OpenSSH client config whose Host entries alias targets
    overrides: Mapping[str, SshOverride] = field(default_factory=dict)
    connect_timeout_s: float = 10.0
    command_timeout_s: float = 30.0  # total deadline per host, not per read
    # Hosts at once. A host's cost is waiting (handshake, one remote command), not local CPU (~10 ms per host),
    # so 16 sessions keep 2 cores far from busy while halving the waves of a 50-host site.
    concurrency: int = 16
    max_output_bytes: int = 16 * 1024 * 1024


@record
class SiteConfig:
    name: str
    path: Path  # the site file
    bindings_root: Path
    binding_paths: Mapping[str, Path]  # every known binding file, resolved
    proxmox: tuple[ProxmoxHostConfig, ...] = ()
    live_snapshot: Path | None = None
    proxmox_hosts: tuple[str, ...] | None = None  # override of the placement policy
    vmid_range: tuple[int, int] | None = None  # override of the placement policy
    docker_targets: tuple[str, ...] | None = None  # explicit list wins over the binding chain
    ssh: SshSettings = SshSettings()
    disk_tolerance_gb: float = 1.0
    rules: Mapping[str, Any] = field(default_factory=dict)  # the `rules:` section as written
    settings: RuleSettings = field(init=False, repr=False, compare=False)  # ... parsed and validated

    def __post_init__(self) -> None:
        # every command loads its site files, so a typo under `rules:` fails every command, at its line
        object.__setattr__(self, "settings", parse_rule_settings(self.rules or {}, str(self.path)))

    def binding(self, name: str) -> Path:
        return self.binding_paths[name]


# ── loading ──────────────────────────────────────────────────────────────────

_TOP_KEYS = {
    "site", "bindings_root", "bindings", "proxmox", "live_snapshot", "proxmox_hosts", "vmid_range",
    "docker_targets", "ssh", "disk_tolerance_gb", "rules", "description",
}
_PROXMOX_KEYS = {
    "name", "url", "token_id", "token_secret_env", "token_secret_file", "verify_tls", "ca_file",
    "fingerprint", "timeout_s", "concurrency",
}
_SSH_KEYS = {
    "known_hosts", "identity_file", "use_agent", "config_file", "overrides", "connect_timeout_s",
    "command_timeout_s", "concurrency", "max_output_bytes",
}
_OVERRIDE_KEYS = {"host", "port", "user", "identity_file", "sudo"}


class _Reader:
    """Typed access to one YAML mapping of the site file, with file:line in every error."""

    def __init__(self, path: Path, data: YMap, context: str, allowed: set[str]) -> None:
        self.path, self.data, self.context = path, data, context
        for key in data:
            if key not in allowed:
                self.fail(key, f"unknown key {quoted(key)}{did_you_mean(key, allowed)}")

    def fail(self, key: str, message: str) -> ConfigError:
        line = self.data.line_of(key) if isinstance(self.data, YMap) else None
        where = f"{self.context}.{shown(key)}" if self.context else shown(key)
        raise ConfigError(f"{located(self.path, line)}: {where}: {message}")

    def get(self, key: str, kind: type[T] | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                line = self.data.line
                where = f"{self.context}.{key}" if self.context else key
                raise ConfigError(f"{located(self.path, line)}: missing required key '{where}'")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(key, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def path_value(self, key: str, base: Path, must_exist: bool = False) -> Path | None:
        value = self.path_text(key)
        path = resolve_path(value, base) if value else None
        if must_exist and path is not None and not _is(path, Path.exists):
            self.fail(key, f"{shown(path)} does not exist")
        return path

    def path_text(self, key: str, required: bool = False) -> str | None:
        value = self.get(key, str, required=required)
        if value is not None and "\x00" in value:  # the OS refuses it, with a ValueError rather than an OSError
            self.fail(key, "a path cannot contain a NUL character")
        if value is not None:
            unset = [name for name in _VARIABLE.findall(value) if name not in os.environ]
            if unset:  # os.path.expandvars would leave `$NAME` in the path, to fail later as a strange file
                self.fail(key, f"environment variable {unset[0]} is not set (in {value!r})")
        return value

    def positive(self, key: str, default: float, cast: Callable[[Any], Any] = float) -> Any:
        value = self.get(key, (int, float), default)
        if not (0 < value < math.inf):  # NaN and infinity too: they would reach socket timeouts
            self.fail(key, f"must be a number greater than 0, got {value}")
        if cast is int and value != int(value):  # 0.5 workers would become 0 (1e6 bytes is fine)
            self.fail(key, f"must be a whole number, got {value}")
        return cast(value)

    def timeout(self, key: str, default: float) -> float:
        value = self.positive(key, default)
        if value > MAX_TIMEOUT_S:  # sockets refuse timeouts past the platform's time_t (about 300 years)
            self.fail(key, f"must be at most {MAX_TIMEOUT_S} seconds (one day), got {value:g}")
        return value


def _is(path: Path, test: Callable[[Path], bool]) -> bool:
    """`path.exists()` / `.is_dir()` that say False for a name the OS refuses (too long, ...) instead of raising."""
    try:
        return test(path)
    except (OSError, ValueError):
        return False


_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def shown(key: object) -> str:
    """A key as printed in an error: as written, unless that would break the one-line message."""
    text = str(key)
    return text if text.isprintable() else repr(text)


def quoted(key: object) -> str:
    text = str(key)
    return f"'{text}'" if text.isprintable() else repr(text)


def resolve_path(value: str, base: Path) -> Path:
    path = Path(os.path.expanduser(os.path.expandvars(value)))
    return path if path.is_absolute() else (base / path).resolve()


def load_site(path: Path, bindings_override: Path | None = None) -> SiteConfig:
    """Load and validate one site file."""
    from .errors import BindingsError

    try:
        data = load_yaml_file(path)
    except BindingsError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(data, YMap):
        raise ConfigError(f"{path}: a site file must be a YAML mapping")
    base = path.parent
    top = _Reader(path, data, "", _TOP_KEYS)
    name = top.get("site", str, required=True)
    if bindings_override is not None:
        root = bindings_override.resolve()
    else:
        root = resolve_path(top.path_text("bindings_root", required=True) or "", base)
        if not _is(root, Path.is_dir):
            top.fail("bindings_root", f"{shown(root)} is not a folder (the governance repo with ops/bindings/)")
    return SiteConfig(
        name=name,
        path=path,
        bindings_root=root,
        binding_paths=_binding_paths(top, root),
        proxmox=_proxmox_hosts(path, top, base),
        live_snapshot=top.path_value("live_snapshot", base),
        proxmox_hosts=_string_tuple(top, "proxmox_hosts"),
        vmid_range=_vmid_range(top),
        docker_targets=_string_tuple(top, "docker_targets"),
        ssh=_ssh_settings(path, top, base),
        disk_tolerance_gb=top.positive("disk_tolerance_gb", 1.0),
        rules=top.get("rules", dict, {}),
    )


def _binding_paths(top: _Reader, root: Path) -> dict[str, Path]:
    overrides = top.get("bindings", dict, {})
    reader = _Reader(top.path, overrides, "bindings", set(BINDING_FILES)) if overrides else None
    paths = {}
    for key, default in BINDING_FILES.items():
        custom = reader.path_text(key) if reader else None
        paths[key] = resolve_path(custom, root) if custom else root / default
    return paths


def _proxmox_hosts(path: Path, top: _Reader, base: Path) -> tuple[ProxmoxHostConfig, ...]:
    entries = top.get("proxmox", list, [])
    hosts = []
    for index, entry in enumerate(entries):
        context = f"proxmox[{index}]"
        if not isinstance(entry, YMap):
            raise ConfigError(f"{located(path, entries.line_of(index))}: {context}: expected a mapping")
        r = _Reader(path, entry, context, _PROXMOX_KEYS)
        url = r.get("url", str, required=True)
        if not url.startswith("https://"):
            r.fail("url", f"must start with https:// (the Proxmox API is served over TLS only; got {url!r})")
        env, secret_file = r.get("token_secret_env", str), r.path_value("token_secret_file", base)
        if not env and not secret_file:
            raise ConfigError(f"{located(path, entry.line)}: {context}: set token_secret_env or token_secret_file")
        fingerprint = r.get("fingerprint", str)
        if fingerprint and not _valid_fingerprint(fingerprint):
            r.fail("fingerprint", "expected 'sha256:' followed by 32 hex byte pairs separated by ':'")
        hosts.append(ProxmoxHostConfig(
            name=r.get("name", str, required=True),
            url=url.rstrip("/"),
            token_id=_token_id(r),
            token_secret_env=env,
            token_secret_file=secret_file,
            verify_tls=r.get("verify_tls", bool, True),
            ca_file=r.path_value("ca_file", base),
            fingerprint=fingerprint,
            timeout_s=r.timeout("timeout_s", 10.0),
            concurrency=r.positive("concurrency", 8, int),
            where=located(path, entry.line),
        ))
    names = [h.name for h in hosts]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(f"{path}: proxmox host names must be unique; repeated: {', '.join(sorted(duplicates))}")
    return tuple(hosts)


def _token_id(r: _Reader) -> str:
    token_id = r.get("token_id", str, required=True)
    if "!" not in token_id or "@" not in token_id.split("!")[0]:
        r.fail("token_id", f"expected USER@REALM!TOKENNAME, got {token_id!r}")
    return token_id


def _valid_fingerprint(value: str) -> bool:
    if not value.lower().startswith("sha256:"):
        return False
    pairs = value[7:].split(":")
    return len(pairs) == 32 and all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in pairs)


def _string_tuple(top: _Reader, key: str) -> tuple[str, ...] | None:
    values = top.get(key, list)
    if values is None:
        return None
    if not all(isinstance(v, str) for v in values):
        top.fail(key, "expected a list of strings")
    return tuple(values)


def _vmid_range(top: _Reader) -> tuple[int, int] | None:
    value = top.get("vmid_range", list)
    if value is None:
        return None
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value) or value[0] > value[1]:
        top.fail("vmid_range", f"expected [min, max] integers, got {list(value)!r}")
    return (value[0], value[1])


def _ssh_settings(path: Path, top: _Reader, base: Path) -> SshSettings:
    data = top.get("ssh", dict)
    if not data:
        return SshSettings()
    r = _Reader(path, data, "ssh", _SSH_KEYS)
    overrides = {}
    raw = r.get("overrides", dict, {})
    for target, entry in raw.items():
        if not isinstance(entry, YMap):
            r.fail("overrides", f"entry {quoted(target)} must be a mapping")
        o = _Reader(path, entry, f"ssh.overrides.{shown(target)}", _OVERRIDE_KEYS)
        overrides[str(target)] = SshOverride(
            host=o.get("host", str),
            port=o.get("port", int),
            user=o.get("user", str),
            identity_file=o.path_value("identity_file", base, must_exist=True),
            sudo=o.get("sudo", bool, False),
        )
    return SshSettings(
        known_hosts=r.path_value("known_hosts", base),
        identity_file=r.path_value("identity_file", base, must_exist=True),
        use_agent=r.get("use_agent", bool, True),
        config_file=r.path_value("config_file", base),
        overrides=overrides,
        connect_timeout_s=r.timeout("connect_timeout_s", 10.0),
        command_timeout_s=r.timeout("command_timeout_s", 30.0),
        concurrency=r.positive("concurrency", 16, int),
        max_output_bytes=r.positive("max_output_bytes", 16 * 1024 * 1024, int),
    )


def site_files(sites_dir: Path) -> dict[str, Path]:
    """Site name (file stem) → path, for every *.yaml in the sites folder."""
    if not sites_dir.is_dir():
        raise ConfigError(f"{sites_dir}: sites folder not found (use --sites-dir or RECONCILE_SITES_DIR)")
    return {p.stem: p for p in sorted(sites_dir.glob("*.yaml"))}
