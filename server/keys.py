"""Typed keys for what the aiohttp application holds."""

import jinja2
from aiohttp import web

from federation.context import Federation
from federation.inbox import Inbox

FED = web.AppKey("fed", Federation)
INBOX = web.AppKey("inbox", Inbox)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
