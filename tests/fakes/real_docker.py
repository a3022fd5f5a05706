"""A real Docker engine (Debian bookworm's docker.io 20.10) with real compose projects, for end-to-end tests.

Nothing is installed system-wide. The .debs are fetched once with `apt-get download` through a private apt
state (its own sources list naming the machine's Debian mirror, its own lists and cache) and unpacked with
`dpkg-deb -x` into a cache folder outside the repo: `$RECONCILE_TEST_CACHE`, else
/var/cache/reconciler-tests/docker. From there:

- `dockerd` runs with no iptables, no bridge and the vfs storage driver, with its data, exec root, pid file and
  socket in a private folder under /tmp; `docker` is the engine's own 20.10 CLI (never /usr/local/bin/docker);
- compose v2 is the CLI plugin of Debian trixie's `docker-compose` 2.26 (a static Go binary), reached through
  a private DOCKER_CONFIG; compose v1 is bookworm's `docker-compose` 1.29.2 run by the system python3 with its
  Debian python dependencies unpacked beside it (skipped, with the reason in `v1_skip`, when that fails);
- the only image is `local/busybox:latest`, imported from a rootfs holding Debian's static busybox (no registry
  is ever asked: every compose file says `pull_policy: never` and `network_mode: none`).

`RealEngine().start()` prepares the cache (cold: 14-17 s, ~450 MB; warm: nothing to do), starts the daemon
(0.2 s) and brings up the projects of PROJECTS, one per state the collector must tell apart (2.5-4.5 s on 2 cores:
a container start costs the daemon ~0.3 s, and `flappy` is waited for until its back-off is long); `stop()`
removes every container,
stops the daemon and removes the host paths dockerd 20.10 creates whatever its roots (/etc/docker/key.json,
/run/docker, /run/containerd, /opt/containerd), but only those that did not exist before the first engine
started. Engines of concurrent sessions share those paths; the last one out removes them.

Packets go only to the machine's Debian mirror (apt, once) and to 127.0.0.1 / unix sockets.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sshd import SSHD, SshServer, _wait_for, start_sshd

CACHE_ENV = "RECONCILE_TEST_CACHE"
DEFAULT_CACHE = Path("/var/cache/reconciler-tests/docker")
CACHE_LAYOUT = "4"  # bump when the cache's layout or package set changes: the next start rebuilds it

ENGINE_PACKAGES = ("docker.io", "containerd", "runc", "tini", "busybox-static")
# bookworm's docker-compose 1.29.2 and the python modules it imports (pure python or built for python 3.11)
V1_PACKAGES = ("docker-compose", "python3-attr", "python3-cached-property", "python3-certifi", "python3-chardet",
               "python3-charset-normalizer", "python3-distro", "python3-distutils", "python3-docker",
               "python3-dockerpty", "python3-docopt", "python3-dotenv", "python3-idna", "python3-importlib-metadata",
               "python3-jsonschema", "python3-lib2to3", "python3-more-itertools", "python3-pkg-resources",
               "python3-pyrsistent", "python3-requests", "python3-six", "python3-texttable",
               "python3-typing-extensions", "python3-urllib3", "python3-websocket", "python3-yaml", "python3-zipp")
V2_PACKAGES = ("docker-compose",)  # from trixie: holds usr/libexec/docker/cli-plugins/docker-compose
BUSYBOX_APPLETS = ("sh", "sleep", "true", "false", "echo", "cat", "ls", "env", "id", "ps", "kill", "test", "[")
IMAGE = "local/busybox:latest"
SYSTEM_PYTHON = Path("/usr/bin/python3")
# Paths dockerd 20.10 creates even with its own roots (libnetwork's netns folder, containerd's defaults, the
# trust key). Each is removed at the end only if it was absent before the first engine started.
HOST_PATHS = (Path("/etc/docker"), Path("/etc/docker/key.json"), Path("/run/docker"), Path("/run/containerd"),
              Path("/opt/containerd"))


class EngineError(RuntimeError):
    """The engine could not be prepared or started; the message says why."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


# ── the compose projects ─────────────────────────────────────────────────────

_SERVICE = """\
  {name}:
    image: local/busybox:latest
    pull_policy: never
    network_mode: none
    init: false
    command: {command}
    restart: "{restart}"
    stop_grace_period: 1s
{extra}"""
_V1_SERVICE = """\
  {name}:
    image: local/busybox:latest
    network_mode: none
    command: {command}
    restart: "{restart}"
    stop_grace_period: 1s
"""
SLEEP = '["sleep", "3600"]'


@dataclass(frozen=True)
class Project:
    """One compose project: `dir` holds its compose file; `run_dir` is where it was actually started from."""

    name: str
    services: tuple[str, ...]
    compose_text: str
    after_up: str = ""  # "stop": `compose stop` once up
    wait_for: str = ""  # a `docker ps` State or Status word every service's container must show
    v1: bool = False
    subdir: str = ""  # the folder it really runs from, when that differs from the name (see `moved`)
    # `restart: always` backs off 0.1 s, 0.2 s, 0.4 s…: after 4 restarts it is `restarting` for 1.6 s or more
    # at a time, `running` for ~50 ms in between (see RealEngine.restart_marks)
    min_restarts: int = 0

    @property
    def file_name(self) -> str:
        return "docker-compose.yml" if self.v1 else "compose.yaml"


def _compose(services: dict[str, tuple[str, str, str]]) -> str:
    body = "".join(_SERVICE.format(name=name, command=command, restart=restart, extra=extra)
                   for name, (command, restart, extra) in services.items())
    return "services:\n" + body


HEALTH_FAILS = """\
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      timeout: 1s
      retries: 1
"""

PROJECTS = (
    Project("alpha", ("web", "worker"), _compose({"web": (SLEEP, "no", ""), "worker": (SLEEP, "no", "")})),
    Project("exited", ("job",), _compose({"job": ('["sh", "-c", "exit 3"]', "no", "")}), wait_for="exited"),
    Project("sick", ("app",), _compose({"app": (SLEEP, "no", HEALTH_FAILS)}), wait_for="(unhealthy)"),
    Project("flappy", ("crash",), _compose({"crash": ('["sh", "-c", "exit 1"]', "always", "")}),
            wait_for="restarting", min_restarts=4),
    Project("paused-by-stop", ("svc",), _compose({"svc": (SLEEP, "no", "")}), after_up="stop", wait_for="exited"),
    Project("stray", ("app",), _compose({"app": (SLEEP, "no", "")})),
    Project("moved", ("app",), _compose({"app": (SLEEP, "no", "")}), subdir="elsewhere/moved"),
    Project("legacy", ("app",), "version: \"2.4\"\nservices:\n"
            + _V1_SERVICE.format(name="app", command=SLEEP, restart="no"), v1=True),
)
HEALTH_PASSES = HEALTH_FAILS.replace('"false"', '"true"')
# A host where everything runs and is healthy (a clean estate).
CLEAN_PROJECTS = (
    Project("alpha", ("web", "worker"), _compose({"web": (SLEEP, "no", ""), "worker": (SLEEP, "no", "")})),
    Project("fine", ("app",), _compose({"app": (SLEEP, "unless-stopped", HEALTH_PASSES)}), wait_for="(healthy)"),
    PROJECTS[-1],
)


# ── the cache: .debs fetched once, unpacked ──────────────────────────────────


def _mirror() -> tuple[str, str | None]:
    """The machine's own Debian mirror URI and the keyring its sources name (deb822 or one-line format)."""
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.is_file():
        for stanza in re.split(r"\n\s*\n", deb822.read_text()):
            fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, flags=re.M))
            suites = fields.get("Suites", "").split()
            if fields.get("URIs") and any(s in ("bookworm", "trixie", "stable") for s in suites):
                return fields["URIs"].split()[0], fields.get("Signed-By") or None
    one_line = Path("/etc/apt/sources.list")
    if one_line.is_file():
        for line in one_line.read_text().splitlines():
            match = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(bookworm|stable)\s", line)
            if match:
                return match.group(1), None
    return "http://deb.debian.org/debian", None


class _Apt:
    """apt-get with a private state for one suite: the system's sources, lists and cache stay untouched."""

    def __init__(self, root: Path, suite: str, uri: str, keyring: str | None) -> None:
        self.dir = root / "apt" / suite
        for sub in ("lists/partial", "cache/archives/partial"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        signed = f" [signed-by={keyring}]" if keyring and Path(keyring).is_file() else ""
        (self.dir / "sources.list").write_text(f"deb{signed} {uri} {suite} main\n")
        self.options = ["-q", "-o", f"Dir::Etc::SourceList={self.dir / 'sources.list'}",
                        "-o", "Dir::Etc::SourceParts=/dev/null", "-o", f"Dir::State::Lists={self.dir / 'lists'}",
                        "-o", f"Dir::Cache={self.dir / 'cache'}", "-o", "APT::Sandbox::User=root"]

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 300) -> str:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
        done = subprocess.run(["apt-get", *self.options, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise EngineError(f"apt-get {' '.join(args[:3])} failed: {(done.stderr or done.stdout).strip()[-400:]}")
        return done.stdout

    def download(self, packages: tuple[str, ...], into: Path) -> list[Path]:
        into.mkdir(parents=True, exist_ok=True)
        for old in into.glob("*.deb"):
            old.unlink()
        self.run("update")
        self.run("download", *packages, cwd=into)
        debs = sorted(into.glob("*.deb"))
        if len(debs) != len(packages):
            raise EngineError(f"apt-get download gave {len(debs)} .debs for {len(packages)} packages in {into}")
        return debs


def _unpack(debs: list[Path], root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, capture_output=True)


@dataclass
class Cache:
    """What `prepare()` leaves in the cache folder."""

    root: Path
    v1_skip: str = ""  # why compose v1 cannot run from the cache ("" when it can)

    @property
    def engine_root(self) -> Path:
        return self.root / "bookworm"

    @property
    def bin_dirs(self) -> tuple[Path, ...]:
        return (self.engine_root / "usr/sbin", self.engine_root / "usr/bin")

    @property
    def docker(self) -> Path:
        return self.engine_root / "usr/bin/docker"

    @property
    def dockerd(self) -> Path:
        return self.engine_root / "usr/sbin/dockerd"

    @property
    def compose_plugin(self) -> Path:
        return self.root / "trixie/usr/libexec/docker/cli-plugins/docker-compose"

    @property
    def v1_bin(self) -> Path:
        return self.root / "v1-bin"  # holds the `docker-compose` wrapper (system python3 + unpacked modules)

    @property
    def busybox_tar(self) -> Path:
        return self.root / "busybox-rootfs.tar"


def prepare(root: Path | None = None) -> Cache:
    """Fetch and unpack everything once (under a lock, so concurrent sessions wait for one another)."""
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".prepare.lock"):
        stamp = root / "ready.json"
        if stamp.is_file():
            with contextlib.suppress(ValueError, OSError):
                ready = json.loads(stamp.read_text())
                if ready.get("layout") == CACHE_LAYOUT:
                    cache = Cache(root, ready.get("v1_skip", ""))
                    if cache.dockerd.is_file() and cache.compose_plugin.is_file() and cache.busybox_tar.is_file():
                        return cache
            stamp.unlink()
        if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
            raise EngineError("apt-get and dpkg-deb are needed to fetch docker.io (a Debian machine)")
        uri, keyring = _mirror()
        bookworm = _Apt(root, "bookworm", uri, keyring)
        trixie = _Apt(root, "trixie", uri, keyring)
        _unpack(bookworm.download(ENGINE_PACKAGES + V1_PACKAGES, root / "debs/bookworm"), root / "bookworm")
        _unpack(trixie.download(V2_PACKAGES, root / "debs/trixie"), root / "trixie")
        cache = Cache(root)
        if not cache.compose_plugin.is_file():
            raise EngineError(f"trixie's docker-compose .deb has no compose plugin at {cache.compose_plugin}")
        _busybox_tar(cache)
        cache.v1_skip = _v1_wrapper(cache)
        stamp.write_text(json.dumps({"layout": CACHE_LAYOUT, "v1_skip": cache.v1_skip, "mirror": uri}))
        return cache


def _busybox_tar(cache: Cache) -> None:
    busybox = cache.engine_root / "bin/busybox"
    if not busybox.is_file():
        raise EngineError(f"busybox-static has no {busybox}")
    rootfs = cache.root / "busybox-rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    (rootfs / "bin").mkdir(parents=True)
    for sub in ("tmp", "proc", "sys", "dev", "etc"):
        (rootfs / sub).mkdir()
    shutil.copy2(busybox, rootfs / "bin/busybox")
    for applet in BUSYBOX_APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(cache.busybox_tar), "."], check=True, capture_output=True)


def _v1_wrapper(cache: Cache) -> str:
    """Write v1-bin/docker-compose (system python3 + the unpacked modules); returns why it cannot run, or ""."""
    script = cache.engine_root / "usr/bin/docker-compose"
    if not SYSTEM_PYTHON.is_file():
        return f"no {SYSTEM_PYTHON} to run bookworm's docker-compose 1.29.2 (a python program)"
    if not script.is_file():
        return f"bookworm's docker-compose .deb has no {script}"
    paths = [cache.engine_root / "usr/lib/python3/dist-packages"]
    paths += sorted(cache.engine_root.glob("usr/lib/python3.[0-9]*"))  # distutils, lib2to3
    pythonpath = ":".join(map(str, paths))
    cache.v1_bin.mkdir(exist_ok=True)
    wrapper = cache.v1_bin / "docker-compose"
    # dpkg would byte-compile the modules at install; without that every run compiles them again (3 s, not 1)
    subprocess.run([str(SYSTEM_PYTHON), "-m", "compileall", "-q", "-j", "0", *map(str, paths)], capture_output=True,
                   timeout=300)
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{pythonpath}" exec {SYSTEM_PYTHON} -s "{script}" "$@"\n')
    wrapper.chmod(0o755)
    done = subprocess.run([str(wrapper), "version", "--short"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cache.root), "LC_ALL": "C.UTF-8"})
    if done.returncode != 0 or not done.stdout.strip().startswith("1."):
        wrapper.unlink()
        detail = (done.stderr or done.stdout).strip().splitlines()
        return f"docker-compose 1.29.2 does not run with {SYSTEM_PYTHON}: {detail[-1] if detail else done.returncode}"
    return ""


@contextlib.contextmanager
def _locked(path: Path, shared: bool = False) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ── the host paths dockerd creates whatever its roots ────────────────────────


def _claim_host_paths(root: Path) -> list[Path]:
    """Under the lock: note which HOST_PATHS are absent now (so ours to remove), register this engine."""
    with _locked(root / ".host-paths.lock"):
        ledger = root / "host-paths.json"
        data = _read_ledger(ledger)
        data["engines"] = [pid for pid in data["engines"] if _alive(pid)]
        if not data["engines"]:  # nobody else runs: what exists now is the machine's own
            data["created"] = []
        data["created"] = sorted(set(data["created"]) | {str(p) for p in HOST_PATHS if not p.exists()})
        data["engines"].append(os.getpid())
        ledger.write_text(json.dumps(data))
        return [Path(p) for p in data["created"]]


def _release_host_paths(root: Path) -> list[str]:
    """Unregister this engine; the last one out removes the paths no one had before. Returns what it removed."""
    removed: list[str] = []
    with _locked(root / ".host-paths.lock"):
        ledger = root / "host-paths.json"
        data = _read_ledger(ledger)
        data["engines"] = [pid for pid in data["engines"] if pid != os.getpid() and _alive(pid)]
        if not data["engines"]:
            for name in sorted(data["created"], key=len, reverse=True):  # key.json before /etc/docker
                path = Path(name)
                if path.is_dir() and not path.is_symlink() and not _mounts_under(path):
                    shutil.rmtree(path, ignore_errors=True)
                elif path.exists() or path.is_symlink():
                    with contextlib.suppress(OSError):
                        path.unlink()
                if not path.exists():
                    removed.append(name)
            data["created"] = [p for p in data["created"] if Path(p).exists()]
        ledger.write_text(json.dumps(data))
    return removed


def _read_ledger(path: Path) -> dict:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            return {"engines": [int(p) for p in data.get("engines", [])],
                    "created": [str(p) for p in data.get("created", [])]}
    return {"engines": [], "created": []}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    with contextlib.suppress(OSError):
        return [m.split()[1] for m in Path("/proc/self/mounts").read_text().splitlines()
                if len(m.split()) > 1 and (m.split()[1] + "/").startswith(prefix)]
    return []


def _unmount_under(path: Path) -> None:
    """Detach the mounts (nsfs) dockerd left in its own folder, deepest first; never anything outside it."""
    for _ in range(5):
        mounts = _mounts_under(path)
        if not mounts:
            return
        for mount in sorted(set(mounts), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


# ── the engine ───────────────────────────────────────────────────────────────


@dataclass
class RealEngine:
    """`with RealEngine() as engine:` or `engine.start()` / `engine.stop()`; see the module docstring."""

    cache_root: Path | None = None
    projects: tuple[Project, ...] = PROJECTS
    timeout: float = 30.0
    cache: Cache | None = None
    dir: Path | None = None  # the private runtime folder (data root, exec root, socket, projects)
    pid: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    host_paths_removed: list[str] = field(default_factory=list)
    _log: Any = None
    _process: subprocess.Popen[bytes] | None = None
    _claimed: bool = False

    # paths
    @property
    def socket(self) -> Path:
        return self._dir / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def docker_config(self) -> Path:
        return self._dir / "docker-config"  # holds cli-plugins/docker-compose

    @property
    def projects_dir(self) -> Path:
        return self._dir / "projects"

    @property
    def pidfile(self) -> Path:
        return self._dir / "dockerd.pid"

    @property
    def log_path(self) -> Path:
        return self._dir / "dockerd.log"

    @property
    def bin_dirs(self) -> tuple[Path, ...]:
        """What to put first on a PATH that should see this engine's docker (and docker-compose v1)."""
        dirs = self._cache.bin_dirs  # its usr/bin has docker-compose 1.29.2 unwrapped: the wrapper goes first
        return (self._cache.v1_bin, *dirs) if self.v1_available else dirs

    @property
    def path(self) -> str:
        return ":".join([*map(str, self.bin_dirs), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])

    @property
    def docker_cli(self) -> Path:
        return self._cache.docker

    @property
    def v1_available(self) -> bool:
        return not self._cache.v1_skip

    @property
    def v1_skip(self) -> str:
        return self._cache.v1_skip

    def project_dir(self, name: str) -> Path:
        """Where the project really runs from (its compose file's folder, the containers' working_dir)."""
        project = next(p for p in self.projects if p.name == name)
        return self.projects_dir / (project.subdir or project.name)

    @property
    def env(self) -> dict[str, str]:
        """The environment for docker commands against this engine (as an SSH session should see it)."""
        return {"PATH": self.path, "DOCKER_HOST": self.docker_host, "DOCKER_CONFIG": str(self.docker_config),
                "HOME": str(self._dir), "LC_ALL": "C"}

    @property
    def _dir(self) -> Path:
        if self.dir is None:
            raise EngineError("the engine was not started")
        return self.dir

    @property
    def _cache(self) -> Cache:
        if self.cache is None:
            raise EngineError("the engine was not started")
        return self.cache

    # lifecycle
    def __enter__(self) -> RealEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> RealEngine:
        began = time.monotonic()
        try:
            self.cache = prepare(self.cache_root)
            self.timings["prepare"] = time.monotonic() - began
            self.dir = Path(tempfile.mkdtemp(prefix="rdocker-", dir="/tmp"))  # short: a unix socket path
            self.docker_config.mkdir()
            (self.docker_config / "cli-plugins").mkdir()
            (self.docker_config / "cli-plugins/docker-compose").symlink_to(self._cache.compose_plugin)
            (self.docker_config / "config.json").write_text("{}\n")
            (self._dir / "daemon.json").write_text("{}\n")
            self._claimed = True
            _claim_host_paths(self._cache.root)
            self.start_daemon()
            self.timings["daemon"] = time.monotonic() - began - self.timings["prepare"]
            mark = time.monotonic()
            self.docker("import", "-c", 'CMD ["/bin/sh"]', str(self._cache.busybox_tar), IMAGE)
            self.timings["image"] = time.monotonic() - mark
            mark = time.monotonic()
            self._up_projects()
            self.timings["projects"] = time.monotonic() - mark
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began
        return self

    def start_daemon(self) -> None:
        """Start dockerd (again) with the same roots; returns once its API answers."""
        if self.daemon_running():
            return
        self.pidfile.unlink(missing_ok=True)
        if self._log is None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the daemon's lifetime
        command = [str(self._cache.dockerd), "--iptables=false", "--ip6tables=false", "--bridge=none",
                   "--storage-driver=vfs", "--data-root", str(self._dir / "data"),
                   "--exec-root", str(self._dir / "exec"), "--pidfile", str(self.pidfile),
                   "--config-file", str(self._dir / "daemon.json"), "-H", self.docker_host]
        process = subprocess.Popen(command, env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
                                   stderr=subprocess.STDOUT, start_new_session=True, cwd=self._dir)
        self.pid = process.pid
        self._process = process
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EngineError(f"dockerd exited with {process.returncode}: {self._log_tail()}")
            if self._ping():
                return
            time.sleep(0.05)
        raise EngineError(f"dockerd's API did not answer within {self.timeout:.0f} s: {self._log_tail()}")

    def stop_daemon(self, timeout: float = 15.0) -> None:
        """Stop dockerd by its pid file (SIGTERM: it stops its containers, 1 s grace each, and its containerd);
        the containers stay defined and come back per their restart policy when it starts again."""
        process = self._process
        if process is None:
            return
        signalled = False
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pidfile.read_text().strip())
            if pid == process.pid:  # never signal a pid the file names unless it is the daemon we started
                os.kill(pid, signal.SIGTERM)
                signalled = True
        if not signalled and process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own session: dockerd and its containerd
            process.wait(5)
        self._process, self.pid = None, 0

    def daemon_running(self) -> bool:
        return self._process is not None and self._process.poll() is None and self._ping()

    def stop(self) -> None:
        """Remove every container, stop the daemon, remove the runtime folder and the host paths it created."""
        if self.dir is None:
            return
        with contextlib.suppress(Exception):
            if self.daemon_running():
                ids = self.docker("ps", "-aq").split()
                if ids:
                    self.docker("rm", "-f", *ids, timeout=60)
        self.stop_daemon()
        if self._log is not None:
            self._log.close()
            self._log = None
        _unmount_under(self._dir)  # dockerd leaves exec/netns/default mounted when it was restarted
        if not _mounts_under(self._dir):
            shutil.rmtree(self._dir, ignore_errors=True)
        if self._claimed and self.cache is not None:
            self.host_paths_removed = _release_host_paths(self.cache.root)
            self._claimed = False
        self.dir = None

    # commands
    def docker(self, *args: str, timeout: float | None = None, check: bool = True,
               cwd: Path | None = None) -> str:
        return self._run([str(self._cache.docker), *args], timeout=timeout, check=check, cwd=cwd)

    def compose(self, project: Project, *args: str, timeout: float | None = None) -> str:
        return self._run(self._compose_command(project, *args), timeout=timeout, cwd=self.project_dir(project.name))

    def _compose_command(self, project: Project, *args: str) -> list[str]:
        if project.v1:
            return [str(self._cache.v1_bin / "docker-compose"), "--no-ansi", "-p", project.name, *args]
        return [str(self._cache.docker), "compose", "-p", project.name, *args]

    def ps(self) -> list[dict[str, str]]:
        """Every container: Names, State, Status and the compose project label."""
        template = ('{"Names":{{json .Names}},"State":{{json .State}},"Status":{{json .Status}},'
                    '"Project":{{json (.Label "com.docker.compose.project")}}}')
        return [json.loads(line) for line in self.docker("ps", "-a", "--format", template).splitlines() if line]

    def _run(self, command: list[str], timeout: float | None = None, check: bool = True,
             cwd: Path | None = None) -> str:
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, cwd=cwd,
                              timeout=timeout or self.timeout, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise EngineError(f"{Path(command[0]).name} {' '.join(command[1:4])}… exited {done.returncode}: "
                              f"{(done.stderr or done.stdout).strip()[-500:]}")
        return done.stdout

    def restore(self) -> None:
        """After `stop_daemon()`: start the daemon again and bring every project back to its state (containers
        with `restart: "no"` stay down when the daemon restarts)."""
        self.start_daemon()
        self._up_projects(write=False)

    @property
    def live_projects(self) -> tuple[Project, ...]:
        return tuple(p for p in self.projects if self.v1_available or not p.v1)

    def _up_projects(self, write: bool = True) -> None:
        """Write every project's compose file and bring them all up at once (the daemon does most of the work:
        ~0.3 s per container start), then `compose stop` those meant to be stopped, and wait for the states."""
        running: list[tuple[Project, subprocess.Popen[str]]] = []
        for project in self.live_projects:
            folder = self.project_dir(project.name)
            if write:
                folder.mkdir(parents=True)
                (folder / project.file_name).write_text(project.compose_text)
            running.append((project, subprocess.Popen(self._compose_command(project, "up", "-d"), env=self.env,
                                                      cwd=folder, text=True, stdin=subprocess.DEVNULL,
                                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
        failures = []
        for project, process in running:
            try:
                _, err = process.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                failures.append(f"compose up of {project.name} took over {self.timeout:.0f} s")
                continue
            if process.returncode != 0:
                failures.append(f"compose up of {project.name} exited {process.returncode}: {err.strip()[-300:]}")
        if failures:
            raise EngineError("; ".join(failures))
        for project in self.live_projects:
            if project.after_up == "stop":
                self.compose(project, "stop", "-t", "0")
        self._wait_for_states()

    def _wait_for_states(self) -> None:
        waits = {p.name: p.wait_for for p in self.live_projects if p.wait_for}
        restarts = {p.name: p.min_restarts for p in self.live_projects if p.min_restarts}
        deadline = time.monotonic() + self.timeout
        rows: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            rows = self.ps()
            pending = [name for name, word in waits.items()
                       if not (members := [r for r in rows if r["Project"] == name])
                       or not all(word in (r["State"], *r["Status"].split()) for r in members)]
            marks = self.restart_marks() if restarts and not pending else {}
            pending += [name for name, count in restarts.items()
                        if any(n < count for project, _, n in marks.values() if project == name)]
            if not pending:
                return
            time.sleep(0.1)
        raise EngineError(f"projects never reached their states {waits} (restarts {restarts}): {rows}")

    def restart_marks(self) -> dict[str, tuple[str, str, int]]:
        """container → (project, State, RestartCount) of every container that restarts by policy. A run that
        saw the same marks before and after saw them restarting all along (not in one of their brief runs)."""
        ids = self.docker("ps", "-aq", "--filter", "label=com.docker.compose.project").split()
        if not ids:
            return {}
        template = ('{{json .Name}} {{json (index .Config.Labels "com.docker.compose.project")}} '
                    '{{json .State.Status}} {{.RestartCount}} {{json .HostConfig.RestartPolicy.Name}}')
        marks = {}
        for line in self.docker("inspect", "-f", template, *ids).splitlines():
            name, project, state, count, policy = line.split(" ")
            if json.loads(policy) in ("always", "unless-stopped", "on-failure") and int(count):
                marks[json.loads(name).lstrip("/")] = (json.loads(project), json.loads(state), int(count))
        return marks

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(str(self.socket))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return sock.recv(4096).startswith(b"HTTP/1.") and True
        except OSError:
            return False

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace").strip()[-800:]
        return "no log"


# ── a loopback sshd whose sessions see the engine ────────────────────────────


_SUDO_ONLY = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_DOCKER_DIR/sudo.log"
[ "$1" = "-n" ] && shift
PATH="{path}:$PATH" exec "$@"
"""


def start_engine_sshd(base: Path, engine: RealEngine, docker_config: Path | None = None,
                      sudo_only: bool = False) -> SshServer:
    """A loopback sshd (tests/fakes/sshd.py) whose sessions run against `engine`: PATH is the unpacked bin
    folders then /usr/bin:/bin (no fake docker), DOCKER_HOST and DOCKER_CONFIG point at the engine.

    `docker_config` replaces the engine's DOCKER_CONFIG (an empty folder: no compose plugin). `sudo_only`: the
    session PATH has no docker at all, only a `sudo` (logging to ctl/sudo.log) that runs its command with the
    engine's bin folders on PATH, as on a host where only `sudo -n docker` works.

    start_sshd fixes PATH to its fake bin folder and sshd keeps the first `SetEnv` of a name, so the server is
    started once, stopped, and started again on the same port with PATH rewritten in its config."""
    env = {"DOCKER_HOST": engine.docker_host, "DOCKER_CONFIG": str(docker_config or engine.docker_config),
           "SHLVL": "1"}  # SHLVL=1: bash, the login shell, skips ~/.bashrc (which may change PATH)
    server = start_sshd(base, extra_env=env)
    old = server.pid
    server.stop()
    deadline = time.monotonic() + 5
    while _alive(old) and time.monotonic() < deadline:
        time.sleep(0.02)
    (server.bin / "docker").unlink(missing_ok=True)  # the fake one; not on PATH any more anyway
    config = server.dir / "sshd_config"
    engine_path = ":".join(map(str, engine.bin_dirs))
    path = f"{server.bin}:/usr/bin:/bin" if sudo_only else f"{engine_path}:/usr/bin:/bin"
    if sudo_only:
        (server.bin / "sudo").write_text(_SUDO_ONLY.format(path=engine_path))
        (server.bin / "sudo").chmod(0o755)
    text, count = re.subn(r"^SetEnv PATH=\S+", lambda _: f"SetEnv PATH={path}", config.read_text(), flags=re.M)
    if count != 1:
        raise EngineError(f"no `SetEnv PATH=` line in {config}")
    config.write_text(text)
    pidfile = server.dir / "sshd.pid"
    pidfile.unlink(missing_ok=True)
    subprocess.run([str(SSHD), "-f", str(config), "-E", str(server.dir / "sshd.log")], check=False,
                   capture_output=True)
    server.pid = _wait_for(pidfile, server.port)
    if not server.pid:
        raise EngineError(f"sshd did not restart on port {server.port}: {(server.dir / 'sshd.log').read_text()[-300:]}")
    return server


if __name__ == "__main__":  # python -m tests.fakes.real_docker: bring it up once, print the states and timings
    with RealEngine() as engine:
        for row in engine.ps():
            print(json.dumps(row))
        print(engine.docker("compose", "ls", "--all", "--format", "json").strip())
        print("v1:", "yes" if engine.v1_available else f"no: {engine.v1_skip}")
        print("timings:", {k: round(v, 2) for k, v in engine.timings.items()})
    print("removed host paths:", engine.host_paths_removed)
