"""CDS Hooks 2.0: discovery at GET /cds-services and the ``spakg-axspa`` service on the ``patient-view`` hook.

spakg fetches nothing from the network: the patient, their conditions and their observations come in the request's
prefetch, and a request without those keys is answered 412 Precondition Failed, as the specification says for a
service that cannot obtain its data. A prefetch key whose value is null means the client has no such data. Errors
are JSON with a code (as everywhere in spakg); data that cannot be assessed (a record that contradicts itself)
is answered with an info card that says why, since a clinician sees cards, not error bodies. Nothing of the
patient is logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import SpakgError
from ..fhir.assess import assess_bundle
from ..fhir.cards import REFERRAL, cards_for
from ..knowledge import Knowledge
from .cds_feedback import FeedbackCounters, FeedbackError
from .cds_trust import CdsTrust, TrustError
from .middleware import log_internal

SERVICE_ID = "spakg-axspa"
HOOK = "patient-view"
PREFETCH = ("patient", "conditions", "observations")  # the keys; their templates come from the value sets
MAX_BODY_BYTES = 8 << 20  # a whole inpatient record still fits, read off the event loop
EXTENSION = "org.w3id.spakg.reading"
ERRORS_SYSTEM = "https://w3id.org/spakg/errors"


class HookError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def prefetch_templates(knowledge: Knowledge) -> dict[str, str]:
    """What the EHR sends before a call. Observations are asked for by the codes spakg reads (the value sets'
    laboratory tests, findings and numbers), so an inpatient's thousands of vital signs stay at home. Conditions are
    asked for whole: a problem list is small, and an ICD-10 code is read with its descendants (K50.90 under K50),
    which a FHIR token search cannot ask for portably (``:below`` is optional for servers)."""
    return {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}&code=" + knowledge.fhir.codes.observation_search(),
    }


def discovery(knowledge: Knowledge) -> dict:
    referral = [r.label for r in knowledge.rules.order if r.rule_type == REFERRAL]  # the ontology's, not named here
    return {"services": [{
        "hook": HOOK, "id": SERVICE_ID,
        "title": "spakg: inflammatory back pain and axial spondyloarthritis",
        "description": f"Reads the patient's conditions and observations against {'; '.join(referral)}: a warning "
                       "card when one of them is met, an info card naming the questions (and orders) that would "
                       "settle an undetermined one. Classification criteria are not a diagnosis.",
        "prefetch": prefetch_templates(knowledge),
        "usageRequirements": "spakg fetches nothing itself: send all three prefetch keys (null where there is no "
                             "data), at most 8 MiB in all. The codes spakg reads (SNOMED CT, ICD-10, ICD-10-CM, LOINC "
                             "and its own) are its value sets, GET /fhir/ValueSet.",
    }]}


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def hook_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
               **extra: str | None) -> JSONResponse:
    """The one error shape of every /cds-services route: {"error": {"code", "message"}}."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status,
                        headers=dict(headers) if headers else None)


def cds_routes(current: Callable[[], Knowledge], trust: CdsTrust | None = None,
               feedback: FeedbackCounters | None = None) -> list[Route]:
    """The CDS Hooks routes. ``trust``: when given, calls (and feedback; discovery too if it says so) need a bearer
    JWT from a trusted issuer. ``feedback``: where feedback is counted."""
    counters = feedback if feedback is not None else FeedbackCounters()

    def coded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (HookError, FeedbackError) as e:
                return hook_error(e.status, e.code, e.message)
            except TrustError as e:
                return hook_error(401, e.code, e.message, {"www-authenticate": 'Bearer error="invalid_token"'})
            except Exception as exc:  # a bug: logged where it happened, answered in this routes' own shape
                request_id = request.scope.get("state", {}).get("request_id")
                log_internal(request_id, exc)
                return hook_error(500, "INTERNAL_SERVER_ERROR", "Internal error; the server logged it under this "
                                  "request id. The request may be retried.", requestId=request_id)
        return guarded

    async def trusted(request: Request, *paths: str) -> None:
        if trust is None:
            return
        base = trust.base_url or str(request.base_url).rstrip("/")
        await trust.check(request.headers.get("authorization"), [base + p for p in paths])

    @coded
    async def services(request: Request) -> Response:
        if trust is not None and trust.discovery:
            await trusted(request, "/cds-services")
        return JSONResponse(discovery(current()))

    def known(service: str) -> None:
        if service != SERVICE_ID:
            raise HookError(404, "UNKNOWN_SERVICE", f"No CDS service {service[:60]!r}; GET /cds-services lists "
                                                    f"the one there is ({SERVICE_ID}).")

    @coded
    async def call(request: Request) -> Response:
        service = request.path_params["service"]
        await trusted(request, f"/cds-services/{service}")
        known(service)
        raw = await request.body()
        # off the event loop: a large record takes tens of milliseconds to parse and read; /healthz must not wait
        return JSONResponse(await run_in_threadpool(answer, current(), raw, str(request.base_url)))

    @coded
    async def feedback_route(request: Request) -> Response:
        service = request.path_params["service"]
        # aud: the feedback URL, or the service's (clients differ on which endpoint "is being invoked")
        await trusted(request, f"/cds-services/{service}/feedback", f"/cds-services/{service}")
        known(service)
        raw = await request.body()  # up to the CDS routes' body limit: parsed off the event loop too
        return JSONResponse({"counted": await run_in_threadpool(lambda: counters.record(_json(raw)))})

    @coded
    async def elsewhere(request: Request) -> Response:
        path = request.url.path
        if path == "/cds-services/" and request.method in ("GET", "HEAD"):
            return await services(request)
        if path.rstrip("/") == "/cds-services" or path.count("/") == 2 or \
                (path.count("/") == 3 and path.endswith("/feedback")):
            allowed = "GET" if path.rstrip("/") == "/cds-services" else "POST"
            raise HookError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {path[:100]}; "
                                                       f"use {allowed}.")
        raise HookError(404, "NOT_FOUND", f"No such CDS Hooks route: {path[:100]}. There are GET /cds-services, "
                                          f"POST /cds-services/{SERVICE_ID} and POST "
                                          f"/cds-services/{SERVICE_ID}/feedback"
                                          f"{' (without a trailing slash)' if path.endswith('/') else ''}.")

    return [Route("/cds-services", services, methods=["GET"]),
            Route("/cds-services/{service}", call, methods=["POST"]),
            Route("/cds-services/{service}/feedback", feedback_route, methods=["POST"]),
            # after the others: a path or method they do not take gets this routes' error shape, not the app's
            Route("/cds-services", elsewhere, methods=ALL_METHODS),
            Route("/cds-services/{rest:path}", elsewhere, methods=ALL_METHODS)]


def answer(knowledge: Knowledge, raw: bytes, base_url: str) -> dict:
    """A call's body, parsed, checked and assessed (in a worker thread)."""
    return respond(knowledge, bundle_from_request(_json(raw)), base_url)


def respond(knowledge: Knowledge, bundle: dict, base_url: str) -> dict:
    """The service's answer: cards, and how the record was read (an extension: what was not used, and why)."""
    try:
        a = assess_bundle(knowledge, bundle, datetime.now(UTC).date())
    except SpakgError as e:
        if e.code in ("INVALID_FACTS",):
            raise HookError(400, e.code, e.message) from None
        return {"cards": [_cannot_assess(e, base_url)]}
    return {"cards": cards_for(a, base_url), "extension": {EXTENSION: a.origin.as_dict()}}


def bundle_from_request(body: object) -> dict:
    """The prefetched resources as one collection Bundle, after checking the request as CDS Hooks 2.0 has it."""
    if not isinstance(body, Mapping):
        raise HookError(400, "BAD_REQUEST", "A CDS Hooks request is a JSON object with hook, hookInstance, context "
                                            "and prefetch.")
    if body.get("hook") != HOOK:
        raise HookError(400, "UNSUPPORTED_HOOK", f"{SERVICE_ID} answers the {HOOK} hook (got {str(body.get('hook'))[:40]!r}).")
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        raise HookError(400, "BAD_REQUEST", "hookInstance is required: a UUID for this call.")
    context = body.get("context")
    if not isinstance(context, Mapping) or not isinstance(context.get("patientId"), str):
        raise HookError(400, "BAD_REQUEST", "context.patientId is required (the FHIR id of the patient in view).")
    patient_id = context["patientId"]
    prefetch = body.get("prefetch")
    missing = [k for k in PREFETCH if not isinstance(prefetch, Mapping) or k not in prefetch]
    if missing:
        raise HookError(412, "PREFETCH_MISSING", f"Prefetch {', '.join(missing)} missing: spakg does not query the FHIR "
                                                 f"server, so send {', '.join(PREFETCH)} (null where there is none).")
    entries: list[dict] = []
    for key in PREFETCH:
        value = prefetch[key]
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise HookError(400, "INVALID_PREFETCH", f"prefetch.{key} must be a FHIR resource or null.")
        kind = value.get("resourceType")
        if kind == "OperationOutcome":
            raise HookError(412, "PREFETCH_FAILED", f"The client could not prefetch {key}: "
                                                    f"{_diagnostics(value)}")
        if key == "patient":
            if kind != "Patient":
                raise HookError(400, "INVALID_PREFETCH", f"prefetch.patient must be a Patient (got {str(kind)[:30]!r}).")
            if value.get("id") not in (None, patient_id):
                raise HookError(400, "PATIENT_MISMATCH", f"prefetch.patient is Patient/{str(value.get('id'))[:40]}, "
                                                         f"but context.patientId is {patient_id[:40]}.")
            entries.append({"resource": {**value, "id": patient_id}})
            continue
        if kind != "Bundle" or not isinstance(value.get("entry", []), list):
            raise HookError(400, "INVALID_PREFETCH", f"prefetch.{key} must be a searchset Bundle or null.")
        for entry in value.get("entry", []):
            if isinstance(entry, Mapping) and isinstance(entry.get("resource"), Mapping) and \
                    entry["resource"].get("resourceType") == "OperationOutcome":
                continue  # a search's own outcome (a warning about the query), not the patient's data
            entries.append(entry)
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def request_from_bundle(bundle: Mapping, user: str = "Practitioner/example", knowledge: Knowledge | None = None) -> dict:
    """A patient-view call as a CDS client would send it for this Bundle's patient: the prefetch filled by the
    service's three templates (a searchset per resource type; null where the record has none, as the spec says).
    With ``knowledge``, observations are filtered by the template's codes, as a FHIR server would; without, every
    observation is sent (a client that ignores the filter)."""
    entries = [e["resource"] for e in bundle["entry"] if isinstance(e.get("resource"), Mapping)]
    patient = next(r for r in entries if r["resourceType"] == "Patient")
    own = knowledge.fhir.codes.own_system if knowledge is not None else None
    wanted = set(knowledge.fhir.codes.observation_codes()) if knowledge is not None else None

    def matches(r: Mapping) -> bool:  # as a FHIR server answers the template's code= search
        if wanted is None or r["resourceType"] != "Observation":
            return True
        codings = (r.get("code") or {}).get("coding") or []
        return any(c.get("system") == own or (c.get("system"), c.get("code")) in wanted for c in codings)

    def searchset(kind: str) -> dict | None:
        found = [{"resource": r} for r in entries if r["resourceType"] == kind and matches(r)]
        return {"resourceType": "Bundle", "type": "searchset", "total": len(found), "entry": found} if found else None

    return {"hook": HOOK, "hookInstance": str(uuid.uuid4()), "context": {"userId": user, "patientId": patient["id"]},
            "prefetch": {"patient": patient, "conditions": searchset("Condition"), "observations": searchset("Observation")}}


def _cannot_assess(e: SpakgError, base_url: str) -> dict:
    return {
        "uuid": str(uuid.uuid4()), "summary": "spakg could not assess this record: it needs correcting first.",
        "indicator": "info", "detail": f"{e.message}\n\nNo referral advice is given until the record is corrected.",
        "source": {"label": "spakg", "url": base_url.rstrip("/") + "/",
                   "topic": {"system": ERRORS_SYSTEM, "code": e.code, "display": e.code.replace("_", " ").lower()}},
    }


def _json(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise HookError(400, "BAD_REQUEST", f"The request body is not JSON: {e}.") from None


def _diagnostics(outcome: Mapping) -> str:
    issues = outcome.get("issue") if isinstance(outcome.get("issue"), list) else []
    texts = [str(i.get("diagnostics") or i.get("code") or "") for i in issues if isinstance(i, Mapping)]
    return "; ".join(t for t in texts if t)[:300] or "an OperationOutcome without diagnostics."
