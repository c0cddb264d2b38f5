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
from urllib.parse import parse_qs, quote

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
from .patient_query import patient_from_query, query_from_patient
from .reports import ReportShelf

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(quote_id=quote_id, STATUS_NAMES=STATUS_NAMES, isinstance=isinstance, FindingItem=FindingItem,
                             Group=Group, ConclusionItem=ConclusionItem, QuantityItem=QuantityItem, Rule=Rule)
STATUS_TEXT = {"MET": ("✓", "Met"), "NOT_MET": ("✗", "Not met"), "UNDETERMINED": ("?", "Undetermined")}
templates.env.globals["STATUS_TEXT"] = STATUS_TEXT


class Views:
    """Per-version views that take more than a request's time to build (the article), built once per version."""

    def __init__(self) -> None:
        self._article: dict[str, ArticleView] = {}

    def article(self, k: Knowledge) -> ArticleView:
        view = self._article.get(k.content_hash)
        if view is None:
            if len(self._article) > 3:
                self._article.clear()
            view = self._article[k.content_hash] = ArticleView(k)
        return view


def explorer_routes(current: Callable[[], Knowledge], graphiql: bool = True, reports: Path | None = None) -> list:
    """The explorer's pages; ``reports``: a directory of cohort reports (``spakg screen --report-json``) to show."""
    views = Views()
    shelf = ReportShelf(reports)

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        started = time.perf_counter()
        k = current()
        response = templates.TemplateResponse(request, name, {"k": k, "note": CLASSIFICATION_NOTE, "graphiql": graphiql,
                                                              "cohorts": shelf.configured, **context},
                                              status_code=status)
        response.headers["server-timing"] = f"render;dur={(time.perf_counter() - started) * 1e3:.1f}"
        return response

    def not_found(request: Request, what: str, ref: str, suggestions: list[str]) -> HTMLResponse:
        return page(request, "not_found.html", 404, what=what, ref=ref, suggestions=suggestions)

    async def home(request: Request) -> HTMLResponse:
        k = current()
        q = request.query_params.get("q", "").strip()[:100]
        results = k.concepts.search(q)[:50] if q else []
        roots = [c for c in k.concepts if not c.parents and c.children]
        return page(request, "home.html", q=q, results=results, roots=sorted(roots, key=lambda c: c.label.lower()))

    async def suggest(request: Request) -> JSONResponse:
        q = request.query_params.get("q", "").strip()[:100]
        found = current().concepts.search(q)[:10] if q else []
        return JSONResponse([{"id": c.id, "label": c.label} for c in found])

    async def concept(request: Request) -> HTMLResponse:
        k = current()
        ref = request.path_params["id"]
        try:
            c = k.concepts.get(ref)
        except UnknownConcept:
            return not_found(request, "concept", ref, k.concepts.suggest(ref))
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
        view = views.article(current())
        chosen = view.quotes.get(request.query_params.get("quote", ""))
        return page(request, "article.html", view=view, chosen=chosen)

    async def path(request: Request) -> HTMLResponse:
        k = current()
        a, b = request.query_params.get("from", "").strip(), request.query_params.get("to", "").strip()
        steps, error = None, None
        if a and b:
            try:
                steps = k.concepts.path(k.concepts.get(a), k.concepts.get(b))
            except UnknownConcept as exc:
                error = exc.message
        return page(request, "path.html", a=a, b=b, steps=steps, error=error)

    async def rules(request: Request) -> HTMLResponse:
        return page(request, "rules.html", rules=current().rules.order)

    async def rule(request: Request) -> HTMLResponse:
        k = current()
        ref = request.path_params["id"]
        try:
            r = k.rules.get(ref)
        except UnknownRule:
            return not_found(request, "rule", ref, _close(ref, list(k.rules.rules)))
        used_by = [other for other in k.rules.order if r in other.depends_on()]
        return page(request, "rule.html", r=r, used_by=used_by)

    async def assess(request: Request) -> HTMLResponse:
        k = current()
        params = dict(request.query_params)
        error, outcome = None, {}
        try:
            record = patient_from_query(params)
            if record is not None:
                outcome = _outcome(Assessment(k, k.facts.read(record)))
        except SpakgError as exc:
            error = f"[{exc.code}] {exc.message}"
        observable = sorted(k.facts.observable, key=lambda c: c.label.lower())
        table = k.facts.quantities
        quantities = {c.id: [q for q in table.by_name.values() if c.id in q.declared_on] for c in observable}
        measured = [table[n] for n in table.measured_names if n != "age"]
        return page(request, "assess.html", params=params, observable=observable, quantities=quantities,
                    measurements=measured, error=error, **outcome)

    async def assess_fhir(request: Request) -> HTMLResponse:
        """A pasted FHIR Bundle, read and assessed (POST: a Bundle is too large for an address)."""
        if request.method != "POST":
            return page(request, "assess_fhir.html", bundle="", as_of="")
        k = current()
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
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
            return not_found(request, "cohort report", name, _close(name, shelf.names()))
        r = shelved.report
        return page(request, "cohort.html", 200 if r else 422, s=shelved, r=r, chart=r.chart_svg() if r else "",
                    known=set(current().rules.rules))

    return [
        Route("/", home), Route("/search.json", suggest), Route("/concepts/{id}", concept),
        Route("/concepts/{id}/graph.json", neighbours), Route("/article", article), Route("/path", path),
        Route("/rules", rules), Route("/rules/{id}", rule), Route("/assess", assess),
        Route("/assess/fhir", assess_fhir, methods=["GET", "POST"]),
        Route("/cohorts", cohorts), Route("/cohorts/{name}", cohort),
        *([Route("/graphiql", graphiql_page)] if graphiql else []),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]


def _outcome(a: Assessment) -> dict:
    """What outcome.html shows of an assessment: every rule's entry, the next questions, the scores begun."""
    return {"results": [(r, inference_dict(a, r)) for r in a.knowledge.rules.order], "questions": a.next_questions[:8],
            "scores": [s for s in a.scores if s.started]}


def _close(ref: str, names: list[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(ref, names, n=3, cutoff=0.5)


def not_found_page(request: Request, current: Callable[[], Knowledge]) -> Response:
    return templates.TemplateResponse(request, "not_found.html", {"k": current(), "what": "page", "ref": request.url.path,
                                                                  "suggestions": []}, status_code=404)


def graphiql_html() -> str:
    return templates.get_template("graphiql.html").render()
