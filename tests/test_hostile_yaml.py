"""Hostile binding files are refused with one clear line, within stated CPU and memory bounds.

Each case loads the file in a child process that first puts itself under resource limits: the address space
may grow by at most MEMORY_BOUND over what the interpreter had after its imports (RLIMIT_AS), and the CPU
time by at most CPU_BOUND (RLIMIT_CPU: the kernel kills the child past it). The child reports what happened
and the CPU time and peak RSS it used; the bounds are documented in docs/security.md.

"Unreadable" needs care: the suite runs as root, and root reads a mode-000 file. The child therefore drops to
the `nobody` user first when it is root (and checks that a readable file in the same folder still loads, so
the refusal is really about the file's permissions).
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CPU_BOUND_S = 2
MEMORY_BOUND_MIB = 256
WALL_TIMEOUT_S = 60  # only so that a regression (e.g. reading a FIFO) fails instead of hanging the suite

CHILD = textwrap.dedent("""\
    import json, os, resource, sys, time
    sys.path.insert(0, {repo!r})
    from pathlib import Path
    from reconciler.errors import ReconcileError
    from reconciler.yamlio import load_yaml_file
    from reconciler.collect.snapshot import load_snapshot

    kind, target, user = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    if user:  # warm up what is imported lazily: the interpreter lives in a folder `nobody` may not read
        import encodings.utf_8_sig  # noqa: F401
        import pwd
        entry = pwd.getpwnam(user)
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    load = load_snapshot if kind == "snapshot" else load_yaml_file

    def status_kib(field):  # VmHWM, unlike ru_maxrss, is not inherited across fork + exec
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])

    def cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    start = cpu()
    limit = int(start) + 1 + {cpu_bound}
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 1))
    resource.setrlimit(resource.RLIMIT_AS, (status_kib("VmSize") * 1024 + {memory_bound} * 2**20,) * 2)
    try:
        load(target)
        outcome = "loaded"
    except ReconcileError as error:
        outcome = "error: " + str(error)
    except MemoryError:
        outcome = "MemoryError"
    print(json.dumps({{"outcome": outcome, "cpu_s": round(cpu() - start, 3),
                      "maxrss_mib": status_kib("VmHWM") // 1024}}))
    """).format(repo=str(REPO), cpu_bound=CPU_BOUND_S, memory_bound=MEMORY_BOUND_MIB)


@dataclass(frozen=True)
class Outcome:
    outcome: str
    cpu_s: float
    maxrss_mib: int


def load_bounded(path: Path, kind: str = "yaml", user: str = "") -> Outcome:
    """Load `path` in a child under the CPU and memory bounds; fails the test if the child does not finish."""
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), user], capture_output=True, text=True,
                          timeout=WALL_TIMEOUT_S, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, f"child died (rc {proc.returncode}; -24 is SIGXCPU): {proc.stderr[-2000:]}"
    result = Outcome(**json.loads(proc.stdout.strip().splitlines()[-1]))
    assert result.cpu_s < CPU_BOUND_S, result
    print(f"\n{path.name}: {result.outcome[:110]} | cpu {result.cpu_s:.2f} s | peak rss {result.maxrss_mib} MiB")
    return result


def assert_refused(result: Outcome, path: Path, *needles: str) -> None:
    assert result.outcome.startswith("error: "), result
    message = result.outcome[len("error: "):]
    assert "\n" not in message and message.startswith(str(path)), message
    for needle in needles:
        assert needle in message, message


# ── cases ────────────────────────────────────────────────────────────────────


def billion_laughs(path: Path) -> None:
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, 10)]
    path.write_text("\n".join(lines) + "\nvms: *lol9\n")


def deep_flow(path: Path) -> None:
    half = (8 * 1024 * 1024 - 64) // 2  # as deep as the size limit allows: ~4 million levels
    path.write_text("[" * half + "]" * half)


def deep_block(path: Path) -> None:
    path.write_text("".join("  " * level + f"k{level}:\n" for level in range(1000)))


def many_nodes(path: Path) -> None:
    path.write_text("vms: [" + "a," * (4 * 1024 * 1024 - 8) + "a]\n")  # ~4 million scalars in 8 MiB


def fifty_megabytes(path: Path) -> None:
    with path.open("w") as handle:
        line = "- {id: 200, hostname: filler, status: active}\n"
        handle.write(line * (50 * 1024 * 1024 // len(line) + 1))


def invalid_utf8(path: Path) -> None:
    path.write_bytes(b"vms:\n  - id: 200\n    hostname: caf\xe9\n")


def huge_integer(path: Path) -> None:
    path.write_text("vms:\n  - id: " + "9" * 5000 + "\n")


HOSTILE: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "billion_laughs": (billion_laughs, ("alias bomb", "100000 nodes")),
    # The column differs between PyYAML releases (libyaml scans ahead and has its own depth limit since
    # 6.0.3): what is ours is the file, the line, the message and the bounds, so the column is not asserted.
    "deep_flow": (deep_flow, ("vm.lifecycle.yaml:1:", "nesting is deeper than 64 levels")),
    "deep_block": (deep_block, (":65:", "nesting is deeper than 64 levels")),
    "many_nodes": (many_nodes, ("more than 100000 nodes",)),
    "fifty_megabytes": (fifty_megabytes, ("larger than the 8388608-byte limit",)),
    "invalid_utf8": (invalid_utf8, (":3:18:", "not valid UTF-8 (byte 0xe9)")),
    "huge_integer": (huge_integer, (":2:9:", "number is too large")),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_is_refused_within_bounds(tmp_path: Path, case: str) -> None:
    write, needles = HOSTILE[case]
    path = tmp_path / "vm.lifecycle.yaml"
    write(path)
    try:
        assert_refused(load_bounded(path), path, *needles)
    finally:
        path.unlink()  # 50 MB files are not worth keeping in pytest's temp folders


def test_largest_accepted_document_loads_within_bounds(tmp_path: Path) -> None:
    """Just under every limit: the most a binding file can cost and still be loaded."""
    path = tmp_path / "big.yaml"
    path.write_text("vms: [" + ",".join(["x" * 70] * 99_990) + "]\n")  # ~7 MiB, 99,992 nodes
    result = load_bounded(path)
    assert result.outcome == "loaded", result


def test_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vm.lifecycle.yaml"
    path.mkdir()
    assert_refused(load_bounded(path), path, "is a directory")


@pytest.mark.parametrize("kind", ["yaml", "snapshot"])
def test_fifo_and_endless_device_are_refused_without_reading(tmp_path: Path, kind: str) -> None:
    """A FIFO without a writer would block forever and /dev/zero never ends: neither is read at all."""
    fifo = tmp_path / "bindings.fifo"
    os.mkfifo(fifo)
    assert_refused(load_bounded(fifo, kind), fifo, "not a regular file")
    zero = Path("/dev/zero")
    assert_refused(load_bounded(zero, kind), zero, "not a regular file")


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A folder the `nobody` user can enter (pytest's own temp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="reconciler-unreadable-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def test_unreadable_file_is_refused(world_readable_dir: Path) -> None:
    user = ""
    if os.geteuid() == 0:  # root ignores mode 000: run the load as `nobody`
        try:
            user = pwd.getpwnam("nobody").pw_name
        except KeyError:
            pytest.fail("running as root without a `nobody` user: cannot test an unreadable file")
    readable = world_readable_dir / "readable.yaml"
    readable.write_text("vms: []\n")
    readable.chmod(0o644)
    secret = world_readable_dir / "vm.lifecycle.yaml"
    secret.write_text("vms: []\n")
    secret.chmod(0o000)
    assert load_bounded(readable, user=user).outcome == "loaded"  # the same user, the same folder: readable
    assert_refused(load_bounded(secret, user=user), secret, "permission denied")


# ── the same files through the CLI: exit 2 and one line, never a traceback ───


@pytest.mark.parametrize("case", ["billion_laughs", "deep_flow", "invalid_utf8", "huge_integer", "directory"])
def test_cli_reports_hostile_binding_in_one_line(cli, tmp_path: Path, case: str) -> None:
    root = tmp_path / "spine"
    lifecycle = root / "ops" / "bindings" / "vm.lifecycle.yaml"
    lifecycle.parent.mkdir(parents=True)
    if case == "directory":
        lifecycle.mkdir()
    else:
        HOSTILE[case][0](lifecycle)
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "lab.yaml").write_text(f"site: lab\nbindings_root: {root}\nproxmox_hosts: [alpha]\n")
    result = cli("--sites-dir", sites, "--site", "lab", "--only", "governance")
    assert result.code == 2, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"reconcile: error: {lifecycle}"), result.err
