"""Trusted CDS clients (CDS Hooks 2.0, "Trusting CDS Clients"): with ``spakg serve --cds-trust ISSUER=JWKS``, every
CDS call carries ``Authorization: Bearer <JWT>`` signed by a listed issuer, checked here with joserfc.

What a token must be, in the order it is checked (each refusal is 401 with its own code):
the header's ``alg`` an asymmetric one (never ``none``, never HMAC: a public key is not a shared secret), ``kid``
naming a key of the issuer's JWK Set, ``jku`` (if sent) one of the issuer's configured URLs; ``iss`` a listed issuer;
the signature valid; ``aud`` the URL of the endpoint called; ``exp`` not past and ``iat`` not ahead (both within
``SKEW_SECONDS``), a lifetime of at most ``MAX_LIFETIME_SECONDS``; ``jti`` not seen before while its token lives.

Keys: a JWKS file is re-read when its modification time changes; a JWKS URL is fetched with a timeout, cached for
``CACHE_SECONDS``, and fetched again early (at most every ``REFETCH_SECONDS``) when a token names a ``kid`` it lacks,
so a rotated key is picked up without a restart. A refusal logs the issuer and the code only, never the token. The
jti cache is in memory, or a SQLite file shared by the worker processes of ``--workers N``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.concurrency import run_in_threadpool

log = logging.getLogger("spakg.cds")

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
SKEW_SECONDS = 60              # clocks of the EHR and of spakg may differ this much
MAX_LIFETIME_SECONDS = 3600    # exp - iat: bounds how long a jti must be remembered
FETCH_TIMEOUT_SECONDS = 5.0
CACHE_SECONDS = 300            # a JWKS URL's keys are used this long before the next fetch
REFETCH_SECONDS = 30           # an unknown kid fetches a URL again at most this often (no client can force a storm)
MAX_JWKS_BYTES = 256 * 1024
MAX_TOKEN_BYTES = 16 * 1024


class TrustError(Exception):
    """A refused token: HTTP 401 with a code; ``issuer`` is for the log (the token's iss, or None)."""

    status = 401

    def __init__(self, code: str, message: str, issuer: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.issuer = code, message, issuer


def _load_key_set(raw: bytes, where: str) -> KeySet:
    try:
        data = orjson.loads(raw)
        if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
            raise ValueError("not a JWK Set (an object with a 'keys' array)")
        return KeySet.import_key_set(data)  # type: ignore[arg-type]
    except (ValueError, JoseError, TypeError) as e:
        raise ValueError(f"{where}: {e}") from None


class FileKeys:
    """A JWK Set in a file, re-read whenever its modification time (or size) changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._keys: KeySet | None = None

    @property
    def url(self) -> None:
        return None

    async def keys(self, refresh: bool = False) -> KeySet:
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        if st is None:
            if self._keys is None:
                raise ValueError(f"JWKS file {self.path} cannot be read")
            return self._keys  # the file is being replaced: keep the keys last read
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp or self._keys is None:
            try:
                self._keys = _load_key_set(self.path.read_bytes(), f"JWKS file {self.path}")
                self._stamp = stamp
            except (OSError, ValueError):
                if self._keys is None:
                    raise
                log.warning("JWKS file %s could not be read again; the keys read before stay in use", self.path)
        return self._keys


class UrlKeys:
    """A JWK Set at an http(s) URL: fetched with a timeout, cached, fetched again on an unknown kid (rate-limited)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._keys: KeySet | None = None
        self._fetched = -math.inf
        self._lock = asyncio.Lock()

    async def keys(self, refresh: bool = False) -> KeySet:
        age = time.monotonic() - self._fetched
        if self._keys is not None and age < CACHE_SECONDS and not (refresh and age >= REFETCH_SECONDS):
            return self._keys
        if self._lock.locked() and self._keys is not None and not refresh:
            return self._keys  # a fetch is under way: the keys held serve meanwhile, nobody waits on the issuer's host
        async with self._lock:  # one fetch at a time; the others then use its result
            age = time.monotonic() - self._fetched
            if self._keys is None or age >= CACHE_SECONDS or (refresh and age >= REFETCH_SECONDS):
                await self._fetch()
        if self._keys is None:
            raise ValueError(f"JWKS URL {self.url} could not be fetched")
        return self._keys

    async def _fetch(self) -> None:
        import httpx

        self._fetched = time.monotonic()  # a failure also waits REFETCH_SECONDS before the next try
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
                r = await client.get(self.url, headers={"accept": "application/json"})
            if r.status_code != 200:
                raise ValueError(f"HTTP {r.status_code}")
            if len(r.content) > MAX_JWKS_BYTES:
                raise ValueError(f"over {MAX_JWKS_BYTES} bytes")
            self._keys = _load_key_set(r.content, f"JWKS URL {self.url}")
        except (httpx.HTTPError, ValueError) as e:
            log.warning("JWKS URL %s could not be fetched (%s)%s", self.url, type(e).__name__ if isinstance(
                e, httpx.HTTPError) else e, "; the keys fetched before stay in use" if self._keys else "")


@dataclass
class Issuer:
    name: str
    sources: list[FileKeys | UrlKeys] = field(default_factory=list)

    @property
    def allowed_jku(self) -> set[str]:
        return {s.url for s in self.sources if isinstance(s, UrlKeys)}


class ReplayCache:
    """The (issuer, jti) pairs of accepted tokens, each kept until its token expires (plus the skew)."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []

    def __len__(self) -> int:
        return len(self._until)

    def add(self, issuer: str, jti: str, exp: float, now: float) -> bool:
        """False if the pair is already there (a replay); else remember it and return True."""
        while self._heap and self._heap[0][0] < now:
            _, key = heapq.heappop(self._heap)
            if self._until.get(key, math.inf) < now:
                del self._until[key]
        key = (issuer, jti)
        if key in self._until:
            return False
        self._until[key] = exp + SKEW_SECONDS
        heapq.heappush(self._heap, (exp + SKEW_SECONDS, key))
        return True


class SharedReplayCache:
    """The replay cache of ``spakg serve --workers N``: one SQLite file all the worker processes write, so a token
    accepted by one worker is refused by the others. An insert of (issuer, jti) that finds the pair alive is a replay."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")  # a lost entry on a power cut: its token has expired by then
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (issuer TEXT, jti TEXT, until REAL, "
                         "PRIMARY KEY (issuer, jti)) WITHOUT ROWID")
        self._lock = threading.Lock()
        self._adds = 0

    def add(self, issuer: str, jti: str, exp: float, now: float) -> bool:
        with self._lock:
            self._adds += 1
            if self._adds % 512 == 0:
                self._db.execute("DELETE FROM seen WHERE until < ?", (now,))
            cursor = self._db.execute("INSERT INTO seen VALUES (?, ?, ?) ON CONFLICT (issuer, jti) DO UPDATE SET "
                                      "until = excluded.until WHERE seen.until < ?", (issuer, jti, exp + SKEW_SECONDS, now))
            return cursor.rowcount == 1


def parse_trust(entries: Iterable[str]) -> dict[str, list[str]]:
    """``--cds-trust ISSUER=JWKS`` options as {issuer: [sources]}; the issuer ends at the first '=' (an issuer is a
    URL without a query, a JWKS URL may have one). Raises ValueError naming what to fix."""
    out: dict[str, list[str]] = {}
    for entry in entries:
        issuer, sep, source = entry.partition("=")
        if not sep or not issuer.strip() or not source.strip():
            raise ValueError(f"--cds-trust {entry!r}: give ISSUER=JWKS-FILE-or-URL, e.g. "
                             "https://ehr.example.org=/etc/spakg/ehr-jwks.json")
        out.setdefault(issuer.strip(), []).append(source.strip())
    return out


class CdsTrust:
    """The issuers spakg trusts and their keys; ``check`` verifies one request's bearer token."""

    def __init__(self, issuers: Mapping[str, Sequence[str]], discovery: bool = False,
                 base_url: str | None = None, replay_store: str | None = None) -> None:
        self.discovery = discovery  # whether GET /cds-services needs a token too
        self.base_url = base_url.rstrip("/") if base_url else None
        self.issuers: dict[str, Issuer] = {}
        for name, sources in issuers.items():
            issuer = self.issuers.setdefault(name, Issuer(name))
            for s in sources:
                if s.startswith(("http://", "https://")):
                    issuer.sources.append(UrlKeys(s))
                else:
                    path = Path(s).expanduser().resolve()
                    try:  # fail at start, not on the first call
                        raw = path.read_bytes()
                    except OSError as e:
                        raise ValueError(f"JWKS file {path} cannot be read ({e.strerror}).") from None
                    _load_key_set(raw, f"JWKS file {path}")
                    issuer.sources.append(FileKeys(path))
        # one process: in memory; worker processes: a file they share (``replay_store``)
        self.replays = SharedReplayCache(Path(replay_store)) if replay_store else ReplayCache()

    async def check(self, authorization: str | None, audiences: Sequence[str]) -> dict:
        """The verified claims of the request's token, or TrustError. ``audiences``: the endpoint URLs accepted."""
        try:
            return await self._check(authorization, audiences)
        except TrustError as e:
            log.warning("CDS call refused: issuer %s: %s", _printable(e.issuer), e.code)
            raise

    async def _check(self, authorization: str | None, audiences: Sequence[str]) -> dict:
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TrustError("AUTHORIZATION_REQUIRED", "This CDS service accepts only trusted CDS clients: send "
                                                       "Authorization: Bearer <JWT> signed by your EHR (CDS Hooks 2.0, "
                                                       "Trusting CDS Clients).")
        if len(token) > MAX_TOKEN_BYTES:
            raise TrustError("TOKEN_MALFORMED", f"The bearer token is over {MAX_TOKEN_BYTES} bytes.")
        try:
            compact = jws.extract_compact(token.encode("ascii"))
            header = compact.headers()
            claims = orjson.loads(compact.payload)
        except (JoseError, UnicodeError, ValueError, TypeError):
            raise TrustError("TOKEN_MALFORMED", "The bearer token is not a signed JWT (JWS compact serialization: "
                                                "header.payload.signature, base64url JSON).") from None
        if not isinstance(claims, Mapping):
            raise TrustError("TOKEN_MALFORMED", "The JWT payload is not a JSON object of claims.")
        iss = claims.get("iss") if isinstance(claims.get("iss"), str) else None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TrustError("ALG_NOT_ALLOWED", f"JWT alg {str(alg)[:20]!r} is refused: CDS Hooks forbids 'none' and "
                                                f"symmetric (HMAC) algorithms; sign with one of {', '.join(ALGORITHMS)} "
                                                "(ES384 or RS384 recommended).", iss)
        if header.get("typ") not in (None, "JWT") and str(header.get("typ")).upper() != "JWT":
            raise TrustError("TOKEN_MALFORMED", "The JWT header's typ must be 'JWT'.", iss)
        if iss is None:
            raise TrustError("CLAIM_MISSING", "The JWT has no iss claim (the issuer's URI).")
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise TrustError("UNKNOWN_ISSUER", f"Issuer {iss[:100]!r} is not trusted by this service; its operator "
                                               "lists each trusted EHR with --cds-trust ISSUER=JWKS.", iss)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TrustError("TOKEN_MALFORMED", "The JWT header needs kid: the id of the signing key in your JWK Set.",
                             iss)
        sources: list[FileKeys | UrlKeys] = issuer.sources
        jku = header.get("jku")
        if jku is not None:
            if not isinstance(jku, str) or jku not in issuer.allowed_jku:
                raise TrustError("JKU_NOT_ALLOWED", f"JWT jku {str(jku)[:100]!r} is not on this issuer's allow-list; "
                                                    "only the JWKS URLs configured for it are fetched.", iss)
            sources = [s for s in issuer.sources if s.url == jku]
        key = await _find_key(sources, kid, iss)
        try:
            await run_in_threadpool(jws.deserialize_compact, token, key, algorithms=[alg])  # off the loop: ES384 ~1 ms
        except (JoseError, ValueError, TypeError):
            raise TrustError("BAD_SIGNATURE", f"The JWT signature does not verify with key {kid[:60]!r} of "
                                              f"{iss[:100]!r} and alg {alg}.", iss) from None
        return self._claims(claims, iss, audiences)

    def _claims(self, claims: Mapping, iss: str, audiences: Sequence[str]) -> dict:
        def number(name: str) -> float:
            value = claims.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise TrustError("CLAIM_MISSING", f"The JWT needs {name}: seconds since the epoch, a number.", iss)
            return float(value)

        exp, iat = number("exp"), number("iat")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise TrustError("CLAIM_MISSING", "The JWT needs jti: a nonce unique to this token.", iss)
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
        if not auds or not all(isinstance(a, str) for a in auds):
            raise TrustError("CLAIM_MISSING", "The JWT needs aud: the URL of the CDS endpoint called.", iss)
        now = time.time()
        if exp <= now - SKEW_SECONDS:
            raise TrustError("TOKEN_EXPIRED", f"The JWT expired {now - exp:.0f} s ago; send a fresh one with each "
                                              "call.", iss)
        if iat > now + SKEW_SECONDS or (isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now + SKEW_SECONDS):
            raise TrustError("TOKEN_NOT_YET_VALID", f"The JWT is issued {iat - now:.0f} s in the future; check the "
                                                    "EHR's clock.", iss)
        if exp - iat > MAX_LIFETIME_SECONDS:
            raise TrustError("TOKEN_LIFETIME_TOO_LONG", f"The JWT lives {exp - iat:.0f} s (exp - iat); at most "
                                                        f"{MAX_LIFETIME_SECONDS} s is accepted.", iss)
        wanted = {a.rstrip("/") for a in audiences}
        if not any(a.rstrip("/") in wanted for a in auds):
            raise TrustError("WRONG_AUDIENCE", f"The JWT's aud is not this endpoint: send aud {audiences[0]}.", iss)
        if not self.replays.add(iss, jti, exp, now):
            raise TrustError("TOKEN_REPLAYED", "This JWT's jti was seen before: a token is good for one call only.",
                             iss)
        return dict(claims)


async def _find_key(sources: Sequence[FileKeys | UrlKeys], kid: str, iss: str):
    """The key named ``kid`` among the sources; on a miss, once more with the URLs fetched again (a rotated key)."""
    for refresh in (False, True):
        failures = 0
        for source in sources:
            try:
                keys = await source.keys(refresh)
            except ValueError:
                failures += 1
                continue
            try:
                return keys.get_by_kid(kid)
            except (JoseError, ValueError):
                pass
        if failures == len(sources):
            raise TrustError("JWKS_UNAVAILABLE", "The issuer's JWK Set cannot be read or fetched just now; try again "
                                                 "later (the service's log says why).", iss)
    raise TrustError("UNKNOWN_KEY", f"No key {kid[:60]!r} in the JWK Set of {iss[:100]!r}.", iss)


def _printable(issuer: str | None) -> str:
    """The issuer for a log line: quoted, cut to 100 characters, control characters escaped (it is client text)."""
    return "(none)" if issuer is None else repr(issuer[:100])
