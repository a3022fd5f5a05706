"""The ideal SSH client of the fan-out scenario, as a child process: what the reconcile cannot beat.

`python -m benchmarks.ssh_ideal --port P --user U --key K --known-hosts F --hosts N --concurrency C` opens
N SSH sessions to 127.0.0.1:P, C at a time, each connecting, authenticating with the key, running the
documented remote command once and reading all of its output, then closing. Nothing else: no parsing, no
rules, no report. It prints `{"hosts": N, "ok": N}` as JSON.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor

import paramiko

from reconciler.collect.docker_output import remote_command


def one_host(args: argparse.Namespace, command: str) -> bool:
    client = paramiko.SSHClient()
    client.load_host_keys(args.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect("127.0.0.1", port=args.port, username=args.user, key_filename=args.key, allow_agent=False,
                       look_for_keys=False, timeout=10)
        streams = client.exec_command(command, timeout=30)
        streams[1].read()
        streams[2].read()
        status = streams[1].channel.recv_exit_status()
        for stream in streams:  # closed now: a ChannelFile left to __del__ logs at interpreter exit
            stream.close()
        return status == 0
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--user", "--key", "--known-hosts"):
        parser.add_argument(name, required=True)
    for name in ("--port", "--hosts", "--concurrency"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args()
    command = remote_command(False)
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(lambda _: one_host(args, command), range(args.hosts)))
    print(json.dumps({"hosts": args.hosts, "ok": sum(results)}))


if __name__ == "__main__":
    main()
