"""Security response headers on every answer: a script-free Content-Security-Policy for pages, no framing,
no MIME sniffing, no full-URL referrers."""

from __future__ import annotations

from aiohttp import web

# Pages use no script at all; styles are inline (<style> and style=""), images are ours or https.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; "
    "script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# Documents (ActivityPub JSON, API answers, images) never run as pages.
DOCUMENT_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: runs for every response, raised ones and streams included."""
    html = response.content_type == "text/html"
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY if html else DOCUMENT_POLICY)
    for name, value in COMMON.items():
        response.headers.setdefault(name, value)


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
