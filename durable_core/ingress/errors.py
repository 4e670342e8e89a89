"""Errors of the HTTP ingress, each carrying the HTTP status it is answered with.

Every error response body is JSON: ``{"error": <message>, "error_type": <class name>, "retryable": <bool>}``.
``retryable`` tells a sender whether the same request may succeed later (500, 503) or never will
(400, 401, 403, 404, 405, 413).
"""

from __future__ import annotations

from typing import ClassVar

from durable_core.errors import EddaError

__all__ = [
    "BadRequestError",
    "ForbiddenError",
    "IngressError",
    "InvalidCloudEventError",
    "MethodNotAllowedError",
    "NotAuthenticatedError",
    "PayloadTooLargeError",
    "ServiceUnavailableError",
]


class IngressError(EddaError):
    """An HTTP request the ingress answers with an error status.

    Attributes:
        status: the HTTP status code of the answer.
        retryable: whether repeating the same request may succeed later.
    """

    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = True


class BadRequestError(IngressError):
    """The request is malformed (bad ``Content-Length``, bad cancel body)."""

    status = 400
    retryable = False


class InvalidCloudEventError(BadRequestError):
    """The body and headers are not a valid CloudEvent (malformed JSON, missing attributes, wrong type)."""


class NotAuthenticatedError(IngressError):
    """The authorization hook refused a request that carried no ``Authorization`` header."""

    status = 401
    retryable = False


class ForbiddenError(IngressError):
    """The authorization hook refused a request that carried credentials."""

    status = 403
    retryable = False


class MethodNotAllowedError(IngressError):
    """Only ``POST`` is served."""

    status = 405
    retryable = False


class PayloadTooLargeError(IngressError):
    """The body is larger than ``max_body_bytes``."""

    status = 413
    retryable = False


class ServiceUnavailableError(IngressError):
    """The app is shutting down; try again (another replica, or after the restart)."""

    status = 503
    retryable = True
