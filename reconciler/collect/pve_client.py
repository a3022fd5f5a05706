"""The guarded, GET-only HTTP client of one Proxmox VE API (proxmoxer over requests), and how its failures read.

Apart from `collect/proxmox.py` so that a run that asks no Proxmox API (`--only stacks`, a snapshot, the
demo) never imports requests, urllib3 and proxmoxer (about 0.09 s): `collect_host` imports it when it needs it.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ..config import ProxmoxHostConfig
from ..model import Reason
from .proxmox import ApiFailure

log = logging.getLogger(__name__)


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
        # Each GET goes straight to the guarded adapter with a copy of one request prepared here (proxmoxer's
        # token header included): proxmoxer's per-call resource chain and requests' per-call session work
        # (cookies, hooks, redirects, environment) cost more CPU than the request itself (docs/performance.md).
        self._adapter = adapter
        self._base = self._api._store["base_url"]
        self._template = session.prepare_request(requests.Request("GET", self._base))
        self._verify = _verify_setting(cfg)

    def get(self, path: str, /, **params: Any) -> Any:
        """GET `path` (e.g. "cluster/resources") and return its `data`, or raise ApiFailure. Positional only: a
        query parameter may itself be called `path` (`/access/permissions?path=/storage/x`)."""
        with self._count_lock:  # `+=` is not atomic across the per-guest worker threads
            self.requests += 1
        request = self._template.copy()
        request.prepare_url(f"{self._base}/{path.strip('/')}", params or None)
        try:
            response = self._adapter.send(request, timeout=self.cfg.timeout_s, verify=self._verify)
            body = response.content
        except requests.exceptions.SSLError as exc:
            raise ApiFailure(Reason.TLS_ERROR, _tls_detail(exc)) from None
        except (requests.exceptions.Timeout, TimeoutError):
            raise ApiFailure(Reason.API_TIMEOUT, f"no answer within {self.cfg.timeout_s:g} s from "
                                                 f"{self.cfg.url}") from None
        except requests.exceptions.ConnectionError as exc:
            raise ApiFailure(Reason.API_ERROR, f"{self.cfg.url}: {_connection_detail(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise ApiFailure(Reason.API_ERROR, type(exc).__name__) from None
        status = response.status_code
        if status >= 400:  # PVE says why in the reason phrase ("guest agent is not running")
            raise _classify_status(status, str(response.reason or _STATUS_TEXT.get(status, "")))
        if not 200 <= status <= 299:
            raise ApiFailure(Reason.API_ERROR, f"GET /{path}: unexpected HTTP {status}")
        try:
            return json.loads(body)["data"]
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            raise ApiFailure(Reason.API_ERROR, f"GET /{path}: response is not JSON") from None
        except (KeyError, TypeError):
            raise ApiFailure(Reason.API_ERROR, f"GET /{path}: response has no 'data' member") from None


# The standard phrase of a status whose answer has none; 595/596 are pveproxy's own (node unreachable).
_STATUS_TEXT = {**{status.value: status.phrase for status in HTTPStatus},
                595: "Errors during connection establishment, proxy handshake", 596: "Connection timed out"}


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
    for needle, said in (("Connection refused", "connection refused (is pveproxy listening on that port?)"),
                         ("Name or service not known", "the host name does not resolve"),
                         ("Temporary failure in name resolution", "the host name does not resolve (DNS)"),
                         ("No route to host", "no route to host"), ("RemoteDisconnected", "connection closed"),
                         ("IncompleteRead", "response cut short"), ("ProtocolError", "connection broken")):
        if needle in text:
            return said
    return f"connection failed ({text.splitlines()[0][:160] if text else 'no detail'})"


def server_fingerprint(url: str, timeout_s: float) -> str:
    """The SHA-256 of the certificate the server at `url` presents, in the form `fingerprint:` takes
    (`sha256:AA:BB:…`). Nothing is verified or sent: it is what a user compares with the host's own
    `pvenode cert info` before pinning it. Raises ApiFailure when no TLS handshake happens."""
    import hashlib
    import socket
    import ssl

    host, port = _host_port(url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only reading the certificate, to show it: no request follows
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock, \
                context.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise ApiFailure(Reason.TLS_ERROR if isinstance(exc, ssl.SSLError) else Reason.API_ERROR,
                         f"{url}: {exc.strerror or exc}" if isinstance(exc, OSError) else f"{url}: {exc}") from None
    if not der:
        raise ApiFailure(Reason.TLS_ERROR, f"{url}: the server sent no certificate")
    digest = hashlib.sha256(der).hexdigest().upper()
    return "sha256:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
