"""Prometheus metrics, defined once. Each process (api, shard actor, provider actor) fills its own
registry; the api's ``/metrics`` merges the actors' samples into its answer, labelled by actor.

Gauges cost the hot path nothing: a shard sets its own on its sweep tick (switch/gauges.py);
the breaker's and the micro-batchers' are read when ``/metrics`` is collected."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "switch_http_requests",
    "HTTP requests by route",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "switch_http_request_seconds",
    "HTTP answer time by route",
    ["route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_SIZE = Histogram(
    "switch_actor_batch_items",
    "Items per micro-batched actor call",
    ["target"],
    registry=REGISTRY,
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
PAYMENTS = Counter(
    "switch_payments",
    "Payment status changes by method and status",
    ["method", "status"],
    registry=REGISTRY,
)
ILLEGAL_EVENTS = Counter(
    "switch_illegal_events",
    "Events the payment state table does not allow (never applied), by method, state and event",
    ["method", "state", "event"],
    registry=REGISTRY,
)
PROVIDER_CALLS = Counter(
    "switch_provider_calls",
    "Provider calls by operation and outcome",
    ["provider", "operation", "outcome"],
    registry=REGISTRY,
)
PROVIDER_LATENCY = Histogram(
    "switch_provider_call_seconds",
    "Provider call latency",
    ["provider", "operation"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOKS = Counter(
    "switch_webhook_deliveries",
    "Webhook delivery attempts by outcome",
    ["outcome"],
    registry=REGISTRY,
)
CALLBACKS = Counter(
    "switch_provider_callbacks",
    "Provider callbacks by verdict",
    ["provider", "verdict"],
    registry=REGISTRY,
)
PAYMENT_DURATION = Histogram(
    "switch_payment_duration_seconds",
    "Created to final, by rail and outcome (succeeded, failed, expired); observed by the shard",
    ["method", "outcome"],
    registry=REGISTRY,
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
)
IN_FLIGHT = Gauge(
    "switch_payments_in_flight",
    "Payments not final yet, by shard and rail (set on the shard's sweep tick)",
    ["shard", "method"],
    registry=REGISTRY,
)
PAST_EXPIRY = Gauge(
    "switch_payments_past_expiry",
    "Payments in flight beyond their rail's expiry, by shard and rail (sweep tick)",
    ["shard", "method"],
    registry=REGISTRY,
)
WEBHOOK_BACKLOG = Gauge(
    "switch_webhook_backlog",
    "Payments with a webhook event waiting for delivery (due, retrying or being sent), by shard",
    ["shard"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "switch_queue_depth",
    "Items waiting in a queue: a shard's group commit and orders (sweep tick), an api "
    "micro-batcher's items awaiting their shard's answer",
    ["queue", "shard"],
    registry=REGISTRY,
)
BREAKER_OPEN = Gauge(
    "switch_breaker_open",
    "1 while a provider's circuit breaker is open or half-open (switch/breaker.py), else 0",
    ["provider"],
    registry=REGISTRY,
)
