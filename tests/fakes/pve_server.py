"""A fake Proxmox VE API over real HTTPS on 127.0.0.1, for tests and benchmarks.

    estate = Estate.from_dict({"nodes": ["pve"], "guests": [{"vmid": 200, "name": "web", "ips": ["10.9.0.5"]}]})
    with FakePVE(estate, token_id="audit@pve!ro", secret="s3cret") as srv:
        srv.url          # "https://127.0.0.1:PORT"
        srv.cert_path    # PEM of the self-signed certificate (usable as ca_file)
        srv.fingerprint  # "sha256:AA:BB:..." of that certificate
        srv.requests     # every request this server received (ALL_REQUESTS: every server of the process)

Response shapes, status codes and reason phrases follow the Proxmox API (the notes on the Proxmox API and
the samples in tests/data/pve-api): the message of an error travels in the HTTP reason phrase, and from
libpve-http-server 5.2 also as `message` in the JSON body (`message_in_body`). What a token may see is computed
from ACL-like `Grant`s the way PVE computes it: a guest the token may not audit is absent from listings, its own
paths answer 403, and `/access/permissions` maps path → {privilege: propagate flag}.

Faults (`Fault`) are matched per request path and can delay, hang, cut a response short, answer a fixed status,
HTML or a JSON document of the wrong shape. Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import hashlib
import ipaddress
import json
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MIB = 1024 * 1024
GIB = 1024 * MIB

# PVEAuditor on PVE 9, plus VM.Monitor (what PVE 8 needs for guest-agent calls): the default grant on "/".
AUDIT_PRIVS = frozenset({
    "VM.Audit", "VM.GuestAgent.Audit", "VM.Monitor", "Sys.Audit", "Datastore.Audit", "SDN.Audit", "Pool.Audit",
    "Mapping.Audit",
})
AGENT_PRIVS_PVE9 = ("VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted")
AGENT_PRIVS_PVE8 = ("VM.Monitor",)
# Paths /access/permissions always evaluates (PVE::RPCEnvironment get_effective_permissions).
_DEFAULT_PERMISSION_PATHS = ("/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms")

NODE_STATES = ("online", "offline", "unknown")
AGENT_MODES = ("ok", "not_running", "not_configured", "guest_error")


# ── the estate ───────────────────────────────────────────────────────────────


@dataclass
class Node:
    name: str
    status: str = "online"  # online | offline | unknown (offline/unknown: its own paths answer 595)
    maxcpu: int = 16
    maxmem: int = 64 * GIB
    maxdisk: int = 500 * GIB

    def __post_init__(self) -> None:
        if self.status not in NODE_STATES:
            raise ValueError(f"node {self.name}: status must be one of {NODE_STATES}, got {self.status!r}")

    @property
    def online(self) -> bool:
        return self.status == "online"


@dataclass
class Guest:
    vmid: int
    type: str = "qemu"  # qemu | lxc
    node: str = "pve"
    name: str | None = None
    status: str = "running"  # running | stopped
    template: bool = False
    maxcpu: int = 2
    maxmem: int = 2 * GIB  # bytes
    maxdisk: int = 32 * GIB  # bytes
    pool: str | None = None
    tags: tuple[str, ...] = ()
    # qemu: what network-get-interfaces does; lxc: ignored
    agent: str = "ok"  # ok | not_running | not_configured | guest_error
    agent_error: tuple[str, str] = ("Unsupported", "this feature or command is not currently supported")
    ips: tuple[str, ...] = ()  # qemu: reported by the guest agent; lxc: by /interfaces

    def __post_init__(self) -> None:
        if self.type not in ("qemu", "lxc"):
            raise ValueError(f"guest {self.vmid}: type must be qemu or lxc, got {self.type!r}")
        if self.agent not in AGENT_MODES:
            raise ValueError(f"guest {self.vmid}: agent must be one of {AGENT_MODES}, got {self.agent!r}")
        self.tags = tuple(self.tags)
        self.ips = tuple(self.ips)
        if self.name is None:
            self.name = f"CT{self.vmid}" if self.type == "lxc" else f"VM{self.vmid}"

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def mac(self) -> str:
        return f"BC:24:11:{(self.vmid >> 16) & 255:02X}:{(self.vmid >> 8) & 255:02X}:{self.vmid & 255:02X}"


@dataclass(frozen=True)
class Grant:
    """One ACL entry of the token: `privs` on `path` ("/", "/vms", "/vms/101", "/pool/prod", "/nodes/pve", ...)."""

    path: str
    privs: frozenset[str] = AUDIT_PRIVS
    propagate: bool = True


_ARCHIVE = re.compile(r"^vzdump-(qemu|lxc|openvz)-(\d{3,9})-(\d{4})_(\d\d)_(\d\d)-(\d\d)_(\d\d)_(\d\d)\.")
_BACKUP_EXT = re.compile(r"\.(vma|tar|tgz)(\.(gz|lzo|zst|bz2))?$")


@dataclass
class BackupStore:
    """A storage that holds backups. Its archives are the real files in `dump_dir` (a folder of the test's own),
    listed as PVE's file plugins list them: not recursive, backup extensions only, ctime from the name (this fake's
    nodes run in UTC) or the file's inode ctime for another name."""

    id: str
    type: str = "dir"
    path: str = "/var/lib/vz"  # as /storage reports it; the dump folder is path + /dump
    dump_dir: Path | None = None  # where the archives really are, on this machine
    shared: bool = False
    nodes: tuple[str, ...] | None = None  # None: every node
    inactive_on: tuple[str, ...] = ()  # nodes where activation fails (a dead NFS server)
    used_fraction: float = 0.42

    def on(self, node: str) -> bool:
        return self.nodes is None or node in self.nodes

    def archives(self) -> list[dict[str, Any]]:
        if self.dump_dir is None or not self.dump_dir.is_dir():
            return []
        items = []
        for entry in sorted(self.dump_dir.iterdir(), key=lambda e: e.name.lower()):
            if not entry.is_file() or not _BACKUP_EXT.search(entry.name):
                continue
            match = _ARCHIVE.match(entry.name)
            stat = entry.stat()
            item: dict[str, Any] = {"volid": f"{self.id}:backup/{entry.name}", "content": "backup",
                                    "format": _BACKUP_EXT.search(entry.name).group(0)[1:], "size": stat.st_size}
            if match:
                kind, vmid, *when = match.groups()
                stamp = datetime.datetime(*map(int, when), tzinfo=datetime.UTC)
                item.update(subtype=kind, vmid=int(vmid), ctime=int(stamp.timestamp()))
            else:
                item.update(subtype="unknown", ctime=int(stat.st_ctime))
            items.append(item)
        return items


@dataclass
class Estate:
    nodes: list[Node] = field(default_factory=list)
    guests: list[Guest] = field(default_factory=list)
    version: str = "8.2.4"  # decides the repoid length, the agent privilege and the LXC interfaces shape
    storage: tuple[str, ...] = ("local", "local-lvm")
    pools: dict[str, str] = field(default_factory=dict)  # poolid → comment (pools of guests are added)
    grants: list[Grant] = field(default_factory=lambda: [Grant("/")])
    permissions: dict[str, dict[str, int]] | None = None  # raw /access/permissions answer, if set verbatim
    # backups: /cluster/backup entries as PVE stores them, storages holding backups, vzdump tasks per node
    # (raw entries, any order) and pvescheduler's active-state per node (default "active")
    backup_jobs: list[dict[str, Any]] = field(default_factory=list)
    backup_stores: list[BackupStore] = field(default_factory=list)
    tasks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scheduler: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = {n.name for n in self.nodes}
        for guest in self.guests:
            if guest.node not in known:
                self.nodes.append(Node(guest.node))
                known.add(guest.node)
            if guest.pool:
                self.pools.setdefault(guest.pool, "")
        if not self.nodes:
            self.nodes.append(Node("pve"))
        vmids = [g.vmid for g in self.guests]
        if len(vmids) != len(set(vmids)):
            raise ValueError("vmids must be unique within one Proxmox cluster")

    # lookups and convenience mutators (the server reads the estate on every request)

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def guest(self, vmid: int) -> Guest | None:
        return next((g for g in self.guests if g.vmid == vmid), None)

    def set_node_status(self, name: str, status: str) -> Estate:
        node = self.node(name)
        if node is None:
            raise KeyError(name)
        node.status = status
        node.__post_init__()
        return self

    def restrict_to(self, vmids: Iterable[int] = (), pools: Iterable[str] = (),
                    privs: Iterable[str] = AUDIT_PRIVS, propagate: bool = True) -> Estate:
        """Replace the token's grants: `privs` on /vms/<vmid> and /pool/<pool> only (nothing on "/")."""
        privs = frozenset(privs)
        self.grants = [Grant(f"/vms/{v}", privs, propagate) for v in vmids]
        self.grants += [Grant(f"/pool/{p}", privs, propagate) for p in pools]
        return self

    @property
    def major(self) -> int:
        return int(re.split(r"[.-]", self.version)[0])

    @property
    def agent_privs(self) -> tuple[str, ...]:
        return AGENT_PRIVS_PVE9 if self.major >= 9 else AGENT_PRIVS_PVE8

    # permissions, computed like PVE::RPCEnvironment (propagation, pool-derived roles without propagation)

    def privileges(self, path: str) -> dict[str, int]:
        """privilege → propagate flag (0/1) the token holds on `path`."""
        privs: dict[str, int] = {}
        parts = path.rstrip("/").split("/")[1:] if path != "/" else []
        ancestors = ["/"] + ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]
        for grant in self.grants:
            if grant.path == path:
                for priv in grant.privs:
                    privs[priv] = max(privs.get(priv, 0), int(grant.propagate))
            elif grant.path in ancestors and grant.propagate:
                for priv in grant.privs:
                    privs[priv] = 1
        match = re.fullmatch(r"/vms/(\d+)", path)
        guest = self.guest(int(match.group(1))) if match else None
        if guest is not None and guest.pool:
            for priv in self.privileges(f"/pool/{guest.pool}"):
                privs.setdefault(priv, 0)  # pool-derived roles never propagate
        return privs

    def can(self, path: str, *privs: str) -> bool:
        """Any of `privs` on `path` (check_any)."""
        held = self.privileges(path)
        return any(p in held for p in privs)

    def effective_permissions(self) -> dict[str, dict[str, int]]:
        if self.permissions is not None:
            return self.permissions
        paths = dict.fromkeys(_DEFAULT_PERMISSION_PATHS)
        paths.update(dict.fromkeys(g.path for g in self.grants))
        paths.update(dict.fromkeys(f"/vms/{g.vmid}" for g in self.guests if g.pool))
        result = {}
        for path in paths:
            privs = self.privileges(path)
            if privs:
                result[path] = dict(sorted(privs.items()))
        return result

    # loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Estate:
        """Build an estate from plain data (e.g. a YAML fixture).

        nodes: ["pve", {name: pve2, status: offline}]
        guests: [{vmid: 200, type: qemu, node: pve, name: web, status: running, template: false,
                  cores: 2, memory_mb: 2048, disk_gb: 32 (or maxcpu/maxmem/maxdisk in bytes),
                  pool: prod, tags: [a, b] or "a;b", agent: ok, ips: [10.9.0.5]}]
        pools: {prod: "comment"} | [prod]; storage: [local]; version: "8.2.4"
        grants: [{path: /vms/200, privs: [VM.Audit], propagate: true}]   (default: full audit access on /)
        permissions: {...}   (verbatim /access/permissions answer; overrides what grants compute)
        """
        known = {"nodes", "guests", "version", "storage", "pools", "grants", "permissions"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown estate keys: {sorted(unknown)}")
        nodes = [Node(n) if isinstance(n, str) else Node(**n) for n in data.get("nodes") or []]
        guests = [_guest_from_dict(g) for g in data.get("guests") or []]
        pools = data.get("pools") or {}
        if not isinstance(pools, Mapping):
            pools = dict.fromkeys(pools, "")
        kwargs: dict[str, Any] = {"nodes": nodes, "guests": guests, "pools": dict(pools)}
        if "version" in data:
            kwargs["version"] = str(data["version"])
        if "storage" in data:
            kwargs["storage"] = tuple(data["storage"])
        if "grants" in data:
            kwargs["grants"] = [Grant(g["path"], frozenset(g.get("privs", AUDIT_PRIVS)), bool(g.get("propagate", True)))
                                for g in data["grants"]]
        if "permissions" in data:
            kwargs["permissions"] = data["permissions"]
        return cls(**kwargs)


def _guest_from_dict(raw: Mapping[str, Any]) -> Guest:
    item = dict(raw)
    if "cores" in item:
        item["maxcpu"] = item.pop("cores")
    if "memory_mb" in item:
        item["maxmem"] = int(item.pop("memory_mb")) * MIB
    if "disk_gb" in item:
        item["maxdisk"] = int(float(item.pop("disk_gb")) * GIB)
    if isinstance(item.get("tags"), str):
        item["tags"] = tuple(t for t in re.split(r"[;,\s]+", item["tags"]) if t)
    if isinstance(item.get("agent_error"), list):
        item["agent_error"] = tuple(item["agent_error"])
    return Guest(**item)


# ── faults ───────────────────────────────────────────────────────────────────


@dataclass
class Fault:
    """A rule applied to requests whose API path matches `path` (a glob, e.g. "nodes/*/qemu/*/agent/*").

    The path is matched without the /api2/json prefix, the leading "/" and the query. Every matching rule's
    `delay` is slept; then the first matching rule with an action decides the answer:
    `hang` (never answer until the server stops), `cut` (announce a longer body than is sent, then close),
    `status` (+ `message` as reason phrase), `not_json` (200 with an HTML page), `wrong_shape` (200 with this
    JSON document as the whole body). `times`: only the first N matching requests are affected.
    """

    path: str
    status: int | None = None
    message: str | None = None
    delay: float = 0.0
    hang: bool = False
    cut: bool = False
    not_json: bool = False
    wrong_shape: Any = None
    times: int | None = None
    hits: int = 0

    @property
    def has_action(self) -> bool:
        return self.hang or self.cut or self.status is not None or self.not_json or self.wrong_shape is not None

    def matches(self, api_path: str) -> bool:
        return fnmatch.fnmatchcase(api_path, self.path.strip("/"))


def _faults(spec: Iterable[Fault] | Mapping[str, Any] | None) -> list[Fault]:
    """A list of Fault, or {glob: Fault | status code | dict of Fault fields}."""
    if spec is None:
        return []
    if isinstance(spec, Mapping):
        out = []
        for pattern, rule in spec.items():
            if isinstance(rule, Fault):
                out.append(rule)
            elif isinstance(rule, int):
                out.append(Fault(pattern, status=rule))
            else:
                out.append(Fault(pattern, **rule))
        return out
    return list(spec)


# ── requests seen ────────────────────────────────────────────────────────────


@dataclass
class RecordedRequest:
    method: str
    path: str  # the URL path as sent, e.g. "/api2/json/cluster/resources"
    query: dict[str, str]
    time: float  # time.monotonic() when the request line was read
    authenticated: bool | None = None  # None: not (yet) checked: a fault answered, or not a GET

    @property
    def api_path(self) -> str:
        prefix = "/api2/json/"
        return self.path[len(prefix):] if self.path.startswith(prefix) else self.path.lstrip("/")


ALL_REQUESTS: list[RecordedRequest] = []  # every request any FakePVE of this process received
_ALL_LOCK = threading.Lock()


# ── certificate ──────────────────────────────────────────────────────────────


def make_certificate(directory: Path) -> tuple[Path, Path, str]:
    """A self-signed ECDSA certificate for 127.0.0.1/localhost: (cert PEM, key PEM, sha256 fingerprint)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "reconciler test fake PVE")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "pve.pem", directory / "pve.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    fingerprint = "sha256:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
    return cert_path, key_path, fingerprint


# ── the server ───────────────────────────────────────────────────────────────


class _Reply(Exception):
    """Raised inside routing to answer with an error status."""

    def __init__(self, status: int, message: str, body: bytes | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.body = status, message, body


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, fake: FakePVE) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the connection's own thread: a stalled client must not block accept().
        fake = self.fake
        request.settimeout(5)
        fake._track(request)
        with fake._lock:
            fake.connections += 1
        try:
            tls = fake._context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            fake._untrack(request)
            with contextlib.suppress(OSError):
                request.close()
            fake.tls_failures += 1
            return
        fake._untrack(request)
        fake._track(tls)
        try:
            tls.settimeout(30)
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ValueError):
            pass
        finally:
            fake._untrack(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def shutdown_request(self, request: Any) -> None:  # finish_request closes the TLS socket itself
        pass

    def handle_error(self, request: Any, client_address: Any) -> None:  # no tracebacks on stderr
        self.fake.handler_errors += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pve-api-daemon/3.0"
    sys_version = ""
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every other method: recorded, then 501
            return lambda: self.server.fake._serve(self)
        raise AttributeError(name)

    def send_raw(self, status: int, reason: str, body: bytes, content_type: str = "application/json;charset=UTF-8",
                 content_length: int | None = None) -> None:
        """Status line, headers and body in one sendall (no delayed-ACK stall between them)."""
        reason = " ".join(reason.split()) or "-"
        lines = [
            f"HTTP/1.1 {status} {reason}",
            "Cache-Control: max-age=0",
            "Connection: " + ("close" if self.close_connection else "Keep-Alive"),
            f"Date: {self.date_time_string()}",
            "Pragma: no-cache",
            "Server: pve-api-daemon/3.0",
            f"Content-Length: {len(body) if content_length is None else content_length}",
            f"Content-Type: {content_type}",
            "Expires: " + self.date_time_string(),
        ]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


class FakePVE:
    """A fake Proxmox VE API on https://127.0.0.1:<ephemeral port>. Use as a context manager."""

    def __init__(self, estate: Estate | Mapping[str, Any] | None = None, *, token_id: str = "audit@pve!reconciler",
                 secret: str = "00000000-1111-2222-3333-444444444444",
                 faults: Iterable[Fault] | Mapping[str, Any] | None = None,
                 message_in_body: bool = True, auth_failure_reason: str = "authentication failure",
                 auth_failure_delay: float = 0.0, proxy_failure_reason: str = "No route to host") -> None:
        if estate is None:
            estate = Estate()
        self.estate = estate if isinstance(estate, Estate) else Estate.from_dict(estate)
        self.token_id, self.secret = token_id, secret
        self.faults: list[Fault] = _faults(faults)
        self.message_in_body = message_in_body  # libpve-http-server >= 5.2 (PVE 8.3+)
        self.auth_failure_reason = auth_failure_reason
        self.auth_failure_delay = auth_failure_delay  # real PVE waits 3 s before every 401
        self.proxy_failure_reason = proxy_failure_reason  # reason of the 595 for an offline node's paths
        self.requests: list[RecordedRequest] = []
        self.connections = 0  # TCP connections accepted (keep-alive reuses one)
        self.tls_failures = 0  # handshakes that failed (e.g. a client rejecting the certificate)
        self.handler_errors = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: set[Any] = set()
        self._dir = Path(tempfile.mkdtemp(prefix="fake-pve-"))
        self.cert_path, self.key_path, self.fingerprint = make_certificate(self._dir)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(self.cert_path, self.key_path)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakePVE:
        self._stop.clear()
        self._httpd = _HTTPServer(self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-pve-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # releases hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # wake handlers blocked on idle keep-alive connections
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(1)
            self._thread = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> FakePVE:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # helpers for tests

    def add_fault(self, path: str, **kwargs: Any) -> Fault:
        fault = Fault(path, **kwargs)
        self.faults.append(fault)
        return fault

    def paths(self, method: str | None = None) -> list[str]:
        """API paths requested so far (without /api2/json/), in order."""
        with self._lock:
            return [r.api_path for r in self.requests if method is None or r.method == method]

    def count(self, pattern: str = "*") -> int:
        """How many requests matched the glob `pattern` (same syntax as Fault.path)."""
        return sum(1 for p in self.paths() if fnmatch.fnmatchcase(p, pattern.strip("/")))

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def _track(self, conn: Any) -> None:
        with self._lock:
            self._conns.add(conn)

    def _untrack(self, conn: Any) -> None:
        with self._lock:
            self._conns.discard(conn)

    # request handling

    def _serve(self, handler: _Handler) -> None:
        started = time.monotonic()
        split = urlsplit(handler.path)
        path = unquote(split.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        api_path = path[len("/api2/json/"):].strip("/") if path.startswith("/api2/json/") else None
        record = RecordedRequest(handler.command, path, query, started)
        with self._lock:  # recorded on arrival, so a hanging request is visible while it hangs
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.requests.append(record)
        with _ALL_LOCK:
            ALL_REQUESTS.append(record)
        try:
            if handler.command != "GET":
                handler.close_connection = True  # its body (if any) is never read
                raise _Reply(501, f"Method '{handler.command} /{api_path or path.strip('/')}' not implemented")
            if self._apply_faults(handler, api_path or path.strip("/")):
                return
            record.authenticated = self._authenticated(handler)
            if not record.authenticated:
                if self.auth_failure_delay:
                    self._stop.wait(self.auth_failure_delay)
                has_header = bool(handler.headers.get("Authorization") or handler.headers.get("Cookie"))
                raise _Reply(401, self.auth_failure_reason if has_header else "No ticket", b"")
            if api_path is None:
                raise _Reply(501, f"Method 'GET {path}' not implemented")
            data = self._route(api_path, query)
            self._send_json(handler, 200, "OK", {"data": data})
        except _Reply as reply:
            self._send_error(handler, reply)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _authenticated(self, handler: _Handler) -> bool:
        header = handler.headers.get("Authorization") or ""
        scheme, _, credentials = header.partition("=")
        if scheme.strip() != "PVEAPIToken":
            return False
        token_id, _, secret = credentials.partition("=")
        return token_id == self.token_id and secret == self.secret

    def _apply_faults(self, handler: _Handler, api_path: str) -> bool:
        """Sleep the delays of the matching rules; True if a rule answered (or withheld) the response."""
        action: Fault | None = None
        delay = 0.0
        with self._lock:
            for fault in self.faults:
                if not fault.matches(api_path) or (fault.times is not None and fault.hits >= fault.times):
                    continue
                fault.hits += 1
                delay += fault.delay
                if action is None and fault.has_action:
                    action = fault
        if delay:
            self._stop.wait(delay)
        if action is None:
            return False
        if action.hang:
            self._stop.wait()
            handler.close_connection = True
            return True
        if action.cut:
            body = b'{"data":[{"id":"qemu/100","type":"qemu","vmid":100,"node":"pve","status":"run'
            handler.close_connection = True
            handler.send_raw(200, "OK", body, content_length=len(body) + 4096)
            return True
        if action.status is not None:
            reason = action.message or _STANDARD_REASONS.get(action.status, "Error")
            self._send_error(handler, _Reply(action.status, reason))
            return True
        if action.not_json:
            page = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
            handler.send_raw(200, "OK", page, content_type="text/html; charset=utf-8")
            return True
        self._send_json(handler, 200, "OK", action.wrong_shape)
        return True

    def _send_json(self, handler: _Handler, status: int, reason: str, document: Any) -> None:
        handler.send_raw(status, reason, json.dumps(document, separators=(",", ":")).encode())

    def _send_error(self, handler: _Handler, reply: _Reply) -> None:
        body = reply.body
        if body is None:
            if reply.status in (401, 595, 596):
                body = b""
            else:
                document: dict[str, Any] = {"data": None}
                if self.message_in_body:
                    document["message"] = reply.message.rstrip("\n") + "\n"
                body = json.dumps(document, separators=(",", ":")).encode()
        handler.send_raw(reply.status, reply.message, body)

    # routing

    def _route(self, api_path: str, query: Mapping[str, str]) -> Any:
        estate = self.estate
        parts = api_path.split("/") if api_path else []
        if parts == ["version"]:
            return _version(estate.version)
        if parts == ["cluster", "resources"]:
            return self._cluster_resources(query.get("type"))
        if parts == ["cluster", "status"]:
            return self._cluster_status()
        if parts == ["access", "permissions"]:
            if "path" in query:  # the caller's privileges on one path (any user may ask for their own)
                return {query["path"]: estate.privileges(query["path"])}
            return estate.effective_permissions()
        if parts == ["cluster", "backup"]:
            self._require("/", "Sys.Audit")
            return [dict(job) for job in estate.backup_jobs]
        if parts == ["storage"]:
            return [self._storage_config(s) for s in estate.backup_stores
                    if estate.can(f"/storage/{s.id}", "Datastore.Audit", "Datastore.AllocateSpace")]
        if parts == ["pools"]:
            return self._pools(query.get("poolid"))
        if parts == ["nodes"]:
            return [self._node_entry(n, with_fingerprint=True) for n in estate.nodes]
        if len(parts) >= 2 and parts[0] == "nodes":
            return self._node_route(parts[1], parts[2:], query)
        raise _Reply(501, f"Method 'GET /{api_path}' not implemented")

    def _node_route(self, name: str, rest: list[str], query: Mapping[str, str] | None = None) -> Any:
        query = query or {}
        estate = self.estate
        node = estate.node(name)
        if node is None:
            raise _Reply(500, f"hostname lookup '{name}' failed - failed to get address info for: {name}: "
                              "Name or service not known")
        if not node.online:
            raise _Reply(595, self.proxy_failure_reason)  # pveproxy could not reach the node
        if rest == ["status"]:
            self._require(f"/nodes/{name}", "Sys.Audit")
            return self._node_status(node)
        if rest == ["storage"]:
            return [self._node_storage(s, name) for s in estate.backup_stores
                    if estate.can(f"/storage/{s.id}", "Datastore.Audit", "Datastore.AllocateSpace")]
        if len(rest) == 3 and rest[0] == "storage" and rest[2] == "content":
            return self._content(name, rest[1])
        if rest == ["tasks"]:
            return self._tasks(name, query)
        if rest == ["services", "pvescheduler", "state"]:
            self._require(f"/nodes/{name}", "Sys.Audit")
            state = estate.scheduler.get(name, "active")
            return {"service": "pvescheduler", "name": "pvescheduler", "desc": "Proxmox VE scheduler",
                    "state": "running" if state == "active" else "dead", "unit-state": "enabled",
                    "active-state": state}
        if rest in (["qemu"], ["lxc"]):
            return [self._node_guest_entry(g) for g in estate.guests
                    if g.node == name and g.type == rest[0] and estate.can(f"/vms/{g.vmid}", "VM.Audit")]
        if len(rest) >= 3 and rest[0] in ("qemu", "lxc") and rest[1].isdigit():
            kind, vmid, tail = rest[0], int(rest[1]), rest[2:]
            if tail == ["config"]:
                self._require(f"/vms/{vmid}", "VM.Audit")
                return self._config(self._guest_on(name, kind, vmid))
            if kind == "qemu" and tail == ["agent", "network-get-interfaces"]:
                self._require(f"/vms/{vmid}", *estate.agent_privs)
                return self._agent(self._guest_on(name, kind, vmid))
            if kind == "lxc" and tail == ["interfaces"] and (estate.major, _minor(estate.version)) >= (8, 1):
                self._require(f"/vms/{vmid}", "VM.Audit")
                return self._lxc_interfaces(self._guest_on(name, kind, vmid))
            # what other clients ask for (the ansible inventory plugin with want_facts, benchmarks/peer.py)
            if tail == ["status", "current"]:
                self._require(f"/vms/{vmid}", "VM.Audit")
                return self._status_current(self._guest_on(name, kind, vmid))
            if tail == ["snapshot"]:
                self._require(f"/vms/{vmid}", "VM.Audit")
                guest = self._guest_on(name, kind, vmid)
                return [{"name": "current", "description": "You are here!", "running": int(guest.running),
                         "digest": hashlib.sha1(f"{guest.vmid}".encode()).hexdigest()}]
        raise _Reply(501, f"Method 'GET /nodes/{name}/{'/'.join(rest)}' not implemented")

    # backups

    def _storage_config(self, store: BackupStore) -> dict[str, Any]:
        entry: dict[str, Any] = {"storage": store.id, "type": store.type, "content": "backup", "digest": "0" * 40}
        if store.type != "pbs":
            entry["path"] = store.path
        if store.shared:
            entry["shared"] = 1
        if store.nodes is not None:
            entry["nodes"] = ",".join(store.nodes)
        return entry

    def _node_storage(self, store: BackupStore, node: str) -> dict[str, Any]:
        enabled = store.on(node)
        active = enabled and node not in store.inactive_on
        entry: dict[str, Any] = {"storage": store.id, "type": store.type, "content": "backup",
                                 "shared": int(store.shared), "enabled": int(enabled), "active": int(active),
                                 "total": 0, "used": 0, "avail": 0}
        if active:
            total = 4 * 1024 * GIB
            used = int(total * store.used_fraction)
            entry.update(total=total, used=used, avail=total - used, used_fraction=store.used_fraction)
        return entry

    def _content(self, node: str, sid: str) -> list[dict[str, Any]]:
        estate = self.estate
        store = next((s for s in estate.backup_stores if s.id == sid), None)
        if store is None:
            raise _Reply(500, f"storage '{sid}' does not exist")
        if not store.on(node):
            raise _Reply(500, f"storage '{sid}' is not available on node '{node}'")
        self._require(f"/storage/{sid}", "Datastore.Audit", "Datastore.AllocateSpace")
        if node in store.inactive_on:
            raise _Reply(500, f"storage '{sid}' is not online")
        allocate = estate.can(f"/storage/{sid}", "Datastore.Allocate")
        space = estate.can(f"/storage/{sid}", "Datastore.AllocateSpace")
        # PVE's check_volume_access drops what the caller may not see, and still answers 200
        return [item for item in store.archives()
                if allocate or (space and "vmid" in item and estate.can(f"/vms/{item['vmid']}", "VM.Backup"))]

    def _tasks(self, node: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        estate = self.estate
        tasks = sorted(estate.tasks.get(node, []), key=lambda t: -int(t["starttime"]))
        if not estate.can(f"/nodes/{node}", "Sys.Audit"):
            tasks = [t for t in tasks if t.get("user") == self.token_id.split("!")[0]]  # scheduled runs are root's
        if "typefilter" in query:
            tasks = [t for t in tasks if t.get("type", "vzdump") == query["typefilter"]]
        if "since" in query:
            tasks = [t for t in tasks if int(t["starttime"]) >= int(query["since"])]
        if query.get("source", "archive") == "archive":
            tasks = [t for t in tasks if t.get("status") != "RUNNING"]
        return [{"node": node, "type": "vzdump", **t} for t in tasks[: int(query.get("limit", 50))]]

    def _require(self, path: str, *privs: str) -> None:
        if not self.estate.can(path, *privs):
            raise _Reply(403, f"Permission check failed ({path}, {'|'.join(privs)})")

    def _guest_on(self, node: str, kind: str, vmid: int) -> Guest:
        guest = self.estate.guest(vmid)
        if guest is None or guest.node != node or guest.type != kind:
            where = "qemu-server" if kind == "qemu" else "lxc"
            raise _Reply(500, f"Configuration file 'nodes/{node}/{where}/{vmid}.conf' does not exist")
        return guest

    def _cluster_resources(self, kind: str | None) -> list[dict[str, Any]]:
        kinds = ("vm", "storage", "node", "sdn", "pool")
        if kind is not None and kind not in kinds:
            raise _Reply(400, "Parameter verification failed.", json.dumps({
                "errors": {"type": f"value '{kind}' does not have a value in the enumeration '{', '.join(kinds)}'"},
                "data": None}).encode())
        estate = self.estate
        out: list[dict[str, Any]] = []
        if kind in (None, "vm"):
            out += [self._resource_guest(g) for g in estate.guests if estate.can(f"/vms/{g.vmid}", "VM.Audit")]
        if kind in (None, "node"):
            out += [self._node_entry(n, cluster_resources=True) for n in estate.nodes]
        if kind in (None, "storage"):
            for node in estate.nodes:
                out += [self._storage_entry(node, sid) for sid in estate.storage
                        if estate.can(f"/storage/{sid}", "Datastore.Audit", "Datastore.AllocateSpace")]
        if kind in (None, "sdn") and estate.can("/sdn/zones/localnetwork", "SDN.Audit"):
            out += [{"id": f"sdn/{n.name}/localnetwork", "node": n.name, "sdn": "localnetwork",
                     "status": "ok" if n.online else "unknown", "type": "sdn"} for n in estate.nodes]
        if kind in (None, "pool"):
            out += [{"id": f"/pool/{p}", "pool": p, "type": "pool"} for p in sorted(estate.pools)
                    if estate.can(f"/pool/{p}", "Pool.Audit")]
        return out

    def _resource_guest(self, g: Guest) -> dict[str, Any]:
        node = self.estate.node(g.node)
        entry: dict[str, Any] = {"id": f"{g.type}/{g.vmid}", "vmid": g.vmid, "node": g.node, "type": g.type}
        if node is None or not node.online:
            entry["status"] = "unknown"  # no RRD data for guests of an offline node: no name either
            return entry
        running = g.running
        entry.update({
            "name": g.name, "status": g.status, "template": int(g.template), "uptime": 86400 if running else 0,
            "maxcpu": g.maxcpu, "cpu": 0.0312 if running else 0, "maxmem": g.maxmem,
            "mem": g.maxmem // 3 if running else 0, "maxdisk": g.maxdisk,
            "disk": 0 if g.type == "qemu" else (g.maxdisk // 4 if running else 0),
            "netin": 123456 if running else 0, "netout": 65432 if running else 0,
            "diskread": 7654321 if running else 0, "diskwrite": 1234567 if running else 0,
        })
        if g.tags:
            entry["tags"] = ";".join(sorted(t.lower() for t in g.tags))
        if g.pool and self.estate.can(f"/pool/{g.pool}", "Pool.Audit"):
            entry["pool"] = g.pool
        return entry

    def _node_entry(self, n: Node, with_fingerprint: bool = False, cluster_resources: bool = False) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": f"node/{n.name}", "node": n.name, "type": "node", "status": n.status}
        if cluster_resources:
            entry["cgroup-mode"] = 2
        if n.online:
            entry["level"] = ""
            if with_fingerprint:
                entry["ssl_fingerprint"] = self.fingerprint[len("sha256:"):]
            if self.estate.can(f"/nodes/{n.name}", "Sys.Audit"):
                entry.update({"maxcpu": n.maxcpu, "cpu": 0.0451, "maxmem": n.maxmem, "mem": n.maxmem // 3,
                              "maxdisk": n.maxdisk, "disk": n.maxdisk // 3, "uptime": 1204771})
        return entry

    def _storage_entry(self, n: Node, sid: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": f"storage/{n.name}/{sid}", "storage": sid, "node": n.name, "type": "storage",
            "plugintype": "lvmthin" if sid.endswith("lvm") else "dir", "shared": 0,
            "content": "images,rootdir" if sid.endswith("lvm") else "backup,iso,vztmpl,snippets",
            "status": "available" if n.online else "unknown",
        }
        if n.online:
            entry.update({"disk": 120 * GIB, "maxdisk": 900 * GIB})
        return entry

    def _cluster_status(self) -> list[dict[str, Any]]:
        self._require("/", "Sys.Audit")
        nodes = self.estate.nodes
        entries = [{"type": "node", "id": f"node/{n.name}", "name": n.name, "nodeid": i if len(nodes) > 1 else 0,
                    "local": int(i == 1), "online": int(n.online), "ip": "127.0.0.1", "level": ""}
                   for i, n in enumerate(nodes, start=1)]
        if len(nodes) > 1:
            entries.insert(0, {"type": "cluster", "id": "cluster", "name": "fake", "nodes": len(nodes),
                               "version": 4, "quorate": int(sum(n.online for n in nodes) * 2 > len(nodes))})
        return entries

    def _node_status(self, n: Node) -> dict[str, Any]:
        total = n.maxmem
        return {
            "cpu": 0.0026, "wait": 0, "idle": 0, "uptime": 2501631,
            "cpuinfo": {"cpus": n.maxcpu, "cores": n.maxcpu // 2, "sockets": 1, "model": "Fake CPU", "mhz": "3400.000",
                        "hvm": "1", "user_hz": 100, "flags": "fpu vme"},
            "loadavg": ["0.00", "0.01", "0.05"],
            "memory": {"total": total, "used": total // 3, "free": total - total // 3,
                       "available": total - total // 3},
            "swap": {"total": 0, "free": 0, "used": 0}, "ksm": {"shared": 0},
            "rootfs": {"total": n.maxdisk, "used": n.maxdisk // 3, "free": n.maxdisk - n.maxdisk // 3,
                       "avail": n.maxdisk - n.maxdisk // 3},
            "kversion": "Linux 6.8.12-1-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-1",
            "pveversion": f"pve-manager/{self.estate.version}/0123456789abcdef",
            "current-kernel": {"sysname": "Linux", "release": "6.8.12-1-pve", "machine": "x86_64",
                               "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-1"},
            "boot-info": {"mode": "efi", "secureboot": 0},
        }

    def _node_guest_entry(self, g: Guest) -> dict[str, Any]:
        running = g.running
        entry: dict[str, Any] = {
            "vmid": g.vmid, "name": g.name, "status": g.status, "cpus": g.maxcpu, "maxmem": g.maxmem,
            "maxdisk": g.maxdisk, "mem": g.maxmem // 3 if running else 0, "cpu": 0.0312 if running else 0,
            "uptime": 86400 if running else 0, "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
        }
        if running:
            entry["pid"] = 1000 + g.vmid
        if g.tags:
            entry["tags"] = ";".join(sorted(t.lower() for t in g.tags))
        if g.template:
            entry["template"] = 1
        if g.type == "lxc":
            entry.update({"type": "lxc", "maxswap": 512 * MIB, "swap": 0})
        return entry

    def _status_current(self, g: Guest) -> dict[str, Any]:
        running = g.running
        status: dict[str, Any] = {
            "vmid": g.vmid, "name": g.name, "status": g.status, "cpus": g.maxcpu, "maxmem": g.maxmem,
            "mem": g.maxmem // 3 if running else 0, "maxdisk": g.maxdisk, "disk": 0, "cpu": 0.0312 if running else 0,
            "uptime": 86400 if running else 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
            "ha": {"managed": 0},
        }
        if running:
            status["pid"] = 1000 + g.vmid
        if g.template:
            status["template"] = 1
        if g.type == "lxc":
            status.update({"type": "lxc", "maxswap": 512 * MIB, "swap": 0})
        else:
            status.update({"qmpstatus": g.status, "agent": int(g.agent != "not_configured")})
        return status

    def _config(self, g: Guest) -> dict[str, Any]:
        disk_gb = max(1, g.maxdisk // GIB)
        tags = {"tags": ";".join(sorted(t.lower() for t in g.tags))} if g.tags else {}
        template = {"template": 1} if g.template else {}
        digest = hashlib.sha1(f"{g.vmid}{g.name}".encode()).hexdigest()
        if g.type == "lxc":
            ip = next((a for a in g.ips if ":" not in a), None)
            net = f"name=eth0,bridge=vmbr0,hwaddr={g.mac},ip={ip + '/24' if ip else 'dhcp'},type=veth"
            return {"arch": "amd64", "cores": g.maxcpu, "digest": digest, "hostname": g.name,
                    "memory": g.maxmem // MIB, "swap": 512, "net0": net, "ostype": "debian",
                    "rootfs": f"local-lvm:subvol-{g.vmid}-disk-0,size={disk_gb}G", **tags, **template}
        memory: int | str = g.maxmem // MIB
        if (self.estate.major, _minor(self.estate.version)) >= (8, 1):
            memory = str(memory)  # qemu-server >= 8.0.8: a property string
        config: dict[str, Any] = {
            "name": g.name, "cores": g.maxcpu, "sockets": 1, "memory": memory, "digest": digest, "ostype": "l26",
            "boot": "order=scsi0;net0", "scsihw": "virtio-scsi-single", "net0": f"virtio={g.mac},bridge=vmbr0",
            "scsi0": f"local-lvm:vm-{g.vmid}-disk-0,iothread=1,size={disk_gb}G", "ide2": "none,media=cdrom",
            **tags, **template,
        }
        if g.agent != "not_configured":
            config["agent"] = "1"
        return config

    def _agent(self, g: Guest) -> dict[str, Any]:
        if not g.running:
            raise _Reply(500, f"VM {g.vmid} is not running")
        if g.agent == "not_configured":
            raise _Reply(500, "No QEMU guest agent configured")
        if g.agent == "not_running":
            raise _Reply(500, "QEMU guest agent is not running")
        if g.agent == "guest_error":
            return {"result": {"error": {"class": g.agent_error[0], "desc": g.agent_error[1]}}}
        stats = {"rx-bytes": 324105, "rx-packets": 4025, "rx-errs": 0, "rx-dropped": 0,
                 "tx-bytes": 368860, "tx-packets": 3479, "tx-errs": 0, "tx-dropped": 0}
        loopback = {"name": "lo", "hardware-address": "00:00:00:00:00:00", "statistics": stats, "ip-addresses": [
            {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
            {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128}]}
        addresses = [_agent_address(a) for a in g.ips]
        addresses.append({"ip-address": f"fe80::be24:11ff:fe00:{g.vmid & 0xffff:x}", "ip-address-type": "ipv6",
                          "prefix": 64})
        eth0 = {"name": "eth0", "hardware-address": g.mac.lower(), "statistics": stats, "ip-addresses": addresses}
        return {"result": [loopback, eth0]}

    def _lxc_interfaces(self, g: Guest) -> list[dict[str, Any]] | None:
        if not g.running:
            return None  # LXC.pm get_interfaces: no pid, undef
        new_shape = (self.estate.major, _minor(self.estate.version)) >= (8, 4)
        v4 = [a for a in g.ips if ":" not in a]
        v6 = [a for a in g.ips if ":" in a]
        link_local = f"fe80::be24:11ff:fe00:{g.vmid & 0xffff:x}/64"
        lo: dict[str, Any] = {"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8", "inet6": "::1/128"}
        eth0: dict[str, Any] = {"name": "eth0", "hwaddr": g.mac.lower(), "inet6": f"{v6[0]}/64" if v6 else link_local}
        if v4:
            eth0["inet"] = f"{v4[0]}/24"
        if new_shape:
            lo["hardware-address"] = lo["hwaddr"]
            lo["ip-addresses"] = [{"ip-address": "127.0.0.1", "ip-address-type": "inet", "prefix": "8"},
                                  {"ip-address": "::1", "ip-address-type": "inet6", "prefix": "128"}]
            eth0["hardware-address"] = eth0["hwaddr"]
            eth0["ip-addresses"] = [
                {"ip-address": a, "ip-address-type": "inet6" if ":" in a else "inet", "prefix": "64" if ":" in a
                 else "24"} for a in g.ips]
        return [lo, eth0]

    def _pools(self, poolid: str | None) -> list[dict[str, Any]]:
        estate = self.estate
        visible = [p for p in sorted(estate.pools) if estate.can(f"/pool/{p}", "Pool.Audit")]
        if poolid is None:
            return [{"poolid": p, "comment": estate.pools[p]} for p in visible]
        if poolid not in estate.pools:
            raise _Reply(500, f"pool '{poolid}' does not exist")
        if poolid not in visible:
            raise _Reply(403, f"Permission check failed (/pool/{poolid}, Pool.Audit)")
        members = [self._resource_guest(g) for g in estate.guests if g.pool == poolid]
        return [{"poolid": poolid, "comment": estate.pools[poolid], "members": members}]


def _agent_address(address: str) -> dict[str, Any]:
    v6 = ":" in address
    return {"ip-address": address, "ip-address-type": "ipv6" if v6 else "ipv4", "prefix": 64 if v6 else 24}


def _version(version: str) -> dict[str, str]:
    parts = re.split(r"[.-]", version)
    repoid = hashlib.sha1(version.encode()).hexdigest()[: 16 if int(parts[0]) >= 8 else 8]
    return {"version": version, "release": ".".join(parts[:2]), "repoid": repoid}


def _minor(version: str) -> int:
    parts = re.split(r"[.-]", version)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


_STANDARD_REASONS = {
    400: "Parameter verification failed.", 401: "authentication failure", 403: "Permission check failed",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    595: "No route to host", 596: "Connection timed out",
}


@contextlib.contextmanager
def fake_pve(estate: Estate | Mapping[str, Any] | None = None, **kwargs: Any) -> Iterator[FakePVE]:
    """`with fake_pve(...) as srv:` — same as `with FakePVE(...) as srv:`."""
    with FakePVE(estate, **kwargs) as server:
        yield server

