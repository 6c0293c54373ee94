"""Refusing requests a browser was tricked into sending: DNS rebinding and cross-site posts.

* **Host check** (when serving on localhost): a page on ``evil.example`` whose name is re-pointed
  at 127.0.0.1 (DNS rebinding) reaches the painter with ``Host: evil.example``; only the loopback
  names are accepted (421 otherwise).
* **Cross-site posts**: any page can send a form post to ``http://localhost:8000`` without the
  browser asking first. A ``POST`` whose ``Origin`` is not the painter itself, or that the browser
  marks ``Sec-Fetch-Site: cross-site``, is refused (403). Scripts (curl, Python) send neither
  header and are not affected; reads need no check (no CORS headers: other sites cannot read them).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LOOPBACK_HOSTS", "RequestGuard", "host_name"]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Host names accepted when the painter serves on a loopback address."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def host_name(host: str) -> str:
    """``"LocalHost:8000"`` -> ``"localhost"``, ``"[::1]:8000"`` -> ``"::1"``; ``""`` if malformed."""
    try:
        return (urlsplit(f"//{host.strip()}").hostname or "").lower()
    except ValueError:
        return ""


class RequestGuard:
    """ASGI middleware: the Host check (if ``allowed_hosts`` is given) and the cross-site post check."""

    def __init__(self, app: Any, allowed_hosts: Iterable[str] | None, url_hint: str = "http://127.0.0.1:8000/") -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {host_name(h) or h.lower() for h in allowed_hosts}
        self.url_hint = url_hint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self.problem(scope)
            if problem is not None:
                await _refuse(send, *problem)
                return
        await self.app(scope, receive, send)

    def problem(self, scope: Scope) -> tuple[int, str] | None:
        """``(status, message)`` for a request to refuse, else ``None``."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.allowed is not None and host_name(host) not in self.allowed:
            return 421, (
                f"refused: the Host header {host!r} is not this machine's name; the painter serves only "
                f"{', '.join(sorted(self.allowed))} (open {self.url_hint}). To serve other names, start it "
                "with --host 0.0.0.0"
            )
        if scope.get("method") == "POST":
            origin = headers.get("origin")
            cross = headers.get("sec-fetch-site") == "cross-site"
            if cross or (origin is not None and urlsplit(origin).netloc.lower() != host.lower()):
                return 403, (
                    f"refused: a cross-site request (from {origin or 'another site'}); the painter accepts "
                    "posts from its own page and from scripts only"
                )
        return None


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
