"""What the web demo checks before a request reaches a route: its Host, its Origin, its body's size.

- Host (every request, when ``allowed_hosts`` is set): the name in the Host header must be one this
  server answers to, so a web page cannot reach the demo through a DNS name it controls (DNS
  rebinding). :func:`echoseg.web.app.serve` sets it to the loopback names when it listens on
  127.0.0.1, and to the host given otherwise (``0.0.0.0``: any).
- Origin (state-changing requests: POST, PUT, PATCH, DELETE): a browser's Origin, when sent, must be
  this server's own (the Host header); ``Origin: null`` and a ``Sec-Fetch-Site`` other than
  same-origin or none are refused too. Clients that send neither (curl, scripts) pass.
- Body size: a declared Content-Length over the limit (an upload's ``WebLimits.max_request_mb``,
  1 MiB for anything else) is refused before anything is read; otherwise the body is counted as it
  streams and refused (HTTP 413) the moment it passes.

Example::

    >>> from echoseg.web.guard import refusal
    >>> refusal("POST", {"host": "127.0.0.1:8000", "origin": "https://evil.example"}, None)[0]
    403
    >>> refusal("POST", {"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8000"}, None) is None
    True
"""
from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from echoseg.web.uploads import UploadTooLarge

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SMALL_BODY_BYTES = 1 << 20  # every request but an upload: JSON of a few fields


def host_name(host: str) -> str:
    """The name of a Host header value, without its port and brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(method: str, headers: Mapping[str, str], allowed_hosts: Collection[str] | None) -> tuple[int, str] | None:
    """(HTTP status, reason) when the request must be refused, else None (see the module's rules)."""
    host = headers.get("host", "")
    if allowed_hosts is not None and host_name(host) not in allowed_hosts:
        return 400, ("the Host header does not name this server; open the demo at the address "
                     "`echoseg app` printed")
    if method.upper() in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    site = headers.get("sec-fetch-site")
    cross = "a request from another site was refused: the demo accepts changes only from its own page"
    if origin is not None:
        try:
            netloc = urlsplit(origin.strip()).netloc.lower()
        except ValueError:
            netloc = ""
        if origin.strip() == "null" or not netloc or netloc != host.strip().lower():
            return 403, cross
    elif site is not None and site.strip().lower() not in ("same-origin", "none"):
        return 403, cross
    return None


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = ((b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'"),
                    (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"))


class Guard:
    """ASGI middleware: :func:`refusal` on every HTTP request, then the body's size, counted as it
    streams; every response gets :data:`SECURITY_HEADERS` (a pure ASGI layer, so that a refusal raised
    while the body streams reaches the app's exception handlers)."""

    def __init__(self, app: Any, allowed_hosts: Collection[str] | None, upload_bytes: int,
                 small_bytes: int = SMALL_BODY_BYTES) -> None:
        self.app, self.allowed_hosts = app, None if allowed_hosts is None else {host_name(h) for h in allowed_hosts}
        self.upload_bytes, self.small_bytes = upload_bytes, small_bytes

    async def __call__(self, scope: Any, receive: Any, send_raw: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send_raw)
            return

        async def secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k, v) for k, v in SECURITY_HEADERS if k not in names)]}
            await send_raw(message)

        send = secured
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refused = refusal(scope["method"], headers, self.allowed_hosts)
        if refused is not None:
            await _send_json(send, *refused)
            return
        upload = scope["method"] == "POST" and scope["path"].endswith("/upload")
        limit = self.upload_bytes if upload else self.small_bytes
        what = (f"the upload is over the {limit / 2**20:g} MiB limit per request; send fewer or smaller files "
                "at a time" if upload else f"the request body is over {limit // 1024} KiB")
        declared = headers.get("content-length", "").strip()
        if declared and (not declared.isdigit() or int(declared) > limit):
            await _send_json(send, 413 if declared.isdigit() else 400, what if declared.isdigit()
                             else "the Content-Length header is not a number")
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise UploadTooLarge(what)
            return message

        await self.app(scope, counted, send)
