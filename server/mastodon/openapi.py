"""An OpenAPI 3.1 description of the implemented subset of the Mastodon API, made from the endpoint table,
and the same list as a Markdown table for the docs."""

from __future__ import annotations

import re

from aiohttp import web

from server.keys import FED
from server.mastodon.api import ENDPOINTS
from server.mastodon.instance import MASTODON_VERSION
from server.mastodon.oauth import OAUTH_ROUTES

PAGE_PARAMETERS = [
    {
        "name": n,
        "in": "query",
        "required": False,
        "schema": {"type": "string" if n != "limit" else "integer"},
        "description": d,
    }
    for n, d in (
        ("max_id", "Older than this id"),
        ("since_id", "Newer than this id"),
        ("min_id", "Immediately newer than this id (read oldest first)"),
        ("limit", "How many (default 20)"),
    )
]
ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _path_parameters(path: str) -> list[dict]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in re.findall(r"{(\w+)}", path)
    ]


def document(base_url: str) -> dict:
    paths: dict = {}
    for ep in sorted(ENDPOINTS, key=lambda e: (e.path, e.method)):
        operation = {
            "summary": ep.summary,
            "tags": [ep.tag],
            "operationId": f"{ep.method.lower()}_{ep.handler.__name__}",
            "parameters": _path_parameters(ep.path) + (PAGE_PARAMETERS if ep.paginated else []),
            "responses": {
                "200": {
                    "description": "OK" + (' (Link header: rel="next", rel="prev")' if ep.paginated else "")
                },
                "401": ERROR,
                "403": ERROR,
                "404": ERROR,
                "422": ERROR,
            },
        }
        if ep.scope or ep.user:
            operation["security"] = [{"oauth": [ep.scope] if ep.scope else []}]
            if ep.scope:
                operation["x-required-scope"] = ep.scope
        paths.setdefault(ep.path, {})[ep.method.lower()] = operation
    for method, path, handler, summary in OAUTH_ROUTES:
        paths.setdefault(path, {})[method.lower()] = {
            "summary": summary,
            "tags": ["oauth"],
            "operationId": f"{method.lower()}_{handler.__name__}",
            "responses": {"200": {"description": "OK"}},
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Interpeople: Mastodon client API (implemented subset)",
            "version": MASTODON_VERSION,
            "description": "What Mastodon apps need to sign in, read timelines, post, follow and be notified. "
            "Ids are strings of digits that sort by length, then lexically.",
        },
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
                }
            },
            "securitySchemes": {
                "oauth": {
                    "type": "oauth2",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": f"{base_url}/oauth/authorize",
                            "tokenUrl": f"{base_url}/oauth/token",
                            "scopes": {},
                        },
                        "clientCredentials": {"tokenUrl": f"{base_url}/oauth/token", "scopes": {}},
                        "password": {"tokenUrl": f"{base_url}/oauth/token", "scopes": {}},
                    },
                }
            },
        },
    }


def markdown_table() -> str:
    """The endpoint table of docs/mastodon-api.md."""
    lines = ["| Method | Path | Scope | Paged | What it does |", "| --- | --- | --- | --- | --- |"]
    for method, path, _, summary in OAUTH_ROUTES:
        lines.append(f"| {method} | `{path}` | – | | {summary} |")
    for ep in sorted(ENDPOINTS, key=lambda e: (e.path, e.method)):
        scope = f"`{ep.scope}`" if ep.scope else ("token" if ep.user else "–")
        lines.append(
            f"| {ep.method} | `{ep.path}` | {scope} | {'yes' if ep.paginated else ''} | {ep.summary} |"
        )
    return "\n".join(lines) + "\n"


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(
        document(request.app[FED].settings.base_url), headers={"Access-Control-Allow-Origin": "*"}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)
