"""Helpers the HTTP tests share: a free loopback port, the real server in a subprocess, and a GraphQL POST."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gql(base: str, query: str, variables: dict | None = None, **kw) -> dict:
    r = httpx.post(base + "/graphql", json={"query": query, "variables": variables or {}}, timeout=30, **kw)
    assert r.headers["content-type"].startswith("application/json"), r.text
    return r.json()


@contextlib.contextmanager
def running_server(*args: str, log: Path | None = None) -> Iterator[str]:
    """`spakg serve ARGS` on a free loopback port; yields its base URL. Its output goes to ``log`` if given."""
    port = free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "spakg.cli", "serve", "--port", str(port), *args],
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
