"""The ``spakg`` command: serve, assess, check, regress, quote, bench."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import sys
from datetime import date
from pathlib import Path

from .checks.runner import CHECK_IDS
from .errors import InvalidFacts, OntologyError, SpakgError


def _knowledge(args):
    from .knowledge import Knowledge

    return Knowledge.load(args.ontology)


def cmd_serve(args) -> int:
    import logging

    from .api.serving import ServeOptions, run

    if args.skip and not args.watch:
        print("error: --skip names checks to leave out before a reload; it only goes with --watch.", file=sys.stderr)
        return 2
    if (args.cds_trust_discovery or args.cds_base_url) and not args.cds_trust:
        print("error: --cds-trust-discovery and --cds-base-url go with --cds-trust ISSUER=JWKS.", file=sys.stderr)
        return 2
    if args.watch and "hermit" not in args.skip:
        from .extras import require

        require("hermit", "--watch (it runs spakg check, HermiT included, before each reload)", "or add --skip hermit")
    taken = _port_taken(args.host, args.port)
    if taken:
        print(f"error: cannot serve on {args.host}:{args.port}: {taken}; choose another port with --port "
              f"{args.port + 1}, or stop the server that holds it.", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:  %(name)s: %(message)s")
    limits = {} if args.sparql_timeout is None else {"sparql_timeout_seconds": args.sparql_timeout}
    options = ServeOptions(str(args.ontology) if args.ontology else None, args.watch, tuple(args.skip),
                           introspection=not args.no_introspection, graphiql=not args.no_graphiql, limits=limits,
                           cors_origins=tuple(args.cors_origin),
                           reports=str(args.reports.resolve()) if args.reports else None,
                           cds_trust=tuple(args.cds_trust), cds_trust_discovery=args.cds_trust_discovery,
                           cds_base_url=args.cds_base_url)
    return run(options, args.host, args.port, args.log_level, args.workers)


JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


def _port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound now (in use, not an address of this machine), or None. Checked before the
    ontology loads, so a taken port is said at once and plainly rather than by uvicorn after the load."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as err:
        return f"{host} is not a host name or address here ({err.strerror})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closing socket is no obstacle
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return "the port is already in use (another spakg serve, or another program)"
            return (err.strerror or str(err)).lower()
    return None


def _read_patients(knowledge, source: str, as_of=None):
    """Assessments one patient at a time from a file (or stdin, ``-``). JSON lines (each line a complete record or a
    FHIR Bundle) are streamed, so memory stays flat however many patients; Turtle, JSON-LD, and a JSON object or list
    spread over lines (a FHIR Bundle among them) are read whole. The format comes from the suffix, else from the
    content, as before streaming. An error names the file and where in it (line, column or record)."""
    import orjson

    from .assessment import Assessment
    from .fhir.assess import assess_bundle
    from .input_errors import json_error

    name = "stdin" if source == "-" else source

    def located(err: SpakgError, where: str = "") -> SpakgError:
        err.message = f"{name}{', ' + where if where else ''}: {err.message}"
        return err

    def assess(record, where: str = ""):
        try:
            if isinstance(record, dict) and record.get("resourceType") == "Bundle":
                return assess_bundle(knowledge, record, as_of)
            return Assessment(knowledge, knowledge.facts.read(record))
        except SpakgError as err:
            raise located(err, where) from None

    def parse(text: str, line: int):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as err:
            raise located(json_error(err, line)) from None

    def rdf(text: str, fmt: str):
        try:
            patients = knowledge.patients_from_rdf(text, fmt)
        except SpakgError as err:
            raise located(err) from None
        return (Assessment(knowledge, f) for f in patients)

    suffix = "" if source == "-" else Path(source).suffix.lower()
    stream = sys.stdin if source == "-" else open(source, encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        lines = enumerate(stream, start=1)
        number, first = next(((n, line) for n, line in lines if line.strip()), (0, ""))
        if not first:
            return
        looks_rdf = suffix not in JSON_SUFFIXES and not first.lstrip().startswith(("{", "["))
        if suffix in (".ttl", ".turtle", ".jsonld") or looks_rdf or '"@context"' in first:
            text = "\n" * (number - 1) + first + stream.read()  # the blank lines kept: errors name the file's lines
            fmt = "json-ld" if suffix == ".jsonld" or '"@context"' in text[:2000] else "turtle"
            yield from rdf(text, fmt)
            return
        try:
            record = orjson.loads(first)
        except orjson.JSONDecodeError:  # one JSON document over several lines
            text = first + stream.read()
            if '"@context"' in text[:2000]:
                yield from rdf("\n" * (number - 1) + text, "json-ld")
                return
            data = parse(text, number)
            if isinstance(data, list):
                yield from (assess(r, f"record {i}") for i, r in enumerate(data, start=1))
            else:
                yield assess(data)
            return
        if isinstance(record, list):
            yield from (assess(r, f"line {number}, record {i}") for i, r in enumerate(record, start=1))
        else:
            yield assess(record, f"line {number}")
        for n, line in lines:
            if line.strip():
                yield assess(parse(line, n), f"line {n}")
    except UnicodeDecodeError as err:
        raise InvalidFacts(f"{name}: not UTF-8 text (a byte {err.object[err.start]:#04x}); save it as UTF-8.") from None
    finally:
        if stream is not sys.stdin:
            stream.close()


def cmd_assess(args) -> int:
    import orjson

    from .assessment import summary_from
    from .proof import assessment_json
    from .prov import assessment_graph
    from .rules import STATUS_NAMES

    knowledge = _knowledge(args)
    rules = knowledge.rules.order
    progress = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        progress = tqdm(unit=" patients", file=sys.stderr)
    write = sys.stdout.buffer.write  # JSON lines as UTF-8 bytes, encoded by orjson
    for a in _read_patients(knowledge, args.file, args.as_of):
        fhir = {"fhir": a.origin.as_dict()} if a.origin is not None else {}
        if args.format == "turtle":
            write(assessment_graph(a).serialize(format="turtle").encode("utf-8"))
        elif args.detail == "proof":
            proof = assessment_json(a)
            write((proof[:-1] + b"," + orjson.dumps(fhir)[1:] if fhir else proof) + b"\n")
        elif args.detail == "outcomes":
            write(orjson.dumps({"id": a.patient_id, **{r.id: STATUS_NAMES[s] for r, s in zip(rules, a.statuses,
                                                                                               strict=True)}, **fhir})
                  + b"\n")
        else:
            summary = {r.id: {"status": STATUS_NAMES[s], "summary": summary_from(r, a.proof)}
                       for r, s in zip(rules, a.statuses, strict=True)}
            write(orjson.dumps({"id": a.patient_id, "rules": summary, **fhir}) + b"\n")
        if progress is not None:
            progress.update()
    if progress is not None:
        progress.close()
    sys.stdout.flush()
    return 0


def cmd_synth(args) -> int:
    from .synth import write_cohort

    if not args.fhir and not args.out.endswith(".jsonl"):
        from .extras import require

        require("cohort", "spakg synth --out *.parquet", "or write JSON lines (--out cohort.jsonl)")

    knowledge = _knowledge(args)
    n = write_cohort(knowledge, args.n, args.out, seed=args.seed, fhir=args.fhir)
    print(f"wrote {n:,} synthetic patients to {args.out} (synthetic: never real patients)", file=sys.stderr)
    return 0


def cmd_screen(args) -> int:
    from .extras import require

    require("cohort", "spakg screen")
    from .cohort_report import build_report
    from .screen import screen

    ontology = str(args.ontology) if args.ontology else None
    run = screen(Path(args.cohort), Path(args.out), ontology, workers=args.workers, scheduler=args.scheduler,
                 as_of=args.as_of)
    report = build_report(_knowledge(args), run.out, Path(args.cohort), seconds=run.seconds, as_of=args.as_of)
    print(report.as_text())
    print(f"\n{run.patients / run.seconds:,.0f} patients/s ({run.patients:,} in {run.seconds:.1f} s, "
          f"{'scheduler ' + args.scheduler if args.scheduler else f'{args.workers} local workers'})", file=sys.stderr)
    for path, text in ((args.report_json, lambda: json.dumps(report.as_dict(), indent=2)),
                       (args.report_html, report.as_html)):
        if path:  # an output's folder is made, as --out's is
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text(), encoding="utf-8")
    return 0


def cmd_quote(args) -> int:
    from .article import Article
    from .quotes import evidence_turtle

    article = Article.load()
    count = article.occurrences(args.text)
    if count < args.occurrence:
        found = "not in the article verbatim" if count == 0 else f"in the article only {count} time(s)"
        print(f"error [QUOTE_NOT_FOUND]: {args.text!r} is {found}.", file=sys.stderr)
        closest = difflib.get_close_matches(args.text, [s.text for s in article.sentences], n=1, cutoff=0.3)
        if closest:
            print(f"the closest sentence: {closest[0]!r}", file=sys.stderr)
        print("Copy the words exactly from seeds/inflammatory-back-pain.txt (its quotes, dashes and spacing).",
              file=sys.stderr)
        return 2
    if count > 1 and args.occurrence == 1:
        print(f"# note: the quote occurs {count} times; this is the first (use --occurrence N)", file=sys.stderr)
    print(evidence_turtle(article, args.id, args.text, args.occurrence))
    return 0


def cmd_check(args) -> int:
    from .checks import run_checks
    from .checks.competency import questions, to_csv
    from .resources import competency_dir_if_any, default_ontology_dir

    cq_dir = args.competency or competency_dir_if_any()
    if (args.competency and not args.competency.is_dir()) or (args.show_answers and cq_dir is None):
        print(f"error: no competency questions directory at {args.competency}; give --competency DIR.", file=sys.stderr)
        return 2
    if args.show_answers:
        from .knowledge import parse_ontology

        graph = parse_ontology(args.ontology or default_ontology_dir())
        for cq in questions(cq_dir):
            print(f"# {cq.expected_path.name}: {cq.question}\n{to_csv(cq.answer(graph))}")
        return 0
    report = run_checks(args.ontology or default_ontology_dir(), skip=args.skip, competency_dir=cq_dir)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if args.format == "json" else report.as_text())
    return 0 if report.ok else 1


def cmd_regress(args) -> int:
    from .regress import regress
    from .resources import default_ontology_dir, vignettes_dir
    from .vignettes import load_vignettes

    vignettes = load_vignettes(args.vignettes or vignettes_dir())
    report = regress(args.against, args.ontology or default_ontology_dir(), vignettes)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if args.format == "json" else report.as_text(), end="")
    return 1 if report.changed else 0


def cmd_bench(args) -> int:
    from .bench import run
    from .extras import require

    if args.cohort:
        require("cohort", "spakg bench --cohort")
    if not args.quick:
        require("bench", "spakg bench (its owlrl, reasonable and HermiT baselines)", "or give --quick for spakg's own figures")

    run(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spakg", description="Spondyloarthritis knowledge graph")
    parser.add_argument("--ontology", type=Path, default=None, help="ontology directory (default: the embedded one)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the GraphQL API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--watch", action="store_true",
                       help="reload the ontology when its files change, once `spakg check` finds no error in it")
    serve.add_argument("--skip", action="append", default=[], choices=CHECK_IDS, metavar="CHECK",
                       help="with --watch: a check not to run before a reload (repeatable)")
    serve.add_argument("--workers", type=int, default=1, help="server processes sharing the port (default 1)")
    serve.add_argument("--no-introspection", action="store_true", help="refuse GraphQL schema introspection")
    serve.add_argument("--no-graphiql", action="store_true", help="no GraphiQL page for browsers at /graphql")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="a browser origin allowed to call the service, e.g. a CDS Hooks sandbox (repeatable; "
                            "none by default)")
    serve.add_argument("--reports", type=Path, default=None, metavar="DIR",
                       help="a directory of cohort reports (spakg screen --report-json) for the explorer to show at "
                            "/cohorts")
    serve.add_argument("--sparql-timeout", type=float, default=None, metavar="SECONDS",
                       help="wall-clock limit of one SPARQL query (default 5)")
    serve.add_argument("--cds-trust", action="append", default=[], metavar="ISSUER=JWKS",
                       help="only this EHR may call CDS Hooks: its JWT issuer and JWK Set (a file, re-read on change, "
                            "or an http(s) URL, also the allowed jku) (repeatable; without it the service is open)")
    serve.add_argument("--cds-trust-discovery", action="store_true",
                       help="with --cds-trust: GET /cds-services needs a token too (open by default)")
    serve.add_argument("--cds-base-url", default=None, metavar="URL",
                       help="with --cds-trust: the public base URL EHRs call, which a token's aud names, e.g. "
                            "https://cds.example.org (default: the request's own)")
    serve.set_defaults(func=cmd_serve)

    assess = sub.add_parser("assess", help="assess patients from a file (Turtle, JSON-LD, JSON, JSON lines or FHIR R4 "
                                           "Bundles; - for stdin)")
    assess.add_argument("file")
    assess.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                        help="FHIR: count ages and durations to this date (default: each Bundle's timestamp, else today)")
    assess.add_argument("--format", choices=["json", "turtle"], default="json", help="turtle: the PROV-O proof")
    assess.add_argument("--detail", choices=["outcomes", "summary", "proof"], default="summary",
                        help="per patient and line: each rule's status; with its one-line summary; the whole proof")
    assess.set_defaults(func=cmd_assess)

    quote = sub.add_parser("quote", help="print a provenance resource (with offsets) for a verbatim quote of the article")
    quote.add_argument("id", help="local name for the quote resource, e.g. q-my-quote")
    quote.add_argument("text")
    quote.add_argument("--occurrence", type=int, default=1)
    quote.set_defaults(func=cmd_quote)

    check = sub.add_parser("check", help="is the ontology fit to serve? (exit status 1 on any error)")
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.add_argument("--skip", action="append", default=[], choices=CHECK_IDS, metavar="CHECK",
                       help=f"skip a check (repeatable): {', '.join(CHECK_IDS)}")
    check.add_argument("--competency", type=Path, default=None,
                       help="directory of competency questions (default: queries/competency)")
    check.add_argument("--show-answers", action="store_true",
                       help="print each competency question's current answer as its expected-answer CSV, and exit")
    check.set_defaults(func=cmd_check)

    regress = sub.add_parser("regress", help="which rule outcomes each vignette changes between two ontology versions "
                                             "(exit status 1 if any)")
    regress.add_argument("--against", required=True, metavar="REV-or-DIR",
                         help="the older version: a directory, or a git revision (e.g. main, HEAD~1)")
    regress.add_argument("--vignettes", type=Path, default=None, help="vignettes directory (default: tests/vignettes)")
    regress.add_argument("--format", choices=["text", "json"], default="text")
    regress.set_defaults(func=cmd_regress)

    bench = sub.add_parser("bench", help="benchmark the reasoner against owlrl and HermiT, and the running server")
    bench.add_argument("--patients", type=int, default=10000)
    bench.add_argument("--baseline-patients", type=int, default=1000,
                       help="patients for the batched baselines (the first 10 are also timed one per run)")
    bench.add_argument("--hermit-patients", type=int, default=1000)
    bench.add_argument("--server", default=None, help="URL of a running spakg server to load-test, e.g. http://127.0.0.1:8000")
    bench.add_argument("--requests", type=int, default=2000)
    bench.add_argument("--quick", action="store_true",
                       help="a first look: no baselines, 1,000 patients, small FHIR Bundles and cohorts")
    bench.add_argument("--cohort", action="store_true",
                       help="also time spakg screen against cohort size (10^3..10^6) and findings per patient")
    bench.set_defaults(func=cmd_bench)

    synth = sub.add_parser("synth", help="write a synthetic cohort (JSON lines or Parquet); never real patients")
    synth.add_argument("--n", type=int, default=10_000)
    synth.add_argument("--out", required=True, help="cohort.jsonl or cohort.parquet; with --fhir, a .jsonl of Bundles or "
                                                    "a directory of Bundle files")
    synth.add_argument("--seed", type=int, default=1)
    synth.add_argument("--fhir", nargs="?", const="bundles", choices=["bundles", "bulk"], default=None,
                       help="write FHIR R4: a Bundle per patient (--fhir), or a Bulk Data export of NDJSON files "
                            "by resource type (--fhir bulk, into a directory)")
    synth.set_defaults(func=cmd_synth)

    scr = sub.add_parser("screen", help="screen a cohort (JSON lines or Parquet) on Dask; Parquet out, a report")
    scr.add_argument("cohort", help="cohort.jsonl (records or FHIR Bundles), cohort.parquet, a directory of Parquet "
                                    "files, of FHIR Bundle files (*.json) or of a FHIR Bulk Data export (*.ndjson)")
    scr.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                     help="FHIR: count ages and durations to this date (default: each Bundle's timestamp, else today)")
    scr.add_argument("--out", required=True, help="directory for the results (Parquet parts)")
    scr.add_argument("--workers", type=int, default=2, help="local Dask worker processes (default 2)")
    scr.add_argument("--scheduler", default=None, help="an existing Dask cluster, e.g. tcp://host:8786")
    scr.add_argument("--report-json", default=None, metavar="FILE")
    scr.add_argument("--report-html", default=None, metavar="FILE")
    scr.set_defaults(func=cmd_screen)

    soak = sub.add_parser("soak", help="mixed and hostile traffic against a fresh server: 5xx, uncoded errors, latency, memory")
    soak.add_argument("--minutes", type=float, default=10)
    soak.add_argument("--concurrency", type=int, default=16)
    soak.add_argument("--port", type=int, default=8790)
    soak.add_argument("--workers", type=int, default=1, help="server processes (spakg serve --workers)")
    soak.add_argument("--documents", type=int, default=1000, help="distinct GraphQL documents in their phase")
    soak.set_defaults(func=cmd_soak)

    schema_cmd = sub.add_parser("schema", help="print the GraphQL schema (SDL), as served at /graphql/schema.graphql")
    schema_cmd.set_defaults(func=cmd_schema)

    # both `spakg --ontology DIR serve` and `spakg serve --ontology DIR` work
    for p in (serve, assess, check, regress, bench, synth, scr):
        p.add_argument("--ontology", type=Path, default=argparse.SUPPRESS)

    args = parser.parse_args(argv)
    _choose_checkout(args)
    try:
        return args.func(args)
    except SpakgError as err:
        print(f"error [{err.code}]: {err.message}", file=sys.stderr)
        if isinstance(err, OntologyError):  # the advice lives beside the message; one place prints both
            if err.fix:
                print(f"fix: {err.fix}", file=sys.stderr)
            print("`spakg check` lists every problem with its fix.", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output piped into `head` and closed: not an error of spakg's
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # a file not found, a directory where a file was meant, no permission
        if err.filename is None:
            raise
        print(f"error: {err.filename}: {(err.strerror or str(err)).lower()}; {_os_fix(err)}", file=sys.stderr)
        return 2


def cmd_schema(args) -> int:
    from .api.schema import schema_sdl

    sys.stdout.write(schema_sdl())
    return 0


def _os_fix(err: OSError) -> str:
    if isinstance(err, FileNotFoundError):
        return "check the path (relative to the current directory)."
    if isinstance(err, IsADirectoryError):
        return "give a file (spakg screen reads a directory of FHIR Bundles or a Bulk Data export)."
    if isinstance(err, NotADirectoryError):
        return "give a directory."
    if isinstance(err, PermissionError):
        return "make it readable (or writable, for an output) by this user."
    return "check the path and try again."


def cmd_soak(args) -> int:
    from .soak import run

    return run(args)


def _choose_checkout(args) -> None:
    """Inside a spakg checkout, commands read its files (not an installed copy's), and say so when it matters."""
    from .resources import checkout_around, default_ontology_dir, use_checkout

    if args.ontology is not None:
        return
    root = checkout_around(Path.cwd())
    if root is None or default_ontology_dir().resolve() == (root / "ontology").resolve():
        return
    use_checkout(root)
    print(f"spakg: using the checkout at {root} (its ontology/, seeds/ and tests/vignettes/), not the installed "
          f"copy; give --ontology to choose another.", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
