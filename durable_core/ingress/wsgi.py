"""``create_wsgi_app``: serve an ASGI app (the CloudEvents ingress, ``EddaApp``) from a WSGI server.

The bridge is `a2wsgi <https://github.com/abersheeran/a2wsgi>`_'s ``ASGIMiddleware``: it runs the ASGI app
on one event loop in a background thread and feeds it each WSGI request. WSGI has no lifespan events, so
``CloudEventsASGI`` starts its lifespan handler (``EddaApp.initialize``) before the first request, in that
loop.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast
from wsgiref.types import WSGIApplication

from a2wsgi import ASGIMiddleware

__all__ = ["create_wsgi_app"]


def create_wsgi_app(
    asgi_app: Any, *, loop: asyncio.AbstractEventLoop | None = None, wait_time: float | None = None
) -> WSGIApplication:
    """Wrap ``asgi_app`` as a WSGI application (for gunicorn, uWSGI, mod_wsgi, wsgiref).

    Args:
        asgi_app: an ASGI 3 application, e.g. ``CloudEventsASGI(...)`` or an ``EddaApp``.
        loop: the event loop to run it on (already running in another thread); default: a new loop in a
            daemon thread, created now.
        wait_time: seconds to let the ASGI app finish after the response was sent (default: unbounded).

    Returns:
        A WSGI callable ``(environ, start_response) -> iterable of bytes``.
    """
    # a2wsgi types the environ as a TypedDict; to WSGI servers it is the plain dict of PEP 3333
    return cast("WSGIApplication", ASGIMiddleware(asgi_app, wait_time=wait_time, loop=loop))
