"""The outermost layer of every response: a request id, security headers, and a coded JSON 500 for anything that
escapes a route (never starlette's plain-text "Internal Server Error")."""

from __future__ import annotations

import logging
import re
import traceback
import uuid

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("spakg.api")

# Pages are served from here only (the explorer's scripts, styles and fonts ship in the package).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
}
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            log_internal(request_id, exc)
            if started:
                raise
            response = JSONResponse({"data": None, "errors": [{
                "message": "Internal error; the server logged it under this request id. The request may be retried.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}}]}, status_code=500)
            await response(scope, receive, send_with_headers)


def log_internal(request_id: str | None, exc: BaseException) -> None:
    """Where the code failed, without the exception's message or locals: those may hold a patient's facts."""
    log.error("request %s internal error %s\n%s", request_id, type(exc).__name__,
              "".join(traceback.format_tb(exc.__traceback__)))
