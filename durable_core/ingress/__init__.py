"""CloudEvents over HTTP into the engine: an ASGI app, a WSGI bridge, and what they talk to.

This layer does not import the engine: :class:`CloudEventsASGI` delivers to any :class:`EventSink`
(``EddaApp`` is one).
"""

from durable_core.ingress.asgi import DEFAULT_MAX_BODY_BYTES, CloudEventsASGI
from durable_core.ingress.cloudevents_http import INSTANCE_ID_EXTENSION, IncomingEvent, parse_cloudevent
from durable_core.ingress.errors import (
    BadRequestError,
    ForbiddenError,
    IngressError,
    InvalidCloudEventError,
    MethodNotAllowedError,
    NotAuthenticatedError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from durable_core.ingress.sink import Authorizer, EventSink, IngressAction, LifespanHandler, RequestInfo
from durable_core.ingress.wsgi import create_wsgi_app

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "INSTANCE_ID_EXTENSION",
    "Authorizer",
    "BadRequestError",
    "CloudEventsASGI",
    "EventSink",
    "ForbiddenError",
    "IncomingEvent",
    "IngressAction",
    "IngressError",
    "InvalidCloudEventError",
    "LifespanHandler",
    "MethodNotAllowedError",
    "NotAuthenticatedError",
    "PayloadTooLargeError",
    "RequestInfo",
    "ServiceUnavailableError",
    "create_wsgi_app",
    "parse_cloudevent",
]
