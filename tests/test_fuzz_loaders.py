"""Property-based fuzzing of every loader and parser of outside input (hypothesis).

Invariant: whatever the bytes, a loader either returns or raises a `ReconcileError` whose message is one line
naming the file (with `line:column` for a YAML syntax error); the parsers of Proxmox and docker output
raise only their documented errors. A binding file that loads is also fed through what consumes it (the
engine's declared side, the guest and stack rules against an empty live state, and every governance rule),
so a value a loader lets through cannot crash a rule either.

Inputs are generated as documents shaped like the real files (known keys, near-valid values, with
any value swapped for a random one), dumped as YAML or JSON, and then sometimes mutated as text or bytes:
syntax damage, anchors, aliases, merge keys, tags, control characters, invalid UTF-8.

Examples per loader: $RECONCILE_FUZZ_EXAMPLES (default 1000); e.g. RECONCILE_FUZZ_EXAMPLES=20000 for a long run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import engine, governance
from reconciler.bindings.backup import load_backup_inventory
from reconciler.bindings.compose_targets import load_compose_targets
from reconciler.bindings.health import load_health
from reconciler.bindings.lifecycle import load_lifecycle
from reconciler.bindings.naming import load_naming_policy
from reconciler.bindings.placement import load_placement
from reconciler.bindings.service_registry import load_service_registry
from reconciler.bindings.ssh_targets import load_ssh_targets
from reconciler.bindings.stack_registry import load_stack_registry
from reconciler.collect import docker_output, pve_parse
from reconciler.collect.docker_output import MARK, DockerOutputError
from reconciler.collect.snapshot import dump_snapshot, load_snapshot
from reconciler.config import BINDING_FILES, SiteConfig, load_site
from reconciler.errors import ReconcileError
from reconciler.model import (
    AuditScope,
    DockerObservation,
    Gap,
    GuestType,
    LiveContainer,
    LiveGuest,
    LiveStack,
    LiveState,
    ProxmoxObservation,
    Reason,
    SourceStatus,
)
from reconciler.yamlio import load_yaml_file

EXAMPLES = int(os.environ.get("RECONCILE_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)

# ── values ───────────────────────────────────────────────────────────────────

# Strings that have meant trouble somewhere: unicode digits (str.isdigit() but not int()), NUL, line
# separators, shell metacharacters, path tricks, YAML 1.1 booleans, huge digit runs.
NASTY = [
    "", " ", "~", "-", "0", "-1", "00", "²", "١٢", "٣", "Ⅻ", "\x00", "a\x00b", "\u2028", "\x85", "\ufeff", "\t",
    "no", "yes", "off", "on", "null", "~/x", "$HOME/x", "${HOME}", "../../etc/passwd", "/", "//", "$(id)", "`id`",
    "a;b", "a b", "a\nb", "PENDING", "PENDING-ip", "1e999", "-.inf", ".nan", "0x1F", "0o17", "1_000",
    "vzdump-qemu-200-", "vzdump-lxc-²-", "proxmox:vm-201", "proxmox:vm-²", "/vms/²", "max 9999 characters",
    "http://[::1", "http://10.0.0.1:99999/x", "sha256:AB:CD", "qemu", "lxc", "active", "stopped", "template",
    "decommissioned", "planning",
]
# Built lazily so that hypothesis' own reprs stay short (and never hit the int-to-str digit limit).
LONG = st.one_of(st.builds(lambda: "9" * 5000), st.builds(lambda: "max " + "9" * 5000 + " characters"),
                 st.builds(lambda: "proxmox:vm-" + "9" * 5000), st.builds(lambda: "/vms/" + "9" * 5000),
                 st.builds(lambda: "x" * 300))
SHORT_TEXT = st.one_of(st.sampled_from(NASTY), st.text(max_size=12),
                       st.text(alphabet="abc-_.:/ 0129²\x00\n\t'\"#&*!|>%@`{}[],?", max_size=12))
TEXT = st.one_of(SHORT_TEXT, SHORT_TEXT, SHORT_TEXT, LONG)
INTS = st.one_of(st.integers(-3, 70000), st.integers(min_value=-(2**80), max_value=2**80),
                 st.sampled_from([0, 1, 65535, 65536, 2**63, 10**400]))
SCALARS = st.one_of(st.none(), st.booleans(), INTS, st.floats(), TEXT, st.dates())
KEYS = st.one_of(TEXT, st.integers(-2, 300), st.booleans(), st.none(), st.floats())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)), max_leaves=6)


# The usual suspects for any one field, tried far more often than a uniform draw of VALUES would.
SPECIALS = st.sampled_from([None, True, False, 0, -1, 2**63, 10**400, float("inf"), float("-inf"), float("nan"), "",
                            "²", "\x00", "a\nb", [], {}, [None], {"": None}])


def near(*good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes a usual suspect, sometimes anything at all."""
    return st.one_of(*good, *good, *good, SPECIALS, VALUES)


def record(required: dict[str, st.SearchStrategy[Any]] | None = None,
           optional: dict[str, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping with (some of) the known keys, plus the odd unknown one."""
    known = st.fixed_dictionaries(required or {}, optional=optional or {})
    extra = st.dictionaries(KEYS, VALUES, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, st.one_of(st.just({}), st.just({}), extra))


def listed(item: st.SearchStrategy[Any], size: int = 4) -> st.SearchStrategy[Any]:
    return near(st.lists(item, max_size=size))


NAMES = st.sampled_from(["apps", "media", "web", "db", "pve", "alpha", "beta", "vault", "nas"])
NAME = near(NAMES)
NAME_KEY = st.one_of(NAMES, NAMES, KEYS)  # mapping keys must stay hashable
VMID = near(st.integers(100, 260), st.sampled_from(["200", "²", 0, -5, True]))
IP = near(st.sampled_from(["10.9.0.10", "10.9.0.11", "fe80::1", "100.64.0.1", "not-an-ip", "10.9.0.999"]))
STATUS = near(st.sampled_from(["active", "stopped", "template", "decommissioned", "planning", "registered",
                               "abandoned", "provisioned", "sleeping"]))
BOOL = near(st.booleans(), st.sampled_from(["yes", "no", 1, 0]))
PATHLIKE = near(st.sampled_from(["/opt/app", "~/stacks/web", "stacks/x", "/srv/a b", "/opt/$(id)", "a\x00b"]))

GUEST = record(optional={
    "id": VMID, "vmid": VMID, "hostname": NAME, "proxmox_host": near(st.sampled_from(["alpha", "beta", "gamma"])),
    "status": STATUS, "vm_type": near(st.sampled_from(["qemu", "lxc", "kvm"])), "lan_ip": IP, "tailscale_ip": IP,
    "ssh_target": NAME, "stacks": listed(NAME), "services": listed(NAME), "backup_target": NAME,
    "health_probe_policy": near(st.sampled_from(["none", "http"])), "has_docker": BOOL, "profile": NAME,
    "resources": near(record(optional={"cpu_cores": near(INTS), "memory_mb": near(INTS),
                                       "boot_disk_gb": near(st.floats(0, 5000), INTS)})),
    "notes": TEXT, "description": TEXT,
})
DOCUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "vm_lifecycle": near(record({"vms": listed(GUEST, 5)}, {"version": INTS, "defaults": near(GUEST)})),
    "placement_policy": near(record(optional={
        "sites": near(st.dictionaries(NAME_KEY, near(record(optional={
            "proxmox_hosts": listed(NAME), "vmid_min": VMID, "vmid_max": VMID})), max_size=3)),
        "hosts": near(st.dictionaries(NAME_KEY, near(record(optional={"site": NAME, "kind": NAME})), max_size=3)),
    })),
    "ssh_targets": near(record(optional={"ssh": near(record(optional={
        "defaults": near(record(optional={"user": NAME, "port": near(INTS, TEXT),
                                          "strict_host_key_checking": near(st.sampled_from(["no", "yes", False]))})),
        "targets": listed(record(optional={
            "id": NAME, "host": near(IP, NAME), "user": NAME, "port": near(INTS, TEXT), "tags": listed(NAME),
            "access_method": near(st.just("lan_only")), "strict_host_key_checking": BOOL, "optional": BOOL,
            "probe_via": NAME})),
    }))})),
    "docker_compose_targets": near(record(optional={"targets": near(
        st.dictionaries(NAME_KEY, near(record(optional={
            "ssh_target": NAME, "enabled": BOOL, "description": TEXT,
            "stacks": listed(near(NAME, record(optional={"name": NAME, "path": PATHLIKE, "compose_file": PATHLIKE,
                                                         "file": PATHLIKE})))})), max_size=3),
        st.lists(record(optional={"id": NAME, "ssh_target": NAME, "stacks": listed(NAME)}), max_size=3))})),
    "service_registry": near(record(optional={
        "services": near(st.dictionaries(NAME_KEY, near(record(optional={
            "host": NAME, "container": NAME, "status": near(st.sampled_from(["active", "parked", "gone"])),
            "compose": PATHLIKE})), max_size=3)),
        "hosts": near(st.dictionaries(NAME_KEY, near(record(optional={
            "ssh": NAME, "proxmox_host": NAME, "vmid": VMID, "tailscale_ip": IP, "lan_ip": IP, "ssh_user": NAME})),
            max_size=3)),
    })),
    "backup_inventory": near(record(optional={
        "defaults": near(record(optional={"enabled": BOOL, "host": NAME, "kind": NAME})),
        "targets": listed(record(optional={
            "name": NAME, "enabled": BOOL, "host": NAME, "kind": NAME, "base_path": PATHLIKE,
            "glob": near(st.sampled_from(["vzdump-qemu-200-*", "vzdump-lxc-101-*", "vzdump-qemu-x-*", "*"]))})),
    })),
    "services_health": near(record(optional={"endpoints": listed(record(optional={
        "id": NAME, "host": NAME, "enabled": BOOL, "expect": near(INTS),
        "url": near(st.sampled_from(["http://10.9.0.10:80/h", "http://[::1", "https://apps/x", "ftp://", ""]))}))})),
    "naming_policy": near(record(optional={
        "naming_convention": near(record(optional={"rules": listed(near(st.sampled_from([
            "Lowercase only, hyphens for separators", "Max 20 characters", "No underscores",
            "Max 0 characters"]), LONG))})),
        "hosts": listed(record(optional={"canonical_name": NAME, "kind": NAME, "site": NAME, "status": STATUS,
                                         "surfaces": near(st.dictionaries(NAME_KEY, BOOL, max_size=3))})),
        "allowed_exceptions": listed(record(optional={"host": NAME, "surface": NAME, "actual": NAME})),
    })),
    "vm_profiles": near(record(optional={"profiles": near(st.dictionaries(NAME_KEY, VALUES, max_size=3))})),
    "stack_registry": near(record(optional={"stacks": listed(record(optional={
        "stack_id": NAME, "name": NAME, "status": STATUS,
        "path": near(st.sampled_from(["proxmox:vm-200", "proxmox:vm-²", "infra/x"])),
        "deploy_target": near(st.sampled_from(["proxmox:vm-201", "proxmox:vm-0"]), LONG)}))})),
}

# Fragments spliced into otherwise valid text: syntax damage and every YAML feature a loader could trip on.
YAML_FRAGMENTS = [
    ":", "- ", "? ", "[", "]", "{", "}", "&a ", "*a", "*missing", "<<: *a\n", "<<: [*a, *a]\n", "!!binary ",
    "!!python/object/apply:os.system ['id']", "!!set ", "!!omap ", "!!timestamp ", "!!int ", "!!float ",
    "--- ", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\t", "'", '"', "|", ">", "#", "\n", "  ", "\x00",
    "\x1b", "\u2028", "\x85", "\ufeff", "a: &a [*a]\n", "k: &b {x: 1}\nj: *b\n", "2001-02-03", "0x" + "f" * 50,
    "1" * 50, "- " * 20, "[" * 10, "{a: " * 8,
]
# Long fragments, built lazily (see LONG).
LONG_FRAGMENTS = st.one_of(st.builds(lambda: "0x" + "f" * 5000), st.builds(lambda: "1" * 5000),
                           st.builds(lambda: "- " * 200), st.builds(lambda: "[" * 100), st.builds(lambda: "{a: " * 80))


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter: generation stays cheap
POSITION = st.integers(0, 2**20)  # taken modulo the text length: no strategy built per example
EDITS = st.sampled_from([0, 0, 0, 1, 1, 2, 3])
ACTIONS = st.sampled_from(["insert", "insert", "delete", "swap_line"])
FRAGMENT = st.one_of(st.sampled_from(YAML_FRAGMENTS), st.sampled_from(YAML_FRAGMENTS), st.text(max_size=4),
                     LONG_FRAGMENTS)
SPAN = st.integers(1, 40)
BAD_BYTES = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x28\xa1"])
ONE_IN_20 = st.integers(0, 19)
FLOW = st.sampled_from([False, None, True])


@st.composite
def document_bytes(draw: st.DrawFn, document: st.SearchStrategy[Any], fmt: str = "yaml") -> bytes:
    data = draw(document)
    if fmt == "json":
        text = json.dumps(data, default=str, ensure_ascii=draw(st.booleans()))
    else:
        text = yaml.dump(data, Dumper=_DUMPER, allow_unicode=draw(st.booleans()), sort_keys=False,
                         default_flow_style=draw(FLOW), width=10**6)
    for _ in range(draw(EDITS)):
        at = draw(POSITION) % (len(text) + 1)
        action = draw(ACTIONS)
        if action == "insert":
            text = text[:at] + draw(FRAGMENT) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(SPAN):]
        else:
            lines = text.splitlines(keepends=True)
            if len(lines) > 1:
                i = at % (len(lines) - 1)
                lines[i], lines[i + 1] = lines[i + 1], lines[i]
                text = "".join(lines)
    raw = text.encode("utf-8", "surrogatepass")
    if draw(ONE_IN_20) == 0:  # invalid UTF-8 somewhere
        at = draw(POSITION) % (len(raw) + 1)
        raw = raw[:at] + draw(BAD_BYTES) + raw[at:]
    return raw


# ── invariant ────────────────────────────────────────────────────────────────


def assert_one_line_naming(error: BaseException, path: Path) -> None:
    assert isinstance(error, ReconcileError), f"{type(error).__name__} escaped: {error!r}"
    message = str(error)
    assert message.strip() and "\n" not in message and "\r" not in message, repr(message)
    assert str(path) in message, f"error does not name {path}: {message!r}"
    if "YAML syntax error" in message:
        assert re.search(re.escape(str(path)) + r":\d+:\d+: ", message), f"no line:column: {message!r}"


def must_not_crash(path: Path, action: Callable[[], object]) -> bool:
    """Run `action`; True if it returned, False if it refused the input properly (anything else fails)."""
    try:
        action()
    except ReconcileError as error:
        assert_one_line_naming(error, path)
        return False
    return True


# ── the site and bindings fuzzed files are dropped into ─────────────────────

BASE_FILES = {
    "vm_lifecycle": """\
        defaults: {proxmox_host: alpha}
        vms:
          - {id: 200, hostname: apps, status: active, lan_ip: 10.9.0.10, ssh_target: apps, stacks: [web],
             backup_target: vm-200, resources: {cpu_cores: 2, memory_mb: 2048, boot_disk_gb: 32}}
          - {id: 201, hostname: db, vm_type: lxc, status: stopped}
          - {id: 202, hostname: gold, status: template}
          - {id: 150, hostname: old, status: decommissioned, proxmox_host: beta}
        """,
    "placement_policy": """\
        sites: {lab: {proxmox_hosts: [alpha], vmid_min: 200, vmid_max: 299}, other: {proxmox_hosts: [beta]}}
        hosts: {nas: {site: lab, kind: storage}}
        """,
    "ssh_targets": """\
        ssh:
          defaults: {user: root, port: 22, strict_host_key_checking: "no"}
          targets: [{id: apps, host: 10.9.0.10}, {id: nas, host: 10.9.0.2, access_method: lan_only}]
        """,
    "docker_compose_targets": "targets: {apps: {ssh_target: apps, stacks: [{name: web, path: /opt/web}]}}\n",
    "service_registry": """\
        services: {web: {host: apps, container: web-1, status: active}}
        hosts: {apps: {ssh: apps, proxmox_host: alpha, vmid: 200, tailscale_ip: 100.64.0.1}}
        """,
    "backup_inventory": "targets: [{name: vm-200, enabled: true, host: nas, glob: vzdump-qemu-200-*}]\n",
    "services_health": "endpoints: [{id: web, host: apps, url: 'http://10.9.0.10/health'}]\n",
    "naming_policy": "naming_convention: {rules: ['Lowercase only, hyphens for separators', 'Max 20 characters']}\n",
    "vm_profiles": "profiles: {small: {cores: 1}}\n",
    "stack_registry": "stacks: [{stack_id: web, name: web, path: proxmox:vm-200}]\n",
}
SITE = """\
    site: lab
    bindings_root: {root}
    proxmox:
      - {{name: alpha, url: "https://127.0.0.1:9", token_id: "a@pve!t", token_secret_env: RECONCILE_SENTINEL_TOKEN}}
    ssh: {{known_hosts: {root}/known_hosts, command_timeout_s: 1}}
    """


def write_base(root: Path) -> Path:
    for key, relative in BINDING_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(BASE_FILES[key]))
    site = root / "sites" / "lab.yaml"
    site.parent.mkdir(parents=True, exist_ok=True)
    site.write_text(textwrap.dedent(SITE.format(root=root)))
    return site


@pytest.fixture(scope="module")
def declared(base: tuple[Path, SiteConfig]) -> engine.DeclaredSite:
    return engine.load_declared(base[1])


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SiteConfig]:
    root = tmp_path_factory.mktemp("fuzz")
    site = write_base(root)
    cfg = load_site(site)
    # the base estate itself is sound: whatever fails below is the fuzzed file's doing
    engine.evaluate(engine.load_declared(cfg), LiveState())
    governance.run_check(cfg)
    return root, cfg


def consume(cfg: SiteConfig) -> None:
    """Everything downstream of the binding files that runs without a network."""
    site = engine.load_declared(cfg)
    findings = engine.evaluate(site, LiveState())
    for finding in findings:  # ids, addresses and rendering touch every field
        assert finding.id and finding.address
    governance.run_check(cfg, include_all=True, shared=site.shared_files())  # check + coverage


LOADERS: dict[str, Callable[[Path, Path], object]] = {
    "vm_lifecycle": lambda p, root: load_lifecycle(p, root, lambda host: "lab", "lab"),
    "placement_policy": lambda p, root: load_placement(p, root),
    "ssh_targets": lambda p, root: load_ssh_targets(p, root, "lab"),
    "docker_compose_targets": lambda p, root: load_compose_targets(p, root, "lab"),
    "service_registry": lambda p, root: load_service_registry(p, root, "lab"),
    "backup_inventory": lambda p, root: load_backup_inventory(p, root, "lab"),
    "services_health": lambda p, root: load_health(p, root, "lab"),
    "naming_policy": lambda p, root: load_naming_policy(p, root, "lab"),
    "stack_registry": lambda p, root: load_stack_registry(p, root, "lab"),
    "vm_profiles": lambda p, root: load_yaml_file(p),  # no loader reads it yet: only the YAML layer does
}
CONSUMED = set(LOADERS) - {"vm_profiles"}


def fuzz_binding(key: str) -> Callable[..., None]:
    @FUZZ
    @given(raw=document_bytes(DOCUMENTS[key]))
    def run(base: tuple[Path, SiteConfig], raw: bytes) -> None:
        root, cfg = base
        path = cfg.binding(key)
        path.write_bytes(raw)
        try:
            loaded = must_not_crash(path, lambda: LOADERS[key](path, root))
            if loaded and key in CONSUMED:  # what the loader let through, the rest of the pipeline consumes
                must_not_crash(path, lambda: consume(cfg))
        finally:
            path.write_text(textwrap.dedent(BASE_FILES[key]))

    return run


test_fuzz_vm_lifecycle = fuzz_binding("vm_lifecycle")
test_fuzz_placement_policy = fuzz_binding("placement_policy")
test_fuzz_ssh_targets = fuzz_binding("ssh_targets")
test_fuzz_docker_compose_targets = fuzz_binding("docker_compose_targets")
test_fuzz_service_registry = fuzz_binding("service_registry")
test_fuzz_backup_inventory = fuzz_binding("backup_inventory")
test_fuzz_services_health = fuzz_binding("services_health")
test_fuzz_naming_policy = fuzz_binding("naming_policy")
test_fuzz_stack_registry = fuzz_binding("stack_registry")
test_fuzz_vm_profiles = fuzz_binding("vm_profiles")


# ── site files ───────────────────────────────────────────────────────────────

PROXMOX_ENTRY = record(optional={
    "name": NAME, "url": near(st.sampled_from(["https://127.0.0.1:8006", "http://x", "ftp://x", "https://"])),
    "token_id": near(st.sampled_from(["a@pve!t", "a!t", "@!", "a@pve"])), "token_secret_env": NAME,
    "token_secret_file": PATHLIKE, "verify_tls": BOOL, "ca_file": PATHLIKE,
    "fingerprint": near(st.sampled_from(["sha256:" + ":".join(["AB"] * 32), "sha256:zz", "md5:00"])),
    "timeout_s": near(INTS, st.floats()), "concurrency": near(INTS),
})
SITE_DOCUMENT = near(record({"site": NAME}, {
    "bindings_root": PATHLIKE, "description": TEXT, "live_snapshot": PATHLIKE, "proxmox": listed(PROXMOX_ENTRY, 3),
    "bindings": near(st.dictionaries(st.one_of(st.sampled_from(sorted(BINDING_FILES)), KEYS), PATHLIKE, max_size=3)),
    "proxmox_hosts": listed(NAME), "vmid_range": near(st.lists(VMID, max_size=3)), "docker_targets": listed(NAME),
    "disk_tolerance_gb": near(st.floats(), INTS), "rules": near(st.dictionaries(
        st.one_of(st.sampled_from(["governance-ssh", "governance-files", "governance-typo", "parity"]), KEYS),
        near(BOOL, record(optional={"sites": listed(NAME), "severity": NAME, "statuses": listed(STATUS)})),
        max_size=2)),
    "ssh": near(record(optional={
        "known_hosts": PATHLIKE, "identity_file": PATHLIKE, "use_agent": BOOL, "config_file": PATHLIKE,
        "connect_timeout_s": near(INTS, st.floats()), "command_timeout_s": near(INTS, st.floats()),
        "concurrency": near(INTS), "max_output_bytes": near(INTS),
        "overrides": near(st.dictionaries(NAME_KEY, near(record(optional={
            "host": NAME, "port": near(INTS), "user": NAME, "identity_file": PATHLIKE, "sudo": BOOL})), max_size=2)),
    })),
}))


@FUZZ
@given(raw=document_bytes(SITE_DOCUMENT))
def test_fuzz_site_file(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "sites" / "lab.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw)

    def load_and_use() -> None:
        cfg = load_site(path)
        for host in cfg.proxmox:  # the secret lookup is part of loading a host's config
            try:
                host.token_secret()
            except ReconcileError as error:
                assert "\n" not in str(error)
        governance.load_policy(cfg)

    must_not_crash(path, load_and_use)


# ── snapshots ────────────────────────────────────────────────────────────────

LIVE_GUEST = st.builds(
    LiveGuest, proxmox_host=st.sampled_from(["alpha", "beta"]), node=st.sampled_from(["pve", "pve2"]),
    vmid=st.integers(100, 260), vm_type=st.sampled_from(GuestType), name=st.none() | NAME.filter(
        lambda v: isinstance(v, str)), status=st.sampled_from(["running", "stopped", "unknown"]),
    template=st.booleans(), cores=st.none() | st.integers(0, 64), memory_mb=st.none() | st.integers(0, 10**6),
    boot_disk_gb=st.none() | st.floats(0, 10**4), tags=st.lists(st.text(max_size=5), max_size=2).map(tuple),
    ips=st.lists(st.sampled_from(["10.9.0.10", "fe80::1", "10.9.0.11"]), max_size=2).map(tuple),
)
GAP = st.builds(Gap, scope=st.sampled_from(["host", "node", "guest", "guest_ips", "docker_host"]),
                reason=st.sampled_from(Reason), detail=st.text(max_size=10),
                proxmox_host=st.none() | st.sampled_from(["alpha", "beta"]), node=st.none() | st.just("pve"),
                vmid=st.none() | st.integers(100, 260), target=st.none() | st.just("apps"))
STATUS_OBJ = st.builds(SourceStatus, host=st.text(max_size=8), kind=st.sampled_from(["proxmox", "docker"]),
                       site=st.just("lab"), status=st.sampled_from(["ok", "partial", "failed"]),
                       reason=st.none() | st.sampled_from(Reason), detail=st.text(max_size=8))
PROXMOX_OBS = st.builds(
    ProxmoxObservation, proxmox_host=st.sampled_from(["alpha", "beta"]), site=st.just("lab"), listed=st.booleans(),
    guests=st.lists(LIVE_GUEST, max_size=4).map(tuple), offline_nodes=st.frozensets(st.sampled_from(["pve", "pve2"])),
    audit=st.builds(AuditScope, known=st.booleans(), everything=st.booleans(),
                    vmids=st.frozensets(st.integers(100, 260), max_size=3)),
    gaps=st.lists(GAP, max_size=2).map(tuple), status=st.none() | STATUS_OBJ,
)
CONTAINER = st.builds(LiveContainer, name=NAME.filter(lambda v: isinstance(v, str)),
                      state=st.sampled_from(["running", "exited"]), project=st.sampled_from(["", "web", "db"]))
DOCKER_OBS = st.builds(
    DockerObservation, target=st.sampled_from(["apps", "media"]), site=st.just("lab"), observed=st.booleans(),
    home=st.none() | st.just("/root"),
    stacks=st.lists(st.builds(LiveStack, name=st.sampled_from(["web", "db"]),
                              states=st.dictionaries(st.sampled_from(["running", "exited"]), st.integers(0, 3)),
                              working_dir=st.none() | PATHLIKE.filter(lambda v: isinstance(v, str))),
                    max_size=2).map(tuple),
    containers=st.lists(CONTAINER, max_size=2).map(tuple), gap=st.none() | GAP, status=st.none() | STATUS_OBJ,
)
LIVE_STATE = st.builds(LiveState, proxmox=st.lists(PROXMOX_OBS, max_size=2).map(tuple),
                       docker=st.lists(DOCKER_OBS, max_size=2).map(tuple))


@st.composite
def snapshot_document(draw: st.DrawFn) -> Any:
    """A real snapshot's JSON, with one value somewhere replaced by anything."""
    document = json.loads(dump_snapshot(draw(LIVE_STATE), ["lab"]))
    for _ in range(draw(st.integers(0, 2))):
        node, key = _random_slot(draw, document)
        if node is not None:
            node[key] = draw(VALUES)
    return document


def _random_slot(draw: st.DrawFn, document: Any) -> tuple[Any, Any]:
    node: Any = document
    parent: tuple[Any, Any] = (None, None)
    for _ in range(draw(st.integers(0, 6))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node, key=str)))
        elif isinstance(node, list) and node:
            key = draw(st.integers(0, len(node) - 1))
        else:
            break
        parent, node = (node, key), node[key]
    return parent


@FUZZ
@given(raw=document_bytes(st.one_of(snapshot_document(), snapshot_document(), VALUES), fmt="json"))
def test_fuzz_snapshot(declared: engine.DeclaredSite, tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "live.json"
    path.write_bytes(raw)

    def load_and_use() -> None:
        state = load_snapshot(path)
        site = declared
        live = LiveState(proxmox=engine.from_snapshot(site, state, path.name),
                         docker=engine.docker_from_snapshot(site, state, path.name))
        for finding in engine.evaluate(site, live):
            assert finding.id

    must_not_crash(path, load_and_use)


# ── Proxmox API payloads ─────────────────────────────────────────────────────

RESOURCE = record(optional={
    "type": near(st.sampled_from(["qemu", "lxc", "node", "storage", "sdn", "pool"])), "vmid": VMID,
    "node": NAME, "name": NAME, "status": near(st.sampled_from(["running", "stopped", "unknown", "online"])),
    "template": BOOL, "maxcpu": near(INTS), "maxmem": near(INTS), "maxdisk": near(INTS, st.floats()),
    "tags": near(st.sampled_from(["a;b", "A, b c", ";;"])), "id": TEXT,
})
INTERFACE = record(optional={
    "name": NAME, "ip-addresses": listed(record(optional={"ip-address": IP, "prefix": near(INTS)})),
    "inet": near(st.sampled_from(["10.9.0.10/24", "x/y", "/"])), "inet6": near(st.sampled_from(["fe80::1/64", "::"])),
})
PAYLOADS = {
    "cluster_resources": (near(st.lists(RESOURCE, max_size=5)), lambda d: pve_parse.parse_cluster_resources(d, "a")),
    "agent_interfaces": (near(record(optional={"result": near(st.lists(INTERFACE, max_size=3), record(optional={
        "error": near(record(optional={"class": TEXT, "desc": TEXT}))}))})), pve_parse.parse_agent_interfaces),
    "lxc_interfaces": (near(st.none(), st.lists(INTERFACE, max_size=3)), pve_parse.parse_lxc_interfaces),
    "permissions": (near(st.dictionaries(
        st.one_of(st.sampled_from(["/", "/vms", "/vms/200", "/vms/²", "/pool/p"]), LONG, KEYS),
        near(st.dictionaries(st.one_of(st.just("VM.Audit"), KEYS), near(st.integers(0, 1)))), max_size=4)),
        pve_parse.parse_permissions),
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_fuzz_pve_parsers(name: str) -> None:
    strategy, parse = PAYLOADS[name]

    @FUZZ
    @given(raw=document_bytes(strategy, fmt="json"))
    def run(raw: bytes) -> None:
        try:  # what proxmoxer hands over is already-decoded JSON; undecodable bodies never reach the parsers
            data = json.loads(raw)
        except ValueError:
            return
        try:
            parse(data)
        except (pve_parse.ShapeError, pve_parse.AgentError) as error:
            assert str(error).strip() and "\n" not in str(error)

    run()


# ── the nightly ignore file ──────────────────────────────────────────────────

IGNORE_PATTERN = st.one_of(st.sampled_from(["home/qemu/101/*", "*", "!*", "!", "[", "[!]", "**/missing", "#x", "a]b",
                                            "shop/stack/docker-host/*", "?" * 40, "*a" * 30]), SHORT_TEXT)
ODD_DATES = st.sampled_from(["2026-02-30", "２０２６-０１-０１"])
IGNORE_TAIL = st.one_of(
    st.just(""), st.builds(lambda d: f"expires: {d}", st.one_of(st.dates().map(str), SHORT_TEXT, ODD_DATES)),
    st.builds(lambda r: f"reason: {r}", SHORT_TEXT),
    st.builds(lambda d, r: f"expires: {d}  reason: {r}", st.dates().map(str), SHORT_TEXT),
    st.sampled_from(["reason: a expires: 2026-01-01", "expires:", "reason:", "because"]), SHORT_TEXT)
IGNORE_LINE = st.one_of(st.builds(lambda p, s, tail: f"{p}{s}{tail}", IGNORE_PATTERN,
                                  st.sampled_from([" ", "  ", "\t", "\u2003"]), IGNORE_TAIL),
                        st.sampled_from(["", "# comment", "   ", "\r"]), SHORT_TEXT)
ADDRESSES = ["home/qemu/101/missing", "shop/stack/docker-host/web/drifted/state", "lab/host/alpha/unknown", ""]


@FUZZ
@given(raw=st.one_of(st.lists(IGNORE_LINE, max_size=8).map(lambda lines: "\n".join(lines).encode("utf-8",
                                                                                                   "surrogatepass")),
                     st.binary(max_size=200)))
def test_fuzz_ignore_file(tmp_path: Path, raw: bytes) -> None:
    from reconciler.nightly.ignore import IgnoreRules, load_file  # another part of the tool: fuzzed, not owned

    path = tmp_path / ".reconcileignore"
    path.write_bytes(raw)

    def load_and_match() -> None:
        rules = IgnoreRules(tuple(load_file(path)), (str(path),))
        for address in ADDRESSES:
            rules.match(address, dt.date(2026, 2, 20))
        rules.expired(dt.date(2026, 2, 20))

    must_not_crash(path, load_and_match)


# ── docker output ────────────────────────────────────────────────────────────

LS_ENTRY = record(optional={"Name": NAME, "Status": near(st.sampled_from(["running(2)", "exited(1), running(1)",
                                                                          "restarting(x)", "up(²)", "up(١)"]),
                                                         LONG.map(lambda digits: f"running({digits})")),
                            "ConfigFiles": near(st.sampled_from(["/opt/a/compose.yaml", "a,b", "N/A"]))})
PS_ROW = record(optional={k: near(TEXT) for k in ("ID", "Names", "Image", "State", "Status", "Project", "Service",
                                                  "WorkingDir", "ConfigFiles", "OneOff", "Number", "Labels")})


RCS = st.one_of(st.just("0"), st.sampled_from(["1", "127", "-1", "x", "", "²", "١", "-"]), LONG)


@st.composite
def script_output(draw: st.DrawFn) -> tuple[str, str, int | None]:
    """What the remote script prints: framed sections, some missing, damaged or out of order."""
    out: list[str] = [draw(st.sampled_from(["", "Welcome to Ubuntu\n", "\x1b[0m motd\n"]))]
    err: list[str] = []
    bodies = {
        "home": st.sampled_from(["/root", "", "/home/a b", "\n\n"]),
        "ls": document_bytes(near(st.lists(LS_ENTRY, max_size=3)), fmt="json").map(lambda b: b.decode("utf-8",
                                                                                                        "replace")),
        "v1": st.sampled_from(["1.29.2", "v2.0", ""]),
        "ps": st.lists(document_bytes(PS_ROW, fmt="json").map(lambda b: b.decode("utf-8", "replace")),
                       max_size=3).map("\n".join),
    }
    names = draw(st.permutations(["home", "ls", "v1", "ps"]).map(lambda p: p[: draw(st.integers(0, 4))]))
    for name in names:
        rc = draw(RCS)
        stderr = draw(st.sampled_from(["", "Cannot connect to the Docker daemon at unix:///x",
                                       "docker: unknown command: docker compose", "sudo: a password is required",
                                       "permission denied while trying to connect to the docker", "bash: no"]))
        out.append(f"\n{MARK} begin {name}\n{draw(bodies[name])}\n")
        err.append(f"\n{MARK} begin {name}\n{stderr}\n")
        if draw(st.integers(0, 9)):  # sometimes the end marker never comes
            out.append(f"\n{MARK} end {name} {rc}\n")
            err.append(f"\n{MARK} end {name} {rc}\n")
    status = draw(st.sampled_from([0, 1, 127, -1, None]))
    return "".join(out), "".join(err), status


@FUZZ
@given(output=st.one_of(script_output(), st.tuples(st.text(), st.text(), st.none() | st.integers())))
def test_fuzz_docker_output(output: tuple[str, str, int | None]) -> None:
    stdout, stderr, status = output
    try:
        report = docker_output.parse_host_output(stdout, stderr, status)
    except DockerOutputError as error:
        assert isinstance(error.reason, Reason) and "\n" not in error.detail
        return
    assert all(isinstance(s.name, str) for s in report.stacks)


@pytest.fixture(autouse=True)
def quiet_debug_log() -> Any:
    """Thousands of examples × debug records would dominate the run time; warnings and errors still pass
    through the session's leak check (tests/conftest.py)."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield
    root.setLevel(level)


# ── regressions: every defect the fuzzing (and the review around it) found, pinned down ──────────────
# Before the fixes each of these raised a bare ValueError, TypeError, IndexError or OverflowError (a
# traceback-shaped "unexpected error" from the CLI), or gave an error message spanning several lines.


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ("a: " + "1" * 5000, ":1:4: number is too large (limit 100 digits)"),  # int() refuses 4,300+ digits
    ("a: 0x" + "f" * 5000, ":1:4: number is too large (limit 100 digits)"),  # hex passes int(), then str() fails
    ("!!int \n", ":1:1: '' is not a valid int"),  # PyYAML's IndexError
    ("a: !!float x", ":1:4: 'x' is not a valid float"),
])
def test_yaml_scalars_python_cannot_build_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "f.yaml", text)
    with pytest.raises(ReconcileError) as caught:
        load_yaml_file(path)
    assert str(caught.value) == f"{path}{expected}"


def test_snapshot_errors_stay_on_one_line(tmp_path: Path) -> None:
    head = '{"format": "reconciler-snapshot", "format_version": 1, '
    unknown = write(tmp_path, "a.json", head + '"docker": [{"\\n": null}]}')
    with pytest.raises(ReconcileError, match=r"unknown key\(s\) '\\n'$"):
        load_snapshot(unknown)
    states = write(tmp_path, "b.json", head + '"docker": [{"target": "t", "site": "s", "observed": true, '
                                              '"stacks": [{"name": "x", "states": {"a\\nb": "1"}}]}]}')
    with pytest.raises(ReconcileError, match=r"states\['a\\nb'\]: expected int"):
        load_snapshot(states)
    huge = write(tmp_path, "c.json", "[" + "1" * 5000 + "]")  # json.loads raises a plain ValueError here
    with pytest.raises(ReconcileError, match="number too large"):
        load_snapshot(huge)


def test_pve_parsers_tolerate_odd_shapes_and_digits() -> None:
    assert pve_parse.parse_agent_interfaces({"result": [{"ip-addresses": True}]}) == ()
    for error, text in (({"class": " "}, "guest agent error"), ({"desc": "bad\nthing"}, "bad thing")):
        with pytest.raises(pve_parse.AgentError) as caught:  # text from inside the guest: one line, never blank
            pve_parse.parse_agent_interfaces({"result": {"error": error}})
        assert str(caught.value) == text
    assert pve_parse.parse_lxc_interfaces([{"ip-addresses": 5}]) == ()
    scope = pve_parse.parse_permissions({"/vms/²": {"VM.Audit": 1}, "/vms/" + "9" * 5000: {"VM.Audit": 1},
                                         "/vms/201": {"VM.Audit": 0}})
    assert scope.vmids == frozenset({201})
    with pytest.raises(pve_parse.ShapeError, match="integer vmid"):
        pve_parse.parse_cluster_resources([{"type": "qemu", "vmid": "²", "node": "pve"}], "alpha")
    # found by a 5,000-example run: JSON integers have no size limit, float division does
    listing = pve_parse.parse_cluster_resources(json.loads('[{"type": "qemu", "vmid": 100, "node": "pve", "maxdisk": 1'
                                                           + "0" * 400 + ', "maxmem": 1e308}]'), "alpha")
    assert (listing.guests[0].boot_disk_gb, listing.guests[0].memory_mb) == (None, None)


def test_docker_output_with_odd_digits() -> None:
    stdout = f"{MARK} begin ps\n\n{MARK} end ps ²\n"
    with pytest.raises(DockerOutputError) as caught:  # an exit code that is not one: the section never ended
        docker_output.parse_host_output(stdout, "", 0)
    assert caught.value.reason is Reason.OUTPUT_UNPARSEABLE


def test_binding_numbers_that_are_not_ints(tmp_path: Path) -> None:
    ssh = load_ssh_targets(write(tmp_path, "s.yaml", "targets: [{id: a, host: h, port: '²'}, {id: b, host: h, port: '"
                                 + "9" * 5000 + "'}]\n"), tmp_path, "lab")
    assert [t.port for t in ssh.targets.values()] == [22, 22] and len(ssh.problems) == 2
    naming = load_naming_policy(write(tmp_path, "n.yaml", "naming_convention: {rules: ['max " + "9" * 5000
                                      + " characters', lowercase]}\n"), tmp_path, "lab")
    assert naming.rules.max_length is None and naming.rules.lowercase
    stacks = load_stack_registry(write(tmp_path, "r.yaml", "stacks: [{stack_id: x, path: 'proxmox:vm-" + "9" * 5000
                                       + "'}]\n"), tmp_path, "lab")
    assert stacks.stacks[0].vmid is None
    backup = load_backup_inventory(write(tmp_path, "b.yaml", "targets: [{name: x, glob: 'vzdump-qemu-" + "9" * 5000
                                         + "-*'}]\n"), tmp_path, "lab")
    assert backup.targets[0].vzdump is None
    lifecycle = load_lifecycle(write(tmp_path, "v.yaml", "vms: [{id: 200, hostname: a, proxmox_host: x, status: "
                                     "active, resources: {cpu_cores: .inf, memory_mb: .nan}}]\n"),
                               tmp_path, lambda host: "lab", "lab")
    assert lifecycle.guests[0].cpu_cores is None and lifecycle.guests[0].memory_mb is None
    assert {p.field for p in lifecycle.problems} == {"cpu_cores", "memory_mb"}


def test_ssh_config_port_that_is_not_a_number(tmp_path: Path) -> None:
    root = tmp_path / "spine"
    site = write_base(root)
    (root / "ssh_config").write_text("Host apps\n  Port ²\n  HostName 127.0.0.1\n")
    site.write_text(site.read_text() + "docker_targets: [apps]\n")
    text = site.read_text().replace("command_timeout_s: 1}", f"command_timeout_s: 1, config_file: {root}/ssh_config}}")
    site.write_text(text)
    cfg = load_site(site)
    (endpoint,) = engine.load_declared(cfg).docker.targets
    assert (endpoint.host, endpoint.port) == ("127.0.0.1", 22)


@pytest.mark.parametrize(("line", "expected"), [
    ('"a\\nb": 1', ":5: 'a\\nb': unknown key 'a\\nb'"),
    ('live_snapshot: "a\\0b"', ":5: live_snapshot: a path cannot contain a NUL character"),
    ("ssh: {connect_timeout_s: .nan}", ":5: ssh.connect_timeout_s: must be a number greater than 0, got nan"),
    ("disk_tolerance_gb: .inf", ":5: disk_tolerance_gb: must be a number greater than 0, got inf"),
    ("ssh: {command_timeout_s: 1.0e+10}",
     ":5: ssh.command_timeout_s: must be at most 86400 seconds (one day), got 1e+10"),
])
def test_site_file_values_that_used_to_escape(tmp_path: Path, line: str, expected: str) -> None:
    site = write_base(tmp_path)
    lines = site.read_text().splitlines()
    assert lines[4].startswith("ssh:")
    site.write_text("\n".join([*lines[:4], line]) + "\n")  # the tested line replaces `ssh:`, as line 5
    with pytest.raises(ReconcileError) as caught:
        load_site(site)
    assert str(caught.value) == f"{site}{expected}"
