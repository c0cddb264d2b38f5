"""The educators' explorer: server-rendered pages over the same compiled knowledge as the GraphQL API.

Every view is a permalink and works with JavaScript off; scripts (search suggestions, the neighbourhood graph,
GraphiQL) are files of this package, served from this origin. Pages read ``holder.current`` on each request, so a
``--watch`` reload shows at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, parse_qsl, quote

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..assessment import CLASSIFICATION_NOTE, Assessment
from ..errors import SpakgError, UnknownConcept, UnknownRule
from ..fhir.assess import assess_reading
from ..knowledge import Knowledge
from ..proof import inference_dict
from ..rules import STATUS_NAMES, ConclusionItem, FindingItem, Group, QuantityItem, Rule
from .article_view import ArticleView, quote_id
from .cases import PREDICTIONS, CaseBook, teaching_rules, what_ifs
from .compare import MAX_RULES, compare
from .explain import Explainer
from .paths import paths
from .patient_form import PatientForm
from .patient_query import patient_from_query, query_from_patient
from .reports import ReportShelf
from .search import ConceptSearch
from .source_note import SourceNote

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(quote_id=quote_id, STATUS_NAMES=STATUS_NAMES, isinstance=isinstance, FindingItem=FindingItem,
                             Group=Group, ConclusionItem=ConclusionItem, QuantityItem=QuantityItem, Rule=Rule)
STATUS_TEXT = {"MET": ("✓", "Met"), "NOT_MET": ("✗", "Not met"), "UNDETERMINED": ("?", "Undetermined")}
templates.env.globals["STATUS_TEXT"] = STATUS_TEXT
templates.env.globals["query_pairs"] = parse_qsl


T = TypeVar("T")
_built: dict[tuple[type, str], object] = {}


def per_version(kind: Callable[[Knowledge], T], k: Knowledge) -> T:
    """A view that takes more than a request's time to build (the article, the search index, the form, the proof
    reader), built once per ontology version."""
    key = (kind, k.content_hash)
    found = _built.get(key)
    if found is None:
        if len(_built) > 16:  # old versions after --watch reloads
            _built.clear()
        found = _built[key] = kind(k)
    return found  # type: ignore[return-value]


def explorer_routes(current: Callable[[], Knowledge], graphiql: bool = True, reports: Path | None = None) -> list:
    """The explorer's pages; ``reports``: a directory of cohort reports (``spakg screen --report-json``) to show."""
    shelf = ReportShelf(reports)
    casebook = CaseBook()

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        started = time.perf_counter()
        k = current()
        response = templates.TemplateResponse(request, name, {"k": k, "note": CLASSIFICATION_NOTE, "graphiql": graphiql,
                                                              "source": per_version(SourceNote, k),
                                                              "cohorts": shelf.configured, **context},
                                              status_code=status)
        response.headers["server-timing"] = f"render;dur={(time.perf_counter() - started) * 1e3:.1f}"
        return response

    def not_found(request: Request, what: str, ref: str, suggestions: list[tuple[str, str]]) -> HTMLResponse:
        """``suggestions``: (address, name) of what may have been meant."""
        return page(request, "not_found.html", 404, what=what, ref=ref, suggestions=suggestions)

    async def home(request: Request) -> HTMLResponse:
        k = current()
        q = request.query_params.get("q", "").strip()[:100]
        found = per_version(ConceptSearch, k).search(q) if q else None
        roots = [c for c in k.concepts if not c.parents and c.children]
        return page(request, "home.html", q=q, found=found, roots=sorted(roots, key=lambda c: c.label.lower()))

    async def suggest(request: Request) -> JSONResponse:
        """Names to complete a search or a path's ends with: each concept's label, and the synonym that matched."""
        q = request.query_params.get("q", "").strip()[:100]
        found = per_version(ConceptSearch, current()).search(q, limit=10) if q else None
        hits = (found.hits or found.did_you_mean) if found else []
        return JSONResponse([{"id": h.concept.id, "label": h.concept.label,
                              "matched": h.matched if h.via_synonym else None} for h in hits])

    async def concept(request: Request) -> HTMLResponse:
        k = current()
        ref = request.path_params["id"]
        try:
            c = k.concepts.get(ref)
        except UnknownConcept:
            found = per_version(ConceptSearch, k).search(ref, limit=3)
            near = [k.concepts.get(i) for i in k.concepts.suggest(ref)] + [h.concept for h in found.hits or found.did_you_mean]
            return not_found(request, "concept", ref, [(f"/concepts/{c.id}", c.label) for c in dict.fromkeys(near)][:5])
        used_by = k.rules.by_concept.get(c.id, [])
        concluded_by = [r for r in k.rules.order if r.concludes is c]
        return page(request, "concept.html", c=c, used_by=used_by, concluded_by=concluded_by)

    async def neighbours(request: Request) -> JSONResponse:
        k = current()
        try:
            c = k.concepts.get(request.path_params["id"])
        except UnknownConcept as exc:
            return JSONResponse({"error": str(exc), "code": exc.code}, status_code=404)
        nodes = {c.id: c.label}
        edges = []
        for p in c.parents:
            nodes[p.id] = p.label
            edges.append({"source": c.id, "target": p.id, "label": "is a kind of"})
        for ch in c.children:
            nodes[ch.id] = ch.label
            edges.append({"source": ch.id, "target": c.id, "label": "is a kind of"})
        for r in c.outgoing:
            nodes[r.object.id] = r.object.label
            edges.append({"source": c.id, "target": r.object.id, "label": r.label})
        for r in c.incoming:
            nodes[r.subject.id] = r.subject.label
            edges.append({"source": r.subject.id, "target": c.id, "label": r.label})
        return JSONResponse({"center": c.id, "nodes": [{"id": i, "label": label} for i, label in nodes.items()],
                             "edges": edges})

    async def article(request: Request) -> HTMLResponse:
        view = per_version(ArticleView, current())
        chosen = view.quotes.get(request.query_params.get("quote", ""))
        return page(request, "article.html", view=view, chosen=chosen)

    async def path(request: Request) -> HTMLResponse:
        k = current()
        finder = per_version(ConceptSearch, k)
        a, b = request.query_params.get("from", "").strip()[:100], request.query_params.get("to", "").strip()[:100]
        generic = request.query_params.get("generic") == "yes"
        ends = {"from": (a, finder.resolve(a) if a else None), "to": (b, finder.resolve(b) if b else None)}
        unknown = {side: (text, finder.search(text, limit=5)) for side, (text, c) in ends.items() if text and c is None}
        start, goal = ends["from"][1], ends["to"][1]
        found = paths(k.concepts, start, goal, generic) if start and goal else None
        return page(request, "path.html", a=start.label if start else a, b=goal.label if goal else b, start=start,
                    goal=goal, found=found, unknown=unknown, generic=generic)

    async def rules(request: Request) -> HTMLResponse:
        return page(request, "rules.html", rules=current().rules.order)

    async def rule(request: Request) -> HTMLResponse:
        k = current()
        ref = request.path_params["id"]
        try:
            r = k.rules.get(ref)
        except UnknownRule:
            return not_found(request, "rule", ref, [(f"/rules/{i}", k.rules.rules[i].label)
                                                    for i in _close(ref, list(k.rules.rules))])
        used_by = [other for other in k.rules.order if r in other.depends_on()]
        similar = [o for o in k.rules.order if o is not r and o.concludes is not None and o.concludes is r.concludes]
        return page(request, "rule.html", r=r, used_by=used_by, similar=similar, words=per_version(Explainer, k),
                    expand=request.query_params.get("open") == "all")

    async def compare_page(request: Request) -> HTMLResponse:
        k = current()
        asked = [i.strip() for v in request.query_params.getlist("rules") for i in v.split(",") if i.strip()]
        chosen = [k.rules.rules[i] for i in dict.fromkeys(asked) if i in k.rules.rules][:MAX_RULES]
        unknown = [i for i in asked if i not in k.rules.rules]
        error = None
        if unknown:
            near = _close(unknown[0], list(k.rules.rules))
            error = f"No criterion “{unknown[0][:60]}”." + (f" Did you mean {', '.join(near)}?" if near else "")
        elif len(dict.fromkeys(asked)) > MAX_RULES:
            error = f"Up to {MAX_RULES} criteria side by side: the first {MAX_RULES} are shown."
        words = per_version(Explainer, k)
        table = compare(chosen, words) if chosen else None
        return page(request, "compare.html", 200 if not unknown else 404, chosen=chosen, table=table, words=words,
                    error=error, limit=MAX_RULES)

    async def cases(request: Request) -> HTMLResponse:
        return page(request, "cases.html", cases=list(casebook.all().values()), problem=casebook.problem)

    async def case(request: Request) -> HTMLResponse:
        k = current()
        ref = request.path_params["id"]
        v = casebook.all().get(ref)
        if v is None:
            return not_found(request, "teaching case", ref, [(f"/cases/{quote(n)}", casebook.all()[n].title)
                                                             for n in _close(ref, list(casebook.all()))])
        rules = teaching_rules(k)
        guesses = {r.id: g for r in rules if (g := request.query_params.get(f"p.{r.id}", "")) in PREDICTIONS}
        context: dict = {"v": v, "rules": rules, "guesses": guesses, "revealed": False,
                         "case": query_from_patient(v.patient)}
        if guesses or request.query_params.get("reveal"):
            try:
                outcome = _outcome(Assessment(k, k.facts.read(v.patient)))
                flips = what_ifs(k, v.patient)
                context.update(revealed=True, what_ifs=flips,
                               movers={r.id: [w for w in flips if r.id in w.changes] for r in rules},
                               lines={r.id: (e, line) for r, e, line in outcome["results"]})
            except SpakgError as exc:  # a vignette the current rules cannot read
                return page(request, "case.html", 422, error=f"[{exc.code}] {exc.message}", **context)
        return page(request, "case.html", **context)

    async def assess(request: Request) -> HTMLResponse | RedirectResponse:
        k = current()
        params = dict(request.query_params)
        error, outcome, case = None, {}, ""
        try:
            record = patient_from_query(params)
            case = query_from_patient(record) if record is not None else ""
            if sorted(parse_qsl(case)) != sorted(parse_qsl(request.url.query)):
                # the form sends every "not known" too: the address to share holds only what was answered
                return RedirectResponse(f"/assess?{case}" if case else "/assess", status_code=303)
            if record is not None:
                outcome = _outcome(Assessment(k, k.facts.read(record)))
        except SpakgError as exc:
            error = f"[{exc.code}] {exc.message}"
        return page(request, "assess.html", params=params, form=per_version(PatientForm, k), error=error, case=case, **outcome)

    async def assess_fhir(request: Request) -> HTMLResponse:
        """A pasted FHIR Bundle, read and assessed (POST: a Bundle is too large for an address)."""
        if request.method != "POST":
            return page(request, "assess_fhir.html", bundle="", as_of="")
        k = current()
        try:
            form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        except ValueError:  # over max_num_fields
            return page(request, "assess_fhir.html", 400, bundle="", as_of="",
                        error="[TOO_MANY_FIELDS] The form holds more than 10 fields; send 'bundle' and 'as_of' only.")
        text = (form.get("bundle") or [""])[0]
        as_of = (form.get("as_of") or [""])[0].strip()
        context: dict = {"bundle": text, "as_of": as_of}
        try:
            when = date.fromisoformat(as_of) if as_of else None
        except ValueError:
            return page(request, "assess_fhir.html", 422, error=f"“As of” must be a date, YYYY-MM-DD (got {as_of[:20]!r}).",
                        **context)
        try:
            bundle = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return page(request, "assess_fhir.html", 422, error=f"That is not JSON: {exc}.", **context)
        try:
            reading = k.fhir.read(bundle, when)
            context.update(reading=reading, permalink=query_from_patient(reading.record),
                           stated=[(k.concepts.get(c), present, refs) for c, present, refs in reading.stated()])
            context.update(_outcome(assess_reading(k, reading)))
        except SpakgError as exc:
            return page(request, "assess_fhir.html", 422, error=f"[{exc.code}] {exc.message}", **context)
        return page(request, "assess_fhir.html", **context)

    async def graphiql_page(request: Request) -> HTMLResponse:
        return page(request, "graphiql.html")

    async def cohorts(request: Request) -> HTMLResponse:
        return page(request, "cohorts.html", configured=shelf.configured, shelf=shelf.all(),
                    directory=shelf.directory.name if shelf.directory else "")

    async def cohort(request: Request) -> HTMLResponse:
        name = request.path_params["name"]
        shelved = shelf.get(name)
        if shelved is None and f"{name}.json" in shelf.names():  # the report's name without its file's suffix
            return RedirectResponse(f"/cohorts/{quote(name + '.json')}", 308)
        if shelved is None:
            return not_found(request, "cohort report", name, [(f"/cohorts/{quote(n)}", n) for n in _close(name, shelf.names())])
        r = shelved.report
        k = current()
        diagnoses = {k.concepts.get(c).label for c in _concluded(k)}
        asked = r.questions if r else []
        return page(request, "cohort.html", 200 if r else 422, s=shelved, r=r, chart=r.chart_svg() if r else "",
                    known=k.rules.rules, findings=[q for q in asked if q["ask"] not in diagnoses],
                    diagnoses=[q for q in asked if q["ask"] in diagnoses])

    return [
        Route("/", home), Route("/search.json", suggest), Route("/concepts/{id}", concept),
        Route("/concepts/{id}/graph.json", neighbours), Route("/article", article), Route("/path", path),
        Route("/rules", rules), Route("/rules/{id}", rule), Route("/compare", compare_page), Route("/assess", assess),
        Route("/assess/fhir", assess_fhir, methods=["GET", "POST"]),
        Route("/cohorts", cohorts), Route("/cohorts/{name}", cohort), Route("/cases", cases), Route("/cases/{id}", case),
        *([Route("/graphiql", graphiql_page)] if graphiql else []),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]


def _outcome(a: Assessment) -> dict:
    """What outcome.html shows of an assessment: every rule's proof in words, a count of the outcomes, the next
    questions, the scores begun."""
    explain = per_version(Explainer, a.knowledge)
    results = [(r, inference_dict(a, r)) for r in a.knowledge.rules.order]
    counts = {status: sum(1 for _, e in results if e["status"] == status) for status in STATUS_TEXT}
    concluded = _concluded(a.knowledge)
    # a finding to learn before a clinician's diagnosis to ask for (a rule that accepts one also asks for it)
    questions = sorted(a.next_questions, key=lambda q: q.concept is not None and q.concept.id in concluded)[:8]
    return {"results": [(r, e, explain.rule(r, e)) for r, e in results], "counts": counts,
            "questions": questions, "scores": [s for s in a.scores if s.started]}


def _concluded(k: Knowledge) -> set[str]:
    """The concepts some rule concludes: diagnoses and judgements, not findings."""
    return {r.concludes.id for r in k.rules.order if r.concludes is not None}


def _close(ref: str, names: list[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(ref, names, n=3, cutoff=0.5)


def not_found_page(request: Request, current: Callable[[], Knowledge]) -> Response:
    return templates.TemplateResponse(request, "not_found.html", {"k": current(), "what": "page", "ref": request.url.path,
                                                                  "suggestions": []}, status_code=404)


def graphiql_html() -> str:
    return templates.get_template("graphiql.html").render()
