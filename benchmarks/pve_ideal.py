"""The ideal Proxmox client of the benchmark, as a child process: what a reconcile cannot beat.

    python -m benchmarks.pve_ideal fanout --url U --ca-file F --paths P --concurrency C
    python -m benchmarks.pve_ideal cpu --url U --ca-file F --paths P [--repeat N]

`fanout` makes exactly the requests listed in the file P (the API paths a reconcile made, in order, recorded
by the fake server): the first one alone (the listing every reconcile starts with), then the rest, C at a
time, on one keep-alive `requests.Session` whose TLS is verified against the same `ca_file`, with the same
API token header. It reads each body and parses nothing. It prints `{"requests": N, "ok": N}`.

`cpu` measures the client CPU of one request, in one thread, against a server that answers at once: the
ideal client's (`session.get(...).content`) and the reconciler's own (`ProxmoxClient.get` and the parsing
of the answer, exactly as a collection does it), the two alternating over the same paths. The fake server
runs in the parent process, so only the client's work is counted. It prints milliseconds per request.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from .estate import SECRET_ENV, TOKEN_ID


def session(ca_file: str, concurrency: int) -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # as the reconciler: the environment never overrides ca_file
    http.verify = ca_file
    http.headers["Authorization"] = f"PVEAPIToken={TOKEN_ID}={os.environ[SECRET_ENV]}"
    http.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=concurrency + 2))
    return http


def fetch(http: requests.Session, base: str, path: str) -> bool:
    response = http.get(f"{base}/{path}", timeout=30)
    response.content  # noqa: B018  (read the whole body: the reconciler does)
    # a guest agent that is not running is a 500 the reconciler reads too: every answer counts as done
    return response.status_code < 600


def fanout(args: argparse.Namespace) -> dict[str, int]:
    paths = Path(args.paths).read_text().split()
    base = f"{args.url}/api2/json"
    http = session(args.ca_file, args.concurrency)
    done = [fetch(http, base, paths[0])]
    with ThreadPoolExecutor(args.concurrency) as pool:
        done += pool.map(lambda path: fetch(http, base, path), paths[1:])
    return {"requests": len(done), "ok": sum(done)}


def cpu(args: argparse.Namespace) -> dict[str, float]:
    """Per request, in ms of this process's CPU: the ideal client and the reconciler's client + parsing."""
    from reconciler.collect import pve_parse
    from reconciler.collect.proxmox import ApiFailure
    from reconciler.collect.pve_client import ProxmoxClient
    from reconciler.config import ProxmoxHostConfig

    paths = Path(args.paths).read_text().split()
    base = f"{args.url}/api2/json"
    http = session(args.ca_file, 1)
    cfg = ProxmoxHostConfig(name="bench-pve", url=args.url, token_id=TOKEN_ID, token_secret_env=SECRET_ENV,
                            ca_file=Path(args.ca_file))
    ours = ProxmoxClient(cfg, os.environ[SECRET_ENV])

    def reconciler_get(path: str) -> None:
        try:
            data = ours.get(path)
        except ApiFailure:
            return  # an agent that is not running: the answer was read and classified
        if path.endswith("network-get-interfaces"):
            pve_parse.parse_agent_interfaces(data)
        elif path.endswith("/interfaces"):
            pve_parse.parse_lxc_interfaces(data)

    def per_request(call) -> float:  # type: ignore[no-untyped-def]
        started = time.process_time()
        for path in paths:
            call(path)
        return (time.process_time() - started) / len(paths) * 1000

    layers = {"ideal_ms": lambda path: fetch(http, base, path), "reconciler_ms": reconciler_get,
              **transport_layers(args, paths, ours)}
    for call in layers.values():  # connections opened, caches warm: the steady state of a collection
        call(paths[0])
    figures: dict[str, list[float]] = {name: [] for name in layers}
    for _ in range(args.repeat):  # alternating, so a busy moment weighs on every layer alike
        for name, call in layers.items():
            figures[name].append(per_request(call))
    return {"requests": len(paths) * args.repeat, **{name: statistics.median(v) for name, v in figures.items()}}


def transport_layers(args: argparse.Namespace, paths: list[str], ours):  # type: ignore[no-untyped-def]
    """Where a request's CPU goes, layer by layer, on the same paths: the standard library's http.client alone
    (one keep-alive connection), urllib3's pool, and the proxmoxer resource chain the reconciler used before."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    import urllib3

    url = urlsplit(args.url)
    token = {"Authorization": f"PVEAPIToken={TOKEN_ID}={os.environ[SECRET_ENV]}"}
    context = ssl.create_default_context(cafile=args.ca_file)
    connection = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=30)
    pool = urllib3.HTTPSConnectionPool(url.hostname, url.port, ca_certs=args.ca_file, maxsize=1, headers=token,
                                       retries=False)

    def bare(path: str) -> None:
        connection.request("GET", f"/api2/json/{path}", headers=token)
        connection.getresponse().read()

    def pooled(path: str) -> None:
        pool.request("GET", f"/api2/json/{path}", timeout=30).data  # noqa: B018

    def proxmoxer_chain(path: str) -> None:
        resource = ours._api
        for segment in path.split("/"):
            resource = getattr(resource, segment)
        with contextlib.suppress(Exception):  # a 500 for an agent that is not running: read, then raised
            resource.get()

    return {"http_client_ms": bare, "urllib3_ms": pooled, "proxmoxer_ms": proxmoxer_chain}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pve_ideal")
    parser.add_argument("mode", choices=("fanout", "cpu"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--paths", required=True, help="file: one API path per line, in request order")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(fanout(args) if args.mode == "fanout" else cpu(args)))


if __name__ == "__main__":
    main()
