"""/metrics in Prometheus text format: requests, deliveries by state, for monitoring this process."""

from __future__ import annotations

import collections
import hmac

from aiohttp import web
from sqlalchemy import func, select

from federation.settings import is_loopback_host
from models import Delivery, DeliveryState, utcnow
from models.delivery import PENDING
from models.inbox_entry import UNFINISHED, InboxEntry, InboxState
from server.keys import FED

FORWARDED = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
# Route kinds by path prefix of the matched route, first match wins; everything else is a page.
KINDS = [
    ("/metrics", "metrics"),
    ("/.well-known/", "discovery"),
    ("/nodeinfo/", "discovery"),
    ("/api/", "api"),
    ("/oauth/", "api"),
    ("/avatars/", "static"),
    ("/headers/", "static"),
    ("/ns/", "static"),
]


class Metrics:
    """One process's figures: request counts kept by the middleware, the rest read at each scrape.

    prometheus_client is imported at the first scrape (an idle server never pays for it); its registry then
    reads these figures through a collector."""

    def __init__(self):
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self.deliveries: dict[str, int] = {}
        self.inbox: dict[str, int] = {}
        self.lag = 0.0
        self.due = 0.0
        self._registry = None

    def registry(self):
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            self._registry = CollectorRegistry()
            self._registry.register(self)
        return self._registry

    def collect(self):
        """The metric families, as prometheus_client's registry asks a collector for them."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        requests = CounterMetricFamily(
            "interpeople_http_requests",
            "HTTP requests answered, by route kind and status",
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(self.requests.items()):
            requests.add_metric([kind, status], count)
        yield requests
        for name, doc, values in (
            ("interpeople_deliveries", "Rows of the delivery queue, by state", self.deliveries),
            (
                "interpeople_inbox_entries",
                "Entries of the inbox journal not done yet, by state (done ones are not counted)",
                self.inbox,
            ),
        ):
            family = GaugeMetricFamily(name, doc, labels=["state"])
            for state, count in values.items():
                family.add_metric([state], count)
            yield family
        yield GaugeMetricFamily(
            "interpeople_inbox_journal_lag_seconds",
            "Age of the oldest journaled activity not processed yet (0 when the journal is drained)",
            value=self.lag,
        )
        yield GaugeMetricFamily(
            "interpeople_deliveries_due_oldest_seconds",
            "How long the oldest due delivery (queued or retrying) has waited",
            value=self.due,
        )


METRICS = web.AppKey("metrics", Metrics)


def route_kind(request: web.Request) -> str:
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    path = resource.canonical
    if path.endswith("/inbox") or path == "/inbox":
        return "inbox"
    for prefix, kind in KINDS:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return kind
    accept = request.headers.get("Accept", "")
    return "activitypub" if "activity+json" in accept or "ld+json" in accept else "page"


@web.middleware
async def count_requests(request: web.Request, handler):
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        request.app[METRICS].requests[route_kind(request), str(status)] += 1


def allowed(request: web.Request, token: str) -> bool:
    """With metrics_token set, only its bearer token; else only direct (not proxied) loopback requests."""
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    if any(name in request.headers for name in FORWARDED):
        return False
    return request.remote is not None and is_loopback_host(request.remote)


async def _read_deliveries(session, collected: Metrics, now) -> None:
    counts = dict(
        (await session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all()
    )
    oldest = await session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.state.in_(PENDING), Delivery.next_attempt_at <= now
        )
    )
    collected.deliveries = {state.value: counts.get(state.value, 0) for state in DeliveryState}
    collected.due = (now - oldest).total_seconds() if oldest else 0.0


async def _read_journal(session, collected: Metrics, now) -> None:
    """The inbox journal's backlog: entries not done, and how long the oldest unprocessed one has waited."""
    counted = [s.value for s in InboxState if s != InboxState.done]
    counts = dict(
        (
            await session.execute(
                select(InboxEntry.state, func.count())
                .where(InboxEntry.state.in_(counted))
                .group_by(InboxEntry.state)
            )
        ).all()
    )
    oldest = await session.scalar(
        select(func.min(InboxEntry.received_at)).where(InboxEntry.state.in_(UNFINISHED))
    )
    collected.inbox = {state: counts.get(state, 0) for state in counted}
    collected.lag = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


async def metrics(request: web.Request) -> web.Response:
    fed = request.app[FED]
    if not allowed(request, fed.settings.metrics_token):
        return web.json_response(
            {"error": "metrics are for loopback requests or a bearer token (metrics_token)"}, status=403
        )
    collected = request.app[METRICS]
    now = utcnow()
    async with fed.db.session() as session:
        await _read_deliveries(session, collected, now)
        await _read_journal(session, collected, now)
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))  # text 0.0.4 or OpenMetrics
    return web.Response(body=encoder(collected.registry()), headers={"Content-Type": content_type})


def setup(app: web.Application) -> None:
    app[METRICS] = Metrics()
    app.middlewares.append(count_requests)
    app.router.add_get("/metrics", metrics)
