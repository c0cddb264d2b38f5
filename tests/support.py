"""Helpers the HTTP tests share: a free loopback port, the real server in a subprocess, and a GraphQL POST; the
``spakg`` command as an installation without some packages would run it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    """A loopback port free now and never handed out before in this test run, in any pytest-xdist worker: a port is
    free from this call until the server given it binds it (seconds, while it loads), and another worker must not
    pick it meanwhile. The ports handed out are kept in a file the run's workers share, under a lock (conftest names it)."""
    ledger = os.environ.get("SPAKG_TEST_PORT_LEDGER") or Path(tempfile.gettempdir()) / f"spakg-test-ports-{os.getpid()}"
    with open(ledger, "a+", encoding="ascii") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        f.seek(0)
        taken = {int(line) for line in f.read().split()}
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in taken:
                f.write(f"{port}\n")
                return port


def spakg(*args: str, without: tuple[str, ...] = ()) -> list[str]:
    """The command line of ``spakg ARGS``; ``without`` names packages to make unimportable, as in an installation
    without the extra that brings them (an ``import`` of one raises ImportError, as it would there)."""
    if not without:
        return [sys.executable, "-m", "spakg.cli", *args]
    block = f"import sys; sys.modules.update(dict.fromkeys({list(without)!r})); from spakg.cli import main; " \
            "sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", block, *args]


def gql(base: str, query: str, variables: dict | None = None, **kw) -> dict:
    r = httpx.post(base + "/graphql", json={"query": query, "variables": variables or {}}, timeout=30, **kw)
    assert r.headers["content-type"].startswith("application/json"), r.text
    return r.json()


@contextlib.contextmanager
def running_server(*args: str, log: Path | None = None, without: tuple[str, ...] = ()) -> Iterator[str]:
    """`spakg serve ARGS` on a free loopback port; yields its base URL. Its output goes to ``log`` if given; ``without``
    as for ``spakg``."""
    port = free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(spakg("serve", "--port", str(port), *args, without=without),
                            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"spakg serve did not start (exit {proc.poll()})") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            if log:
                out.close()
