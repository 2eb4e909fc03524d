"""Styled error pages for browsers (404, 403, 410, ...): the message, the site's navigation, and for a form
whose session expired, what was typed, ready to send again."""

from __future__ import annotations

from aiohttp import web

from server import sessions
from server.keys import FED, TEMPLATES
from server.page_context import chrome_of

TITLES = {
    400: "That did not work",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "That clashes with something",
    410: "No longer available",
    413: "Too long",
    429: "Too many tries",
}
NOT_PAGES = ("/api/", "/.well-known/", "/nodeinfo", "/oauth/token", "/metrics")
SECRET_FIELDS = ("csrf", "password")


class FormExpired(web.HTTPForbidden):
    """A form came with a stale CSRF token (the session expired, or the page was open too long)."""

    def __init__(self, fields: list[tuple[str, str]]):
        super().__init__(
            text="The form expired or did not come from this site; reload the page and try again."
        )
        self.fields = fields


def kept_fields(form) -> list[tuple[str, str]]:
    """The fields worth giving back (never a password or the old token)."""
    return [
        (str(name), str(value))
        for name, value in form.items()
        if isinstance(value, str) and not any(secret in str(name) for secret in SECRET_FIELDS)
    ]


def _wants_page(request: web.Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and not request.path.startswith(NOT_PAGES)


async def _page(request: web.Request, status: int, message: str, fields=None) -> web.Response:
    chrome = await chrome_of(request)
    session = await sessions.load(request) if fields is not None else None
    html = (
        request.app[TEMPLATES]
        .get_template("expired.html" if fields is not None else "error.html")
        .render(
            chrome=chrome,
            host=request.app[FED].settings.host,
            status=status,
            heading=TITLES.get(status, "Something went wrong"),
            message=message,
            fields=fields or [],
            action=request.path,
            csrf=session.csrf if session else "",
            signed_in=chrome.member is not None,
        )
    )
    response = web.Response(text=html, status=status, content_type="text/html")
    if session is not None:
        await sessions.keep(request, response)
    return response


@web.middleware
async def middleware(request: web.Request, handler):
    try:
        response = await handler(request)
    except FormExpired as error:
        if not _wants_page(request):
            raise
        return await _page(request, 403, error.text, error.fields)
    except web.HTTPException as error:
        if error.status < 400 or error.status not in TITLES or not _wants_page(request):
            raise
        if error.content_type != "text/plain":
            raise
        return await _page(request, error.status, error.text or TITLES[error.status])
    return response
