"""How `spakg serve` builds the app: in this process, or in each of ``--workers`` uvicorn worker processes (which
rebuild it from the options in the environment, as uvicorn's factory mode wants an import string)."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette

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


class NotFit(Exception):
    """The ontology did not pass `spakg check` at start (with --watch)."""


def build_app(options: ServeOptions) -> Starlette:
    from ..knowledge import Knowledge
    from .app import create_app

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
                     cors_origins=options.cors_origins, reports=Path(options.reports) if options.reports else None)
    # Everything loaded so far lives as long as the server: out of the collector's sight, a full collection no longer
    # walks it (pauses of 12-51 ms at p99 before).
    gc.collect()
    gc.freeze()
    return app


def app_from_environment() -> Starlette:
    """uvicorn's factory for worker processes."""
    raw = json.loads(os.environ[ENV])
    raw["skip"] = tuple(raw.get("skip", ()))
    raw["cors_origins"] = tuple(raw.get("cors_origins", ()))
    return build_app(ServeOptions(**raw))


def serving_line(host: str, port: int, workers: int = 1) -> str:
    """The start-up line: where each part is served."""
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    processes = f" ({workers} worker processes)" if workers > 1 else ""
    return (f"spakg serving{processes}: explorer {base}/ · GraphQL {base}/graphql · SPARQL {base}/sparql · "
            f"CDS Hooks {base}/cds-services")


def run(options: ServeOptions, host: str, port: int, log_level: str, workers: int = 1) -> int:
    import uvicorn

    common = {"host": host, "port": port, "log_level": log_level, "access_log": False, "server_header": False}
    try:
        if workers <= 1:
            app = build_app(options)
            print(serving_line(host, port), file=sys.stderr)
            uvicorn.run(app, **common)
            return 0
        build_app(options)  # fail here, once, rather than in every worker
        os.environ[ENV] = json.dumps(dataclasses.asdict(options))
        print(serving_line(host, port, workers), file=sys.stderr)
        uvicorn.run("spakg.api.serving:app_from_environment", factory=True, workers=workers, **common)
        return 0
    except NotFit as exc:
        print("spakg: the ontology is not fit to serve; fix it and start again.\n" + str(exc), file=sys.stderr)
        return 1

