"""The HTTP transport's gate: bearer token, ``Origin`` and ``Host`` checks, as ASGI middleware.

Wraps the whole Starlette app of the streamable HTTP transport, so it sees every request,
whatever its path or method:

1. a token is configured and the request does not carry ``Authorization: Bearer <token>``:
   401 (compared in constant time; the token never appears in a response or a log);
2. an ``Origin`` header that is neither a loopback origin nor one given with
   ``--allow-origin``: 403 (the MCP specification's defence against DNS rebinding; requests
   without ``Origin``, from non-browser clients, pass);
3. bound to a loopback address and a ``Host`` header that is not a loopback name: 421.

The request body limit (413) is the MCP SDK's own, configured by ``max_body_bytes``.

Example:
    >>> bearer_ok("Bearer s3cret-token", "s3cret-token"), bearer_ok("Bearer nope", "s3cret-token")
    (True, False)
    >>> origin_ok("http://localhost:5173", ()), origin_ok("https://evil.example", ())
    (True, False)
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_LOOPBACK_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")
_LOOPBACK_HOST = re.compile(r"^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")


def bearer_ok(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (constant-time comparison)."""
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


def origin_ok(origin: str | None, allowed: Sequence[str]) -> bool:
    """No ``Origin`` (non-browser clients), a loopback origin, or one of ``allowed``."""
    if origin is None:
        return True
    value = origin.strip().lower()
    return bool(_LOOPBACK_ORIGIN.match(value)) or value in allowed


def host_ok(host: str | None) -> bool:
    """A ``Host`` header naming this machine (checked when bound to a loopback address)."""
    return host is not None and bool(_LOOPBACK_HOST.match(host.strip().lower()))


class HTTPGuard:
    """ASGI middleware applying the checks above to every HTTP request.

    Example:
        >>> app = HTTPGuard(lambda s, r, w: None, token=None, allowed_origins=(),
        ...                 check_host=True)  # doctest: +SKIP
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_origins: Sequence[str],
        check_host: bool,
    ) -> None:
        self._app = app
        self._token = token
        self._origins = tuple(allowed_origins)
        self._check_host = check_host

    def __repr__(self) -> str:
        return (
            f"HTTPGuard(token={'***' if self._token else None}, "
            f"allowed_origins={self._origins!r}, check_host={self._check_host})"
        )

    def refusal(self, headers: dict[str, str]) -> tuple[int, str] | None:
        """``(status, reason)`` for a request with these (lower-cased) headers, or None."""
        if self._token is not None and not bearer_ok(headers.get("authorization"), self._token):
            return 401, "missing or wrong bearer token (Authorization: Bearer <token>)"
        if not origin_ok(headers.get("origin"), self._origins):
            return 403, "Origin not allowed (start the server with --allow-origin to allow it)"
        if self._check_host and not host_ok(headers.get("host")):
            return 421, "Host header does not name this machine"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers") or []:
            name = key.decode("latin-1").lower()
            # a repeated header is refused rather than guessed at
            headers[name] = "" if name in headers else value.decode("latin-1")
        refused = self.refusal(headers)
        if refused is None:
            await self._app(scope, receive, send)
            return
        status, reason = refused
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": reason}).encode()
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 401:
            response_headers.append((b"www-authenticate", b'Bearer realm="milvus-rag"'))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
