"""Server-side length limits on every field of the site's forms (browsers' maxlength is only a hint)."""

from __future__ import annotations

from aiohttp import web

# Longest accepted value per field name; any other field may have DEFAULT_LIMIT characters.
FIELD_LIMITS = {
    "title": 300,
    "username": 200,
    "name": 200,
    "slug": 200,
    "reason": 1000,
    "csrf": 200,
    "next": 2048,
}
DEFAULT_LIMIT = 20_000
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NOT_FORMS = ("/api/", "/oauth/", "/inbox", "/actor/inbox")


def too_long(form) -> str | None:
    """The message for the first field over its limit, None when all fit."""
    for name, value in form.items():
        limit = FIELD_LIMITS.get(name, DEFAULT_LIMIT)
        if isinstance(value, str) and len(value) > limit:
            return f"The field {name} may have at most {limit} characters ({len(value)} were sent)."
    return None


@web.middleware
async def middleware(request: web.Request, handler):
    if (
        request.method == "POST"
        and request.content_type in FORM_TYPES
        and not request.path.startswith(NOT_FORMS)
        and not request.path.endswith("/inbox")
    ):
        message = too_long(await request.post())  # aiohttp keeps the parsed form for the handler
        if message:
            raise web.HTTPRequestEntityTooLarge(
                max_size=DEFAULT_LIMIT, actual_size=request.content_length or 0, text=message
            )
    return await handler(request)
