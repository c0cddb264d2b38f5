"""uvicorn's httptools protocol with two changes at the HTTP level, below the ASGI app: the request line and headers
are limited in size (uvicorn has no such limit, and a 16-64 MiB header stalled every other request while it was
parsed), and the answers uvicorn gives by itself to malformed HTTP are coded JSON with the security headers and a
request id, like every other answer (uvicorn's own are plain text)."""

from __future__ import annotations

import logging
import uuid

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .limits import Limits
from .middleware import HEADERS

log = logging.getLogger("spakg.api")
LINGER_SECONDS = 5.0
DISCARD_BYTES = 256 << 20


class SpakgHttpProtocol(HttpToolsProtocol):
    max_head_bytes = Limits().max_header_bytes

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True
        self._head_bytes = 0
        self._discarding = False
        self._discarded = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._discarding:  # refused: the rest of the request is read and dropped, so the client gets the answer
            self._discarded += len(data)
            if self._discarded > DISCARD_BYTES:
                self.transport.close()
            return
        if not self._in_head:
            super().data_received(data)
            return
        room = self.max_head_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # Feed what the limit allows: the head may end inside it (a request with a large body is not refused).
        self._head_bytes = self.max_head_bytes
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(431, "HEADERS_TOO_LARGE", f"The request line and headers are larger than "
                                                   f"{self.max_head_bytes} bytes; send shorter ones (a long query "
                                                   "goes in a POST body).")
            return
        super().data_received(data[room:])

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "BAD_HTTP_REQUEST", "The request is not valid HTTP/1.1 (a malformed request line, header "
                                              "or Content-Length); uvicorn could not read it.")

    def _refuse(self, status: int, code: str, message: str) -> None:
        request_id = uuid.uuid4().hex[:16]
        log.warning("request %s http %s", request_id, code)
        body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code, "requestId": request_id}}]})
        reason = {400: b"Bad Request", 431: b"Request Header Fields Too Large"}[status]
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        for name, value in HEADERS.items():
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"x-request-id: " + request_id.encode("ascii") + b"\r\n")
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        # A lingering close: closing now, with the client still sending, would reset the connection and lose the
        # answer. Say that nothing more comes (FIN), drop what still arrives, and close when the client does or soon.
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
