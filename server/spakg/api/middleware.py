"""The outermost layer of every response: a request id, security headers, and the one place an exception becomes a
coded JSON 500 with the request id (never starlette's or uvicorn's plain-text "Internal Server Error", never a
traceback with the exception's message in the log). Below the ASGI app, `protocol.py` does the same for the
malformed HTTP uvicorn answers itself."""

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
        started = finished = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers["x-request-id"] = request_id
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # starlette's ServerErrorMiddleware has answered already (with internal_error_body) and re-raises; an
            # exception re-raised to uvicorn would log its message with a traceback and reset the connection.
            if not started:
                log_internal(request_id, exc)
                await JSONResponse(internal_error_body(request_id), status_code=500)(scope, receive, send_with_headers)
            elif not finished:  # the answer broke off: nothing can mend it, uvicorn closes the connection
                log_internal(request_id, exc)


def internal_error_body(request_id: str | None) -> dict:
    return {"errors": [{
        "message": "Internal error; the server logged it under this request id. The request may be retried.",
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}}]}


def log_internal(request_id: str | None, exc: BaseException) -> None:
    """Where the code failed, without the exception's message or locals: those may hold a patient's facts."""
    log.error("request %s internal error %s\n%s", request_id, type(exc).__name__,
              "".join(traceback.format_tb(exc.__traceback__)))
