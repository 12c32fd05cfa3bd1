"""What operators see: Prometheus metrics, and how the request path reports to them.

``Metrics`` holds every metric family; ``RequestMetrics`` (an ASGI middleware) counts and times
proxied requests; ``tag_request`` lets a handler name the request's model and streaming;
``endpoint_label`` names a pass-through request's endpoint; ``context_utilization`` measures
how much of the injected context a reply used; ``CollectorPauses`` times Python's garbage
collections and ``tune_collector`` makes full ones rarer.
"""

from __future__ import annotations

from gateway.observability.labels import endpoint_label, upstream_error_kind
from gateway.observability.metrics import Metrics
from gateway.observability.middleware import METRICS_STATE, RequestMetrics, tag_request
from gateway.observability.runtime import CollectorPauses, tune_collector
from gateway.observability.utilization import context_utilization

__all__ = [
    "METRICS_STATE",
    "CollectorPauses",
    "Metrics",
    "RequestMetrics",
    "context_utilization",
    "endpoint_label",
    "tag_request",
    "tune_collector",
    "upstream_error_kind",
]
