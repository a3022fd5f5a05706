"""Live guests from one Proxmox VE API (proxmoxer), read-only by construction.

Requests per host: one `GET /cluster/resources` (guests, node states and storage in one answer),
`GET /access/permissions` only when a declared guest is absent from that listing, and one detail
request per running guest whose declared LAN IP must be checked (in a bounded thread pool).
Every failure becomes a `Gap` with a reason code; only a refused token or a failed TLS check
is fatal for that host (and makes the run exit 2), and even then other hosts are still reported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ..config import ProxmoxHostConfig
from ..model import AuditScope, Gap, GuestType, LiveGuest, ProxmoxObservation, Reason, SourceStatus
from . import pve_parse
from .pool import worker_pool
from .pve_parse import AgentError, ShapeError

log = logging.getLogger(__name__)

# Reasons that mean the host's answers cannot be trusted at all: the run must fail (exit 2).
FATAL_REASONS = frozenset({Reason.AUTH_FAILED, Reason.TLS_ERROR})


class ReadOnlyViolation(RuntimeError):
    """Raised before any non-GET request leaves the process."""


class _GuardedAdapter(HTTPAdapter):
    """Refuses every method but GET and optionally pins the server certificate's SHA-256."""

    def __init__(self, fingerprint: str | None, pool_size: int) -> None:
        self._fingerprint = fingerprint
        super().__init__(pool_connections=1, pool_maxsize=pool_size)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._fingerprint:
            # urllib3 compares the DER certificate's digest; the chain is not consulted.
            kwargs["assert_fingerprint"] = self._fingerprint.split(":", 1)[1].replace(":", "").lower()
        super().init_poolmanager(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.method != "GET":
            raise ReadOnlyViolation(f"refusing {request.method} {request.path_url}: the reconciler is read-only")
        return super().send(request, *args, **kwargs)


class ApiFailure(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class ProxmoxClient:
    """The one place a Proxmox API client is built. Only `get` exists."""

    def __init__(self, cfg: ProxmoxHostConfig, secret: str) -> None:
        from proxmoxer import ProxmoxAPI  # imported lazily: it disables urllib3 warnings globally

        self.cfg = cfg
        self.requests = 0
        self._count_lock = threading.Lock()
        if cfg.ca_file is not None and not cfg.ca_file.is_file():
            # requests would only fail at the first request, with an OSError that names no setting
            raise ApiFailure(Reason.TLS_ERROR, f"ca_file {cfg.ca_file} is not a readable file ({cfg.where})")
        host, port = _host_port(cfg.url)
        user, token_name = cfg.token_id.split("!", 1)
        self._api = ProxmoxAPI(
            host, port=port, user=user, token_name=token_name, token_value=secret,
            verify_ssl=_verify_setting(cfg), timeout=cfg.timeout_s, service="PVE",
        )
        session: requests.Session = self._api._store["session"]
        # The environment (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) must never override ca_file or a pin.
        session.trust_env = False
        adapter = _GuardedAdapter(cfg.fingerprint, pool_size=max(cfg.concurrency, 1) + 2)
        session.mount("https://", adapter)
        session.mount("http://", adapter)

    def get(self, path: str, **params: Any) -> Any:
        """GET `path` (e.g. "cluster/resources") and return its `data`, or raise ApiFailure."""
        from proxmoxer.core import ResourceException

        with self._count_lock:  # `+=` is not atomic across the per-guest worker threads
            self.requests += 1
        try:
            resource = self._api
            for segment in path.strip("/").split("/"):
                resource = getattr(resource, segment)
            data = resource.get(**params)
        except ResourceException as exc:
            raise _classify_status(exc.status_code, str(exc.content or exc.status_message)) from None
        except requests.exceptions.SSLError as exc:
            raise ApiFailure(Reason.TLS_ERROR, _tls_detail(exc)) from None
        except (requests.exceptions.Timeout, TimeoutError):
            raise ApiFailure(Reason.API_TIMEOUT, f"no answer within {self.cfg.timeout_s:g} s") from None
        except requests.exceptions.ConnectionError as exc:
            raise ApiFailure(Reason.API_ERROR, _connection_detail(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise ApiFailure(Reason.API_ERROR, type(exc).__name__) from None
        except ValueError:
            raise ApiFailure(Reason.API_ERROR, f"GET /{path}: response is not JSON") from None
        except (KeyError, TypeError):
            # proxmoxer indexes the body with ["data"]: a JSON answer of another shape lands here
            raise ApiFailure(Reason.API_ERROR, f"GET /{path}: response has no 'data' member") from None
        if isinstance(data, dict) and set(data) == {"errors"}:
            # proxmoxer's way of saying "2xx, but the body was not JSON"
            raise ApiFailure(Reason.API_ERROR, f"GET /{path}: response is not JSON")
        return data


def _host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 8006


def _verify_setting(cfg: ProxmoxHostConfig) -> bool | str:
    if cfg.fingerprint or not cfg.verify_tls:
        return False  # a pin replaces chain validation; verify_tls: false is warned about by the CLI
    return str(cfg.ca_file) if cfg.ca_file else True


def _classify_status(status: int, message: str) -> ApiFailure:
    message = " ".join(message.split()) or f"HTTP {status}"
    if status == 401:
        return ApiFailure(Reason.AUTH_FAILED, f"401 {message}")
    if status == 403:
        return ApiFailure(Reason.NO_PERMISSION, f"403 {message}")
    if status in (595, 596):
        return ApiFailure(Reason.NODE_OFFLINE, f"{status} {message}")
    lowered = message.lower()
    if "guest agent is not running" in lowered:
        return ApiFailure(Reason.AGENT_NOT_RUNNING, message)
    if "no qemu guest agent configured" in lowered:
        return ApiFailure(Reason.AGENT_NOT_CONFIGURED, message)
    return ApiFailure(Reason.API_ERROR, f"{status} {message}")


def _tls_detail(exc: Exception) -> str:
    text = str(exc)
    if "Fingerprints did not match" in text or "fingerprint" in text.lower():
        return "server certificate does not match the pinned fingerprint"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "server certificate could not be verified (set ca_file or fingerprint)"
    return "TLS handshake failed"


def _connection_detail(exc: Exception) -> str:
    text = str(exc)
    for needle, said in (("Connection refused", "connection refused"), ("Name or service not known", "unknown host"),
                         ("No route to host", "no route to host"), ("RemoteDisconnected", "connection closed"),
                         ("IncompleteRead", "response cut short"), ("ProtocolError", "connection broken")):
        if needle in text:
            return said
    return "connection failed"


# ── collection ───────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class DetailPlan:
    """What the comparison needs beyond the listing.

    `ips_for`: vmids whose addresses are compared (None: every running guest, for snapshots).
    `expected`: vmids declared as existing; if any is absent, permissions are checked.
    `verify_audit`: always read the token's permissions (snapshots: later bindings may declare guests
    that today's did not, and the snapshot must say truthfully which of them the token could see).
    """

    ips_for: frozenset[int] | None = frozenset()
    expected: frozenset[int] = frozenset()
    verify_audit: bool = False


def collect_host(cfg: ProxmoxHostConfig, site: str, plan: DetailPlan) -> ProxmoxObservation:
    """Observe one Proxmox host. Never raises for API trouble: it is reported in the observation."""
    try:
        client = ProxmoxClient(cfg, cfg.token_secret())
    except ApiFailure as exc:
        return _failed(cfg, site, exc.reason, exc.detail, 0)
    try:
        listing = pve_parse.parse_cluster_resources(client.get("cluster/resources"), cfg.name)
    except ApiFailure as exc:
        return _failed(cfg, site, exc.reason, exc.detail, client.requests)
    except (ShapeError, KeyError, ValueError) as exc:
        return _failed(cfg, site, Reason.API_ERROR, f"unexpected /cluster/resources answer: {exc}", client.requests)

    offline = frozenset(node for node, state in listing.node_status.items() if state != "online")
    gaps: list[Gap] = [
        Gap("node", Reason.NODE_OFFLINE, f"node {node} is {listing.node_status[node]}",
            proxmox_host=cfg.name, node=node)
        for node in sorted(offline)
    ]
    audit = _audit_scope(client, listing.guests, plan, gaps, cfg.name)
    guests = _with_addresses(client, listing.guests, plan, gaps, cfg)
    degraded = bool(gaps)
    status = SourceStatus(
        kind="proxmox", host=cfg.name, site=site, status="partial" if degraded else "ok",
        detail=f"{len(guests)} guests" + (f", {len(gaps)} not fully observed" if degraded else ""),
        requests=client.requests,
    )
    return ProxmoxObservation(
        proxmox_host=cfg.name, site=site, listed=True, guests=tuple(guests), offline_nodes=offline,
        audit=audit, gaps=tuple(gaps), status=status,
    )


def _failed(cfg: ProxmoxHostConfig, site: str, reason: Reason, detail: str, count: int) -> ProxmoxObservation:
    gap = Gap("host", reason, detail, proxmox_host=cfg.name)
    status = SourceStatus("proxmox", cfg.name, site, "failed", reason, detail, count)
    return ProxmoxObservation(proxmox_host=cfg.name, site=site, listed=False, gaps=(gap,), status=status)


def _audit_scope(client: ProxmoxClient, guests: Iterable[LiveGuest], plan: DetailPlan,
                 gaps: list[Gap], host: str) -> AuditScope:
    """Ask for permissions only when a declared guest is absent: otherwise there is nothing to doubt."""
    listed = {guest.vmid for guest in guests}
    if not plan.verify_audit and plan.expected <= listed:
        return AuditScope(known=True, everything=True)
    try:
        return pve_parse.parse_permissions(client.get("access/permissions"))
    except (ApiFailure, ShapeError) as exc:
        detail = exc.detail if isinstance(exc, ApiFailure) else str(exc)
        gaps.append(Gap("host", Reason.NO_PERMISSION, f"cannot read token permissions: {detail}", proxmox_host=host))
        return AuditScope(known=False)


def _with_addresses(client: ProxmoxClient, guests: tuple[LiveGuest, ...], plan: DetailPlan,
                    gaps: list[Gap], cfg: ProxmoxHostConfig) -> list[LiveGuest]:
    wanted = [g for g in guests if g.status == "running" and not g.template
              and (plan.ips_for is None or g.vmid in plan.ips_for)]
    if not wanted:
        return list(guests)
    with worker_pool(min(cfg.concurrency, len(wanted)), "pve-guest") as pool:
        results = dict(zip((g.key for g in wanted), pool.map(lambda g: _addresses(client, g), wanted), strict=True))
    observed = []
    for guest in guests:
        outcome = results.get(guest.key)
        if isinstance(outcome, Gap):
            gaps.append(outcome)
        elif outcome is not None:
            guest = replace(guest, ips=outcome)
        observed.append(guest)
    return observed


def _addresses(client: ProxmoxClient, guest: LiveGuest) -> tuple[str, ...] | Gap:
    base = f"nodes/{guest.node}/{guest.vm_type.value}/{guest.vmid}"
    try:
        if guest.vm_type is GuestType.QEMU:
            return pve_parse.parse_agent_interfaces(client.get(f"{base}/agent/network-get-interfaces"))
        return pve_parse.parse_lxc_interfaces(client.get(f"{base}/interfaces")) or ()
    except ApiFailure as exc:
        reason = exc.reason
        if guest.vm_type is GuestType.LXC and reason is Reason.API_ERROR and exc.detail.startswith("501 "):
            exc.detail = "this PVE version has no LXC interfaces endpoint (needs 8.1+)"
        return Gap("guest_ips", reason, exc.detail, proxmox_host=guest.proxmox_host, node=guest.node, vmid=guest.vmid)
    except AgentError as exc:
        return Gap("guest_ips", Reason.AGENT_ERROR, f"guest agent error: {exc}",
                   proxmox_host=guest.proxmox_host, node=guest.node, vmid=guest.vmid)
    except ShapeError as exc:
        return Gap("guest_ips", Reason.API_ERROR, str(exc), proxmox_host=guest.proxmox_host,
                   node=guest.node, vmid=guest.vmid)
