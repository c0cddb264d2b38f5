"""Helpers the HTTP tests share: a free loopback port and a GraphQL POST."""

from __future__ import annotations

import socket

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gql(base: str, query: str, variables: dict | None = None, **kw) -> dict:
    r = httpx.post(base + "/graphql", json={"query": query, "variables": variables or {}}, timeout=30, **kw)
    assert r.headers["content-type"].startswith("application/json"), r.text
    return r.json()
