"""The thread pools collectors run hosts (and guests) in, and how they behave on Ctrl-C."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor


@contextlib.contextmanager
def worker_pool(max_workers: int, name: str = "collect") -> Iterator[ThreadPoolExecutor]:
    """A thread pool that waits for its workers when the block ends normally, but not while an exception
    (Ctrl-C above all) unwinds it: a worker stuck in network I/O until its timeout must not hold up the
    interrupt. Outer cleanup (temp files, the nightly lock) then runs at once; `cli.main` ends the process
    shortly after if such a worker is still stuck."""
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
