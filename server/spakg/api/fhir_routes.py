"""FHIR terminology for integrators: the value sets spakg reads, at ``GET /fhir/ValueSet`` (a searchset Bundle of
every one; ``?url=`` or ``?name=`` to find one) and ``GET /fhir/ValueSet/{id}``. Answers are ``application/fhir+json``;
an unknown id is a 404 OperationOutcome whose detail is coded (``UNKNOWN_VALUE_SET``) and names the closest ids."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..fhir.valuesets import value_sets
from ..knowledge import Knowledge

FHIR_JSON = "application/fhir+json"
ERRORS_SYSTEM = "https://w3id.org/spakg/errors"


def fhir_routes(current: Callable[[], Knowledge]) -> list[Route]:
    async def search(request: Request) -> Response:
        sets = value_sets(current())
        url, name = request.query_params.get("url"), request.query_params.get("name")
        found = [v for v in sets.values() if (url is None or v["url"] == url) and (name is None or v["name"] == name)]
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                             "entry": [{"fullUrl": f"{base}/fhir/ValueSet/{v['id']}", "resource": v,
                                        "search": {"mode": "match"}} for v in found]}, media_type=FHIR_JSON)

    async def read(request: Request) -> Response:
        sets = value_sets(current())
        vid = request.path_params["id"]
        if vid in sets:
            return JSONResponse(sets[vid], media_type=FHIR_JSON)
        close = difflib.get_close_matches(vid, list(sets), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        return JSONResponse(outcome("not-found", "UNKNOWN_VALUE_SET",
                                    f"No ValueSet {vid[:60]!r}; GET /fhir/ValueSet lists them.{hint}"),
                            status_code=404, media_type=FHIR_JSON)

    return [Route("/fhir/ValueSet", search, methods=["GET"]), Route("/fhir/ValueSet/{id}", read, methods=["GET"])]


def outcome(issue: str, code: str, message: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": issue, "diagnostics": message,
        "details": {"coding": [{"system": ERRORS_SYSTEM, "code": code}], "text": message}}]}
