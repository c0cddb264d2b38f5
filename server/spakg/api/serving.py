"""How `spakg serve` builds the app: in this process, or in each of ``--workers`` uvicorn worker processes (which
rebuild it from the options in the environment, as uvicorn's factory mode wants an import string)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette

from .collector import tune_gc
from .limits import Limits

ENV = "SPAKG_SERVE_OPTIONS"


@dataclass(frozen=True)
class ServeOptions:
    ontology: str | None = None
    watch: bool = False
    skip: tuple[str, ...] = ()
    introspection: bool = True
    graphiql: bool = True
    limits: dict = field(default_factory=dict)   # Limits fields to change
    cors_origins: tuple[str, ...] = ()            # browser origins allowed to call (a CDS Hooks sandbox, an app)
    reports: str | None = None                    # a directory of cohort reports for the explorer
    cds_trust: tuple[str, ...] = ()               # ISSUER=JWKS-FILE-or-URL: only these EHRs may call CDS Hooks
    cds_trust_discovery: bool = False             # with cds_trust: GET /cds-services needs a token too
    cds_base_url: str | None = None               # the public base URL a token's aud names (default: the request's)
    cds_replay_store: str | None = None           # set by run() for worker processes: their shared jti cache


class NotFit(Exception):
    """The ontology did not pass `spakg check` at start (with --watch)."""


class BadTrust(Exception):
    """A --cds-trust option that cannot be used (its JWKS file unreadable, not a JWK Set)."""


def cds_trust_from(options: ServeOptions):
    """The CdsTrust for --cds-trust, or None (the CDS service then stays open to any caller)."""
    if not options.cds_trust:
        return None
    from .cds_trust import CdsTrust, parse_trust

    try:
        return CdsTrust(parse_trust(options.cds_trust), discovery=options.cds_trust_discovery,
                        base_url=options.cds_base_url, replay_store=options.cds_replay_store)
    except (OSError, ValueError) as e:
        raise BadTrust(str(e)) from None


def cds_access_line(options: ServeOptions) -> str:
    if not options.cds_trust:
        return "CDS Hooks open to any caller (no --cds-trust)"
    n = len({entry.partition("=")[0].strip() for entry in options.cds_trust})
    return (f"CDS Hooks trusted-only ({n} issuer{'s' * (n != 1)}; discovery "
            f"{'too' if options.cds_trust_discovery else 'open'})")


def build_app(options: ServeOptions) -> Starlette:
    from ..knowledge import Knowledge
    from .app import create_app

    trust = cds_trust_from(options)  # before the ontology loads: a bad --cds-trust fails at once
    limits = Limits(**options.limits)
    directory = Path(options.ontology) if options.ontology else None
    watch = None
    if options.watch:
        from ..checks import run_checks
        from ..resources import competency_dir_if_any, default_ontology_dir
        from .reload import WatchSettings

        directory = (directory or default_ontology_dir()).resolve()
        watch = WatchSettings(directory, competency_dir_if_any(), options.skip)
        report = run_checks(directory, skip=watch.skip, competency_dir=watch.competency_dir)
        if not report.ok:
            raise NotFit(report.as_text())
        knowledge = report.knowledge
    else:
        knowledge = Knowledge.load(directory, max_findings=limits.max_findings)
    knowledge.facts.max_findings = limits.max_findings
    app = create_app(knowledge, limits, watch=watch, introspection=options.introspection, graphiql=options.graphiql,
                     cors_origins=options.cors_origins, reports=Path(options.reports) if options.reports else None,
                     cds_trust=trust)
    tune_gc()
    # Documents are parsed and validated in threads, off the event loop, but under the same GIL: at Python's default
    # 5 ms switch interval the loop waited behind them (a /healthz p99 of ~290 ms while new documents arrived).
    sys.setswitchinterval(SWITCH_SECONDS)
    return app


SWITCH_SECONDS = 0.0005


def app_from_environment() -> Starlette:
    """uvicorn's factory for worker processes."""
    raw = json.loads(os.environ[ENV])
    raw["skip"] = tuple(raw.get("skip", ()))
    raw["cors_origins"] = tuple(raw.get("cors_origins", ()))
    raw["cds_trust"] = tuple(raw.get("cds_trust", ()))
    return build_app(ServeOptions(**raw))


def serving_line(host: str, port: int, workers: int = 1) -> str:
    """The start-up line: where each part is served."""
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    processes = f" ({workers} worker processes)" if workers > 1 else ""
    return (f"spakg serving{processes}: explorer {base}/ · GraphQL {base}/graphql · SPARQL {base}/sparql · "
            f"CDS Hooks {base}/cds-services")


def run(options: ServeOptions, host: str, port: int, log_level: str, workers: int = 1) -> int:
    import uvicorn

    from .protocol import SpakgHttpProtocol

    # SpakgHttpProtocol: uvicorn's httptools protocol with a limit on the headers' size and coded JSON for malformed HTTP
    common = {"host": host, "port": port, "log_level": log_level, "access_log": False, "server_header": False,
              "http": SpakgHttpProtocol}
    try:
        if workers <= 1:
            app = build_app(options)
            print(f"{serving_line(host, port)}; {cds_access_line(options)}", file=sys.stderr)
            uvicorn.run(app, **common)
            return 0
        build_app(options)  # fail here, once, rather than in every worker
        if options.cds_trust:  # a token one worker accepted must be refused by the others
            shared = tempfile.TemporaryDirectory(prefix="spakg-cds-replay-")
            options = dataclasses.replace(options, cds_replay_store=str(Path(shared.name) / "jti.sqlite3"))
        os.environ[ENV] = json.dumps(dataclasses.asdict(options))
        print(f"{serving_line(host, port, workers)}; {cds_access_line(options)}", file=sys.stderr)
        uvicorn.run("spakg.api.serving:app_from_environment", factory=True, workers=workers, **common)
        return 0
    except NotFit as exc:
        print("spakg: the ontology is not fit to serve; fix it and start again.\n" + str(exc), file=sys.stderr)
        return 1
    except BadTrust as exc:
        print(f"spakg: --cds-trust: {exc}", file=sys.stderr)
        return 2

